//! Sessions and transcripts over the store: `chat.*` and `sessions.*`, the
//! group commit of appends, the idempotency cache of `chat.send`, and the
//! `chat` / `sessions.changed` events.
//!
//! Group commit: appends that arrive in one loop turn (or until
//! `store.groupCommitMax` / `store.groupCommitBytes`) go into one transaction,
//! committed at the end of the turn; their `res ok:true` is sent only after
//! the commit, so an acknowledged message survives a crash of the process.

use super::methods::{bad_param as bad, params_object, Payload};
use super::{wall_ms, Gateway, Priority};
use crate::net::ConnId;
use crate::protocol::{ErrorCode, ErrorShape, Request, SharedEvent};
use crate::reactor::timer::TimerId;
use crate::store::{preview_of, Append, MessageRow, MetaUpdate};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Longest session key accepted.
pub const MAX_SESSION_KEY_CHARS: usize = 256;
/// Longest idempotency key accepted.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 256;
/// Most keys one `sessions.preview` may ask for.
pub const MAX_PREVIEW_KEYS: usize = 64;
/// A method's params object, when it has one.
type Params<'a> = Option<&'a Map<String, Value>>;

/// Wait before retrying a failed group commit.
pub const COMMIT_RETRY: Duration = Duration::from_millis(500);
/// Sessions remembered for one `sessions.changed` round; past it, one
/// event without a key says "many changed".
pub const MAX_CHANGED_KEYS: usize = 256;
/// Roles `chat.inject` accepts.
pub const INJECT_ROLES: &[&str] = &["assistant", "user", "system", "tool"];

/// Why the metadata buffer was written.
#[derive(Debug, Clone, Copy)]
pub enum MetaFlush {
    Debounce,
    Full,
    Read,
    Shutdown,
}

/// Counters of the session-metadata buffer.
#[derive(Debug, Default, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetaStats {
    /// Metadata updates asked for (one per appended message).
    pub requested: u64,
    /// Rows actually written.
    pub performed: u64,
    pub coalesced: u64,
    pub flushes_debounce: u64,
    pub flushes_full: u64,
    pub flushes_read: u64,
    pub flushes_shutdown: u64,
    pub errors: u64,
}

/// What the client gets once its append commits.
#[derive(Debug)]
enum Ack {
    Send { idempotency: String },
    Inject,
}

/// An append waiting for the group commit, and who to answer.
#[derive(Debug)]
pub struct PendingAppend {
    append: Append,
    ack: Ack,
    /// The request, plus retries of the same idempotency key that arrived
    /// while it was pending.
    waiters: Vec<(ConnId, String)>,
    /// When it was queued: past `store.unavailableAfterMs` on a failing
    /// store it is answered `STORE_UNAVAILABLE` instead of waiting.
    queued_at: Instant,
}

/// The runtime of sessions and transcripts, owned by the gateway like the
/// coach's, exec's and approvals' own.
pub struct ChatRuntime {
    /// Appends waiting for this turn's group commit.
    pending: Vec<PendingAppend>,
    pending_bytes: usize,
    /// Set while the store refuses commits: no attempt before this instant.
    commit_retry_at: Option<Instant>,
    /// `chat.send` answers by session + idempotency key (bounded LRU + TTL).
    idempotency: hashlink::LruCache<String, (Instant, String)>,
    /// Session metadata waiting for its debounce (bounded: metaMaxPending).
    meta: HashMap<String, MetaUpdate>,
    meta_timer: Option<TimerId>,
    pub meta_stats: MetaStats,
    /// Sessions changed since the last `sessions.changed` round.
    changed_keys: Vec<String>,
    changed_overflow: bool,
    changed_timer: Option<TimerId>,
}

impl ChatRuntime {
    pub fn new(idempotency_keys: usize) -> ChatRuntime {
        ChatRuntime {
            pending: Vec::new(),
            pending_bytes: 0,
            commit_retry_at: None,
            idempotency: hashlink::LruCache::new(idempotency_keys),
            meta: HashMap::new(),
            meta_timer: None,
            meta_stats: MetaStats::default(),
            changed_keys: Vec::new(),
            changed_overflow: false,
            changed_timer: None,
        }
    }

