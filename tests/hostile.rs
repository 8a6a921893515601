//! Hostile clients (issue #18), end to end against the real binary on
//! loopback: each test reproduces the old symptom and checks it is gone.

mod common;

use common::*;
use serde_json::json;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::FromRawFd;

/// A TCP connection to `to` from source address `from` (any of 127/8 works
/// on Linux loopback without configuration).
fn connect_from(from: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let SocketAddr::V4(to) = to else {
        panic!("IPv4 gateway expected")
    };
    let sa = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a fresh socket fd, plain sockaddr_in values that outlive the
    // calls; the fd is handed to TcpStream (which closes it) or closed here.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let local = sa(from, 0);
        let remote = sa(*to.ip(), to.port());
        let ok = libc::bind(fd, &local as *const _ as *const libc::sockaddr, len) == 0
            && libc::connect(fd, &remote as *const _ as *const libc::sockaddr, len) == 0;
        if !ok {
            let e = std::io::Error::last_os_error();
            libc::close(fd);
            panic!("connect from {from}: {e}");
        }
        TcpStream::from_raw_fd(fd)
    }
}

fn client_from(from: Ipv4Addr, to: SocketAddr) -> Client {
    let stream = connect_from(from, to);
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let (ws, _) = tungstenite::client::client(format!("ws://{to}/"), stream).expect("upgrade");
    let mut c = Client::over(ws);
    let ch = c.recv();
    assert_eq!(ch["event"], "connect.challenge", "{ch}");
    c
}

/// Item 4. The throttle was keyed by exact address: rotating the source
/// through 127/8 gave 676 guesses in 0.4 s. Loopback is now one prefix.
#[test]
fn rotating_loopback_source_addresses_does_not_escape_the_auth_throttle() {
    let gw = Gateway::start(json!({"auth": {"maxFailures": 3, "failureWindowMs": 60000}}));
    // Connected before the guesses: loopback is one prefix, so once it is
    // throttled, new loopback logins wait too (that is the point).
    let mut c = gw.client(&["operator.read"]);
    let mut refused_at = None;
    for i in 1..=10u8 {
        let mut c = client_from(Ipv4Addr::new(127, 0, i, 2), gw.addr);
        let r = c.connect("wrong-guess-wrong-guess", &[]);
        if r["error"]["details"]["code"] == "AUTH_RATE_LIMITED" {
            refused_at = Some(i);
            break;
        }
        assert_eq!(r["error"]["details"]["code"], "AUTH_TOKEN_MISMATCH", "{r}");
    }
    assert_eq!(
        refused_at,
        Some(4),
        "the 4th guess, from a new address, is throttled"
    );
    let h = c.call("health", json!({}));
    let conns = &h["payload"]["gateway"]["connections"];
    assert!(conns["authThrottled"].as_u64().unwrap() >= 1, "{conns}");
}

/// Item 4: a short shared password is refused at start, with the reason.
#[test]
fn short_password_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.json");
    std::fs::write(
        &cfg,
        json!({"auth": {"password": "hunter2"}, "server": {"dataDir": dir.path()}}).to_string(),
    )
    .unwrap();
    let (bin, mut args) = binary();
    args.extend([
        "--config".into(),
        cfg.display().to_string(),
        "--check-config".into(),
    ]);
    let out = std::process::Command::new(bin)
        .args(&args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("auth.password") && err.contains("16 characters"),
        "{err}"
    );
}

