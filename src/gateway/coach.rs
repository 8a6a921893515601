//! The coach in the gateway: `security.coach.*` methods, checks on the
//! worker pool (inline when it is saturated or off), per-check timeouts,
//! approval alerts with their own timeouts and bounds, user rules kept in
//! SQLite, and the audit trail.
//!
//! A check's life: the handler parses the input and submits a job with a
//! job id and a `CoachTimeout(job)` timer; the worker's result comes back
//! through the Waker. Whichever comes first answers the caller: the result
//! (timer cancelled) or the timer (`UNAVAILABLE`, the late result is then
//! dropped because its job id is gone). A caller that disconnected in the
//! meantime is found missing by its `ConnId` generation and skipped.

use super::after::After;
use super::methods::{bad_param as bad, opt_str, opt_u64, params_object, unavailable, Payload};
use super::{wall_ms, Gateway, Priority, Timer};
use crate::coach::rules::{Rule, RuleAction, RuleSet, RuleSpec};
use crate::coach::{CheckInput, Coach, CoachSettings, Decision, Match, Mode, Severity, Verdict};
use crate::net::ConnId;
use crate::protocol::handshake::{scope_allows, SCOPE_APPROVALS};
use crate::protocol::{ErrorCode, ErrorShape, Request, SharedEvent};
use crate::reactor::timer::TimerId;
use crate::store::AuditRow;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest `limit` of `security.coach.history.query`.
pub const HISTORY_MAX_LIMIT: usize = 500;
/// Default `limit` of `security.coach.history.query`.
pub const HISTORY_DEFAULT_LIMIT: usize = 50;
/// Retry hint when the coach is at its in-flight bound.
const RETRY_BUSY_MS: u64 = 100;

#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CoachStats {
    pub checks: u64,
    pub allowed: u64,
    pub approvals: u64,
    pub blocked: u64,
    /// Warn mode: calls that block mode would have blocked or asked about.
    pub would_have_acted: u64,
    pub truncated_inputs: u64,
    pub offloaded: u64,
    pub inline: u64,
    pub inline_us_total: u64,
    pub inline_us_max: u64,
    /// Coach checks that panicked (inline or on the pool): answered `block`.
    pub panicked: u64,
    pub timed_out: u64,
    pub rejected_busy: u64,
    pub alerts_raised: u64,
    pub alerts_coalesced: u64,
    pub alerts_throttled: u64,
    pub alerts_expired: u64,
    pub resolved_allow_once: u64,
    pub resolved_allow_always: u64,
    pub resolved_deny: u64,
    pub rules_added: u64,
    pub rules_deleted: u64,
    pub rules_expired: u64,
    pub audit_written: u64,
    pub audit_dropped: u64,
    pub audit_pruned: u64,
    pub audit_errors: u64,
}

/// Check latencies in power-of-two microsecond buckets.
#[derive(Default)]
struct Latency {
    buckets: [u64; 32],
    max_us: u64,
    n: u64,
}

impl Latency {
    fn record(&mut self, us: u64) {
        let b = (64 - us.max(1).leading_zeros() as usize).min(31);
        self.buckets[b] += 1;
        self.max_us = self.max_us.max(us);
        self.n += 1;
    }
    /// Upper bound of the bucket holding quantile `q`.
    fn quantile(&self, q: f64) -> u64 {
        let want = ((self.n as f64) * q).ceil() as u64;
        let mut seen = 0;
        for (i, c) in self.buckets.iter().enumerate() {
            seen += c;
            if seen >= want && want > 0 {
                return (1u64 << i).min(self.max_us.max(1));
            }
        }
        0
    }
}

struct CheckCtx {
    session: String,
    session_key: Option<String>,
    client_id: Option<String>,
    input_json: String,
    submitted: Instant,
}

struct Inflight {
    conn: ConnId,
    req_id: String,
    timer: Option<TimerId>,
    ctx: CheckCtx,
    then: After,
}

/// An approve-level decision waiting for a human.
pub struct Alert {
    seq: u64,
    pub id: String,
    created_ms: u64,
    expires_ms: u64,
    timer: Option<TimerId>,
    session: String,
    session_key: Option<String>,
    client_id: Option<String>,
    normalized: String,
    input: Value,
    severity: Option<Severity>,
    matches: Vec<Match>,
    count: u64,
}

impl Alert {
    fn view(&self) -> Value {
        json!({
            "id": self.id,
            "decision": "approve",
            "severity": self.severity,
            "matches": self.matches,
            "input": self.input,
            "normalized": self.normalized,
            "sessionKey": self.session_key,
            "clientId": self.client_id,
            "count": self.count,
            "createdAtMs": self.created_ms,
            "expiresAtMs": self.expires_ms,
        })
    }
}

pub struct CoachRuntime {
    pub coach: Arc<Coach>,
    /// Copy-on-write: a running job keeps the set it started with.
    pub rules: Arc<RuleSet>,
    inflight: HashMap<u64, Inflight>,
    next_job: u64,
    /// An `audit.verify` is walking the chain on the pool.
    verify_in_flight: bool,
    /// The audit head id last written to the log and forwarder.
    last_head_published: Option<i64>,
    alerts: Vec<Alert>,
    next_alert: u64,
    audit: Vec<AuditRow>,
    pub stats: CoachStats,
    latency: Latency,
    /// The start-up compile has finished (`health.coach.ready`).
    ready: bool,
}

impl CoachRuntime {
    /// The start-up compile has finished.
    pub fn ready(&self) -> bool {
        self.ready
    }