    /// Bytes of appends waiting for the group commit.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// The store refused the last commit and a retry is scheduled.
    pub fn store_failing(&self) -> bool {
        self.commit_retry_at.is_some()
    }

    /// Idempotency keys remembered now.
    pub fn idempotency_len(&self) -> usize {
        self.idempotency.len()
    }

    /// The metadata debounce timer fired (it is gone from the wheel).
    pub fn meta_timer_fired(&mut self) {
        self.meta_timer = None;
    }

    /// Resizes the idempotency cache after a reload.
    pub fn set_idempotency_capacity(&mut self, n: usize) {
        self.idempotency.set_capacity(n);
    }
}

fn not_found(key: &str) -> ErrorShape {
    ErrorShape::invalid(format!("session not found: {key}"))
        .detail("SESSION_NOT_FOUND", json!({"key": key}))
}

fn storage(e: impl std::fmt::Display) -> ErrorShape {
    log::error!("store: {e}");
    ErrorShape::new(ErrorCode::Unavailable, format!("storage error: {e}"))
        .detail("STORAGE_ERROR", Value::Null)
        .retry_after(1000)
}

fn req_str(
    p: Option<&Map<String, Value>>,
    method: &str,
    key: &str,
    max: usize,
) -> Result<String, ErrorShape> {
    match p.and_then(|p| p.get(key)) {
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= max => Ok(s.clone()),
        _ => Err(bad(
            method,
            key,
            &format!("a non-empty string of at most {max} characters"),
        )),
    }
}

fn opt_str<'a>(
    p: Option<&'a Map<String, Value>>,
    method: &str,
    key: &str,
) -> Result<Option<&'a str>, ErrorShape> {
    match p.and_then(|p| p.get(key)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(method, key, "a string")),
    }
}

fn opt_uint(
    p: Option<&Map<String, Value>>,
    method: &str,
    key: &str,
    default: u64,
    max: u64,
) -> Result<u64, ErrorShape> {
    match p.and_then(|p| p.get(key)) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| bad(method, key, &format!("an integer 1..={max}"))),
    }
}

/// The `chat` event's payload (docs/protocol.md §5), borrowed from the append.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ChatEvent<'a> {
    session_key: &'a str,
    message_id: &'a str,
    role: &'a str,
    text: &'a str,
    ts: u64,
    state: &'static str,
    /// `text` is a preview (`events.chatPreviewBytes`); `chat.history` has it all.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    truncated: bool,
}

/// The first `max` bytes of `text`, cut at a character boundary.
fn preview(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

/// Adds one message to a session's coalesced metadata.
fn merge_meta(meta: &mut std::collections::HashMap<String, MetaUpdate>, a: &Append) {
    let entry = meta
        .entry(a.session_key.clone())
        .or_insert_with(|| MetaUpdate {
            key: a.session_key.clone(),
            added: 0,
            updated_at: 0,
            preview: None,
        });
    entry.added += 1;
    entry.updated_at = entry.updated_at.max(a.ts);
    entry.preview = Some(preview_of(&a.text));
}

/// Cache keys of `sessions.list` pages start with this.
/// `sessions.list` parameters: clawgate's filters (`limit`, `search`,
/// `activeMinutes`, `includeLastMessage`) and the rest of OpenClaw's
/// schema, accepted so its Control UI and CLI work. Those name agents,
/// profiles, boards and projects that clawgate's sessions do not have, so
/// they do not narrow the list (docs/protocol.md §8).
pub const SESSIONS_LIST_PARAMS: &[&str] = &[
    "limit",
    "search",
    "activeMinutes",
    "includeLastMessage",
    "offset",
    "activeOnly",
    "requireLastInteraction",
    "sortBy",
    "includeGlobal",
    "includeUnknown",
    "excludeSubagents",
    "excludeCron",
    "excludeSystem",
    "configuredAgentsOnly",
    "includeDerivedTitles",
    "includeActivitySummary",
    "label",
    "projectId",
    "workspaceDir",
    "group",
    "pinned",
    "boardFace",
    "hasBoard",
    "creatorId",
    "ownerId",
    "ownerFirst",
    "involvingMe",
    "profileRelation",
    "profileId",
    "relationship",
    "involvingProfileId",
    "includePeople",
    "spawnedBy",
    "agentId",
    "archived",
    "archivedFilter",
];

const LIST_CACHE_PREFIX: &str = "sessions.list:";

/// A new message id: 12 hex digits of wall-clock milliseconds, then 12 of
/// a per-process counter started at a random point. Ids made one after
/// another sort one after another, so the `message_id` unique index grows
/// at its right edge: a group commit dirties one or two of its pages, where
/// random ids dirtied one page per message (measured: about a third of the
/// WAL written per commit). Unique: the counter never repeats within a
/// process, and a restart starts elsewhere in time and counter.
fn message_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    const MASK: u64 = (1 << 48) - 1;
    static START: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let start = *START.get_or_init(|| {
        let mut b = [0u8; 8];
        let _ = super::auth::fill_random(&mut b);
        u64::from_le_bytes(b)
    });
    let n = start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) & MASK;
    format!("{:012x}{n:012x}", wall_ms() & MASK)
}

