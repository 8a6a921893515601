//! Agents plugging in, the gateway side.
//!
//! - `agent.check {input, tool?, hold?, sessionKey?}`: the coach decides;
//!   with `hold` an `approve` is held as an exec approval (the same
//!   `exec.approval.requested` / `exec.approval.resolve` machinery a person
//!   already answers from the console, phone or terminal) for at most
//!   `agents.holdTimeoutMs`, then answered with the person's decision (or
//!   `decision: null`: nobody answered, which agents read as deny).
//! - `agent.report {tool, input?, outcome, detail?, sessionKey?}`: what ran
//!   and how it ended, as an audit row (`kind: "tool"`), so the trail shows
//!   the whole session and not only the checks.
//! - `POST /hooks/claude-code`: Claude Code's hook input mapped by
//!   `agent::hook`, run through the two above; the HTTP connection is held
//!   (no reads, no handshake timeout; bounded by the coach's and the
//!   approval's own timers) until the answer is in.

use super::after::After;
use super::methods::{bad_param as bad, opt_bool, opt_str, params_object, Payload};
use super::{wall_ms, Gateway, Timer};
use crate::agent::hook::{self, Event};
use crate::coach::{CheckInput, Decision, Verdict};
use crate::net::http::{self, PlainRequest};
use crate::net::ConnId;
use crate::protocol::{ErrorShape, Request};
use crate::store::AuditRow;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The request id a held HTTP hook uses inside the gateway.
const HOOK_REQ_ID: &str = "hook";
/// Characters of a tool's display kept in approval prompts and audit.
const DISPLAY_CHARS: usize = 512;

/// A checked call waiting for the coach, then maybe a person.
pub struct AgentReq {
    hold: bool,
    session_key: Option<String>,
    display: String,
    request: Value,
}

/// HTTP hook connections waiting for their answer (bounded by the
/// pre-auth connection cap: each is one connection in `HttpHead`).
#[derive(Default)]
pub struct HookWaits {
    waits: HashMap<ConnId, ()>,
    /// Who each authenticated hook connection is (`operator`, or the
    /// credential's `kind:name`), until it closes.
    idents: HashMap<ConnId, String>,
}

impl HookWaits {
    pub fn waiting(&self, id: ConnId) -> bool {
        self.waits.contains_key(&id)
    }
    pub fn identity(&self, id: ConnId) -> Option<&str> {
        self.idents.get(&id).map(String::as_str)
    }
    /// The answer went out.
    pub fn settled(&mut self, id: ConnId) {
        self.waits.remove(&id);
    }
    /// The connection is gone.
    pub fn forget(&mut self, id: ConnId) {
        self.waits.remove(&id);
        self.idents.remove(&id);
    }
}

/// One line a person reads in an approval prompt: the tool and its gist.
fn display_of(tool: &str, input: &CheckInput) -> String {
    let gist = input
        .command
        .clone()
        .or_else(|| input.url.clone())
        .or_else(|| input.file_path.clone())
        .or_else(|| input.params.as_ref().map(Value::to_string))
        .or_else(|| input.content.clone())
        .unwrap_or_default();
    let s = format!("{tool}: {gist}");
    s.chars().take(DISPLAY_CHARS).collect()
}

impl Gateway {
    pub(super) fn agent_check(
        &mut self,
        id: ConnId,
        req: &Request,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        const M: &str = "agent.check";
        let p = params_object(req, &["input", "tool", "hold", "sessionKey"])?;
        let raw = p
            .and_then(|m| m.get("input"))
            .filter(|v| v.is_object())
            .ok_or_else(|| bad(M, "input", "an object (the coach's input)"))?;
        let input: CheckInput = serde_json::from_value(raw.clone()).map_err(|e| {
            ErrorShape::invalid(format!("invalid {M} params: input: {e}"))
                .detail("INVALID_PARAMS", json!({"property": "input"}))
        })?;
        if input.is_empty() {
            return Err(bad(M, "input", "command, content, url, filePath or params"));
        }
        let tool = opt_str(p, M, "tool", 128)?
            .or(input.tool_name.as_deref())
            .unwrap_or("tool")
            .to_string();
        let hold = opt_bool(p, M, "hold")?.unwrap_or(false);
        let session_key = opt_str(p, M, "sessionKey", 256)?.map(str::to_string);
        self.agent_submit(id, &req.id, &tool, input, session_key, hold, now)
    }