    pub fn new(cfg: &crate::config::CoachConfig, rules: RuleSet) -> CoachRuntime {
        CoachRuntime {
            ready: false,
            verify_in_flight: false,
            // Compiled on the pool right after start (`warm_coach`), not on
            // the start path; a check that comes first compiles it itself.
            coach: Arc::new(Coach::with_lib(
                {
                    let lib = crate::coach::Library::lazy();
                    lib.set_cache_budget(cfg.dfa_cache_bytes);
                    Arc::new(lib)
                },
                settings_of(cfg),
            )),
            rules: Arc::new(rules),
            inflight: HashMap::new(),
            next_job: 1,
            last_head_published: None,
            alerts: Vec::new(),
            next_alert: 1,
            audit: Vec::new(),
            stats: CoachStats::default(),
            latency: Latency::default(),
        }
    }
    pub fn pending_alerts(&self) -> usize {
        self.alerts.len()
    }
    /// Audit rows waiting for this turn's write.
    pub fn audit_waiting(&self) -> usize {
        self.audit.len()
    }
    pub fn inflight(&self) -> usize {
        self.inflight.len()
    }
}

fn settings_of(cfg: &crate::config::CoachConfig) -> CoachSettings {
    CoachSettings {
        mode: cfg.mode,
        min_severity: cfg.min_severity,
        max_input_bytes: cfg.max_input_bytes,
    }
}

/// Rules from the database; one that no longer compiles is skipped, loudly.
pub fn load_rules(store: &mut crate::store::Store) -> RuleSet {
    let mut set = RuleSet::default();
    match store.load_rules() {
        Ok(specs) => {
            for s in specs {
                let id = s.id.clone();
                match Rule::new(s) {
                    Ok(r) => set.push(r),
                    Err(e) => log::warn!("coach rule {id} skipped: {e}"),
                }
            }
        }
        Err(e) => log::warn!("coach rules not loaded: {e}"),
    }
    set
}

fn cap_chars(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut out: String = s.chars().take(n).collect();
    out.push('…');
    out
}

/// Retry hint after a storage error.
const RETRY_STORAGE_MS: u64 = 1000;

/// Every pattern id the library knows (for rules naming one).
fn pattern_known(coach: &Coach, id: &str) -> bool {
    coach.lib.defs.iter().any(|d| d.id() == id)
        || crate::coach::detect::DETECTORS.iter().any(|d| d.id() == id)
        || id == "user.deny-rule"
}

impl Gateway {
    /// What per-session bounds count by: the session key, else the client
    /// id, else the connection (coach alerts and exec approvals alike).
    pub(super) fn session_label(&self, conn: ConnId, session_key: Option<&str>) -> String {
        match (session_key, self.session(conn)) {
            (Some(s), _) => format!("session:{s}"),
            (None, Some(s)) => format!("client:{}", s.params.client.id),
            _ => format!("conn:{conn}"),
        }
    }

    /// Compiles the pattern library on a worker so start stays fast.
    pub(super) fn warm_coach(&mut self) {
        let lib = self.coach_rt.coach.lib.clone();
        let job = self.workers.submit(
            None,
            Box::new(move || {
                let t = Instant::now();
                lib.warm();
                // Compiling frees as much as it keeps (parsed syntax,
                // literal sets, builder scratch); glibc would hold those
                // pages in this worker's arena until the next tick's trim.
                crate::observe::trim_heap();
                crate::workers::JobResult::CoachReady(t.elapsed())
            }),
        );
        if job.is_err() {
            log::warn!("coach library will compile on the first check (pool busy)");
        }
    }

    /// The start-up compile is done: start-up is over, so what it alone
    /// touched can leave RSS.
    pub(super) fn on_coach_ready(&mut self, took: std::time::Duration) {
        log::info!(
            "coach: {} patterns compiled in {took:?} (worker)",
            self.coach_rt.coach.lib.pattern_count()
        );
        self.release_startup_pages();
        self.coach_rt.ready = true;
    }

    // ----- checks --------------------------------------------------------------

    pub(super) fn coach_check(
        &mut self,
        id: ConnId,
        req: &Request,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        const M: &str = "security.coach.check";
        let p = params_object(req, &["input", "sessionKey"])?;
        let raw = p
            .and_then(|m| m.get("input"))
            .ok_or_else(|| bad(M, "input", "an object"))?;
        if !raw.is_object() {
            return Err(bad(M, "input", "an object"));
        }
        let input: CheckInput = serde_json::from_value(raw.clone()).map_err(|e| {
            ErrorShape::invalid(format!("invalid {M} params: input: {e}"))
                .detail("INVALID_PARAMS", json!({"property": "input"}))
        })?;
        if input.is_empty() {
            return Err(ErrorShape::invalid(format!(
                "invalid {M} params: input needs command, content, url, filePath or params"
            ))
            .detail("INVALID_PARAMS", json!({"property": "input"})));
        }
        let session_key = opt_str(p, M, "sessionKey", 256)?.map(str::to_string);
        self.submit_check(id, &req.id, input, session_key, After::Respond, now)
    }

