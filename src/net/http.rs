//! The HTTP side of the port: the upgrade request parsed by hand (bounded,
//! resumable across reads) and the few plain responses we give.
//!
//! We do the upgrade ourselves rather than through tungstenite's handshake so
//! the head buffer is bounded by config, slowloris is caught by the same
//! handshake timer as everything else, plain `GET`s can be answered on the same
//! port, and extensions (permessage-deflate) are declined by simply not
//! echoing them.

use tungstenite::handshake::derive_accept_key;

/// Most headers parsed in a request head.
pub const MAX_HEADERS: usize = 32;

/// What a complete request head asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum HttpRequest {
    /// A valid WebSocket upgrade; `accept` is the `Sec-WebSocket-Accept` value.
    Upgrade {
        accept: String,
        path: String,
        origin: Option<String>,
        host: Option<String>,
        /// Bytes after the head (a client may send its first frame at once).
        head_len: usize,
    },
    /// A plain request (no upgrade).
    Plain(PlainRequest),
}

/// The parts of a plain request the HTTP endpoints use.
#[derive(Debug, PartialEq, Eq, Default)]
pub struct PlainRequest {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub if_none_match: Option<String>,
    /// Set by browsers (fetch, forms): then `Host` must be one of ours.
    pub origin: Option<String>,
    pub host: Option<String>,
    /// `Content-Length` of a request with a body (a hook's POST).
    pub content_length: Option<usize>,
    /// Bytes of the head; the body follows.
    pub head_len: usize,
    /// The body, once all `content_length` bytes are in (filled by the connection).
    pub body: Vec<u8>,
}

/// Why a head was refused; each maps to one status line.
#[derive(Debug, PartialEq, Eq)]
pub enum HttpError {
    /// Not HTTP at all, or a malformed head.
    BadRequest(String),
    /// The head did not fit in the configured buffer.
    HeadTooLarge,
    /// An upgrade with a missing or wrong WebSocket header.
    BadUpgrade(String),
    /// A body longer than the endpoint takes.
    BodyTooLarge(usize),
}

/// Looks for a complete head in `buf`. `Ok(None)`: need more bytes.
pub fn parse_head(buf: &[u8]) -> Result<Option<HttpRequest>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => {
            return Err(HttpError::BadRequest(format!(
                "malformed HTTP request: {e}"
            )))
        }
    };
    let method = req.method.unwrap_or("").to_string();
    let path = req.path.unwrap_or("/").to_string();
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::trim)
    };
    let wants_upgrade = header("upgrade").is_some_and(|u| {
        u.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("websocket"))
    });
    if !wants_upgrade {
        // A body is only read with its length announced: chunked bodies
        // would need a decoder for one endpoint that never sends them.
        if header("transfer-encoding").is_some() {
            return Err(HttpError::BadRequest(
                "Transfer-Encoding is not supported here; send Content-Length".into(),
            ));
        }
        let content_length = match header("content-length") {
            None => None,
            Some(v) => Some(v.parse::<usize>().map_err(|_| {
                HttpError::BadRequest(format!("Content-Length `{v}` is not a length"))
            })?),
        };
        return Ok(Some(HttpRequest::Plain(PlainRequest {
            method,
            path,
            authorization: header("authorization").map(str::to_string),
            if_none_match: header("if-none-match").map(str::to_string),
            origin: header("origin").map(str::to_string),
            host: header("host").map(str::to_string),
            content_length,
            head_len,
            body: Vec::new(),
        })));
    }
    if method != "GET" {
        return Err(HttpError::BadUpgrade(format!(
            "WebSocket upgrade needs GET, got {method}"
        )));
    }
    if req.version != Some(1) {
        return Err(HttpError::BadUpgrade(
            "WebSocket upgrade needs HTTP/1.1".into(),
        ));
    }
    let connection_upgrade = header("connection").is_some_and(|c| {
        c.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
    });
    if !connection_upgrade {
        return Err(HttpError::BadUpgrade(
            "missing `Connection: Upgrade` header".into(),
        ));
    }
    if header("sec-websocket-version") != Some("13") {
        return Err(HttpError::BadUpgrade(
            "`Sec-WebSocket-Version` must be 13".into(),
        ));
    }
    let key = match header("sec-websocket-key") {
        Some(k) if !k.is_empty() => k,
        _ => return Err(HttpError::BadUpgrade("missing `Sec-WebSocket-Key`".into())),
    };
    Ok(Some(HttpRequest::Upgrade {
        accept: derive_accept_key(key.as_bytes()),
        path,
        origin: header("origin").map(str::to_string),
        host: header("host").map(str::to_string),
        head_len,
    }))
}

