//! Exec approvals and "allow-always" decisions. A pending approval is
//! written when it is raised and updated when it is decided, so a restart
//! finds the ones nobody answered and expires them (decision null) instead
//! of forgetting them; a client that asks again with the same id learns that.

use super::{Store, StoreError};
use rusqlite::{params, OptionalExtension};

#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalRow {
    pub id: String,
    pub created_ms: u64,
    pub expires_ms: u64,
    pub session: String,
    /// JSON text of the request as the event showed it.
    pub request: String,
    pub coach: Option<String>,
    /// `pending`, `decided` or `expired`.
    pub state: String,
    pub decision: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_ms: Option<u64>,
}

fn approval_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApprovalRow> {
    Ok(ApprovalRow {
        id: r.get(0)?,
        created_ms: r.get::<_, i64>(1)? as u64,
        expires_ms: r.get::<_, i64>(2)? as u64,
        session: r.get(3)?,
        request: r.get(4)?,
        coach: r.get(5)?,
        state: r.get(6)?,
        decision: r.get(7)?,
        resolved_by: r.get(8)?,
        resolved_ms: r.get::<_, Option<i64>>(9)?.map(|v| v as u64),
    })
}

const APPROVAL_COLUMNS: &str =
    "id, created_ms, expires_ms, session, request, coach, state, decision, resolved_by, resolved_ms";

impl Store {
    pub fn insert_approval(&mut self, a: &ApprovalRow) -> Result<(), StoreError> {
        self.db
            .prepare_cached(&format!(
                "INSERT OR REPLACE INTO exec_approvals ({APPROVAL_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
            ))?
            .execute(params![
                a.id,
                a.created_ms as i64,
                a.expires_ms as i64,
                a.session,
                a.request,
                a.coach,
                a.state,
                a.decision,
                a.resolved_by,
                a.resolved_ms.map(|v| v as i64),
            ])?;
        self.stats.transactions += 1;
        self.stats.rows_written += 1;
        Ok(())
    }

    pub fn decide_approval(
        &mut self,
        id: &str,
        state: &str,
        decision: Option<&str>,
        by: &str,
        at_ms: u64,
    ) -> Result<(), StoreError> {
        self.db
            .prepare_cached(
                "UPDATE exec_approvals SET state = ?2, decision = ?3, resolved_by = ?4, resolved_ms = ?5 WHERE id = ?1",
            )?
            .execute(params![id, state, decision, by, at_ms as i64])?;
        self.stats.transactions += 1;
        self.stats.rows_written += 1;
        Ok(())
    }

    pub fn get_approval(&mut self, id: &str) -> Result<Option<ApprovalRow>, StoreError> {
        self.stats.queries += 1;
        Ok(self
            .db
            .prepare_cached(&format!(
                "SELECT {APPROVAL_COLUMNS} FROM exec_approvals WHERE id = ?1"
            ))?
            .query_row(params![id], approval_of)
            .optional()?)
    }

    /// Settled approvals (decided, expired, cancelled), newest first, with
    /// `created_ms` below `before` (a page's cursor).
    pub fn settled_approvals(
        &mut self,
        limit: usize,
        before: Option<(u64, String)>,
    ) -> Result<Vec<ApprovalRow>, StoreError> {
        self.stats.queries += 1;
        let (ms, id) = before.unwrap_or((u64::MAX >> 1, String::new()));
        let mut stmt = self.db.prepare_cached(&format!(
            "SELECT {APPROVAL_COLUMNS} FROM exec_approvals WHERE state != 'pending' \
             AND (created_ms < ?1 OR (created_ms = ?1 AND id < ?2)) \
             ORDER BY created_ms DESC, id DESC LIMIT ?3"
        ))?;
        let rows = stmt
            .query_map(params![ms as i64, id, limit as i64], approval_of)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// At start: every approval left pending by the last run is expired
    /// (decision null) and returned so each can be audited.
    pub fn expire_pending_approvals(&mut self, at_ms: u64) -> Result<Vec<ApprovalRow>, StoreError> {
        let tx = self.db.transaction()?;
        let rows = {
            let mut stmt = tx.prepare(&format!(
                "SELECT {APPROVAL_COLUMNS} FROM exec_approvals WHERE state = 'pending' ORDER BY created_ms"
            ))?;
            let rows = stmt
                .query_map([], approval_of)?
                .collect::<Result<Vec<_>, _>>()?;
            rows
        };
        tx.execute(
            "UPDATE exec_approvals SET state = 'expired', resolved_by = 'gateway-restart', resolved_ms = ?1 WHERE state = 'pending'",
            params![at_ms as i64],
        )?;
        tx.commit()?;
        self.stats.transactions += 1;
        Ok(rows)
    }

    /// Keeps the newest `keep` decided approvals.
    pub fn prune_approvals(&mut self, keep: usize) -> Result<usize, StoreError> {
        let n = self
            .db
            .prepare_cached(
                "DELETE FROM exec_approvals WHERE state != 'pending' AND id NOT IN
                 (SELECT id FROM exec_approvals WHERE state != 'pending' ORDER BY created_ms DESC LIMIT ?1)",
            )?
            .execute(params![keep as i64])?;
        Ok(n)
    }

    pub fn load_allow_always(&mut self, limit: usize) -> Result<Vec<String>, StoreError> {
        self.stats.queries += 1;
        let mut stmt = self
            .db
            .prepare_cached("SELECT key FROM exec_allow ORDER BY created_ms DESC LIMIT ?1")?;
        let rows = stmt
            .query_map(params![limit as i64], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn save_allow_always(&mut self, key: &str, by: &str, at_ms: u64) -> Result<(), StoreError> {
        self.db
            .prepare_cached(
                "INSERT OR REPLACE INTO exec_allow (key, created_ms, created_by) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![key, at_ms as i64, by])?;
        self.stats.transactions += 1;
        self.stats.rows_written += 1;
        Ok(())
    }

    pub fn delete_allow_always(&mut self, key: &str) -> Result<(), StoreError> {
        self.db
            .prepare_cached("DELETE FROM exec_allow WHERE key = ?1")?
            .execute(params![key])?;
        Ok(())
    }
}
