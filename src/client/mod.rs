//! A small blocking client of a running gateway, for the commands that run
//! beside it rather than in it: `clawgate check --url`, `clawgate hook`,
//! `clawgate mcp` and `clawgate approvals`. One socket, one request at a
//! time, deadlines on every wait; events that arrive while waiting for an
//! answer are handed to the caller (an MCP `run_command` streams
//! `process.output` as progress).
//!
//! It never runs inside the gateway's loop: it blocks by design.

pub mod approvals;

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

/// How long connecting and the handshake may take before the gateway is
/// called unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest single frame accepted from the gateway (its own
/// `policy.maxPayload` is far below this).
const MAX_FRAME_BYTES: usize = 8 * 1024 * 1024;
/// How often a blocked read wakes to check its deadline.
const READ_SLICE: Duration = Duration::from_millis(200);

/// Why a call did not get an answer.
#[derive(Debug)]
pub enum ClientError {
    /// No gateway at the address, or the connection broke.
    Unreachable(String),
    /// The gateway refused the credential or the connect.
    Refused(String),
    /// The gateway answered `ok: false`.
    Remote {
        code: String,
        message: String,
        details: Value,
    },
    /// No answer before the deadline.
    Timeout(String),
    /// The URL or an argument is unusable.
    Usage(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Unreachable(m) => write!(f, "gateway unreachable: {m}"),
            ClientError::Refused(m) => write!(f, "gateway refused the connection: {m}"),
            ClientError::Remote { code, message, .. } => write!(f, "{code}: {message}"),
            ClientError::Timeout(m) => write!(f, "no answer from the gateway: {m}"),
            ClientError::Usage(m) => f.write_str(m),
        }
    }
}

impl ClientError {
    /// The `details.code` of a refusal, when the gateway gave one.
    pub fn detail_code(&self) -> Option<&str> {
        match self {
            ClientError::Remote { details, .. } => details.get("code").and_then(Value::as_str),
            _ => None,
        }
    }
}

/// Where a gateway is: the audit forwarder's `http://host:port/path`
/// parser (one URL grammar in the crate), reached with `ws://` too.
pub use crate::forward::Endpoint;

/// Parses `ws://host:port[/path]` or `http://…` (the same port serves
/// both). `wss://`/`https://` need a TLS client this tool does not carry:
/// run it on the gateway host against loopback, or through an ssh tunnel.
pub fn endpoint(url: &str) -> Result<Endpoint, ClientError> {
    let http = match url.strip_prefix("ws://") {
        Some(rest) => format!("http://{rest}"),
        None if url.starts_with("http://") => url.to_string(),
        None => {
            return Err(ClientError::Usage(format!(
                "--url {url}: expected ws://HOST:PORT or http://HOST:PORT (for wss://, run on the gateway host against 127.0.0.1 or through an ssh tunnel)"
            )))
        }
    };
    Endpoint::parse(&http).map_err(|e| ClientError::Usage(format!("--url {url}: {e}")))
}

fn host_header(ep: &Endpoint) -> String {
    if ep.host.contains(':') {
        format!("[{}]:{}", ep.host, ep.port)
    } else {
        format!("{}:{}", ep.host, ep.port)
    }
}

fn connect_tcp(ep: &Endpoint) -> Result<TcpStream, ClientError> {
    let addrs = (ep.host.as_str(), ep.port)
        .to_socket_addrs()
        .map_err(|e| ClientError::Unreachable(format!("{}: {e}", ep.host)))?;
    let mut last = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = Some(format!("{a}: {e}")),
        }
    }
    Err(ClientError::Unreachable(
        last.unwrap_or_else(|| format!("{}: no address", ep.host)),
    ))
}

/// Most bytes of the gateway's upgrade response head.
const MAX_RESPONSE_HEAD: usize = 8 * 1024;

