//! `logs.tail` cursors: a log file of arbitrary bytes (half-written last
//! lines, invalid UTF-8, no newline at all) read from arbitrary cursors
//! and limits. The page must stay within its bounds and a returned cursor
//! must be usable again.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 10 {
        return;
    }
    let (head, body) = data.split_at(10);
    let cursor = u64::from_le_bytes(head[..8].try_into().unwrap()) % (body.len() as u64 + 64);
    let limit = head[8] as usize % 64 + 1;
    let max_bytes = (head[9] as usize + 1) * 16;
    let dir = std::env::temp_dir().join(format!("clawgate-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("clawgate.log");
    std::fs::write(&path, body).unwrap();
    for c in [None, Some(cursor)] {
        let Ok(page) = clawgate::observe::logfile::tail(&path, c, limit, max_bytes) else {
            continue;
        };
        assert!(page.lines.len() <= limit, "{} lines over limit {limit}", page.lines.len());
        assert!(page.cursor <= body.len() as u64);
        // Reading on from the returned cursor never goes backwards.
        if let Ok(next) = clawgate::observe::logfile::tail(&path, Some(page.cursor), limit, max_bytes) {
            assert!(next.cursor >= page.cursor);
        }
    }
});
