//! The bad-input matrix (issue 8): one gateway takes every kind of abuse in
//! turn, raw bytes on real sockets. After each case a well-behaved client
//! still gets `health` quickly, RSS is back under the configured worst
//! case, and the transcript written before the abuse is all there.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The worst well-behaved `health` round trip we accept after a case (the
/// best of five, so one scheduler hiccup on a loaded CI box does not count).
const HEALTH_WITHIN: Duration = Duration::from_millis(10);
/// Messages stored before the abuse; every check reads them back.
const STORED: usize = 20;

/// A client frame (masked, as RFC 6455 requires of clients). `declared`
/// overrides the length field (the payload sent may be shorter).
fn frame(fin: bool, opcode: u8, payload: &[u8], declared: Option<u64>) -> Vec<u8> {
    let mut f = vec![(fin as u8) << 7 | opcode];
    let len = declared.unwrap_or(payload.len() as u64);
    if len < 126 {
        f.push(0x80 | len as u8);
    } else if len <= 0xffff {
        f.push(0x80 | 126);
        f.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&len.to_be_bytes());
    }
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// A raw upgraded socket that has read the 101 and the challenge.
fn raw_ws(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    let (op, payload) = read_frame(&mut s).expect("challenge");
    assert_eq!(op, 1);
    assert!(String::from_utf8_lossy(&payload).contains("connect.challenge"));
    s
}

/// A raw upgraded socket past `connect` (authenticated).
fn raw_authed(addr: SocketAddr) -> TcpStream {
    let mut s = raw_ws(addr);
    let connect = json!({"type":"req","id":"c","method":"connect",
        "params": connect_params(Some(TOKEN), &["operator.read"], "raw")});
    s.write_all(&frame(true, 1, connect.to_string().as_bytes(), None))
        .unwrap();
    let (_, payload) = read_frame(&mut s).expect("hello");
    let v: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    s
}

/// One server frame (unmasked): (opcode, payload); `None` at EOF.
fn read_frame(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).ok()?;
    let mut len = (h[1] & 0x7f) as u64;
    if len == 126 {
        let mut b = [0u8; 2];
        s.read_exact(&mut b).ok()?;
        len = u16::from_be_bytes(b) as u64;
    } else if len == 127 {
        let mut b = [0u8; 8];
        s.read_exact(&mut b).ok()?;
        len = u64::from_be_bytes(b);
    }
    let mut payload = vec![0u8; len as usize];
    s.read_exact(&mut payload).ok()?;
    Some((h[0] & 0x0f, payload))
}

