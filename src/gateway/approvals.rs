//! Exec approvals, compatible with OpenClaw's: `exec.approval.request` is
//! held until someone with `operator.approvals` answers
//! `exec.approval.resolve` (allow-once, allow-always, deny) or the timeout
//! expires it (decision null). An `exec.run` the coach wants a human for
//! waits on the same kind of approval. Pending approvals are bounded
//! overall and per session, written to SQLite when raised (a restart
//! expires them and a client that asks again with the same id learns so),
//! and every decision is audited with who made it.

use super::after::{After, Held};
use super::methods::{bad_param as bad, opt_text, params_object, unavailable, Payload};
use super::{wall_ms, Gateway, Timer};
use crate::coach::{CheckInput, Decision, Verdict};
use crate::net::ConnId;
use crate::protocol::{ErrorCode, ErrorShape, Request, SharedEvent};
use crate::reactor::timer::TimerId;
use crate::store::{ApprovalRow, AuditRow};
use serde::Serialize;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const RETRY_FULL_MS: u64 = 1_000;

/// Longest approval id a client may choose (issue #17: ids were unbounded).
pub const MAX_APPROVAL_ID_BYTES: usize = 128;

/// An explicit `exec.approval.request`, carried through the coach.
pub struct ApprovalReq {
    pub id: Option<String>,
    pub command: String,
    pub request: Value,
    pub session_key: Option<String>,
    pub timeout_ms: u64,
}

pub struct Approval {
    seq: u64,
    pub id: String,
    created_ms: u64,
    expires_ms: u64,
    timer: Option<TimerId>,
    session: String,
    request: Value,
    coach: Value,
    command: String,
    /// `exec.approval.request` calls waiting for the decision (at most
    /// `exec.maxApprovalWaiters`).
    waiters: Vec<(ConnId, String)>,
    /// Who raised it (device, else connection): per-identity bound.
    requester: String,
    /// An `exec.run` that starts when allowed.
    exec: Option<Held>,
}

impl Approval {
    fn view(&self) -> Value {
        json!({
            "id": self.id,
            "request": self.request,
            "coach": self.coach,
            "createdAtMs": self.created_ms,
            "expiresAtMs": self.expires_ms,
            "requester": self.requester,
            "session": self.session,
        })
    }
}

#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalStats {
    pub requested: u64,
    pub allowed_once: u64,
    pub allowed_always: u64,
    pub denied: u64,
    pub expired: u64,
    pub cancelled: u64,
    pub rejected_full: u64,
    pub expired_at_start: u64,
    pub skipped_by_allow_always: u64,
}

pub struct Approvals {
    pending: Vec<Approval>,
    next_seq: u64,
    /// Exact commands a human allowed for good (bounded; oldest forgotten).
    allow_always: hashlink::LinkedHashSet<String>,
    pub stats: ApprovalStats,
}

impl Approvals {
    pub fn new() -> Approvals {
        Approvals {
            pending: Vec::new(),
            next_seq: 1,
            allow_always: hashlink::LinkedHashSet::new(),
            stats: ApprovalStats::default(),
        }
    }
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }
    pub fn allow_always_has(&self, command: &str) -> bool {
        self.allow_always.contains(command)
    }
    pub fn allow_always_len(&self) -> usize {
        self.allow_always.len()
    }
}

impl Default for Approvals {
    fn default() -> Self {
        Self::new()
    }
}

/// An approval id used for another call than the one it was raised for.
fn id_mismatch(aid: &str) -> ErrorShape {
    ErrorShape::invalid(format!(
        "approval {aid} was raised for a different call; use a new id"
    ))
    .detail("APPROVAL_ID_MISMATCH", json!({"id": aid}))
}

fn storage(what: &str, e: impl std::fmt::Display) {
    log::warn!("approvals: {what} not stored: {e}");
}

