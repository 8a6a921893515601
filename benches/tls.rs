//! `wss://` against `ws://` (`make bench`, feature `tls`): the same release
//! gateway with and without a certificate, driven from 127.0.0.1.
//! - connect (TCP + TLS + upgrade + `connect`): p50 / p99, and the
//!   gateway's own CPU per connect (from /proc, so the client's share is out);
//! - `health` round trip, one client;
//! - broadcast bulk to one client (MB/s of frames);
//! - RSS per idle authenticated client (200 of them).
//!
//! Bounded in count and time, loopback only; it stops by itself.
//! Env: BENCH_TLS_CONNECTS (300), BENCH_TLS_IDLE (200), BENCH_TLS_FRAMES (4000).

#[path = "../tests/common/mod.rs"]
mod common;
mod util;

use common::rss_kib;
use common::{Client, Gateway, TOKEN};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};
use util::{env_or, pct};

/// A stream that is either plain TCP or rustls over TCP, so one client type
/// measures both.
enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(b),
            Stream::Tls(s) => s.read(b),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(b),
            Stream::Tls(s) => s.write(b),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

struct Target {
    gw: Gateway,
    tls: Option<Arc<ClientConfig>>,
}

impl Target {
    fn start(tls: bool) -> Target {
        let patch = json!({
            "connections": {"maxConnections": 1000, "maxPerAddress": 1000, "maxPerClientId": 1000},
            "testing": {"enableTestMethods": true},
            "log": {"level": "warn"},
        });
        if !tls {
            return Target {
                gw: Gateway::start(patch),
                tls: None,
            };
        }
        let (gw, _) = Gateway::start_tls(patch);
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(gw.cert_path()).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let cfg = ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Target {
            gw,
            tls: Some(Arc::new(cfg)),
        }
    }

    fn client(&self) -> Client<Stream> {
        let tcp = TcpStream::connect(self.gw.addr).unwrap();
        tcp.set_nodelay(true).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let stream = match &self.tls {
            None => Stream::Plain(tcp),
            Some(cfg) => {
                let name = ServerName::try_from("127.0.0.1").unwrap();
                let conn = ClientConnection::new(cfg.clone(), name).unwrap();
                Stream::Tls(Box::new(StreamOwned::new(conn, tcp)))
            }
        };
        let (ws, _) =
            tungstenite::client::client(format!("ws://{}/", self.gw.addr), stream).unwrap();
        let mut c = Client::over(ws);
        c.recv(); // challenge
        let hello = c.connect(TOKEN, &["operator.admin"]);
        assert_eq!(hello["ok"], true, "{hello}");
        c
    }

    fn pid(&self) -> u32 {
        self.gw.child.id()
    }
}

/// utime + stime of `pid`, from /proc/PID/stat.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the `)` closing the name: state (field 3), then ppid...; utime
    // and stime are fields 14 and 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_micros((tick(11) + tick(12)) * 1_000_000 / hz)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn run(tls: bool) {
    let label = if tls { "wss" } else { "ws " };
    let t = Target::start(tls);
    let pid = t.pid();
    // Connects, one after another.
    let n = env_or("BENCH_TLS_CONNECTS", 300);
    let mut lat = Vec::with_capacity(n);
    let cpu0 = cpu_time(pid);
    for _ in 0..n {
        let t0 = Instant::now();
        let c = t.client();
        lat.push(t0.elapsed());
        drop(c);
    }
    let cpu = cpu_time(pid).saturating_sub(cpu0);
    lat.sort();
    println!(
        "{label} connect (tcp{} + upgrade + connect): p50 {:.2} ms, p99 {:.2} ms; gateway CPU {:.3} ms per connect ({n} connects)",
        if tls { " + tls" } else { "" },
        ms(pct(&lat, 0.5)),
        ms(pct(&lat, 0.99)),
        ms(cpu) / n as f64
    );

    // health round trip.
    let mut c = t.client();
    let mut rtt = Vec::with_capacity(2000);
    for _ in 0..2000 {
        let t0 = Instant::now();
        let r = c.call("health", json!({}));
        rtt.push(t0.elapsed());
        assert_eq!(r["ok"], true);
    }
    rtt.sort();
    println!(
        "{label} health round trip: p50 {:.3} ms, p99 {:.3} ms",
        ms(pct(&rtt, 0.5)),
        ms(pct(&rtt, 0.99))
    );

    // Bulk: 4 KiB events to this one client, in rounds of 100 (400 KB,
    // under the outbound cap a slow reader would hit).
    let frames = env_or("BENCH_TLS_FRAMES", 4000) / 100 * 100;
    let t0 = Instant::now();
    for _ in 0..frames / 100 {
        let r = c.call("debug.broadcast", json!({"count": 100, "bytes": 4096}));
        assert_eq!(r["ok"], true, "{r}");
        let mut got = c.backlog.iter().filter(|f| f["event"] == "debug").count();
        c.backlog.clear();
        while got < 100 {
            if c.recv()["event"] == "debug" {
                got += 1;
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{label} broadcast to one client: {frames} x 4 KiB in {:.0} ms = {:.0} MB/s (client parses JSON)",
        secs * 1000.0,
        frames as f64 * 4096.0 / secs / 1e6
    );

    // RSS per idle authenticated client.
    let idle = env_or("BENCH_TLS_IDLE", 200);
    let before = rss_kib(pid);
    let held: Vec<_> = (0..idle).map(|_| t.client()).collect();
    let after = rss_kib(pid);
    println!(
        "{label} RSS: {before} KiB -> {after} KiB with {idle} idle clients = {:.1} KiB per client",
        (after.saturating_sub(before)) as f64 / idle as f64
    );
    drop(held);
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!("== wss:// against ws:// (release gateway, 127.0.0.1) ==");
    run(false);
    run(true);
}
