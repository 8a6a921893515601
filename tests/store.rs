//! Sessions and transcripts end to end: chat and sessions methods, events,
//! idempotency, and crash safety (SIGKILL during a write storm, SIGTERM).

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

fn send(c: &mut Client, key: &str, text: &str, idem: &str) -> Value {
    c.call(
        "chat.send",
        json!({"sessionKey": key, "message": text, "idempotencyKey": idem}),
    )
}

#[test]
fn chat_send_history_and_events() {
    let gw = Gateway::start(json!({}));
    let mut writer = gw.client(&["operator.write"]);
    let mut watcher = Client::open(gw.addr);
    let hello = watcher.connect(TOKEN, &["operator.read"]);
    let events = hello["payload"]["features"]["events"].as_array().unwrap();
    for e in ["chat", "sessions.changed"] {
        assert!(
            events.iter().any(|x| x == e),
            "hello-ok lists {e}: {events:?}"
        );
    }
    let r = send(&mut writer, "agent:main", "hello there", "k1");
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["payload"]["status"], "accepted");
    let mid = r["payload"]["messageId"].as_str().unwrap().to_string();

    let ev = watcher.recv_until(|f| f["event"] == "chat");
    assert_eq!(ev["payload"]["messageId"], mid.as_str());
    assert_eq!(ev["payload"]["text"], "hello there");
    assert_eq!(ev["payload"]["role"], "user");
    assert_eq!(ev["payload"]["state"], "final");
    let ch = watcher.recv_until(|f| f["event"] == "sessions.changed");
    assert_eq!(ch["payload"]["key"], "agent:main");

    let r = writer.call(
        "chat.inject",
        json!({"sessionKey": "agent:main", "message": "hi, human"}),
    );
    assert!(r["payload"]["messageId"].as_str().is_some(), "{r}");
    let h = watcher.call("chat.history", json!({"sessionKey": "agent:main"}));
    let msgs = h["payload"]["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2, "{h}");
    assert_eq!(msgs[0]["id"], mid.as_str());
    assert_eq!(msgs[1]["role"], "assistant");
    let h = watcher.call(
        "chat.history",
        json!({"sessionKey": "agent:main", "limit": 1}),
    );
    assert_eq!(h["payload"]["messages"][0]["text"], "hi, human");

    // Read-only clients cannot write.
    let r = send(&mut watcher, "agent:main", "nope", "k9");
    assert_eq!(r["error"]["details"]["code"], "MISSING_SCOPE");
}

#[test]
fn chat_send_is_idempotent() {
    let gw = Gateway::start(json!({}));
    let mut c = gw.client(&["operator.write"]);
    let a = send(&mut c, "s", "once", "same-key");
    let b = send(&mut c, "s", "once", "same-key");
    assert_eq!(a["payload"], b["payload"]);
    // Pipelined retries in one turn are answered from the pending append.
    for i in 0..3 {
        c.send(
            &json!({"type":"req","id":format!("p{i}"),"method":"chat.send",
            "params":{"sessionKey":"s","message":"twice","idempotencyKey":"k2"}}),
        );
    }
    let ids: HashSet<String> = (0..3)
        .map(|i| {
            c.wait_res(&format!("p{i}"))["payload"]["messageId"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), 1);
    let h = c.call("chat.history", json!({"sessionKey": "s"}));
    assert_eq!(h["payload"]["messages"].as_array().unwrap().len(), 2);
    let health = c.call("health", json!({"probe": true}));
    assert!(
        health["payload"]["store"]["idempotentReplays"].as_u64() >= Some(3),
        "{health}"
    );
}

#[test]
fn chat_params_are_checked() {
    let gw = Gateway::start(json!({}));
    let mut c = gw.client(&["operator.write"]);
    let r = c.call("chat.send", json!({"sessionKey": "s", "message": "m"}));
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("idempotencyKey"),
        "{r}"
    );
    let r = c.call(
        "chat.send",
        json!({"sessionKey": "", "message": "m", "idempotencyKey": "k"}),
    );
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sessionKey"),
        "{r}"
    );
    let r = c.call(
        "chat.inject",
        json!({"sessionKey": "s", "message": "m", "role": "root"}),
    );
    assert!(
        r["error"]["message"].as_str().unwrap().contains("role"),
        "{r}"
    );
    let r = c.call("chat.history", json!({"sessionKey": "s", "limit": 0}));
    assert!(
        r["error"]["message"].as_str().unwrap().contains("limit"),
        "{r}"
    );
    let r = c.call("sessions.list", json!({"bogus": true}));
    assert!(
        r["error"]["message"].as_str().unwrap().contains("bogus"),
        "{r}"
    );
}