impl Gateway {
    /// At start: approvals the last run left pending are expired (and
    /// audited); allow-always decisions are loaded.
    pub(super) fn approvals_startup(&mut self) {
        let now_ms = wall_ms();
        match self.store.expire_pending_approvals(now_ms) {
            Ok(rows) => {
                for r in rows {
                    self.approvals.stats.expired_at_start += 1;
                    log::info!(
                        "approval {} was pending at the last stop: expired (decision null)",
                        r.id
                    );
                    self.push_audit(AuditRow {
                        alert_id: Some(r.id.clone()),
                        detail: Some(
                            json!({"reason": "pending when the gateway stopped"}).to_string(),
                        ),
                        ..AuditRow::new(
                            now_ms,
                            "approval",
                            "expired",
                            r.request.clone(),
                            "gateway-restart".into(),
                        )
                    });
                }
            }
            Err(e) => storage("restart expiry", e),
        }
        let max = self.cfg.exec.max_allow_always;
        match self.store.load_allow_always(max) {
            Ok(keys) => {
                // Newest first from the store; insert oldest first.
                for k in keys.into_iter().rev() {
                    self.approvals.allow_always.insert(k);
                }
            }
            Err(e) => storage("allow-always load", e),
        }
    }

    /// Who decided, as audit rows and events name them: the client's name,
    /// and the credential when it used one.
    fn resolver_name(&self, id: ConnId) -> String {
        self.session(id)
            .map(|s| {
                let name = s
                    .params
                    .client
                    .display_name
                    .clone()
                    .unwrap_or_else(|| s.params.client.id.clone());
                match &s.credential {
                    Some(c) => format!("{name} ({}:{})", c.kind, c.name),
                    None => name,
                }
            })
            .unwrap_or_else(|| id.to_string())
    }

    // ----- exec.approval.request -----------------------------------------------

    pub(super) fn exec_approval_request(
        &mut self,
        id: ConnId,
        req: &Request,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        const M: &str = "exec.approval.request";
        let p = params_object(
            req,
            &[
                "id",
                "command",
                "commandArgv",
                "cwd",
                "agentId",
                "sessionKey",
                "timeoutMs",
                "host",
                "security",
                "ask",
                "resolvedPath",
                "nodeId",
            ],
        )?;
        let e = self.cfg.exec.clone();
        let get_str =
            |key: &str, max: usize| opt_text(p, M, key, max).map(|v| v.map(str::to_string));
        let approval_id = get_str("id", MAX_APPROVAL_ID_BYTES)?;
        if approval_id.as_deref().is_some_and(|s| s.is_empty()) {
            return Err(bad(M, "id", "a non-empty string"));
        }
        let command = get_str("command", e.max_command_bytes)?.unwrap_or_default();
        if command.trim().is_empty() {
            return Err(ErrorShape::invalid(format!(
                "invalid {M} params: `command` is required and may not be empty"
            ))
            .detail("INVALID_PARAMS", json!({"property": "command"})));
        }
        let timeout_ms = match p.and_then(|p| p.get("timeoutMs")) {
            None | Some(Value::Null) => e.approval_timeout_ms,
            Some(v) => match v.as_u64() {
                Some(t) if (100..=e.max_approval_timeout_ms).contains(&t) => t,
                _ => {
                    return Err(bad(
                        M,
                        "timeoutMs",
                        &format!(
                            "an integer 100..={} (exec.maxApprovalTimeoutMs)",
                            e.max_approval_timeout_ms
                        ),
                    ))
                }
            },
        };
        let session_key = get_str("sessionKey", 256)?;
        let mut request = json!({"command": command});
        for key in [
            "cwd",
            "agentId",
            "sessionKey",
            "host",
            "security",
            "ask",
            "resolvedPath",
            "nodeId",
        ] {
            if let Some(v) = get_str(key, 4096)? {
                request[key] = json!(v);
            }
        }
        if let Some(v) = p.and_then(|p| p.get("commandArgv")) {
            match v {
                Value::Array(a) if a.iter().all(Value::is_string) => {
                    request["commandArgv"] = v.clone()
                }
                Value::Null => {}
                _ => return Err(bad(M, "commandArgv", "a list of strings")),
            }
        }
        if let Some(aid) = &approval_id {
            // Asked again (a retry, or after our restart): join or tell, but
            // only for the same call.
            if let Some(joined) = self.join_pending(aid, &request, Some((id, req.id.clone()))) {
                return joined.map(|()| Payload::Deferred);
            }
            match self.store.get_approval(aid) {
                Ok(Some(row)) => {
                    if serde_json::from_str::<Value>(&row.request).ok().as_ref() != Some(&request) {
                        return Err(id_mismatch(aid));
                    }
                    return Ok(Payload::Json(json!({
                        "id": row.id, "decision": row.decision, "state": row.state,
                        "resolvedBy": row.resolved_by,
                        "createdAtMs": row.created_ms, "expiresAtMs": row.expires_ms,
                    })));
                }
                Ok(None) => {}
                Err(err) => storage("lookup", err),
            }
        }
        if self.approvals.allow_always_has(&command) {
            self.approvals.stats.skipped_by_allow_always += 1;
            let now_ms = wall_ms();
            let aid = approval_id.unwrap_or_else(|| self.new_approval_id());
            self.push_audit(AuditRow {
                alert_id: Some(aid.clone()),
                session_key: session_key.clone(),
                conn: Some(id.to_string()),
                ..AuditRow::new(
                    now_ms,
                    "approval",
                    "allow-always",
                    self.audit_cap(&command),
                    "allow-always".into(),
                )
            });
            return Ok(Payload::Json(json!({
                "id": aid, "decision": "allow-always", "resolvedBy": "allow-always",
                "createdAtMs": now_ms, "expiresAtMs": now_ms,
            })));
        }
        let ar = ApprovalReq {
            id: approval_id,
            command: command.clone(),
            request,
            session_key: session_key.clone(),
            timeout_ms,
        };
        let input = CheckInput {
            command: Some(command),
            tool_name: Some("exec".into()),
            ..Default::default()
        };
        self.submit_check(
            id,
            &req.id,
            input,
            session_key,
            After::Approval(Box::new(ar)),
            now,
        )
    }