    #[allow(clippy::too_many_arguments)]
    fn agent_submit(
        &mut self,
        id: ConnId,
        req_id: &str,
        tool: &str,
        input: CheckInput,
        session_key: Option<String>,
        hold: bool,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        let display = display_of(tool, &input);
        let request =
            json!({"command": display, "tool": tool, "agent": true, "sessionKey": session_key});
        let ar = AgentReq {
            hold,
            session_key: session_key.clone(),
            display,
            request,
        };
        self.submit_check(
            id,
            req_id,
            input,
            session_key,
            After::Agent(Box::new(ar)),
            now,
        )
    }

    /// The coach has spoken on an `agent.check` (or a hook).
    pub(super) fn agent_after_coach(
        &mut self,
        conn: ConnId,
        req_id: &str,
        ar: AgentReq,
        v: &Verdict,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        let verdict = serde_json::to_value(v).unwrap_or_default();
        if v.decision != Decision::Approve || !ar.hold {
            return Ok(Payload::Json(
                json!({"decision": v.decision.as_str(), "coach": verdict, "held": false}),
            ));
        }
        if self.approvals.allow_always_has(&ar.display) {
            return Ok(Payload::Json(json!({
                "decision": "allow-always", "resolvedBy": "allow-always", "coach": verdict,
            })));
        }
        let session = self.session_label(conn, ar.session_key.as_deref());
        let coach = json!({"decision": v.decision, "severity": v.severity, "matches": v.matches});
        let timeout = self.cfg.agents.hold_timeout_ms;
        self.raise_approval(
            None,
            session,
            ar.request,
            coach,
            ar.display,
            timeout,
            Some((conn, req_id.to_string())),
            None,
            now,
        )?;
        Ok(Payload::Deferred)
    }

    pub(super) fn agent_report(
        &mut self,
        id: ConnId,
        req: &Request,
        _now: Instant,
    ) -> Result<Payload, ErrorShape> {
        const M: &str = "agent.report";
        let p = params_object(req, &["tool", "input", "outcome", "detail", "sessionKey"])?;
        let tool = opt_str(p, M, "tool", 128)?
            .ok_or_else(|| bad(M, "tool", "the tool's name"))?
            .to_string();
        let outcome = match opt_str(p, M, "outcome", 16)? {
            Some(o @ ("ok" | "failed" | "ran")) => o.to_string(),
            _ => return Err(bad(M, "outcome", "\"ok\", \"failed\" or \"ran\"")),
        };
        let input = p
            .and_then(|m| m.get("input"))
            .cloned()
            .unwrap_or(Value::Null);
        let detail = p.and_then(|m| m.get("detail")).cloned();
        let session_key = opt_str(p, M, "sessionKey", 256)?.map(str::to_string);
        let client = self.session(id).map(|s| s.params.client.id.clone());
        self.tool_audit(id, &tool, &input, &outcome, detail, session_key, client);
        Ok(Payload::Json(json!({"ok": true})))
    }

    #[allow(clippy::too_many_arguments)]
    fn tool_audit(
        &mut self,
        id: ConnId,
        tool: &str,
        input: &Value,
        outcome: &str,
        detail: Option<Value>,
        session_key: Option<String>,
        client: Option<String>,
    ) {
        let n = self.cfg.coach.audit_input_chars;
        let text: String = format!("{tool} {input}").chars().take(n).collect();
        let detail = detail.map(|d| d.to_string().chars().take(n).collect());
        // A WebSocket session's identity is added by push_audit; a hook's
        // connection has no session, so its identity is named here.
        let conn = match self.hooks.identity(id) {
            Some(who) => format!("{id} {who}"),
            None => id.to_string(),
        };
        self.push_audit(AuditRow {
            conn: Some(conn),
            client_id: client.clone(),
            session_key,
            detail,
            ..AuditRow::new(
                wall_ms(),
                "tool",
                outcome,
                text,
                client.unwrap_or_else(|| "agent".into()),
            )
        });
    }

    // ----- POST /hooks/claude-code ---------------------------------------------