#[test]
fn sessions_list_preview_patch_reset_compact_delete() {
    // Every fourth message extends the per-session index: each call below
    // reads and deletes indexed and not-yet-indexed rows together.
    let gw = Gateway::start(json!({"store": {"indexBatch": 4}}));
    let mut a = gw.admin();
    let wall_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    };
    for (i, key) in ["alpha", "beta", "gamma"].iter().enumerate() {
        // Each session's messages in a later millisecond than the last one's
        // (updatedAt has millisecond resolution; equal times tie).
        let last = wall_ms();
        wait_until("the next millisecond", || wall_ms() > last);
        for j in 0..5 {
            let r = send(
                &mut a,
                key,
                &format!("{key} message {j}"),
                &format!("{i}-{j}"),
            );
            assert_eq!(r["ok"], true);
        }
    }
    let l = a.call(
        "sessions.list",
        json!({"limit": 2, "includeLastMessage": true}),
    );
    let sessions = l["payload"]["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0]["key"], "gamma", "most recent first: {l}");
    assert_eq!(sessions[0]["messageCount"], 5);
    assert_eq!(sessions[0]["lastMessagePreview"], "gamma message 4");
    let l = a.call("sessions.list", json!({"search": "bet"}));
    assert_eq!(l["payload"]["count"], 1);

    let p = a.call(
        "sessions.preview",
        json!({"keys": ["alpha", "nope"], "limit": 2, "maxChars": 5}),
    );
    let previews = p["payload"]["previews"].as_array().unwrap();
    assert_eq!(previews[0]["status"], "ok");
    assert_eq!(previews[0]["items"].as_array().unwrap().len(), 2);
    assert_eq!(previews[0]["items"][0]["text"], "alpha");
    assert_eq!(previews[1]["status"], "missing");

    let r = a.call("sessions.patch", json!({"key": "alpha", "label": "Work"}));
    assert_eq!(r["payload"]["entry"]["label"], "Work", "{r}");
    let r = a.call("sessions.patch", json!({"key": "alpha", "label": null}));
    assert!(
        r["payload"]["entry"]
            .get("label")
            .is_none_or(|l| l.is_null()),
        "{r}"
    );
    let r = a.call("sessions.patch", json!({"key": "missing", "label": "x"}));
    assert_eq!(r["error"]["details"]["code"], "SESSION_NOT_FOUND");

    let r = a.call("sessions.compact", json!({"key": "beta", "maxLines": 2}));
    assert_eq!(r["payload"]["removed"], 3, "{r}");
    let r = a.call("sessions.reset", json!({"key": "gamma"}));
    assert_eq!(r["payload"]["removed"], 5);
    let h = a.call("chat.history", json!({"sessionKey": "gamma"}));
    assert!(h["payload"]["messages"].as_array().unwrap().is_empty());
    let r = a.call("sessions.delete", json!({"key": "alpha"}));
    assert_eq!(r["payload"]["deleted"], true);
    let l = a.call("sessions.list", Value::Null);
    assert_eq!(l["payload"]["count"], 2);

    // Mutations need operator.admin.
    let mut w = gw.client(&["operator.write"]);
    let r = w.call("sessions.delete", json!({"key": "beta"}));
    assert_eq!(r["error"]["details"]["code"], "MISSING_SCOPE");
}