    fn audit_cap(&self, s: &str) -> String {
        s.chars().take(self.cfg.coach.audit_input_chars).collect()
    }

    fn new_approval_id(&mut self) -> String {
        let seq = self.approvals.next_seq;
        self.approvals.next_seq += 1;
        format!(
            "ap-{seq}-{}",
            super::auth::random_hex(4).unwrap_or_default()
        )
    }

    /// The coach has spoken on an explicit approval request.
    pub(super) fn approval_after_coach(
        &mut self,
        conn: ConnId,
        req_id: &str,
        ar: ApprovalReq,
        v: &Verdict,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        let coach = json!({"decision": v.decision, "severity": v.severity, "matches": v.matches});
        if v.decision == Decision::Block {
            // No human is asked to approve what the coach blocks outright.
            let now_ms = wall_ms();
            let aid = ar.id.clone().unwrap_or_else(|| self.new_approval_id());
            self.approvals.stats.denied += 1;
            self.push_audit(AuditRow {
                alert_id: Some(aid.clone()),
                session_key: ar.session_key.clone(),
                conn: Some(conn.to_string()),
                severity: v.severity.map(|s| s.as_str().to_string()),
                pattern_ids: v.matches.iter().map(|m| m.pattern_id.to_string()).collect(),
                ..AuditRow::new(
                    now_ms,
                    "approval",
                    "deny",
                    self.audit_cap(&ar.command),
                    "coach".into(),
                )
            });
            return Ok(Payload::Json(json!({
                "id": aid, "decision": "deny", "resolvedBy": "coach", "coach": coach,
                "createdAtMs": now_ms, "expiresAtMs": now_ms,
            })));
        }
        let session = self.session_label(conn, ar.session_key.as_deref());
        self.raise_approval(
            ar.id,
            session,
            ar.request,
            coach,
            ar.command,
            ar.timeout_ms,
            Some((conn, req_id.to_string())),
            None,
            now,
        )?;
        Ok(Payload::Deferred)
    }

