//! The handshake of docs/protocol.md section 3 on an upgraded socket: the first
//! frame must be `connect`; then throttle, shape, protocol, credentials and
//! the pool limits, in that order. Each refusal answers an error `res` and
//! closes with the code of section 4.

use super::stats::RejectReason;
use super::{auth, methods, wall_ms, Gateway, Session, Timer, RETRY_AFTER_FULL};
use crate::net::conn::ws_config;
use crate::net::{ConnId, ConnState};
use crate::protocol::handshake::{self, ConnectError};
use crate::protocol::{self, close, ErrorCode, ErrorShape, Request};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

impl Gateway {
    pub(super) fn on_connect_frame(&mut self, id: ConnId, text: &str, now: Instant) {
        let first_must_be_connect = || {
            ErrorShape::invalid("invalid handshake: first request must be connect")
                .detail("INVALID_HANDSHAKE", Value::Null)
        };
        let req = match protocol::parse_request(text) {
            Ok(r) if r.method == "connect" => r,
            Ok(r) => {
                return self.fail_handshake(
                    id,
                    &r.id,
                    first_must_be_connect(),
                    close::POLICY,
                    "invalid handshake",
                    now,
                )
            }
            Err(fe) => {
                let rid = fe.reply_id().to_string();
                return self.fail_handshake(
                    id,
                    &rid,
                    first_must_be_connect(),
                    close::POLICY,
                    "invalid handshake",
                    now,
                );
            }
        };
        if let Some(err) = self.admission_refusal(id) {
            return self.fail_handshake(
                id,
                &req.id,
                err,
                close::TRY_AGAIN_LATER,
                "try again later",
                now,
            );
        }
        match self.authenticate(id, &req, now) {
            Ok(session) => self.complete_handshake(id, &req.id, session, now),
            Err((err, code, reason)) => self.fail_handshake(id, &req.id, err, code, reason, now),
        }
    }

    /// Refusals that depend on the gateway, not on the request: the
    /// address's connection rate and memory pressure. Both are retryable.
    fn admission_refusal(&mut self, id: ConnId) -> Option<ErrorShape> {
        let conn = self.conns.get(id)?;
        if let Some(retry) = conn.throttled {
            let per_minute = self.cfg.rate_limits.connections_per_minute;
            return Some(
                ErrorShape::new(
                    ErrorCode::Unavailable,
                    format!("too many new connections from this address (rateLimits.connectionsPerMinute = {per_minute})"),
                )
                .detail("RATE_LIMITED", json!({"limit": "connectionsPerMinute", "max": per_minute, "retryAfterMs": retry}))
                .retry_after(retry),
            );
        }
        if self.memory.refusing() {
            self.stats.memory_refused += 1;
            return Some(self.memory_pressure_error());
        }
        None
    }

