//! A day of timers in seconds: the gateway's own loop (in this process, on
//! a real listener and a real database) with its clock moved forward from
//! one due timer to the next. Every periodic job of a day runs — ticks,
//! checkpoints, memory checks, I/O windows, log flushes, idle timeouts,
//! finished-process pruning — while real clients connect every virtual
//! hour; at the end the timer wheel, the tables and RSS are back where
//! they were, and every message is stored.
//!
//! `CLAWGATE_CLOCK_SOAK_HOURS` (default 24) sets the virtual span.

mod common;

use clawgate::config::{Config, ConfigSource};
use clawgate::reactor::{Reactor, TurnScratch};
use clawgate::store::Store;
use common::{Client, TOKEN};
use serde_json::{json, Value};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const HOUR: Duration = Duration::from_secs(3600);
const MESSAGES_PER_HOUR: usize = 40;
/// Real time a test may take to get its clients' answers, per step.
const REAL_LIMIT: Duration = Duration::from_secs(60);

fn rss_bytes() -> u64 {
    common::rss_kib(std::process::id()) * 1024
}

/// Turns the loop in real time (the clock not moved) until `job` is done:
/// clients in other threads get their answers.
fn serve<T>(r: &mut Reactor, s: &mut TurnScratch, job: JoinHandle<T>) -> T {
    let deadline = Instant::now() + REAL_LIMIT;
    while !job.is_finished() {
        assert!(Instant::now() < deadline, "a client got no answer in time");
        r.turn(Some(Duration::from_millis(1)), s).expect("turn");
    }
    job.join().expect("client thread")
}

/// Lets work the due timers started finish in real time before the clock
/// moves again (a checkpoint on a worker takes real milliseconds, and a
/// day has minutes between checkpoints), then takes in the results.
fn settle(r: &mut Reactor, s: &mut TurnScratch) {
    let deadline = Instant::now() + REAL_LIMIT;
    loop {
        let p = r.gateway().workers.stats();
        if p.queued == 0 && p.running == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "worker jobs finish");
        r.turn(Some(Duration::from_millis(1)), s).expect("turn");
    }
    r.turn(Some(Duration::ZERO), s).expect("turn");
}

/// Moves the clock forward by `span`, one due timer at a time, turning the
/// loop at each stop (so every timer fires in order, as it would in a day).
fn advance(r: &mut Reactor, s: &mut TurnScratch, span: Duration) -> usize {
    let mut left = span;
    let mut stops = 0;
    while !left.is_zero() {
        let step = r.until_next_timer().unwrap_or(left).min(left);
        r.advance_clock(step);
        left -= step;
        r.turn(Some(Duration::ZERO), s).expect("turn");
        settle(r, s);
        stops += 1;
    }
    stops
}