    /// Joins the pending approval `aid` as a waiter, if there is one: only
    /// for the same call (an id is bound to what it approves: another
    /// command, cwd or argv under it would take its answer), and within
    /// `exec.maxApprovalWaiters`. `None` when nothing by that id is pending.
    fn join_pending(
        &mut self,
        aid: &str,
        request: &Value,
        waiter: Option<(ConnId, String)>,
    ) -> Option<Result<(), ErrorShape>> {
        let max = self.cfg.exec.max_approval_waiters;
        let a = self.approvals.pending.iter_mut().find(|a| a.id == aid)?;
        if a.request != *request {
            return Some(Err(id_mismatch(aid)));
        }
        if a.waiters.len() >= max || waiter.is_none() {
            return Some(Err(unavailable(
                "RATE_LIMITED",
                format!(
                    "{} calls already wait on approval {aid} (exec.maxApprovalWaiters)",
                    a.waiters.len()
                ),
                RETRY_FULL_MS,
            )));
        }
        a.waiters.extend(waiter);
        Some(Ok(()))
    }

    /// An `exec.run` the coach wants a human for.
    pub(super) fn raise_exec_approval(
        &mut self,
        wait: Held,
        coach: Value,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        let session = self.session_label(wait.conn, wait.session_key());
        let request = wait.request_view();
        let command = wait.display().to_string();
        let timeout = self.cfg.exec.approval_timeout_ms;
        self.raise_approval(
            None,
            session,
            request,
            coach,
            command,
            timeout,
            None,
            Some(wait),
            now,
        )?;
        Ok(Payload::Deferred)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn raise_approval(
        &mut self,
        id: Option<String>,
        session: String,
        request: Value,
        coach: Value,
        command: String,
        timeout_ms: u64,
        waiter: Option<(ConnId, String)>,
        exec: Option<Held>,
        now: Instant,
    ) -> Result<(), ErrorShape> {
        // The same id raised twice (re-sent while its coach check was still
        // running): one approval, the later caller joins it, within bounds.
        if let Some(aid) = &id {
            if let Some(joined) = self.join_pending(aid, &request, waiter.clone()) {
                return joined;
            }
        }
        let e = &self.cfg.exec;
        let full = |msg: String| unavailable("APPROVALS_FULL", msg, RETRY_FULL_MS);
        if self.approvals.pending.len() >= e.max_pending_approvals {
            self.approvals.stats.rejected_full += 1;
            return Err(full(format!(
                "{} approvals are pending (exec.maxPendingApprovals)",
                e.max_pending_approvals
            )));
        }
        let per = self
            .approvals
            .pending
            .iter()
            .filter(|a| a.session == session)
            .count();
        if per >= e.max_pending_approvals_per_session {
            self.approvals.stats.rejected_full += 1;
            return Err(full(format!(
                "{per} approvals are pending for this session (exec.maxPendingApprovalsPerSession)"
            )));
        }
        let requester_conn = waiter
            .as_ref()
            .map(|w| w.0)
            .or(exec.as_ref().map(|h| h.conn));
        let requester = requester_conn
            .map(|c| self.identity_of(c))
            .unwrap_or_default();
        let mine = self
            .approvals
            .pending
            .iter()
            .filter(|a| a.requester == requester)
            .count();
        if mine >= self.cfg.exec.max_pending_approvals_per_identity {
            self.approvals.stats.rejected_full += 1;
            return Err(unavailable(
                "RATE_LIMITED",
                format!("{mine} approvals are pending for this client (exec.maxPendingApprovalsPerIdentity)"),
                RETRY_FULL_MS,
            ));
        }
        let seq = self.approvals.next_seq;
        let id = id.unwrap_or_else(|| self.new_approval_id());
        let created_ms = wall_ms();
        let expires_ms = created_ms + timeout_ms;
        let row = ApprovalRow {
            id: id.clone(),
            created_ms,
            expires_ms,
            session: session.clone(),
            request: request.to_string(),
            coach: Some(coach.to_string()),
            state: "pending".into(),
            decision: None,
            resolved_by: None,
            resolved_ms: None,
        };
        if let Err(err) = self.store.insert_approval(&row) {
            storage("pending approval", err);
        }
        let timer = self
            .timers
            .insert(
                now + Duration::from_millis(timeout_ms),
                Timer::ApprovalExpire(seq),
            )
            .ok();
        self.approvals.next_seq = self.approvals.next_seq.max(seq + 1);
        let a = Approval {
            seq,
            id,
            created_ms,
            expires_ms,
            timer,
            session,
            request,
            coach,
            command,
            waiters: waiter.into_iter().collect(),
            requester,
            exec,
        };
        let ev = SharedEvent::new("exec.approval.requested", &a.view());
        log::info!(
            "approval {} requested: {:?}",
            a.id,
            a.command.chars().take(120).collect::<String>()
        );
        let raised = super::notify::raised_of(&a.view(), &a.command);
        self.approvals.pending.push(a);
        self.approvals.stats.requested += 1;
        self.notify_raised(raised, now);
        let told = self.broadcast_approvers(&ev, now);
        if told == 0 {
            log::warn!("approval requested with no approver connected (operator.approvals); it waits for one until it expires");
        }
        Ok(())
    }

    // ----- decisions ---------------------------------------------------------------

    pub(super) fn exec_approval_resolve(
        &mut self,
        id: ConnId,
        req: &Request,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        const M: &str = "exec.approval.resolve";
        let p = params_object(req, &["id", "decision"])?;
        let aid = match p.and_then(|p| p.get("id")) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(bad(M, "id", "the id of a pending approval")),
        };
        let decision = match p.and_then(|p| p.get("decision")).and_then(Value::as_str) {
            Some(d @ ("allow-once" | "allow-always" | "deny")) => d.to_string(),
            _ => {
                return Err(bad(
                    M,
                    "decision",
                    "\"allow-once\", \"allow-always\" or \"deny\"",
                ))
            }
        };
        self.resolve_as(id, &aid, &decision, now)?;
        Ok(Payload::Json(
            json!({"ok": true, "id": aid, "decision": decision}),
        ))
    }