/// May a browser page from `origin` open a WebSocket here? Requests
/// without `Origin` are not from a browser page (CLI clients, scripts) and
/// pass; a browser always sends it, so a cross-site page cannot drive the
/// gateway (OpenClaw's CVE-2026-25253). Same host means the origin's
/// `host[:port]` equals the `Host` header; `allowed` adds exact origins,
/// or `*` for any.
pub fn origin_allowed(origin: Option<&str>, host: Option<&str>, allowed: &[String]) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    let origin = origin.trim_end_matches('/');
    if allowed
        .iter()
        .any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    match (authority, host) {
        (Some(a), Some(h)) => !a.is_empty() && a.eq_ignore_ascii_case(h.trim()),
        _ => false,
    }
}

/// Is `host` (a `Host` header, port optional) a name this gateway answers
/// to: its bind address, `localhost`, a loopback literal, or one of
/// `server.hostnames`? When bound to every interface (`0.0.0.0`, `::`) any
/// IP literal is ours. A DNS-rebinding page reaches us with its own domain
/// in `Host` (and the same in `Origin`, so the same-host check alone passes
/// it): a browser request whose `Host` is not ours is refused.
pub fn host_is_ours(host: Option<&str>, bind: &str, hostnames: &[String]) -> bool {
    let Some(host) = host.map(str::trim) else {
        return false;
    };
    // `[v6]:port`, `[v6]`, `name:port`, `name`.
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(n, _)| n)
    };
    let name = name.trim_end_matches('.');
    if name.is_empty() {
        return false;
    }
    if name.eq_ignore_ascii_case("localhost")
        || hostnames.iter().any(|h| h.eq_ignore_ascii_case(name))
    {
        return true;
    }
    let Ok(ip) = name.parse::<std::net::IpAddr>() else {
        return false;
    };
    let bind_ip = bind.parse::<std::net::IpAddr>().ok();
    ip.is_loopback() || bind_ip == Some(ip) || bind_ip.is_some_and(|b| b.is_unspecified())
}

/// `101 Switching Protocols` without extensions: permessage-deflate is declined.
pub fn switching_protocols(accept: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes()
}

/// A complete plain response; the connection closes after it.
pub fn response(status: u16, reason: &str, content_type: &str, body: &str, extra: &str) -> Vec<u8> {
    Response::new(status, reason, content_type, body.as_bytes())
        .header(extra)
        .build(false)
}

/// A response being put together: status, headers, body.
pub struct Response<'a> {
    status: u16,
    reason: &'a str,
    content_type: &'a str,
    body: &'a [u8],
    cache_control: &'a str,
    extra: String,
}

impl<'a> Response<'a> {
    pub fn new(status: u16, reason: &'a str, content_type: &'a str, body: &'a [u8]) -> Self {
        Response {
            status,
            reason,
            content_type,
            body,
            cache_control: "no-store",
            extra: String::new(),
        }
    }

    /// Extra header lines, each ending in `\r\n`.
    pub fn header(mut self, lines: &str) -> Self {
        self.extra.push_str(lines);
        self
    }

    pub fn cache_control(mut self, value: &'a str) -> Self {
        self.cache_control = value;
        self
    }

    /// The bytes to send; `head_only` (HEAD, 304) keeps the headers and
    /// drops the body.
    pub fn build(self, head_only: bool) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: {}\r\n{}\r\n",
            self.status,
            self.reason,
            self.content_type,
            if self.status == 304 { 0 } else { self.body.len() },
            self.cache_control,
            self.extra
        )
        .into_bytes();
        if !head_only && self.status != 304 {
            out.extend_from_slice(self.body);
        }
        out
    }
}

pub fn error_response(e: &HttpError) -> Vec<u8> {
    match e {
        HttpError::BadRequest(m) => {
            response(400, "Bad Request", "text/plain", &format!("{m}\n"), "")
        }
        HttpError::HeadTooLarge => response(
            431,
            "Request Header Fields Too Large",
            "text/plain",
            "request head too large\n",
            "",
        ),
        HttpError::BodyTooLarge(max) => response(
            413,
            "Content Too Large",
            "text/plain",
            &format!("request body over {max} bytes (agents.maxBodyBytes)\n"),
            "",
        ),
        HttpError::BadUpgrade(m) => response(
            400,
            "Bad Request",
            "text/plain",
            &format!("{m}\n"),
            "Sec-WebSocket-Version: 13\r\n",
        ),
    }
}

/// Sent without allocating a connection slot when the pre-auth cap is reached.
pub const BUSY_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain\r\nContent-Length: 21\r\nConnection: close\r\n\r\ntoo many handshakes \n";

#[cfg(test)]
mod tests {
    use super::*;

    const UPGRADE: &str = "GET /any/path HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n";

