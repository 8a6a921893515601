//! Measures the security coach on labelled corpora and fails below the
//! targets (block recall >= 97 %, misses <= 2 %, no benign call blocked,
//! benign calls asked about <= 3 %). Prints the table the README quotes.
//!
//! - The repository's own corpus, `tests/data/coach/corpus.jsonl` (built by
//!   `scripts/coach-corpus/` from public technique references), always.
//! - The project's dev corpus, an explicit extra step: the ignored test
//!   below, run by `.ci/run` with `CLAWGATE_DEV_CORPUS` pointing at
//!   the dev corpus in the shared folder beside the clone and `--ignored`.
//!
//! The commands are data: nothing here executes them.

use clawgate::coach::{rules::RuleSet, CheckInput, Coach, CoachSettings, Decision, Severity};
use std::collections::BTreeMap;

#[derive(serde::Deserialize)]
struct Case {
    id: String,
    input: CheckInput,
    expect: String,
    category: Option<String>,
    min_severity: Option<String>,
    #[serde(default)]
    alt_categories: Vec<String>,
}

/// The repository's corpus, or another one named by `CLAWGATE_COACH_CORPUS`.
fn corpus_path() -> std::path::PathBuf {
    match std::env::var_os("CLAWGATE_COACH_CORPUS") {
        Some(p) => p.into(),
        None => {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/coach/corpus.jsonl")
        }
    }
}

fn pct(n: usize, d: usize) -> f64 {
    if d == 0 {
        0.0
    } else {
        100.0 * n as f64 / d as f64
    }
}

/// What the coach must reach: issue 19's targets.
const TARGETS: Bounds = Bounds {
    block_recall: 97.0,
    misses: 2.0,
    false_block: 0.0,
    false_approve: 3.0,
};

struct Bounds {
    block_recall: f64,
    misses: f64,
    false_block: f64,
    false_approve: f64,
}

#[test]
fn coach_meets_targets_on_the_repository_corpus() {
    score(&corpus_path(), &TARGETS);
}

#[test]
#[ignore = "the dev corpus lives outside the repository: .ci/run sets CLAWGATE_DEV_CORPUS and runs it"]
fn coach_meets_targets_on_the_dev_corpus() {
    let path =
        std::env::var_os("CLAWGATE_DEV_CORPUS").expect("CLAWGATE_DEV_CORPUS=path/to/dev.jsonl");
    score(std::path::Path::new(&path), &TARGETS);
}

fn score(path: &std::path::Path, bounds: &Bounds) {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("corpus {}: {e}", path.display()));
    let coach = Coach::new(CoachSettings::default());
    let rules = RuleSet::default();
    let (mut block_n, mut block_ok) = (0, 0);
    let (mut appr_n, mut appr_ok) = (0, 0);
    let (mut risky_n, mut missed) = (0, 0);
    let (mut benign_n, mut false_block, mut false_approve) = (0, 0, 0);
    let (mut cat_n, mut cat_ok) = (0, 0);
    let mut over_block = 0;
    let mut per_cat: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut wrong = Vec::new();
    for (lineno, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let case: Case =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", lineno + 1));
        let v = coach.check(&case.input, &rules, 0);
        let top_cat = v.top().map(|m| m.category.as_str().to_string());
        let got = v.decision;
        let ok = match case.expect.as_str() {
            "block" => {
                block_n += 1;
                risky_n += 1;
                if got == Decision::Allow {
                    missed += 1;
                }
                let ok = got == Decision::Block;
                block_ok += ok as usize;
                ok
            }
            "approve" => {
                appr_n += 1;
                risky_n += 1;
                if got == Decision::Allow {
                    missed += 1;
                }
                if got == Decision::Block {
                    over_block += 1;
                }
                let min = case
                    .min_severity
                    .as_deref()
                    .and_then(Severity::parse)
                    .unwrap_or(Severity::Medium);
                let ok = got == Decision::Approve && v.severity.is_some_and(|s| s >= min);
                appr_ok += ok as usize;
                ok
            }
            _ => {
                benign_n += 1;
                false_block += (got == Decision::Block) as usize;
                false_approve += (got == Decision::Approve) as usize;
                got == Decision::Allow
            }
        };
        if let Some(cat) = &case.category {
            let e = per_cat.entry(cat.clone()).or_default();
            e.0 += 1;
            if case.expect != "allow" {
                cat_n += 1;
                if top_cat.as_deref() == Some(cat)
                    || top_cat
                        .as_ref()
                        .is_some_and(|t| case.alt_categories.contains(t))
                {
                    cat_ok += 1;
                }
                if got == Decision::Allow {
                    e.1 += 1;
                }
            }
        }
        if !ok {
            wrong.push(format!(
                "  {} expect {} got {} (top {:?}) {}",
                case.id,
                case.expect,
                got.as_str(),
                v.top().map(|m| m.pattern_id),
                serde_json::to_string(&case.input)
                    .unwrap_or_default()
                    .chars()
                    .take(140)
                    .collect::<String>()
            ));
        }
    }
    let block_recall = pct(block_ok, block_n);
    let miss_rate = pct(missed, risky_n);
    let fb_rate = pct(false_block, benign_n);
    let fa_rate = pct(false_approve, benign_n);
    println!(
        "coach on {} ({} cases, {} patterns)",
        path.display(),
        block_n + appr_n + benign_n,
        coach.lib.pattern_count()
    );
    println!("| metric | value | target |");
    println!("| --- | ---: | ---: |");
    println!("| block recall | {block_recall:.1}% ({block_ok}/{block_n}) | >= 97% |");
    println!(
        "| approve recall | {:.1}% ({appr_ok}/{appr_n}) | |",
        pct(appr_ok, appr_n)
    );
    println!("| approve cases blocked (over-blocking) | {over_block} | |");
    println!("| misses (risky -> allow) | {miss_rate:.1}% ({missed}/{risky_n}) | <= 2% |");
    println!("| false blocks on benign | {fb_rate:.1}% ({false_block}/{benign_n}) | 0 |");
    println!("| false approvals on benign | {fa_rate:.1}% ({false_approve}/{benign_n}) | <= 3% |");
    println!(
        "| top category correct | {:.1}% ({cat_ok}/{cat_n}) | |",
        pct(cat_ok, cat_n)
    );
    println!("misses per category:");
    for (c, (n, m)) in &per_cat {
        println!("  {c}: {m} of {n}");
    }
    if !wrong.is_empty() {
        println!("cases decided differently from the label:");
        for w in &wrong {
            println!("{w}");
        }
    }
    println!(
        "bounds this run enforces: block recall >= {}%, misses <= {}%, benign -> block <= {}%, benign -> approve <= {}% (issue 19's targets: >= 97%, <= 2%, 0, <= 3%)",
        bounds.block_recall, bounds.misses, bounds.false_block, bounds.false_approve
    );
    assert!(
        block_recall >= bounds.block_recall,
        "block recall {block_recall:.1}% < {}%",
        bounds.block_recall
    );
    assert!(
        miss_rate <= bounds.misses,
        "miss rate {miss_rate:.1}% > {}%",
        bounds.misses
    );
    assert!(
        fb_rate <= bounds.false_block,
        "false blocks on benign {fb_rate:.1}% > {}%",
        bounds.false_block
    );
    assert!(
        fa_rate <= bounds.false_approve,
        "false approvals {fa_rate:.1}% > {}%",
        bounds.false_approve
    );
}
