//! End-to-end tests of the gateway core over real sockets on 127.0.0.1.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tungstenite::Message;

#[test]
fn handshake_success_gives_hello_ok() {
    let gw = Gateway::start(json!({}));
    let mut c = Client::open_raw(gw.addr);
    let ch = c.recv();
    assert_eq!(ch["type"], "event");
    assert_eq!(ch["event"], "connect.challenge");
    assert!(ch.get("seq").is_none(), "challenge carries no seq: {ch}");
    assert!(!ch["payload"]["nonce"].as_str().unwrap().is_empty());
    assert!(ch["payload"]["ts"].as_u64().unwrap() > 1_600_000_000_000);

    let res = c.connect(TOKEN, &["operator.read", "operator.write"]);
    assert_eq!(res["ok"], true, "{res}");
    let hello = &res["payload"];
    assert_eq!(hello["type"], "hello-ok");
    assert_eq!(hello["protocol"], 4);
    assert!(hello["server"]["connId"].as_str().is_some());
    assert!(hello["server"]["version"].as_str().is_some());
    let methods: Vec<&str> = hello["features"]["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    for m in ["health", "status", "system-presence"] {
        assert!(methods.contains(&m), "{methods:?}");
    }
    assert!(
        !methods.contains(&"debug.broadcast"),
        "test methods are off by default"
    );
    assert_eq!(hello["auth"]["role"], "operator");
    assert_eq!(
        hello["auth"]["scopes"],
        json!(["operator.read", "operator.write"])
    );
    assert_eq!(hello["policy"]["maxPayload"], 1024 * 1024);
    assert_eq!(hello["policy"]["maxBufferedBytes"], 1024 * 1024);
    assert_eq!(hello["policy"]["tickIntervalMs"], 30_000);
    assert!(hello["snapshot"]["presence"].as_array().unwrap().len() == 1);
    assert!(hello["snapshot"]["stateVersion"]["presence"]
        .as_u64()
        .is_some());
    assert!(hello["snapshot"]["uptimeMs"].as_u64().is_some());

    // Protocol 3 only is still accepted.
    let mut c3 = Client::open(gw.addr);
    let mut p = connect_params(Some(TOKEN), &[], "legacy");
    p["maxProtocol"] = json!(3);
    p.as_object_mut().unwrap().remove("scopes");
    let res = c3.connect_with(p);
    assert_eq!(res["payload"]["protocol"], 3, "{res}");
    // No scopes requested → read only.
    assert_eq!(res["payload"]["auth"]["scopes"], json!(["operator.read"]));
}

#[test]
fn health_status_presence_after_connect() {
    let gw = Gateway::start(json!({}));
    let mut c = gw.client(&["operator.read"]);
    let h = c.call("health", json!({"probe": true}));
    assert_eq!(h["ok"], true, "{h}");
    let p = &h["payload"];
    assert_eq!(p["ok"], true);
    assert_eq!(p["gateway"]["connections"]["active"], 1);
    assert!(p["gateway"]["batcher"]["messages"].as_u64().unwrap() >= 1);
    assert!(p["gateway"]["memory"]["rssBytes"].as_u64().unwrap() > 0);
    let s = c.call("status", Value::Null);
    assert_eq!(s["payload"]["connections"]["active"], 1, "{s}");
    let pr = c.call("system-presence", Value::Null);
    let entries = pr["payload"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["mode"], "test");
    assert_eq!(entries[0]["ip"], "127.0.0.1");
}

