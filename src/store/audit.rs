//! The audit trail: every coach decision, approval and exec result is one
//! row, and the rows form a hash chain. Each row stores the SHA-256 of the
//! previous row's hash and its own content, so editing, reordering or
//! deleting a row breaks the chain at that row; `clawgate audit verify`
//! walks it and names the first row that does not fit.
//!
//! Pruning the oldest rows keeps the chain checkable: the hash of the last
//! pruned row is kept as the anchor the first remaining row must link to.
//! Deleting rows off the end cannot be seen from inside the file; verify
//! prints the head hash so an operator can compare it with one noted
//! elsewhere (the log prints it at start).

use super::{Store, StoreError};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

/// The `prev_hash` of the very first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// `kind` of the rows the store writes about the chain itself.
pub const CHAIN_KIND: &str = "chain";
/// The chain starts after legacy rows (detail: `legacyRows`, `legacyThrough`).
pub const MARK_LEGACY: &str = "legacy";
/// A prune moved the anchor (detail: `throughId`, `anchorHash`).
pub const MARK_PRUNE: &str = "prune";

/// One audited decision, resolution or result.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuditRow {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub ts: u64,
    /// `check`, `resolve`, `approval`, `exec`...
    pub kind: String,
    pub decision: String,
    pub severity: Option<String>,
    pub pattern_ids: Vec<String>,
    /// The input or command, truncated to `coach.auditInputChars`.
    pub input: String,
    /// `coach`, `rule:<id>`, `timeout`, or the resolving client.
    pub decided_by: String,
    pub conn: Option<String>,
    pub client_id: Option<String>,
    pub session_key: Option<String>,
    pub alert_id: Option<String>,
    pub duration_us: Option<u64>,
    /// Kind-specific facts as JSON text (exit code, process id...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prev_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
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
            detail: None,
            prev_hash: None,
            hash: None,
        }
    }

    /// The chained hash: SHA-256 over the previous hash and a canonical
    /// JSON array of every column (the id included, so moving a row breaks it).
    pub fn chain_hash(&self, id: i64, prev: &str) -> String {
        let content = serde_json::json!([
            id,
            self.ts,
            self.kind,
            self.decision,
            self.severity,
            self.pattern_ids.join(","),
            self.input,
            self.decided_by,
            self.conn,
            self.client_id,
            self.session_key,
            self.alert_id,
            self.duration_us,
            self.detail,
        ]);
        let mut h = Sha256::new();
        h.update(prev.as_bytes());
        h.update(b"\n");
        h.update(content.to_string().as_bytes());
        hex(&h.finalize())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const COLUMNS: &str = "id, ts, kind, decision, severity, pattern_ids, input, decided_by, conn, client_id, session_key, alert_id, duration_us, detail, prev_hash, hash";

fn row_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRow> {
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
        detail: r.get(13)?,
        prev_hash: r.get(14)?,
        hash: r.get(15)?,
    })
}