    /// Checks a `connect` request: throttle, shape, protocol, credentials.
    /// On failure: the error, the close code and the close reason.
    pub(super) fn authenticate(
        &mut self,
        id: ConnId,
        req: &Request,
        now: Instant,
    ) -> Result<Session, (ErrorShape, u16, &'static str)> {
        let conn = self.conns.get(id).expect("caller holds a live id");
        let ip = conn.addr.ip();
        if let Err(retry) = self.limiter.check(ip, now) {
            self.stats.reject(RejectReason::AuthRateLimited);
            let err = ErrorShape::invalid("unauthorized: too many failed authentication attempts")
                .detail(
                    "AUTH_RATE_LIMITED",
                    json!({"retryAfterMs": retry.as_millis() as u64}),
                )
                .retry_after(retry.as_millis() as u64);
            return Err((err, close::TRY_AGAIN_LATER, "auth rate limited"));
        }
        let params = match handshake::parse_connect(req.params.as_ref()) {
            Ok(p) => p,
            Err(e @ ConnectError::ProtocolMismatch { .. }) => {
                self.stats.reject(RejectReason::ProtocolMismatch);
                return Err((e.to_error(), close::PROTOCOL_ERROR, "protocol mismatch"));
            }
            Err(e) => {
                self.stats.reject(RejectReason::BadConnect);
                return Err((e.to_error(), close::POLICY, "invalid connect params"));
            }
        };
        // The operator's shared secret, else a credential (its scopes are
        // fixed: the request may narrow them, never widen them).
        let mut credential = None;
        if let Err(f) = auth::check(
            &self.secrets,
            params.token.as_deref(),
            params.password.as_deref(),
        ) {
            let found = params
                .token
                .as_deref()
                .filter(|t| t.len() <= auth::MAX_SECRET_LEN)
                .and_then(|t| {
                    self.store
                        .credential_by_secret(&auth::secret_sha256(t))
                        .unwrap_or_else(|e| {
                            log::warn!("credential lookup failed: {e}");
                            None
                        })
                });
            match found {
                Some(c) => credential = Some(c),
                None => {
                    self.limiter.record_failure(ip, now);
                    self.stats.reject(RejectReason::Auth);
                    let err = ErrorShape::invalid(f.message()).detail(f.detail_code(), Value::Null);
                    return Err((err, close::POLICY, "unauthorized"));
                }
            }
        }
        // A device claim is verified even with a good shared secret: a bad
        // signature is refused, never ignored (docs/protocol.md §3).
        let mut device_id = None;
        if params.device.is_some() {
            let challenge = self
                .conns
                .get(id)
                .map(|c| c.nonce.clone())
                .unwrap_or_default();
            match crate::protocol::device::verify(&params, &challenge, wall_ms()) {
                Ok(d) => device_id = Some(d),
                Err(e) => {
                    self.limiter.record_failure(ip, now);
                    self.stats.reject(RejectReason::Device);
                    let err = ErrorShape::invalid(e.message()).detail(e.code(), Value::Null);
                    return Err((err, close::POLICY, "device identity"));
                }
            }
        }
        // A credential bound to a device is only good from that device.
        if let Some(bound) = credential.as_ref().and_then(|c| c.device_id.as_ref()) {
            if device_id.as_ref() != Some(bound) {
                self.limiter.record_failure(ip, now);
                self.stats.reject(RejectReason::Auth);
                let err = ErrorShape::invalid(
                    "unauthorized: this credential is bound to a device; sign the connect with it",
                )
                .detail("DEVICE_REQUIRED", Value::Null);
                return Err((err, close::POLICY, "unauthorized"));
            }
        }
        self.limiter.record_success(ip);
        let mut scopes = handshake::grant_scopes(params.role, params.scopes.as_deref());
        if let Some(c) = &credential {
            scopes = handshake::narrow_to(&scopes, params.scopes.is_none(), &c.scopes);
        }
        let r = &self.cfg.rate_limits;
        let exempt = r.exempt_loopback && ip.is_loopback();
        Ok(Session {
            params,
            scopes,
            connected_at_ms: wall_ms(),
            device_id,
            credential,
            bucket: (!exempt).then(|| super::ratelimit::Bucket::full(r.request_burst, now)),
        })
    }