/// Item 5. `Origin` was only compared with `Host`, so a DNS-rebinding page
/// (its own name in both) opened a WebSocket. `Host` must now be ours.
#[test]
fn dns_rebinding_page_is_refused() {
    let gw = Gateway::start(json!({"server": {"hostnames": ["pi.lan"]}}));
    let port = gw.addr.port();
    let upgrade = |host: &str| {
        raw_exchange(
            gw.addr,
            format!(
                "GET / HTTP/1.1\r\nHost: {host}:{port}\r\nOrigin: http://{host}:{port}\r\n\
                 Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
            )
            .as_bytes(),
        )
    };
    let evil = upgrade("rebind.evil.example");
    assert!(evil.starts_with("HTTP/1.1 101"), "{evil}");
    // A close frame (1008) with the reason, before any challenge.
    assert!(evil.contains("origin not allowed"), "{evil:?}");
    assert!(!evil.contains("connect.challenge"), "{evil}");
    for ours in ["localhost", "127.0.0.1", "pi.lan"] {
        let r = std::net::TcpStream::connect(gw.addr).unwrap();
        r.set_read_timeout(Some(WAIT)).unwrap();
        let mut req = tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{}/",
            gw.addr
        ))
        .unwrap();
        let h = req.headers_mut();
        h.insert("Host", format!("{ours}:{port}").parse().unwrap());
        h.insert("Origin", format!("http://{ours}:{port}").parse().unwrap());
        let (ws, _) = tungstenite::client::client(req, r).expect("upgrade");
        let mut c = Client::over(ws);
        assert_eq!(c.recv()["event"], "connect.challenge", "{ours}");
    }
    // Plain browser requests under a foreign name: 403.
    let plain = raw_exchange(
        gw.addr,
        format!(
            "GET /healthz HTTP/1.1\r\nHost: rebind.evil.example:{port}\r\n\
             Origin: http://rebind.evil.example:{port}\r\n\r\n"
        )
        .as_bytes(),
    );
    assert!(plain.starts_with("HTTP/1.1 403"), "{plain}");
    // Non-browser requests (no Origin) are not affected.
    let ok = raw_exchange(
        gw.addr,
        format!("GET /healthz HTTP/1.1\r\nHost: anything:{port}\r\n\r\n").as_bytes(),
    );
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
}

/// Item 3. A second `connect` with another `client.id` left the old id
/// counted forever: after `maxPerClientId` re-connects that id could never
/// connect again. The count now moves with the session.
#[test]
fn reconnect_moves_the_client_id_count() {
    let gw = Gateway::start(json!({"connections": {"maxPerClientId": 2}}));
    let mut a = gw.admin(); // counted as "test"
    for id in ["cycle-1", "cycle-2", "cycle-3", "test", "cycle-4"] {
        let r = a.call(
            "connect",
            connect_params(Some(TOKEN), &["operator.admin"], id),
        );
        assert_eq!(r["payload"]["type"], "hello-ok", "{id}: {r}");
    }
    // `a` is now "cycle-4": two fresh "test" connections fit.
    let _b = gw.client(&[]);
    let _c = gw.client(&[]);
    // A re-connect into a full id is refused and keeps its old identity.
    let r = a.call(
        "connect",
        connect_params(Some(TOKEN), &["operator.admin"], "test"),
    );
    assert_eq!(r["error"]["details"]["limit"], "maxPerClientId", "{r}");
    let r = a.call("health", json!({"probe": true}));
    assert_eq!(r["ok"], true, "{r}");
}

fn connections(c: &mut Client) -> serde_json::Value {
    let h = c.call("health", json!({"probe": true}));
    h["payload"]["gateway"]["connections"].clone()
}