impl Store {
    fn audit_head(&mut self) -> Result<(i64, String), StoreError> {
        if let Some(h) = &self.audit_head {
            return Ok(h.clone());
        }
        let last: Option<(i64, Option<String>)> = self
            .db
            .query_row(
                "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let head = match last {
            Some((id, Some(h))) => (id, h),
            // Rows from before the chain existed: link to the genesis value.
            Some((id, None)) => (id, GENESIS.to_string()),
            None => {
                let anchor: Option<(i64, String)> = self
                    .db
                    .query_row(
                        "SELECT through_id, hash FROM audit_anchor WHERE id = 1",
                        [],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                anchor.unwrap_or((0, GENESIS.to_string()))
            }
        };
        self.audit_head = Some(head.clone());
        Ok(head)
    }

    /// The newest row's id and hash (printed at start and by verify).
    pub fn audit_head_hash(&mut self) -> Result<(i64, String), StoreError> {
        self.audit_head()
    }

    /// Appends rows in one transaction, each linked to the one before.
    pub fn append_audit(&mut self, rows: &[AuditRow]) -> Result<(), StoreError> {
        let (id, prev) = self.audit_head()?;
        if id > 0 && prev == GENESIS && !rows.is_empty() {
            // The chain starts after rows from before it existed: a chained
            // marker records how many there are, so verify accepts exactly
            // those and no row whose hash was cleared later (issue 17).
            let legacy: i64 =
                self.db
                    .query_row("SELECT count(*) FROM audit WHERE hash IS NULL", [], |r| {
                        r.get(0)
                    })?;
            let marker = AuditRow {
                detail: Some(
                    serde_json::json!({"legacyRows": legacy, "legacyThrough": id}).to_string(),
                ),
                ..AuditRow::new(
                    rows[0].ts,
                    CHAIN_KIND,
                    MARK_LEGACY,
                    String::new(),
                    "store".into(),
                )
            };
            let mut all = Vec::with_capacity(rows.len() + 1);
            all.push(marker);
            all.extend_from_slice(rows);
            return self.append_chained(&all);
        }
        self.append_chained(rows)
    }

    fn append_chained(&mut self, rows: &[AuditRow]) -> Result<(), StoreError> {
        let (mut id, mut prev) = self.audit_head()?;
        let tx = self.db.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO audit (id, ts, kind, decision, severity, pattern_ids, input, decided_by, conn, client_id, session_key, alert_id, duration_us, detail, prev_hash, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )?;
            for r in rows {
                id += 1;
                let hash = r.chain_hash(id, &prev);
                stmt.execute(params![
                    id,
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
                    r.detail,
                    prev,
                    hash,
                ])?;
                prev = hash;
            }
        }
        match tx.commit() {
            Ok(()) => {
                self.audit_head = Some((id, prev));
            }
            Err(e) => {
                self.audit_head = None; // re-read: nothing of this batch landed
                return Err(e.into());
            }
        }
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
        kind: Option<&str>,
    ) -> Result<Vec<AuditRow>, StoreError> {
        self.stats.queries += 1;
        let sql = format!(
            "SELECT {COLUMNS} FROM audit
             WHERE (?1 IS NULL OR id < ?1) AND (?2 IS NULL OR decision = ?2) AND (?3 IS NULL OR kind = ?3)
             ORDER BY id DESC LIMIT ?4"
        );
        let mut stmt = self.db.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(params![before, decision, kind, limit as i64], row_of)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Keeps the newest `keep` rows; the last pruned row's hash becomes the
    /// anchor the chain is checked from. Returns how many went.
    pub fn prune_audit(&mut self, keep: u64) -> Result<usize, StoreError> {
        let (head, _) = self.audit_head()?;
        let through = head - keep as i64;
        if through < 1 {
            return Ok(0);
        }
        let tx = self.db.transaction()?;
        let last: Option<(i64, Option<String>)> = tx
            .query_row(
                "SELECT id, hash FROM audit WHERE id <= ?1 ORDER BY id DESC LIMIT 1",
                params![through],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((last_id, last_hash)) = last else {
            return Ok(0);
        };
        let n = tx.execute("DELETE FROM audit WHERE id <= ?1", params![last_id])?;
        if let Some(h) = &last_hash {
            tx.execute(
                "INSERT OR REPLACE INTO audit_anchor (id, through_id, hash) VALUES (1, ?1, ?2)",
                params![last_id, h],
            )?;
        }
        tx.commit()?;
        self.stats.transactions += 1;
        if let Some(h) = last_hash {
            // The anchor is committed to by the chain itself: an anchor
            // written by hand after deleting a prefix matches no such row.
            let ts = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            let row = AuditRow {
                detail: Some(
                    serde_json::json!({"throughId": last_id, "anchorHash": h, "pruned": n})
                        .to_string(),
                ),
                ..AuditRow::new(ts, CHAIN_KIND, MARK_PRUNE, String::new(), "store".into())
            };
            self.append_chained(&[row])?;
        }
        Ok(n)
    }
}

/// What `clawgate audit verify` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub rows: u64,
    /// Rows written before the chain existed (not checkable).
    pub legacy_rows: u64,
    pub first_id: Option<i64>,
    pub head_id: Option<i64>,
    pub head_hash: Option<String>,
    /// The first row that does not fit, and why.
    pub broken_at: Option<i64>,
    pub problem: Option<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// Opens the database read-only: verifying must not change the evidence.
pub fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    let db = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| {
        StoreError::Open {
            path: path.to_path_buf(),
            msg: e.to_string(),
        }
    })?;
    let has: Option<String> = db
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'audit'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| StoreError::Open {
            path: path.to_path_buf(),
            msg: format!("not a clawgate database ({e})"),
        })?;
    if has.is_none() {
        return Err(StoreError::Open {
            path: path.to_path_buf(),
            msg: "no audit table (not a clawgate database, or one from before the audit chain: start the gateway once to migrate it)".into(),
        });
    }
    Ok(db)
}