/// Opens the WebSocket over `stream` (RFC 6455 section 4.1). By hand rather
/// than through tungstenite's client handshake: that one builds the request
/// with the `http` crate, whose header tables alone were 13 KB of the
/// binary under issue 7's 4 MB cap, for one fixed request.
fn upgrade(mut stream: TcpStream, ep: &Endpoint) -> Result<WebSocket<TcpStream>, String> {
    let key = ws_key()?;
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n",
        ep.path,
        host_header(ep)
    );
    stream
        .write_all(req.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the gateway closed the connection".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut res = httparse::Response::new(&mut headers);
        match res.parse(&buf).map_err(|e| e.to_string())? {
            httparse::Status::Partial if buf.len() < MAX_RESPONSE_HEAD => continue,
            httparse::Status::Partial => return Err("response head too large".into()),
            httparse::Status::Complete(head) => {
                if res.code != Some(101) {
                    return Err(format!(
                        "HTTP {} {}",
                        res.code.unwrap_or(0),
                        res.reason.unwrap_or("")
                    ));
                }
                let header = |name: &str| {
                    res.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
                };
                if !header("Upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")) {
                    return Err("no Upgrade: websocket in the response".into());
                }
                if header("Sec-WebSocket-Accept")
                    != Some(tungstenite::handshake::derive_accept_key(key.as_bytes()))
                {
                    return Err("wrong Sec-WebSocket-Accept".into());
                }
                let mut config = tungstenite::protocol::WebSocketConfig::default();
                config.max_message_size = Some(MAX_FRAME_BYTES);
                config.max_frame_size = Some(MAX_FRAME_BYTES);
                // The gateway speaks first: its first frame may have come
                // in with the head.
                let rest = buf.split_off(head);
                return Ok(WebSocket::from_partially_read(
                    stream,
                    rest,
                    tungstenite::protocol::Role::Client,
                    Some(config),
                ));
            }
        }
    }
}

/// A `Sec-WebSocket-Key`: 16 random bytes, base64, from the kernel's
/// generator as the gateway's own tokens are.
fn ws_key() -> Result<String, String> {
    let mut b = [0u8; 16];
    crate::gateway::auth::fill_random(&mut b).map_err(|e| e.to_string())?;
    Ok(crate::encoding::base64(&b))
}

/// The URL and credential a command was given (`--url`, `--token`, or the
/// environment: `CLAWGATE_URL`, `CLAWGATE_TOKEN`).
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub token: String,
}

impl Target {
    /// The default URL when neither flag nor environment names one.
    pub const DEFAULT_URL: &'static str = "ws://127.0.0.1:18789";

    pub fn from_env(url: Option<String>, token: Option<String>) -> Result<Target, ClientError> {
        let url = url
            .or_else(|| std::env::var("CLAWGATE_URL").ok())
            .unwrap_or_else(|| Self::DEFAULT_URL.to_string());
        let token = token
            .or_else(|| std::env::var("CLAWGATE_TOKEN").ok())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ClientError::Usage(
                    "no credential: pass --token or set CLAWGATE_TOKEN (an agent credential from `clawgate token create`)".into(),
                )
            })?;
        Ok(Target { url, token })
    }
}

/// One authenticated WebSocket connection to a gateway.
pub struct Client {
    ws: WebSocket<TcpStream>,
    next_id: u64,
    /// The scopes the gateway granted.
    pub scopes: Vec<String>,
}

impl Client {
    /// Connects and authenticates as `client_id`, asking for `scopes` (the
    /// gateway grants what the credential carries, never more).
    pub fn connect(
        target: &Target,
        client_id: &str,
        scopes: &[&str],
    ) -> Result<Client, ClientError> {
        let ep = endpoint(&target.url)?;
        let stream = connect_tcp(&ep)?;
        stream
            .set_read_timeout(Some(CONNECT_TIMEOUT))
            .map_err(|e| ClientError::Unreachable(e.to_string()))?;
        let ws = upgrade(stream, &ep)
            .map_err(|e| ClientError::Unreachable(format!("WebSocket handshake: {e}")))?;
        let mut c = Client {
            ws,
            next_id: 1,
            scopes: Vec::new(),
        };
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        // The server speaks first: connect.challenge.
        loop {
            let f = c.read_frame(deadline)?;
            if f.get("event").and_then(Value::as_str) == Some("connect.challenge") {
                break;
            }
        }
        let params = json!({
            "minProtocol": 3,
            "maxProtocol": 4,
            "client": {
                "id": client_id,
                "version": env!("CARGO_PKG_VERSION"),
                "platform": std::env::consts::OS,
                "mode": "cli",
            },
            "role": "operator",
            "scopes": scopes,
            "auth": {"token": target.token},
        });
        let hello = c
            .call_until("connect", params, deadline, &mut |_, _| {})
            .map_err(|e| match e {
                ClientError::Remote { message, .. } => ClientError::Refused(message),
                other => other,
            })?;
        c.scopes = hello
            .pointer("/auth/scopes")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        Ok(c)
    }