    pub(super) fn submit_check(
        &mut self,
        id: ConnId,
        req_id: &str,
        input: CheckInput,
        session_key: Option<String>,
        then: After,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        let k = self.cfg.coach.clone();
        if self.coach_rt.inflight.len() >= k.max_in_flight {
            self.coach_rt.stats.rejected_busy += 1;
            return Err(unavailable(
                "COACH_BUSY",
                format!(
                    "the coach has {} checks in flight (coach.maxInFlight); retry",
                    k.max_in_flight
                ),
                RETRY_BUSY_MS,
            ));
        }
        let client_id = self.session(id).map(|s| s.params.client.id.clone());
        let session = self.session_label(id, session_key.as_deref());
        let full = serde_json::to_string(&input).unwrap_or_default();
        let size = full.len();
        let ctx = CheckCtx {
            session,
            session_key,
            client_id,
            input_json: cap_chars(&full, k.audit_input_chars),
            submitted: now,
        };
        drop(full);
        let job = self.coach_rt.next_job;
        self.coach_rt.next_job += 1;
        let mut inline_input = Some(input);
        if k.offload {
            // Short inputs keep a copy to run inline if the queue is full.
            let (inp, fallback) = match inline_input.take() {
                Some(i) if size <= k.inline_max_bytes => (i.clone(), Some(i)),
                Some(i) => (i, None),
                None => (CheckInput::default(), None),
            };
            let coach = self.coach_rt.coach.clone();
            let rules = self.coach_rt.rules.clone();
            let now_ms = wall_ms();
            let delay = if self.cfg.testing.enable_test_methods {
                self.cfg.testing.coach_delay_ms
            } else {
                0
            };
            // A panicking check on the pool answers `block` too (fail closed).
            let on_panic = crate::workers::JobResult::Coach {
                job,
                verdict: Box::new(panic_verdict()),
            };
            let submitted = self.workers.submit(
                Some(on_panic),
                Box::new(move || {
                    if delay > 0 {
                        std::thread::sleep(Duration::from_millis(delay));
                    }
                    crate::workers::JobResult::Coach {
                        job,
                        verdict: Box::new(coach.check(&inp, &rules, now_ms)),
                    }
                }),
            );
            if submitted.is_ok() {
                let timer = self
                    .timers
                    .insert(
                        now + Duration::from_millis(k.task_timeout_ms),
                        Timer::CoachTimeout(job),
                    )
                    .ok();
                self.coach_rt.stats.offloaded += 1;
                self.coach_rt.inflight.insert(
                    job,
                    Inflight {
                        conn: id,
                        req_id: req_id.to_string(),
                        timer,
                        ctx,
                        then,
                    },
                );
                return Ok(Payload::Deferred);
            }
            inline_input = fallback;
        }
        // Inline on the loop: the pool is saturated, or off for the coach.
        let Some(inp) = inline_input.filter(|_| size <= k.inline_max_bytes) else {
            self.coach_rt.stats.rejected_busy += 1;
            return Err(unavailable("COACH_BUSY", format!("the coach's workers are busy and an input of {size} bytes is over coach.inlineMaxBytes ({}); retry", k.inline_max_bytes), RETRY_BUSY_MS));
        };
        let t = Instant::now();
        let rt = &self.coach_rt;
        let checked = check_or_block(|| rt.coach.check(&inp, &rt.rules, wall_ms()));
        let us = t.elapsed().as_micros() as u64;
        let st = &mut self.coach_rt.stats;
        let verdict = checked.unwrap_or_else(|v| {
            st.panicked += 1;
            v
        });
        st.inline += 1;
        st.inline_us_total += us;
        st.inline_us_max = st.inline_us_max.max(us);
        self.on_verdict(id, req_id, verdict, ctx, then, now)
    }

    /// Routes a verdict to whoever asked for it.
    fn on_verdict(
        &mut self,
        conn: ConnId,
        req_id: &str,
        verdict: Verdict,
        ctx: CheckCtx,
        then: After,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        if let After::Respond = then {
            return Ok(Payload::Json(
                self.finish_check(conn, &verdict, ctx, true, now),
            ));
        }
        self.finish_check(conn, &verdict, ctx, false, now);
        self.resume(conn, req_id, &verdict, then, now)
    }

    /// A worker's verdict arrived.
    pub(super) fn on_coach_result(&mut self, job: u64, verdict: Verdict, now: Instant) {
        let Some(f) = self.coach_rt.inflight.remove(&job) else {
            return; // timed out earlier, already answered
        };
        if let Some(t) = f.timer {
            self.timers.cancel(t);
        }
        if self.conns.get(f.conn).is_none() && !matches!(f.then, After::Respond) {
            // Nobody is left to run it for or to tell: audit, do not act.
            self.finish_check(f.conn, &verdict, f.ctx, false, now);
            return;
        }
        let res = self.on_verdict(f.conn, &f.req_id, verdict, f.ctx, f.then, now);
        self.answer(f.conn, &f.req_id, res, now);
    }

    pub(super) fn on_coach_timeout(&mut self, job: u64, now: Instant) {
        let Some(f) = self.coach_rt.inflight.remove(&job) else {
            return;
        };
        self.coach_rt.stats.timed_out += 1;
        self.workers.note_timeout();
        let ms = self.cfg.coach.task_timeout_ms;
        log::warn!("coach check {job} timed out after {ms} ms");
        self.push_audit(AuditRow {
            conn: Some(f.conn.to_string()),
            client_id: f.ctx.client_id,
            session_key: f.ctx.session_key,
            duration_us: Some(ms * 1000),
            ..AuditRow::new(
                wall_ms(),
                "check",
                "timeout",
                f.ctx.input_json,
                "timeout".into(),
            )
        });
        if self.conns.get(f.conn).is_some() {
            let err = unavailable(
                "COACH_TIMEOUT",
                format!("the coach did not finish within {ms} ms (coach.taskTimeoutMs)"),
                RETRY_BUSY_MS,
            );
            self.respond_err(f.conn, &f.req_id, &err, now);
        }
    }