    /// Admits an authenticated connection into the pool, or refuses it.
    pub(super) fn complete_handshake(
        &mut self,
        id: ConnId,
        req_id: &str,
        session: Session,
        now: Instant,
    ) {
        let c = &self.cfg.connections;
        let conn = self.conns.get(id).expect("live");
        let ip = conn.addr.ip();
        let per = self.per_addr.get(&ip).copied().unwrap_or_default();
        let per_client = self
            .per_client
            .get(&session.params.client.id)
            .copied()
            .unwrap_or(0);
        let role = session.params.role;
        let (operators, nodes) = self.role_counts();
        let (role_key, role_max, role_now) = match role {
            crate::protocol::handshake::Role::Node => {
                ("maxNodes", c.max_nodes.unwrap_or(c.max_connections), nodes)
            }
            _ => (
                "maxOperators",
                c.max_operators.unwrap_or(c.max_connections),
                operators,
            ),
        };
        let limit = if self.authenticated >= c.max_connections {
            Some(("maxConnections", c.max_connections, RejectReason::PoolFull))
        } else if role_now >= role_max {
            Some((role_key, role_max, RejectReason::PerRole))
        } else if per.authenticated >= c.max_per_address {
            Some(("maxPerAddress", c.max_per_address, RejectReason::PerAddress))
        } else if per_client >= c.max_per_client_id {
            Some((
                "maxPerClientId",
                c.max_per_client_id,
                RejectReason::PerClientId,
            ))
        } else {
            None
        };
        if let Some((name, max, reason)) = limit {
            self.stats.reject(reason);
            let retry = RETRY_AFTER_FULL.as_millis() as u64;
            let err = ErrorShape::new(
                ErrorCode::Unavailable,
                format!("connection limit reached ({name} = {max})"),
            )
            .detail("CONNECTION_LIMIT", json!({"limit": name, "max": max}))
            .retry_after(retry);
            return self.fail_handshake(
                id,
                req_id,
                err,
                close::TRY_AGAIN_LATER,
                "connection limit",
                now,
            );
        }
        // Admit.
        let w = &self.cfg.websocket;
        let post_auth = ws_config(w.max_payload, w.read_buffer_bytes);
        let idle = Duration::from_millis(c.idle_timeout_ms);
        let conn = self.conns.get_mut(id).expect("live");
        conn.set_ws_config(post_auth);
        conn.set_state(ConnState::Open);
        if let Some(t) = conn.handshake_timer.take() {
            self.timers.cancel(t);
        }
        conn.idle_timer = self.timers.insert(now + idle, Timer::Idle(id)).ok();
        self.pre_auth -= 1;
        self.authenticated += 1;
        let entry = self.per_addr.entry(ip).or_default();
        entry.pre_auth -= 1;
        entry.authenticated += 1;
        *self
            .per_client
            .entry(session.params.client.id.clone())
            .or_default() += 1;
        self.stats.authenticated += 1;
        log::info!(
            "{id}: {} connected as {} ({}/{}) scopes {:?}{}",
            conn.addr,
            session.params.role.as_str(),
            session.params.client.id,
            session.params.client.mode,
            session.scopes,
            session
                .device_id
                .as_deref()
                .map(|d| format!(" device {}", &d[..16.min(d.len())]))
                .unwrap_or_default()
        );
        self.sessions.insert(id, session);
        self.presence_changed(now);
        let hello = methods::hello_ok(self, id, now);
        self.respond_ok(id, req_id, &hello, now);
    }

    pub(super) fn fail_handshake(
        &mut self,
        id: ConnId,
        req_id: &str,
        err: ErrorShape,
        code: u16,
        reason: &str,
        now: Instant,
    ) {
        log::info!(
            "{id}: handshake refused: {} ({})",
            err.message,
            err.detail_code().unwrap_or("-")
        );
        self.respond_err(id, req_id, &err, now);
        self.close(id, code, reason, now);
    }

    /// A second `connect` after hello (admin only): re-checks credentials and
    /// answers a fresh hello-ok; a failure is answered without closing.
    pub(crate) fn reconnect(
        &mut self,
        id: ConnId,
        req: &Request,
        now: Instant,
    ) -> Result<Value, ErrorShape> {
        match self.authenticate(id, req, now) {
            Ok(session) => {
                // Every per-connection count keyed by the session moves with
                // it: the old `client.id` was counted forever before, so
                // `maxPerClientId` re-connects locked that id out and the
                // table grew without bound.
                let old = self.sessions.get(&id).map(|s| s.params.client.id.clone());
                let new = session.params.client.id.clone();
                if old.as_deref() != Some(new.as_str()) {
                    let max = self.cfg.connections.max_per_client_id;
                    if self.per_client.get(&new).copied().unwrap_or(0) >= max {
                        self.stats.reject(RejectReason::PerClientId);
                        return Err(ErrorShape::new(
                            ErrorCode::Unavailable,
                            format!("connection limit reached (maxPerClientId = {max})"),
                        )
                        .detail(
                            "CONNECTION_LIMIT",
                            json!({"limit": "maxPerClientId", "max": max}),
                        )
                        .retry_after(RETRY_AFTER_FULL.as_millis() as u64));
                    }
                    if let Some(old) = old {
                        if let Some(n) = self.per_client.get_mut(&old) {
                            *n = n.saturating_sub(1);
                            if *n == 0 {
                                self.per_client.remove(&old);
                            }
                        }
                    }
                    *self.per_client.entry(new).or_default() += 1;
                }
                self.sessions.insert(id, session);
                self.presence_changed(now);
                Ok(methods::hello_ok(self, id, now))
            }
            Err((err, _, _)) => Err(err),
        }
    }
}