    /// `id` (a connection holding operator.approvals) decides `aid`: the
    /// one path for `exec.approval.resolve` and OpenClaw's `approval.resolve`.
    pub(super) fn resolve_as(
        &mut self,
        id: ConnId,
        aid: &str,
        decision: &str,
        now: Instant,
    ) -> Result<(), ErrorShape> {
        let Some(i) = self.approvals.pending.iter().position(|a| a.id == aid) else {
            return Err(self.not_pending(aid));
        };
        // Nobody answers a prompt their own credential raised, unless it is
        // the operator's (a person may answer their own questions).
        let requester = &self.approvals.pending[i].requester;
        if requester.starts_with("agent:") && *requester == self.identity_of(id) {
            return Err(ErrorShape::new(
                ErrorCode::Forbidden,
                format!("{aid} was raised by this credential; another identity with operator.approvals must answer it"),
            )
            .detail("SELF_APPROVAL", json!({"id": aid})));
        }
        let a = self.approvals.pending.remove(i);
        let by = self.resolver_name(id);
        self.settle_approval(a, Some(decision), &by, Some(id), now);
        Ok(())
    }

    /// The allow-always commands, oldest first.
    pub(super) fn allow_always_list(&self) -> Vec<String> {
        self.approvals.allow_always.iter().cloned().collect()
    }

    pub(super) fn approvals_index(&self, aid: &str) -> Option<usize> {
        self.approvals.pending.iter().position(|a| a.id == aid)
    }

    /// A pending approval's view and its command line.
    pub(super) fn approval_view(&self, i: usize) -> (Value, String) {
        let a = &self.approvals.pending[i];
        (a.view(), a.command.clone())
    }

