//! SQLite store: sessions and their transcripts. Knows nothing of sockets or
//! the protocol: the gateway hands it typed rows and gets typed rows back.
//!
//! One connection, owned by the loop thread. WAL with `synchronous=NORMAL`:
//! a committed transaction survives a process crash (it is in the WAL, in the
//! OS page cache); a power loss can lose the transactions since the last
//! WAL sync (checkpoint). Appends are grouped into one transaction by the
//! gateway (group commit) and acknowledged only after it commits.

use rusqlite::{params, Connection, OptionalExtension};
use std::fmt;
use std::path::{Path, PathBuf};

/// Database file name in the data dir.
pub const DB_FILE: &str = "clawgate.db";
/// Characters kept for `lastMessagePreview`.
pub const PREVIEW_CHARS: usize = 120;

pub mod audit;
mod coach;
pub mod credentials;
mod exec;
pub use audit::AuditRow;
pub use exec::ApprovalRow;

/// Numbered schema migrations; `PRAGMA user_version` = how many ran.
const MIGRATIONS: &[&str] = &[
    // 1: sessions and messages.
    "CREATE TABLE sessions (
        key TEXT PRIMARY KEY,
        session_id TEXT NOT NULL,
        label TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        message_count INTEGER NOT NULL DEFAULT 0,
        last_preview TEXT
     );
     CREATE INDEX sessions_updated ON sessions(updated_at DESC);
     CREATE TABLE messages (
        seq INTEGER PRIMARY KEY,
        session_key TEXT NOT NULL REFERENCES sessions(key) ON DELETE CASCADE,
        message_id TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        text TEXT NOT NULL,
        ts INTEGER NOT NULL
     );
     CREATE INDEX messages_session ON messages(session_key, seq);",
    // 2: the security coach's rules and audit trail.
    "CREATE TABLE coach_rules (
        id TEXT PRIMARY KEY,
        spec TEXT NOT NULL
     );
     CREATE TABLE coach_audit (
        id INTEGER PRIMARY KEY,
        ts INTEGER NOT NULL,
        kind TEXT NOT NULL,
        decision TEXT NOT NULL,
        severity TEXT,
        pattern_ids TEXT NOT NULL,
        input TEXT NOT NULL,
        decided_by TEXT NOT NULL,
        conn TEXT,
        client_id TEXT,
        session_key TEXT,
        alert_id TEXT,
        duration_us INTEGER
     );
     CREATE INDEX coach_audit_decision ON coach_audit(decision, id);",
    // 3: one hash-chained audit trail for the coach, approvals and exec;
    // pending approvals (so a restart does not lose them silently) and the
    // "allow-always" decisions.
    "ALTER TABLE coach_audit RENAME TO audit;
     ALTER TABLE audit ADD COLUMN detail TEXT;
     ALTER TABLE audit ADD COLUMN prev_hash TEXT;
     ALTER TABLE audit ADD COLUMN hash TEXT;
     CREATE INDEX audit_kind ON audit(kind, id);
     CREATE TABLE audit_anchor (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        through_id INTEGER NOT NULL,
        hash TEXT NOT NULL
     );
     CREATE TABLE exec_approvals (
        id TEXT PRIMARY KEY,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        session TEXT NOT NULL,
        request TEXT NOT NULL,
        coach TEXT,
        state TEXT NOT NULL,
        decision TEXT,
        resolved_by TEXT,
        resolved_ms INTEGER
     );
     CREATE INDEX exec_approvals_state ON exec_approvals(state, created_ms);
     CREATE TABLE exec_allow (
        key TEXT PRIMARY KEY,
        created_ms INTEGER NOT NULL,
        created_by TEXT NOT NULL
     );",
    // 4: the per-session index of transcripts moves out of `messages` into
    // `message_index`, written in batches (see `Store::index_tail`). A
    // per-message index entry dirtied one leaf page per session per group
    // commit: 4 KiB of WAL, and again at checkpoint, for every message of a
    // 50-session load. `messages` loses its foreign key (a parent delete would
    // scan it without that index); `message_index` carries it.
    "CREATE TABLE message_index (
        session_key TEXT NOT NULL REFERENCES sessions(key) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        PRIMARY KEY (session_key, seq)
     ) WITHOUT ROWID;
     INSERT INTO message_index (session_key, seq) SELECT session_key, seq FROM messages;
     CREATE TABLE messages_v4 (
        seq INTEGER PRIMARY KEY,
        session_key TEXT NOT NULL,
        message_id TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        text TEXT NOT NULL,
        ts INTEGER NOT NULL
     );
     INSERT INTO messages_v4 (seq, session_key, message_id, role, text, ts)
        SELECT seq, session_key, message_id, role, text, ts FROM messages;
     DROP TABLE messages;
     ALTER TABLE messages_v4 RENAME TO messages;
     CREATE TABLE index_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        indexed_through INTEGER NOT NULL
     );
     INSERT INTO index_state (id, indexed_through)
        VALUES (1, (SELECT coalesce(max(seq), 0) FROM messages));",
    // 5: credentials with fixed roles and scopes (issue 17); the secret
    // is kept only as its SHA-256.
    "CREATE TABLE credentials (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('agent', 'operator')),
        scopes TEXT NOT NULL,
        device_id TEXT,
        created_ms INTEGER NOT NULL,
        revoked_ms INTEGER,
        secret_sha256 TEXT NOT NULL UNIQUE
     );",
];