    /// Counts, audits and (for approve) raises or joins an alert; returns
    /// the payload for the caller.
    fn finish_check(
        &mut self,
        conn: ConnId,
        verdict: &Verdict,
        ctx: CheckCtx,
        raise: bool,
        now: Instant,
    ) -> Value {
        let rt = &mut self.coach_rt;
        rt.stats.checks += 1;
        rt.latency.record(
            now.saturating_duration_since(ctx.submitted)
                .as_micros()
                .max(verdict.duration_us as u128) as u64,
        );
        if verdict.truncated {
            rt.stats.truncated_inputs += 1;
        }
        if verdict.would_decide.is_some() {
            rt.stats.would_have_acted += 1;
        }
        let mut payload = serde_json::to_value(verdict).unwrap_or_else(|_| json!({}));
        let mut decision = verdict.decision;
        let mut alert_id = None;
        if decision == Decision::Approve && raise {
            match self.raise_alert(verdict, &ctx, now) {
                Ok((id, expires, coalesced)) => {
                    payload["alertId"] = json!(id);
                    payload["expiresAtMs"] = json!(expires);
                    if coalesced {
                        payload["coalesced"] = json!(true);
                    }
                    alert_id = Some(id);
                }
                Err(why) => {
                    // Fail closed: too many questions pending means no.
                    decision = Decision::Block;
                    payload["decision"] = json!("block");
                    payload["throttled"] = json!(why);
                }
            }
        }
        let rt = &mut self.coach_rt;
        match decision {
            Decision::Allow => rt.stats.allowed += 1,
            Decision::Approve => rt.stats.approvals += 1,
            Decision::Block => rt.stats.blocked += 1,
        }
        let decided_by = match &verdict.rule_id {
            Some(r) => format!("rule:{r}"),
            None => "coach".into(),
        };
        self.push_audit(AuditRow {
            severity: verdict.severity.map(|s| s.as_str().to_string()),
            pattern_ids: verdict
                .matches
                .iter()
                .map(|m| m.pattern_id.to_string())
                .collect(),
            conn: Some(conn.to_string()),
            client_id: ctx.client_id,
            session_key: ctx.session_key,
            alert_id,
            duration_us: Some(verdict.duration_us),
            ..AuditRow::new(
                wall_ms(),
                "check",
                decision.as_str(),
                ctx.input_json,
                decided_by,
            )
        });
        payload
    }

    /// A new alert, or the pending identical one (coalesced). `Err` when a
    /// bound is reached.
    fn raise_alert(
        &mut self,
        v: &Verdict,
        ctx: &CheckCtx,
        now: Instant,
    ) -> Result<(String, u64, bool), String> {
        let k = self.cfg.coach.clone();
        if let Some(a) = self
            .coach_rt
            .alerts
            .iter_mut()
            .find(|a| a.session == ctx.session && a.normalized == v.normalized)
        {
            a.count += 1;
            self.coach_rt.stats.alerts_coalesced += 1;
            return Ok((a.id.clone(), a.expires_ms, true));
        }
        if self.coach_rt.alerts.len() >= k.max_pending_alerts {
            self.coach_rt.stats.alerts_throttled += 1;
            return Err(format!(
                "{} approvals are pending (coach.maxPendingAlerts)",
                k.max_pending_alerts
            ));
        }
        let per = self
            .coach_rt
            .alerts
            .iter()
            .filter(|a| a.session == ctx.session)
            .count();
        if per >= k.max_pending_per_session {
            self.coach_rt.stats.alerts_throttled += 1;
            return Err(format!(
                "{per} approvals are pending for this session (coach.maxPendingPerSession)"
            ));
        }
        let seq = self.coach_rt.next_alert;
        self.coach_rt.next_alert += 1;
        let id = format!(
            "ca-{seq}-{}",
            super::auth::random_hex(4).unwrap_or_default()
        );
        let created_ms = wall_ms();
        let expires_ms = created_ms + k.alert_timeout_ms;
        let timer = self
            .timers
            .insert(
                now + Duration::from_millis(k.alert_timeout_ms),
                Timer::AlertExpire(seq),
            )
            .ok();
        let alert = Alert {
            seq,
            id: id.clone(),
            created_ms,
            expires_ms,
            timer,
            session: ctx.session.clone(),
            session_key: ctx.session_key.clone(),
            client_id: ctx.client_id.clone(),
            normalized: cap_chars(&v.normalized, k.audit_input_chars),
            input: serde_json::from_str(&ctx.input_json)
                .unwrap_or(Value::String(ctx.input_json.clone())),
            severity: v.severity,
            matches: v.matches.clone(),
            count: 1,
        };
        let ev = SharedEvent::new("security.coach.alert.requested", &alert.view());
        self.coach_rt.alerts.push(alert);
        self.coach_rt.stats.alerts_raised += 1;
        self.broadcast_approvers(&ev, now);
        Ok((id, expires_ms, false))
    }

    /// Alert and approval events go only to approval-scoped clients, at once,
    /// never dropped (a slow approver is closed, not skipped).
    pub(super) fn broadcast_approvers(&mut self, ev: &SharedEvent, now: Instant) -> usize {
        let ids: Vec<ConnId> = self
            .sessions
            .iter()
            .filter(|(_, s)| scope_allows(&s.scopes, SCOPE_APPROVALS))
            .map(|(id, _)| *id)
            .collect();
        for &id in &ids {
            self.send_event(id, ev, Priority::Immediate, now);
        }
        ids.len()
    }

    fn take_alert(&mut self, pred: impl Fn(&Alert) -> bool) -> Option<Alert> {
        let i = self.coach_rt.alerts.iter().position(pred)?;
        let a = self.coach_rt.alerts.remove(i);
        if let Some(t) = a.timer {
            self.timers.cancel(t);
        }
        Some(a)
    }

