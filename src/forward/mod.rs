//! Audit forwarding: audit rows, once written locally, are POSTed in
//! batches to an HTTP collector (a generic JSON webhook or Splunk HEC).
//!
//! The loop owns the queue and the circuit breaker; the POST itself runs on
//! the worker pool with a hard deadline, one batch at a time, so a dead or
//! slow collector costs at most one worker for `timeoutMs` and never the
//! loop. The queue is bounded (oldest dropped and counted); the local audit
//! table is the record, forwarding is a copy.

use crate::config::{AuditForwardConfig, ForwardFormat};
use serde::Serialize;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Bytes of a collector's answer read (status line and a little more).
const RESPONSE_HEAD_BYTES: usize = 1024;

/// Where batches go: `http://host[:port][/path]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let rest = if let Some(r) = url.strip_prefix("http://") {
            r
        } else if url.starts_with("https://") {
            return Err("https is not built in; forward to a local TLS relay (stunnel, a collector agent) over http://".into());
        } else {
            return Err("expected a URL such as http://127.0.0.1:8088/services/collector".into());
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err("expected host[:port] after http:// (no user info)".into());
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => match p.parse() {
                Ok(port) => (h, port),
                Err(_) => return Err(format!("bad port `{p}`")),
            },
            _ => (authority, 80),
        };
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err("the path must not contain spaces or control characters".into());
        }
        Ok(Endpoint {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            path: path.to_string(),
        })
    }
}

/// Circuit breaker states, as in metrics (`0` closed, `1` open, `2` half-open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

/// Closed → (threshold consecutive failures) → Open → (openMs) → HalfOpen:
/// one trial; success closes, failure opens again.
#[derive(Debug)]
pub struct Breaker {
    pub state: BreakerState,
    open_until: Option<Instant>,
    failures: u32,
    threshold: u32,
    open_for: Duration,
    pub opened: u64,
}

impl Breaker {
    pub fn new(threshold: u32, open_for: Duration) -> Breaker {
        Breaker {
            state: BreakerState::Closed,
            open_until: None,
            failures: 0,
            threshold: threshold.max(1),
            open_for,
            opened: 0,
        }
    }

    fn set(&mut self, new: BreakerState) {
        if new != self.state {
            log::info!("audit forward circuit: {:?} -> {:?}", self.state, new);
            self.state = new;
        }
    }

    /// May a batch go now? Moves Open to HalfOpen once its time is up.
    pub fn allow(&mut self, now: Instant) -> bool {
        match self.state {
            BreakerState::Closed | BreakerState::HalfOpen => true,
            BreakerState::Open => {
                if self.open_until.is_some_and(|t| now >= t) {
                    self.set(BreakerState::HalfOpen);
                    true
                } else {
                    false
                }
            }
        }
    }

    pub fn on_success(&mut self) {
        self.failures = 0;
        self.open_until = None;
        self.set(BreakerState::Closed);
    }

    pub fn on_failure(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        if self.state == BreakerState::HalfOpen || self.failures >= self.threshold {
            self.open_until = Some(now + self.open_for);
            if self.state != BreakerState::Open {
                self.opened += 1;
            }
            self.set(BreakerState::Open);
        }
    }

    /// When an open circuit will allow a trial.
    pub fn open_until(&self) -> Option<Instant> {
        self.open_until
    }
}

#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ForwardStats {
    pub queued: u64,
    pub sent: u64,
    pub batches: u64,
    pub failures: u64,
    pub retried: u64,
    pub dropped: u64,
    pub short_circuited: u64,
}

/// The loop side: queue, breaker, the batch in flight.
pub struct Forwarder {
    pub endpoint: Endpoint,
    cfg: AuditForwardConfig,
    queue: VecDeque<String>,
    in_flight: Option<Vec<String>>,
    pub breaker: Breaker,
    pub stats: ForwardStats,
    /// Bytes held in the queue and the batch in flight.
    held: usize,
}

impl Forwarder {
    pub fn new(cfg: &AuditForwardConfig) -> Option<Forwarder> {
        let endpoint = Endpoint::parse(cfg.url.as_deref()?).ok()?;
        Some(Forwarder {
            endpoint,
            breaker: Breaker::new(cfg.failure_threshold, Duration::from_millis(cfg.open_ms)),
            cfg: cfg.clone(),
            queue: VecDeque::new(),
            in_flight: None,
            stats: ForwardStats::default(),
            held: 0,
        })
    }

    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    pub fn held_bytes(&self) -> usize {
        self.held
    }