    /// `Some(response)` now, or `None`: held, answered by `hook_settled`.
    pub(super) fn claude_code_hook(
        &mut self,
        id: ConnId,
        req: &PlainRequest,
        now: Instant,
    ) -> Option<Vec<u8>> {
        if req.method != "POST" {
            return Some(http::response(
                405,
                "Method Not Allowed",
                "text/plain",
                "POST Claude Code's hook input here\n",
                "Allow: POST\r\n",
            ));
        }
        if let Err(resp) = self.agent_auth(id, req, now) {
            return Some(resp);
        }
        let h = match hook::parse(&req.body) {
            Ok(h) => h,
            Err(why) => {
                self.stats.http_errors += 1;
                return Some(http::response(
                    400,
                    "Bad Request",
                    "text/plain",
                    &format!("{why}\n"),
                    "",
                ));
            }
        };
        if h.event == Event::PostToolUse {
            let (outcome, summary) = hook::outcome(h.tool_response.as_ref());
            let detail = json!({"source": "claude-code", "cwd": h.cwd, "response": summary});
            self.tool_audit(
                id,
                &h.tool_name,
                &h.tool_input,
                outcome,
                Some(detail),
                h.session_id,
                Some("claude-code".into()),
            );
            return Some(json_ok(&json!({})));
        }
        let input = hook::check_input(&h.tool_name, &h.tool_input);
        let hold = self.cfg.agents.remote_approval;
        let res = self.agent_submit(
            id,
            HOOK_REQ_ID,
            &h.tool_name,
            input,
            h.session_id,
            hold,
            now,
        );
        match res {
            Ok(Payload::Json(v)) => Some(hook_response(&v)),
            Ok(Payload::Raw(t)) => {
                Some(hook_response(&serde_json::from_str(&t).unwrap_or_default()))
            }
            Ok(Payload::Deferred) => {
                self.hooks.waits.insert(id, ());
                // The connection's handshake timer would close it; the
                // coach's timeout and the hold bound the wait instead, and
                // this backstop covers both.
                let backstop = Duration::from_millis(
                    self.cfg.agents.hold_timeout_ms + self.cfg.coach.task_timeout_ms,
                );
                if let Some(conn) = self.conns.get_mut(id) {
                    if let Some(t) = conn.handshake_timer.take() {
                        self.timers.cancel(t);
                    }
                    conn.handshake_timer = self
                        .timers
                        .insert(now + backstop, Timer::Handshake(id))
                        .ok();
                }
                None
            }
            Err(e) => Some(json_ok(&hook::deny_output(&e.message))),
        }
    }

    /// A held hook's answer (a coach verdict, the person's decision, or an
    /// error) arrived through `respond_ok`/`respond_err`.
    pub(super) fn hook_settled(&mut self, id: ConnId, answer: Result<&Value, &ErrorShape>) {
        self.hooks.settled(id);
        let body = match answer {
            Ok(v) => hook_response(v),
            Err(e) => json_ok(&hook::deny_output(&e.message)),
        };
        if let Some(conn) = self.conns.get_mut(id) {
            conn.reply_http(&body);
            self.mark_dirty(id);
        }
    }

    /// Who may call the hook endpoint: the operator's shared secret, or a
    /// credential carrying `operator.write` (an agent's). A device-bound
    /// credential cannot be used here (a POST carries no signature). The
    /// identity is kept for the connection: approvals and audit rows name
    /// it, and an agent credential can never answer its own prompt.
    ///
    /// Refusals are answered `200` with a `deny`: Claude Code treats any
    /// other status as "no opinion" and lets the tool run (fail closed).
    fn agent_auth(&mut self, id: ConnId, req: &PlainRequest, now: Instant) -> Result<(), Vec<u8>> {
        let Some(ip) = self.conns.get(id).map(|c| c.addr.ip()) else {
            return Err(Vec::new());
        };
        let deny = |why: &str| json_ok(&hook::deny_output(why));
        if self.limiter.check(ip, now).is_err() {
            return Err(deny(
                "too many failed authentication attempts from this address",
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
        if super::auth::check(&self.secrets, presented, presented).is_ok() {
            self.limiter.record_success(ip);
            self.hooks.idents.insert(id, "operator".into());
            return Ok(());
        }
        let found = presented
            .filter(|t| t.len() <= super::auth::MAX_SECRET_LEN)
            .and_then(|t| {
                self.store
                    .credential_by_secret(&super::auth::secret_sha256(t))
                    .unwrap_or_else(|e| {
                        log::warn!("credential lookup failed: {e}");
                        None
                    })
            });
        let Some(c) = found else {
            if presented.is_some() {
                self.limiter.record_failure(ip, now);
            }
            self.stats.reject(super::stats::RejectReason::Auth);
            return Err(deny(
                "the hook's credential was refused (send `Authorization: Bearer <agent credential>`)",
            ));
        };
        self.limiter.record_success(ip);
        if c.device_id.is_some() {
            return Err(deny(
                "this credential is bound to a device and cannot be used over HTTP",
            ));
        }
        if !c
            .scopes
            .iter()
            .any(|s| s == "operator.write" || s == "operator.admin")
        {
            return Err(deny("this credential lacks operator.write"));
        }
        self.hooks
            .idents
            .insert(id, format!("{}:{}", c.kind, c.name));
        Ok(())
    }
}

fn json_ok(v: &Value) -> Vec<u8> {
    http::response(200, "OK", "application/json", &v.to_string(), "")
}

fn hook_response(answer: &Value) -> Vec<u8> {
    let (p, reason) = hook::decide(answer);
    json_ok(&hook::pre_output(p, &reason))
}