#[test]
fn bad_frames_after_connect_get_errors_and_keep_the_connection() {
    let gw = Gateway::start(json!({}));
    let mut c = gw.client(&["operator.read"]);
    c.send_text("{not json");
    let r = c.recv();
    assert_eq!(r["type"], "res");
    assert_eq!(r["id"], "invalid");
    assert_eq!(r["ok"], false);
    assert_eq!(r["error"]["code"], "INVALID_REQUEST");
    assert!(r["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));

    c.send(&json!({"type":"event","id":"e1","event":"x"}));
    let r = c.recv();
    assert_eq!(r["id"], "e1");
    assert_eq!(r["error"]["code"], "INVALID_REQUEST");

    c.send(&json!({"type":"req","id":"u1","method":"health","extra":true}));
    let r = c.recv();
    assert!(
        r["error"]["message"].as_str().unwrap().contains("`extra`"),
        "{r}"
    );

    let r = c.call("no.such.method", Value::Null);
    assert_eq!(r["error"]["code"], "INVALID_REQUEST");
    assert_eq!(r["error"]["message"], "unknown method: no.such.method");

    let r = c.call("health", json!({"bogus": 1}));
    assert!(
        r["error"]["message"].as_str().unwrap().contains("`bogus`"),
        "{r}"
    );
    let r = c.call("health", json!({"probe": "yes"}));
    assert!(
        r["error"]["message"].as_str().unwrap().contains("`probe`"),
        "{r}"
    );

    // Binary frames with JSON are accepted.
    c.ws.send(Message::binary(
        br#"{"type":"req","id":"b1","method":"health"}"#.to_vec(),
    ))
    .unwrap();
    let r = c.wait_res("b1");
    assert_eq!(r["ok"], true);

    // Deeply nested JSON is refused cleanly.
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    c.send_text(&format!(
        r#"{{"type":"req","id":"d1","method":"health","params":{deep}}}"#
    ));
    let r = c.recv();
    assert_eq!(r["ok"], false);

    assert_eq!(
        c.call("health", json!({"probe": true}))["ok"],
        true,
        "still connected"
    );
}

#[test]
fn missing_scope_is_forbidden() {
    let gw = Gateway::start(json!({}));
    let mut c = gw.client(&[]);
    let r = c.call("health", json!({"probe": true}));
    assert_eq!(r["error"]["code"], "FORBIDDEN", "{r}");
    assert_eq!(r["error"]["details"]["code"], "MISSING_SCOPE");
    assert_eq!(r["error"]["details"]["missingScope"], "operator.read");
    let mut c = gw.client(&["operator.read"]);
    let r = c.call("connect", connect_params(Some(TOKEN), &[], "again"));
    assert_eq!(r["error"]["details"]["code"], "MISSING_SCOPE", "{r}");
    let mut a = gw.admin();
    let r = a.call(
        "connect",
        connect_params(Some(TOKEN), &["operator.admin"], "again"),
    );
    assert_eq!(r["payload"]["type"], "hello-ok", "{r}");
}

#[test]
fn bad_token_is_refused_with_1008() {
    let gw = Gateway::start(json!({}));
    let mut c = Client::open(gw.addr);
    let r = c.connect("wrong-token", &[]);
    assert_eq!(r["ok"], false);
    assert_eq!(r["error"]["code"], "INVALID_REQUEST");
    assert_eq!(r["error"]["details"]["code"], "AUTH_TOKEN_MISMATCH");
    assert_eq!(c.expect_close().0, 1008);

    let mut c = Client::open(gw.addr);
    let r = c.connect_with(connect_params(None, &[], "t"));
    assert_eq!(r["error"]["details"]["code"], "AUTH_TOKEN_MISSING", "{r}");
    assert_eq!(c.expect_close().0, 1008);
}

#[test]
fn repeated_auth_failures_are_throttled() {
    let gw = Gateway::start(json!({"auth": {"maxFailures": 3, "failureWindowMs": 60000}}));
    for _ in 0..3 {
        let mut c = Client::open(gw.addr);
        let r = c.connect("wrong", &[]);
        assert_eq!(r["error"]["details"]["code"], "AUTH_TOKEN_MISMATCH");
    }
    // Even the right token is refused while throttled.
    let mut c = Client::open(gw.addr);
    let r = c.connect(TOKEN, &[]);
    assert_eq!(r["error"]["details"]["code"], "AUTH_RATE_LIMITED", "{r}");
    assert!(r["error"]["retryAfterMs"].as_u64().unwrap() > 0);
    assert_eq!(r["error"]["retryable"], true);
    assert_eq!(c.expect_close().0, 1013);
}

#[test]
fn first_frame_must_be_connect() {
    let gw = Gateway::start(json!({}));
    let mut c = Client::open(gw.addr);
    c.send(&json!({"type":"req","id":"h1","method":"health"}));
    let r = c.recv();
    assert_eq!(r["id"], "h1");
    assert_eq!(r["error"]["code"], "INVALID_REQUEST");
    assert_eq!(
        r["error"]["message"],
        "invalid handshake: first request must be connect"
    );
    assert_eq!(c.expect_close().0, 1008);

    let mut c = Client::open(gw.addr);
    c.send_text("hello?");
    let r = c.recv();
    assert_eq!(r["id"], "invalid");
    assert_eq!(c.expect_close().0, 1008);
}

#[test]
fn protocol_mismatch_closes_1002() {
    let gw = Gateway::start(json!({}));
    let mut c = Client::open(gw.addr);
    let mut p = connect_params(Some(TOKEN), &[], "old");
    p["minProtocol"] = json!(1);
    p["maxProtocol"] = json!(2);
    let r = c.connect_with(p);
    assert_eq!(r["error"]["code"], "INVALID_REQUEST");
    assert_eq!(r["error"]["message"], "protocol mismatch");
    assert_eq!(r["error"]["details"]["code"], "PROTOCOL_MISMATCH");
    assert_eq!(r["error"]["details"]["expectedProtocol"], 4);
    assert_eq!(c.expect_close().0, 1002);
}

#[test]
fn bad_connect_params_name_the_property() {
    let gw = Gateway::start(json!({}));
    let mut c = Client::open(gw.addr);
    let mut p = connect_params(Some(TOKEN), &[], "x");
    p["client"]["mode"] = json!("");
    let r = c.connect_with(p);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("client.mode"),
        "{r}"
    );
    assert_eq!(c.expect_close().0, 1008);
}

#[test]
fn device_claim_does_not_bypass_auth() {
    let gw = Gateway::start(json!({}));
    let device = json!({"id": "ab".repeat(32), "publicKey": "AAAA", "signature": "BBBB",
                        "signedAt": 1, "nonce": "n"});
    let mut c = Client::open(gw.addr);
    let mut p = connect_params(Some("wrong"), &["operator.admin"], "dev");
    p["device"] = device.clone();
    let r = c.connect_with(p);
    assert_eq!(r["error"]["details"]["code"], "AUTH_TOKEN_MISMATCH", "{r}");
    // With the right token a bogus device is still refused.
    let mut c = Client::open(gw.addr);
    let mut p = connect_params(Some(TOKEN), &["operator.read"], "dev");
    p["device"] = device;
    let r = c.connect_with(p);
    assert_eq!(
        r["error"]["details"]["code"], "DEVICE_PUBLIC_KEY_INVALID",
        "{r}"
    );
    assert_eq!(c.expect_close().0, 1008);
}

/// Base64url without padding, as OpenClaw's clients encode keys.
fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |acc, &b| acc << 8 | b as u32) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Connect params for `key`, signed over the PROTOCOL.md §3 payload
/// (`v3` with platform and device family, or `v2`) with `nonce`.
fn device_connect(
    key: &ed25519_compact::KeyPair,
    version: u8,
    nonce: &str,
    signed_at: u64,
) -> Value {
    use sha2::Digest;
    let raw = *key.pk;
    let id: String = sha2::Sha256::digest(raw)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut text = format!(
        "v{version}|{id}|dev-cli|cli|operator|operator.read,operator.write|{signed_at}|{TOKEN}|{nonce}"
    );
    if version == 3 {
        text.push_str("|linux|laptop");
    }
    let sig = key.sk.sign(text.as_bytes(), None);
    json!({
        "minProtocol": 3, "maxProtocol": 4,
        "client": {"id": "dev-cli", "version": "1", "platform": "Linux", "mode": "cli",
                   "deviceFamily": "Laptop"},
        "role": "operator", "scopes": ["operator.read", "operator.write"],
        "auth": {"token": TOKEN},
        "device": {"id": id, "publicKey": b64url(&raw), "signature": b64url(&sig[..]),
                   "signedAt": signed_at, "nonce": nonce},
    })
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn fresh_key() -> ed25519_compact::KeyPair {
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut seed)
        .unwrap();
    ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(seed))
}

