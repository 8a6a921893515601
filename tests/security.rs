//! The promises of SECURITY.md that no other suite covers: file modes, the
//! token staying out of logs and the database, loopback by default. The
//! other promises name their tests in SECURITY.md.

mod common;

use common::*;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn gateway_files_are_private_and_children_keep_the_callers_umask() {
    let mut gw = Gateway::start(json!({}));
    let data = gw.dir.path().join("data");
    let mut c = gw.admin();
    let r = c.call(
        "chat.send",
        json!({"sessionKey": "s", "message": "secret plans", "idempotencyKey": "k"}),
    );
    assert_eq!(r["ok"], true, "{r}");
    let check = |data: &Path| {
        assert_eq!(mode(data), 0o700, "data dir");
        for f in ["clawgate.db", "clawgate.log"] {
            let p = data.join(f);
            wait_until(&format!("{f} to exist"), || p.exists());
            assert_eq!(mode(&p) & 0o077, 0, "{f} is {:o}", mode(&p));
        }
    };
    check(&data);
    // A data dir opened up by hand (or made under umask 022) is closed
    // again at start, with a warning.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    gw.restart();
    check(&data);
    assert!(
        gw.stderr().contains("was mode 755: now 700"),
        "{}",
        gw.stderr()
    );
    let mut c = gw.admin();
    // A child creates files with the umask the gateway was started with
    // (this test's), not the gateway's private one.
    // SAFETY: umask read and restored at once.
    let ours = unsafe {
        let m = libc::umask(0o022);
        libc::umask(m);
        m
    } as u32;
    let work = tempfile::tempdir().unwrap();
    let r = c.call(
        "exec.run",
        json!({"argv": ["touch", "made-by-child"], "cwd": work.path()}),
    );
    assert_eq!(r["payload"]["exitCode"], 0, "{r}");
    assert_eq!(mode(&work.path().join("made-by-child")), 0o666 & !ours);
}

#[test]
fn the_token_stays_out_of_logs_the_database_and_answers() {
    let secret = "s3cret-token-that-must-not-leak-0123";
    let gw = Gateway::start(json!({"auth": {"token": secret}, "log": {"level": "debug"}}));
    let mut ok = Client::open(gw.addr);
    assert_eq!(ok.connect(secret, &["operator.admin"])["ok"], true);
    // A failed attempt with a near miss, a coach check that quotes it, a
    // command line that carries it.
    let mut bad = Client::open(gw.addr);
    let r = bad.connect(&format!("{secret}x"), &["operator.read"]);
    assert_eq!(r["ok"], false);
    let r = ok.call("status", serde_json::Value::Null);
    assert!(!r.to_string().contains(secret));
    let r = ok.call("config.get", serde_json::Value::Null);
    if r["ok"] == true {
        assert!(
            !r.to_string().contains(secret),
            "config.get shows the token"
        );
    }
    let h = ok.call("health", json!({"probe": true}));
    assert!(!h.to_string().contains(secret));
    let m = raw_exchange(
        gw.addr,
        format!("GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {secret}\r\n\r\n")
            .as_bytes(),
    );
    assert!(m.starts_with("HTTP/1.1 200"), "{m}");
    assert!(!m.split_once("\r\n\r\n").unwrap().1.contains(secret));
    drop(ok);
    gw.signal(libc::SIGTERM);
    let mut gw = gw;
    gw.wait_exit(WAIT).expect("exit");
    let data = gw.dir.path().join("data");
    let log = std::fs::read_to_string(data.join("clawgate.log")).unwrap();
    assert!(log.contains("handshake refused"), "the log has the attempt");
    assert!(!log.contains(secret), "the token is in the log file");
    assert!(!gw.stderr().contains(secret), "the token is on stderr");
    for f in ["clawgate.db", "clawgate.db-wal"] {
        if let Ok(bytes) = std::fs::read(data.join(f)) {
            let hay = String::from_utf8_lossy(&bytes);
            assert!(!hay.contains(secret), "the token is in {f}");
        }
    }
}

#[test]
fn the_default_listener_is_loopback_only() {
    let (program, mut args) = binary();
    args.push("--check-config".into());
    let out = std::process::Command::new(program)
        .args(&args)
        .env_remove("CLAWGATE_TOKEN")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"bind\": \"127.0.0.1\""), "{text}");
    assert!(text.contains("\"requireAuth\": true"), "{text}");
    assert!(text.contains("\"allowedOrigins\": []"), "{text}");
}
