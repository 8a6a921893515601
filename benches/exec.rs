//! Exec benchmark (`make bench`): a release gateway on 127.0.0.1 and real
//! children. Prints:
//! - spawn to first output: `exec.run {argv:[echo]}` sent -> first
//!   `process.output` received (p50 / p99 / max over BENCH_EXEC_SPAWNS);
//! - relay throughput: a child writing BENCH_EXEC_MB MiB as fast as it can,
//!   relayed as `process.output` events to one client that reads them all
//!   (MB/s of child output delivered, and events dropped for being slow);
//! - the loop's responsiveness meanwhile: `health` round trips from a second
//!   client (p50 / p99 / max) and the gateway's own max turn.
//!
//! Bounded in count and time, loopback only; it stops by itself.

#[path = "../tests/common/mod.rs"]
mod common;
mod util;

use util::{env_or, pct};

use common::{Client, Gateway};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let spawns = env_or("BENCH_EXEC_SPAWNS", 300);
    let mib = env_or("BENCH_EXEC_MB", 256);
    let gw = Gateway::start(json!({"log": {"level": "warn"}}));
    let mut c = gw.client(&["operator.read", "operator.write"]);

    // Spawn to first output: `echo` (the exit flushes it too), and a child
    // that keeps running after its first line (only the output itself can).
    for (label, argv, runs) in [
        ("`echo x`", json!(["echo", "x"]), spawns),
        (
            "`echo x; sleep 0.05`",
            json!(["sh", "-c", "echo x; exec sleep 0.05"]),
            spawns / 3,
        ),
    ] {
        let mut lat = Vec::with_capacity(runs);
        for i in 0..runs {
            let id = format!("s{i}");
            let t = Instant::now();
            c.send(&json!({"type": "req", "id": id, "method": "exec.run",
                "params": {"argv": argv, "yieldMs": 0}}));
            let mut pid = Value::Null;
            let mut first = None;
            let mut exited = false;
            while !(first.is_some() && exited) {
                let f = c.recv();
                if f["type"] == "res" && f["id"] == id.as_str() {
                    assert_eq!(f["ok"], true, "{f}");
                    pid = f["payload"]["processId"].clone();
                } else if pid.is_null() || f["payload"]["processId"] != pid {
                    continue;
                } else if f["event"] == "process.output" && first.is_none() {
                    first = Some(t.elapsed());
                } else if f["event"] == "process.exit" {
                    exited = true;
                }
            }
            lat.push(first.unwrap());
        }
        lat.sort();
        println!(
            "exec spawn -> first output ({runs} runs of {label}): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(pct(&lat, 0.5)),
            ms(pct(&lat, 0.99)),
            ms(*lat.last().unwrap())
        );
    }

    // Relay throughput, with health probes from a second client.
    let stop = Arc::new(AtomicBool::new(false));
    let addr = gw.addr;
    let probe = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut p = Client::open(addr);
            assert_eq!(p.connect(common::TOKEN, &["operator.read"])["ok"], true);
            let mut rtts = Vec::new();
            while !stop.load(Ordering::Relaxed) && rtts.len() < 100_000 {
                let t = Instant::now();
                let h = p.call("health", json!({"probe": true}));
                rtts.push(t.elapsed());
                assert_eq!(h["ok"], true);
                p.backlog.clear();
                std::thread::sleep(Duration::from_millis(10)); // 100 probes/s
            }
            rtts
        })
    };
    let bytes = mib * 1024 * 1024;
    let cmd = format!("yes 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM | head -c {bytes}");
    let t = Instant::now();
    c.send(&json!({"type": "req", "id": "flood", "method": "exec.run",
        "params": {"command": cmd, "yieldMs": 0}}));
    let mut delivered = 0u64;
    let mut events = 0u64;
    let mut exit = Value::Null;
    let mut pid = Value::Null;
    let deadline = t + Duration::from_secs(120);
    while exit.is_null() && Instant::now() < deadline {
        let f = c.recv();
        if f["type"] == "res" && f["id"] == "flood" {
            assert_eq!(f["ok"], true, "{f}");
            pid = f["payload"]["processId"].clone();
            continue;
        }
        if pid.is_null() || f["payload"]["processId"] != pid {
            continue; // a late frame of the spawn runs
        }
        match f["event"].as_str() {
            Some("process.output") => {
                delivered += f["payload"]["data"].as_str().map_or(0, |d| d.len() as u64);
                events += 1;
            }
            Some("process.exit") => exit = f["payload"].clone(),
            _ => {}
        }
    }
    let secs = t.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut rtts = probe.join().unwrap();
    rtts.sort();
    let mut h = gw.client(&["operator.read"]);
    let health = h.call("health", json!({"probe": true}));
    let st = h.call("status", Value::Null);
    assert!(!rtts.is_empty(), "no health probe finished");
    let produced = exit["outputBytes"].as_u64().unwrap_or(0);
    println!(
        "exec relay to one client: child wrote {:.0} MiB in {secs:.2} s = {:.0} MB/s; delivered {:.0} MiB in {events} events = {:.0} MB/s ({:.1}% of the output; exec.flowControl paused the child {} times)",
        produced as f64 / 1048576.0,
        produced as f64 / 1e6 / secs,
        delivered as f64 / 1048576.0,
        delivered as f64 / 1e6 / secs,
        100.0 * delivered as f64 / produced.max(1) as f64,
        st["payload"]["processes"]["stats"]["flowPauses"],
    );
    println!(
        "health during the relay ({} probes at 100/s): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; gateway max loop turn {} us",
        rtts.len(),
        ms(pct(&rtts, 0.5)),
        ms(pct(&rtts, 0.99)),
        ms(*rtts.last().unwrap()),
        health["payload"]["gateway"]["eventLoop"]["maxTurnUs"]
    );
    println!("exec stats: {}", st["payload"]["processes"]["stats"]);
}