impl Gateway {
    fn idempotency_get(&mut self, key: &str, now: Instant) -> Option<String> {
        let ttl = Duration::from_millis(self.cfg.store.idempotency_ttl_ms);
        let hit = match self.chat.idempotency.get(key) {
            Some((at, payload)) if now.duration_since(*at) < ttl => Some(payload.clone()),
            Some(_) => {
                self.chat.idempotency.remove(key);
                None
            }
            None => None,
        };
        if hit.is_some() {
            self.stats.cache_hits += 1;
        } else {
            self.stats.cache_misses += 1;
        }
        hit
    }

    /// Queues an append for the group commit; commits at once when the batch
    /// is full.
    /// Refuses a new append while the pending batch is at its bound (the
    /// store is failing, e.g. the disk or `store.maxDbBytes` is full).
    /// `events.chatMaxMessageBytes`: one message can not monopolise the
    /// store, the fan-out or the pending bound.
    fn check_message_size(&self, message: &str) -> Result<(), ErrorShape> {
        let max = self.cfg.events.chat_max_message_bytes;
        if message.len() > max {
            return Err(ErrorShape::invalid(format!(
                "message is {} bytes; the limit is {max} (events.chatMaxMessageBytes)",
                message.len()
            ))
            .detail(
                "MESSAGE_TOO_LARGE",
                json!({"bytes": message.len(), "max": max}),
            ));
        }
        Ok(())
    }

    fn check_pending_bound(&self) -> Result<(), ErrorShape> {
        if self.chat.pending_bytes >= self.cfg.store.pending_max_bytes {
            return Err(ErrorShape::new(
                ErrorCode::Unavailable,
                format!(
                    "storage unavailable: {} bytes of messages wait for the database",
                    self.chat.pending_bytes
                ),
            )
            .detail(
                "STORAGE_BACKLOG",
                json!({"pendingBytes": self.chat.pending_bytes}),
            )
            .retry_after(COMMIT_RETRY.as_millis() as u64 * 2));
        }
        Ok(())
    }

    fn queue_append(&mut self, id: ConnId, req_id: &str, append: Append, ack: Ack, now: Instant) {
        self.chat.pending_bytes += append.text.len() + append.session_key.len();
        self.chat.pending.push(PendingAppend {
            append,
            ack,
            waiters: vec![(id, req_id.to_string())],
            queued_at: now,
        });
        if self.chat.pending.len() >= self.cfg.store.group_commit_max
            || self.chat.pending_bytes >= self.cfg.store.group_commit_bytes
        {
            self.commit_appends(now);
        }
    }