    /// A decision from outside a WebSocket (a signed link): first decision
    /// wins, once; `by` names the channel in the audit row.
    pub(super) fn decide_by_link(
        &mut self,
        aid: &str,
        decision: &str,
        by: &str,
        _conn: ConnId,
        now: Instant,
    ) -> Result<(), String> {
        let Some(i) = self.approvals_index(aid) else {
            return Err(self.not_pending(aid).message);
        };
        let a = self.approvals.pending.remove(i);
        self.settle_approval(a, Some(decision), by, None, now);
        Ok(())
    }

    /// Why `aid` cannot be decided now: already decided (first decision
    /// wins, once; the answer names who), expired, or never known.
    pub(super) fn not_pending(&mut self, aid: &str) -> ErrorShape {
        let row = if aid.len() <= MAX_APPROVAL_ID_BYTES {
            self.store.get_approval(aid).unwrap_or(None)
        } else {
            None
        };
        match row {
            Some(r) if r.state == "decided" => {
                let by = r.resolved_by.unwrap_or_else(|| "someone".into());
                let d = r.decision.unwrap_or_default();
                ErrorShape::new(
                    ErrorCode::ApprovalNotFound,
                    format!("approval `{aid}` was already decided by {by} ({d})"),
                )
                .detail(
                    "APPROVAL_ALREADY_DECIDED",
                    json!({"id": aid, "decision": d, "resolvedBy": by}),
                )
            }
            Some(r) => ErrorShape::new(
                ErrorCode::ApprovalNotFound,
                format!("approval `{aid}` is no longer pending ({})", r.state),
            )
            .detail("APPROVAL_NOT_FOUND", json!({"id": aid, "state": r.state})),
            None => ErrorShape::new(
                ErrorCode::ApprovalNotFound,
                format!("unknown or expired approval id `{aid}`"),
            )
            .detail("APPROVAL_NOT_FOUND", json!({"id": aid})),
        }
    }

    pub(super) fn on_approval_expired(&mut self, seq: u64, now: Instant) {
        let Some(i) = self.approvals.pending.iter().position(|a| a.seq == seq) else {
            return;
        };
        let mut a = self.approvals.pending.remove(i);
        a.timer = None;
        self.settle_approval(a, None, "timeout", None, now);
    }

