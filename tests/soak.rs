//! Soak: many connect/disconnect cycles and many messages, then the
//! gateway's open fds and threads are back to where they started and its
//! RSS within 1 MB of it. Prints the figures.
//!
//! CI runs a short version (`CLAWGATE_SOAK_CYCLES`, default 2,000 cycles,
//! and `CLAWGATE_SOAK_MESSAGES`, default 50,000); `make soak` runs 100,000
//! cycles and 1,000,000 messages against a release build.

mod common;

use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

/// What "back to the start" allows for RSS.
const RSS_SLACK: u64 = 1024 * 1024;
/// Clients sending messages at once, and requests each keeps in flight.
const SENDERS: usize = 4;
const PIPELINE: usize = 100;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Figures {
    /// What the open descriptors point at (sockets, the database...).
    fd_targets: Vec<String>,
    fds: usize,
    threads: usize,
    rss: u64,
}

fn figures(pid: u32) -> Figures {
    let mut fd_targets: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| {
            std::fs::read_link(e.path())
                .map(|t| t.display().to_string())
                .unwrap_or_default()
        })
        .map(|t| {
            if t.starts_with("socket:") {
                "socket".into()
            } else {
                t
            }
        })
        .collect();
    fd_targets.sort();
    let fds = fd_targets.len();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    Figures {
        fd_targets,
        fds,
        threads: field("Threads:") as usize,
        rss: field("VmRSS:") * 1024,
    }
}

/// `cycles` full handshakes (upgrade, challenge, connect, hello-ok, close).
fn cycle(gw: &Gateway, cycles: usize) {
    for _ in 0..cycles {
        let mut c = Client::open(gw.addr);
        let hello = c.connect(TOKEN, &["operator.read"]);
        assert_eq!(hello["ok"], true, "{hello}");
        c.ws.close(None).unwrap();
        let _ = c.expect_close();
    }
}

/// `total` request/answer messages from SENDERS clients, pipelined; one
/// in ten is a `chat.send` so the store takes its share.
fn messages(gw: &Gateway, total: usize, round: usize) {
    let per = total / SENDERS;
    let handles: Vec<_> = (0..SENDERS)
        .map(|s| {
            let mut c = gw.client(&["operator.read", "operator.write"]);
            std::thread::spawn(move || {
                let mut sent = 0;
                while sent < per {
                    let n = PIPELINE.min(per - sent);
                    for i in 0..n {
                        let id = format!("m{}", sent + i);
                        let req = if (sent + i) % 10 == 0 {
                            json!({"type": "req", "id": id, "method": "chat.send", "params": {
                                "sessionKey": format!("soak-{s}"), "message": "x",
                                "idempotencyKey": format!("r{round}-s{s}-{}", sent + i)}})
                        } else {
                            json!({"type": "req", "id": id, "method": "status"})
                        };
                        c.send(&req);
                    }
                    // Answers come in commit order (a chat.send waits for
                    // its group commit): count them, whatever the order.
                    let mut answered = 0;
                    while answered < n {
                        let f = c.recv();
                        if f["type"] == "res" {
                            assert_eq!(f["ok"], true, "{f}");
                            answered += 1;
                        }
                    }
                    sent += n;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

/// Waits until only the probe is connected, no job runs, and two more
/// ticks have fired (each trims the heap).
fn settle(probe: &mut Client) {
    let h = wait_health(probe, "quiet", |h| {
        h["gateway"]["connections"]["active"] == 1 && h["workers"]["running"] == 0
    });
    let fired = h["gateway"]["eventLoop"]["timersFired"].as_u64().unwrap();
    wait_health(probe, "two ticks", |h| {
        h["gateway"]["eventLoop"]["timersFired"].as_u64().unwrap() >= fired + 2
            && h["workers"]["running"] == 0
    });
}

#[test]
fn soak_returns_to_its_starting_figures() {
    let cycles = env_or("CLAWGATE_SOAK_CYCLES", 2_000);
    let total = env_or("CLAWGATE_SOAK_MESSAGES", 50_000);
    // A fast tick: the heap is trimmed on every tick, so freed memory is
    // given back within the test instead of at the next 30 s tick. The
    // bounded caches (SQLite pages, the mmap window, idempotency keys) are
    // made small enough for the warm-up to fill them: growth up to a bound
    // is not a leak, and would hide one. Checkpoints run often, so the
    // warm-up sees them too: SQLite keeps the descriptors of a checkpoint's
    // connections for reuse while the main one holds its locks.
    let gw = Gateway::start(json!({
        "events": {"tickIntervalMs": 200},
        "log": {"level": "warn"},
        "store": {"idempotencyKeys": 500, "cacheBytes": 65536, "mmapBytes": 0,
                  "checkpointWalBytes": 1048576},
    }));
    let pid = gw.child.id();
    // Warm-up: first connections, first commits, the coach library and
    // the caches reach their working size.
    cycle(&gw, 1_000);
    messages(&gw, 20_000, 0);
    // The probe is connected while figures are taken, not meanwhile: it
    // reads nothing then, and every chat event would pile up on it until
    // the gateway closed it as a slow consumer.
    let mut probe = gw.client(&["operator.read"]);
    settle(&mut probe);
    let start = figures(pid);
    drop(probe);

    let t = Instant::now();
    cycle(&gw, cycles);
    let cycles_s = t.elapsed();
    let t = Instant::now();
    messages(&gw, total, 1);
    let messages_s = t.elapsed();

    // Back to one client; then the figures settle (tick trims the heap).
    let mut probe = gw.client(&["operator.read"]);
    settle(&mut probe);
    // Settling is bounded: the figures are printed either way.
    let deadline = Instant::now() + WAIT;
    let mut end = figures(pid);
    while (end.rss > start.rss + RSS_SLACK || end.fds != start.fds) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50)); // polling interval
        end = figures(pid);
    }
    println!(
        "soak: {cycles} connect/disconnect cycles in {:.1} s ({:.0}/s), {total} messages in {:.1} s ({:.0}/s)",
        cycles_s.as_secs_f64(),
        cycles as f64 / cycles_s.as_secs_f64(),
        messages_s.as_secs_f64(),
        total as f64 / messages_s.as_secs_f64()
    );
    println!(
        "soak: fds {} -> {}, threads {} -> {}, RSS {:.2} MB -> {:.2} MB",
        start.fds,
        end.fds,
        start.threads,
        end.threads,
        start.rss as f64 / 1048576.0,
        end.rss as f64 / 1048576.0
    );
    assert_eq!(end.fd_targets, start.fd_targets);
    assert_eq!(end.threads, start.threads);
    assert!(
        end.rss <= start.rss + RSS_SLACK,
        "RSS grew by more than 1 MB"
    );
    let h = probe.call("health", json!({"probe": true}));
    let c = &h["payload"]["gateway"]["connections"];
    assert!(c["closed"].as_u64().unwrap() >= cycles as u64, "{c}");
}
