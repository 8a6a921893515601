//! Load generator for the gateway core (`make bench`). Starts a release
//! gateway on 127.0.0.1, then measures and prints:
//! - start to listening, RSS after start;
//! - RSS with N authenticated idle clients (default 50) and with 1,000;
//! - `health` round trip with N concurrent clients (p50 / p99 / max);
//! - broadcast fan-out to N clients (frames/s delivered).
//!
//! Bounded in count and time, loopback only; it stops by itself.
//! In the chat.send phase, with 2 or more cores, the 50 client threads keep
//! off CPU 0: they read 50 times the gateway's acknowledgements (every
//! client gets every `chat` event) and would otherwise preempt the gateway's
//! loop, which clients on other machines do not. The gateway may run
//! anywhere. BENCH_PIN=0 turns that off.
//! Env: BENCH_CLIENTS (50), BENCH_HEALTH_PER_CLIENT (400),
//! BENCH_BROADCAST_EVENTS (2000), BENCH_BROADCAST_ROUNDS (5), BENCH_IDLE_MANY (1000).

#[path = "../tests/common/mod.rs"]
mod common;
mod util;

use common::rss_kib;
use util::{env_or, pct};

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

const TOKEN: &str = "bench-token";

struct Gw {
    child: Child,
    addr: SocketAddr,
    start_to_listening: Duration,
    _dir: tempfile::TempDir,
}

impl Drop for Gw {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Restricts the calling thread (and threads it spawns, and a process it
/// execs) to `cpus`.
fn pin_to(cpus: std::ops::Range<usize>) -> std::io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET stays in bounds
    // for indices below CPU_SETSIZE; sched_setaffinity reads the set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Cores at start (available_parallelism follows the affinity mask, so it
/// is read once, before pinning).
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    })
}

fn pinned() -> bool {
    cores() >= 2 && std::env::var("BENCH_PIN").map_or(true, |v| v != "0")
}

fn start(max_connections: usize) -> Gw {
    let dir = tempfile::tempdir().unwrap();
    let cfg = json!({
        "server": {"port": 0, "dataDir": dir.path().join("data")},
        "auth": {"token": TOKEN},
        "connections": {"maxConnections": max_connections, "maxPerAddress": max_connections,
                         "maxPerClientId": max_connections, "maxUnauthenticated": 64,
                         "maxUnauthenticatedPerAddress": 64},
        "testing": {"enableTestMethods": true},
        "log": {"level": std::env::var("BENCH_LOG").unwrap_or_else(|_| "warn".into())},
    });
    let path = dir.path().join("bench.json");
    std::fs::write(&path, cfg.to_string()).unwrap();
    // Same knobs as the tests (CLAWGATE_TEST_BIN, CLAWGATE_TEST_RUNNER): with
    // a qemu prefix, RSS includes qemu.
    let (program, mut args) = common::binary();
    args.push("--config".into());
    args.push(path.to_str().unwrap().into());
    let t0 = Instant::now();
    let mut child = Command::new(program)
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn gateway");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("gateway exited").unwrap();
        if let Some(a) = line.split("listening on ws://").nth(1) {
            break a.trim().parse().unwrap();
        }
    };
    let start_to_listening = t0.elapsed();
    std::thread::spawn(move || for _ in lines {});
    Gw {
        child,
        addr,
        start_to_listening,
        _dir: dir,
    }
}

struct Client {
    ws: WebSocket<TcpStream>,
}

