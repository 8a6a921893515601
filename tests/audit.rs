//! Issue 17, finding 7, end to end: the gateway writes its audit head to the
//! log as it goes; `clawgate audit verify --expect-head` with a head noted
//! earlier catches rows cut off the end of the chain, which verify alone
//! cannot see.

mod common;

use common::{wait_until, Gateway};
use serde_json::json;
use std::process::Command;

fn cli(args: &[&str]) -> (i32, String, String) {
    let (program, mut pre) = common::binary();
    pre.extend(args.iter().map(|s| s.to_string()));
    let out = Command::new(program)
        .args(&pre)
        .output()
        .expect("run clawgate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The newest "audit chain head: row N, HASH" line of the gateway's log.
fn logged_head(gw: &Gateway) -> Option<(i64, String)> {
    gw.stderr()
        .lines()
        .rev()
        .filter_map(|l| l.split("audit chain head: row ").nth(1))
        .filter_map(|rest| {
            let (id, hash) = rest.split_once(", ")?;
            Some((id.parse().ok()?, hash.trim().to_string()))
        })
        .next()
}

#[test]
fn a_cut_tail_fails_verify_against_a_logged_head() {
    let mut gw = Gateway::start(json!({"store": {"checkpointIntervalMs": 1000}}));
    let dir = gw.dir.path().join("data").display().to_string();
    let mut c = gw.client(&["operator.read", "operator.write"]);
    for i in 0..5 {
        let r = c.call(
            "security.coach.check",
            json!({"input": {"command": format!("echo {i}")}}),
        );
        assert_eq!(r["ok"], true, "{r}");
    }
    // The head is logged periodically once rows exist.
    wait_until("a head with rows is logged", || {
        logged_head(&gw).is_some_and(|(id, _)| id >= 5)
    });
    let (noted_id, noted) = logged_head(&gw).unwrap();
    gw.signal(15);
    gw.wait_exit(std::time::Duration::from_secs(10));
    let (code, _, err) = cli(&[
        "audit",
        "verify",
        "--data-dir",
        &dir,
        "--expect-head",
        &noted,
    ]);
    assert_eq!(code, 0, "{err}");
    // Cut the tail (the noted head row and everything after it).
    let db = rusqlite::Connection::open(gw.dir.path().join("data/clawgate.db")).unwrap();
    db.execute("DELETE FROM audit WHERE id >= ?1", [noted_id])
        .unwrap();
    drop(db);
    let (code, _, err) = cli(&["audit", "verify", "--data-dir", &dir]);
    assert_eq!(
        code, 0,
        "without a noted head a cut tail looks intact: {err}"
    );
    let (code, _, err) = cli(&[
        "audit",
        "verify",
        "--data-dir",
        &dir,
        "--expect-head",
        &noted,
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("removed off the end"), "{err}");
}