/// Item 1. 16 idle sockets from 2 addresses filled the pre-auth pool and
/// every new client and `/healthz` got 503. Now a new address takes the
/// place of a flooder's socket, `/healthz` is answered at the listener even
/// from a flooding address, and a socket that never completes its HTTP head
/// loses its slot after `httpHeadTimeoutMs`.
#[test]
fn pre_auth_flood_from_few_addresses_denies_no_new_address() {
    let gw = Gateway::start(json!({"connections": {
        "maxUnauthenticated": 16, "maxUnauthenticatedPerAddress": 8,
        "httpHeadTimeoutMs": 3000
    }}));
    let mut admin = gw.client(&["operator.read"]);
    let mut flood = Vec::new();
    for i in 0..16u8 {
        let mut s = connect_from(Ipv4Addr::new(127, 0, 0, 2 + i % 2), gw.addr);
        // Half a head: the socket is accepted (it spoke) but never finishes.
        std::io::Write::write_all(&mut s, b"GET / HTTP/1.1\r\n").unwrap();
        flood.push(s);
    }
    wait_until("the flood fills the pre-auth pool", || {
        connections(&mut admin)["authenticating"] == 16
    });
    // A new address connects all the same.
    let stream = connect_from(Ipv4Addr::new(127, 0, 0, 9), gw.addr);
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let (ws, _) = tungstenite::client::client(format!("ws://{}/", gw.addr), stream).unwrap();
    let mut newcomer = Client::over(ws);
    assert_eq!(newcomer.recv()["event"], "connect.challenge");
    assert_eq!(newcomer.connect(TOKEN, &[])["ok"], true);
    // The newcomer took an evicted socket's slot and then left the pool:
    // fill it again from a third address.
    let mut top_up = connect_from(Ipv4Addr::new(127, 0, 0, 4), gw.addr);
    std::io::Write::write_all(&mut top_up, b"GET / HTTP/1.1\r\n").unwrap();
    wait_until("the pool is full again", || {
        connections(&mut admin)["authenticating"] == 16
    });
    // `/healthz` from a flooding address, pool full: answered, not 503.
    let mut s = connect_from(Ipv4Addr::new(127, 0, 0, 2), gw.addr);
    s.set_read_timeout(Some(WAIT)).unwrap();
    std::io::Write::write_all(&mut s, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = std::io::Read::read_to_string(&mut s, &mut out);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let conns = connections(&mut admin);
    assert!(conns["preAuthEvicted"].as_u64().unwrap() >= 1, "{conns}");
    assert!(conns["healthzAtListener"].as_u64().unwrap() >= 1, "{conns}");
    // The half-open heads time out after httpHeadTimeoutMs, not 10 s.
    let t = std::time::Instant::now();
    wait_until("the slowloris sockets are closed", || {
        connections(&mut admin)["authenticating"] == 0
    });
    assert!(
        t.elapsed() < std::time::Duration::from_secs(8),
        "{:?}",
        t.elapsed()
    );
    drop(flood);
}

/// CPU ticks (user + system) the process `pid` has used.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// Item 6. The output of a child whose client had gone was read at full
/// speed (68 % of a core) for nobody. Once its buffer is full it is no
/// longer read: the pipe blocks the child and the gateway idles.
#[test]
fn orphaned_output_is_not_read_once_the_buffer_is_full() {
    let gw = Gateway::start(json!({"exec": {"onDisconnect": "keep", "maxOutputBytes": 65536}}));
    let scopes = ["operator.read", "operator.write"];
    let mut watcher = gw.client(&scopes);
    let mut c = gw.client(&scopes);
    let r = c.call(
        "exec.run",
        json!({"command": "yes 0123456789abcdef0123456789abcdef", "yieldMs": 0}),
    );
    let id = r["payload"]["processId"].as_str().unwrap().to_string();
    drop(c); // the requester goes away mid-stream
    let mut health = || watcher.call("health", json!({"probe": true}))["payload"].clone();
    wait_until("the orphan is paused", || {
        health()["processes"]["orphanPauses"].as_u64().unwrap_or(0) >= 1
    });
    let pid = gw.child.id();
    let before = cpu_ticks(pid);
    let poll = |w: &mut Client| {
        w.call("process.poll", json!({"processId": id, "maxBytes": 1}))["payload"]["outputBytes"]
            .as_u64()
            .unwrap()
    };
    let bytes = poll(&mut watcher);
    // A measurement window, not a synchronisation wait: CPU use is a rate.
    let t = std::time::Instant::now();
    std::thread::sleep(std::time::Duration::from_millis(1000));
    assert_eq!(poll(&mut watcher), bytes, "no more output was read");
    let ticks = cpu_ticks(pid) - before;
    let secs = t.elapsed().as_secs_f64();
    // 100 ticks a second is a full core; the old loop spent ~68.
    assert!((ticks as f64 / secs) < 10.0, "{ticks} ticks in {secs:.2}s");
    watcher.call("process.kill", json!({"processId": id}));
}

/// Item 7. On a full disk `chat.send` got no answer until space returned
/// (one call waited over 30 s). It is now answered `UNAVAILABLE` /
/// `STORE_UNAVAILABLE` within `store.unavailableAfterMs`; readers stay
/// connected; after recovery sends are acknowledged again and nothing
/// acknowledged is lost. (`store.maxDbBytes` stands in for the full disk:
/// SQLite gets SQLITE_FULL exactly as on ENOSPC.)
#[test]
fn full_store_answers_chat_send_promptly() {
    let mut gw = Gateway::start(json!({"store": {
        "maxDbBytes": 65536, "groupCommitBytes": 4096, "unavailableAfterMs": 1000
    }}));
    let mut reader = gw.client(&["operator.read"]);
    let mut c = gw.client(&["operator.write"]);
    let body = "y".repeat(1500);
    let mut acked = Vec::new();
    let mut failed = None;
    for i in 0..400 {
        let t = std::time::Instant::now();
        let r = c.call(
            "chat.send",
            json!({"sessionKey": "full", "message": body, "idempotencyKey": format!("k{i}")}),
        );
        if r["ok"] == true {
            acked.push(r["payload"]["messageId"].as_str().unwrap().to_string());
        } else {
            failed = Some((r, t.elapsed()));
            break;
        }
    }
    let (r, waited) = failed.expect("the database filled");
    assert_eq!(r["error"]["code"], "UNAVAILABLE", "{r}");
    assert_eq!(r["error"]["details"]["code"], "STORE_UNAVAILABLE", "{r}");
    assert!(
        waited < std::time::Duration::from_millis(2500),
        "{waited:?}"
    );
    assert!(!acked.is_empty());
    // The reader was not closed, and sees the counter.
    let h = reader.call("health", json!({"probe": true}));
    assert!(
        h["payload"]["store"]["unavailableAnswers"].as_u64() >= Some(1),
        "{h}"
    );
    // Room again: sends are acknowledged.
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&gw.config_path).unwrap()).unwrap();
    cfg["store"]["maxDbBytes"] = json!(64 << 20);
    std::fs::write(&gw.config_path, cfg.to_string()).unwrap();
    gw.signal(libc::SIGHUP);
    wait_until("sends are acknowledged again", || {
        let r = c.call(
            "chat.send",
            json!({"sessionKey": "full", "message": "after", "idempotencyKey": format!("a{}", acked.len())}),
        );
        r["ok"] == true
    });
    assert_eq!(reader.call("health", json!({"probe": true}))["ok"], true);
    gw.signal(libc::SIGTERM);
    assert!(gw.wait_exit(WAIT).expect("exited").success());
    let db = rusqlite::Connection::open(gw.db_path()).unwrap();
    for id in &acked {
        let n: i64 = db
            .query_row(
                "SELECT COUNT(*) FROM messages WHERE message_id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "acknowledged {id} is stored");
    }
}