#[test]
fn a_day_of_timers_leaves_everything_bounded() {
    let hours = std::env::var("CLAWGATE_CLOCK_SOAK_HOURS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24u32);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::default();
    cfg.server.bind = "127.0.0.1".into();
    cfg.server.port = 0;
    cfg.server.data_dir = dir.path().join("data");
    cfg.auth.token = Some(TOKEN.into());
    let level = log::LevelFilter::Info;
    let logfile = clawgate::observe::logfile::LogFile::open(
        &cfg.server.data_dir,
        clawgate::observe::logfile::LogFileOptions {
            max_file_bytes: cfg.log.max_file_bytes,
            max_files: cfg.log.max_files,
            buffer_lines: cfg.log.buffer_lines,
        },
        level,
    )
    .unwrap();
    clawgate::observe::init_logging(level, Some(logfile.clone()));
    let mut r = Reactor::new(cfg, ConfigSource::default(), Some(logfile)).expect("reactor");
    let addr = r.local_addr();
    let mut s = TurnScratch::default();
    let timers_at_start = r.gateway().timers.len();

    let mut rss_after_warmup = 0;
    let mut held: Option<Client> = None;
    let mut stops = 0;
    for hour in 0..hours {
        // An operator comes by: messages (with a retry of each key), a
        // command, a health read; the connection is kept and left idle.
        let job = std::thread::spawn(move || {
            let mut c = Client::open(addr);
            assert_eq!(c.connect(TOKEN, &["operator.admin"])["ok"], true);
            for i in 0..MESSAGES_PER_HOUR {
                let p = json!({"sessionKey": format!("soak:{hour}"), "message": format!("m{i}"),
                               "idempotencyKey": format!("h{hour}-{i}")});
                let first = c.call("chat.send", p.clone());
                assert_eq!(first["ok"], true, "{first}");
                let again = c.call("chat.send", p);
                assert_eq!(
                    again["payload"]["messageId"], first["payload"]["messageId"],
                    "a retried key is answered from the cache"
                );
            }
            let run = c.call("exec.run", json!({"command": "echo soak"}));
            assert_eq!(run["payload"]["output"], "soak\n", "{run}");
            c
        });
        let c = serve(&mut r, &mut s, job);
        // The one held last hour was closed by the idle timeout meanwhile.
        drop(held.replace(c));
        stops += advance(&mut r, &mut s, HOUR);
        if hour == 1 {
            rss_after_warmup = rss_bytes().saturating_sub(Store::sqlite_heap_bytes());
        }
    }

    // The day is over: read the gateway's own account of it.
    let job = std::thread::spawn(move || {
        let mut c = Client::open(addr);
        assert_eq!(c.connect(TOKEN, &["operator.admin"])["ok"], true);
        let h = c.call("health", json!({"probe": true}));
        let hist = c.call(
            "chat.history",
            json!({"sessionKey": "soak:0", "limit": 1000}),
        );
        let list = c.call("sessions.list", json!({"limit": 1000}));
        let procs = c.call("process.list", json!({}));
        (h, hist, list, procs)
    });
    let (h, hist, list, procs): (Value, Value, Value, Value) = serve(&mut r, &mut s, job);
    let h = &h["payload"];
    let day = u64::from(hours) * 3600;
    let g = &h["gateway"];
    println!(
        "clock soak: {hours} h in {stops} clock stops; timers {timers_at_start} -> {}; RSS less SQLite's heap {} -> {} KiB (SQLite {} KiB)",
        r.gateway().timers.len(),
        rss_after_warmup / 1024,
        rss_bytes().saturating_sub(Store::sqlite_heap_bytes()) / 1024,
        Store::sqlite_heap_bytes() / 1024
    );

    // Every periodic job ran about as often as a day has room for.
    // A periodic timer is set again from when it fired, rounded up to the
    // wheel's 10 ms tick: it may fall behind by a tick per period.
    let about = |n: u64, period_s: u64, what: &str| {
        let expect = day / period_s;
        let slack = expect * 10 / (period_s * 1000) + 2;
        assert!(
            n + slack >= expect && n <= expect + 2,
            "{what} every {period_s} s: {n} in {day} s, expected {expect} (-{slack})"
        );
    };
    about(
        h["store"]["checkpoints"].as_u64().unwrap(),
        300,
        "checkpoints",
    );
    about(g["memory"]["checks"].as_u64().unwrap(), 30, "memory checks");
    let windows = h["io"]["windows"].as_array().expect("io windows");
    assert_eq!(windows.len(), 60, "one hour of minute windows, no more");
    assert!(
        h["log"]["writes"].as_u64().unwrap() >= u64::from(hours),
        "{}",
        h["log"]
    );
    // Each hour's held connection went idle and was closed; each run
    // finished and its record was pruned after the TTL.
    assert!(
        g["connections"]["idleClosed"].as_u64().unwrap() >= u64::from(hours) - 1,
        "{}",
        g["connections"]
    );
    assert!(
        procs["payload"]["processes"].as_array().unwrap().len() <= 1,
        "finished processes are pruned: {procs}"
    );

    // Nothing lost: every message of every hour is stored, once.
    assert_eq!(
        hist["payload"]["messages"].as_array().unwrap().len(),
        MESSAGES_PER_HOUR,
        "{hist}"
    );
    assert_eq!(
        list["payload"]["sessions"].as_array().unwrap().len(),
        hours as usize
    );
    let rows = h["store"]["rowsWritten"].as_u64().unwrap();
    assert!(
        rows >= u64::from(hours) * MESSAGES_PER_HOUR as u64,
        "rows written: {rows}"
    );

    // Bounded: the wheel holds what it held at the start plus this last
    // client's timers, and RSS, less SQLite's heap (its page cache fills
    // with the day's rows, bounded by store.cacheBytes), stayed within
    // 1 MB of the first hours.
    assert!(
        r.gateway().timers.len() <= timers_at_start + 4,
        "timers {timers_at_start} -> {}",
        r.gateway().timers.len()
    );
    let rss_end = rss_bytes().saturating_sub(Store::sqlite_heap_bytes());
    assert!(
        rss_end < rss_after_warmup + 1024 * 1024,
        "RSS less SQLite {rss_after_warmup} -> {rss_end}"
    );

    r.begin_shutdown("soak over");
    let deadline = Instant::now() + REAL_LIMIT;
    while !r.turn(Some(Duration::from_millis(5)), &mut s).unwrap() {
        assert!(Instant::now() < deadline, "shutdown completes");
    }
}