    /// Commits the pending appends in one transaction, then acknowledges them
    /// and broadcasts their events. On failure every waiter gets
    /// `UNAVAILABLE` (nothing was acknowledged, so nothing acknowledged is lost).
    pub fn commit_appends(&mut self, now: Instant) {
        if self.chat.pending.is_empty() || self.chat.commit_retry_at.is_some_and(|t| now < t) {
            return;
        }
        // When this batch's sessions would overflow the metadata buffer,
        // the buffer is written in this same transaction (rather than in a
        // second one right after, as a full buffer otherwise is).
        // Counting stops at the first key past the buffer's room, so this is
        // at most `metaMaxPending` comparisons per append.
        let overflow = {
            let room = self
                .cfg
                .store
                .meta_max_pending
                .saturating_sub(self.chat.meta.len());
            let mut keys: Vec<&str> = Vec::with_capacity(room);
            let mut over = false;
            for p in &self.chat.pending {
                let k = p.append.session_key.as_str();
                if !self.chat.meta.contains_key(k) && !keys.contains(&k) {
                    if keys.len() == room {
                        over = true;
                        break;
                    }
                    keys.push(k);
                }
            }
            over
        };
        let meta_along: Vec<MetaUpdate> = if overflow {
            let mut merged = self.chat.meta.clone();
            for p in &self.chat.pending {
                merge_meta(&mut merged, &p.append);
            }
            merged.into_values().collect()
        } else {
            Vec::new()
        };
        let appends: Vec<&Append> = self.chat.pending.iter().map(|p| &p.append).collect();
        if let Err(e) = self.store.append_with_meta(&appends, &meta_along) {
            // Keep the batch and its waiters; retry on a timer. New appends
            // queue behind it until the pending bound answers UNAVAILABLE.
            self.store.stats.errors += 1;
            if self.chat.commit_retry_at.is_none() {
                log::error!(
                    "store: group commit failed, {} appends kept for retry: {e}",
                    appends.len()
                );
            }
            self.fail_stale_appends(now);
            let limit = Duration::from_millis(self.cfg.store.unavailable_after_ms);
            let next_deadline = self.chat.pending.iter().map(|p| p.queued_at + limit).min();
            let at = next_deadline.map_or(now + COMMIT_RETRY, |d| d.min(now + COMMIT_RETRY));
            self.chat.commit_retry_at = Some(at);
            self.periodic(at, super::Timer::CommitRetry);
            return;
        }
        // A recovery drains a whole backlog at once: its events are
        // droppable so the burst cannot close readers as slow consumers
        // (they re-read with `chat.history`).
        let recovered = self.chat.commit_retry_at.take().is_some();
        if recovered {
            log::info!("store: group commit recovered");
        }
        let fan_out = if recovered {
            Priority::Droppable
        } else {
            Priority::Batched
        };
        // What was logged since the last restart, not the file's size: the
        // file keeps its size after a checkpoint, which asked for one after
        // every commit once it had grown past the threshold.
        if self.store.wal_log_bytes() >= self.cfg.store.checkpoint_wal_bytes {
            self.request_checkpoint();
        }
        let batch = std::mem::take(&mut self.chat.pending);
        self.chat.pending_bytes = 0;
        // New messages change counters and order: cached pages are stale.
        self.cache.invalidate(LIST_CACHE_PREFIX);
        self.stats.group_commits += 1;
        self.stats.group_committed += batch.len() as u64;
        let mut changed: Vec<&str> = Vec::new();
        for p in &batch {
            let a = &p.append;
            // Ids are our own hex (no escaping): formatted, not built as a Value.
            let text = match &p.ack {
                Ack::Send { .. } => {
                    format!(r#"{{"status":"accepted","messageId":"{}"}}"#, a.message_id)
                }
                Ack::Inject => format!(r#"{{"messageId":"{}"}}"#, a.message_id),
            };
            if let Ack::Send { idempotency } = &p.ack {
                self.chat
                    .idempotency
                    .insert(idempotency.clone(), (now, text.clone()));
            }
            for (id, rid) in &p.waiters {
                self.respond_ok_raw(*id, rid, &text, now);
            }
            // Fan-out carries a bounded preview: two pipelined 600 KB sends
            // used to push every reader over its cap (slow-consumer close).
            let (text, truncated) = preview(&a.text, self.cfg.events.chat_preview_bytes);
            let ev = SharedEvent::new(
                "chat",
                &ChatEvent {
                    session_key: &a.session_key,
                    message_id: &a.message_id,
                    role: &a.role,
                    text,
                    ts: a.ts,
                    state: "final",
                    truncated,
                },
            );
            self.broadcast(&ev, fan_out, None, now);
            if !changed.contains(&a.session_key.as_str()) {
                changed.push(&a.session_key);
            }
        }
        if overflow {
            self.chat.meta_stats.requested += batch.len() as u64;
            self.meta_written(meta_along.len(), MetaFlush::Full);
        } else {
            for p in &batch {
                self.meta_request(&p.append, now);
            }
        }
        for key in changed {
            self.note_session_changed(key, now);
        }
    }

    /// The store keeps failing (disk full): appends queued longer than
    /// `store.unavailableAfterMs` are answered `UNAVAILABLE` /
    /// `STORE_UNAVAILABLE` and dropped. None was acknowledged, so nothing
    /// acknowledged is lost; a retry with the same idempotency key is a new send.
    fn fail_stale_appends(&mut self, now: Instant) {
        let limit = Duration::from_millis(self.cfg.store.unavailable_after_ms);
        let (stale, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.chat.pending)
            .into_iter()
            .partition(|p| now.saturating_duration_since(p.queued_at) >= limit);
        self.chat.pending = keep;
        for p in stale {
            self.chat.pending_bytes = self
                .chat
                .pending_bytes
                .saturating_sub(p.append.text.len() + p.append.session_key.len());
            self.stats.store_unavailable += 1;
            let err = ErrorShape::new(
                ErrorCode::Unavailable,
                "storage unavailable: the database cannot be written (disk full?); not saved, retry",
            )
            .detail("STORE_UNAVAILABLE", json!({"afterMs": limit.as_millis() as u64}))
            .retry_after(COMMIT_RETRY.as_millis() as u64 * 2);
            for (id, rid) in &p.waiters {
                self.respond_err(*id, rid, &err, now);
            }
        }
    }

    /// One message's worth of metadata into the buffer.
    fn meta_request(&mut self, a: &Append, now: Instant) {
        self.chat.meta_stats.requested += 1;
        if !self.chat.meta.contains_key(&a.session_key)
            && self.chat.meta.len() >= self.cfg.store.meta_max_pending
        {
            self.flush_meta(MetaFlush::Full, now);
        }
        merge_meta(&mut self.chat.meta, a);
        if self.chat.meta_timer.is_none() {
            let at = now + Duration::from_millis(self.cfg.store.meta_debounce_ms);
            self.chat.meta_timer = self.timers.insert(at, super::Timer::MetaFlush).ok();
        }
    }

    /// The buffer is in the database: empty it, stop its debounce, count.
    fn meta_written(&mut self, rows: usize, cause: MetaFlush) {
        self.chat.meta.clear();
        if let Some(t) = self.chat.meta_timer.take() {
            self.timers.cancel(t);
        }
        let s = &mut self.chat.meta_stats;
        s.performed += rows as u64;
        s.coalesced = s.requested.saturating_sub(s.performed);
        match cause {
            MetaFlush::Debounce => s.flushes_debounce += 1,
            MetaFlush::Full => s.flushes_full += 1,
            MetaFlush::Read => s.flushes_read += 1,
            MetaFlush::Shutdown => s.flushes_shutdown += 1,
        }
    }

    /// Writes the buffered metadata (one transaction). Kept in memory and
    /// retried on the next flush when the write fails.
    pub fn flush_meta(&mut self, cause: MetaFlush, _now: Instant) {
        if let Some(t) = self.chat.meta_timer.take() {
            self.timers.cancel(t);
        }
        if self.chat.meta.is_empty() {
            return;
        }
        let updates: Vec<MetaUpdate> = self.chat.meta.values().cloned().collect();
        match self.store.apply_meta(&updates) {
            Ok(()) => self.meta_written(updates.len(), cause),
            Err(e) => {
                log::error!("session metadata flush failed, kept for retry: {e}");
                self.chat.meta_stats.errors += 1;
            }
        }
    }

    /// A session got messages: one `sessions.changed` per session per
    /// debounce window instead of one per commit (with many writers that was
    /// as many frames as the `chat` events themselves).
    fn note_session_changed(&mut self, key: &str, now: Instant) {
        if self.chat.changed_keys.len() < MAX_CHANGED_KEYS
            && !self.chat.changed_keys.iter().any(|k| k == key)
        {
            self.chat.changed_keys.push(key.to_string());
        } else if self.chat.changed_keys.len() >= MAX_CHANGED_KEYS {
            self.chat.changed_overflow = true;
        }
        if self.chat.changed_timer.is_none() {
            let at = now + Duration::from_millis(self.cfg.events.sessions_changed_debounce_ms);
            self.chat.changed_timer = self.timers.insert(at, super::Timer::SessionsChanged).ok();
        }
    }

    /// The debounce ended: one event per changed session (or one without a
    /// key when more changed than are tracked).
    pub(super) fn emit_sessions_changed(&mut self, now: Instant) {
        self.chat.changed_timer = None;
        if std::mem::take(&mut self.chat.changed_overflow) {
            self.chat.changed_keys.clear();
            self.sessions_changed("message", None, now);
            return;
        }
        for key in std::mem::take(&mut self.chat.changed_keys) {
            self.sessions_changed("message", Some(&key), now);
        }
    }

    fn sessions_changed(&mut self, reason: &str, key: Option<&str>, now: Instant) {
        let ev = SharedEvent::new(
            "sessions.changed",
            &json!({"reason": reason, "key": key, "ts": wall_ms()}),
        );
        self.broadcast(&ev, Priority::Batched, None, now);
    }

    pub(super) fn chat_send(
        &mut self,
        id: ConnId,
        req: &Request,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        let p = params_object(req, &["sessionKey", "message", "idempotencyKey"])?;
        let session_key = req_str(p, "chat.send", "sessionKey", MAX_SESSION_KEY_CHARS)?;
        let message = req_str(p, "chat.send", "message", usize::MAX)?;
        self.check_message_size(&message)?;
        let idem = req_str(p, "chat.send", "idempotencyKey", MAX_IDEMPOTENCY_KEY_CHARS)?;
        let cache_key = format!("{session_key}\u{0}{idem}");
        if let Some(payload) = self.idempotency_get(&cache_key, now) {
            self.stats.idempotent_replays += 1;
            return Ok(Payload::Raw(payload));
        }
        if let Some(p) = self
            .chat
            .pending
            .iter_mut()
            .find(|p| matches!(&p.ack, Ack::Send { idempotency } if *idempotency == cache_key))
        {
            self.stats.idempotent_replays += 1;
            p.waiters.push((id, req.id.clone()));
            return Ok(Payload::Deferred);
        }
        // Metered after the replays: a retry of the same key costs nothing.
        self.chat_byte_rate(id, message.len(), now)?;
        self.check_pending_bound()?;
        let append = Append {
            session_key,
            message_id: message_id(),
            role: "user".into(),
            text: message,
            ts: wall_ms(),
        };
        self.queue_append(
            id,
            &req.id,
            append,
            Ack::Send {
                idempotency: cache_key,
            },
            now,
        );
        Ok(Payload::Deferred)
    }

    pub(super) fn chat_inject(
        &mut self,
        id: ConnId,
        req: &Request,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        let p = params_object(req, &["sessionKey", "message", "role"])?;
        let session_key = req_str(p, "chat.inject", "sessionKey", MAX_SESSION_KEY_CHARS)?;
        let message = req_str(p, "chat.inject", "message", usize::MAX)?;
        self.check_message_size(&message)?;
        let role = opt_str(p, "chat.inject", "role")?.unwrap_or("assistant");
        if !INJECT_ROLES.contains(&role) {
            return Err(bad(
                "chat.inject",
                "role",
                "one of assistant, user, system, tool",
            ));
        }
        self.check_pending_bound()?;
        let append = Append {
            session_key,
            message_id: message_id(),
            role: role.to_string(),
            text: message,
            ts: wall_ms(),
        };
        self.queue_append(id, &req.id, append, Ack::Inject, now);
        Ok(Payload::Deferred)
    }

    pub(super) fn chat_history(
        &mut self,
        _id: ConnId,
        req: &Request,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        let p = params_object(req, &["sessionKey", "limit", "before"])?;
        let key = req_str(p, "chat.history", "sessionKey", MAX_SESSION_KEY_CHARS)?;
        let max = self.cfg.store.max_page as u64;
        let limit = opt_uint(p, "chat.history", "limit", 100.min(max), max)? as usize;
        let before = opt_str(p, "chat.history", "before")?;
        // Appends of this turn are not committed yet; commit first so a
        // client reading right after its own send sees it.
        self.commit_appends(now);
        let messages: Vec<MessageRow> = self.store.history(&key, limit, before).map_err(storage)?;
        Ok(Payload::Json(
            json!({"sessionKey": key, "messages": messages}),
        ))
    }

    pub(super) fn sessions_list(
        &mut self,
        _id: ConnId,
        req: &Request,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        let p = params_object(req, SESSIONS_LIST_PARAMS)?;
        let max = self.cfg.store.max_page as u64;
        let limit = opt_uint(p, "sessions.list", "limit", 100.min(max), max)? as usize;
        let search = opt_str(p, "sessions.list", "search")?;
        let active =
            match p.and_then(|p| p.get("activeMinutes")) {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_u64().ok_or_else(|| {
                    bad("sessions.list", "activeMinutes", "a non-negative integer")
                })?),
            };
        let with_preview = match p.and_then(|p| p.get("includeLastMessage")) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(bad("sessions.list", "includeLastMessage", "a boolean")),
        };
        self.commit_appends(now);
        let key = format!("{LIST_CACHE_PREFIX}{limit}:{search:?}:{active:?}:{with_preview}");
        if let Some((body, _)) = self.cache.get(&key, now) {
            return Ok(Payload::Raw(body.to_string()));
        }
        self.flush_meta(MetaFlush::Read, now);
        let since = active.map(|m| wall_ms().saturating_sub(m * 60_000));
        let sessions = self
            .store
            .list_sessions(limit, search, since, with_preview)
            .map_err(storage)?;
        let text =
            json!({"ts": wall_ms(), "count": sessions.len(), "sessions": sessions}).to_string();
        let ttl = Duration::from_millis(self.cfg.cache.list_ttl_ms);
        self.cache.put(&key, text.clone(), ttl, now);
        Ok(Payload::Raw(text))
    }