    /// A decision (or none: expiry, cancellation) reaches everyone who waits.
    fn settle_approval(
        &mut self,
        mut a: Approval,
        decision: Option<&str>,
        by: &str,
        by_conn: Option<ConnId>,
        now: Instant,
    ) {
        if let Some(t) = a.timer.take() {
            self.timers.cancel(t);
        }
        let ts = wall_ms();
        let state = if decision.is_some() {
            "decided"
        } else if by == "timeout" {
            "expired"
        } else {
            "cancelled"
        };
        if let Err(e) = self.store.decide_approval(&a.id, state, decision, by, ts) {
            storage("decision", e);
        }
        let st = &mut self.approvals.stats;
        match decision {
            Some("allow-once") => st.allowed_once += 1,
            Some("allow-always") => st.allowed_always += 1,
            Some(_) => st.denied += 1,
            None if state == "expired" => st.expired += 1,
            None => st.cancelled += 1,
        }
        if decision == Some("allow-always")
            && a.command.len() <= crate::exec::ALLOW_ALWAYS_MAX_KEY_BYTES
        {
            let max = self.cfg.exec.max_allow_always;
            if max > 0 {
                self.approvals.allow_always.insert(a.command.clone());
                while self.approvals.allow_always.len() > max {
                    if let Some(old) = self.approvals.allow_always.pop_front() {
                        let _ = self.store.delete_allow_always(&old);
                    }
                }
                if let Err(e) = self.store.save_allow_always(&a.command, by, ts) {
                    storage("allow-always", e);
                }
            }
        }
        let pattern_ids = a.coach["matches"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(|x| x["patternId"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        self.push_audit(AuditRow {
            alert_id: Some(a.id.clone()),
            conn: by_conn.map(|c| c.to_string()),
            client_id: by_conn.and_then(|c| self.session(c).map(|s| s.params.client.id.clone())),
            severity: a.coach["severity"].as_str().map(str::to_string),
            pattern_ids,
            detail: Some(
                json!({"session": a.session, "state": state, "exec": a.exec.is_some()}).to_string(),
            ),
            ..AuditRow::new(
                ts,
                "approval",
                decision.unwrap_or(state),
                self.audit_cap(&a.command),
                by.to_string(),
            )
        });
        log::info!("approval {}: {} by {by}", a.id, decision.unwrap_or(state));
        let ev = SharedEvent::new(
            "exec.approval.resolved",
            &json!({"id": a.id, "decision": decision, "resolvedBy": by, "ts": ts}),
        );
        self.broadcast_approvers(&ev, now);
        let answer = json!({"id": a.id, "decision": decision, "createdAtMs": a.created_ms, "expiresAtMs": a.expires_ms, "resolvedBy": by});
        for (conn, req_id) in std::mem::take(&mut a.waiters) {
            if self.conns.get(conn).is_some() {
                self.respond_ok(conn, &req_id, &answer, now);
            }
        }
        let Some(w) = a.exec.take() else {
            return;
        };
        if self.conns.get(w.conn).is_none() {
            return;
        }
        let res = match decision {
            Some("allow-once") | Some("allow-always") => {
                self.resume_held(w, by, now);
                return;
            }
            Some(_) => Err(ErrorShape::new(
                ErrorCode::Forbidden,
                format!("exec.run denied by {by}"),
            )
            .detail(
                "APPROVAL_DENIED",
                json!({"approvalId": a.id, "resolvedBy": by}),
            )),
            None => Err(ErrorShape::new(
                ErrorCode::Forbidden,
                format!("exec.run needed an approval and none came ({state})"),
            )
            .detail("APPROVAL_EXPIRED", json!({"approvalId": a.id}))),
        };
        self.answer(w.conn, &w.req_id, res, now);
    }

    /// Sends a handler-shaped result for a request answered late.
    pub(super) fn answer(
        &mut self,
        conn: ConnId,
        req_id: &str,
        res: Result<Payload, ErrorShape>,
        now: Instant,
    ) {
        if self.conns.get(conn).is_none() {
            return;
        }
        match res {
            Ok(Payload::Json(v)) => self.respond_ok(conn, req_id, &v, now),
            Ok(Payload::Raw(t)) => self.respond_ok_raw(conn, req_id, &t, now),
            Ok(Payload::Deferred) => {}
            Err(e) => self.respond_err(conn, req_id, &e, now),
        }
    }

    pub(super) fn exec_approval_list(
        &mut self,
        _id: ConnId,
        req: &Request,
        _now: Instant,
    ) -> Result<Payload, ErrorShape> {
        params_object(req, &[])?;
        // An array, as OpenClaw's clients read it (`openclaw approvals
        // pending`, the Control UI's approvals queue).
        let list: Vec<Value> = self.approvals.pending.iter().map(Approval::view).collect();
        Ok(Payload::Json(Value::Array(list)))
    }

    /// The client went away: its held requests are dropped, and an
    /// `exec.run` it was waiting on is cancelled (nobody would see it run).
    pub(super) fn approvals_conn_gone(&mut self, id: ConnId, now: Instant) {
        for a in self.approvals.pending.iter_mut() {
            a.waiters.retain(|(c, _)| *c != id);
        }
        while let Some(i) = self
            .approvals
            .pending
            .iter()
            .position(|a| a.exec.as_ref().is_some_and(|w| w.conn == id))
        {
            let a = self.approvals.pending.remove(i);
            self.settle_approval(a, None, "requester-disconnected", None, now);
        }
    }

    pub(super) fn approvals_housekeeping(&mut self) {
        if let Err(e) = self.store.prune_approvals(self.cfg.exec.approvals_kept) {
            storage("prune", e);
        }
    }
}