/// Several writers; SIGKILL while they write; every acknowledged message
/// must be there after a restart and the database must be intact.
#[test]
fn acknowledged_messages_survive_sigkill_during_a_write_storm() {
    // A small index batch: the per-session index is extended many times
    // during the storm, so a kill may land in any of those commits.
    let mut gw = Gateway::start(json!({"store": {"indexBatch": 16}}));
    let addr = gw.addr;
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut c = Client::open(addr);
                assert_eq!(c.connect(TOKEN, &["operator.write"])["ok"], true);
                for i in 0.. {
                    let id = format!("w{w}-{i}");
                    c.send(&json!({"type":"req","id":id,"method":"chat.send",
                        "params":{"sessionKey":format!("storm-{w}"),"message":format!("m{i}"),"idempotencyKey":id}}));
                    // Read until our answer; a killed gateway ends the thread.
                    loop {
                        let f = match c.ws.read() {
                            Ok(tungstenite::Message::Text(t)) => serde_json::from_str::<Value>(&t).unwrap(),
                            Ok(_) => continue,
                            Err(_) => return,
                        };
                        if f["id"] == id.as_str() {
                            if f["ok"] == true {
                                let _ = tx.send(f["payload"]["messageId"].as_str().unwrap().to_string());
                            }
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    drop(tx);
    // Kill once a good number of messages were acknowledged.
    let mut acked = Vec::new();
    while acked.len() < 400 {
        acked.push(rx.recv_timeout(WAIT).expect("acks"));
    }
    gw.signal(libc::SIGKILL);
    for w in writers {
        w.join().unwrap();
    }
    acked.extend(rx.try_iter());
    gw.restart();
    let db = rusqlite::Connection::open(gw.db_path()).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let mut stmt = db
        .prepare("SELECT 1 FROM messages WHERE message_id = ?1")
        .unwrap();
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !stmt.exists([id.as_str()]).unwrap())
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged messages lost",
        missing.len(),
        acked.len()
    );
    // And the restarted gateway serves each writer's acknowledged messages,
    // in the order they were sent, from the index and its tail alike.
    let mut c = gw.client(&["operator.read"]);
    for w in 0..4 {
        let h = c.call(
            "chat.history",
            json!({"sessionKey": format!("storm-{w}"), "limit": 1000}),
        );
        let served: Vec<&str> = h["payload"]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        let sent = db
            .prepare("SELECT message_id FROM messages WHERE session_key = ?1 ORDER BY seq")
            .unwrap()
            .query_map([format!("storm-{w}")], |r| r.get::<_, String>(0))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        assert!(
            !sent.is_empty() && sent.len() <= 1000,
            "storm-{w}: {} messages",
            sent.len()
        );
        assert_eq!(served, sent, "storm-{w}");
    }
}

/// SIGTERM: pipelined appends and a label change all survive.
#[test]
fn sigterm_loses_nothing() {
    let mut gw = Gateway::start(json!({}));
    let mut c = gw.admin();
    for i in 0..200 {
        c.send(&json!({"type":"req","id":format!("s{i}"),"method":"chat.send",
            "params":{"sessionKey":"term","message":format!("m{i}"),"idempotencyKey":format!("t{i}")}}));
    }
    let r = c.call("sessions.patch", json!({"key": "term", "label": "kept"}));
    assert_eq!(r["ok"], true, "{r}");
    gw.signal(libc::SIGTERM);
    let status = gw.wait_exit(Duration::from_secs(10)).expect("exited");
    assert!(status.success());
    gw.restart();
    let mut c = gw.admin();
    let l = c.call("sessions.list", json!({"search": "term"}));
    let s = &l["payload"]["sessions"][0];
    assert_eq!(s["label"], "kept", "{l}");
    assert_eq!(s["messageCount"], 200);
    let h = c.call("chat.history", json!({"sessionKey": "term", "limit": 1000}));
    assert_eq!(h["payload"]["messages"].as_array().unwrap().len(), 200);
}

#[test]
fn corrupt_database_is_refused_at_start_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("clawgate.db"),
        b"definitely not a database, but precious",
    )
    .unwrap();
    let (program, mut args) = binary();
    args.extend(["--port", "0", "--token", "t", "--data-dir"].map(String::from));
    args.push(data.display().to_string());
    let out = std::process::Command::new(program)
        .args(&args)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("clawgate.db"), "{err}");
    assert_eq!(
        std::fs::read(data.join("clawgate.db")).unwrap(),
        b"definitely not a database, but precious"
    );
}