    #[test]
    fn test_upgrade_on_any_path() {
        let r = parse_head(UPGRADE.as_bytes()).unwrap().unwrap();
        match r {
            HttpRequest::Upgrade {
                accept,
                path,
                head_len,
                ..
            } => {
                // RFC 6455 section 1.3's example.
                assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
                assert_eq!(path, "/any/path");
                assert_eq!(head_len, UPGRADE.len());
            }
            other => panic!("{other:?}"),
        }
        let resp = String::from_utf8(switching_protocols("k")).unwrap();
        assert!(!resp.to_ascii_lowercase().contains("extensions"));
    }

    #[test]
    fn test_partial_head_needs_more() {
        assert_eq!(parse_head(&UPGRADE.as_bytes()[..40]), Ok(None));
    }

    #[test]
    fn test_garbage_is_bad_request() {
        assert!(matches!(
            parse_head(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
            Err(HttpError::BadRequest(_))
        ));
    }

    #[test]
    fn test_plain_get() {
        assert_eq!(
            parse_head(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap(),
            Some(HttpRequest::Plain(PlainRequest {
                method: "GET".into(),
                path: "/healthz".into(),
                host: Some("x".into()),
                head_len: 34,
                ..Default::default()
            }))
        );
        let r = parse_head(
            b"GET /metrics HTTP/1.1\r\nAuthorization: Bearer t\r\nIf-None-Match: \"e\"\r\n\r\n",
        )
        .unwrap();
        match r {
            Some(HttpRequest::Plain(p)) => {
                assert_eq!(p.authorization.as_deref(), Some("Bearer t"));
                assert_eq!(p.if_none_match.as_deref(), Some("\"e\""));
            }
            other => panic!("{other:?}"),
        }
    }

    /// `Origin` was only compared with `Host`, so a DNS-rebinding page
    /// (`Origin: http://evil.example:18789`, `Host: evil.example:18789`)
    /// passed. `Host` must now be a name the gateway answers to.
    #[test]
    fn test_host_must_be_ours() {
        let none: Vec<String> = vec![];
        let named = vec!["pi.lan".to_string()];
        assert!(host_is_ours(Some("127.0.0.1:18789"), "127.0.0.1", &none));
        assert!(host_is_ours(Some("localhost:18789"), "127.0.0.1", &none));
        assert!(host_is_ours(Some("[::1]:18789"), "127.0.0.1", &none));
        assert!(!host_is_ours(
            Some("evil.example:18789"),
            "127.0.0.1",
            &none
        ));
        assert!(!host_is_ours(Some("evil.example"), "0.0.0.0", &none));
        assert!(host_is_ours(Some("192.168.1.9:18789"), "0.0.0.0", &none));
        assert!(!host_is_ours(
            Some("192.168.1.9:18789"),
            "192.168.1.8",
            &none
        ));
        assert!(host_is_ours(Some("PI.lan:18789"), "0.0.0.0", &named));
        assert!(!host_is_ours(None, "127.0.0.1", &named));
        assert!(!host_is_ours(Some(":1"), "127.0.0.1", &named));
    }

    #[test]
    fn test_origin_same_host_or_allowlisted() {
        let none: Vec<String> = vec![];
        assert!(
            origin_allowed(None, Some("127.0.0.1:1"), &none),
            "not a browser"
        );
        assert!(origin_allowed(
            Some("http://127.0.0.1:1"),
            Some("127.0.0.1:1"),
            &none
        ));
        assert!(origin_allowed(
            Some("https://PI.local:18789"),
            Some("pi.local:18789"),
            &none
        ));
        assert!(!origin_allowed(
            Some("http://evil.example"),
            Some("127.0.0.1:1"),
            &none
        ));
        assert!(
            !origin_allowed(Some("http://127.0.0.1:2"), Some("127.0.0.1:1"), &none),
            "other port"
        );
        assert!(!origin_allowed(Some("null"), Some("127.0.0.1:1"), &none));
        assert!(!origin_allowed(Some("http://127.0.0.1:1"), None, &none));
        let list = vec!["https://dash.example".to_string()];
        assert!(origin_allowed(
            Some("https://dash.example"),
            Some("x"),
            &list
        ));
        assert!(!origin_allowed(
            Some("https://dash.example.evil"),
            Some("x"),
            &list
        ));
        assert!(origin_allowed(
            Some("http://any"),
            Some("x"),
            &["*".to_string()]
        ));
    }

    #[test]
    fn test_bad_upgrade_names_header() {
        let no_key = UPGRADE.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "");
        match parse_head(no_key.as_bytes()) {
            Err(HttpError::BadUpgrade(m)) => assert!(m.contains("Sec-WebSocket-Key")),
            other => panic!("{other:?}"),
        }
    }
}
