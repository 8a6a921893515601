//! OpenClaw's approval and config methods, in the shapes its own clients
//! read (openclaw@2026.9.6: `openclaw approvals pending|resolve|get
//! --gateway`, `gateway probe`, the Control UI's approvals page):
//!
//! - `plugin.approval.list`, `openclaw.approval.list`: clawgate raises no
//!   plugin or system-agent approvals: `[]`.
//! - `approval.get {id}` → `{approval}`; `approval.resolve {id, kind,
//!   decision}` → `{applied, approval}` (first decision wins; a later one
//!   gets `applied: false` and the recorded decision); `approval.history
//!   {cursor?, limit?, kind?}` → `{items, nextCursor?}`. An approval is
//!   projected as OpenClaw's reviewer-safe snapshot: `{id, status, presentation:
//!   {kind:"exec", commandText, warningText, allowedDecisions}, urlPath,
//!   createdAtMs, expiresAtMs}` plus, once settled, `resolvedAtMs, reason,
//!   decision?, resolver {kind, id}, source {sessionKey?}`.
//! - `exec.approvals.get` → `{path, exists, hash, file:{version, defaults,
//!   agents:{"*":{allowlist}}}}`: the allow-always list as an allowlist.
//! - `config.get` → `{path, exists, valid, hash, config, issues}` with
//!   secrets redacted.

use super::methods::{bad_param as bad, opt_str, opt_u64, params_object, unavailable, Payload};
use super::Gateway;
use crate::net::ConnId;
use crate::protocol::{ErrorCode, ErrorShape, Request};
use crate::store::ApprovalRow;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Instant;

/// Most items in one `approval.history` page (OpenClaw's own maximum).
const HISTORY_MAX: u64 = 100;
const HISTORY_DEFAULT: u64 = 50;
const DECISIONS: [&str; 3] = ["allow-once", "allow-always", "deny"];

fn not_found() -> ErrorShape {
    // OpenClaw's CLI matches this message to tell "no such id" apart.
    ErrorShape::new(ErrorCode::InvalidRequest, "approval not found").detail(
        "APPROVAL_NOT_FOUND",
        json!({"reason": "APPROVAL_NOT_FOUND"}),
    )
}

fn sha_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Who decided, as OpenClaw's resolver attribution.
fn resolver(by: &str) -> Value {
    if let Some(ch) = by.strip_prefix("link:") {
        json!({"kind": "channel", "id": ch})
    } else if let Some(d) = by.strip_prefix("device:") {
        json!({"kind": "device", "id": d})
    } else if by == "timeout" || by.is_empty() {
        json!({"kind": "system"})
    } else {
        json!({"kind": "runtime", "id": by})
    }
}

fn presentation(command: &str, coach: &Value, agent: Option<&str>) -> Value {
    let mut p = json!({
        "kind": "exec",
        "commandText": if command.is_empty() { "(no command)" } else { command },
        "allowedDecisions": DECISIONS,
    });
    if let Some(w) = coach["matches"][0]["title"].as_str() {
        p["warningText"] = json!(format!(
            "clawgate coach: {w} ({})",
            coach["severity"].as_str().unwrap_or("?")
        ));
    }
    if let Some(a) = agent {
        p["agentId"] = json!(a);
    }
    p
}

/// A pending approval's snapshot from its live view.
fn pending_snapshot(view: &Value, command: &str) -> Value {
    let id = view["id"].as_str().unwrap_or_default();
    json!({
        "id": id,
        "status": "pending",
        "presentation": presentation(command, &view["coach"], view["request"]["agentId"].as_str()),
        "urlPath": "/",
        "createdAtMs": view["createdAtMs"],
        "expiresAtMs": view["expiresAtMs"],
    })
}

/// A settled approval's snapshot from its stored row.
fn settled_snapshot(r: &ApprovalRow) -> Value {
    let request: Value = serde_json::from_str(&r.request).unwrap_or_default();
    let coach: Value = r
        .coach
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or_default();
    let command = request["command"].as_str().unwrap_or_default();
    let by = r.resolved_by.clone().unwrap_or_default();
    let (status, reason) = match (r.state.as_str(), r.decision.as_deref()) {
        ("decided", Some("deny")) => ("denied", "user"),
        ("decided", Some(_)) => ("allowed", "user"),
        ("expired", _) if by == "timeout" => ("expired", "timeout"),
        ("expired", _) => ("cancelled", "gateway-restart"),
        _ => ("cancelled", "run-aborted"),
    };
    let mut v = json!({
        "id": r.id,
        "status": status,
        "presentation": presentation(command, &coach, request["agentId"].as_str()),
        "urlPath": "/",
        "createdAtMs": r.created_ms,
        "expiresAtMs": r.expires_ms,
        "resolvedAtMs": r.resolved_ms.unwrap_or(r.expires_ms),
        "reason": reason,
        "resolver": resolver(&by),
    });
    if let Some(d) = r
        .decision
        .as_deref()
        .filter(|_| status != "expired" && status != "cancelled")
    {
        v["decision"] = json!(d);
    }
    if let Some(k) = request["sessionKey"].as_str().filter(|k| !k.is_empty()) {
        v["source"] = json!({"sessionKey": k});
    }
    v
}

impl Gateway {
    pub(super) fn empty_approval_list(
        &mut self,
        _id: ConnId,
        req: &Request,
        _now: Instant,
    ) -> Result<Payload, ErrorShape> {
        params_object(req, &[])?;
        Ok(Payload::Json(json!([])))
    }

