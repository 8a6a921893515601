//! End-to-end harness: a real `clawgate` process on 127.0.0.1 (port 0), a
//! temp data dir, and real WebSocket clients. Every wait is on a condition
//! (a line, a frame, a close) bounded by a deadline, never a fixed sleep.
//!
//! `CLAWGATE_TEST_RUNNER` prefixes the command (e.g.
//! `qemu-aarch64-static -L /usr/aarch64-linux-gnu`) and `CLAWGATE_TEST_BIN`
//! replaces the binary, so the same tests run against a cross-built gateway.

#![allow(dead_code)]

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

pub const TOKEN: &str = "test-token-0123456789";
/// Upper bound for any single wait; generous for a loaded 2-core CI machine.
pub const WAIT: Duration = Duration::from_secs(20);

pub struct Gateway {
    pub child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub stdout_lines: Vec<String>,
    stderr_path: PathBuf,
}

/// Deep-merges `patch` into `base`.
pub fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// The opt-out that turns a missing real client into a skip. Without it a
/// test whose client is missing fails with the install hint: a test that
/// passes when its client is absent has tested nothing.
pub const ALLOW_MISSING: &str = "CLAWGATE_ALLOW_MISSING_CLIENTS";

/// True when the real client `what` is present. When it is missing the test
/// fails with `hint`, unless `CLAWGATE_ALLOW_MISSING_CLIENTS=1`: then it
/// prints a `SKIPPED:` line (counted by `scripts/test.sh`'s summary) and
/// the caller returns.
pub fn require_client(what: &str, present: bool, hint: &str) -> bool {
    if present {
        return true;
    }
    let msg = format!("{what} is not installed: {hint}");
    if std::env::var(ALLOW_MISSING).is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED: {msg} ({ALLOW_MISSING}=1)");
        return false;
    }
    panic!("{msg} (or set {ALLOW_MISSING}=1 to skip this test)");
}

/// `program --version` runs and succeeds: the client is installed.
pub fn answers_version(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

pub fn binary() -> (String, Vec<String>) {
    let bin = std::env::var("CLAWGATE_TEST_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_clawgate").to_string());
    let prefix: Vec<String> = std::env::var("CLAWGATE_TEST_RUNNER")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    match prefix.split_first() {
        Some((first, rest)) => {
            let mut args = rest.to_vec();
            args.push(bin);
            (first.clone(), args)
        }
        None => (bin, vec![]),
    }
}

/// Runs `clawgate tls generate --out DIR --force` (plus `extra` flags);
/// returns the SHA-256 fingerprint it printed.
pub fn tls_generate(dir: &std::path::Path, extra: &[&str]) -> String {
    let (program, mut args) = binary();
    args.extend(["tls", "generate", "--force", "--out"].map(String::from));
    args.push(dir.display().to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = Command::new(program)
        .args(&args)
        .output()
        .expect("run tls generate");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "tls generate failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("SHA-256 fingerprint: "))
        .expect("a fingerprint line")
        .trim()
        .to_string()
}

/// Starts the binary on `config_path` and waits for its listening line.
fn spawn(
    config_path: &std::path::Path,
    stderr_path: &std::path::Path,
    extra_args: &[&str],
) -> (Child, SocketAddr, Vec<String>) {
    let (program, mut args) = binary();
    args.push("--config".into());
    args.push(config_path.display().to_string());
    args.extend(extra_args.iter().map(|s| s.to_string()));
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(stderr_path)
        .unwrap();
    let mut child = Command::new(program)
        .args(&args)
        .env_remove("CLAWGATE_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn clawgate");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + WAIT;
    let addr = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let found = line
                    .split("listening on ")
                    .nth(1)
                    .and_then(|rest| rest.split("://").nth(1))
                    .map(|a| a.trim().parse::<SocketAddr>().expect("address"));
                lines.push(line);
                if let Some(a) = found {
                    break a;
                }
            }
            Err(_) => {
                let _ = child.kill();
                let err = std::fs::read_to_string(stderr_path).unwrap_or_default();
                panic!("gateway did not start: stdout {lines:?} stderr {err}");
            }
        }
    };
    // The token line follows the listening line.
    if let Ok(line) = rx.recv_timeout(WAIT) {
        lines.push(line);
    }
    (child, addr, lines)
}

impl Gateway {
    /// Starts with the test token and `patch` merged into a minimal config.
    pub fn start(patch: Value) -> Gateway {
        let mut cfg = json!({"auth": {"token": TOKEN}});
        merge(&mut cfg, &patch);
        Gateway::start_raw(cfg, &[])
    }

