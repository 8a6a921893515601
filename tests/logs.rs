//! The buffered file logger and `logs.tail` end to end.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

#[test]
fn logs_tail_with_cursor_and_flush_at_shutdown() {
    let mut gw = Gateway::start(json!({}));
    let mut c = gw.client(&["operator.read"]);
    let first = c.call("logs.tail", Value::Null);
    assert_eq!(first["ok"], true, "{first}");
    let p = &first["payload"];
    assert!(p["file"].as_str().unwrap().ends_with("clawgate.log"));
    let lines: Vec<&str> = p["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        lines.iter().any(|l| l.contains("connected as operator")),
        "{lines:?}"
    );
    let cursor = p["cursor"].as_u64().unwrap();
    assert_eq!(cursor, p["size"].as_u64().unwrap(), "whole file read");

    // Nothing new: an empty page at the same cursor.
    let again = c.call("logs.tail", json!({"cursor": cursor}));
    assert!(
        again["payload"]["lines"].as_array().unwrap().is_empty(),
        "{again}"
    );
    // New lines only after the cursor.
    let _other = gw.client(&["operator.read"]);
    let next = c.call("logs.tail", json!({"cursor": cursor}));
    let new_lines = next["payload"]["lines"].as_array().unwrap();
    assert_eq!(new_lines.len(), 1, "{next}");
    assert!(new_lines[0]
        .as_str()
        .unwrap()
        .contains("connected as operator"));
    // A cursor past the end (a rotated file) resets.
    let reset = c.call("logs.tail", json!({"cursor": 1u64 << 40}));
    assert_eq!(reset["payload"]["reset"], true, "{reset}");
    // Bounds are checked.
    let bad = c.call("logs.tail", json!({"limit": 0}));
    assert!(
        bad["error"]["message"].as_str().unwrap().contains("limit"),
        "{bad}"
    );
    let bad = c.call("logs.tail", json!({"maxBytes": 2_000_000}));
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("maxBytes"),
        "{bad}"
    );
    let h = c.call("health", json!({"probe": true}));
    assert!(h["payload"]["log"]["lines"].as_u64() >= Some(2), "{h}");
    assert!(h["payload"]["log"]["writes"].as_u64() >= Some(1), "{h}");

    gw.signal(libc::SIGTERM);
    assert!(gw
        .wait_exit(Duration::from_secs(10))
        .expect("exited")
        .success());
    let text = std::fs::read_to_string(gw.dir.path().join("data/clawgate.log")).unwrap();
    assert!(
        text.contains("shutdown complete"),
        "flushed at exit: {text}"
    );
}

#[test]
fn file_logging_can_be_off() {
    let gw = Gateway::start(json!({"log": {"file": false}}));
    let mut c = gw.client(&["operator.read"]);
    let r = c.call("logs.tail", Value::Null);
    assert_eq!(r["error"]["details"]["code"], "LOG_FILE_DISABLED", "{r}");
    assert!(!gw.dir.path().join("data/clawgate.log").exists());
}