/// Walks the whole chain in id order.
pub fn verify(db: &Connection) -> Result<VerifyReport, StoreError> {
    verify_expecting(db, None)
}

/// Walks the chain; with `expect_head`, a head hash noted earlier (the log
/// and the audit forwarder carry it) must still be a row of the chain, so
/// rows deleted off the end are caught.
pub fn verify_expecting(
    db: &Connection,
    expect_head: Option<&str>,
) -> Result<VerifyReport, StoreError> {
    let anchor: Option<(i64, String)> = db
        .query_row(
            "SELECT through_id, hash FROM audit_anchor WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let mut rep = VerifyReport {
        rows: 0,
        legacy_rows: 0,
        first_id: None,
        head_id: None,
        head_hash: None,
        broken_at: None,
        problem: None,
    };
    let mut stmt = db.prepare(&format!("SELECT {COLUMNS} FROM audit ORDER BY id"))?;
    let mut rows = stmt.query([])?;
    // (expected next id, expected prev hash); None until the first chained row.
    let mut expect: Option<(i64, String)> = anchor.clone().map(|(id, h)| (id + 1, h));
    let mut seen_chained = false;
    let mut last_prune: Option<String> = None;
    let mut head_seen = false;
    while let Some(r) = rows.next()? {
        let row = row_of(r)?;
        let id = row.id.unwrap_or(0);
        rep.rows += 1;
        rep.first_id.get_or_insert(id);
        let fail = |rep: &mut VerifyReport, why: String| {
            rep.broken_at = Some(id);
            rep.problem = Some(why);
        };
        let (Some(prev), Some(hash)) = (&row.prev_hash, &row.hash) else {
            if seen_chained || anchor.is_some() {
                fail(
                    &mut rep,
                    format!("row {id} has no hash (its chain fields were removed)"),
                );
                return Ok(rep);
            }
            rep.legacy_rows += 1;
            continue;
        };
        match &expect {
            Some((want_id, want_prev)) => {
                if id != *want_id {
                    let what = if *want_id == id - 1 {
                        format!("row {want_id} was removed")
                    } else {
                        format!("rows {want_id}..{} were removed", id - 1)
                    };
                    fail(
                        &mut rep,
                        format!("{what} (row {id} follows row {})", want_id - 1),
                    );
                    return Ok(rep);
                }
                if prev != want_prev {
                    fail(
                        &mut rep,
                        format!(
                            "row {id} does not link to row {}: that row was altered or replaced",
                            id - 1
                        ),
                    );
                    return Ok(rep);
                }
            }
            None => {
                // The first chained row: it links to the genesis value, or
                // follows legacy rows (which it cannot vouch for).
                if rep.legacy_rows > 0 {
                    // Rows without a hash are accepted only when the first
                    // chained row is the marker that counted them.
                    let d: serde_json::Value = row
                        .detail
                        .as_deref()
                        .and_then(|d| serde_json::from_str(d).ok())
                        .unwrap_or_default();
                    let vouched = row.kind == CHAIN_KIND
                        && row.decision == MARK_LEGACY
                        && prev == GENESIS
                        && d["legacyRows"].as_u64() == Some(rep.legacy_rows)
                        && d["legacyThrough"].as_i64() == Some(id - 1);
                    if !vouched {
                        let first = rep.first_id.unwrap_or(1);
                        fail(
                            &mut rep,
                            format!(
                                "rows {}..{} have no hash and no chained marker vouches for them (their chain fields were removed)",
                                first,
                                id - 1
                            ),
                        );
                        return Ok(rep);
                    }
                }
                if rep.legacy_rows == 0 && (id != 1 || prev != GENESIS) {
                    let why = if id != 1 {
                        format!(
                            "rows 1..{} were removed (no prune anchor explains it)",
                            id - 1
                        )
                    } else {
                        format!("row {id} does not start the chain")
                    };
                    fail(&mut rep, why);
                    return Ok(rep);
                }
            }
        }
        let computed = row.chain_hash(id, prev);
        if &computed != hash {
            fail(
                &mut rep,
                format!("row {id} was altered (its content no longer matches its hash)"),
            );
            return Ok(rep);
        }
        seen_chained = true;
        if row.kind == CHAIN_KIND && row.decision == MARK_PRUNE {
            last_prune = row.detail.clone();
        }
        if expect_head.is_some_and(|h| h.eq_ignore_ascii_case(hash)) {
            head_seen = true;
        }
        expect = Some((id + 1, hash.clone()));
        rep.head_id = Some(id);
        rep.head_hash = Some(hash.clone());
    }
    if let Some((through, h)) = &anchor {
        // The newest prune row must name this anchor.
        let d: serde_json::Value = last_prune
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or_default();
        if d["throughId"].as_i64() != Some(*through) || d["anchorHash"].as_str() != Some(h) {
            rep.broken_at = rep.first_id;
            rep.problem = Some(format!(
                "the prune anchor (through row {through}) is not recorded by the chain: rows before row {} were removed and the anchor written by hand",
                rep.first_id.unwrap_or(through + 1)
            ));
            return Ok(rep);
        }
    }
    if let Some(h) = expect_head {
        if !head_seen {
            rep.broken_at = rep.head_id.map(|i| i + 1);
            rep.problem = Some(format!(
                "the expected head {h} is not in the chain: rows were removed off the end (or the chain was rewritten)"
            ));
        }
    }
    Ok(rep)
}

