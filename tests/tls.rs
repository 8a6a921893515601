//! `wss://` end to end (cargo feature `tls`): a pair made by
//! `clawgate tls generate`, a real rustls client over a real socket, and the
//! limits that cover a handshake (timeout, pre-auth slots) applied to TLS.

#![cfg(feature = "tls")]

mod common;

use common::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde_json::{json, Value};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A client trusting only `cert` (the generated self-signed certificate).
fn client_config(cert: &Path) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert).expect("cert file") {
        roots.add(c.expect("pem")).unwrap();
    }
    Arc::new(
        ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

fn tls_stream(addr: SocketAddr, cfg: Arc<ClientConfig>, name: &str) -> Tls {
    let tcp = TcpStream::connect(addr).expect("tcp connect");
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    tcp.set_nodelay(true).unwrap();
    let conn = ClientConnection::new(cfg, ServerName::try_from(name.to_string()).unwrap())
        .expect("client connection");
    StreamOwned::new(conn, tcp)
}

/// TLS + WebSocket upgrade + `connect`: an authenticated `wss://` client.
fn wss_client(gw: &Gateway, scopes: &[&str]) -> Client<Tls> {
    let stream = tls_stream(gw.addr, client_config(&gw.cert_path()), "127.0.0.1");
    let (ws, _) =
        tungstenite::client::client(format!("wss://{}/", gw.addr), stream).expect("wss upgrade");
    let mut c = Client::over(ws);
    let ch = c.recv();
    assert_eq!(ch["event"], "connect.challenge", "{ch}");
    let hello = c.connect(TOKEN, scopes);
    assert_eq!(hello["ok"], true, "{hello}");
    c
}

fn health(c: &mut Client<Tls>) -> Value {
    let h = c.call("health", json!({"probe": true}));
    assert_eq!(h["ok"], true, "{h}");
    h["payload"].clone()
}

/// Reads until the server ends the connection (EOF, reset or a TLS
/// alert); panics if it is still open at the deadline.
fn expect_dropped(s: &mut impl Read, what: &str) {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("{what}: still open after {:?}", start.elapsed())
            }
            Err(_) => return,
        }
    }
}

#[test]
fn wss_session_health_chat_and_large_frames() {
    let (gw, fingerprint) = Gateway::start_tls(json!({"testing": {"enableTestMethods": true}}));
    assert!(gw.url().starts_with("wss://"), "{}", gw.url());
    let mut a = wss_client(&gw, &["operator.admin"]);
    let h = health(&mut a);
    assert_eq!(h["gateway"]["tls"]["enabled"], true, "{h}");
    assert_eq!(
        h["gateway"]["tls"]["fingerprint"], fingerprint,
        "health names the certificate `tls generate` printed"
    );
    assert_eq!(h["gateway"]["tls"]["handshakes"], 1, "{h}");

    // Chat over TLS, seen by a second TLS client.
    let mut b = wss_client(&gw, &["operator.read"]);
    let r = a.call(
        "chat.send",
        json!({"sessionKey": "tls", "message": "over wss", "idempotencyKey": "k1"}),
    );
    assert_eq!(r["ok"], true, "{r}");
    let ev = b.recv_until(|f| f["event"] == "chat");
    assert_eq!(ev["payload"]["text"], "over wss");

    // A message larger than a TLS record (16 KiB) each way, and a burst
    // larger than rustls' send limit: every byte arrives, in order.
    let big = "x".repeat(200_000);
    let r = a.call(
        "chat.send",
        json!({"sessionKey": "tls", "message": big, "idempotencyKey": "k2"}),
    );
    assert_eq!(r["ok"], true, "{r}");
    let hist = b.call("chat.history", json!({"sessionKey": "tls", "limit": 1}));
    assert_eq!(
        hist["payload"]["messages"][0]["text"]
            .as_str()
            .map(str::len),
        Some(200_000)
    );
    let r = a.call("debug.broadcast", json!({"count": 40, "bytes": 8192}));
    assert_eq!(r["ok"], true, "{r}");
    let mut seqs = Vec::new();
    while seqs.len() < 40 {
        let f = b.recv_until(|f| f["event"] == "debug");
        seqs.push(f["seq"].as_u64().unwrap());
    }
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");

    // Counters count wire bytes: more than the payloads carried.
    let h = health(&mut a);
    assert!(
        h["gateway"]["io"]["bytesIn"].as_u64().unwrap() > 200_000,
        "{}",
        h["gateway"]["io"]
    );
    assert!(h["gateway"]["io"]["bytesOut"].as_u64().unwrap() > 200_000 + 40 * 8192);

    // A clean WebSocket close over TLS.
    a.ws.close(Some(tungstenite::protocol::CloseFrame {
        code: 1000.into(),
        reason: "done".into(),
    }))
    .unwrap();
    let (code, _) = a.expect_close();
    assert_eq!(code, 1000);
}

