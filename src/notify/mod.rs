//! Approvals on a phone: when an approval is raised, a notification goes to
//! each configured channel — **ntfy** (a JSON publish with action buttons)
//! or a **generic webhook** (JSON) — carrying single-use signed links.
//!
//! A link is `GET {publicUrl}/approve/{id}/{decision}/{expiresMs}/{sig}`
//! where `sig` is HMAC-SHA256(per-gateway secret, "id|decision|expiresMs").
//! The GET only shows a confirmation page (link previewers and chat apps
//! fetch links; they must decide nothing); its form POSTs to the same path
//! to decide. A link dies with its approval (first decision wins, once),
//! at its expiry, and is useless for any other approval or decision.
//!
//! This module is pure (signing, checking, message shapes, the bounded
//! queue and its breaker); the loop side is `gateway/notify.rs`, the POST
//! runs on the worker pool through `forward::post`.

use crate::config::{NotifyChannel, NotifyConfig, NotifyKind};
use crate::forward::{Breaker, Endpoint};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Bytes of the per-gateway link secret.
pub const SECRET_BYTES: usize = 32;
/// Hex characters of a link signature kept (128 bits).
const SIG_HEX: usize = 32;
/// Characters of the command a webhook carries (the bound counted in
/// `config::NOTIFY_REQUEST_BYTES`).
const WEBHOOK_COMMAND_CHARS: usize = 2000;
/// The path prefix of signed links.
pub const LINK_PREFIX: &str = "/approve/";

/// HMAC-SHA256 (RFC 2104) over `msg` with `key`.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut ipad = [0x36u8; BLOCK];
    let mut opad = [0x5cu8; BLOCK];
    for i in 0..BLOCK {
        ipad[i] ^= k[i];
        opad[i] ^= k[i];
    }
    let inner = Sha256::new()
        .chain_update(ipad)
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(opad)
        .chain_update(inner)
        .finalize()
        .into()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Constant-time comparison of two ASCII strings.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The decisions a link can carry.
pub const DECISIONS: &[&str] = &["allow-once", "allow-always", "deny"];

/// The signature of one link: approval, decision, expiry and the channel
/// it was sent on (named in the audit row when it decides).
pub fn sign(secret: &[u8], id: &str, decision: &str, expires_ms: u64, channel: &str) -> String {
    let mac = hmac_sha256(
        secret,
        format!("{id}|{decision}|{expires_ms}|{channel}").as_bytes(),
    );
    hex(&mac)[..SIG_HEX].to_string()
}

/// The path of a signed link.
pub fn link_path(
    secret: &[u8],
    id: &str,
    decision: &str,
    expires_ms: u64,
    channel: &str,
) -> String {
    format!(
        "{LINK_PREFIX}{}/{decision}/{expires_ms}/{}/{}",
        pct(id),
        pct(channel),
        sign(secret, id, decision, expires_ms, channel)
    )
}

/// Percent-encodes everything but unreserved characters (ids are ours,
/// but an `exec.approval.request` may choose one).
fn pct(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

fn unpct(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A link as parsed from a request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub id: String,
    pub decision: String,
    pub expires_ms: u64,
    pub channel: String,
}

/// Why a link is refused (403 with this text; nothing changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkError {
    Malformed,
    BadSignature,
    Expired,
}

impl LinkError {
    pub fn reason(&self) -> &'static str {
        match self {
            LinkError::Malformed => "this is not an approval link",
            LinkError::BadSignature => "this link's signature does not match: it was altered, or made for another approval or gateway",
            LinkError::Expired => "this link has expired",
        }
    }
}

/// Checks a link path (`/approve/...`) against the secret and the clock.
pub fn check_link(secret: &[u8], path: &str, now_ms: u64) -> Result<Link, LinkError> {
    let rest = path
        .split('?')
        .next()
        .and_then(|p| p.strip_prefix(LINK_PREFIX))
        .ok_or(LinkError::Malformed)?;
    let parts: Vec<&str> = rest.split('/').collect();
    let [id, decision, expires, channel, sig] = parts[..] else {
        return Err(LinkError::Malformed);
    };
    let id = unpct(id)
        .filter(|i| !i.is_empty() && i.len() <= 128)
        .ok_or(LinkError::Malformed)?;
    let channel = unpct(channel)
        .filter(|c| c.len() <= 64)
        .ok_or(LinkError::Malformed)?;
    if !DECISIONS.contains(&decision) || sig.len() != SIG_HEX {
        return Err(LinkError::Malformed);
    }
    let expires_ms: u64 = expires.parse().map_err(|_| LinkError::Malformed)?;
    if !same(&sign(secret, &id, decision, expires_ms, &channel), sig) {
        return Err(LinkError::BadSignature);
    }
    if now_ms >= expires_ms {
        return Err(LinkError::Expired);
    }
    Ok(Link {
        id,
        decision: decision.to_string(),
        expires_ms,
        channel,
    })
}