/// 10,000 appends to 10 sessions: their metadata (count, updatedAt,
/// preview) is coalesced into a handful of writes.
#[test]
fn metadata_burst_is_coalesced_over_99_percent() {
    let gw = Gateway::start(json!({"store": {"metaDebounceMs": 60000}}));
    let mut c = gw.client(&["operator.write"]);
    let total = 10_000;
    let chunk = 500;
    for start in (0..total).step_by(chunk) {
        for i in start..start + chunk {
            c.send(
                &json!({"type":"req","id":format!("i{i}"),"method":"chat.inject",
                "params":{"sessionKey":format!("burst-{}", i % 10),"message":format!("m{i}")}}),
            );
        }
        for i in start..start + chunk {
            assert_eq!(c.wait_res(&format!("i{i}"))["ok"], true);
        }
        c.backlog.clear(); // chat events for ourselves
    }
    let h = c.call("health", json!({"probe": true}));
    let m = &h["payload"]["store"]["metadata"];
    let requested = m["requested"].as_f64().unwrap();
    let performed = m["performed"].as_f64().unwrap();
    assert_eq!(requested, total as f64, "{m}");
    // Nothing flushed yet (debounce 60 s, 10 sessions = the pending bound):
    // a read flushes, and the counts are exact.
    let mut a = gw.admin();
    let l = a.call("sessions.list", json!({"search": "burst-"}));
    let counts: Vec<u64> = l["payload"]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["messageCount"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, vec![1000; 10], "{l}");
    let h = a.call("health", json!({"probe": true}));
    let m = &h["payload"]["store"]["metadata"];
    let performed_after = m["performed"].as_f64().unwrap();
    assert!(performed <= performed_after);
    let rate = 1.0 - performed_after / requested;
    eprintln!("metadata coalescing: {requested} requested, {performed_after} rows written, rate {rate:.4}");
    assert!(rate > 0.99, "{m}");
    assert!(m["flushesRead"].as_u64() >= Some(1));
}

#[test]
fn metadata_is_written_after_the_debounce_and_when_too_many_sessions_wait() {
    let gw = Gateway::start(json!({"store": {"metaDebounceMs": 100, "metaMaxPending": 3}}));
    let mut c = gw.client(&["operator.write"]);
    c.call("chat.inject", json!({"sessionKey": "d1", "message": "x"}));
    wait_health(&mut c, "debounced metadata flush", |p| {
        p["store"]["metadata"]["flushesDebounce"].as_u64() >= Some(1)
    });
    for k in ["e1", "e2", "e3", "e4"] {
        c.call("chat.inject", json!({"sessionKey": k, "message": "x"}));
    }
    let h = c.call("health", json!({"probe": true}));
    assert!(
        h["payload"]["store"]["metadata"]["flushesFull"].as_u64() >= Some(1),
        "{h}"
    );
}