#[derive(Debug)]
pub enum StoreError {
    /// The file cannot be opened or is not a database we can use.
    Open {
        path: PathBuf,
        msg: String,
    },
    /// The database was written by a newer clawgate.
    NewerSchema {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    Sqlite(rusqlite::Error),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Open { path, msg } => write!(f, "database {}: {msg}", path.display()),
            StoreError::NewerSchema { path, found, known } => write!(
                f,
                "database {} has schema version {found}, newer than this binary knows ({known}); refusing to touch it",
                path.display()
            ),
            StoreError::Sqlite(e) => write!(f, "database: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}

/// Store settings (from `config.store`).
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub cache_bytes: usize,
    pub mmap_bytes: usize,
    /// Growth limit (`PRAGMA max_page_count`); past it writes fail with
    /// SQLITE_FULL, as on a full disk.
    pub max_bytes: u64,
    /// `synchronous=FULL` (fsync at every commit) instead of NORMAL.
    pub synchronous_full: bool,
    /// Tail length (messages not yet in `message_index`) that makes the
    /// next group commit index it (`store.indexBatch`).
    pub index_batch: u64,
}

/// Counters of the store, rendered in `health`.
#[derive(Debug, Default, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreStats {
    pub queries: u64,
    pub transactions: u64,
    pub rows_written: u64,
    /// Transcript bytes (text + key) committed.
    pub bytes_written: u64,
    pub checkpoints: u64,
    pub checkpoint_us_total: u64,
    pub checkpoint_us_max: u64,
    pub errors: u64,
}

/// One transcript message to append.
#[derive(Debug, Clone)]
pub struct Append {
    pub session_key: String,
    pub message_id: String,
    pub role: String,
    pub text: String,
    pub ts: u64,
}

/// Coalesced metadata of one session: messages added, latest activity,
/// preview of the latest message.
#[derive(Debug, Clone, PartialEq)]
pub struct MetaUpdate {
    pub key: String,
    pub added: u64,
    pub updated_at: u64,
    pub preview: Option<String>,
}

/// The preview kept for a message text.
pub fn preview_of(text: &str) -> String {
    text.chars().take(PREVIEW_CHARS).collect()
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRow {
    pub key: String,
    pub session_id: String,
    pub label: Option<String>,
    pub created_at: u64,
    pub updated_at: u64,
    pub message_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_message_preview: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MessageRow {
    pub id: String,
    pub role: String,
    pub text: String,
    pub ts: u64,
}

pub struct Store {
    db: Connection,
    path: PathBuf,
    pub stats: StoreStats,
    /// `count(*)` of sessions, dropped by every write that may change it.
    session_count: Option<u64>,
    /// The newest audit row (id, hash): the next row links to it.
    audit_head: Option<(i64, String)>,
    /// Every message with `seq` at or below this is in `message_index`; the
    /// ones above (the tail: at most `index_batch` plus one group commit)
    /// are found by a scan of that `seq` range. Persisted in `index_state`
    /// in the same transaction that moves it.
    indexed_through: i64,
    /// Tail length that makes a group commit index the tail.
    index_batch: u64,
    /// Frames in the WAL after this connection's last commit (SQLite's WAL
    /// hook): it falls back when a checkpoint lets the WAL restart, where
    /// the file's size stays (it is only truncated past 64 MiB).
    wal_frames: std::sync::Arc<std::sync::atomic::AtomicU32>,
    page_size: u64,
    /// The database file, opened once for the paced checkpoint syncs and
    /// closed only after the connection (declared after `db`): closing any
    /// descriptor of a file drops every POSIX lock this process holds on it,
    /// SQLite's included, so it is never opened and closed per checkpoint.
    sync_file: std::sync::Arc<std::fs::File>,
}

impl Store {
    /// Heap bytes SQLite holds in this process (page cache, statements,
    /// schema); what the live memory accounting shows for the store.
    pub fn sqlite_heap_bytes() -> u64 {
        // SAFETY: a read of SQLite's global memory counter.
        unsafe { rusqlite::ffi::sqlite3_memory_used().max(0) as u64 }
    }

    /// Memory relief: frees the page cache pages nobody uses right now.
    pub fn release_memory(&self) -> usize {
        // SAFETY: the handle is this open connection's, used on its thread.
        unsafe { rusqlite::ffi::sqlite3_db_release_memory(self.db.handle()).max(0) as usize }
    }

    /// Opens (or creates) `<data_dir>/clawgate.db`, applies pragmas and
    /// migrations. A file that is not a database is an error naming it,
    /// never replaced.
    pub fn open(data_dir: &Path, opts: &StoreOptions) -> Result<Store, StoreError> {
        let path = data_dir.join(DB_FILE);
        let open_err = |msg: String| StoreError::Open {
            path: path.clone(),
            msg,
        };
        std::fs::create_dir_all(data_dir)
            .map_err(|e| open_err(format!("cannot create data dir: {e}")))?;
        let db = Connection::open(&path).map_err(|e| open_err(e.to_string()))?;
        let cache_kib = (opts.cache_bytes / 1024).max(64) as i64;
        let setup = format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous={}; PRAGMA foreign_keys=ON;
             PRAGMA temp_store=MEMORY; PRAGMA cache_size=-{cache_kib}; PRAGMA mmap_size={};
             PRAGMA busy_timeout=1000;",
            if opts.synchronous_full {
                "FULL"
            } else {
                "NORMAL"
            },
            opts.mmap_bytes
        );
        db.execute_batch(&setup)
            .map_err(|e| open_err(format!("not a usable SQLite database ({e})")))?;
        let sync_file = std::fs::File::open(&path)
            .map_err(|e| open_err(format!("cannot open for checkpoint syncs: {e}")))?;
        let mut store = Store {
            db,
            sync_file: std::sync::Arc::new(sync_file),
            path,
            stats: StoreStats::default(),
            session_count: None,
            audit_head: None,
            indexed_through: 0,
            index_batch: opts.index_batch.max(1),
            wal_frames: Default::default(),
            page_size: 4096,
        };
        store.migrate()?;
        store.indexed_through =
            store
                .db
                .query_row("SELECT indexed_through FROM index_state", [], |r| r.get(0))?;
        store.set_max_bytes(opts.max_bytes)?;
        // Checkpoints run on the worker pool (a big one takes 100+ ms), never
        // inside a commit on the loop; a reset WAL is truncated to 64 MiB.
        store.set_autocheckpoint(0)?;
        // After the line above: the autocheckpoint setting replaces any WAL hook.
        let frames = store.wal_frames.clone();
        store.db.wal_hook(Some(
            move |_: &mut rusqlite::hooks::Wal, pages: std::ffi::c_int| {
                frames.store(pages.max(0) as u32, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            },
        ))?;
        store.page_size = store
            .db
            .query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))?
            .max(512) as u64;
        store
            .db
            .query_row("PRAGMA journal_size_limit = 67108864", [], |_| Ok(()))?;
        Ok(store)
    }

    /// Messages above `indexed_through` (an upper bound: deleted ones count).
    #[cfg(test)]
    fn unindexed_tail(&self) -> u64 {
        (self.db.last_insert_rowid() - self.indexed_through).max(0) as u64
    }

    /// SQLite's automatic checkpoint threshold in pages (0: off). Private:
    /// setting it replaces the WAL hook `open` installs.
    fn set_autocheckpoint(&mut self, pages: u32) -> Result<(), StoreError> {
        self.db
            .query_row(&format!("PRAGMA wal_autocheckpoint = {pages}"), [], |_| {
                Ok(())
            })?;
        Ok(())
    }

    /// Applies a growth limit; never below the current size.
    pub fn set_max_bytes(&mut self, max: u64) -> Result<(), StoreError> {
        let page: i64 = self.db.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        let pages = (max / page.max(512) as u64).max(1) as i64;
        self.db
            .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))?;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let version: i64 = self.db.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::NewerSchema {
                path: self.path.clone(),
                found: version,
                known,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.db.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
            log::info!(
                "database {}: migrated to schema {}",
                self.path.display(),
                i + 1
            );
        }
        Ok(())
    }

    /// Appends messages in one transaction, creating sessions as needed.
    /// Counters, `updatedAt` and the preview are *not* touched here: they
    /// arrive through [`Store::apply_meta`], coalesced by the gateway.
    pub fn append_batch(&mut self, appends: &[Append]) -> Result<(), StoreError> {
        let refs: Vec<&Append> = appends.iter().collect();
        self.append_with_meta(&refs, &[])
    }

    /// Appends and, in the same transaction, session metadata: a group
    /// commit that also empties a full metadata buffer costs one commit (one
    /// WAL append of the session pages) instead of two.
    pub fn append_with_meta(
        &mut self,
        appends: &[&Append],
        meta: &[MetaUpdate],
    ) -> Result<(), StoreError> {
        let tx = self.db.transaction()?;
        let mut created = 0;
        // This batch's newest seq (not `last_insert_rowid`, which an audit
        // or session insert may have set last).
        let mut last = None;
        {
            let mut create = tx.prepare_cached(
                "INSERT OR IGNORE INTO sessions (key, session_id, created_at, updated_at, message_count)
                 VALUES (?1, ?2, ?3, ?3, 0)",
            )?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO messages (session_key, message_id, role, text, ts) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut seen = std::collections::HashSet::new();
            for a in appends {
                // One create per session per batch (the rest would be no-ops).
                if seen.insert(a.session_key.as_str()) {
                    let sid = format!("s-{}", &a.message_id);
                    created += create.execute(params![a.session_key, sid, a.ts as i64])?;
                }
                last = Some(insert.insert(params![
                    a.session_key,
                    a.message_id,
                    a.role,
                    a.text,
                    a.ts as i64
                ])?);
            }
        }
        Self::update_meta(&tx, meta)?;
        let index_to = match last {
            Some(last) if (last - self.indexed_through) as u64 >= self.index_batch => {
                Self::index_tail(&tx, self.indexed_through, last)?;
                Some(last)
            }
            _ => None,
        };
        tx.commit()?;
        if let Some(to) = index_to {
            self.indexed_through = to;
        }
        if created > 0 {
            self.session_count = None;
        }
        self.stats.transactions += 1;
        self.stats.rows_written += (appends.len() + created + meta.len()) as u64;
        self.stats.bytes_written += appends
            .iter()
            .map(|a| (a.text.len() + a.session_key.len()) as u64)
            .sum::<u64>();
        Ok(())
    }

    /// Moves the tail `(from, to]` into `message_index`: one leaf page per
    /// session per batch instead of one per session per commit.
    fn index_tail(tx: &rusqlite::Transaction<'_>, from: i64, to: i64) -> Result<(), StoreError> {
        tx.prepare_cached(
            "INSERT INTO message_index (session_key, seq)
             SELECT session_key, seq FROM messages WHERE seq > ?1 AND seq <= ?2",
        )?
        .execute(params![from, to])?;
        tx.prepare_cached("UPDATE index_state SET indexed_through = ?1")?
            .execute([to])?;
        Ok(())
    }

    /// After messages were deleted: new rows take `max(seq) + 1`, which must
    /// land in the tail, so the indexed mark never stays above the newest row.
    fn clamp_index(tx: &rusqlite::Transaction<'_>, through: i64) -> Result<i64, StoreError> {
        let max: i64 = tx.query_row("SELECT coalesce(max(seq), 0) FROM messages", [], |r| {
            r.get(0)
        })?;
        if max < through {
            tx.prepare_cached("UPDATE index_state SET indexed_through = ?1")?
                .execute([max])?;
            return Ok(max);
        }
        Ok(through)
    }

    /// Deletes the session's messages with `seq < below` from both the
    /// index and the tail; returns how many.
    fn delete_messages(
        tx: &rusqlite::Transaction<'_>,
        key: &str,
        below: i64,
        through: i64,
    ) -> Result<usize, StoreError> {
        let indexed = tx
            .prepare_cached(
                "DELETE FROM messages WHERE seq IN
                   (SELECT seq FROM message_index WHERE session_key = ?1 AND seq < ?2)",
            )?
            .execute(params![key, below])?;
        tx.prepare_cached("DELETE FROM message_index WHERE session_key = ?1 AND seq < ?2")?
            .execute(params![key, below])?;
        let tail = tx
            .prepare_cached(
                "DELETE FROM messages WHERE seq > ?3 AND session_key = ?1 AND seq < ?2",
            )?
            .execute(params![key, below, through])?;
        Ok(indexed + tail)
    }

    fn update_meta(
        tx: &rusqlite::Transaction<'_>,
        updates: &[MetaUpdate],
    ) -> Result<(), StoreError> {
        if updates.is_empty() {
            return Ok(());
        }
        let mut stmt = tx.prepare_cached(
            "UPDATE sessions SET message_count = message_count + ?2,
                updated_at = max(updated_at, ?3), last_preview = coalesce(?4, last_preview)
             WHERE key = ?1",
        )?;
        for u in updates {
            stmt.execute(params![
                u.key,
                u.added as i64,
                u.updated_at as i64,
                u.preview
            ])?;
        }
        Ok(())
    }

    /// Writes coalesced session metadata in one transaction.
    pub fn apply_meta(&mut self, updates: &[MetaUpdate]) -> Result<(), StoreError> {
        let tx = self.db.transaction()?;
        Self::update_meta(&tx, updates)?;
        tx.commit()?;
        self.stats.transactions += 1;
        self.stats.rows_written += updates.len() as u64;
        Ok(())
    }

    fn session_from_row(r: &rusqlite::Row<'_>, with_preview: bool) -> rusqlite::Result<SessionRow> {
        Ok(SessionRow {
            key: r.get(0)?,
            session_id: r.get(1)?,
            label: r.get(2)?,
            created_at: r.get::<_, i64>(3)? as u64,
            updated_at: r.get::<_, i64>(4)? as u64,
            message_count: r.get::<_, i64>(5)? as u64,
            last_message_preview: if with_preview { r.get(6)? } else { None },
        })
    }

    /// Most recently updated first; `LIMIT` always applies.
    pub fn list_sessions(
        &mut self,
        limit: usize,
        search: Option<&str>,
        updated_since: Option<u64>,
        with_preview: bool,
    ) -> Result<Vec<SessionRow>, StoreError> {
        self.stats.queries += 1;
        let pattern = search.map(|s| format!("%{}%", s.replace('%', "\\%").replace('_', "\\_")));
        let mut stmt = self.db.prepare_cached(
            "SELECT key, session_id, label, created_at, updated_at, message_count, last_preview
             FROM sessions
             WHERE (?1 IS NULL OR key LIKE ?1 ESCAPE '\\' OR label LIKE ?1 ESCAPE '\\')
               AND (?2 IS NULL OR updated_at >= ?2)
             ORDER BY updated_at DESC LIMIT ?3",
        )?;
        let rows = stmt
            .query_map(
                params![pattern, updated_since.map(|v| v as i64), limit as i64],
                |r| Store::session_from_row(r, with_preview),
            )?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn count_sessions(&mut self) -> Result<u64, StoreError> {
        if let Some(n) = self.session_count {
            return Ok(n);
        }
        self.stats.queries += 1;
        let n: i64 = self
            .db
            .query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))?;
        self.session_count = Some(n as u64);
        Ok(n as u64)
    }

    pub fn get_session(&mut self, key: &str) -> Result<Option<SessionRow>, StoreError> {
        self.stats.queries += 1;
        Ok(self
            .db
            .prepare_cached(
                "SELECT key, session_id, label, created_at, updated_at, message_count, last_preview
                 FROM sessions WHERE key = ?1",
            )?
            .query_row([key], |r| Store::session_from_row(r, true))
            .optional()?)
    }

    /// The last `limit` messages (optionally before message id `before`),
    /// oldest first.
    pub fn history(
        &mut self,
        key: &str,
        limit: usize,
        before: Option<&str>,
    ) -> Result<Vec<MessageRow>, StoreError> {
        self.stats.queries += 1;
        let below = match before {
            None => i64::MAX,
            Some(id) => {
                let seq = self
                    .db
                    .prepare_cached("SELECT seq FROM messages WHERE message_id = ?1")?
                    .query_row([id], |r| r.get::<_, i64>(0))
                    .optional()?;
                match seq {
                    Some(s) => s,
                    None => return Ok(Vec::new()),
                }
            }
        };
        // The newest `limit` of the indexed part, plus the tail's (a scan of
        // at most `index_batch` rows by `seq`).
        let mut stmt = self.db.prepare_cached(
            "SELECT message_id, role, text, ts FROM messages WHERE seq IN (
                SELECT seq FROM (SELECT seq FROM message_index
                                 WHERE session_key = ?1 AND seq < ?2
                                 ORDER BY seq DESC LIMIT ?3)
                UNION ALL
                SELECT seq FROM messages WHERE seq > ?4 AND session_key = ?1 AND seq < ?2)
             ORDER BY seq DESC LIMIT ?3",
        )?;
        let mut rows = stmt
            .query_map(
                params![key, below, limit as i64, self.indexed_through],
                |r| {
                    Ok(MessageRow {
                        id: r.get(0)?,
                        role: r.get(1)?,
                        text: r.get(2)?,
                        ts: r.get::<_, i64>(3)? as u64,
                    })
                },
            )?
            .collect::<Result<Vec<_>, _>>()?;
        rows.reverse();
        Ok(rows)
    }

    /// Sets or clears the label; `None` when the session does not exist.
    pub fn patch_label(
        &mut self,
        key: &str,
        label: Option<&str>,
        now: u64,
    ) -> Result<Option<SessionRow>, StoreError> {
        let n = self.db.execute(
            "UPDATE sessions SET label = ?2, updated_at = ?3 WHERE key = ?1",
            params![key, label, now as i64],
        )?;
        self.stats.transactions += 1;
        self.stats.rows_written += n as u64;
        if n == 0 {
            return Ok(None);
        }
        self.get_session(key)
    }

    /// Drops the transcript, keeps the session. Returns messages removed, or
    /// `None` when the session does not exist.
    pub fn reset(&mut self, key: &str, now: u64) -> Result<Option<u64>, StoreError> {
        let tx = self.db.transaction()?;
        let n = tx.execute(
            "UPDATE sessions SET message_count = 0, last_preview = NULL, updated_at = ?2 WHERE key = ?1",
            params![key, now as i64],
        )?;
        if n == 0 {
            return Ok(None);
        }
        let removed = Self::delete_messages(&tx, key, i64::MAX, self.indexed_through)?;
        let through = Self::clamp_index(&tx, self.indexed_through)?;
        tx.commit()?;
        self.indexed_through = through;
        self.stats.transactions += 1;
        self.stats.rows_written += 1 + removed as u64;
        Ok(Some(removed as u64))
    }

    /// Removes the session and its transcript; false when it did not exist.
    pub fn delete(&mut self, key: &str) -> Result<bool, StoreError> {
        let tx = self.db.transaction()?;
        let removed = Self::delete_messages(&tx, key, i64::MAX, self.indexed_through)?;
        let n = tx.execute("DELETE FROM sessions WHERE key = ?1", [key])?;
        let through = Self::clamp_index(&tx, self.indexed_through)?;
        tx.commit()?;
        self.indexed_through = through;
        self.stats.rows_written += removed as u64;
        self.session_count = None;
        self.stats.transactions += 1;
        self.stats.rows_written += n as u64;
        Ok(n > 0)
    }

    /// Keeps the last `max_lines` messages. Returns messages removed, or
    /// `None` when the session does not exist.
    pub fn compact(&mut self, key: &str, max_lines: usize) -> Result<Option<u64>, StoreError> {
        let tx = self.db.transaction()?;
        let exists: Option<i64> = tx
            .query_row("SELECT 1 FROM sessions WHERE key = ?1", [key], |r| r.get(0))
            .optional()?;
        if exists.is_none() {
            return Ok(None);
        }
        let through = self.indexed_through;
        // The oldest message kept: the `max_lines`-th newest of index + tail.
        let keep_from: Option<i64> = if max_lines == 0 {
            Some(i64::MAX)
        } else {
            tx.query_row(
                "SELECT seq FROM (
                    SELECT seq FROM (SELECT seq FROM message_index WHERE session_key = ?1
                                     ORDER BY seq DESC LIMIT ?2)
                    UNION ALL
                    SELECT seq FROM messages WHERE seq > ?3 AND session_key = ?1)
                 ORDER BY seq DESC LIMIT 1 OFFSET ?2 - 1",
                params![key, max_lines as i64, through],
                |r| r.get(0),
            )
            .optional()?
        };
        let removed = match keep_from {
            Some(below) => Self::delete_messages(&tx, key, below, through)?,
            None => 0,
        };
        tx.execute(
            "UPDATE sessions SET message_count =
                (SELECT count(*) FROM message_index WHERE session_key = ?1)
                + (SELECT count(*) FROM messages WHERE seq > ?2 AND session_key = ?1)
             WHERE key = ?1",
            params![key, through],
        )?;
        let through = Self::clamp_index(&tx, through)?;
        tx.commit()?;
        self.indexed_through = through;
        self.stats.transactions += 1;
        self.stats.rows_written += removed as u64 + 1;
        Ok(Some(removed as u64))
    }

    /// A passive WAL checkpoint (never waits for readers); returns its duration.
    pub fn checkpoint(&mut self) -> Result<std::time::Duration, StoreError> {
        let t = std::time::Instant::now(); // measured, not scheduled: the loop owns scheduling
        self.db
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        let d = t.elapsed();
        self.stats.checkpoints += 1;
        self.stats.checkpoint_us_total += d.as_micros() as u64;
        self.stats.checkpoint_us_max = self.stats.checkpoint_us_max.max(d.as_micros() as u64);
        Ok(d)
    }

    /// A checkpoint job for the worker pool: its own connection, so the loop's
    /// connection keeps committing meanwhile (PASSIVE never blocks writers).
    pub fn checkpoint_job(
        &self,
    ) -> impl FnOnce() -> Result<std::time::Duration, String> + Send + 'static {
        let path = self.path.clone();
        let file = self.sync_file.clone();
        move || {
            let t = std::time::Instant::now();
            paced_checkpoint(&path, &file).map_err(|e| e.to_string())?;
            Ok(t.elapsed())
        }
    }

    /// Records a checkpoint that ran elsewhere (the worker pool).
    pub fn record_checkpoint(&mut self, d: std::time::Duration) {
        self.stats.checkpoints += 1;
        self.stats.checkpoint_us_total += d.as_micros() as u64;
        self.stats.checkpoint_us_max = self.stats.checkpoint_us_max.max(d.as_micros() as u64);
    }

    /// WAL bytes written since the WAL last restarted (what a checkpoint
    /// would copy), as of this connection's last commit.
    pub fn wal_log_bytes(&self) -> u64 {
        let frames = self.wal_frames.load(std::sync::atomic::Ordering::Relaxed) as u64;
        frames * (self.page_size + 24)
    }

    /// Bytes in the WAL file now.
    pub fn wal_bytes(&self) -> u64 {
        let mut p = self.path.clone().into_os_string();
        p.push("-wal");
        std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
    }
}