/// What a notification says about one approval.
#[derive(Debug, Clone)]
pub struct Raised {
    pub id: String,
    pub command: String,
    pub requester: String,
    pub session: String,
    pub severity: String,
    pub why: String,
    pub expires_ms: u64,
}

/// Label of each decision on a button.
fn label(decision: &str) -> &'static str {
    match decision {
        "allow-once" => "Allow once",
        "allow-always" => "Allow always",
        _ => "Deny",
    }
}

/// The body of one channel's notification.
pub fn message(ch: &NotifyChannel, base_url: &str, secret: &[u8], a: &Raised) -> Value {
    let base = base_url.trim_end_matches('/');
    let link = |d: &str| {
        format!(
            "{base}{}",
            link_path(secret, &a.id, d, a.expires_ms, &ch.name)
        )
    };
    let short: String = a.command.chars().take(300).collect();
    let text = format!(
        "{short}\nby {} · {} · {}",
        a.requester,
        a.severity,
        if a.why.is_empty() {
            "needs a person"
        } else {
            &a.why
        }
    );
    match ch.kind {
        NotifyKind::Ntfy => {
            // ntfy's JSON publish: POST to the server root with the topic in
            // the body; "view" actions open the link (the confirmation page).
            let mut actions = vec![
                json!({"action": "view", "label": label("allow-once"), "url": link("allow-once"), "clear": true}),
                json!({"action": "view", "label": label("deny"), "url": link("deny"), "clear": true}),
            ];
            if ch.allow_always_button {
                actions.insert(1, json!({"action": "view", "label": label("allow-always"), "url": link("allow-always"), "clear": true}));
            }
            json!({
                "topic": ch.topic.clone().unwrap_or_default(),
                "title": format!("clawgate: approve? ({})", a.severity),
                "message": text,
                "priority": ch.priority,
                "tags": ["lock"],
                "click": link("allow-once"),
                "actions": actions,
            })
        }
        NotifyKind::Webhook => json!({
            "event": "exec.approval.requested",
            "approval": {
                "id": a.id,
                "command": a.command.chars().take(WEBHOOK_COMMAND_CHARS).collect::<String>(),
                "requester": a.requester,
                "session": a.session, "severity": a.severity, "why": a.why,
                "expiresAtMs": a.expires_ms,
            },
            "links": {
                "allowOnce": link("allow-once"),
                "allowAlways": link("allow-always"),
                "deny": link("deny"),
            },
            "text": text,
        }),
    }
}

/// The HTTP request for one notification.
pub fn request(ch: &NotifyChannel, endpoint: &Endpoint, body: &[u8]) -> Vec<u8> {
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nUser-Agent: clawgate\r\n",
        endpoint.path,
        endpoint.host,
        endpoint.port,
        body.len()
    );
    if let Some(t) = &ch.token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    head.push_str("\r\n");
    let mut r = head.into_bytes();
    r.extend_from_slice(body);
    r
}

/// Per-channel counters (metrics and `health`).
#[derive(Debug, Default, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifyStats {
    pub sent: u64,
    pub failed: u64,
    pub dropped: u64,
    pub queued: usize,
}

/// One notification waiting: channel index, the request bytes.
struct Pending {
    channel: usize,
    request: Vec<u8>,
}

/// The bounded queue, one breaker per channel, one POST in flight.
pub struct Notifier {
    pub channels: Vec<(NotifyChannel, Endpoint)>,
    breakers: Vec<Breaker>,
    queue: VecDeque<Pending>,
    max_queue: usize,
    in_flight: Option<usize>,
    pub timeout: Duration,
    pub stats: NotifyStats,
}

impl Notifier {
    /// `None` when no channel is configured (checked by config validation).
    pub fn new(cfg: &NotifyConfig) -> Option<Notifier> {
        let channels: Vec<_> = cfg
            .channels
            .iter()
            .filter_map(|c| Endpoint::parse(&c.url).ok().map(|e| (c.clone(), e)))
            .collect();
        if channels.is_empty() {
            return None;
        }
        Some(Notifier {
            breakers: channels
                .iter()
                .map(|_| Breaker::new(cfg.failure_threshold, Duration::from_millis(cfg.open_ms)))
                .collect(),
            channels,
            queue: VecDeque::new(),
            max_queue: cfg.max_queue,
            in_flight: None,
            timeout: Duration::from_millis(cfg.timeout_ms),
            stats: NotifyStats::default(),
        })
    }

    /// Queues one notification per channel; the oldest go past the bound.
    pub fn raise(&mut self, base_url: &str, secret: &[u8], a: &Raised) {
        for i in 0..self.channels.len() {
            let (ch, ep) = &self.channels[i];
            let body = message(ch, base_url, secret, a).to_string();
            let request = request(ch, ep, body.as_bytes());
            if self.queue.len() >= self.max_queue {
                self.queue.pop_front();
                self.stats.dropped += 1;
            }
            self.queue.push_back(Pending {
                channel: i,
                request,
            });
        }
        self.stats.queued = self.queue.len();
    }

