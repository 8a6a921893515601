//! Authored coach cases (`tests/data/coach-cases.txt`): variants of every
//! kind in the dev corpus, written to check that detection generalises
//! rather than memorises. One line each: the expected decision, then a
//! command or a JSON `input`. Nothing is executed.

use clawgate::coach::{rules::RuleSet, CheckInput, Coach, CoachSettings};

#[test]
fn authored_cases_are_decided_as_labelled() {
    let text = include_str!("data/coach-cases.txt");
    let coach = Coach::new(CoachSettings::default());
    let mut wrong = Vec::new();
    let mut n = 0;
    for line in text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let (expect, rest) = line.split_once(' ').expect("'<decision> <input>'");
        let input: CheckInput = if rest.starts_with("{\"") {
            serde_json::from_str(rest).unwrap_or_else(|e| panic!("{rest}: {e}"))
        } else {
            CheckInput::command(rest)
        };
        let v = coach.check(&input, &RuleSet::default(), 0);
        n += 1;
        if v.decision.as_str() != expect {
            wrong.push(format!(
                "{expect} -> {} ({:?}): {rest}",
                v.decision.as_str(),
                v.top().map(|m| m.pattern_id)
            ));
        }
    }
    assert!(n > 300, "the case file was read ({n} cases)");
    assert!(
        wrong.is_empty(),
        "{} of {n} cases decided differently:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