/// Opens a socket and returns it with the challenge's nonce.
fn challenged(gw: &Gateway) -> (Client, String) {
    let mut c = Client::open_raw(gw.addr);
    let ch = c.recv();
    let nonce = ch["payload"]["nonce"].as_str().unwrap().to_string();
    (c, nonce)
}

#[test]
fn device_identity_is_verified_on_connect() {
    let gw = Gateway::start(json!({}));
    let key = fresh_key();
    for version in [3, 2] {
        let (mut c, nonce) = challenged(&gw);
        let r = c.connect_with(device_connect(&key, version, &nonce, now_ms()));
        assert_eq!(r["ok"], true, "v{version}: {r}");
    }
    // A good token does not rescue a bad signature: another key signed it.
    let (mut c, nonce) = challenged(&gw);
    let mut p = device_connect(&fresh_key(), 3, &nonce, now_ms());
    p["device"]["publicKey"] =
        device_connect(&key, 3, &nonce, now_ms())["device"]["publicKey"].clone();
    p["device"]["id"] = device_connect(&key, 3, &nonce, now_ms())["device"]["id"].clone();
    let r = c.connect_with(p);
    assert_eq!(
        r["error"]["details"]["code"], "DEVICE_SIGNATURE_INVALID",
        "{r}"
    );
    assert_eq!(c.expect_close().0, 1008);
    // A replayed signature: signed for another connection's nonce.
    let (_old, old_nonce) = challenged(&gw);
    let (mut c, _) = challenged(&gw);
    let r = c.connect_with(device_connect(&key, 3, &old_nonce, now_ms()));
    assert_eq!(
        r["error"]["details"]["code"], "DEVICE_NONCE_MISMATCH",
        "{r}"
    );
    // Signed 11 minutes ago.
    let (mut c, nonce) = challenged(&gw);
    let r = c.connect_with(device_connect(&key, 3, &nonce, now_ms() - 11 * 60 * 1000));
    assert_eq!(
        r["error"]["details"]["code"], "DEVICE_SIGNATURE_EXPIRED",
        "{r}"
    );
    let mut ok = gw.client(&["operator.read"]);
    let h = ok.call("health", json!({"probe": true}));
    assert_eq!(
        h["payload"]["gateway"]["connections"]["rejected"]["device"],
        3
    );
    assert!(
        gw.stderr().contains("device "),
        "the verified device is logged"
    );
}

