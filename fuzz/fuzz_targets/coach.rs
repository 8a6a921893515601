//! The coach's normaliser and matcher on arbitrary input: a command line,
//! and the same bytes as content, URL and file path. It must answer, never
//! panic, and stay bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn coach() -> &'static clawgate::coach::Coach {
    static COACH: OnceLock<clawgate::coach::Coach> = OnceLock::new();
    COACH.get_or_init(|| clawgate::coach::Coach::new(Default::default()))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let rules = clawgate::coach::rules::RuleSet::default();
    let v = coach().check(&clawgate::coach::CheckInput::command(&text), &rules, 0);
    let _ = v.decision;
    let input = clawgate::coach::CheckInput {
        content: Some(text.to_string()),
        url: Some(text.to_string()),
        file_path: Some(text.to_string()),
        ..Default::default()
    };
    let _ = coach().check(&input, &rules, 0);
});