    /// Calls `method` and waits at most `timeout` for its answer.
    pub fn call(
        &mut self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, ClientError> {
        self.call_until(method, params, Instant::now() + timeout, &mut |_, _| {})
    }

    /// Calls `method`; events arriving meanwhile go to `on_event(name,
    /// payload)`.
    pub fn call_until(
        &mut self,
        method: &str,
        params: Value,
        deadline: Instant,
        on_event: &mut dyn FnMut(&str, &Value),
    ) -> Result<Value, ClientError> {
        let id = self.next_id.to_string();
        self.next_id += 1;
        let frame = json!({"type": "req", "id": id, "method": method, "params": params});
        self.ws
            .send(Message::text(frame.to_string()))
            .map_err(|e| ClientError::Unreachable(e.to_string()))?;
        loop {
            let f = self.read_frame(deadline).map_err(|e| match e {
                ClientError::Timeout(_) => {
                    ClientError::Timeout(format!("{method} got no answer in time"))
                }
                other => other,
            })?;
            match f.get("type").and_then(Value::as_str) {
                Some("event") => {
                    let name = f.get("event").and_then(Value::as_str).unwrap_or("");
                    on_event(name, f.get("payload").unwrap_or(&Value::Null));
                }
                Some("res") if f.get("id").and_then(Value::as_str) == Some(&id) => {
                    if f.get("ok").and_then(Value::as_bool) == Some(true) {
                        return Ok(f.get("payload").cloned().unwrap_or(Value::Null));
                    }
                    let err = f.get("error").cloned().unwrap_or(Value::Null);
                    return Err(ClientError::Remote {
                        code: err
                            .get("code")
                            .and_then(Value::as_str)
                            .unwrap_or("ERROR")
                            .to_string(),
                        message: err
                            .get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("refused")
                            .to_string(),
                        details: err.get("details").cloned().unwrap_or(Value::Null),
                    });
                }
                _ => {}
            }
        }
    }

    /// Waits for the next event until `deadline` (`None` on timeout).
    pub fn next_event(
        &mut self,
        deadline: Instant,
    ) -> Result<Option<(String, Value)>, ClientError> {
        loop {
            match self.read_frame(deadline) {
                Ok(f) if f.get("type").and_then(Value::as_str) == Some("event") => {
                    let name = f
                        .get("event")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    return Ok(Some((
                        name,
                        f.get("payload").cloned().unwrap_or(Value::Null),
                    )));
                }
                Ok(_) => continue,
                Err(ClientError::Timeout(_)) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    fn read_frame(&mut self, deadline: Instant) -> Result<Value, ClientError> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ClientError::Timeout("deadline passed".into()));
            }
            let _ = self
                .ws
                .get_ref()
                .set_read_timeout(Some(left.min(READ_SLICE)));
            match self.ws.read() {
                Ok(Message::Text(t)) => {
                    return serde_json::from_str(t.as_str()).map_err(|e| {
                        ClientError::Unreachable(format!("gateway sent bad JSON: {e}"))
                    })
                }
                Ok(Message::Close(c)) => {
                    let why = c
                        .map(|c| format!("closed {}: {}", u16::from(c.code), c.reason))
                        .unwrap_or_else(|| "closed".into());
                    return Err(ClientError::Unreachable(why));
                }
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(ClientError::Unreachable(e.to_string())),
            }
        }
    }

    /// Closes politely (best effort).
    pub fn close(mut self) {
        let _ = self.ws.close(None);
        let _ = self.ws.flush();
    }
}

/// One HTTP POST of a JSON body to the gateway's port (the hook endpoint):
/// the status and the body. Bounded by `timeout` and `max_body`.
pub fn post_json(
    url: &str,
    path: &str,
    token: &str,
    body: &[u8],
    timeout: Duration,
    max_body: usize,
) -> Result<(u16, Vec<u8>), ClientError> {
    let ep = endpoint(url)?;
    let mut s = connect_tcp(&ep)?;
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        host_header(&ep),
        body.len()
    );
    s.write_all(head.as_bytes())
        .and_then(|_| s.write_all(body))
        .map_err(|e| ClientError::Unreachable(e.to_string()))?;
    let mut buf = Vec::new();
    s.take((max_body + 16 * 1024) as u64)
        .read_to_end(&mut buf)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                ClientError::Timeout(format!("POST {path} got no answer in {timeout:?}"))
            }
            _ => ClientError::Unreachable(e.to_string()),
        })?;
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| ClientError::Unreachable("the answer had no HTTP head".into()))?;
    let status = std::str::from_utf8(&buf[..end])
        .ok()
        .and_then(|h| h.split(' ').nth(1))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| ClientError::Unreachable("the answer had no HTTP status".into()))?;
    Ok((status, buf[end + 4..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_endpoint_parse() {
        let e = endpoint("ws://127.0.0.1:18789").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.path.as_str()),
            ("127.0.0.1", 18789, "/")
        );
        let e = endpoint("http://[::1]:9/x").unwrap();
        assert_eq!((e.host.as_str(), e.port, e.path.as_str()), ("::1", 9, "/x"));
        assert!(endpoint("wss://h:1").is_err());
        assert!(endpoint("ws://h:notaport").is_err());
    }
}