/// Reads frames until a close; its code (`None`: the socket just ended).
fn close_code(s: &mut TcpStream) -> Option<u16> {
    while let Some((op, payload)) = read_frame(s) {
        if op == 8 {
            return (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
        }
    }
    None
}

/// The gateway keeps serving: a quick `health`, RSS under the bound, the
/// stored transcript intact.
fn still_serving(gw: &Gateway, probe: &mut Client, case: &str) {
    let mut best = Duration::MAX;
    let mut h = Value::Null;
    for _ in 0..5 {
        let t = Instant::now();
        h = probe.call("health", json!({"probe": true}));
        best = best.min(t.elapsed());
        assert_eq!(h["ok"], true, "{case}: {h}");
    }
    assert!(best < HEALTH_WITHIN, "{case}: health took {best:?}");
    let mem = &h["payload"]["gateway"]["memory"];
    // Both must be present: `None < Some(_)` would pass on a missing RSS.
    let rss = mem["rssBytes"].as_u64().expect("health reports rssBytes");
    let bound = mem["worstCaseBytes"]
        .as_u64()
        .expect("health reports worstCaseBytes");
    assert!(rss > 0 && rss < bound, "{case}: {mem}");
    let r = probe.call("chat.history", json!({"sessionKey": "kept", "limit": 1000}));
    let n = r["payload"]["messages"].as_array().map_or(0, Vec::len);
    assert_eq!(n, STORED, "{case}: stored messages lost: {r}");
    let _ = gw;
}

#[test]
fn every_kind_of_bad_input_leaves_the_gateway_serving() {
    let gw = Gateway::start(json!({
        "connections": {"handshakeTimeoutMs": 4000, "maxUnauthenticated": 16,
                        "maxUnauthenticatedPerAddress": 8},
        "websocket": {"maxBufferedBytes": 65536},
        "testing": {"enableTestMethods": true},
    }));
    let mut probe = gw.client(&["operator.admin"]);
    for i in 0..STORED {
        let r = probe.call(
            "chat.send",
            json!({"sessionKey": "kept", "message": format!("m{i}"), "idempotencyKey": format!("k{i}")}),
        );
        assert_eq!(r["ok"], true, "{r}");
    }
    still_serving(&gw, &mut probe, "baseline");

    // Garbage instead of an HTTP upgrade (a TLS ClientHello, then noise).
    let resp = raw_exchange(
        gw.addr,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    );
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    still_serving(&gw, &mut probe, "garbage");

    // A half-sent upgrade held open (slowloris): dropped at the handshake
    // timeout while everyone else is served.
    let mut slow = TcpStream::connect(gw.addr).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: webs")
        .unwrap();
    still_serving(&gw, &mut probe, "slowloris (held)");
    slow.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(slow.read(&mut buf).unwrap_or(0), 0, "slowloris not dropped");
    still_serving(&gw, &mut probe, "slowloris (dropped)");

    // 10,000 connection attempts beyond every limit: 16 pre-auth slots are
    // held, every further attempt is answered 503 without taking a slot.
    let holders: Vec<TcpStream> = (0..8).map(|_| raw_ws(gw.addr)).collect();
    let attempts = 10_000;
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let addr = gw.addr;
            std::thread::spawn(move || {
                let mut busy = 0;
                for _ in 0..attempts / 4 {
                    let mut s = TcpStream::connect(addr).unwrap();
                    s.set_read_timeout(Some(WAIT)).unwrap();
                    let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
                    // The status line is enough; then hang up.
                    let mut status = [0u8; 12];
                    if s.read_exact(&mut status).is_ok() && &status == b"HTTP/1.1 503" {
                        busy += 1;
                    }
                }
                busy
            })
        })
        .collect();
    let busy: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(busy >= attempts / 2, "only {busy} of {attempts} refused");
    drop(holders);
    let h = probe.call("health", json!({"probe": true}));
    assert!(
        h["payload"]["gateway"]["connections"]["rejected"]["preAuthPerAddress"].as_u64() > Some(0)
    );
    still_serving(&gw, &mut probe, "10,000 attempts");

    // Frames one byte over each limit: the HTTP head, a pre-auth frame, a
    // post-auth message.
    let mut head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
    head.resize(8 * 1024 + 1 - 4, b'a');
    head.extend_from_slice(b"\r\n\r\n");
    assert_eq!(head.len(), 8 * 1024 + 1);
    let resp = raw_exchange(gw.addr, &head);
    assert!(resp.starts_with("HTTP/1.1 431"), "{resp}");
    let mut s = raw_ws(gw.addr);
    s.write_all(&frame(true, 1, &vec![b' '; 64 * 1024 + 1], None))
        .unwrap();
    assert_eq!(close_code(&mut s), Some(1009), "pre-auth frame");
    let mut s = raw_authed(gw.addr);
    s.write_all(&frame(true, 1, &vec![b' '; 1024 * 1024 + 1], None))
        .unwrap();
    assert_eq!(close_code(&mut s), Some(1009), "post-auth frame");
    still_serving(&gw, &mut probe, "one byte over");

    // Invalid UTF-8 in a text frame: 1007.
    let mut s = raw_authed(gw.addr);
    s.write_all(&frame(true, 1, b"{\"a\":\"\xff\xfe\"}", None))
        .unwrap();
    assert_eq!(close_code(&mut s), Some(1007));
    still_serving(&gw, &mut probe, "invalid UTF-8");

    // A fragmented control frame (ping without FIN): 1002.
    let mut s = raw_authed(gw.addr);
    s.write_all(&frame(false, 9, b"ping", None)).unwrap();
    assert_eq!(close_code(&mut s), Some(1002));
    still_serving(&gw, &mut probe, "fragmented ping");

    // A 1 GB declared length with 10 bytes behind it: refused from the
    // header, nothing allocated.
    let mut s = raw_authed(gw.addr);
    s.write_all(&frame(true, 2, b"0123456789", Some(1 << 30)))
        .unwrap();
    assert_eq!(close_code(&mut s), Some(1009));
    still_serving(&gw, &mut probe, "1 GB declared");

    // Deeply nested JSON (100,000 levels, 200 KB): an error answer naming
    // the frame, and the connection stays.
    let mut c = gw.client(&["operator.read"]);
    let deep = format!(
        r#"{{"type":"req","id":"deep","method":"health","params":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    c.send_text(&deep);
    // Too deep to read the id out of: answered with the protocol's
    // placeholder id.
    let r = c.recv_until(|f| f["type"] == "res");
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["error"]["code"], "INVALID_REQUEST");
    assert_eq!(c.call("health", json!({"probe": true}))["ok"], true);
    still_serving(&gw, &mut probe, "deep JSON");

    // A req with every field of the wrong type: an error, connection kept.
    c.send_text(r#"{"type":7,"id":{"x":1},"method":["health"],"params":"nope"}"#);
    let f = c.recv_until(|f| f["type"] == "res");
    assert_eq!(f["ok"], false, "{f}");
    assert_eq!(f["error"]["code"], "INVALID_REQUEST");
    for bad in [
        r#"{"type":"req","id":5,"method":"health"}"#,
        r#"{"type":"req","id":"w2","method":5}"#,
        r#"{"type":"req","id":"w3","method":"health","params":[1]}"#,
        r#"{"type":"req","id":"w4","method":"health","params":{"probe":"yes"}}"#,
    ] {
        c.send_text(bad);
        let f = c.recv_until(|f| f["type"] == "res");
        assert_eq!(f["ok"], false, "{bad} -> {f}");
        assert!(f["error"]["message"].as_str().unwrap().len() > 10, "{f}");
    }
    assert_eq!(c.call("health", json!({"probe": true}))["ok"], true);
    still_serving(&gw, &mut probe, "wrong types");

    // Unknown methods at a high rate: 10,000, in bursts of 1,000 written
    // at once (a burst's answers stay under the client's outbound cap, so
    // this client is not a slow consumer), each answered.
    let mut raw = c.ws.get_ref().try_clone().unwrap();
    for burst in 0..10 {
        let mut buf = Vec::new();
        for i in 0..1000 {
            let req = format!(r#"{{"type":"req","id":"u{burst}-{i}","method":"no.such.method"}}"#);
            buf.extend_from_slice(&frame(true, 1, req.as_bytes(), None));
        }
        raw.write_all(&buf).unwrap();
        let mut answered = 0;
        while answered < 1000 {
            let f = c.recv();
            if f["type"] == "res" {
                assert_eq!(f["error"]["details"]["code"], "UNKNOWN_METHOD", "{f}");
                answered += 1;
            }
        }
    }
    still_serving(&gw, &mut probe, "unknown methods");

    // A client that never reads while events pile up: closed as a slow
    // consumer, its buffer freed; the probe (which reads) misses nothing.
    let deaf = gw.client(&["operator.read"]);
    let deaf_raw = deaf.ws.get_ref().try_clone().unwrap();
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds <= 2_000, "the deaf client was never closed");
        let r = probe.call("debug.broadcast", json!({"count": 10, "bytes": 4096}));
        assert_eq!(r["ok"], true, "{r}");
        for _ in 0..10 {
            probe.recv_until(|f| f["event"] == "debug");
        }
        let h = probe.call("health", json!({"probe": true}));
        if h["payload"]["gateway"]["connections"]["slowConsumersClosed"].as_u64() >= Some(1) {
            break;
        }
    }
    drop(deaf);
    drop(deaf_raw);
    still_serving(&gw, &mut probe, "a client that never reads");
}
