//! Credentials: named secrets with a role and scopes fixed when an admin
//! creates them (`clawgate token create`, `tokens.create`). Only the
//! SHA-256 of a secret is stored; the secret is shown once, at creation.
//! A connect presenting one gets exactly its scopes, whatever it asks for.

use super::{Store, StoreError};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

/// `agent` credentials run tools; `operator` ones are people and their
/// consoles. An agent credential can never carry `operator.approvals` or
/// `operator.admin`: it cannot answer its own prompts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    pub name: String,
    pub kind: String,
    pub scopes: Vec<String>,
    /// A verified device (hex SHA-256 of its key) the credential is bound
    /// to: then only that device may present it.
    pub device_id: Option<String>,
    pub created_ms: u64,
    pub revoked_ms: Option<u64>,
}

fn credential_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<Credential> {
    let scopes: String = r.get(2)?;
    Ok(Credential {
        name: r.get(0)?,
        kind: r.get(1)?,
        scopes: scopes
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        device_id: r.get(3)?,
        created_ms: r.get::<_, i64>(4)? as u64,
        revoked_ms: r.get::<_, Option<i64>>(5)?.map(|v| v as u64),
    })
}

/// Credential rules shared by the CLI and `tokens.create`.
/// Why a credential cannot be created as asked.
pub fn problem(name: &str, kind: &str, scopes: &[String]) -> Option<String> {
    use crate::protocol::handshake::{SCOPE_ADMIN, SCOPE_APPROVALS};
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Some("--name: 1 to 64 characters of A-Z a-z 0-9 - _ .".into());
    }
    if kind != "agent" && kind != "operator" {
        return Some("--kind: agent or operator".into());
    }
    if scopes.is_empty() {
        return Some("--scopes: at least one (operator.read, operator.write, operator.approvals, operator.admin)".into());
    }
    for s in scopes {
        if !crate::protocol::handshake::KNOWN_SCOPES.contains(&s.as_str()) {
            return Some(format!("--scopes: unknown scope `{s}`"));
        }
    }
    if kind == "agent"
        && scopes
            .iter()
            .any(|s| s == SCOPE_APPROVALS || s == SCOPE_ADMIN)
    {
        return Some(
            "an agent credential can never carry operator.approvals or operator.admin: it would answer its own prompts"
                .into(),
        );
    }
    None
}

const COLUMNS: &str = "name, kind, scopes, device_id, created_ms, revoked_ms";

impl Store {
    /// Stores a new credential under the hex SHA-256 of its secret.
    /// `Ok(false)` when the name is taken.
    pub fn insert_credential(
        &mut self,
        c: &Credential,
        secret_sha256: &str,
    ) -> Result<bool, StoreError> {
        let n = self
            .db
            .prepare_cached(
                "INSERT OR IGNORE INTO credentials (name, kind, scopes, device_id, created_ms, revoked_ms, secret_sha256)
                 VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6)",
            )?
            .execute(params![
                c.name,
                c.kind,
                c.scopes.join(","),
                c.device_id,
                c.created_ms as i64,
                secret_sha256
            ])?;
        self.stats.transactions += 1;
        self.stats.rows_written += n as u64;
        Ok(n == 1)
    }

    /// The live credential whose secret hashes to `secret_sha256`.
    pub fn credential_by_secret(
        &mut self,
        secret_sha256: &str,
    ) -> Result<Option<Credential>, StoreError> {
        self.stats.queries += 1;
        Ok(self
            .db
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM credentials WHERE secret_sha256 = ?1 AND revoked_ms IS NULL"
            ))?
            .query_row(params![secret_sha256], credential_of)
            .optional()?)
    }

    /// Every credential, revoked ones included, by name.
    pub fn list_credentials(&mut self) -> Result<Vec<Credential>, StoreError> {
        self.stats.queries += 1;
        let mut st = self
            .db
            .prepare_cached(&format!("SELECT {COLUMNS} FROM credentials ORDER BY name"))?;
        let rows = st.query_map([], credential_of)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Revokes `name`; `Ok(false)` when there is no live credential by it.
    pub fn revoke_credential(&mut self, name: &str, now_ms: u64) -> Result<bool, StoreError> {
        let n = self
            .db
            .prepare_cached(
                "UPDATE credentials SET revoked_ms = ?2 WHERE name = ?1 AND revoked_ms IS NULL",
            )?
            .execute(params![name, now_ms as i64])?;
        self.stats.transactions += 1;
        Ok(n == 1)
    }
}