    pub(super) fn sessions_preview(
        &mut self,
        _id: ConnId,
        req: &Request,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        let p = params_object(req, &["keys", "limit", "maxChars"])?;
        let keys: Vec<String> = match p.and_then(|p| p.get("keys")) {
            Some(Value::Array(a)) if a.len() <= MAX_PREVIEW_KEYS => a
                .iter()
                .map(|k| k.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| bad("sessions.preview", "keys", "a list of strings"))?,
            _ => {
                return Err(bad(
                    "sessions.preview",
                    "keys",
                    &format!("a list of at most {MAX_PREVIEW_KEYS} strings"),
                ))
            }
        };
        let limit = opt_uint(p, "sessions.preview", "limit", 5, 50)? as usize;
        let max_chars = opt_uint(p, "sessions.preview", "maxChars", 200, 10_000)? as usize;
        self.commit_appends(now);
        let mut previews = Vec::with_capacity(keys.len());
        for key in keys {
            let exists = self.store.get_session(&key).map_err(storage)?.is_some();
            let items: Vec<Value> = if exists {
                self.store
                    .history(&key, limit, None)
                    .map_err(storage)?
                    .into_iter()
                    .map(|m| json!({"role": m.role, "text": m.text.chars().take(max_chars).collect::<String>()}))
                    .collect()
            } else {
                Vec::new()
            };
            previews.push(json!({"key": key, "status": if exists { "ok" } else { "missing" }, "items": items}));
        }
        Ok(Payload::Json(
            json!({"ts": wall_ms(), "previews": previews}),
        ))
    }