    /// The next POST to send (`None` while one is in flight, the queue is
    /// empty, or the head's channel is open-circuited: it is dropped and
    /// counted, a stale approval prompt is worse than none).
    pub fn next(&mut self, now: Instant) -> Option<(usize, Endpoint, Vec<u8>)> {
        if self.in_flight.is_some() {
            return None;
        }
        while let Some(p) = self.queue.pop_front() {
            self.stats.queued = self.queue.len();
            if !self.breakers[p.channel].allow(now) {
                self.stats.dropped += 1;
                continue;
            }
            self.in_flight = Some(p.channel);
            return Some((p.channel, self.channels[p.channel].1.clone(), p.request));
        }
        None
    }

    pub fn on_result(&mut self, ok: bool, now: Instant) {
        if let Some(c) = self.in_flight.take() {
            if ok {
                self.stats.sent += 1;
                self.breakers[c].on_success();
            } else {
                self.stats.failed += 1;
                self.breakers[c].on_failure(now);
            }
        }
    }

    pub fn held_bytes(&self) -> usize {
        self.queue.iter().map(|p| p.request.len()).sum()
    }
}

/// The confirmation page a link's GET shows: what is asked, and one button
/// that POSTs the decision. No script; the form posts to the same path.
pub fn confirm_page(link: &Link, a: &Raised, action_path: &str) -> String {
    let verb = label(&link.decision);
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>clawgate: {verb}?</title><style>{CSS}</style></head><body><main><h1>{verb}?</h1><p class=\"cmd\"><code id=\"command\">{}</code></p><dl><dt>asked by</dt><dd id=\"requester\">{}</dd><dt>session</dt><dd>{}</dd><dt>coach</dt><dd>{} — {}</dd></dl><form method=\"post\" action=\"{}\"><button id=\"confirm\" class=\"{}\" type=\"submit\">{verb}</button></form><p class=\"muted\">Opening this page decided nothing; the button does. The link works once.</p></main></body></html>",
        esc(&a.command),
        esc(&a.requester),
        esc(&a.session),
        esc(&a.severity),
        esc(&a.why),
        esc(action_path),
        if link.decision == "deny" { "deny" } else { "allow" },
    )
}

/// A short page with a result or a refusal.
pub fn result_page(title: &str, text: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>clawgate: {}</title><style>{CSS}</style></head><body><main><h1 id=\"result\">{}</h1><p id=\"reason\">{}</p></main></body></html>",
        esc(title),
        esc(title),
        esc(text)
    )
}

const CSS: &str = "body{font:16px system-ui,sans-serif;margin:0;background:#1a202c;color:#e2e8f0}main{max-width:36em;margin:auto;padding:1em}code{white-space:pre-wrap;word-break:break-all;background:#2d3748;padding:.5em;display:block;border-radius:4px}dt{color:#a0aec0}button{font-size:1.2em;padding:.7em 2em;border:0;border-radius:6px;color:#fff}.allow{background:#2f855a}.deny{background:#c53030}.muted{color:#a0aec0;font-size:.85em}";

/// HTML-escapes text.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// The headers of the link pages: no scripts at all, forms only to self.
pub const PAGE_HEADERS: &str = "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'\r\nX-Frame-Options: DENY\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\nCache-Control: no-store\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_hmac_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn test_links_are_bound_to_id_decision_and_expiry() {
        let k = [7u8; 32];
        let p = link_path(&k, "ap-1", "allow-once", 2_000, "phone");
        assert_eq!(check_link(&k, &p, 1_000).unwrap().id, "ap-1");
        assert_eq!(check_link(&k, &p, 2_000), Err(LinkError::Expired));
        // Another approval, decision or expiry under the same signature.
        for forged in [
            p.replace("ap-1", "ap-2"),
            p.replace("allow-once", "allow-always"),
            p.replace("/2000/", "/9000/"),
            p.replace("/phone/", "/webhook/"),
        ] {
            assert_eq!(
                check_link(&k, &forged, 1_000),
                Err(LinkError::BadSignature),
                "{forged}"
            );
        }
        assert_eq!(
            check_link(&[8u8; 32], &p, 1_000),
            Err(LinkError::BadSignature)
        );
        assert_eq!(check_link(&k, "/approve/x", 1), Err(LinkError::Malformed));
        assert_eq!(
            check_link(&k, "/approve/a/sudo/1/c/00", 1),
            Err(LinkError::Malformed)
        );
        let odd = link_path(&k, "a b/c", "deny", 5, "p");
        assert_eq!(check_link(&k, &odd, 1).unwrap().id, "a b/c");
    }

    #[test]
    fn test_pages_escape() {
        assert_eq!(esc("<script>&\"'"), "&lt;script&gt;&amp;&quot;&#39;");
    }
}
