//! `tokens.create`, `tokens.list`, `tokens.revoke` (operator.admin): the
//! same credentials as `clawgate token ...`, over the socket. The secret is
//! answered once by create and never listed; revoking closes the
//! connections made with the credential, so its scopes do not outlive it.

use super::methods::{bad_param as bad, opt_text, params_object, Payload};
use super::{wall_ms, Gateway};
use crate::net::ConnId;
use crate::protocol::{close, ErrorShape, Request};
use crate::store::credentials::Credential;
use serde_json::{json, Value};
use std::time::Instant;

/// Credentials kept at most (live and revoked): the table is keyed by
/// admin input, so it is bounded like every other.
pub const MAX_CREDENTIALS: usize = 1000;

fn store_err(e: impl std::fmt::Display) -> ErrorShape {
    ErrorShape::invalid(format!("credential store: {e}")).detail("STORAGE_ERROR", Value::Null)
}

impl Gateway {
    pub(super) fn tokens_create(
        &mut self,
        _id: ConnId,
        req: &Request,
        _now: Instant,
    ) -> Result<Payload, ErrorShape> {
        const M: &str = "tokens.create";
        let p = params_object(req, &["name", "scopes", "kind", "deviceId"])?;
        let name = opt_text(p, M, "name", 64)?
            .ok_or_else(|| bad(M, "name", "a name"))?
            .to_string();
        let kind = opt_text(p, M, "kind", 16)?.unwrap_or("agent").to_string();
        let scopes: Vec<String> = match p.and_then(|p| p.get("scopes")) {
            Some(Value::Array(a)) if a.len() <= 8 => a
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| bad(M, "scopes", "a list of scope names"))?,
            _ => return Err(bad(M, "scopes", "a list of scope names")),
        };
        if let Some(why) = crate::store::credentials::problem(&name, &kind, &scopes) {
            return Err(ErrorShape::invalid(format!("{M}: {why}"))
                .detail("INVALID_PARAMS", json!({"property": "scopes"})));
        }
        let count = self.store.list_credentials().map_err(store_err)?.len();
        if count >= MAX_CREDENTIALS {
            return Err(ErrorShape::invalid(format!(
                "{M}: {count} credentials exist; revoke and prune some first"
            ))
            .detail("TOKENS_FULL", Value::Null));
        }
        let secret = super::auth::new_credential_secret().map_err(store_err)?;
        let c = Credential {
            name: name.clone(),
            kind,
            scopes,
            device_id: opt_text(p, M, "deviceId", 128)?.map(str::to_string),
            created_ms: wall_ms(),
            revoked_ms: None,
        };
        if !self
            .store
            .insert_credential(&c, &super::auth::secret_sha256(&secret))
            .map_err(store_err)?
        {
            return Err(ErrorShape::invalid(format!("{M}: `{name}` exists"))
                .detail("TOKEN_EXISTS", json!({"name": name})));
        }
        log::info!("credential `{name}` ({}) created: {:?}", c.kind, c.scopes);
        Ok(Payload::Json(
            json!({"name": c.name, "kind": c.kind, "scopes": c.scopes, "deviceId": c.device_id, "token": secret}),
        ))
    }

    pub(super) fn tokens_list(
        &mut self,
        _id: ConnId,
        req: &Request,
        _now: Instant,
    ) -> Result<Payload, ErrorShape> {
        params_object(req, &[])?;
        let rows = self.store.list_credentials().map_err(store_err)?;
        Ok(Payload::Json(json!({"count": rows.len(), "tokens": rows})))
    }

    /// Revokes a credential and closes the connections made with it.
    pub(super) fn tokens_revoke(
        &mut self,
        _id: ConnId,
        req: &Request,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        const M: &str = "tokens.revoke";
        let p = params_object(req, &["name"])?;
        let name = opt_text(p, M, "name", 64)?
            .ok_or_else(|| bad(M, "name", "a credential name"))?
            .to_string();
        if !self
            .store
            .revoke_credential(&name, wall_ms())
            .map_err(store_err)?
        {
            return Err(
                ErrorShape::invalid(format!("{M}: no live credential `{name}`"))
                    .detail("TOKEN_NOT_FOUND", json!({"name": name})),
            );
        }
        let live: Vec<ConnId> = self
            .sessions()
            .filter(|(_, s)| s.credential.as_ref().is_some_and(|c| c.name == name))
            .map(|(c, _)| *c)
            .collect();
        for c in &live {
            self.close(*c, close::POLICY, "credential revoked", now);
        }
        log::info!(
            "credential `{name}` revoked; {} connections closed",
            live.len()
        );
        Ok(Payload::Json(
            json!({"ok": true, "name": name, "closed": live.len()}),
        ))
    }
}