    pub fn in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Queues one serialized event; past `maxQueue` the oldest goes.
    pub fn push(&mut self, event: String) {
        self.held += event.len();
        self.queue.push_back(event);
        self.stats.queued += 1;
        self.trim();
    }

    fn trim(&mut self) {
        while self.queue.len() > self.cfg.max_queue {
            if let Some(old) = self.queue.pop_front() {
                self.held -= old.len();
                self.stats.dropped += 1;
            }
        }
    }

    /// A full batch is waiting (send before the flush timer).
    pub fn batch_ready(&self) -> bool {
        self.queue.len() >= self.cfg.batch_size
    }

    /// The next batch's request body, if one may go now.
    pub fn take_batch(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.in_flight.is_some() || self.queue.is_empty() {
            return None;
        }
        if !self.breaker.allow(now) {
            self.stats.short_circuited += 1;
            return None;
        }
        let n = self.queue.len().min(self.cfg.batch_size);
        let batch: Vec<String> = self.queue.drain(..n).collect();
        let body = encode(self.cfg.format, &batch);
        self.in_flight = Some(batch);
        Some(body)
    }

    /// The POST's outcome: sent, or put back at the front for a retry.
    pub fn on_result(&mut self, result: &Result<u16, String>, now: Instant) {
        let Some(batch) = self.in_flight.take() else {
            return;
        };
        match result {
            Ok(_) => {
                self.stats.sent += batch.len() as u64;
                self.stats.batches += 1;
                self.held -= batch.iter().map(String::len).sum::<usize>();
                self.breaker.on_success();
            }
            Err(e) => {
                self.stats.failures += 1;
                self.stats.retried += batch.len() as u64;
                log::debug!("audit forward to {}: {e}", self.endpoint.host);
                for ev in batch.into_iter().rev() {
                    self.queue.push_front(ev);
                }
                self.trim();
                self.breaker.on_failure(now);
            }
        }
    }

    /// The HTTP request for `body`, ready to write.
    pub fn request(&self, body: &[u8]) -> Vec<u8> {
        let auth = match (&self.cfg.token, self.cfg.format) {
            (Some(t), ForwardFormat::Splunk) => format!("Authorization: Splunk {t}\r\n"),
            (Some(t), ForwardFormat::Json) => format!("Authorization: Bearer {t}\r\n"),
            (None, _) => String::new(),
        };
        let host = if self.endpoint.port == 80 {
            self.endpoint.host.clone()
        } else {
            format!("{}:{}", self.endpoint.host, self.endpoint.port)
        };
        let mut req = format!(
            "POST {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: clawgate/{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{auth}Connection: close\r\n\r\n",
            self.endpoint.path,
            env!("CARGO_PKG_VERSION"),
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        req
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.cfg.timeout_ms)
    }

    pub fn flush_interval(&self) -> Duration {
        Duration::from_millis(self.cfg.flush_interval_ms)
    }
}

/// A JSON array (generic webhook) or concatenated HEC events (Splunk).
fn encode(format: ForwardFormat, batch: &[String]) -> Vec<u8> {
    let mut out = Vec::with_capacity(batch.iter().map(|e| e.len() + 64).sum());
    match format {
        ForwardFormat::Json => {
            out.push(b'[');
            for (i, e) in batch.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(e.as_bytes());
            }
            out.push(b']');
        }
        ForwardFormat::Splunk => {
            for e in batch {
                // HEC wants epoch seconds; the row's `ts` is milliseconds.
                let ts = serde_json::from_str::<serde_json::Value>(e)
                    .ok()
                    .and_then(|v| v["ts"].as_u64())
                    .unwrap_or(0);
                out.extend_from_slice(
                    format!(
                        r#"{{"time":{}.{:03},"sourcetype":"clawgate:audit","source":"clawgate","event":"#,
                        ts / 1000,
                        ts % 1000
                    )
                    .as_bytes(),
                );
                out.extend_from_slice(e.as_bytes());
                out.push(b'}');
            }
        }
    }
    out
}