    fn alert_resolved(
        &mut self,
        a: &Alert,
        decision: &str,
        by: &str,
        rule_id: Option<&str>,
        now: Instant,
    ) {
        let ts = wall_ms();
        let mut payload =
            json!({"id": a.id, "decision": decision, "resolvedBy": by, "ts": ts, "count": a.count});
        if let Some(r) = rule_id {
            payload["ruleId"] = json!(r);
        }
        let ev = SharedEvent::new("security.coach.alert.resolved", &payload);
        self.broadcast_approvers(&ev, now);
        self.push_audit(AuditRow {
            severity: a.severity.map(|s| s.as_str().to_string()),
            pattern_ids: a.matches.iter().map(|m| m.pattern_id.to_string()).collect(),
            client_id: a.client_id.clone(),
            session_key: a.session_key.clone(),
            alert_id: Some(a.id.clone()),
            ..AuditRow::new(ts, "resolve", decision, a.input.to_string(), by.into())
        });
    }

    pub(super) fn on_alert_expired(&mut self, seq: u64, now: Instant) {
        let Some(mut a) = self.take_alert(|a| a.seq == seq) else {
            return;
        };
        a.timer = None;
        self.coach_rt.stats.alerts_expired += 1;
        self.coach_rt.stats.resolved_deny += 1;
        self.alert_resolved(&a, "deny", "timeout", None, now);
    }

    pub(super) fn coach_resolve(
        &mut self,
        id: ConnId,
        req: &Request,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        const M: &str = "security.coach.resolve";
        let p = params_object(req, &["id", "decision"])?;
        let alert_id = opt_str(p, M, "id", 128)?
            .ok_or_else(|| bad(M, "id", "the alert id"))?
            .to_string();
        let decision = opt_str(p, M, "decision", 32)?
            .ok_or_else(|| bad(M, "decision", "one of allow-once, allow-always, deny"))?
            .to_string();
        if !matches!(decision.as_str(), "allow-once" | "allow-always" | "deny") {
            return Err(bad(M, "decision", "one of allow-once, allow-always, deny"));
        }
        let Some(a) = self.take_alert(|a| a.id == alert_id) else {
            return Err(ErrorShape::new(
                ErrorCode::ApprovalNotFound,
                format!("no pending coach alert `{alert_id}` (unknown, resolved or expired)"),
            )
            .detail("APPROVAL_NOT_FOUND", json!({"id": alert_id})));
        };
        let by = self
            .session(id)
            .map(|s| s.params.client.id.clone())
            .unwrap_or_else(|| id.to_string());
        let mut rule_id = None;
        match decision.as_str() {
            "allow-always" => {
                // Scoped to this pattern *and* this exact normalised input.
                let spec = RuleSpec {
                    id: format!("rule-{}", super::auth::random_hex(6).unwrap_or_default()),
                    action: RuleAction::Allow,
                    pattern_id: a.matches.first().map(|m| m.pattern_id.to_string()),
                    pattern: Some(format!("^{}$", regex_syntax::escape(&a.normalized))),
                    expires_at_ms: None,
                    note: Some(format!("allow-always from alert {}", a.id)),
                    created_by: by.clone(),
                    created_at_ms: wall_ms(),
                };
                match self.add_rule(spec) {
                    Ok(spec) => rule_id = Some(spec.id),
                    Err(e) => {
                        // The decision stands for this call; say why no rule.
                        log::warn!("allow-always for {} made no rule: {}", a.id, e.message);
                    }
                }
                self.coach_rt.stats.resolved_allow_always += 1;
            }
            "allow-once" => self.coach_rt.stats.resolved_allow_once += 1,
            _ => self.coach_rt.stats.resolved_deny += 1,
        }
        self.alert_resolved(&a, &decision, &by, rule_id.as_deref(), now);
        let mut out = json!({"ok": true, "id": a.id, "decision": decision});
        if let Some(r) = rule_id {
            out["ruleId"] = json!(r);
        }
        Ok(Payload::Json(out))
    }

    // ----- rules ---------------------------------------------------------------

    fn add_rule(&mut self, spec: RuleSpec) -> Result<RuleSpec, ErrorShape> {
        let max = self.cfg.coach.max_rules;
        if self.coach_rt.rules.len() >= max {
            return Err(ErrorShape::invalid(format!(
                "the coach holds {max} rules (coach.maxRules); delete some first"
            ))
            .detail("RULE_LIMIT", json!({"max": max})));
        }
        let rule = Rule::new(spec.clone()).map_err(|e| {
            ErrorShape::invalid(format!(
                "invalid security.coach.rules.add params: `pattern` {e}"
            ))
            .detail("INVALID_PARAMS", json!({"property": "pattern"}))
        })?;
        self.store.save_rule(&spec).map_err(|e| {
            unavailable(
                "STORAGE_ERROR",
                format!("the rule could not be stored: {e}"),
                RETRY_STORAGE_MS,
            )
        })?;
        let mut set = (*self.coach_rt.rules).clone();
        set.push(rule);
        self.coach_rt.rules = Arc::new(set);
        self.coach_rt.stats.rules_added += 1;
        Ok(spec)
    }