/// Writes every row (oldest first) as one JSON object per line.
pub fn export(db: &Connection, out: &mut dyn Write) -> Result<u64, StoreError> {
    let mut stmt = db.prepare(&format!("SELECT {COLUMNS} FROM audit ORDER BY id"))?;
    let mut rows = stmt.query([])?;
    let mut n = 0;
    while let Some(r) = rows.next()? {
        let row = row_of(r)?;
        let line = serde_json::to_string(&row).unwrap_or_default();
        out.write_all(line.as_bytes())
            .and_then(|_| out.write_all(b"\n"))
            .map_err(|e| StoreError::Open {
                path: "export output".into(),
                msg: e.to_string(),
            })?;
        n += 1;
    }
    out.flush().map_err(|e| StoreError::Open {
        path: "export output".into(),
        msg: e.to_string(),
    })?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;

    fn store(dir: &Path) -> Store {
        Store::open(
            dir,
            &StoreOptions {
                cache_bytes: 1 << 20,
                mmap_bytes: 0,
                max_bytes: 1 << 30,
                synchronous_full: false,
                index_batch: crate::config::DEFAULT_INDEX_BATCH,
            },
        )
        .unwrap()
    }

    fn rows(n: usize) -> Vec<AuditRow> {
        (0..n)
            .map(|i| {
                AuditRow::new(
                    i as u64,
                    "exec",
                    "exited",
                    format!("echo {i}"),
                    "coach".into(),
                )
            })
            .collect()
    }

    #[test]
    fn test_chain_survives_pruning_and_names_what_broke() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        s.append_audit(&rows(6)).unwrap();
        s.append_audit(&rows(4)).unwrap(); // a second batch links to the first
        let db = open_read_only(&dir.path().join(crate::store::DB_FILE)).unwrap();
        let rep = verify(&db).unwrap();
        assert!(rep.ok(), "{rep:?}");
        assert_eq!((rep.rows, rep.head_id), (10, Some(10)));
        // Pruning keeps an anchor: the rest still verifies.
        assert_eq!(s.prune_audit(4).unwrap(), 6);
        s.append_audit(&rows(1)).unwrap();
        let rep = verify(&db).unwrap();
        assert!(rep.ok(), "{rep:?}");
        // (row 11 is the chained prune record, row 12 the new one)
        assert_eq!(
            (rep.first_id, rep.head_id, rep.rows),
            (Some(7), Some(12), 6)
        );
        // A gap in the middle is named.
        s.db.execute("DELETE FROM audit WHERE id = 9", []).unwrap();
        let rep = verify(&db).unwrap();
        assert_eq!(rep.broken_at, Some(10));
        assert_eq!(
            rep.problem.as_deref(),
            Some("row 9 was removed (row 10 follows row 8)")
        );
        // So is a forged link.
        s.db.execute("UPDATE audit SET prev_hash = hash WHERE id = 8", [])
            .unwrap();
        let rep = verify(&db).unwrap();
        assert_eq!(rep.broken_at, Some(8));
        assert!(rep.problem.unwrap().contains("does not link to row 7"));
    }

    #[test]
    fn test_oldest_rows_removed_without_an_anchor_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        s.append_audit(&rows(5)).unwrap();
        s.db.execute("DELETE FROM audit WHERE id <= 2", []).unwrap();
        let db = open_read_only(&dir.path().join(crate::store::DB_FILE)).unwrap();
        let rep = verify(&db).unwrap();
        assert_eq!(rep.broken_at, Some(3));
        assert!(rep.problem.unwrap().contains("rows 1..2 were removed"));
        // The gateway's head survives a reopen: new rows keep linking.
        drop(s);
        let mut s = store(dir.path());
        s.append_audit(&rows(1)).unwrap();
        let (id, _) = s.audit_head_hash().unwrap();
        assert_eq!(id, 6);
    }

    fn db_of(dir: &Path) -> Connection {
        open_read_only(&dir.join(crate::store::DB_FILE)).unwrap()
    }

    // Issue 17, finding 7: each tampering that passed verify before.

    #[test]
    fn test_cleared_hashes_on_leading_rows_are_caught() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        s.append_audit(&rows(6)).unwrap();
        // Old symptom: rows 1..3 turned into "legacy" rows verify skipped.
        s.db.execute(
            "UPDATE audit SET prev_hash = NULL, hash = NULL WHERE id <= 3",
            [],
        )
        .unwrap();
        let rep = verify(&db_of(dir.path())).unwrap();
        assert!(!rep.ok(), "{rep:?}");
        assert!(
            rep.problem
                .as_deref()
                .unwrap()
                .contains("no chained marker vouches"),
            "{rep:?}"
        );
    }

    #[test]
    fn test_real_legacy_rows_are_vouched_for_by_a_chained_marker() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        // Rows written before the chain existed (no hash columns filled).
        for i in 1..=3 {
            s.db.execute(
                "INSERT INTO audit (id, ts, kind, decision, pattern_ids, input, decided_by)
                 VALUES (?1, 0, 'check', 'allow', '', 'ls', 'coach')",
                params![i],
            )
            .unwrap();
        }
        drop(s);
        let mut s = store(dir.path());
        s.append_audit(&rows(2)).unwrap();
        let rep = verify(&db_of(dir.path())).unwrap();
        assert!(rep.ok(), "{rep:?}");
        assert_eq!((rep.legacy_rows, rep.head_id), (3, Some(6)));
        // Clearing the marker's own hash (or a later row's) is caught.
        s.db.execute(
            "UPDATE audit SET prev_hash = NULL, hash = NULL WHERE id = 4",
            [],
        )
        .unwrap();
        let rep = verify(&db_of(dir.path())).unwrap();
        assert!(!rep.ok(), "{rep:?}");
    }

    #[test]
    fn test_a_deleted_prefix_with_a_forged_anchor_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        s.append_audit(&rows(8)).unwrap();
        // Old symptom: delete rows 1..3 and write the anchor a prune would.
        let h3: String =
            s.db.query_row("SELECT hash FROM audit WHERE id = 3", [], |r| r.get(0))
                .unwrap();
        s.db.execute("DELETE FROM audit WHERE id <= 3", []).unwrap();
        s.db.execute(
            "INSERT INTO audit_anchor (id, through_id, hash) VALUES (1, 3, ?1)",
            params![h3],
        )
        .unwrap();
        let rep = verify(&db_of(dir.path())).unwrap();
        assert!(!rep.ok(), "{rep:?}");
        assert!(
            rep.problem
                .as_deref()
                .unwrap()
                .contains("not recorded by the chain"),
            "{rep:?}"
        );
        // A real prune passes, twice over (the newest prune row counts).
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        s.append_audit(&rows(8)).unwrap();
        s.prune_audit(5).unwrap();
        s.append_audit(&rows(8)).unwrap();
        s.prune_audit(5).unwrap();
        let rep = verify(&db_of(dir.path())).unwrap();
        assert!(rep.ok(), "{rep:?}");
    }

    #[test]
    fn test_a_deleted_tail_is_caught_with_an_expected_head() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        s.append_audit(&rows(5)).unwrap();
        let (_, noted) = s.audit_head_hash().unwrap();
        s.append_audit(&rows(2)).unwrap();
        let db = db_of(dir.path());
        // The noted head is still inside a longer chain: fine.
        assert!(verify_expecting(&db, Some(&noted)).unwrap().ok());
        // Old symptom: deleting the tail passed.
        s.db.execute("DELETE FROM audit WHERE id >= 5", []).unwrap();
        assert!(
            verify(&db).unwrap().ok(),
            "without a noted head it cannot tell"
        );
        let rep = verify_expecting(&db, Some(&noted)).unwrap();
        assert!(!rep.ok(), "{rep:?}");
        assert!(rep.problem.unwrap().contains("removed off the end"));
    }
}
