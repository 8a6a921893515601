//! The coach's tables: user rules (as JSON specs) and the audit trail of
//! every decision. Audit rows are written in batches, once per loop turn,
//! and pruned to a configured row count.

use super::{Store, StoreError};
use crate::coach::rules::RuleSpec;
use rusqlite::params;
use serde::Serialize;

/// One audited decision or resolution.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRow {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub ts: u64,
    /// `check` or `resolve` (or `expire`).
    pub kind: String,
    pub decision: String,
    pub severity: Option<String>,
    pub pattern_ids: Vec<String>,
    /// The input, truncated to `coach.auditInputChars`.
    pub input: String,
    /// `coach`, `rule:<id>`, `timeout`, or the resolving client.
    pub decided_by: String,
    pub conn: Option<String>,
    pub client_id: Option<String>,
    pub session_key: Option<String>,
    pub alert_id: Option<String>,
    pub duration_us: Option<u64>,
}

impl AuditRow {
    /// A row with the required fields; the rest are filled by struct update.
    pub fn new(ts: u64, kind: &str, decision: &str, input: String, decided_by: String) -> AuditRow {
        AuditRow {
            id: None,
            ts,
            kind: kind.into(),
            decision: decision.into(),
            severity: None,
            pattern_ids: Vec::new(),
            input,
            decided_by,
            conn: None,
            client_id: None,
            session_key: None,
            alert_id: None,
            duration_us: None,
        }
    }
}

impl Store {
    pub fn load_rules(&mut self) -> Result<Vec<RuleSpec>, StoreError> {
        self.stats.queries += 1;
        let mut stmt = self
            .db
            .prepare_cached("SELECT id, spec FROM coach_rules ORDER BY rowid")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::new();
        for (id, spec) in rows {
            match serde_json::from_str::<RuleSpec>(&spec) {
                Ok(s) => out.push(s),
                Err(e) => {
                    log::warn!("coach rule {id} in the database is unreadable ({e}); skipped")
                }
            }
        }
        Ok(out)
    }

    pub fn save_rule(&mut self, spec: &RuleSpec) -> Result<(), StoreError> {
        let json = serde_json::to_string(spec).unwrap_or_default();
        self.db
            .prepare_cached("INSERT OR REPLACE INTO coach_rules (id, spec) VALUES (?1, ?2)")?
            .execute(params![spec.id, json])?;
        self.stats.transactions += 1;
        self.stats.rows_written += 1;
        Ok(())
    }

    pub fn delete_rules(&mut self, ids: &[String]) -> Result<usize, StoreError> {
        let tx = self.db.transaction()?;
        let mut n = 0;
        {
            let mut stmt = tx.prepare_cached("DELETE FROM coach_rules WHERE id = ?1")?;
            for id in ids {
                n += stmt.execute(params![id])?;
            }
        }
        tx.commit()?;
        self.stats.transactions += 1;
        self.stats.rows_written += n as u64;
        Ok(n)
    }

    pub fn append_audit(&mut self, rows: &[AuditRow]) -> Result<(), StoreError> {
        let tx = self.db.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO coach_audit (ts, kind, decision, severity, pattern_ids, input, decided_by, conn, client_id, session_key, alert_id, duration_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            for r in rows {
                stmt.execute(params![
                    r.ts as i64,
                    r.kind,
                    r.decision,
                    r.severity,
                    r.pattern_ids.join(","),
                    r.input,
                    r.decided_by,
                    r.conn,
                    r.client_id,
                    r.session_key,
                    r.alert_id,
                    r.duration_us.map(|d| d as i64),
                ])?;
            }
        }
        tx.commit()?;
        self.stats.transactions += 1;
        self.stats.rows_written += rows.len() as u64;
        Ok(())
    }

    /// Newest first; `before` pages by row id; indexed, LIMIT-bounded.
    pub fn query_audit(
        &mut self,
        limit: usize,
        before: Option<i64>,
        decision: Option<&str>,
    ) -> Result<Vec<AuditRow>, StoreError> {
        self.stats.queries += 1;
        let mut stmt = self.db.prepare_cached(
            "SELECT id, ts, kind, decision, severity, pattern_ids, input, decided_by, conn, client_id, session_key, alert_id, duration_us
             FROM coach_audit
             WHERE (?1 IS NULL OR id < ?1) AND (?2 IS NULL OR decision = ?2)
             ORDER BY id DESC LIMIT ?3",
        )?;
        let rows = stmt
            .query_map(params![before, decision, limit as i64], |r| {
                let ids: String = r.get(5)?;
                Ok(AuditRow {
                    id: Some(r.get(0)?),
                    ts: r.get::<_, i64>(1)? as u64,
                    kind: r.get(2)?,
                    decision: r.get(3)?,
                    severity: r.get(4)?,
                    pattern_ids: ids
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                    input: r.get(6)?,
                    decided_by: r.get(7)?,
                    conn: r.get(8)?,
                    client_id: r.get(9)?,
                    session_key: r.get(10)?,
                    alert_id: r.get(11)?,
                    duration_us: r.get::<_, Option<i64>>(12)?.map(|d| d as u64),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Keeps the newest `keep` rows; returns how many went.
    pub fn prune_audit(&mut self, keep: u64) -> Result<usize, StoreError> {
        let n = self
            .db
            .prepare_cached(
                "DELETE FROM coach_audit WHERE id <= (SELECT max(id) FROM coach_audit) - ?1",
            )?
            .execute(params![keep as i64])?;
        self.stats.transactions += 1;
        Ok(n)
    }
}