    fn approval_snapshot(&mut self, aid: &str) -> Result<Option<Value>, ErrorShape> {
        if let Some(i) = self.approvals_index(aid) {
            let (view, command) = self.approval_view(i);
            return Ok(Some(pending_snapshot(&view, &command)));
        }
        if aid.len() > super::approvals::MAX_APPROVAL_ID_BYTES {
            return Ok(None);
        }
        let row = self.store.get_approval(aid).map_err(|e| {
            unavailable(
                "STORAGE_ERROR",
                format!("approval lookup failed: {e}"),
                1_000,
            )
        })?;
        Ok(row
            .filter(|r| r.state != "pending")
            .map(|r| settled_snapshot(&r)))
    }

    pub(super) fn approval_get(
        &mut self,
        _id: ConnId,
        req: &Request,
        _now: Instant,
    ) -> Result<Payload, ErrorShape> {
        let p = params_object(req, &["id"])?;
        let aid = opt_str(p, "approval.get", "id", 512)?
            .ok_or_else(|| bad("approval.get", "id", "the approval's id"))?
            .to_string();
        match self.approval_snapshot(&aid)? {
            Some(a) => Ok(Payload::Json(json!({"approval": a}))),
            None => Err(not_found()),
        }
    }

    pub(super) fn approval_resolve(
        &mut self,
        id: ConnId,
        req: &Request,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        const M: &str = "approval.resolve";
        let p = params_object(
            req,
            &["id", "kind", "decision", "reviewer", "grantExpiresInDays"],
        )?;
        let aid = opt_str(p, M, "id", 512)?
            .ok_or_else(|| bad(M, "id", "the approval's id"))?
            .to_string();
        match opt_str(p, M, "kind", 32)? {
            Some("exec") | None => {}
            // No plugin or system-agent approvals exist here.
            Some(_) => return Err(not_found()),
        }
        let decision = match opt_str(p, M, "decision", 16)? {
            Some(d) if DECISIONS.contains(&d) => d.to_string(),
            _ => {
                return Err(bad(
                    M,
                    "decision",
                    "\"allow-once\", \"allow-always\" or \"deny\"",
                ))
            }
        };
        if p.and_then(|p| p.get("reviewer")).is_some() {
            // Channel reviewers are OpenClaw's chat plugins; not here.
            return Err(not_found());
        }
        let applied = if self.approvals_index(&aid).is_some() {
            self.resolve_as(id, &aid, &decision, now)?;
            true
        } else {
            false
        };
        match self.approval_snapshot(&aid)? {
            Some(a) if a["status"] != "pending" => {
                Ok(Payload::Json(json!({"applied": applied, "approval": a})))
            }
            _ => Err(not_found()),
        }
    }

    pub(super) fn approval_history(
        &mut self,
        _id: ConnId,
        req: &Request,
        _now: Instant,
    ) -> Result<Payload, ErrorShape> {
        const M: &str = "approval.history";
        let p = params_object(req, &["cursor", "limit", "kind"])?;
        let limit = opt_u64(p, M, "limit")?.unwrap_or(HISTORY_DEFAULT);
        if limit == 0 || limit > HISTORY_MAX {
            return Err(bad(M, "limit", "1..=100"));
        }
        if !matches!(opt_str(p, M, "kind", 32)?, None | Some("exec")) {
            return Ok(Payload::Json(json!({"items": []})));
        }
        // The cursor is "<createdMs>:<id>" of the last item of a page.
        let before = match opt_str(p, M, "cursor", 512)? {
            None => None,
            Some(c) => Some(
                c.split_once(':')
                    .and_then(|(ms, id)| Some((ms.parse::<u64>().ok()?, id.to_string())))
                    .ok_or_else(|| ErrorShape::invalid("invalid approval.history cursor"))?,
            ),
        };
        let rows = self
            .store
            .settled_approvals(limit as usize, before)
            .map_err(|e| {
                unavailable(
                    "STORAGE_ERROR",
                    format!("approval history failed: {e}"),
                    1_000,
                )
            })?;
        let next = (rows.len() as u64 == limit)
            .then(|| rows.last().map(|r| format!("{}:{}", r.created_ms, r.id)))
            .flatten();
        let items: Vec<Value> = rows.iter().map(settled_snapshot).collect();
        let mut v = json!({"items": items});
        if let Some(n) = next {
            v["nextCursor"] = json!(n);
        }
        Ok(Payload::Json(v))
    }

    pub(super) fn exec_approvals_get(
        &mut self,
        _id: ConnId,
        req: &Request,
        _now: Instant,
    ) -> Result<Payload, ErrorShape> {
        params_object(req, &["nodeId"])?;
        let allowlist: Vec<Value> = self
            .allow_always_list()
            .into_iter()
            .map(|c| json!({"pattern": c, "source": "allow-always"}))
            .collect();
        let file = json!({
            "version": 1,
            "defaults": {"security": "allowlist", "ask": "on-miss", "askFallback": "deny"},
            "agents": {"*": {"allowlist": allowlist}},
        });
        let hash = sha_hex(&file.to_string());
        Ok(Payload::Json(json!({
            "path": format!("{}#exec_allow", self.store.path().display()),
            "exists": true,
            "hash": hash,
            "file": file,
        })))
    }

    pub(super) fn config_get(
        &mut self,
        _id: ConnId,
        req: &Request,
        _now: Instant,
    ) -> Result<Payload, ErrorShape> {
        params_object(req, &[])?;
        let config = self.cfg.redacted_json();
        let hash = sha_hex(&config.to_string());
        Ok(Payload::Json(json!({
            "path": self.cfg.server.data_dir.join("clawgate.json").display().to_string(),
            "exists": true,
            "valid": true,
            "hash": hash,
            "config": config,
            "issues": [],
        })))
    }
}