/// Bytes handed to writeback per `sync_file_range` step of a paced sync
/// (measured: 2 MiB steps left 8 ms stalls, 512 KiB mostly under 1.5 ms;
/// sleeping between steps made it worse: a longer window, more appends to sync).
pub const SYNC_STEP_BYTES: i64 = 512 * 1024;

/// Writes a file's dirty pages back a step at a time, then `fdatasync`s it.
/// One `fsync` of 64 MB of fresh pages makes ext4 commit its journal behind
/// all of them, and every other writer on the file system (the loop
/// appending to the WAL) waits meanwhile: 8-15 ms measured. Started in
/// steps, the final sync finds little left and the journal commit is short.
fn paced_sync(f: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let len = f.metadata()?.len() as i64;
    let fd = f.as_raw_fd();
    let mut off = 0;
    while off < len {
        // SAFETY: plain syscalls on a descriptor we own.
        unsafe {
            libc::sync_file_range(
                fd,
                off,
                SYNC_STEP_BYTES,
                libc::SYNC_FILE_RANGE_WAIT_BEFORE
                    | libc::SYNC_FILE_RANGE_WRITE
                    | libc::SYNC_FILE_RANGE_WAIT_AFTER,
            );
        }
        off += SYNC_STEP_BYTES;
    }
    f.sync_data()
}