/// Item 2. Two pipelined 600 KB `chat.send` frames closed every other
/// connection as a slow consumer (chat events are never droppable). Messages
/// are now bounded (`events.chatMaxMessageBytes`) and the fan-out carries a
/// preview plus `truncated: true`; the full text is in `chat.history`.
#[test]
fn big_chat_messages_fan_out_as_previews() {
    let gw = Gateway::start(json!({}));
    let mut readers: Vec<Client> = (0..3).map(|_| gw.client(&["operator.read"])).collect();
    let mut w = gw.client(&["operator.write"]);
    // Over the message bound: refused with the limit named.
    let r = w.call(
        "chat.send",
        json!({"sessionKey": "big", "message": "z".repeat(600_000), "idempotencyKey": "huge"}),
    );
    assert_eq!(r["error"]["details"]["code"], "MESSAGE_TOO_LARGE", "{r}");
    // Pipelined, under the bound: 8 x 250 KB = 2 MB, twice a reader's cap.
    let big = "z".repeat(250_000);
    for i in 0..8 {
        w.send(
            &json!({"type": "req", "id": format!("b{i}"), "method": "chat.send",
            "params": {"sessionKey": "big", "message": big, "idempotencyKey": format!("b{i}")}}),
        );
    }
    for i in 0..8 {
        let r = w.wait_res(&format!("b{i}"));
        assert_eq!(r["ok"], true, "{r}");
    }
    for r in readers.iter_mut() {
        for _ in 0..8 {
            let ev = r.recv_until(|f| f["event"] == "chat");
            assert_eq!(
                ev["payload"]["truncated"], true,
                "{}",
                ev["payload"]["messageId"]
            );
            assert_eq!(ev["payload"]["text"].as_str().unwrap().len(), 16 * 1024);
        }
        assert_eq!(r.call("health", json!({"probe": true}))["ok"], true);
    }
    let h = readers[0].call("health", json!({"probe": true}));
    let closed = &h["payload"]["gateway"]["connections"]["slowConsumersClosed"];
    assert_eq!(closed, 0, "{closed}");
    let hist = readers[0].call("chat.history", json!({"sessionKey": "big", "limit": 1}));
    assert_eq!(
        hist["payload"]["messages"][0]["text"]
            .as_str()
            .map(str::len),
        Some(250_000)
    );
}

