//! Observability benchmark (`make bench`): a release gateway on 127.0.0.1.
//! Prints:
//! - `/metrics` rendering: time from request to full answer with the cache
//!   off (every request renders), then with the default cache (p50 / p99 /
//!   max over BENCH_OBS_SCRAPES), and the exposition's size;
//! - the dashboard's size (`/`, its script and stylesheet);
//! - the lag monitor's cost: nanoseconds per recorded turn (in process),
//!   times the turns per second the gateway made while BENCH_OBS_CLIENTS
//!   clients sent `health` probes as fast as they could, as a share of
//!   one core.
//!
//! Bounded in count and time, loopback only; it stops by itself.

#[path = "../tests/common/mod.rs"]
mod common;
mod util;

use util::{env_or, pct};

use common::{raw_exchange, Gateway, TOKEN};
use serde_json::json;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn us(d: Duration) -> u128 {
    d.as_micros()
}

fn scrape(gw: &Gateway, n: usize, label: &str) {
    let req = format!("GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n");
    let mut lat = Vec::with_capacity(n);
    let mut size = 0;
    for _ in 0..n {
        let t = Instant::now();
        let resp = raw_exchange(gw.addr, req.as_bytes());
        lat.push(t.elapsed());
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        size = resp.len();
    }
    lat.sort();
    println!(
        "/metrics {label}: p50 {} µs, p99 {} µs, max {} µs over {n} scrapes (connect + request + render + answer), {size} bytes",
        us(pct(&lat, 0.5)),
        us(pct(&lat, 0.99)),
        us(*lat.last().unwrap())
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let scrapes = env_or("BENCH_OBS_SCRAPES", 500);
    let clients = env_or("BENCH_OBS_CLIENTS", 8);
    let secs = env_or("BENCH_OBS_SECS", 3) as u64;

    // With 20 sessions and some traffic, so the snapshot is not empty.
    let gw = Gateway::start(json!({"log": {"level": "warn"}, "cache": {"metricsTtlMs": 0}}));
    let mut w = gw.client(&["operator.write"]);
    for i in 0..20 {
        let r = w.call(
            "chat.send",
            json!({"sessionKey": format!("s{i}"), "message": "hello", "idempotencyKey": format!("k{i}")}),
        );
        assert_eq!(r["ok"], true);
    }
    scrape(&gw, scrapes, "uncached");
    drop(gw);
    let gw = Gateway::start(json!({"log": {"level": "warn"}}));
    scrape(&gw, scrapes, "cached (metricsTtlMs 1000)");

    let mut page = 0;
    for path in ["/", "/dashboard.js", "/dashboard.css"] {
        let resp = raw_exchange(
            gw.addr,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        );
        let body = resp.split_once("\r\n\r\n").map_or(0, |(_, b)| b.len());
        page += body;
    }
    println!("dashboard: {page} bytes (page + script + stylesheet; target <= 51200)");

    // The lag monitor's own cost per turn, in process.
    let t0 = Instant::now();
    let mut m = clawgate::observe::lag::LagMonitor::new(
        Duration::from_secs(60),
        Duration::from_millis(50),
        t0,
    );
    let n = 5_000_000u32;
    let start = Instant::now();
    for i in 0..n {
        let at = t0 + Duration::from_micros(i as u64 * 20);
        black_box(m.record(
            at,
            Duration::from_micros((i % 700) as u64),
            (i % 3 == 0).then_some(Duration::from_micros(40)),
        ));
    }
    let per_turn_ns = start.elapsed().as_nanos() as f64 / n as f64;
    black_box(m.view(t0));

    // Turns per second under a request storm.
    let mut probe = gw.client(&["operator.read"]);
    let iters = |c: &mut common::Client| {
        c.call("health", json!({"probe": true}))["payload"]["gateway"]["eventLoop"]["iterations"]
            .as_u64()
            .unwrap()
    };
    let before = iters(&mut probe);
    let t = Instant::now();
    let stop = t + Duration::from_secs(secs);
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let mut c = gw.client(&["operator.read"]);
            std::thread::spawn(move || {
                let mut n = 0u64;
                while Instant::now() < stop {
                    c.call("status", serde_json::Value::Null);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let requests: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let turns = iters(&mut probe) - before;
    let turns_per_s = turns as f64 / t.elapsed().as_secs_f64();
    let share = per_turn_ns * turns_per_s / 1e9 * 100.0;
    println!(
        "lag monitor: {per_turn_ns:.1} ns per turn; {turns_per_s:.0} turns/s under {clients} clients ({} requests/s) -> {share:.3} % of one core (target < 1 %)",
        (requests as f64 / t.elapsed().as_secs_f64()) as u64
    );
}