    /// Starts with exactly `cfg` (plus port 0 and the temp data dir).
    pub fn start_raw(cfg: Value, extra_args: &[&str]) -> Gateway {
        Gateway::start_in(tempfile::tempdir().expect("tempdir"), cfg, extra_args)
    }

    /// Serves `wss://` with a pair made by `clawgate tls generate` in the
    /// temp dir (`tls/cert.pem`, `tls/key.pem`); returns the fingerprint
    /// the command printed.
    pub fn start_tls(patch: Value) -> (Gateway, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let tls = dir.path().join("tls");
        let fingerprint = tls_generate(&tls, &[]);
        let mut cfg = json!({"auth": {"token": TOKEN}, "tls": {
            "certPath": tls.join("cert.pem"), "keyPath": tls.join("key.pem")}});
        merge(&mut cfg, &patch);
        (Gateway::start_in(dir, cfg, &[]), fingerprint)
    }

    pub fn cert_path(&self) -> PathBuf {
        self.dir.path().join("tls").join("cert.pem")
    }

    fn start_in(dir: tempfile::TempDir, mut cfg: Value, extra_args: &[&str]) -> Gateway {
        // Port 0 unless the test chose one (a public URL must name it).
        let port = cfg["server"]["port"].as_u64().unwrap_or(0);
        // A gateway compiles its pattern library on a worker at start, and
        // a check that arrives first waits for it. Unoptimised (the test
        // profile) that is ~1.3 s of CPU; with a dozen gateways starting
        // at once on a 2-core CI machine it outlasted the default 5 s check
        // timeout and checks failed closed with COACH_TIMEOUT. Tests that
        // are about the timeout set their own.
        if cfg["coach"]["taskTimeoutMs"].is_null() {
            merge(&mut cfg, &json!({"coach": {"taskTimeoutMs": 60_000}}));
        }
        merge(
            &mut cfg,
            &json!({"server": {"port": port, "bind": "127.0.0.1", "dataDir": dir.path().join("data")}}),
        );
        let config_path = dir.path().join("clawgate.json");
        std::fs::write(&config_path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
        let stderr_path = dir.path().join("stderr.log");
        let (child, addr, lines) = spawn(&config_path, &stderr_path, extra_args);
        Gateway {
            child,
            addr,
            dir,
            config_path,
            stdout_lines: lines,
            stderr_path,
        }
    }

    /// Starts the gateway again on the same config and data dir (after it
    /// exited or was killed). The port is new (port 0).
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, addr, lines) = spawn(&self.config_path, &self.stderr_path, &[]);
        self.child = child;
        self.addr = addr;
        self.stdout_lines = lines;
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("data").join("clawgate.db")
    }

    pub fn url(&self) -> String {
        let tls = self
            .stdout_lines
            .iter()
            .any(|l| l.contains("listening on wss://"));
        format!("{}://{}", if tls { "wss" } else { "ws" }, self.addr)
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on our own child.
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Waits for the process to exit; `None` if it is still running at the deadline.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5)); // polling interval, not a wait for an event
        }
    }

    /// An authenticated client with the given scopes.
    pub fn client(&self, scopes: &[&str]) -> Client {
        let mut c = Client::open(self.addr);
        let hello = c.connect(TOKEN, scopes);
        assert_eq!(hello["ok"], true, "connect failed: {hello}");
        c
    }

    pub fn admin(&self) -> Client {
        self.client(&["operator.admin"])
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- gateway stderr ---\n{}", self.stderr());
        }
    }
}

/// A blocking tungstenite client with bounded waits, over TCP or (in the
/// TLS tests) rustls.
pub struct Client<S = TcpStream> {
    pub ws: WebSocket<S>,
    next_id: u64,
    /// Frames read while waiting for something else.
    pub backlog: Vec<Value>,
}

pub fn connect_params(token: Option<&str>, scopes: &[&str], client_id: &str) -> Value {
    let mut p = json!({
        "minProtocol": 3, "maxProtocol": 4,
        "client": {"id": client_id, "version": "test", "platform": "linux", "mode": "test"},
        "scopes": scopes,
    });
    if let Some(t) = token {
        p["auth"] = json!({"token": t});
    }
    p
}

impl Client {
    /// TCP + WebSocket upgrade; returns after reading `connect.challenge`.
    pub fn open(addr: SocketAddr) -> Client {
        let mut c = Client::open_raw(addr);
        let ch = c.recv();
        assert_eq!(ch["event"], "connect.challenge", "{ch}");
        c
    }