    /// The shared start of every session mutation: params, `key`, then this
    /// turn's appends and the buffered metadata written first, so the
    /// mutation sees the real counters and no pending delta outlives it.
    fn session_write<'r>(
        &mut self,
        req: &'r Request,
        allowed: &[&str],
        now: Instant,
    ) -> Result<(Params<'r>, String), ErrorShape> {
        let p = params_object(req, allowed)?;
        let key = req_str(p, &req.method, "key", MAX_SESSION_KEY_CHARS)?;
        self.commit_appends(now);
        self.flush_meta(MetaFlush::Read, now);
        // The mutation runs right after this, before any other read.
        self.cache.invalidate(LIST_CACHE_PREFIX);
        Ok((p, key))
    }

    pub(super) fn sessions_patch(
        &mut self,
        _id: ConnId,
        req: &Request,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        // OpenClaw treats a label patch as operator.write; a label is all
        // clawgate's sessions carry, so the method is W (agentId and
        // expectedSessionId are OpenClaw's addressing, accepted).
        let (p, key) =
            self.session_write(req, &["key", "label", "agentId", "expectedSessionId"], now)?;
        let entry = match p.and_then(|p| p.get("label")) {
            None => self.store.get_session(&key),
            Some(Value::Null) => self.store.patch_label(&key, None, wall_ms()),
            Some(Value::String(s)) if s.chars().count() <= 256 => {
                self.store.patch_label(&key, Some(s), wall_ms())
            }
            Some(_) => {
                return Err(bad(
                    "sessions.patch",
                    "label",
                    "a string of at most 256 characters, or null",
                ))
            }
        }
        .map_err(storage)?
        .ok_or_else(|| not_found(&key))?;
        self.sessions_changed("patch", Some(&key), now);
        Ok(Payload::Json(
            json!({"ok": true, "key": key, "entry": entry}),
        ))
    }

    pub(super) fn sessions_reset(
        &mut self,
        _id: ConnId,
        req: &Request,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        let (_, key) = self.session_write(req, &["key"], now)?;
        let removed = self.store.reset(&key, wall_ms()).map_err(storage)?;
        let removed = removed.ok_or_else(|| not_found(&key))?;
        self.sessions_changed("reset", Some(&key), now);
        Ok(Payload::Json(
            json!({"ok": true, "key": key, "removed": removed}),
        ))
    }

    pub(super) fn sessions_delete(
        &mut self,
        _id: ConnId,
        req: &Request,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        let (_, key) = self.session_write(req, &["key"], now)?;
        if !self.store.delete(&key).map_err(storage)? {
            return Err(not_found(&key));
        }
        self.sessions_changed("delete", Some(&key), now);
        Ok(Payload::Json(
            json!({"ok": true, "key": key, "deleted": true}),
        ))
    }

    pub(super) fn sessions_compact(
        &mut self,
        _id: ConnId,
        req: &Request,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        let (p, key) = self.session_write(req, &["key", "maxLines"], now)?;
        let max_lines = opt_uint(p, "sessions.compact", "maxLines", 400, 100_000)? as usize;
        let removed = self.store.compact(&key, max_lines).map_err(storage)?;
        let removed = removed.ok_or_else(|| not_found(&key))?;
        self.sessions_changed("compact", Some(&key), now);
        Ok(Payload::Json(
            json!({"ok": true, "key": key, "removed": removed, "kept": max_lines}),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_message_ids_are_unique_and_in_creation_order() {
        let ids: Vec<String> = (0..10_000).map(|_| message_id()).collect();
        assert!(ids
            .iter()
            .all(|i| i.len() == 24 && i.bytes().all(|b| b.is_ascii_hexdigit())));
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len(), "unique");
        // In order except where the 48-bit counter wraps (at most once).
        let out_of_order = ids.windows(2).filter(|w| w[0] >= w[1]).count();
        assert!(out_of_order <= 1, "{out_of_order} ids out of order");
    }
}