impl Client {
    fn connect(addr: SocketAddr, id: &str, scopes: &[&str]) -> Client {
        let s = TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let (ws, _) = tungstenite::client::client(format!("ws://{addr}/"), s).unwrap();
        let mut c = Client { ws };
        c.recv(); // challenge
        c.send(&json!({"type":"req","id":"c","method":"connect","params":{
            "minProtocol":3,"maxProtocol":4,
            "client":{"id":id,"version":"bench","platform":"linux","mode":"bench"},
            "auth":{"token":TOKEN},"scopes":scopes}}));
        loop {
            let f = c.recv();
            if f["id"] == "c" {
                assert_eq!(f["ok"], true, "{f}");
                break;
            }
        }
        c
    }
    fn send(&mut self, v: &Value) {
        self.ws.send(Message::text(v.to_string())).unwrap();
    }
    fn recv(&mut self) -> Value {
        loop {
            match self.ws.read().unwrap() {
                Message::Text(t) => return serde_json::from_str(&t).unwrap(),
                Message::Close(f) => panic!("closed: {f:?}"),
                _ => {}
            }
        }
    }
    /// Round trip without parsing the (large) health payload: the client
    /// shares the 2 cores with the gateway, so its JSON work would be measured.
    fn call_fast(&mut self, id: &str, method: &str) -> bool {
        self.ws
            .send(Message::text(format!(
                r#"{{"type":"req","id":"{id}","method":"{method}"}}"#
            )))
            .unwrap();
        let needle = format!(r#""type":"res","id":"{id}","ok":"#);
        loop {
            if let Message::Text(t) = self.ws.read().unwrap() {
                if let Some(i) = t.find(&needle) {
                    return t[i + needle.len()..].starts_with("true");
                }
            }
        }
    }

    fn call(&mut self, id: &str, method: &str, params: Value) -> Value {
        self.send(&json!({"type":"req","id":id,"method":method,"params":params}));
        loop {
            let f = self.recv();
            if f["type"] == "res" && f["id"] == id {
                return f;
            }
        }
    }
}

fn us(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1000.0
}

fn main() {
    // `cargo bench` passes --bench; nothing to parse.
    let n = env_or("BENCH_CLIENTS", 50);
    let per_client = env_or("BENCH_HEALTH_PER_CLIENT", 400);
    let events = env_or("BENCH_BROADCAST_EVENTS", 2000);
    let rounds = env_or("BENCH_BROADCAST_ROUNDS", 5);
    let many = env_or("BENCH_IDLE_MANY", 1000);

    println!(
        "clawgate gateway-core benchmark (loopback, {} cores)",
        cores()
    );
    let gw = start(n.max(many) + 10);
    let pid = gw.child.id();
    // Let the start settle: wait until /proc shows the process fully mapped.
    // Issue 19 counts RSS "with the coach ready": one check waits for the
    // pattern library (compiled on the pool at start, or by this check).
    let mut warm = Client::connect(gw.addr, "warm", &["operator.write"]);
    warm.call("w", "health", Value::Null);
    let v = warm.call(
        "c",
        "security.coach.check",
        serde_json::json!({"input": {"command": "ls -la"}}),
    );
    assert!(v.to_string().contains("allow"), "coach not ready: {v}");
    // The start-up compile's end is also when start-up pages are released
    // (`memory.releaseStartupPages`); wait for it, as a person reading RSS
    // a moment after start would.
    let t0 = Instant::now();
    loop {
        let h = warm.call("h", "health", serde_json::json!({"probe": true}));
        if h["payload"]["coach"]["ready"] == true {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "health never said coach.ready: {h}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(warm);
    println!(
        "start to listening:            {:>10.2} ms (spawn + bind, measured from the parent)",
        gw.start_to_listening.as_secs_f64() * 1000.0
    );
    println!(
        "RSS after start, coach ready:  {:>10.2} MB",
        rss_kib(pid) as f64 / 1024.0
    );

    // N authenticated idle clients.
    let mut clients: Vec<Client> = (0..n)
        .map(|i| Client::connect(gw.addr, &format!("b{i}"), &["operator.write"]))
        .collect();
    let mut probe = Client::connect(gw.addr, "probe", &["operator.admin"]);
    probe.call("p", "health", Value::Null);
    println!(
        "RSS with {n} idle clients:       {:>10.2} MB",
        rss_kib(pid) as f64 / 1024.0
    );

    // The coach after varied traffic: every input of the repository's
    // corpus checked once (its lazily compiled patterns and the per-thread
    // DFA caches, bounded by coach.dfaCacheBytes, are what grows).
    let corpus = include_str!("../tests/data/coach/corpus.jsonl");
    let checked = corpus
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .enumerate()
        .map(|(k, v)| {
            let r = probe.call(
                &format!("k{k}"),
                "security.coach.check",
                json!({"input": v["input"]}),
            );
            assert!(r["ok"] == true, "coach check failed: {r}");
        })
        .count();
    println!(
        "RSS after {checked} coach checks:  {:>10.2} MB   (the corpus, each input once)",
        rss_kib(pid) as f64 / 1024.0
    );

    // health round trips, N concurrent clients: closed loop (saturation),
    // then paced (each client one request every 10 ms: latency, not capacity).
    for pace in [None, Some(Duration::from_millis(10))] {
        let barrier = Arc::new(Barrier::new(n));
        let handles: Vec<_> = clients
            .drain(..)
            .map(|mut c| {
                let b = barrier.clone();
                std::thread::spawn(move || {
                    let mut lat = Vec::with_capacity(per_client);
                    b.wait();
                    for i in 0..per_client {
                        let id = format!("h{i}");
                        let t = Instant::now();
                        let ok = c.call_fast(&id, "health");
                        lat.push(t.elapsed());
                        assert!(ok);
                        if let Some(gap) = pace {
                            std::thread::sleep(gap); // open-loop pacing between requests
                        }
                    }
                    (c, lat)
                })
            })
            .collect();
        let mut all = Vec::new();
        for h in handles {
            let (c, lat) = h.join().unwrap();
            clients.push(c);
            all.extend(lat);
        }
        all.sort();
        println!(
        "health RTT, {n} concurrent, {}: p50 {:>8.1} us   p99 {:>8.1} us   max {:>8.1} us   ({} calls)",
        if pace.is_some() { "paced 100/s each" } else { "closed loop     " },
        us(pct(&all, 0.5)),
        us(pct(&all, 0.99)),
        us(*all.last().unwrap()),
        all.len()
    );
    }

    // chat.send through the gateway: N clients, each waits for its ack
    // (acknowledged = committed by the group commit). Every client also gets
    // every `chat` event; the probe would not read them, so it leaves.
    let busy_before = probe.call("hb", "health", serde_json::json!({"probe": true}))["payload"]
        ["gateway"]["eventLoop"]["busyMs"]
        .as_u64()
        .unwrap_or(0);
    drop(probe);
    let per_client_chat = env_or("BENCH_CHAT_PER_CLIENT", 400);
    let barrier = Arc::new(Barrier::new(n + 1));
    let handles: Vec<_> = clients
        .drain(..)
        .enumerate()
        .map(|(ci, mut c)| {
            let b = barrier.clone();
            std::thread::spawn(move || {
                if pinned() {
                    pin_to(1..cores()).expect("pin a client thread");
                }
                b.wait();
                for i in 0..per_client_chat {
                    let id = format!("s{i}");
                    let req = format!(
                        r#"{{"type":"req","id":"{id}","method":"chat.send","params":{{"sessionKey":"bench-{ci}","message":"message {i} from client {ci}","idempotencyKey":"{ci}-{i}"}}}}"#
                    );
                    c.ws.send(Message::text(req)).unwrap();
                    let needle = format!(r#""type":"res","id":"{id}","ok":true"#);
                    loop {
                        if let Message::Text(t) = c.ws.read().unwrap() {
                            // Responses start with `{"type":"res"`; the
                            // `chat` events of the other 49 clients are only
                            // decoded (cheap on the 2 cores the gateway shares).
                            if !t.starts_with(r#"{"type":"res""#) {
                                continue;
                            }
                            if t.contains(&needle) {
                                break;
                            }
                            assert!(!t.contains(&format!(r#""id":"{id}","ok":false"#)), "{t}");
                        }
                    }
                }
                c
            })
        })
        .collect();
    barrier.wait();
    let t0 = Instant::now();
    for h in handles {
        clients.push(h.join().unwrap());
    }
    let secs = t0.elapsed().as_secs_f64();
    let mut probe = Client::connect(gw.addr, "probe", &["operator.admin"]);
    let h = probe.call("hc", "health", serde_json::json!({"probe": true}));
    let st = &h["payload"]["store"];
    let busy_after = h["payload"]["gateway"]["eventLoop"]["busyMs"]
        .as_u64()
        .unwrap_or(0);
    println!(
        "  gateway loop busy during the chat phase: {} ms of {:.0} ms ({:.0} %)",
        busy_after - busy_before,
        secs * 1000.0,
        (busy_after - busy_before) as f64 / (secs * 10.0)
    );
    println!(
        "chat.send acknowledged, {n} clients{}: {:>10.0} /s   ({} messages, {} group commits, mean {:.1} per transaction, {} checkpoints, WAL file {:.0} MB)",
        if pinned() { " (off CPU 0)" } else { "" },
        (n * per_client_chat) as f64 / secs,
        n * per_client_chat,
        st["groupCommits"],
        st["groupCommitted"].as_f64().unwrap_or(0.0) / st["groupCommits"].as_f64().unwrap_or(1.0),
        st["checkpoints"],
        st["walBytes"].as_f64().unwrap_or(0.0) / 1e6
    );
    // Drain the chat events still queued for the clients before the next phase.
    for c in clients.iter_mut() {
        let r = c.call("drain", "health", Value::Null);
        assert_eq!(r["ok"], true);
    }

    // Broadcast fan-out: every client reads in its own thread.
    let mut best = 0.0f64;
    let mut rates = vec![];
    for round in 0..rounds {
        let barrier = Arc::new(Barrier::new(n + 1));
        let handles: Vec<_> = clients
            .drain(..)
            .map(|mut c| {
                let b = barrier.clone();
                std::thread::spawn(move || {
                    b.wait();
                    let mut got = 0;
                    while got < events {
                        if let Message::Text(t) = c.ws.read().unwrap() {
                            if t.contains(r#""event":"debug""#) {
                                got += 1;
                            }
                        }
                    }
                    (c, Instant::now())
                })
            })
            .collect();
        barrier.wait();
        let t0 = Instant::now();
        let r = probe.call(
            &format!("b{round}"),
            "debug.broadcast",
            json!({"count": events, "bytes": 32}),
        );
        assert_eq!(r["ok"], true, "{r}");
        let mut last = t0;
        for h in handles {
            let (c, done) = h.join().unwrap();
            last = last.max(done);
            clients.push(c);
        }
        // The probe received its copies before its response (order is kept).
        let secs = (last - t0).as_secs_f64();
        let rate = ((n + 1) * events) as f64 / secs;
        rates.push(rate);
        best = best.max(rate);
    }
    rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "broadcast fan-out to {} clients: median {:>10.0} frames/s   best {:>10.0} frames/s   ({} events x {} rounds)",
        n + 1,
        rates[rates.len() / 2],
        best,
        events,
        rounds
    );
    let h = probe.call("hh", "health", serde_json::json!({"probe": true}));
    let b = &h["payload"]["gateway"]["batcher"];
    println!(
        "batcher: batches {} mean size {} dropped {} slow consumers {}",
        b["batches"], b["meanBatchSize"], b["dropped"], b["slowConsumersClosed"]
    );
    println!("event loop: {}", h["payload"]["gateway"]["eventLoop"]);
    println!(
        "RSS after load:                {:>10.2} MB",
        rss_kib(pid) as f64 / 1024.0
    );
    drop(clients);
    drop(probe);
    drop(gw);

    // Many idle clients, on a fresh gateway so the burst above does not count.
    let gw = start(many + 10);
    let pid = gw.child.id();
    let mut probe = Client::connect(gw.addr, "probe", &["operator.admin"]);
    let t = Instant::now();
    let idle: Vec<Client> = (0..many)
        .map(|i| Client::connect(gw.addr, &format!("i{i}"), &[]))
        .collect();
    let connect_time = t.elapsed();
    probe.call("p2", "health", Value::Null);
    println!(
        "RSS with {many} idle clients:     {:>10.2} MB   (connected in {:.2} s)",
        rss_kib(pid) as f64 / 1024.0,
        connect_time.as_secs_f64()
    );
    drop(idle);
}
