//! Store benchmark (`make bench`): appends per second straight into the
//! store (synchronous NORMAL and FULL), commit latency under sustained
//! appends, `sessions.list` with 10,000 sessions, and the loop's commit
//! latency while a worker checkpoints a 64 MB WAL.
//! Temp dirs only; bounded in count.

use clawgate::store::{Append, Store, StoreOptions};
use std::time::{Duration, Instant};

fn opts(full: bool) -> StoreOptions {
    StoreOptions {
        cache_bytes: 10 << 20,
        mmap_bytes: 16 << 20,
        max_bytes: 1 << 30,
        synchronous_full: full,
        index_batch: clawgate::config::DEFAULT_INDEX_BATCH,
    }
}

fn batch(n: usize, session: &str, start: usize) -> Vec<Append> {
    (0..n)
        .map(|i| Append {
            session_key: session.to_string(),
            message_id: format!("m-{session}-{}", start + i),
            role: "user".into(),
            text: format!(
                "message {} with about a hundred bytes of text in it, like a short chat line would",
                start + i
            ),
            ts: (start + i) as u64,
        })
        .collect()
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// What `timed_appends` measured; displays as the rate and the commit
/// latencies.
struct Timed {
    messages: usize,
    per_sec: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

impl std::fmt::Display for Timed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>9.0} /s   commit p50 {:>7.1} us  p99 {:>7.1} us  max {:>8.1} us",
            self.per_sec,
            self.p50.as_secs_f64() * 1e6,
            self.p99.as_secs_f64() * 1e6,
            self.max.as_secs_f64() * 1e6
        )
    }
}

/// Commits `next(messages so far)` for 2 s (at most 400,000 messages),
/// timing each commit; `after` runs after each one, outside the timing.
fn timed_appends(
    s: &mut Store,
    mut next: impl FnMut(usize) -> Vec<Append>,
    mut after: impl FnMut(&mut Store),
) -> Timed {
    let t0 = Instant::now();
    let mut n = 0;
    let mut lat = Vec::new();
    while t0.elapsed() < Duration::from_secs(2) && n < 400_000 {
        let b = next(n);
        let t = Instant::now();
        s.append_batch(&b).unwrap();
        lat.push(t.elapsed());
        n += b.len();
        after(s);
    }
    let secs = t0.elapsed().as_secs_f64();
    Timed {
        messages: n,
        per_sec: n as f64 / secs,
        p50: pct(&mut lat, 0.5),
        p99: pct(&mut lat, 0.99),
        max: *lat.iter().max().unwrap(),
    }
}