    /// TCP + upgrade only; the challenge is still unread.
    pub fn open_raw(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("tcp connect");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_nodelay(true).unwrap();
        let (ws, _resp) =
            tungstenite::client::client(format!("ws://{addr}/"), stream).expect("ws upgrade");
        Client::over(ws)
    }
}

impl<S: Read + Write> Client<S> {
    /// Wraps an upgraded WebSocket (the challenge still unread).
    pub fn over(ws: WebSocket<S>) -> Client<S> {
        Client {
            ws,
            next_id: 0,
            backlog: Vec::new(),
        }
    }

    pub fn send(&mut self, v: &Value) {
        self.ws.send(Message::text(v.to_string())).expect("send");
    }

    pub fn send_text(&mut self, s: &str) {
        self.ws.send(Message::text(s.to_string())).expect("send");
    }

    /// Next JSON frame (pings/pongs skipped). Panics on close or timeout.
    pub fn recv(&mut self) -> Value {
        loop {
            match self.ws.read() {
                Ok(Message::Text(t)) => return serde_json::from_str(&t).expect("json frame"),
                Ok(Message::Close(f)) => panic!("unexpected close: {f:?}"),
                Ok(_) => continue,
                // A signal landed on this thread mid-read (EINTR): nothing
                // was consumed, read again, as std's own readers do.
                Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::Interrupted => {
                    continue
                }
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }

    /// Sends a request and returns its `res`, keeping other frames in `backlog`.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = format!("r{}", self.next_id);
        let mut req = json!({"type": "req", "id": id, "method": method});
        if !params.is_null() {
            req["params"] = params;
        }
        self.send(&req);
        self.wait_res(&id)
    }

    pub fn wait_res(&mut self, id: &str) -> Value {
        loop {
            let f = self.recv();
            if f["type"] == "res" && f["id"] == id {
                return f;
            }
            self.backlog.push(f);
        }
    }

    /// Sends `connect` and returns its `res`.
    pub fn connect(&mut self, token: &str, scopes: &[&str]) -> Value {
        self.connect_with(connect_params(Some(token), scopes, "test"))
    }

    pub fn connect_with(&mut self, params: Value) -> Value {
        self.send(&json!({"type":"req","id":"c1","method":"connect","params": params}));
        self.wait_res("c1")
    }

    /// Reads until the server closes; returns the close code and reason.
    pub fn expect_close(&mut self) -> (u16, String) {
        loop {
            match self.ws.read() {
                Ok(Message::Close(Some(f))) => return (u16::from(f.code), f.reason.to_string()),
                Ok(Message::Close(None)) => return (CloseCode::Status.into(), String::new()),
                Ok(Message::Text(t)) => self.backlog.push(serde_json::from_str(&t).unwrap()),
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::Interrupted => {
                    continue
                }
                Err(e) => panic!("expected a close frame, got error: {e}"),
            }
        }
    }

    /// Reads frames until one matches.
    pub fn recv_until(&mut self, mut pred: impl FnMut(&Value) -> bool) -> Value {
        if let Some(i) = self.backlog.iter().position(&mut pred) {
            return self.backlog.remove(i);
        }
        loop {
            let f = self.recv();
            if pred(&f) {
                return f;
            }
            // Kept: a later wait may be for it (bounded by the test's frames).
            if self.backlog.len() < 10_000 {
                self.backlog.push(f);
            }
        }
    }
}

/// Polls `health` until `pred` holds (bounded).
pub fn wait_health<S: Read + Write>(
    c: &mut Client<S>,
    what: &str,
    mut pred: impl FnMut(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let h = c.call("health", json!({"probe": true}));
        assert_eq!(h["ok"], true, "{h}");
        if pred(&h["payload"]) {
            return h["payload"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {h}"
        );
        std::thread::sleep(Duration::from_millis(10)); // polling interval
    }
}

/// VmRSS of `pid` in KiB (0 when unreadable).
pub fn rss_kib(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Polls `cond` until it holds (bounded by [`WAIT`]).
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10)); // polling interval
    }
}

/// Runs the binary with `args` and `stdin` (no CLAWGATE_URL/TOKEN from
/// the test's environment): exit code, stdout, stderr.
pub fn run_clawgate(args: &[&str], stdin: &str) -> (i32, String, String) {
    let (program, mut argv) = binary();
    argv.extend(args.iter().map(|s| s.to_string()));
    let mut child = Command::new(program)
        .args(&argv)
        .env_remove("CLAWGATE_TOKEN")
        .env_remove("CLAWGATE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run clawgate");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(stdin.as_bytes())
        .expect("stdin");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A loopback port free right now (bound, then released) for a gateway
/// whose URL must be known before it starts.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Sends raw bytes on a fresh TCP connection and reads until EOF.
pub fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}