    pub(super) fn coach_rules_add(
        &mut self,
        _id: ConnId,
        req: &Request,
        _now: Instant,
    ) -> Result<Payload, ErrorShape> {
        const M: &str = "security.coach.rules.add";
        let p = params_object(
            req,
            &[
                "action",
                "patternId",
                "pattern",
                "expiresAtMs",
                "ttlMs",
                "note",
            ],
        )?;
        let action = match opt_str(p, M, "action", 16)? {
            Some("allow") => RuleAction::Allow,
            Some("deny") => RuleAction::Deny,
            _ => return Err(bad(M, "action", "`allow` or `deny`")),
        };
        let pattern_id = opt_str(p, M, "patternId", 128)?.map(str::to_string);
        if let Some(pid) = &pattern_id {
            if !pattern_known(&self.coach_rt.coach, pid) {
                return Err(ErrorShape::invalid(format!("invalid {M} params: unknown patternId `{pid}` (see security.coach.status for the library)"))
                    .detail("INVALID_PARAMS", json!({"property": "patternId"})));
            }
        }
        let pattern =
            opt_str(p, M, "pattern", crate::coach::rules::RULE_REGEX_MAX_LEN)?.map(str::to_string);
        if pattern_id.is_none() && pattern.is_none() {
            return Err(ErrorShape::invalid(format!(
                "invalid {M} params: give patternId, pattern, or both"
            ))
            .detail("INVALID_PARAMS", json!({"property": "pattern"})));
        }
        let now_ms = wall_ms();
        let expires_at_ms = match (opt_u64(p, M, "expiresAtMs")?, opt_u64(p, M, "ttlMs")?) {
            (Some(_), Some(_)) => return Err(bad(M, "ttlMs", "absent when expiresAtMs is given")),
            (Some(e), None) if e <= now_ms => return Err(bad(M, "expiresAtMs", "in the future")),
            (e, t) => e.or(t.map(|t| now_ms + t)),
        };
        let note = opt_str(p, M, "note", 500)?.map(str::to_string);
        let by = self
            .session(_id)
            .map(|s| s.params.client.id.clone())
            .unwrap_or_default();
        let spec = RuleSpec {
            id: format!("rule-{}", super::auth::random_hex(6).unwrap_or_default()),
            action,
            pattern_id,
            pattern,
            expires_at_ms,
            note,
            created_by: by,
            created_at_ms: now_ms,
        };
        let spec = self.add_rule(spec)?;
        Ok(Payload::Json(json!({"ok": true, "rule": spec})))
    }

    pub(super) fn coach_rules_delete(
        &mut self,
        _id: ConnId,
        req: &Request,
        _now: Instant,
    ) -> Result<Payload, ErrorShape> {
        const M: &str = "security.coach.rules.delete";
        let p = params_object(req, &["id"])?;
        let rid = opt_str(p, M, "id", 128)?
            .ok_or_else(|| bad(M, "id", "a rule id"))?
            .to_string();
        let mut set = (*self.coach_rt.rules).clone();
        if !set.remove(&rid) {
            return Err(ErrorShape::invalid(format!("no coach rule `{rid}`"))
                .detail("RULE_NOT_FOUND", json!({"id": rid})));
        }
        self.store
            .delete_rules(std::slice::from_ref(&rid))
            .map_err(|e| {
                unavailable(
                    "STORAGE_ERROR",
                    format!("the rule could not be deleted: {e}"),
                    RETRY_STORAGE_MS,
                )
            })?;
        self.coach_rt.rules = Arc::new(set);
        self.coach_rt.stats.rules_deleted += 1;
        Ok(Payload::Json(json!({"ok": true, "id": rid})))
    }

    pub(super) fn coach_rules_list(
        &mut self,
        _id: ConnId,
        req: &Request,
        _now: Instant,
    ) -> Result<Payload, ErrorShape> {
        params_object(req, &[])?;
        let rules: Vec<&RuleSpec> = self.coach_rt.rules.specs().collect();
        Ok(Payload::Json(
            json!({"count": rules.len(), "max": self.cfg.coach.max_rules, "rules": rules}),
        ))
    }

    // ----- views and settings ----------------------------------------------------

    pub(super) fn coach_status(
        &mut self,
        _id: ConnId,
        req: &Request,
        _now: Instant,
    ) -> Result<Payload, ErrorShape> {
        params_object(req, &[])?;
        Ok(Payload::Json(self.coach_summary()))
    }

    pub fn coach_summary(&self) -> Value {
        let c = &self.coach_rt.coach;
        json!({
            "enabled": c.settings.mode != Mode::Off,
            "mode": c.settings.mode,
            "minSeverity": c.settings.min_severity,
            "maxInputBytes": c.settings.max_input_bytes,
            "patterns": c.lib.pattern_count(),
            "ready": self.coach_rt.ready(),
            "rules": self.coach_rt.rules.len(),
            "pendingAlerts": self.coach_rt.alerts.len(),
            "inFlight": self.coach_rt.inflight.len(),
            "checks": self.coach_rt.stats.checks,
            "blocked": self.coach_rt.stats.blocked,
            "approvals": self.coach_rt.stats.approvals,
        })
    }

    pub(super) fn coach_metrics(
        &mut self,
        _id: ConnId,
        req: &Request,
        _now: Instant,
    ) -> Result<Payload, ErrorShape> {
        params_object(req, &[])?;
        let l = &self.coach_rt.latency;
        Ok(Payload::Json(json!({
            "stats": self.coach_rt.stats,
            "latencyUs": {"p50": l.quantile(0.5), "p99": l.quantile(0.99), "max": l.max_us, "count": l.n},
            "workers": self.workers.stats(),
        })))
    }

    pub(super) fn coach_alerts_pending(
        &mut self,
        _id: ConnId,
        req: &Request,
        _now: Instant,
    ) -> Result<Payload, ErrorShape> {
        params_object(req, &[])?;
        let alerts: Vec<Value> = self.coach_rt.alerts.iter().map(|a| a.view()).collect();
        Ok(Payload::Json(
            json!({"count": alerts.len(), "alerts": alerts}),
        ))
    }