/// A passive checkpoint with SQLite's own syncs replaced by paced ones, in
/// the order SQLite's `synchronous=NORMAL` checkpoint uses them:
/// 1. a second connection holds a read snapshot, so no writer can restart
///    (overwrite) the WAL until the copied pages are durable in the database;
/// 2. the WAL is synced (what is copied is durable first: a crash mid-copy
///    replays it);
/// 3. the checkpoint copies frames up to that snapshot, without syncing;
/// 4. the database file is synced; then the snapshot is released.
fn paced_checkpoint(path: &std::path::Path, db_file: &std::fs::File) -> Result<(), StoreError> {
    let err = |e: std::io::Error| StoreError::Open {
        path: path.to_path_buf(),
        msg: format!("checkpoint sync: {e}"),
    };
    let hold = Connection::open(path)?;
    hold.execute_batch("BEGIN")?;
    hold.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    // No fcntl lock lives on the WAL (they are on the database and -shm
    // files), so this descriptor may be opened and closed freely.
    let wal = std::fs::File::open(&wal).map_err(err)?;
    paced_sync(&wal).map_err(err)?;
    let db = Connection::open(path)?;
    db.execute_batch("PRAGMA synchronous=OFF")?;
    db.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    paced_sync(db_file).map_err(err)?;
    hold.execute_batch("COMMIT")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> StoreOptions {
        StoreOptions {
            cache_bytes: 1 << 20,
            mmap_bytes: 0,
            max_bytes: 1 << 30,
            synchronous_full: false,
            index_batch: crate::config::DEFAULT_INDEX_BATCH,
        }
    }

    fn with_batch(index_batch: u64) -> StoreOptions {
        StoreOptions {
            index_batch,
            ..opts()
        }
    }

    fn append(key: &str, id: &str, text: &str, ts: u64) -> Append {
        Append {
            session_key: key.into(),
            message_id: id.into(),
            role: "user".into(),
            text: text.into(),
            ts,
        }
    }

    #[test]
    fn test_append_history_list() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path(), &opts()).unwrap();
        s.append_batch(&[
            append("a", "m1", "hello", 1),
            append("a", "m2", "world", 2),
            append("b", "m3", "x", 3),
        ])
        .unwrap();
        s.apply_meta(&[
            MetaUpdate {
                key: "a".into(),
                added: 2,
                updated_at: 2,
                preview: Some("world".into()),
            },
            MetaUpdate {
                key: "b".into(),
                added: 1,
                updated_at: 3,
                preview: Some("x".into()),
            },
        ])
        .unwrap();
        let h = s.history("a", 10, None).unwrap();
        assert_eq!(
            h.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            ["m1", "m2"]
        );
        assert_eq!(s.history("a", 1, None).unwrap()[0].id, "m2");
        assert_eq!(s.history("a", 10, Some("m2")).unwrap().len(), 1);
        let l = s.list_sessions(10, None, None, true).unwrap();
        assert_eq!(l[0].key, "b");
        assert_eq!(l[1].message_count, 2);
        assert_eq!(l[1].last_message_preview.as_deref(), Some("world"));
        assert_eq!(
            s.list_sessions(10, Some("a"), None, false).unwrap().len(),
            1
        );
        assert_eq!(s.count_sessions().unwrap(), 2);
    }

    #[test]
    fn test_patch_reset_compact_delete() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path(), &opts()).unwrap();
        let batch: Vec<_> = (0..10)
            .map(|i| append("k", &format!("m{i}"), "t", i))
            .collect();
        s.append_batch(&batch).unwrap();
        assert_eq!(
            s.patch_label("k", Some("Work"), 20)
                .unwrap()
                .unwrap()
                .label
                .as_deref(),
            Some("Work")
        );
        assert_eq!(s.patch_label("nope", Some("x"), 20).unwrap(), None);
        assert_eq!(s.compact("k", 3).unwrap(), Some(7));
        assert_eq!(s.get_session("k").unwrap().unwrap().message_count, 3);
        assert_eq!(s.reset("k", 30).unwrap(), Some(3));
        assert!(s.history("k", 10, None).unwrap().is_empty());
        assert!(s.delete("k").unwrap());
        assert!(!s.delete("k").unwrap());
    }

    /// One number from `sql`, on the store's own connection.
    fn number(s: &Store, sql: &str) -> i64 {
        s.db.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// Message ids of a session's history, oldest first.
    fn ids(s: &mut Store, key: &str, limit: usize, before: Option<&str>) -> Vec<String> {
        s.history(key, limit, before)
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect()
    }

    /// Two sessions interleaved, `n` messages each, in commits of 3.
    fn interleaved(s: &mut Store, n: usize) {
        let all: Vec<Append> = (0..n)
            .flat_map(|i| {
                [
                    append("a", &format!("a{i}"), "t", i as u64),
                    append("b", &format!("b{i}"), "t", i as u64),
                ]
            })
            .collect();
        for c in all.chunks(3) {
            s.append_batch(c).unwrap();
        }
    }

    /// Sessions a and b, 10 messages each, an index batch of 5: some rows
    /// indexed, the last few not.
    fn two_sessions(dir: &Path) -> Store {
        let mut s = Store::open(dir, &with_batch(5)).unwrap();
        interleaved(&mut s, 10);
        s
    }

    #[test]
    fn test_history_reads_the_index_and_the_unindexed_tail_as_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = two_sessions(dir.path());
        // Some rows indexed, some not: both halves are being read.
        assert!(s.indexed_through > 0);
        assert!(
            (1..=7).contains(&s.unindexed_tail()),
            "{}",
            s.unindexed_tail()
        );
        let indexed = number(&s, "SELECT count(*) FROM message_index");
        assert_eq!(indexed, s.indexed_through, "every row up to the mark");
        let want: Vec<String> = (0..10).map(|i| format!("a{i}")).collect();
        assert_eq!(ids(&mut s, "a", 100, None), want);
        assert_eq!(ids(&mut s, "a", 4, None), want[6..]);
        assert_eq!(ids(&mut s, "a", 3, Some("a8")), want[5..8]);
        assert_eq!(ids(&mut s, "a", 100, Some("a1")), want[..1]);
        assert!(ids(&mut s, "a", 10, Some("no-such-id")).is_empty());
        // The mark survives a restart; the tail is read the same way.
        let through = s.indexed_through;
        drop(s);
        let mut s = Store::open(dir.path(), &opts()).unwrap();
        assert_eq!(s.indexed_through, through);
        assert_eq!(ids(&mut s, "a", 100, None), want);
    }

    #[test]
    fn test_compact_reset_and_delete_reach_indexed_and_tail_rows() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = two_sessions(dir.path());
        assert_eq!(s.compact("a", 4).unwrap(), Some(6));
        assert_eq!(ids(&mut s, "a", 100, None), ["a6", "a7", "a8", "a9"]);
        assert_eq!(s.get_session("a").unwrap().unwrap().message_count, 4);
        assert_eq!(s.compact("a", 10).unwrap(), Some(0), "fewer than kept");
        assert_eq!(s.compact("a", 0).unwrap(), Some(4));
        assert!(ids(&mut s, "a", 100, None).is_empty());
        assert_eq!(ids(&mut s, "b", 100, None).len(), 10, "b untouched");
        assert_eq!(s.reset("b", 1).unwrap(), Some(10));
        let left = number(
            &s,
            "SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM message_index)",
        );
        assert_eq!(left, 0);
    }

    #[test]
    fn test_a_commit_without_messages_leaves_the_mark_alone() {
        // The connection's last rowid may be an audit row's: a metadata-only
        // commit must not take it for a message seq.
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path(), &with_batch(1)).unwrap();
        s.append_batch(&[append("a", "m1", "t", 1)]).unwrap();
        let rows: Vec<AuditRow> = (0..10)
            .map(|i| AuditRow::new(i, "coach", "allow", format!("ls {i}"), "coach".into()))
            .collect();
        s.append_audit(&rows).unwrap();
        let meta = MetaUpdate {
            key: "a".into(),
            added: 1,
            updated_at: 2,
            preview: None,
        };
        s.append_with_meta(&[], &[meta]).unwrap();
        s.append_batch(&[append("a", "m2", "t", 3)]).unwrap();
        assert_eq!(ids(&mut s, "a", 10, None), ["m1", "m2"]);
    }

    #[test]
    fn test_rows_after_deleting_the_newest_are_found() {
        // Deleting the newest rows lets SQLite hand their seq out again; the
        // mark comes down with them, or new rows would hide below it.
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path(), &with_batch(4)).unwrap();
        interleaved(&mut s, 3);
        let tail: Vec<Append> = (0..6)
            .map(|i| append("c", &format!("c{i}"), "t", 9))
            .collect();
        s.append_batch(&tail).unwrap();
        let high = s.indexed_through;
        assert!(s.delete("c").unwrap());
        assert!(s.indexed_through < high, "the mark came down");
        s.append_batch(&[append("d", "d0", "t", 10)]).unwrap();
        assert_eq!(ids(&mut s, "d", 10, None), ["d0"]);
        drop(s);
        let mut s = Store::open(dir.path(), &opts()).unwrap();
        assert_eq!(ids(&mut s, "d", 10, None), ["d0"]);
        assert_eq!(ids(&mut s, "a", 10, None), ["a0", "a1", "a2"]);
    }

    #[test]
    fn test_schema_3_transcripts_move_into_the_index() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Connection::open(dir.path().join(DB_FILE)).unwrap();
            db.execute_batch("PRAGMA foreign_keys=ON").unwrap();
            for m in &MIGRATIONS[..3] {
                db.execute_batch(m).unwrap();
            }
            db.execute_batch(
                "INSERT INTO sessions (key, session_id, created_at, updated_at, message_count)
                   VALUES ('a', 's-a', 1, 1, 2), ('b', 's-b', 1, 1, 1);
                 INSERT INTO messages (session_key, message_id, role, text, ts)
                   VALUES ('a', 'm1', 'user', 'one', 1), ('b', 'm2', 'user', 'two', 2),
                          ('a', 'm3', 'assistant', 'three', 3);
                 PRAGMA user_version = 3;",
            )
            .unwrap();
        }
        let mut s = Store::open(dir.path(), &opts()).unwrap();
        assert_eq!(s.indexed_through, 3);
        let h = s.history("a", 10, None).unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(
            (h[1].id.as_str(), h[1].role.as_str(), h[1].text.as_str()),
            ("m3", "assistant", "three")
        );
        s.append_batch(&[append("a", "m4", "four", 4)]).unwrap();
        assert_eq!(ids(&mut s, "a", 10, Some("m4")), ["m1", "m3"]);
        // The index's foreign key cascades; the messages went first.
        assert!(s.delete("a").unwrap());
        let msgs = number(&s, "SELECT count(*) FROM messages");
        let idx = number(&s, "SELECT count(*) FROM message_index");
        assert_eq!((msgs, idx), (1, 1), "only b's message is left");
        let fk = number(&s, "SELECT count(*) FROM pragma_foreign_key_check");
        assert_eq!(fk, 0);
    }

    #[test]
    fn test_paced_checkpoint_backfills_the_whole_wal() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path(), &opts()).unwrap();
        let mut i = 0;
        while s.wal_bytes() < 2 << 20 {
            let batch: Vec<Append> = (0..100)
                .map(|j| append("k", &format!("m{i}-{j}"), &"x".repeat(200), i))
                .collect();
            s.append_batch(&batch).unwrap();
            i += 1;
        }
        let before = s.wal_bytes();
        assert!(s.wal_log_bytes() >= 2 << 20, "{}", s.wal_log_bytes());
        s.checkpoint_job()().unwrap();
        // Everything was copied and the snapshot released: the next commit
        // restarts the WAL from its start instead of growing it.
        s.append_batch(&[append("k", "after", "y", i)]).unwrap();
        assert_eq!(s.wal_bytes(), before, "the WAL was restarted, not extended");
        // What the checkpoint trigger reads fell back with the restart; the
        // file's size, which it read before, did not.
        assert!(s.wal_log_bytes() < 64 << 10, "{}", s.wal_log_bytes());
        // And the data is all there for a new connection.
        drop(s);
        let s = Store::open(dir.path(), &opts()).unwrap();
        assert_eq!(
            s.db.query_row("SELECT count(*) FROM messages", [], |r| r.get::<_, i64>(0))
                .unwrap(),
            i as i64 * 100 + 1
        );
    }

    #[test]
    fn test_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path(), &opts()).unwrap());
        let db = Connection::open(dir.path().join(DB_FILE)).unwrap();
        db.pragma_update(None, "user_version", 99).unwrap();
        drop(db);
        let err = Store::open(dir.path(), &opts()).err().unwrap().to_string();
        assert!(err.contains("schema version 99"), "{err}");
    }

    #[test]
    fn test_corrupt_file_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(DB_FILE),
            b"this is not sqlite, but it is someone's data",
        )
        .unwrap();
        let err = Store::open(dir.path(), &opts()).err().unwrap().to_string();
        assert!(err.contains(DB_FILE), "{err}");
        let kept = std::fs::read(dir.path().join(DB_FILE)).unwrap();
        assert!(kept.starts_with(b"this is not sqlite"));
    }
}