/// More sessions in a group commit than the metadata buffer holds: their
/// metadata rides in the commit's own transaction, never in a second one
/// right after, and the counts come out right.
#[test]
fn a_full_metadata_buffer_rides_along_in_the_group_commit() {
    let gw = Gateway::start(json!({"store": {"metaDebounceMs": 600000, "metaMaxPending": 3}}));
    let mut c = gw.client(&["operator.admin"]);
    let before = c.call("health", json!({"probe": true}))["payload"]["store"].clone();
    // Pipelined: most land in one turn, so in one group commit.
    for i in 0..12 {
        c.send(&json!({"type": "req", "id": format!("p{i}"), "method": "chat.inject",
                       "params": {"sessionKey": format!("ride{}", i % 8), "message": format!("m{i}")}}));
    }
    for i in 0..12 {
        let r = c.wait_res(&format!("p{i}"));
        assert_eq!(r["ok"], true, "{r}");
    }
    let after = c.call("health", json!({"probe": true}))["payload"]["store"].clone();
    let d = |k: &str| after[k].as_u64().unwrap() - before[k].as_u64().unwrap();
    assert!(
        after["metadata"]["flushesFull"].as_u64() >= Some(1),
        "8 sessions overflow a buffer of 3: {after}"
    );
    assert_eq!(
        d("transactions"),
        d("groupCommits"),
        "no metadata-only transaction: {before} -> {after}"
    );
    let list = c.call("sessions.list", json!({"limit": 100, "search": "ride"}));
    let rows = list["payload"]["sessions"].as_array().unwrap();
    assert_eq!(rows.len(), 8, "{list}");
    let total: u64 = rows
        .iter()
        .map(|r| r["messageCount"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 12, "every message counted once: {list}");
}

/// A full database (store.maxDbBytes stands in for a full disk): the batch
/// is kept and retried, new writers get UNAVAILABLE once the backlog bound
/// is reached, everyone else is served, and after room is made (SIGHUP with
/// a larger limit) the kept batch commits and is acknowledged. Nothing
/// acknowledged is lost.
#[test]
fn full_database_keeps_the_batch_and_recovers() {
    let cfg = json!({"store": {"maxDbBytes": 65536, "groupCommitBytes": 4096, "pendingMaxBytes": 16384,
            // This test is about the kept batch; the prompt answer is in tests/hostile.rs.
            "unavailableAfterMs": 600000}});
    let mut gw = Gateway::start(cfg);
    let mut c = gw.client(&["operator.write"]);
    c.ws.get_mut()
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let body = "x".repeat(1000);
    let mut acked: HashSet<String> = HashSet::new();
    let mut refused: HashSet<String> = HashSet::new();
    let mut answered_ids: HashSet<String> = HashSet::new();
    let mut sent = Vec::new();
    let read_available = |c: &mut Client,
                          acked: &mut HashSet<String>,
                          refused: &mut HashSet<String>,
                          answered: &mut HashSet<String>| loop {
        match c.ws.read() {
            Ok(tungstenite::Message::Text(t)) => {
                let f: Value = serde_json::from_str(&t).unwrap();
                if f["type"] == "res" {
                    let id = f["id"].as_str().unwrap().to_string();
                    if f["ok"] == true {
                        acked.insert(f["payload"]["messageId"].as_str().unwrap().to_string());
                    } else {
                        assert_eq!(f["error"]["details"]["code"], "STORAGE_BACKLOG", "{f}");
                        assert_eq!(f["error"]["code"], "UNAVAILABLE");
                        refused.insert(id.clone());
                    }
                    answered.insert(id);
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return
            }
            Err(e) => panic!("{e}"),
        }
    };
    for i in 0..2000 {
        let id = format!("f{i}");
        c.send(&json!({"type":"req","id":id,"method":"chat.inject","params":{"sessionKey":"full","message":body}}));
        sent.push(id);
        read_available(&mut c, &mut acked, &mut refused, &mut answered_ids);
        if !refused.is_empty() {
            break;
        }
    }
    assert!(!refused.is_empty(), "the backlog bound was never reached");
    assert!(
        !acked.is_empty(),
        "some messages fit before the database filled"
    );
    // Everyone else is still served.
    let mut other = gw.client(&["operator.read"]);
    let h = other.call("health", json!({"probe": true}));
    assert!(h["payload"]["store"]["errors"].as_u64() >= Some(1), "{h}");
    // Make room; the kept batch commits on the next retry.
    let mut cfg: Value = serde_json::from_slice(&std::fs::read(&gw.config_path).unwrap()).unwrap();
    cfg["store"]["maxDbBytes"] = json!(64 << 20);
    std::fs::write(&gw.config_path, cfg.to_string()).unwrap();
    gw.signal(libc::SIGHUP);
    c.ws.get_mut().set_read_timeout(Some(WAIT)).unwrap();
    while answered_ids.len() < sent.len() {
        if let tungstenite::Message::Text(t) = c.ws.read().expect("answers after recovery") {
            let f: Value = serde_json::from_str(&t).unwrap();
            if f["type"] == "res" {
                assert_eq!(f["ok"], true, "{f}");
                acked.insert(f["payload"]["messageId"].as_str().unwrap().to_string());
                answered_ids.insert(f["id"].as_str().unwrap().to_string());
            }
        }
    }
    gw.signal(libc::SIGTERM);
    assert!(gw
        .wait_exit(Duration::from_secs(10))
        .expect("exited")
        .success());
    let db = rusqlite::Connection::open(gw.db_path()).unwrap();
    let mut stmt = db
        .prepare("SELECT 1 FROM messages WHERE message_id = ?1")
        .unwrap();
    let lost = acked
        .iter()
        .filter(|id| !stmt.exists([id.as_str()]).unwrap())
        .count();
    assert_eq!(lost, 0, "of {} acknowledged", acked.len());
    assert_eq!(acked.len() + refused.len(), sent.len());
}

/// Every I/O counter is driven by a real code path, and the per-window
/// history fills (windows shortened to 100 ms for the test).
#[test]
fn io_metrics_windows_count_every_path() {
    let gw = Gateway::start(json!({"metrics": {"windowMs": 100, "windows": 5}}));
    let mut c = gw.admin();
    send(&mut c, "io", "first", "k"); // cache miss, transaction, disk bytes
    send(&mut c, "io", "first", "k"); // cache hit
    c.call("chat.history", json!({"sessionKey": "io"})); // query
    c.call("logs.tail", json!({"limit": 1})); // flushes the log file: disk write
    let p = wait_health(&mut c, "closed windows", |p| {
        p["io"]["windows"].as_array().unwrap().len() >= 2
    });
    let totals = &p["io"]["totals"];
    for k in [
        "netBytesIn",
        "netBytesOut",
        "framesIn",
        "framesOut",
        "diskWrites",
        "diskBytes",
        "dbQueries",
        "dbTransactions",
        "cacheHits",
        "cacheMisses",
    ] {
        assert!(
            totals[k].as_u64().unwrap() > 0,
            "{k} never counted: {totals}"
        );
    }
    let windows = p["io"]["windows"].as_array().unwrap();
    assert!(windows.len() <= 5);
    let net_in: u64 = windows
        .iter()
        .map(|w| w["netBytesIn"].as_u64().unwrap())
        .sum::<u64>()
        + p["io"]["current"]["netBytesIn"].as_u64().unwrap();
    assert!(net_in > 0);
    assert!(
        p["io"]["maxPerWindow"]["framesIn"].as_u64()
            >= p["io"]["meanPerWindow"]["framesIn"].as_u64()
    );
}

/// Checkpoints run on the worker pool when the WAL passes its threshold;
/// the loop keeps answering meanwhile.
#[test]
fn wal_checkpoint_runs_on_the_worker_pool() {
    let gw = Gateway::start(json!({"store": {"checkpointWalBytes": 65536}}));
    let mut c = gw.client(&["operator.write"]);
    let body = "y".repeat(2000);
    for i in 0..100 {
        let r = c.call("chat.inject", json!({"sessionKey": "wal", "message": body}));
        assert_eq!(r["ok"], true, "{i}: {r}");
    }
    let p = wait_health(&mut c, "a worker checkpoint", |p| {
        p["store"]["checkpoints"].as_u64() >= Some(1)
    });
    assert!(p["workers"]["done"].as_u64() >= Some(1), "{p}");
    assert_eq!(p["workers"]["panicked"], 0);
    assert!(p["workers"]["threads"].as_u64() >= Some(1));
}

/// Pending (debounced) metadata must not outlive a reset, delete or compact:
/// the counters start again from what the mutation left.
#[test]
fn reset_drops_pending_metadata_into_place_first() {
    let gw = Gateway::start(json!({"store": {"metaDebounceMs": 60000}}));
    let mut a = gw.admin();
    for _ in 0..3 {
        a.call("chat.inject", json!({"sessionKey": "r", "message": "x"}));
    }
    assert_eq!(
        a.call("sessions.reset", json!({"key": "r"}))["payload"]["removed"],
        3
    );
    a.call(
        "chat.inject",
        json!({"sessionKey": "r", "message": "after"}),
    );
    let l = a.call("sessions.list", json!({"search": "r"}));
    assert_eq!(l["payload"]["sessions"][0]["messageCount"], 1, "{l}");
}
