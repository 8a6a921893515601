//! Plain HTTP on the gateway port: `/healthz` for probes, `/metrics` for
//! Prometheus, the dashboard at `/`. One request per connection
//! (`Connection: close`); answers carry an ETag and honour
//! `If-None-Match` with 304.

use super::Gateway;
use crate::net::http::{self, PlainRequest, Response};
use crate::net::ConnId;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Cache keys of the HTTP answers.
const HEALTHZ_KEY: &str = "http:/healthz";
const METRICS_KEY: &str = "http:/metrics";
/// Prometheus text format.
const METRICS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn not_modified(req: &PlainRequest, etag: &str) -> bool {
    req.if_none_match
        .as_deref()
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

impl Gateway {
    pub(super) fn plain_http(&mut self, id: ConnId, req: &PlainRequest, now: Instant) -> Vec<u8> {
        self.stats.http_requests += 1;
        let path = req.path.split('?').next().unwrap_or(&req.path);
        let head = req.method == "HEAD";
        if req.method != "GET" && !head {
            return http::response(
                405,
                "Method Not Allowed",
                "text/plain",
                "only GET and HEAD are served here\n",
                "Allow: GET, HEAD\r\n",
            );
        }
        let sv = &self.cfg.server;
        if req.origin.is_some() && !http::host_is_ours(req.host.as_deref(), &sv.bind, &sv.hostnames)
        {
            // DNS rebinding: a browser page under a foreign name.
            self.stats.origin_refused += 1;
            return http::response(
                403,
                "Forbidden",
                "text/plain",
                "Host is not a name this gateway answers to (server.hostnames)\n",
                "",
            );
        }
        let throttled = self.conns.get(id).and_then(|c| c.throttled);
        if let (Some(ms), false) = (throttled, path == "/healthz") {
            let secs = ms.div_ceil(1000).max(1);
            return http::response(
                429,
                "Too Many Requests",
                "text/plain",
                "too many new connections from this address (rateLimits.connectionsPerMinute)\n",
                &format!("Retry-After: {secs}\r\n"),
            );
        }
        match path {
            "/healthz" => self.healthz(req, head, now),
            "/metrics" => self.metrics_http(id, req, head, now),
            // Browsers ask for it on every page; no icon, no 404 in the console.
            "/favicon.ico" => Response::new(204, "No Content", "image/x-icon", b"")
                .cache_control("max-age=86400")
                .build(true),
            _ => match crate::dashboard::asset(path) {
                Some((ctype, body)) => self.static_asset(req, head, ctype, body),
                None => http::response(
                    404,
                    "Not Found",
                    "text/plain",
                    "clawgate: WebSocket (OpenClaw gateway protocol) on any path; GET / for the dashboard, /healthz, /metrics\n",
                    "",
                ),
            },
        }
    }

    /// A cached answer, or `render` stored for `ttl`.
    fn cached(
        &mut self,
        key: &str,
        ttl: Duration,
        now: Instant,
        render: impl FnOnce(&mut Gateway) -> String,
    ) -> (Rc<str>, Rc<str>) {
        if let Some(hit) = self.cache.get(key, now) {
            return hit;
        }
        let body = render(self);
        let etag = self.cache.put(key, body.clone(), ttl, now);
        (body.into(), etag)
    }

    fn http_answer(
        &mut self,
        req: &PlainRequest,
        head: bool,
        status: (u16, &str),
        ctype: &str,
        body: &str,
        etag: &str,
    ) -> Vec<u8> {
        let etag_line = format!("ETag: {etag}\r\n");
        if not_modified(req, etag) {
            self.cache.stats.not_modified += 1;
            return Response::new(304, "Not Modified", ctype, b"")
                .cache_control("no-cache")
                .header(&etag_line)
                .build(true);
        }
        Response::new(status.0, status.1, ctype, body.as_bytes())
            .cache_control("no-cache")
            .header(&etag_line)
            .build(head)
    }

    pub(super) fn healthz(&mut self, req: &PlainRequest, head: bool, now: Instant) -> Vec<u8> {
        // A failing store (disk full) or a shutdown is unhealthy; memory
        // pressure is reported but still serving.
        let ok = !self.is_shutting_down() && !self.chat.store_failing();
        let ttl = Duration::from_millis(self.cfg.cache.health_ttl_ms);
        let (body, etag) = self.cached(HEALTHZ_KEY, ttl, now, |gw| {
            serde_json::json!({
                "ok": ok,
                "uptimeMs": gw.uptime_ms(now),
                "memory": gw.memory.level,
                "connections": gw.counts().0,
            })
            .to_string()
        });
        // The cached body may predate a state change: the status follows now.
        let status = if ok {
            (200, "OK")
        } else {
            (503, "Service Unavailable")
        };
        self.http_answer(req, head, status, "application/json", &body, &etag)
    }

    fn metrics_http(
        &mut self,
        id: ConnId,
        req: &PlainRequest,
        head: bool,
        now: Instant,
    ) -> Vec<u8> {
        if self.cfg.metrics.require_auth {
            if let Err(resp) = self.http_auth(id, req, now) {
                return resp;
            }
        }
        let ttl = Duration::from_millis(self.cfg.cache.metrics_ttl_ms);
        let (body, etag) = self.cached(METRICS_KEY, ttl, now, |gw| gw.render_metrics(now));
        self.http_answer(req, head, (200, "OK"), METRICS_TYPE, &body, &etag)
    }

    /// `Authorization: Bearer <token or password>`, throttled per address
    /// like a WebSocket `connect`.
    pub(super) fn http_auth(
        &mut self,
        id: ConnId,
        req: &PlainRequest,
        now: Instant,
    ) -> Result<(), Vec<u8>> {
        let ip = self.conns.get(id).map(|c| c.addr.ip());
        let Some(ip) = ip else {
            return Err(Vec::new());
        };
        if let Err(retry) = self.limiter.check(ip, now) {
            let secs = retry.as_secs().max(1);
            return Err(http::response(
                429,
                "Too Many Requests",
                "text/plain",
                "too many failed authentication attempts from this address\n",
                &format!("Retry-After: {secs}\r\n"),
            ));
        }
        let presented = req
            .authorization
            .as_deref()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        match super::auth::check(&self.secrets, presented, presented) {
            Ok(()) => {
                self.limiter.record_success(ip);
                Ok(())
            }
            Err(f) => {
                if presented.is_some() {
                    self.limiter.record_failure(ip, now);
                }
                self.stats.reject(super::stats::RejectReason::Auth);
                Err(http::response(
                    401,
                    "Unauthorized",
                    "text/plain",
                    &format!(
                        "{}: send `Authorization: Bearer <gateway token>` (or set metrics.requireAuth false)\n",
                        f.message()
                    ),
                    "WWW-Authenticate: Bearer realm=\"clawgate\"\r\n",
                ))
            }
        }
    }

    fn static_asset(
        &mut self,
        req: &PlainRequest,
        head: bool,
        ctype: &str,
        body: &'static str,
    ) -> Vec<u8> {
        let etag = crate::gateway::cache::etag_of(body.as_bytes());
        let extra = format!("ETag: {etag}\r\n{}", crate::dashboard::SECURITY_HEADERS);
        if not_modified(req, &etag) {
            self.cache.stats.not_modified += 1;
            return Response::new(304, "Not Modified", ctype, b"")
                .cache_control("no-cache")
                .header(&extra)
                .build(true);
        }
        Response::new(200, "OK", ctype, body.as_bytes())
            .cache_control("no-cache")
            .header(&extra)
            .build(head)
    }

    /// The Prometheus exposition of a fresh `health` snapshot.
    pub fn render_metrics(&mut self, now: Instant) -> String {
        let snap = super::methods::health_snapshot(self, now);
        let v = serde_json::to_value(&snap).unwrap_or_default();
        let mut out = String::with_capacity(32 * 1024);
        crate::observe::prom::render(&v, crate::observe::prom::FAMILIES, &mut out);
        out
    }
}