/// One blocking POST with a deadline over connect, write and the answer's
/// status line (runs on a worker). `Ok(status)` for 2xx.
pub fn post(endpoint: &Endpoint, request: &[u8], timeout: Duration) -> Result<u16, String> {
    let deadline = Instant::now() + timeout;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("timed out after {} ms", timeout.as_millis()))
    };
    let addrs: Vec<SocketAddr> = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", endpoint.host))?
        .collect();
    let addr = addrs
        .first()
        .ok_or_else(|| format!("{} has no address", endpoint.host))?;
    let mut s = TcpStream::connect_timeout(addr, left()?).map_err(|e| format!("connect: {e}"))?;
    s.set_write_timeout(Some(left()?))
        .map_err(|e| e.to_string())?;
    s.write_all(request).map_err(|e| format!("send: {e}"))?;
    let mut head = Vec::with_capacity(RESPONSE_HEAD_BYTES);
    let mut buf = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < RESPONSE_HEAD_BYTES {
        s.set_read_timeout(Some(left()?))
            .map_err(|e| e.to_string())?;
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("answer: {e}")),
        }
    }
    let line = String::from_utf8_lossy(&head);
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| "no HTTP status line in the answer".to_string())?;
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err(format!("HTTP {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_endpoint_parse() {
        let e = Endpoint::parse("http://127.0.0.1:8088/services/collector").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("127.0.0.1", 8088));
        assert_eq!(e.path, "/services/collector");
        assert_eq!(Endpoint::parse("http://logs").unwrap().port, 80);
        assert_eq!(Endpoint::parse("http://[::1]:9/x").unwrap().host, "::1");
        assert!(Endpoint::parse("https://x")
            .unwrap_err()
            .contains("TLS relay"));
        assert!(Endpoint::parse("ftp://x").is_err());
        assert!(Endpoint::parse("http://a:b/").unwrap_err().contains("port"));
        assert!(Endpoint::parse("http://u@h/").is_err());
    }

    #[test]
    fn test_breaker_opens_half_opens_and_closes_by_stepping_time() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, Duration::from_secs(30));
        for _ in 0..2 {
            assert!(b.allow(t0));
            b.on_failure(t0);
        }
        assert_eq!(b.state, BreakerState::Closed);
        b.on_failure(t0);
        assert_eq!(b.state, BreakerState::Open);
        assert!(!b.allow(t0 + Duration::from_secs(29)));
        // Time is up: one trial, which fails: open again for another 30 s.
        assert!(b.allow(t0 + Duration::from_secs(30)));
        assert_eq!(b.state, BreakerState::HalfOpen);
        b.on_failure(t0 + Duration::from_secs(30));
        assert_eq!(b.state, BreakerState::Open);
        assert!(!b.allow(t0 + Duration::from_secs(59)));
        assert!(b.allow(t0 + Duration::from_secs(60)));
        b.on_success();
        assert_eq!(b.state, BreakerState::Closed);
        assert_eq!(b.opened, 2);
    }

    fn cfg() -> AuditForwardConfig {
        AuditForwardConfig {
            url: Some("http://127.0.0.1:1/".into()),
            batch_size: 2,
            max_queue: 4,
            failure_threshold: 1,
            ..Default::default()
        }
    }

    #[test]
    fn test_queue_is_bounded_and_failed_batches_go_back_in_order() {
        let t0 = Instant::now();
        let mut f = Forwarder::new(&cfg()).unwrap();
        for i in 0..6 {
            f.push(format!(r#"{{"ts":{i}}}"#));
        }
        assert_eq!((f.queue_len(), f.stats.dropped), (4, 2));
        let body = f.take_batch(t0).unwrap();
        assert_eq!(body, br#"[{"ts":2},{"ts":3}]"#);
        assert!(f.take_batch(t0).is_none(), "one batch in flight");
        f.on_result(&Err("down".into()), t0);
        // Back in front, in order; the circuit (threshold 1) is open.
        assert_eq!(f.queue_len(), 4);
        assert!(f.take_batch(t0).is_none());
        let later = t0 + Duration::from_secs(30);
        assert_eq!(f.take_batch(later).unwrap(), br#"[{"ts":2},{"ts":3}]"#);
        f.on_result(&Ok(200), later);
        assert_eq!(f.stats.sent, 2);
        assert_eq!(f.breaker.state, BreakerState::Closed);
        assert_eq!(f.held_bytes(), 2 * r#"{"ts":4}"#.len());
    }

    #[test]
    fn test_splunk_encoding_wraps_events() {
        let body = encode(
            ForwardFormat::Splunk,
            &[r#"{"ts":1234567,"kind":"exec"}"#.into()],
        );
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["time"].as_f64().unwrap(), 1234.567);
        assert_eq!(v["event"]["kind"], "exec");
        assert_eq!(v["sourcetype"], "clawgate:audit");
    }
}
