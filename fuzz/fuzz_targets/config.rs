//! A config file's bytes: strict parsing, comments, validation, and the
//! worst-case memory arithmetic of whatever validates.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match clawgate::config::Config::from_json(text, std::path::Path::new("fuzz.json")) {
        Ok(cfg) => {
            let b = cfg.worst_case_memory();
            assert!(b.total_bytes >= b.fixed_bytes);
            let _ = cfg.redacted_json();
        }
        Err(e) => {
            // Every refusal names something.
            assert!(!e.to_string().is_empty());
        }
    }
});