    /// `audit.verify {expectHead?}`: walks the hash chain on the worker pool
    /// (a read-only connection; the loop keeps serving) and answers the
    /// report. One at a time.
    pub(super) fn audit_verify(
        &mut self,
        id: ConnId,
        req: &Request,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        const M: &str = "audit.verify";
        let p = params_object(req, &["expectHead"])?;
        let expect = opt_str(p, M, "expectHead", 128)?.map(str::to_string);
        if self.coach_rt.verify_in_flight {
            return Err(unavailable(
                "BUSY",
                "an audit verification is already running",
                1_000,
            ));
        }
        self.flush_audit(now);
        let path = self.store.path().to_path_buf();
        let req_id = req.id.clone();
        let job = Box::new(move || {
            let report = crate::store::audit::open_read_only(&path)
                .and_then(|db| crate::store::audit::verify_expecting(&db, expect.as_deref()))
                .map(|r| {
                    let mut v = serde_json::to_value(&r).unwrap_or_default();
                    v["ok"] = json!(r.ok());
                    v
                })
                .map_err(|e| e.to_string());
            crate::workers::JobResult::AuditVerify {
                conn: id,
                req_id,
                report,
            }
        });
        let on_panic = crate::workers::JobResult::AuditVerify {
            conn: id,
            req_id: req.id.clone(),
            report: Err("verification panicked".into()),
        };
        if self.workers.submit(Some(on_panic), job).is_err() {
            return Err(unavailable("BUSY", "the worker pool is full", 1_000));
        }
        self.coach_rt.verify_in_flight = true;
        Ok(Payload::Deferred)
    }

    pub(super) fn on_audit_verified(
        &mut self,
        conn: ConnId,
        req_id: &str,
        report: Result<Value, String>,
        now: Instant,
    ) {
        self.coach_rt.verify_in_flight = false;
        let res = report.map(Payload::Json).map_err(|e| {
            unavailable(
                "STORAGE_ERROR",
                format!("audit verify failed: {e}"),
                RETRY_STORAGE_MS,
            )
        });
        self.answer(conn, req_id, res, now);
    }

    pub(super) fn coach_history(
        &mut self,
        _id: ConnId,
        req: &Request,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        const M: &str = "security.coach.history.query";
        let p = params_object(req, &["limit", "before", "decision", "kind"])?;
        let limit = opt_u64(p, M, "limit")?.unwrap_or(HISTORY_DEFAULT_LIMIT as u64);
        if limit == 0 || limit > HISTORY_MAX_LIMIT as u64 {
            return Err(bad(M, "limit", &format!("1..={HISTORY_MAX_LIMIT}")));
        }
        let before = opt_u64(p, M, "before")?.map(|b| b as i64);
        let decision = opt_str(p, M, "decision", 16)?;
        if let Some(d) = decision {
            if !matches!(
                d,
                "allow"
                    | "approve"
                    | "block"
                    | "allow-once"
                    | "allow-always"
                    | "deny"
                    | "timeout"
                    | "expired"
                    | "exited"
                    | "killed"
                    | "failed"
            ) {
                return Err(bad(
                    M,
                    "decision",
                    "allow, approve, block, allow-once, allow-always, deny, timeout, expired, exited, killed or failed",
                ));
            }
        }
        let kind = opt_str(p, M, "kind", 16)?;
        if let Some(k) = kind {
            if !matches!(k, "check" | "resolve" | "approval" | "exec") {
                return Err(bad(M, "kind", "check, resolve, approval or exec"));
            }
        }
        self.flush_audit(now);
        let rows = self
            .store
            .query_audit(limit as usize, before, decision, kind)
            .map_err(|e| {
                unavailable(
                    "STORAGE_ERROR",
                    format!("audit query failed: {e}"),
                    RETRY_STORAGE_MS,
                )
            })?;
        let next = if rows.len() as u64 == limit {
            rows.last().and_then(|r| r.id)
        } else {
            None
        };
        Ok(Payload::Json(
            json!({"count": rows.len(), "entries": rows, "nextBefore": next}),
        ))
    }

    pub(super) fn coach_config_update(
        &mut self,
        _id: ConnId,
        req: &Request,
        _now: Instant,
    ) -> Result<Payload, ErrorShape> {
        const M: &str = "security.coach.config.update";
        let p = params_object(req, &["mode", "minSeverity", "maxInputBytes"])?;
        let mut settings = self.coach_rt.coach.settings.clone();
        if let Some(m) = opt_str(p, M, "mode", 16)? {
            settings.mode = match m {
                "off" => Mode::Off,
                "warn" => Mode::Warn,
                "block" => Mode::Block,
                _ => return Err(bad(M, "mode", "off, warn or block")),
            };
        }
        if let Some(s) = opt_str(p, M, "minSeverity", 16)? {
            settings.min_severity = Severity::parse(s)
                .ok_or_else(|| bad(M, "minSeverity", "info, low, medium, high or critical"))?;
        }
        if let Some(n) = opt_u64(p, M, "maxInputBytes")? {
            if !(256..=16 * 1024 * 1024).contains(&n) {
                return Err(bad(M, "maxInputBytes", "256..=16777216"));
            }
            settings.max_input_bytes = n as usize;
        }
        let lib = self.coach_rt.coach.lib.clone();
        self.coach_rt.coach = Arc::new(Coach::with_lib(lib, settings.clone()));
        log::info!("coach settings updated: {settings:?}");
        Ok(Payload::Json(json!({"ok": true, "config": settings})))
    }

    // ----- housekeeping ----------------------------------------------------------