/// Item 2, approvers. A chat burst closed every connection that did not
/// read meanwhile, approvers included, and their approval events were lost.
/// An approver now skips batched events past its cap and keeps room for
/// approval events: it is the last connection closed.
#[test]
fn an_approver_outlasts_a_chat_burst_and_gets_its_approval_event() {
    let gw = Gateway::start(json!({
        "websocket": {"maxBufferedBytes": 65536},
        "events": {"chatPreviewBytes": 8192}
    }));
    let approver_scopes = ["operator.read", "operator.approvals"];
    let mut human = gw.client(&approver_scopes);
    let _reader = gw.client(&["operator.read"]);
    let mut agent = gw.client(&approver_scopes);
    // The writer reads its answers (and its own events) as it goes; it is
    // an approver too so a loaded machine cannot make it the slow one.
    let mut w = gw.client(&["operator.write", "operator.approvals"]);
    // Neither `human` nor `_reader` reads while 40 x 8 KB previews go out.
    let big = "q".repeat(20_000);
    for i in 0..40 {
        w.send(
            &json!({"type": "req", "id": format!("q{i}"), "method": "chat.send",
            "params": {"sessionKey": "burst", "message": big, "idempotencyKey": format!("q{i}")}}),
        );
    }
    for i in 0..40 {
        assert_eq!(w.wait_res(&format!("q{i}"))["ok"], true);
    }
    agent.send(
        &json!({"type": "req", "id": "a1", "method": "exec.approval.request",
        "params": {"id": "ap-burst", "command": "git push --force", "timeoutMs": 60000}}),
    );
    let asked = human.recv_until(|f| f["event"] == "exec.approval.requested");
    assert_eq!(asked["payload"]["id"], "ap-burst", "{asked}");
    let r = human.call(
        "exec.approval.resolve",
        json!({"id": "ap-burst", "decision": "deny"}),
    );
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(agent.wait_res("a1")["payload"]["decision"], "deny");
    let h = human.call("health", json!({"probe": true}));
    assert_eq!(h["ok"], true, "{h}");
}

/// Item 2, per-identity byte rate: one `client.id` cannot keep every
/// reader's fan-out full; others are not affected.
#[test]
fn chat_bytes_are_rate_limited_per_client_id() {
    let gw = Gateway::start(json!({"rateLimits": {
        "exemptLoopback": false, "chatBytesPerMinute": 100000
    }}));
    let mut w = gw.client(&["operator.write"]);
    let msg = "r".repeat(60_000);
    let send = |c: &mut Client, k: &str| {
        c.call(
            "chat.send",
            json!({"sessionKey": "rate", "message": msg, "idempotencyKey": k}),
        )
    };
    assert_eq!(send(&mut w, "r1")["ok"], true);
    let r = send(&mut w, "r2");
    assert_eq!(r["error"]["details"]["code"], "RATE_LIMITED", "{r}");
    assert_eq!(r["error"]["details"]["limit"], "chatBytesPerMinute", "{r}");
    assert!(r["error"]["retryAfterMs"].as_u64().unwrap() > 0);
    // Another identity has its own budget.
    let mut other = Client::open(gw.addr);
    let hello = other.connect_with(connect_params(Some(TOKEN), &["operator.write"], "other"));
    assert_eq!(hello["ok"], true, "{hello}");
    assert_eq!(send(&mut other, "o1")["ok"], true);
    let h = w.call("health", json!({"probe": true}));
    assert!(
        h["payload"]["rateLimits"]["chatBytesLimited"].as_u64() >= Some(1),
        "{h}"
    );
}

/// Item 8. A panic on the loop ended the process with only the default
/// message on stderr. The panic hook logs it through the log (and flushes
/// the log file) before the process exits.
#[test]
fn a_panic_is_logged_before_the_process_exits() {
    let mut gw = Gateway::start(json!({"testing": {"enableTestMethods": true}}));
    let mut a = gw.admin();
    a.send(&json!({"type": "req", "id": "p", "method": "debug.panic", "params": {}}));
    let status = gw.wait_exit(WAIT).expect("the process ended");
    assert!(!status.success());
    let err = gw.stderr();
    assert!(
        err.contains("panic in thread") && err.contains("debug.panic requested"),
        "{err}"
    );
}