#[test]
fn oversize_pre_auth_frame_closes_1009() {
    let gw = Gateway::start(json!({}));
    let mut c = Client::open(gw.addr);
    let big = "x".repeat(64 * 1024 + 1);
    c.send_text(&big);
    assert_eq!(c.expect_close().0, 1009);
    // Exactly at the limit is still a frame (refused as a bad handshake, not too big).
    let mut c = Client::open(gw.addr);
    c.send_text(&"x".repeat(64 * 1024));
    let r = c.recv();
    assert_eq!(r["error"]["code"], "INVALID_REQUEST");
    assert_eq!(c.expect_close().0, 1008);
}

#[test]
fn oversize_frame_after_auth_closes_1009() {
    let gw = Gateway::start(json!({"websocket": {"maxPayload": 100000}}));
    let mut c = gw.admin();
    c.send_text(&"y".repeat(100_001));
    assert_eq!(c.expect_close().0, 1009);
}

#[test]
fn handshake_timeout_closes_1000() {
    let gw = Gateway::start(json!({"connections": {"handshakeTimeoutMs": 300}}));
    let start = Instant::now();
    let mut c = Client::open(gw.addr);
    let (code, reason) = c.expect_close();
    assert_eq!(code, 1000);
    assert_eq!(reason, "Handshake timeout");
    assert!(start.elapsed() >= Duration::from_millis(300));
    // A socket that never finishes its HTTP upgrade is dropped too (slowloris).
    let mut s = TcpStream::connect(gw.addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(
        s.read(&mut buf).unwrap_or(0),
        0,
        "server closed the half-sent upgrade"
    );
    let mut a = gw.admin();
    // Closing sockets linger until the peer answers or the linger timer ends.
    wait_health(&mut a, "handshake timeouts", |p| {
        p["gateway"]["connections"]["handshakeTimeouts"].as_u64() >= Some(2)
            && p["gateway"]["connections"]["authenticating"] == 0
    });
}

#[test]
fn idle_timeout_closes_1000() {
    let gw = Gateway::start(json!({"connections": {"idleTimeoutMs": 1000}}));
    let mut c = gw.client(&["operator.read"]);
    let (code, reason) = c.expect_close();
    assert_eq!((code, reason.as_str()), (1000, "Idle timeout"));
    // Inbound frames reset the timer: a client that keeps talking (every
    // 100 ms, far inside the 1 s limit) outlives several idle periods.
    let mut busy = gw.client(&["operator.read"]);
    let until = Instant::now() + Duration::from_millis(2_500);
    while Instant::now() < until {
        assert_eq!(busy.call("health", json!({"probe": true}))["ok"], true);
        std::thread::sleep(Duration::from_millis(100)); // pacing the client, below the idle limit
    }
    let h = busy.call("health", json!({"probe": true}));
    assert!(h["payload"]["gateway"]["connections"]["idleClosed"].as_u64() >= Some(1));
}

#[test]
fn pool_refuses_the_51st_client_with_1013() {
    let gw = Gateway::start(json!({}));
    let clients: Vec<Client> = (0..50).map(|_| gw.client(&["operator.read"])).collect();
    let mut extra = Client::open(gw.addr);
    let r = extra.connect(TOKEN, &[]);
    assert_eq!(r["error"]["code"], "UNAVAILABLE", "{r}");
    assert_eq!(r["error"]["details"]["code"], "CONNECTION_LIMIT");
    assert_eq!(r["error"]["retryable"], true);
    assert_eq!(extra.expect_close().0, 1013);
    drop(clients);
    // Slots free up once the others leave.
    let mut again = Client::open(gw.addr);
    let deadline = Instant::now() + WAIT;
    loop {
        let r = again.connect(TOKEN, &["operator.read"]);
        if r["ok"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "pool never freed: {r}");
        again = Client::open(gw.addr);
    }
    let h = again.call("health", json!({"probe": true}));
    assert_eq!(
        h["payload"]["gateway"]["connections"]["rejected"]["poolFull"],
        1
    );
}

#[test]
fn per_client_id_limit() {
    let gw = Gateway::start(json!({"connections": {"maxPerClientId": 2}}));
    let _a = gw.client(&[]);
    let _b = gw.client(&[]);
    let mut c = Client::open(gw.addr);
    let r = c.connect(TOKEN, &[]);
    assert_eq!(r["error"]["details"]["code"], "CONNECTION_LIMIT");
    assert_eq!(r["error"]["details"]["limit"], "maxPerClientId");
    assert_eq!(c.expect_close().0, 1013);
    let mut other = Client::open(gw.addr);
    let r = other.connect_with(connect_params(Some(TOKEN), &[], "other-client"));
    assert_eq!(r["ok"], true);
}

#[test]
fn pre_auth_cap_answers_503_and_recovers() {
    let gw = Gateway::start(
        json!({"connections": {"maxUnauthenticated": 2, "maxUnauthenticatedPerAddress": 2}}),
    );
    let _h1 = Client::open(gw.addr); // holds a pre-auth slot (challenged, no connect)
    let _h2 = Client::open(gw.addr);
    let resp = raw_exchange(gw.addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(resp.starts_with("HTTP/1.1 503"), "{resp}");
    drop(_h1);
    drop(_h2);
    let deadline = Instant::now() + WAIT;
    loop {
        let resp = raw_exchange(gw.addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        if resp.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pre-auth slots never freed: {resp}"
        );
    }
}

#[test]
fn garbage_instead_of_upgrade_gets_400_and_others_are_served() {
    let gw = Gateway::start(json!({}));
    let resp = raw_exchange(
        gw.addr,
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage\r\n\r\n",
    );
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    let resp = raw_exchange(gw.addr, &[b'A'; 20_000]);
    assert!(resp.starts_with("HTTP/1.1 4"), "{resp}");
    let resp = raw_exchange(gw.addr, b"GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
    let resp = raw_exchange(gw.addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains(r#""ok":true"#), "{resp}");
    let mut c = gw.client(&["operator.read"]);
    assert_eq!(c.call("health", json!({"probe": true}))["ok"], true);
}

#[test]
fn pings_are_answered() {
    let gw = Gateway::start(json!({}));
    let mut c = gw.client(&["operator.read"]);
    c.ws.send(Message::Ping(b"are you there".to_vec().into()))
        .unwrap();
    loop {
        match c.ws.read().unwrap() {
            Message::Pong(p) => {
                assert_eq!(&p[..], b"are you there");
                break;
            }
            Message::Close(f) => panic!("closed: {f:?}"),
            _ => {}
        }
    }
}

#[test]
fn client_close_handshake_is_completed() {
    let gw = Gateway::start(json!({}));
    let mut c = gw.client(&["operator.read"]);
    c.ws.close(None).unwrap();
    loop {
        match c.ws.read() {
            Ok(Message::Close(_)) | Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("close handshake not completed cleanly: {e}"),
        }
    }
    let mut a = gw.admin();
    wait_health(&mut a, "the closed client to leave", |p| {
        p["gateway"]["connections"]["active"] == 1
    });
}

#[test]
fn batched_events_flush_on_count_and_timer_with_consecutive_seq() {
    let gw = Gateway::start(json!({"testing": {"enableTestMethods": true}}));
    let mut a = gw.admin();
    let r = a.call("debug.broadcast", json!({"count": 45, "bytes": 10}));
    assert_eq!(r["payload"]["frames"], 45, "{r}");
    let mut seqs = vec![];
    while seqs.len() < 45 {
        let f = a.recv_until(|f| f["event"] == "debug");
        seqs.push(f["seq"].as_u64().unwrap());
    }
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    let h = a.call("health", json!({"probe": true}));
    let b = &h["payload"]["gateway"]["batcher"];
    // 45 = 20 + 20 on count, then 5 moved ahead of the response (order kept).
    assert!(b["batches"].as_u64().unwrap() >= 3, "{b}");
    assert!(b["meanBatchSize"].as_f64().unwrap() > 1.0, "{b}");
    // A lone batched event waits for the 100 ms timer.
    let mut b2 = gw.client(&["operator.read"]);
    a.call("debug.broadcast", json!({"count": 1}));
    b2.recv_until(|f| f["event"] == "debug");
    let h = a.call("health", json!({"probe": true}));
    assert!(
        h["payload"]["gateway"]["batcher"]["timerFlushes"].as_u64() >= Some(1),
        "{h}"
    );
}

#[test]
fn slow_consumer_is_closed_while_others_keep_receiving() {
    let gw = Gateway::start(json!({
        "testing": {"enableTestMethods": true},
        "websocket": {"maxBufferedBytes": 65536}
    }));
    let slow = gw.client(&["operator.read"]); // never reads again
    let slow_raw = slow.ws.get_ref().try_clone().unwrap();
    let mut fast = gw.admin();
    let mut received = 0u64;
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds <= 2_000, "slow consumer never closed");
        let r = fast.call("debug.broadcast", json!({"count": 10, "bytes": 4096}));
        assert_eq!(r["ok"], true, "{r}");
        for _ in 0..10 {
            fast.recv_until(|f| f["event"] == "debug");
            received += 1;
        }
        let h = fast.call("health", json!({"probe": true}));
        if h["payload"]["gateway"]["connections"]["slowConsumersClosed"] == 1 {
            break;
        }
    }
    assert_eq!(received, rounds * 10, "the fast client missed nothing");
    // The slow client's socket is closed by the gateway (after the linger).
    let mut s = slow_raw;
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("slow client socket not closed: {e}"),
        }
    }
    assert_eq!(fast.call("health", json!({"probe": true}))["ok"], true);
}

#[test]
fn sigterm_sends_shutdown_closes_1012_and_exits_0() {
    let mut gw = Gateway::start(json!({}));
    let mut c = gw.client(&["operator.read"]);
    let t0 = Instant::now();
    gw.signal(libc::SIGTERM);
    let ev = c.recv_until(|f| f["event"] == "shutdown");
    assert!(ev["payload"]["reason"]
        .as_str()
        .unwrap()
        .contains("SIGTERM"));
    assert_eq!(c.expect_close().0, 1012);
    let status = gw.wait_exit(Duration::from_secs(10)).expect("exited");
    assert!(status.success(), "{status:?}");
    eprintln!("SIGTERM to exit: {:?}", t0.elapsed());
    assert!(t0.elapsed() < Duration::from_secs(5));
}

#[test]
fn sigint_with_no_clients_exits_at_once() {
    let mut gw = Gateway::start(json!({}));
    gw.signal(libc::SIGINT);
    let status = gw.wait_exit(Duration::from_secs(10)).expect("exited");
    assert!(status.success());
}

#[test]
fn sighup_reloads_token_and_limits_without_dropping_anyone() {
    let gw = Gateway::start(json!({}));
    let mut keeper = gw.admin();
    let mut cfg: Value = serde_json::from_slice(&std::fs::read(&gw.config_path).unwrap()).unwrap();
    cfg["auth"]["token"] = json!("new-token-abcdef");
    cfg["connections"] = json!({"maxConnections": 1});
    std::fs::write(&gw.config_path, cfg.to_string()).unwrap();
    gw.signal(libc::SIGHUP);
    wait_health(&mut keeper, "reload", |p| {
        p["gateway"]["config"]["reloads"] == 1
    });
    // The old token no longer works.
    let mut c = Client::open(gw.addr);
    assert_eq!(
        c.connect(TOKEN, &[])["error"]["details"]["code"],
        "AUTH_TOKEN_MISMATCH"
    );
    // The new token works, but the new limit (1) is taken by the keeper.
    let mut c = Client::open(gw.addr);
    let r = c.connect("new-token-abcdef", &[]);
    assert_eq!(r["error"]["details"]["code"], "CONNECTION_LIMIT", "{r}");
    // A broken file is reported and the running config kept.
    std::fs::write(
        &gw.config_path,
        r#"{"connections": {"maxConnections": "lots"}}"#,
    )
    .unwrap();
    gw.signal(libc::SIGHUP);
    wait_health(&mut keeper, "failed reload", |p| {
        p["gateway"]["config"]["reloadFailures"] == 1
    });
    assert!(
        gw.stderr().contains("connections.maxConnections"),
        "{}",
        gw.stderr()
    );
    assert_eq!(
        keeper.call("status", Value::Null)["ok"],
        true,
        "keeper survived"
    );
}

#[test]
fn generated_token_is_private_and_works() {
    use std::os::unix::fs::PermissionsExt;
    let gw = Gateway::start_raw(json!({}), &[]);
    let token_path = gw.dir.path().join("data").join("token");
    assert!(
        gw.stdout_lines
            .iter()
            .any(|l| l.contains(&token_path.display().to_string())),
        "start-up output names the token file: {:?}",
        gw.stdout_lines
    );
    let meta = std::fs::metadata(&token_path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let token = std::fs::read_to_string(&token_path).unwrap();
    let mut c = Client::open(gw.addr);
    assert_eq!(c.connect(token.trim(), &[])["ok"], true);
}

#[test]
fn tick_events_carry_per_connection_seq() {
    let gw = Gateway::start(json!({"events": {"tickIntervalMs": 50}}));
    let mut c = gw.client(&["operator.read"]);
    let a = c.recv_until(|f| f["event"] == "tick");
    let b = c.recv_until(|f| f["event"] == "tick");
    assert!(b["seq"].as_u64().unwrap() > a["seq"].as_u64().unwrap());
    assert!(a["payload"]["ts"].as_u64().is_some());
}

#[test]
fn presence_events_on_join_and_leave() {
    let gw = Gateway::start(json!({}));
    let mut a = gw.client(&["operator.read"]);
    let b = gw.client(&["operator.read"]);
    let ev = a.recv_until(|f| f["event"] == "presence");
    assert_eq!(ev["payload"]["presence"].as_array().unwrap().len(), 2);
    let v1 = ev["stateVersion"]["presence"].as_u64().unwrap();
    drop(b);
    let ev = a.recv_until(|f| {
        f["event"] == "presence" && f["payload"]["presence"].as_array().unwrap().len() == 1
    });
    assert!(ev["stateVersion"]["presence"].as_u64().unwrap() > v1);
}