fn main() {
    println!("clawgate store benchmark (temp dir on this machine's disk)");
    for (full, batch_size) in [(false, 64), (false, 1), (true, 64), (true, 1)] {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path(), &opts(full)).unwrap();
        let timed = timed_appends(
            &mut s,
            |n| batch(batch_size, &format!("s{}", n % 100), n),
            |_| {},
        );
        println!(
            "appends, synchronous={:<6} batch {:>3}: {timed}   (WAL {:.1} MB)",
            if full { "FULL" } else { "NORMAL" },
            batch_size,
            s.wal_bytes() as f64 / 1e6
        );
    }

    // The chat.send shape: 50 sessions, one message each per commit of 25,
    // checkpointed at the gateway's WAL threshold. An index batch of 1
    // indexes every commit (as a per-message index did); the default
    // batches it. The WAL figure is what was checkpointed per message.
    for index_batch in [1, clawgate::config::DEFAULT_INDEX_BATCH] {
        let dir = tempfile::tempdir().unwrap();
        let o = StoreOptions {
            index_batch,
            ..opts(false)
        };
        let mut s = Store::open(dir.path(), &o).unwrap();
        let mut checkpointed = 0;
        let timed = timed_appends(
            &mut s,
            |n| {
                (0..25)
                    .flat_map(|i| batch(1, &format!("s{}", (n + i) % 50), n + i))
                    .map(|mut a| {
                        // Time-ordered, as the gateway's ids are.
                        a.message_id = format!("{:024x}", a.ts);
                        a
                    })
                    .collect()
            },
            // As the gateway does (on a worker there), outside the timing.
            |s| {
                let wal = s.wal_log_bytes();
                if wal > clawgate::config::DEFAULT_CHECKPOINT_WAL_BYTES {
                    checkpointed += wal;
                    s.checkpoint().unwrap();
                }
            },
        );
        println!(
            "appends, 50 sessions, 25 per commit, indexBatch {index_batch:>4}: {timed}   (WAL {:.1} KB per message)",
            (checkpointed + s.wal_log_bytes()) as f64 / 1024.0 / timed.messages as f64
        );
    }

    // sessions.list with 10,000 sessions.
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path(), &opts(false)).unwrap();
    for chunk in 0..100 {
        let b: Vec<Append> = (0..100)
            .map(|i| {
                let k = chunk * 100 + i;
                Append {
                    session_key: format!("agent:main:{k}"),
                    message_id: format!("x{k}"),
                    role: "user".into(),
                    text: format!("hello {k}"),
                    ts: k as u64,
                }
            })
            .collect();
        s.append_batch(&b).unwrap();
    }
    let mut lat = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let rows = s.list_sessions(100, None, None, true).unwrap();
        lat.push(t.elapsed());
        assert_eq!(rows.len(), 100);
    }
    let mut lat_search = Vec::new();
    for i in 0..200 {
        let t = Instant::now();
        s.list_sessions(100, Some(&format!("main:{}", i * 7)), None, false)
            .unwrap();
        lat_search.push(t.elapsed());
    }
    println!(
        "sessions.list, 10,000 sessions, limit 100: p50 {:.0} us  max {:.0} us;  with search: p50 {:.0} us  max {:.0} us",
        pct(&mut lat, 0.5).as_secs_f64() * 1e6,
        lat.iter().max().unwrap().as_secs_f64() * 1e6,
        pct(&mut lat_search, 0.5).as_secs_f64() * 1e6,
        lat_search.iter().max().unwrap().as_secs_f64() * 1e6
    );

    // A checkpoint of a 64 MB WAL on another thread (as the worker pool
    // runs it) while this thread keeps committing: the commit latency seen
    // meanwhile is the loop's stall.
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path(), &opts(false)).unwrap();
    let mut n = 0;
    while s.wal_bytes() < 64 << 20 {
        s.append_batch(&batch(256, &format!("c{}", n % 50), n))
            .unwrap();
        n += 256;
    }
    let wal = s.wal_bytes();
    // The same commits with no checkpoint running: what this machine does
    // anyway (scheduling on 2 shared cores, the kernel's own writeback).
    let mut base = Vec::new();
    for _ in 0..300 {
        let b = batch(64, &format!("d{}", n % 50), n);
        let t = Instant::now();
        s.append_batch(&b).unwrap();
        base.push(t.elapsed());
        n += 64;
    }
    println!(
        "loop commits without a checkpoint: {} (batch 64), p99 {:.2} ms, max {:.2} ms",
        base.len(),
        pct(&mut base, 0.99).as_secs_f64() * 1e3,
        base.iter().max().unwrap().as_secs_f64() * 1e3
    );
    let job = s.checkpoint_job();
    let worker = std::thread::spawn(job);
    let mut lat = Vec::new();
    while !worker.is_finished() {
        let b = batch(64, &format!("d{}", n % 50), n);
        let t = Instant::now();
        s.append_batch(&b).unwrap();
        lat.push(t.elapsed());
        n += 64;
    }
    let took = worker.join().unwrap().unwrap();
    println!(
        "checkpoint of a {:.0} MB WAL on a worker: {:.1} ms; loop commits meanwhile: {} (batch 64), p99 {:.2} ms, max {:.2} ms",
        wal as f64 / 1e6,
        took.as_secs_f64() * 1e3,
        lat.len(),
        pct(&mut lat, 0.99).as_secs_f64() * 1e3,
        lat.iter().max().unwrap().as_secs_f64() * 1e3
    );
}