#[test]
fn wss_http_endpoints_and_plain_clients() {
    let (gw, _) = Gateway::start_tls(json!({}));
    // /healthz over TLS with a real HTTP exchange.
    let mut s = tls_stream(gw.addr, client_config(&gw.cert_path()), "localhost");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"ok\":true"), "{text}");

    // A plain-text client on the TLS port: refused (a TLS alert), and the
    // gateway keeps serving.
    let mut plain = TcpStream::connect(gw.addr).unwrap();
    plain.set_read_timeout(Some(WAIT)).unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reply = Vec::new();
    let _ = plain.read_to_end(&mut reply);
    assert!(
        !String::from_utf8_lossy(&reply).contains("200 OK"),
        "no plaintext answer on a TLS port"
    );
    assert!(reply.len() < 64, "at most an alert record: {reply:?}");

    // A client that does not trust the certificate gives up in the
    // handshake; the gateway counts it.
    let empty = Arc::new(
        ClientConfig::builder()
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth(),
    );
    let mut untrusting = tls_stream(gw.addr, empty, "127.0.0.1");
    let err = untrusting.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap_err();
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    drop(untrusting);

    let mut a = wss_client(&gw, &["operator.read"]);
    let tls = wait_health(&mut a, "two failed TLS handshakes", |h| {
        h["gateway"]["tls"]["failed"].as_u64() >= Some(2)
    });
    assert_eq!(
        tls["gateway"]["tls"]["failed"], 2,
        "{}",
        tls["gateway"]["tls"]
    );
}

#[test]
fn tls_handshakes_obey_the_timeout_and_the_pre_auth_limits() {
    let (gw, _) = Gateway::start_tls(json!({"connections": {
        "handshakeTimeoutMs": 1000, "maxUnauthenticated": 3, "maxUnauthenticatedPerAddress": 3}}));
    let cfg = client_config(&gw.cert_path());

    // Silent sockets and a ClientHello never followed up: each holds a
    // pre-auth slot until the handshake timeout drops it.
    // (A socket that sends nothing at all is held by the kernel, not us,
    // under TCP_DEFER_ACCEPT; these send one byte of a TLS record header.)
    let mut silent = TcpStream::connect(gw.addr).unwrap();
    silent.set_read_timeout(Some(WAIT)).unwrap();
    silent.write_all(&[0x16]).unwrap();
    let mut hello_only = TcpStream::connect(gw.addr).unwrap();
    hello_only.set_read_timeout(Some(WAIT)).unwrap();
    let mut conn =
        ClientConnection::new(cfg.clone(), ServerName::try_from("127.0.0.1").unwrap()).unwrap();
    conn.write_tls(&mut hello_only).unwrap(); // the ClientHello, then nothing
    let mut third = TcpStream::connect(gw.addr).unwrap();
    third.set_read_timeout(Some(WAIT)).unwrap();
    third.write_all(&[0x16]).unwrap();

    // All three slots are taken: a fourth socket is closed at once,
    // without an answer (a TLS client could not read a plain 503).
    let mut fourth = TcpStream::connect(gw.addr).unwrap();
    fourth.set_read_timeout(Some(WAIT)).unwrap();
    fourth.write_all(&[0x16]).unwrap();
    // (Refused by the limit, not the timeout: see the counters below.)
    expect_dropped(&mut fourth, "a socket beyond maxUnauthenticated");

    // The held ones are dropped by the handshake timeout (after the
    // server's first flight for the ClientHello).
    expect_dropped(&mut silent, "a silent socket");
    expect_dropped(&mut hello_only, "a stalled TLS handshake");
    expect_dropped(&mut third, "a third silent socket");

    // Slots are free again: a real client gets through, and the counters
    // say what happened.
    let mut c = wss_client(&gw, &["operator.read"]);
    let h = wait_health(&mut c, "timeouts counted", |h| {
        h["gateway"]["connections"]["handshakeTimeouts"].as_u64() >= Some(3)
    });
    let conns = &h["gateway"]["connections"];
    assert_eq!(conns["handshakeTimeouts"], 3, "{conns}");
    assert_eq!(conns["rejected"]["preAuthLimit"], 1, "{conns}");
    assert!(
        h["gateway"]["tls"]["failed"].as_u64() >= Some(3),
        "{}",
        h["gateway"]["tls"]
    );
}

#[test]
fn sighup_reloads_a_renewed_certificate_and_keeps_a_bad_one_out() {
    let (gw, first) = Gateway::start_tls(json!({}));
    let mut old = wss_client(&gw, &["operator.read"]);

    // Renewed in place (same paths), then SIGHUP: new connections get the
    // new certificate, the old connection carries on.
    let dir = gw.dir.path().join("tls");
    let second = tls_generate(&dir, &[]);
    assert_ne!(first, second);
    gw.signal(libc::SIGHUP);
    // Asked on the old session, which the reload keeps.
    let h = wait_health(&mut old, "the new certificate", |h| {
        h["gateway"]["tls"]["fingerprint"] == second.as_str()
    });
    assert_eq!(h["gateway"]["config"]["reloads"], 1);
    // This client trusts only the renewed certificate.
    let mut fresh = wss_client(&gw, &["operator.read"]);

    // A broken key on reload: logged, counted, the served pair unchanged.
    std::fs::write(dir.join("key.pem"), "-----BEGIN PRIVATE KEY-----\nAAAA\n").unwrap();
    gw.signal(libc::SIGHUP);
    let h = wait_health(&mut fresh, "the failed reload", |h| {
        h["gateway"]["config"]["reloadFailures"].as_u64() >= Some(1)
    });
    assert_eq!(h["gateway"]["tls"]["fingerprint"], second.as_str());
    wait_until("the reload error in the log", || {
        gw.stderr().contains("keeping the current certificate")
    });
    let mut third = wss_client(&gw, &["operator.read"]);
    assert_eq!(health(&mut third)["ok"], true);
}