    pub(super) fn push_audit(&mut self, mut row: AuditRow) {
        // Every row names who acted: the connection, and the identity behind
        // it (a credential's kind:name, else the device or the connection).
        if let Some(c) = row.conn.as_deref() {
            let who = self
                .sessions()
                .find(|(id, _)| id.to_string() == c)
                .map(|(id, _)| *id)
                .map(|id| self.identity_of(id));
            if let Some(who) = who.filter(|w| !w.starts_with("conn:")) {
                row.conn = Some(format!("{c} {who}"));
            }
        }
        if self.coach_rt.audit.len() >= self.cfg.coach.audit_buffer {
            self.coach_rt.stats.audit_dropped += 1;
            log::warn!("coach audit buffer full (coach.auditBuffer); a row was dropped");
            return;
        }
        self.coach_rt.audit.push(row);
    }

    /// Writes buffered audit rows in one transaction (once per loop turn).
    pub fn flush_audit(&mut self, now: Instant) {
        if self.coach_rt.audit.is_empty() {
            return;
        }
        let rows = std::mem::take(&mut self.coach_rt.audit);
        match self.store.append_audit(&rows) {
            Ok(()) => {
                self.coach_rt.stats.audit_written += rows.len() as u64;
                self.forward_rows(&rows, now);
            }
            Err(e) => {
                self.coach_rt.stats.audit_errors += 1;
                log::warn!(
                    "coach audit write failed ({e}); {} rows kept for retry",
                    rows.len()
                );
                // Keep them (bounded by the buffer) for the next turn.
                let room = self
                    .cfg
                    .coach
                    .audit_buffer
                    .saturating_sub(self.coach_rt.audit.len());
                let keep: Vec<AuditRow> = rows.into_iter().take(room).collect();
                self.coach_rt.audit.splice(0..0, keep);
            }
        }
    }

    /// Expired rules out, old audit rows pruned.
    pub(super) fn coach_housekeeping(&mut self, now: Instant) {
        let now_ms = wall_ms();
        let mut set = (*self.coach_rt.rules).clone();
        let gone = set.expire(now_ms);
        if !gone.is_empty() {
            if let Err(e) = self.store.delete_rules(&gone) {
                log::warn!("expired coach rules not deleted: {e}");
            }
            self.coach_rt.stats.rules_expired += gone.len() as u64;
            self.coach_rt.rules = Arc::new(set);
        }
        self.flush_audit(now);
        match self.store.prune_audit(self.cfg.coach.audit_max_rows) {
            Ok(n) => self.coach_rt.stats.audit_pruned += n as u64,
            Err(e) => log::warn!("audit prune failed: {e}"),
        }
        self.publish_audit_head(now_ms, now);
    }

    /// The chain head goes to the log and the audit forwarder every
    /// housekeeping turn: anyone holding an older head catches rows cut off
    /// the end (`clawgate audit verify --expect-head`), which the file
    /// alone cannot show (issue 17, finding 7).
    fn publish_audit_head(&mut self, now_ms: u64, now: Instant) {
        let Ok((id, hash)) = self.store.audit_head_hash() else {
            return;
        };
        if id == 0 || self.coach_rt.last_head_published == Some(id) {
            return;
        }
        self.coach_rt.last_head_published = Some(id);
        log::info!("audit chain head: row {id}, {hash}");
        let row = AuditRow {
            detail: Some(json!({"headId": id, "headHash": hash}).to_string()),
            ..AuditRow::new(
                now_ms,
                crate::store::audit::CHAIN_KIND,
                "head",
                String::new(),
                "store".into(),
            )
        };
        self.forward_rows(&[row], now);
    }

    /// Shutdown: callers still waiting get `UNAVAILABLE`; pending alerts are
    /// denied; the audit is written.
    pub(super) fn coach_shutdown(&mut self, now: Instant) {
        let jobs: Vec<u64> = self.coach_rt.inflight.keys().copied().collect();
        for job in jobs {
            if let Some(f) = self.coach_rt.inflight.remove(&job) {
                if let Some(t) = f.timer {
                    self.timers.cancel(t);
                }
                let err = unavailable(
                    "SHUTTING_DOWN",
                    "the gateway is shutting down",
                    RETRY_STORAGE_MS,
                );
                self.respond_err(f.conn, &f.req_id, &err, now);
            }
        }
        while let Some(a) = self.take_alert(|_| true) {
            self.coach_rt.stats.resolved_deny += 1;
            self.alert_resolved(&a, "deny", "shutdown", None, now);
        }
        self.flush_audit(now);
    }
}

/// The verdict for a check that panicked: `block`, critical. An internal
/// fault must never turn into `allow`, nor take the loop down with it.
pub(super) fn panic_verdict() -> Verdict {
    Verdict {
        decision: crate::coach::Decision::Block,
        severity: Some(crate::coach::Severity::Critical),
        matches: Vec::new(),
        duration_us: 0,
        would_decide: None,
        truncated: false,
        normalized: String::new(),
        rule_id: None,
    }
}

/// Runs an inline (on-loop) coach check, catching a panic: `Err` carries the
/// block verdict to answer with, after the panic has been logged as an alert.
fn check_or_block(check: impl FnOnce() -> Verdict) -> Result<Verdict, Verdict> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)).map_err(|_| {
        log::error!("ALERT: an inline coach check panicked; answered block");
        panic_verdict()
    })
}

#[cfg(test)]
mod panic_tests {
    use super::*;

    /// An inline check (taken when the pool queue is full) ran without
    /// `catch_unwind`: a panic ended the gateway. Now it answers `block`.
    #[test]
    fn test_panicking_inline_check_answers_block() {
        let v = check_or_block(|| panic!("pattern bug")).unwrap_err();
        assert_eq!(v.decision, crate::coach::Decision::Block);
        assert!(check_or_block(panic_verdict).is_ok());
    }
}
