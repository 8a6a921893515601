//! The gateway: everything the loop does with connections once it has a
//! readiness event, a timer or a signal. Accepting, the handshake of §3, the
//! bounded pool, method dispatch, outbound batching and the slow-consumer
//! policy, shutdown and reload.
//!
//! It never reads a clock: every entry point takes `now`.

mod after;
mod approvals;
pub mod auth;
pub mod cache;
mod chat;
mod coach;
mod driver;
pub mod exec;
pub use chat::MetaFlush;
mod forward;
mod handshake;
mod hooks;
mod memory;
pub mod methods;
mod notify;
mod openclaw;
mod outbound;
pub mod ratelimit;
pub mod stats;
mod tokens;
mod web;

use crate::config::Config;
use crate::net::conn::{ws_config, Flush, HttpRead, WsRead};
use crate::net::http::{self, HttpRequest};
use crate::net::sock::{classify, IoClass};
use crate::net::{Conn, ConnId, ConnState, ConnTable};
use crate::protocol::handshake::{scope_allows, ConnectParams, Role};
use crate::protocol::{self, close, ErrorCode, ErrorShape, Request, SharedEvent, StateVersion};
use crate::reactor::timer::{TimerId, TimerWheel};
use auth::{AuthLimiter, Secrets};
use mio::net::TcpListener;
use mio::Registry;
use serde_json::{json, Value};
use stats::{RejectReason, Stats};
use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tungstenite::Message;

/// Timers per connection slot: handshake or idle, batch flush, close linger.
pub const TIMERS_PER_CONN: usize = 3;
/// Global timers: tick, accept retry, checkpoint, flushes, windows,
/// debounces, watches, memory check, audit forward, and spares.
pub const GLOBAL_TIMERS: usize = 16;

/// Timers the coach may hold: one per check in flight and per pending alert.
fn coach_timers(cfg: &Config) -> usize {
    cfg.coach.max_in_flight + cfg.coach.max_pending_alerts + exec_timers(cfg)
}

/// Timers exec may hold: a running process has up to five (timeout, kill,
/// drain, yield, and its TTL once done), a finished one its TTL, a pending
/// approval its expiry.
fn exec_timers(cfg: &Config) -> usize {
    let e = &cfg.exec;
    e.max_processes * 5 + e.max_finished + e.max_pending_approvals
}
/// How long to wait before accepting again after `EMFILE`/`ENFILE`.
pub const ACCEPT_RETRY: Duration = Duration::from_millis(100);
/// Hint given with `CONNECTION_LIMIT` and pre-auth refusals.
pub const RETRY_AFTER_FULL: Duration = Duration::from_secs(1);

/// What a timer in the wheel stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    Handshake(ConnId),
    Idle(ConnId),
    Batch(ConnId),
    Linger(ConnId),
    Tick,
    AcceptRetry,
    /// Periodic passive WAL checkpoint.
    Checkpoint,
    /// Debounced session-metadata write.
    MetaFlush,
    /// Retry of a failed group commit.
    CommitRetry,
    /// Periodic write of buffered log lines.
    LogFlush,
    /// Close the current I/O metrics window.
    IoWindow,
    /// Debounced `sessions.changed` events.
    SessionsChanged,
    /// Debounced `presence` broadcast.
    Presence,
    /// A coach check on the pool ran out of time.
    CoachTimeout(u64),
    /// A coach approval went unanswered: deny.
    AlertExpire(u64),
    /// A process ran past its timeout: SIGTERM its group.
    ExecTimeout(u64),
    /// The SIGTERM grace is over: SIGKILL the group.
    ExecKill(u64),
    /// The child exited but something still holds its pipes: stop waiting.
    ExecDrain(u64),
    /// `exec.run`'s `yieldMs`: answer with the output so far.
    ExecYield(u64),
    /// A finished process's TTL.
    ExecPrune(u64),
    /// Count the processes in each running group (fork-loop guard).
    ExecWatch,
    /// An exec approval went unanswered: expire it (decision null).
    ApprovalExpire(u64),
    /// Read RSS and compare it with the memory budget.
    MemoryCheck,
    /// Send queued audit events to the collector.
    AuditForward,
}

/// How an outbound frame is treated (docs/protocol.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Responses and urgent events: written at once.
    Immediate,
    /// Flushed on count or delay; never dropped (a client over its cap is closed).
    Batched,
    /// Batched, and skipped for a client over its cap.
    Droppable,
    /// Batched; may straddle the cap by this one frame, skipped (counted)
    /// when the client is already over it. For output whose producer is
    /// flow-controlled (it stops at half the cap), so nothing is skipped.
    Flow,
    /// Written at once, but skipped (counted) for a client over its cap:
    /// notices the client can read again (`process.exit`; `process.poll`
    /// has it), so a client behind a flood is not closed for them.
    Eager,
    /// A late answer the client is waiting for (`exec.run` at exit): may
    /// straddle the cap by this one message, as the memory budget allows;
    /// a client already over its cap is closed as a slow consumer.
    Reply,
}

/// Authentication outcome kept on the connection.
#[derive(Debug, Clone)]
pub struct Session {
    pub params: ConnectParams,
    pub scopes: Vec<String>,
    pub connected_at_ms: u64,
    /// Hex SHA-256 of the device key whose signature verified, if any.
    pub device_id: Option<String>,
    /// The credential the client presented, when it was not the
    /// operator's shared secret: its name and kind name it everywhere.
    pub credential: Option<crate::store::credentials::Credential>,
    /// Requests per connection (`rateLimits.requestsPerSecond`); `None`
    /// for exempt (loopback) clients.
    pub bucket: Option<ratelimit::Bucket>,
}

#[derive(Default, Clone, Copy)]
struct AddrCount {
    pre_auth: usize,
    authenticated: usize,
}

pub struct Gateway {
    pub cfg: Config,
    secrets: Secrets,
    pub conns: ConnTable,
    sessions: HashMap<ConnId, Session>,
    pub timers: TimerWheel<Timer>,
    registry: Registry,
    limiter: AuthLimiter,
    per_addr: HashMap<IpAddr, AddrCount>,
    per_client: HashMap<String, usize>,
    /// Chat byte buckets per `client.id` (`rateLimits.chatBytesPerMinute`).
    chat_rate: hashlink::LruCache<String, ratelimit::Bucket>,
    pre_auth: usize,
    authenticated: usize,
    pub stats: Stats,
    state_version: StateVersion,
    started: Instant,
    started_ms: u64,
    /// Set once shutdown begins: the instant by which the process exits.
    shutdown_deadline: Option<Instant>,
    /// Connections whose output or interest may have changed this turn.
    dirty: Vec<ConnId>,
    /// Connections whose read budget ran out: read again before polling.
    revisit: Vec<ConnId>,
    /// The listener should be drained again (budget hit, or retry after EMFILE).
    pub accept_again: bool,
    accept_paused: bool,
    /// The first refused timer insert has been logged.
    timer_full_logged: bool,
    tick_timer: Option<TimerId>,
    presence_timer: Option<TimerId>,
    pub store: crate::store::Store,
    /// Sessions and transcripts: group commit, idempotency, metadata
    /// buffer, `sessions.changed` debounce.
    pub chat: chat::ChatRuntime,
    pub io_history: crate::observe::io::IoHistory,
    /// The fixed thread pool (checkpoints now, the coach later).
    pub workers: crate::workers::WorkerPool,
    checkpoint_running: bool,
    /// The buffered log file, when file logging is on.
    pub(crate) logfile: Option<std::sync::Arc<crate::observe::logfile::LogFile>>,
    /// RSS read from /proc at most once a second: (when, bytes).
    rss_cache: Option<(Instant, u64)>,
    /// Updated by the reactor every turn.
    pub(crate) loop_stats: crate::observe::LoopStats,
    /// The security coach: checks in flight, alerts, rules, audit buffer.
    pub coach_rt: coach::CoachRuntime,
    /// Worker results were left after the drain budget.
    workers_again: bool,
    /// Children, their pipes and output (`exec.run`, `process.*`).
    pub exec: exec::ExecRuntime,
    /// Pending exec approvals and allow-always decisions.
    pub approvals: approvals::Approvals,
    /// Turn and timer-lateness quantiles (`health.gateway.eventLoop.lag`).
    pub lag: crate::observe::lag::LagMonitor,
    /// How late the timers of this turn fired, if any fired.
    turn_timer_lag: Option<Duration>,
    /// RSS against `memory.budgetBytes`.
    pub memory: crate::observe::memory::MemoryMonitor,
    /// Rendered answers of expensive reads.
    pub cache: cache::ResponseCache,
    /// New connections per address.
    conn_rate: ratelimit::ConnectionRate,
    /// Audit events on their way to the collector (`auditForward.url`).
    pub forwarder: Option<crate::forward::Forwarder>,
    forward_timer: Option<TimerId>,
    /// `wss://`: every accepted socket starts TLS with this (set at start
    /// from `tls.*`, renewed on reload).
    pub(crate) tls: Option<crate::net::tls::Acceptor>,
    /// Scratch list of a broadcast's recipients (bounded by the pool).
    broadcast_ids: Vec<ConnId>,
    /// Scratch list of the timers due this turn.
    fired: Vec<Timer>,
    /// HTTP hook connections held for their answer (`POST /hooks/claude-code`).
    hooks: hooks::HookWaits,
    /// Approval notifications and the link secret (`src/notify/`).
    notify_rt: notify::NotifyRuntime,
}

/// Wall-clock milliseconds for payloads (`ts`). The monotonic `now` drives
/// every deadline; this is only reported.
pub fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Gateway {
    pub fn new(
        cfg: Config,
        secrets: Secrets,
        mut store: crate::store::Store,
        workers: crate::workers::WorkerPool,
        registry: Registry,
        tls: Option<crate::net::tls::Acceptor>,
        now: Instant,
    ) -> Gateway {
        // Orphans of runs come back to us rather than to init, so nothing a
        // run starts escapes the sweep at its end (issue 17's containment).
        if let Err(e) = crate::exec::spawn::become_subreaper() {
            log::warn!("exec: cannot become the child subreaper ({e}); escaped descendants are still swept by marker");
        }
        let slots = cfg.connections.max_connections + cfg.connections.max_unauthenticated;
        let timers = TimerWheel::new(
            now,
            crate::reactor::timer::DEFAULT_TICK,
            crate::reactor::timer::DEFAULT_SLOTS,
            slots * TIMERS_PER_CONN + GLOBAL_TIMERS + coach_timers(&cfg),
        );
        let rules = coach::load_rules(&mut store);
        let limiter = AuthLimiter::new(
            cfg.auth.tracked_addresses,
            cfg.auth.max_failures,
            Duration::from_millis(cfg.auth.failure_window_ms),
            now,
        );
        let mut limiter = limiter;
        limiter.set_global_max(cfg.auth.global_max_failures);
        let mut gw = Gateway {
            conns: ConnTable::new(slots),
            sessions: HashMap::new(),
            timers,
            registry,
            limiter,
            per_addr: HashMap::new(),
            per_client: HashMap::new(),
            chat_rate: hashlink::LruCache::new(cfg.connections.max_connections.max(1)),
            pre_auth: 0,
            authenticated: 0,
            stats: Stats::default(),
            state_version: StateVersion {
                presence: 1,
                health: 1,
            },
            started: now,
            started_ms: wall_ms(),
            shutdown_deadline: None,
            dirty: Vec::new(),
            revisit: Vec::new(),
            accept_again: false,
            accept_paused: false,
            timer_full_logged: false,
            tick_timer: None,
            loop_stats: Default::default(),
            presence_timer: None,
            store,
            chat: chat::ChatRuntime::new(cfg.store.idempotency_keys),
            logfile: None,
            workers,
            checkpoint_running: false,
            io_history: crate::observe::io::IoHistory::new(
                cfg.metrics.windows,
                Default::default(),
                wall_ms(),
            ),
            rss_cache: None,
            coach_rt: coach::CoachRuntime::new(&cfg.coach, rules),
            workers_again: false,
            exec: exec::ExecRuntime::new(&cfg.exec),
            approvals: approvals::Approvals::new(),
            lag: crate::observe::lag::LagMonitor::new(
                Duration::from_millis(cfg.metrics.lag_window_ms),
                Duration::from_millis(cfg.metrics.lag_warn_ms),
                now,
            ),
            turn_timer_lag: None,
            memory: Default::default(),
            cache: cache::ResponseCache::new(cfg.cache.entries, cfg.cache.max_bytes),
            conn_rate: ratelimit::ConnectionRate::new(cfg.rate_limits.tracked_addresses),
            forwarder: crate::forward::Forwarder::new(&cfg.audit_forward),
            forward_timer: None,
            tls,
            broadcast_ids: Vec::new(),
            fired: Vec::new(),
            hooks: hooks::HookWaits::default(),
            notify_rt: notify::NotifyRuntime::new(&cfg),
            cfg,
            secrets,
        };
        gw.schedule_tick(now);
        gw.warm_coach();
        gw.approvals_startup();
        match gw.store.audit_head_hash() {
            Ok((id, hash)) => log::info!("audit chain head: row {id}, {hash}"),
            Err(e) => log::warn!("audit chain head unreadable: {e}"),
        }
        let every = Duration::from_millis(gw.cfg.store.checkpoint_interval_ms);
        gw.periodic(now + every, Timer::Checkpoint);
        let flush = Duration::from_millis(gw.cfg.log.flush_interval_ms);
        gw.periodic(now + flush, Timer::LogFlush);
        let window = Duration::from_millis(gw.cfg.metrics.window_ms);
        gw.periodic(now + window, Timer::IoWindow);
        let check = Duration::from_millis(gw.cfg.memory.check_interval_ms);
        gw.periodic(now + check, Timer::MemoryCheck);
        gw
    }

    fn schedule_tick(&mut self, now: Instant) {
        if let Some(t) = self.tick_timer.take() {
            self.timers.cancel(t);
        }
        let at = now + Duration::from_millis(self.cfg.events.tick_interval_ms);
        self.tick_timer = self.timers.insert_reserved(at, Timer::Tick).ok();
        self.note_timer_full();
    }

    /// Re-arms one of the fixed periodic timers. They take the wheel's
    /// reserved room, so a wheel filled by connections cannot silently stop
    /// checkpoints, log flushes or memory checks.
    pub(super) fn periodic(&mut self, at: Instant, t: Timer) {
        if let Err(e) = self.timers.insert_reserved(at, t) {
            log::error!("periodic timer not scheduled: {e}");
        }
        self.note_timer_full();
    }

    /// A full wheel is counted by the wheel (`health`'s
    /// `eventLoop.timerWheelFull`) and logged once, not once per refusal.
    fn note_timer_full(&mut self) {
        if !self.timer_full_logged && self.timers.full_count() > 0 {
            self.timer_full_logged = true;
            log::warn!(
                "timer wheel full ({} timers): some timers were refused; see health",
                self.timers.capacity()
            );
        }
    }

    pub fn uptime_ms(&self, now: Instant) -> u64 {
        now.duration_since(self.started).as_millis() as u64
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutdown_deadline.is_some()
    }

    /// True once shutdown has begun and every connection is gone or the grace
    /// period is over.
    pub fn shutdown_complete(&self, now: Instant) -> bool {
        match self.shutdown_deadline {
            Some(deadline) => {
                (self.conns.is_empty() && self.exec.running() == 0) || now >= deadline
            }
            None => false,
        }
    }

    pub fn has_revisits(&self) -> bool {
        !self.revisit.is_empty()
            || self.accept_again
            || self.workers_again
            || self.exec.has_revisits()
    }

    // ----- accepting -------------------------------------------------------

    /// Accepts until `WouldBlock` or the per-event budget.
    pub fn accept(&mut self, listener: &TcpListener, now: Instant) {
        self.accept_again = false;
        if self.accept_paused {
            return;
        }
        for _ in 0..self.cfg.connections.accept_budget {
            let (mut tcp, addr) = match listener.accept() {
                Ok(pair) => pair,
                Err(e) => match classify(&e) {
                    IoClass::WouldBlock => return,
                    IoClass::Interrupted | IoClass::Closed => continue,
                    IoClass::Fatal => {
                        // EMFILE and friends: the listener stays readable but
                        // edge triggering will not say so again; retry on a timer.
                        log::warn!("accept failed: {e}; retrying in {ACCEPT_RETRY:?}");
                        self.stats.accept_errors += 1;
                        self.accept_paused = true;
                        self.periodic(now + ACCEPT_RETRY, Timer::AcceptRetry);
                        return;
                    }
                },
            };
            if self.is_shutting_down() {
                continue;
            }
            let ip = addr.ip();
            let c = &self.cfg.connections;
            let per = self.per_addr.get(&ip).copied().unwrap_or_default();
            let reason = if self.pre_auth >= c.max_unauthenticated {
                Some(RejectReason::PreAuthLimit)
            } else if per.pre_auth >= c.max_unauthenticated_per_address {
                Some(RejectReason::PreAuthPerAddress)
            } else if self.conns.is_full() {
                Some(RejectReason::PreAuthLimit)
            } else {
                None
            };
            // A flood from a few addresses never denies a new one: the
            // newcomer takes the place of the busiest address's oldest
            // pre-auth socket.
            let reason = match reason {
                Some(RejectReason::PreAuthLimit)
                    if per.pre_auth == 0 && self.evict_pre_auth_hog(now) =>
                {
                    None
                }
                r => r,
            };
            if let Some(reason) = reason {
                // Answer without taking a slot; a best-effort single write
                // (a TLS client would read it as garbage: it just sees EOF).
                // `/healthz` is answered here, before any slot accounting.
                if self.tls.is_none() {
                    let mut head = [0u8; 16];
                    let n = tcp.peek(&mut head).unwrap_or(0);
                    if head[..n].starts_with(b"GET /healthz") {
                        self.stats.healthz_at_listener += 1;
                        let req = http::PlainRequest {
                            method: "GET".into(),
                            path: "/healthz".into(),
                            ..Default::default()
                        };
                        let _ = tcp.write(&self.healthz(&req, false, now));
                        continue;
                    }
                    let _ = tcp.write(http::BUSY_RESPONSE);
                }
                self.stats.reject(reason);
                continue;
            }
            let _ = tcp.set_nodelay(true);
            let throttled = self.connection_rate(ip, now);
            let Some(id) = self.conns.insert_with(|id| Conn::new(id, tcp, addr)) else {
                continue;
            };
            let conn = self.conns.get_mut(id).expect("just inserted");
            conn.throttled = throttled;
            if let Some(acceptor) = &self.tls {
                match acceptor.session() {
                    Ok(session) => conn.sock.start_tls(session),
                    Err(e) => {
                        log::warn!("{id}: TLS session: {e}");
                        self.conns.remove(id);
                        continue;
                    }
                }
            }
            let interest = conn.interest();
            if let Err(e) = self
                .registry
                .register(&mut conn.sock.tcp, id.token(), interest)
            {
                log::warn!("{id}: register failed: {e}");
                self.conns.remove(id);
                continue;
            }
            conn.registered = Some(conn.interest());
            let c = &self.cfg.connections;
            let head_ms = c.http_head_timeout_ms.min(c.handshake_timeout_ms);
            let deadline = now + Duration::from_millis(head_ms);
            conn.handshake_timer = self.timers.insert(deadline, Timer::Handshake(id)).ok();
            self.pre_auth += 1;
            self.per_addr.entry(ip).or_default().pre_auth += 1;
            self.stats.accepted += 1;
            log::debug!("{id}: accepted from {addr}");
        }
        self.accept_again = true;
    }

    /// Closes a pre-auth socket of the address holding the most
    /// (at least two), to admit a new address. `false`: nothing to evict.
    fn evict_pre_auth_hog(&mut self, now: Instant) -> bool {
        let Some((&ip, _)) = self
            .per_addr
            .iter()
            .filter(|(_, n)| n.pre_auth >= 2)
            .max_by_key(|(_, n)| n.pre_auth)
        else {
            return false;
        };
        let victim = self
            .conns
            .iter()
            .find(|c| c.addr.ip() == ip && !self.sessions.contains_key(&c.id))
            .map(|c| c.id);
        let Some(id) = victim else {
            return false;
        };
        log::debug!("{id}: pre-auth socket from {ip} closed to admit a new address");
        self.stats.pre_auth_evicted += 1;
        self.remove(id, now);
        true
    }

    // ----- readiness -------------------------------------------------------

    pub fn on_ready(&mut self, id: ConnId, readable: bool, writable: bool, now: Instant) {
        let Some(conn) = self.conns.get_mut(id) else {
            self.stats.stale_events += 1;
            return;
        };
        if writable && conn.write_pending() && conn.flush() == Flush::Closed {
            self.remove(id, now);
            return;
        }
        if readable {
            conn.sock.on_readable();
            self.read(id, now);
        }
        self.settle(id, now);
    }

    /// Reads revisited connections (their budget ran out last turn).
    pub fn run_revisits(&mut self, listener: Option<&TcpListener>, now: Instant) {
        if self.workers_again {
            self.on_worker_results(crate::reactor::WORKER_RESULTS_BUDGET, now);
        }
        if self.exec.has_revisits() {
            self.run_exec_revisits(now);
        }
        if self.accept_again {
            if let Some(l) = listener {
                self.accept(l, now);
            } else {
                self.accept_again = false;
            }
        }
        for id in std::mem::take(&mut self.revisit) {
            if let Some(c) = self.conns.get_mut(id) {
                c.read_again = false;
                self.read(id, now);
                self.mark_dirty(id);
            }
        }
    }

    pub(super) fn mark_dirty(&mut self, id: ConnId) {
        self.dirty.push(id);
    }

    fn read(&mut self, id: ConnId, now: Instant) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        match conn.state() {
            // A held hook has said all it will; its answer is pending.
            ConnState::HttpHead if self.hooks.waiting(id) => {}
            ConnState::HttpHead => self.read_http(id, now),
            ConnState::HttpReply => {}
            ConnState::AwaitConnect | ConnState::Open | ConnState::Closing => self.read_ws(id, now),
        }
    }

    fn read_http(&mut self, id: ConnId, now: Instant) {
        let max_head = self.cfg.websocket.max_http_head_bytes;
        let max_body = self.cfg.agents.max_body_bytes;
        let conn = self.conns.get_mut(id).expect("checked by caller");
        match conn.read_http(max_head, max_body) {
            HttpRead::NeedMore => {}
            HttpRead::Closed => self.remove(id, now),
            HttpRead::Error(e) => {
                self.stats.http_errors += 1;
                log::debug!("{id}: bad HTTP request: {e:?}");
                conn.reply_http(&http::error_response(&e));
            }
            HttpRead::Request(HttpRequest::Plain(req)) => {
                if req.path.split('?').next() == Some("/hooks/claude-code") {
                    self.stats.http_requests += 1;
                    let Some(response) = self.claude_code_hook(id, &req, now) else {
                        return; // held for the coach or a person
                    };
                    if let Some(conn) = self.conns.get_mut(id) {
                        conn.reply_http(&response);
                    }
                    return;
                }
                let response = if req.path.starts_with(crate::notify::LINK_PREFIX) {
                    self.stats.http_requests += 1;
                    self.approval_link(id, &req, now)
                } else {
                    self.plain_http(id, &req, now)
                };
                let conn = self.conns.get_mut(id).expect("still here");
                conn.reply_http(&response);
            }
            HttpRead::Request(HttpRequest::Upgrade {
                accept,
                head_len,
                origin,
                host,
                ..
            }) => {
                let sv = &self.cfg.server;
                let origin_ok =
                    http::origin_allowed(origin.as_deref(), host.as_deref(), &sv.allowed_origins)
                        && (origin.is_none()
                            || http::host_is_ours(host.as_deref(), &sv.bind, &sv.hostnames));
                let w = &self.cfg.websocket;
                let cfg = ws_config(w.pre_auth_max_payload, w.read_buffer_bytes);
                conn.upgrade(&accept, head_len, cfg);
                // The head is complete: the rest of the handshake timeout.
                if let Some(t) = conn.handshake_timer {
                    let ms = self.cfg.connections.handshake_timeout_ms;
                    self.timers.reset(t, now + Duration::from_millis(ms));
                }
                if !origin_ok {
                    // docs/protocol.md §4: a foreign origin is a policy close
                    // (1008), before any challenge.
                    self.stats.origin_refused += 1;
                    log::warn!(
                        "{id}: WebSocket from origin {} refused (host {}); see server.allowedOrigins and server.hostnames",
                        origin.as_deref().unwrap_or("-"),
                        host.as_deref().unwrap_or("-")
                    );
                    return self.close(id, close::POLICY, "origin not allowed", now);
                }
                if self.cfg.testing.echo {
                    return self.enter_echo(id, now);
                }
                let nonce = match auth::random_hex(16) {
                    Ok(n) => n,
                    Err(e) => {
                        log::error!("{id}: {e}");
                        self.remove(id, now);
                        return;
                    }
                };
                conn.nonce = nonce.clone();
                let challenge = SharedEvent::new(
                    "connect.challenge",
                    &json!({"nonce": nonce, "ts": wall_ms()}),
                );
                let mut tail = [0u8; 28];
                let n = SharedEvent::tail(None, &mut tail);
                let frame = crate::net::sock::OutFrame::with_tail(challenge.prefix(), &tail[..n]);
                self.enqueue(id, frame, Priority::Immediate, now);
                // Bytes that followed the head may hold the first frame.
                self.read_ws(id, now);
            }
        }
    }

    /// Test-only (`testing.echo`): the upgraded socket skips the gateway
    /// protocol and echoes messages, so the WebSocket layer alone can be run
    /// against Autobahn|Testsuite. It stays counted as pre-auth.
    fn enter_echo(&mut self, id: ConnId, now: Instant) {
        let w = &self.cfg.websocket;
        let cfg = ws_config(w.max_payload, w.read_buffer_bytes);
        let idle = Duration::from_millis(self.cfg.connections.idle_timeout_ms);
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.set_ws_config(cfg);
        conn.set_state(ConnState::Open);
        if let Some(t) = conn.handshake_timer.take() {
            self.timers.cancel(t);
        }
        conn.idle_timer = self.timers.insert(now + idle, Timer::Idle(id)).ok();
        self.read_ws(id, now);
    }

    fn read_ws(&mut self, id: ConnId, now: Instant) {
        let budget = self.cfg.websocket.read_budget;
        for _ in 0..budget {
            let Some(conn) = self.conns.get_mut(id) else {
                return;
            };
            let state = conn.state();
            match conn.read_message() {
                WsRead::WouldBlock => return,
                WsRead::Closed => {
                    self.remove(id, now);
                    return;
                }
                WsRead::Fault { code, reason } => {
                    self.stats.protocol_errors += 1;
                    log::debug!("{id}: closing {code}: {reason}");
                    self.close(id, code, &reason, now);
                    return;
                }
                WsRead::Message(msg) => {
                    self.stats.frames_in += 1;
                    if state == ConnState::Open {
                        if let Some(t) = conn.idle_timer {
                            let idle = Duration::from_millis(self.cfg.connections.idle_timeout_ms);
                            self.timers.reset(t, now + idle);
                        }
                    }
                    if self.cfg.testing.echo {
                        if let Some(c) = self.conns.get_mut(id) {
                            match msg {
                                Message::Text(t) => c.sock.push_frame(t),
                                Message::Binary(b) => c.sock.push_data(crate::net::sock::BINARY, b),
                                _ => {}
                            }
                        }
                        self.mark_dirty(id);
                        continue;
                    }
                    match msg {
                        Message::Text(t) => self.on_text(id, state, &t, now),
                        Message::Binary(b) => match std::str::from_utf8(&b) {
                            Ok(t) => self.on_text(id, state, t, now),
                            Err(_) => self.on_bad_binary(id, state, now),
                        },
                        Message::Close(_) => {
                            self.mark_dirty(id);
                            return;
                        }
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                    }
                }
            }
            if self
                .conns
                .get(id)
                .is_none_or(|c| c.state() == ConnState::Closing)
            {
                return;
            }
        }
        if let Some(c) = self.conns.get_mut(id) {
            c.read_again = true;
            self.revisit.push(id);
        }
    }

    fn on_bad_binary(&mut self, id: ConnId, state: ConnState, now: Instant) {
        let err = ErrorShape::invalid("invalid frame: binary frame is not UTF-8 JSON")
            .detail("INVALID_FRAME", Value::Null);
        if state == ConnState::AwaitConnect {
            self.fail_handshake(
                id,
                protocol::INVALID_ID,
                err,
                close::POLICY,
                "invalid handshake",
                now,
            );
        } else {
            self.respond_err(id, protocol::INVALID_ID, &err, now);
        }
    }

    fn on_text(&mut self, id: ConnId, state: ConnState, text: &str, now: Instant) {
        match state {
            ConnState::AwaitConnect => self.on_connect_frame(id, text, now),
            ConnState::Open => match protocol::parse_request(text) {
                Ok(req) => self.dispatch(id, req, now),
                Err(fe) => {
                    self.stats.bad_frames += 1;
                    self.respond_err(id, fe.reply_id(), &fe.to_error(), now);
                }
            },
            _ => {}
        }
    }

    // ----- dispatch ----------------------------------------------------------

    fn dispatch(&mut self, id: ConnId, req: Request, now: Instant) {
        self.stats.requests += 1;
        let testing = self.cfg.testing.enable_test_methods;
        let Some(spec) = methods::lookup(&req.method, testing) else {
            self.stats.unknown_methods += 1;
            let err = ErrorShape::invalid(format!("unknown method: {}", req.method))
                .detail("UNKNOWN_METHOD", json!({"method": req.method}));
            return self.respond_err(id, &req.id, &err, now);
        };
        let granted = self
            .sessions
            .get(&id)
            .map(|s| s.scopes.as_slice())
            .unwrap_or(&[]);
        if !scope_allows(granted, spec.scope) {
            self.stats.forbidden += 1;
            let err = ErrorShape::new(
                ErrorCode::Forbidden,
                format!("missing scope: {}", spec.scope),
            )
            .detail(
                "MISSING_SCOPE",
                json!({"missingScope": spec.scope, "requiredScopes": [spec.scope]}),
            );
            return self.respond_err(id, &req.id, &err, now);
        }
        if let Err(err) = self.request_rate(id, now) {
            return self.respond_err(id, &req.id, &err, now);
        }
        match (spec.handler)(self, id, &req, now) {
            Ok(methods::Payload::Json(payload)) => self.respond_ok(id, &req.id, &payload, now),
            Ok(methods::Payload::Raw(text)) => self.respond_ok_raw(id, &req.id, &text, now),
            // Answered later (after the group commit).
            Ok(methods::Payload::Deferred) => {}
            Err(err) => self.respond_err(id, &req.id, &err, now),
        }
    }

    // ----- closing -----------------------------------------------------------

    /// Starts a WebSocket close handshake (or drops a pre-WebSocket socket).
    pub fn close(&mut self, id: ConnId, code: u16, reason: &str, now: Instant) {
        let linger = Duration::from_millis(self.cfg.server.close_linger_ms);
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        match conn.state() {
            ConnState::HttpHead | ConnState::HttpReply => return self.remove(id, now),
            ConnState::Closing => return,
            _ => {}
        }
        let dropped = conn.discard_batch();
        self.stats.dropped += dropped as u64;
        conn.start_close(code, reason);
        if let Some(t) = conn.batch_timer.take() {
            self.timers.cancel(t);
        }
        if conn.linger_timer.is_none() {
            conn.linger_timer = self.timers.insert(now + linger, Timer::Linger(id)).ok();
        }
        self.stats.closes_by_code(code);
        self.mark_dirty(id);
    }

    /// Forgets a connection at once: deregister, cancel timers, update counts.
    pub fn remove(&mut self, id: ConnId, now: Instant) {
        let Some(mut conn) = self.conns.remove(id) else {
            return;
        };
        self.hooks.forget(id);
        // Last words (a close echo) get one non-blocking attempt.
        let _ = conn.flush();
        let _ = self.registry.deregister(&mut conn.sock.tcp);
        for t in [
            conn.handshake_timer.take(),
            conn.idle_timer.take(),
            conn.batch_timer.take(),
            conn.linger_timer.take(),
        ]
        .into_iter()
        .flatten()
        {
            self.timers.cancel(t);
        }
        self.stats.bytes_in += conn.sock.bytes_in;
        self.stats.bytes_out += conn.sock.bytes_out;
        if conn.sock.is_tls() {
            if conn.sock.tls_handshake_done() {
                self.stats.tls_handshakes += 1;
            } else {
                self.stats.tls_failed += 1;
            }
        }
        self.stats.frames_out += conn.sock.frames_queued;
        self.stats.closed += 1;
        let ip = conn.addr.ip();
        let was_open = self.sessions.contains_key(&id);
        if let Some(entry) = self.per_addr.get_mut(&ip) {
            if was_open {
                entry.authenticated -= 1;
            } else {
                entry.pre_auth -= 1;
            }
            if entry.authenticated == 0 && entry.pre_auth == 0 {
                self.per_addr.remove(&ip);
            }
        }
        if let Some(session) = self.sessions.remove(&id) {
            self.authenticated -= 1;
            let key = &session.params.client.id;
            if let Some(n) = self.per_client.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    self.per_client.remove(key);
                }
            }
            log::info!("{id}: {} disconnected", conn.addr);
            self.presence_changed(now);
            self.exec_conn_gone(id, now);
        } else {
            self.pre_auth -= 1;
        }
        log::debug!("{id}: removed");
    }

    // ----- timers ------------------------------------------------------------

    pub fn on_timer(&mut self, timer: Timer, now: Instant) {
        match timer {
            Timer::Handshake(id) => {
                let Some(conn) = self.conns.get_mut(id) else {
                    return;
                };
                conn.handshake_timer = None;
                self.stats.handshake_timeouts += 1;
                log::info!("{id}: handshake timeout");
                self.close(id, close::NORMAL, "Handshake timeout", now);
            }
            Timer::Idle(id) => {
                let Some(conn) = self.conns.get_mut(id) else {
                    return;
                };
                conn.idle_timer = None;
                self.stats.idle_closed += 1;
                log::info!("{id}: idle timeout");
                self.close(id, close::NORMAL, "Idle timeout", now);
            }
            Timer::Batch(id) => {
                let Some(conn) = self.conns.get_mut(id) else {
                    return;
                };
                conn.batch_timer = None;
                self.stats.batch_timer_flushes += 1;
                self.flush_batch(id);
            }
            Timer::Linger(id) => {
                if self.conns.get(id).is_some() {
                    self.stats.linger_expired += 1;
                    self.remove(id, now);
                }
            }
            Timer::Tick => {
                self.tick_timer = None;
                if !self.is_shutting_down() {
                    let ev = SharedEvent::new("tick", &json!({"ts": wall_ms()}));
                    self.broadcast(&ev, Priority::Droppable, None, now);
                    self.schedule_tick(now);
                    crate::observe::trim_heap();
                }
            }
            Timer::Presence => {
                self.presence_timer = None;
                self.broadcast_presence(now);
            }
            Timer::CommitRetry => self.commit_appends(now),
            Timer::SessionsChanged => self.emit_sessions_changed(now),
            Timer::IoWindow => {
                let totals = self.io_totals();
                self.io_history.roll(totals, wall_ms());
                let window = Duration::from_millis(self.cfg.metrics.window_ms);
                self.periodic(now + window, Timer::IoWindow);
            }
            Timer::LogFlush => {
                if let Some(f) = &self.logfile {
                    f.flush();
                }
                let flush = Duration::from_millis(self.cfg.log.flush_interval_ms);
                self.periodic(now + flush, Timer::LogFlush);
            }
            Timer::MetaFlush => {
                self.chat.meta_timer_fired();
                self.flush_meta(chat::MetaFlush::Debounce, now);
            }
            Timer::Checkpoint => {
                self.commit_appends(now);
                self.coach_housekeeping(now);
                self.exec_housekeeping(now);
                self.approvals_housekeeping();
                self.request_checkpoint();
                let every = Duration::from_millis(self.cfg.store.checkpoint_interval_ms);
                self.periodic(now + every, Timer::Checkpoint);
            }
            Timer::AcceptRetry => {
                self.accept_paused = false;
                self.accept_again = true;
            }
            Timer::CoachTimeout(job) => self.on_coach_timeout(job, now),
            Timer::AlertExpire(seq) => self.on_alert_expired(seq, now),
            Timer::ApprovalExpire(seq) => self.on_approval_expired(seq, now),
            t @ (Timer::ExecTimeout(_)
            | Timer::ExecKill(_)
            | Timer::ExecDrain(_)
            | Timer::ExecYield(_)
            | Timer::ExecPrune(_)
            | Timer::ExecWatch) => self.on_exec_timer(t, now),
            Timer::MemoryCheck => {
                self.check_memory(now);
                let every = Duration::from_millis(self.cfg.memory.check_interval_ms);
                self.periodic(now + every, Timer::MemoryCheck);
            }
            Timer::AuditForward => {
                self.forward_timer = None;
                self.forward_send(now);
            }
        }
    }

    /// The turn's lag figures: `start` is when poll returned, `turn` how
    /// long the turn took.
    fn record_lag(&mut self, start: Instant, turn: Duration) {
        let lag = self.turn_timer_lag.take();
        if let Some(w) = self.lag.record(start, turn, lag) {
            log::warn!("{w}");
        }
    }

    /// Fires due timers, returning how many ran.
    pub fn expire_timers(&mut self, now: Instant, scratch: &mut Vec<Timer>) -> usize {
        scratch.clear();
        let lag = self.timers.expire(now, scratch);
        self.loop_stats.max_timer_lag = self.loop_stats.max_timer_lag.max(lag);
        let n = scratch.len();
        if n > 0 {
            self.turn_timer_lag = Some(lag);
        }
        for t in scratch.drain(..) {
            self.on_timer(t, now);
        }
        n
    }

    // ----- shutdown and reload ----------------------------------------------

    /// Stops accepting (the caller deregisters the listener), tells every
    /// client, closes everyone with 1012 and gives them the grace period.
    pub fn begin_shutdown(&mut self, reason: &str, now: Instant) {
        if self.is_shutting_down() {
            return;
        }
        log::info!("shutting down: {reason}");
        // Acknowledge what is pending before telling anyone we stop.
        self.commit_appends(now);
        self.coach_shutdown(now);
        self.exec_shutdown(now);
        self.flush_meta(chat::MetaFlush::Shutdown, now);
        // Running children get SIGTERM, then SIGKILL after the grace: wait
        // for their exits (a little past the kill) so they are recorded.
        let mut grace = self.cfg.server.shutdown_grace_ms;
        if self.exec.running() > 0 {
            grace = grace.max(self.cfg.exec.kill_grace_ms + 1_000);
        }
        self.shutdown_deadline = Some(now + Duration::from_millis(grace));
        let ev = SharedEvent::new("shutdown", &json!({"reason": reason}));
        for id in self.conns.ids() {
            let state = self.conns.get(id).map(|c| c.state());
            match state {
                Some(ConnState::Open) => {
                    // Batched frames go out first (write_now keeps order).
                    self.send_event(id, &ev, Priority::Immediate, now);
                    self.close(id, close::RESTART, "shutdown", now);
                }
                Some(ConnState::AwaitConnect) => self.close(id, close::RESTART, "shutdown", now),
                Some(_) => self.remove(id, now),
                None => {}
            }
        }
    }

    /// Re-reads the certificate and key (renewed in place, or new paths);
    /// a pair that does not load keeps the old one. Turning TLS on or off
    /// changes what the listener speaks: that waits for a restart.
    fn reload_tls(&mut self, cfg: &mut Config) {
        if cfg.tls.enabled() != self.tls.is_some() {
            log::warn!(
                "reload: turning TLS on or off needs a restart; keeping the listener as it is"
            );
            cfg.tls = self.cfg.tls.clone();
            return;
        }
        let (Some(cert), Some(key)) = (&cfg.tls.cert_path, &cfg.tls.key_path) else {
            return;
        };
        match crate::net::tls::Acceptor::load(cert, key) {
            Ok(a) => {
                let old = self.tls.as_ref().map(|o| o.fingerprint().to_string());
                if old.as_deref() != Some(a.fingerprint()) {
                    log::info!("reload: TLS certificate now SHA-256 {}", a.fingerprint());
                }
                self.tls = Some(a);
            }
            Err(e) => {
                log::error!("reload: {e}; keeping the current certificate");
                self.stats.reload_failures += 1;
                cfg.tls = self.cfg.tls.clone();
            }
        }
    }

    /// Applies a reloaded config: limits, timeouts and the secrets. Live
    /// connections stay; new limits apply to new work and on the next reset.
    pub fn reload(&mut self, mut cfg: Config, secrets: Secrets, now: Instant) {
        if cfg.server.bind != self.cfg.server.bind || cfg.server.port != self.cfg.server.port {
            log::warn!(
                "reload: server.bind/server.port changes need a restart; keeping the listener"
            );
        }
        let slots = cfg.connections.max_connections + cfg.connections.max_unauthenticated;
        self.conns.set_capacity(slots);
        // Connections admitted under the old limits keep their timers: never
        // shrink below what is live plus one round of per-connection timers.
        let live = self.conns.len() * TIMERS_PER_CONN
            + GLOBAL_TIMERS
            + self.coach_rt.inflight()
            + self.coach_rt.pending_alerts()
            + self.exec.running() * 5
            + self.exec.finished()
            + self.approvals.pending_count();
        self.timers
            .set_capacity((slots * TIMERS_PER_CONN + GLOBAL_TIMERS + coach_timers(&cfg)).max(live));
        self.limiter.reconfigure(
            cfg.auth.tracked_addresses,
            cfg.auth.max_failures,
            Duration::from_millis(cfg.auth.failure_window_ms),
        );
        self.limiter.set_global_max(cfg.auth.global_max_failures);
        let tick_changed = cfg.events.tick_interval_ms != self.cfg.events.tick_interval_ms;
        let w = &cfg.websocket;
        let post_auth = ws_config(w.max_payload, w.read_buffer_bytes);
        for conn in self.conns.iter_mut() {
            if conn.state() == ConnState::Open {
                conn.set_ws_config(post_auth);
            }
        }
        self.chat
            .set_idempotency_capacity(cfg.store.idempotency_keys);
        self.cache
            .reconfigure(cfg.cache.entries, cfg.cache.max_bytes);
        self.conn_rate
            .reconfigure(cfg.rate_limits.tracked_addresses);
        self.lag.reconfigure(
            Duration::from_millis(cfg.metrics.lag_window_ms),
            Duration::from_millis(cfg.metrics.lag_warn_ms),
        );
        if cfg.audit_forward != self.cfg.audit_forward {
            self.forward_reconfigure(&cfg.audit_forward);
        }
        self.reload_tls(&mut cfg);
        // Validated with the config: the new allowlist applies to the next run.
        self.exec.allowlist =
            crate::exec::allow::Allowlist::new(&cfg.exec.allowlist).unwrap_or_default();
        if let Err(e) = self.store.set_max_bytes(cfg.store.max_db_bytes) {
            log::warn!("reload: store.maxDbBytes not applied: {e}");
        }
        self.coach_rt
            .coach
            .lib
            .set_cache_budget(cfg.coach.dfa_cache_bytes);
        self.cfg = cfg;
        self.secrets = secrets;
        if tick_changed {
            self.schedule_tick(now);
        }
        self.stats.reloads += 1;
        log::info!("configuration reloaded");
        // A new budget applies at once, not at the next periodic check.
        self.check_memory(now);
    }

    // ----- views for methods -------------------------------------------------

    /// Asks the pool for a passive WAL checkpoint (one at a time). With the
    /// pool full, the next timer or WAL check asks again.
    pub fn request_checkpoint(&mut self) {
        if self.checkpoint_running {
            return;
        }
        let job = self.store.checkpoint_job();
        let on_panic = crate::workers::JobResult::Checkpoint(Err("checkpoint job panicked".into()));
        let submitted = self.workers.submit(
            Some(on_panic),
            Box::new(move || crate::workers::JobResult::Checkpoint(job())),
        );
        self.checkpoint_running = submitted.is_ok();
    }

    /// Results from the pool (the loop was woken through the Waker).
    pub fn on_worker_results(&mut self, budget: usize, now: Instant) {
        let mut out = Vec::new();
        self.workers.drain(budget, &mut out);
        // Budget spent with results left: the Waker will not fire again for
        // them, so come back next turn without blocking.
        self.workers_again = out.len() == budget;
        for r in out {
            match r {
                crate::workers::JobResult::Coach { job, verdict } => {
                    self.on_coach_result(job, *verdict, now);
                }
                crate::workers::JobResult::ProcScan(counts) => self.on_proc_scan(counts),
                crate::workers::JobResult::Swept(n) => self.on_swept(n),
                crate::workers::JobResult::Forward(res) => self.on_forward_result(res, now),
                crate::workers::JobResult::Notify(res) => self.on_notify_result(res, now),
                crate::workers::JobResult::AuditVerify {
                    conn,
                    req_id,
                    report,
                } => self.on_audit_verified(conn, &req_id, report, now),
                crate::workers::JobResult::CoachReady(d) => self.on_coach_ready(d),
                crate::workers::JobResult::Checkpoint(res) => {
                    self.checkpoint_running = false;
                    match res {
                        Ok(d) => {
                            self.store.record_checkpoint(d);
                            log::debug!("checkpoint took {d:?} (worker)");
                        }
                        Err(e) => {
                            self.store.stats.errors += 1;
                            log::warn!("checkpoint failed: {e}");
                        }
                    }
                }
            }
        }
    }

    /// Running I/O totals from the code paths that do the I/O.
    pub fn io_totals(&self) -> crate::observe::io::IoCounters {
        let (mut bytes_in, mut bytes_out, mut frames_out) = (0, 0, 0);
        for c in self.conns.iter() {
            bytes_in += c.sock.bytes_in;
            bytes_out += c.sock.bytes_out;
            frames_out += c.sock.frames_queued;
        }
        let log = self.logfile.as_ref().map(|f| f.stats()).unwrap_or_default();
        let st = &self.store.stats;
        crate::observe::io::IoCounters {
            net_bytes_in: self.stats.bytes_in + bytes_in,
            net_bytes_out: self.stats.bytes_out + bytes_out,
            frames_in: self.stats.frames_in,
            frames_out: self.stats.frames_out + frames_out,
            disk_writes: log.writes + st.transactions,
            disk_bytes: log.bytes + st.bytes_written,
            db_queries: st.queries,
            db_transactions: st.transactions,
            cache_hits: self.stats.cache_hits,
            cache_misses: self.stats.cache_misses,
        }
    }

    pub fn token_origin(&self) -> &str {
        &self.secrets.token_origin
    }

    /// Who a connection is, for ownership and per-identity bounds: the
    /// verified device when the client presented one, else the connection
    /// itself (every client shares the operator's token until credentials
    /// carry identities).
    pub(super) fn identity_of(&self, conn: ConnId) -> String {
        if let Some(h) = self.hooks.identity(conn) {
            return h.to_string();
        }
        let s = self.session(conn);
        if let Some(c) = s.and_then(|s| s.credential.as_ref()) {
            return format!("{}:{}", c.kind, c.name);
        }
        match s.and_then(|s| s.device_id.clone()) {
            Some(d) => format!("device:{d}"),
            None => format!("conn:{conn}"),
        }
    }

    pub fn session(&self, id: ConnId) -> Option<&Session> {
        self.sessions.get(&id)
    }

    pub fn sessions(&self) -> impl Iterator<Item = (&ConnId, &Session)> {
        self.sessions.iter()
    }

    pub fn counts(&self) -> (usize, usize) {
        (self.authenticated, self.pre_auth)
    }

    pub fn state_version(&self) -> StateVersion {
        self.state_version
    }

    pub fn started_ms(&self) -> u64 {
        self.started_ms
    }

    pub fn role_counts(&self) -> (usize, usize) {
        let nodes = self
            .sessions
            .values()
            .filter(|s| s.params.role == Role::Node)
            .count();
        (self.sessions.len() - nodes, nodes)
    }

    /// Bytes held in connection buffers right now (live accounting).
    pub fn buffered_bytes(&self) -> usize {
        let rb = self.cfg.websocket.read_buffer_bytes;
        self.conns.iter().map(|c| c.buffered_bytes(rb)).sum()
    }
}

/// The gateway's state machine driven by hand: real loopback sockets and a
/// real poll for I/O, but every timer fires because the test moves `now`.
#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll, Token};
    use std::io::Read;

    const LISTENER: Token = Token(0);

    struct Rig {
        poll: Poll,
        events: Events,
        listener: TcpListener,
        gw: Gateway,
        t0: Instant,
    }

    fn rig(cfg: Config) -> Rig {
        let poll = Poll::new().unwrap();
        let mut listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        poll.registry()
            .register(&mut listener, LISTENER, mio::Interest::READABLE)
            .unwrap();
        let secrets = Secrets {
            token: Some("tok".into()),
            password: None,
            token_origin: "test".into(),
        };
        let t0 = Instant::now();
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(
            dir.path(),
            &crate::store::StoreOptions {
                cache_bytes: 1 << 20,
                mmap_bytes: 0,
                max_bytes: 1 << 30,
                synchronous_full: false,
                index_batch: crate::config::DEFAULT_INDEX_BATCH,
            },
        )
        .unwrap();
        std::mem::forget(dir); // the rig lives for one test
        let waker = std::sync::Arc::new(mio::Waker::new(poll.registry(), Token(1)).unwrap());
        let workers = crate::workers::WorkerPool::new(1, 4, waker).unwrap();
        let gw = Gateway::new(
            cfg,
            secrets,
            store,
            workers,
            poll.registry().try_clone().unwrap(),
            None,
            t0,
        );
        Rig {
            poll,
            events: Events::with_capacity(64),
            listener,
            gw,
            t0,
        }
    }

    impl Rig {
        /// One loop turn at the injected time `at` (I/O is real, time is not).
        fn turn(&mut self, at: Instant) {
            use crate::reactor::Handler;
            self.poll
                .poll(&mut self.events, Some(Duration::from_millis(20)))
                .unwrap();
            for ev in self.events.iter() {
                if ev.token() == LISTENER {
                    self.gw.on_accept(&self.listener, at);
                } else {
                    let readable = ev.is_readable() || ev.is_read_closed();
                    self.gw.on_token(ev.token(), readable, ev.is_writable(), at);
                }
            }
            // The reactor turns SIGCHLD into this call; the rig has no
            // signal pipe, so it reaps every turn.
            self.gw.on_child(at);
            self.gw.end_turn(Some(&self.listener), at);
        }

        fn turn_until(&mut self, at: Instant, mut done: impl FnMut(&Gateway) -> bool) {
            for _ in 0..500 {
                if done(&self.gw) {
                    return;
                }
                self.turn(at);
            }
            panic!("condition not reached");
        }
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn test_every_health_number_is_a_metric_and_every_metric_exists() {
        use crate::observe::prom;
        let mut cfg = Config::default();
        // Forwarding on, so its counters are in the snapshot too.
        cfg.audit_forward.url = Some("http://127.0.0.1:9/".into());
        let mut r = rig(cfg);
        let t0 = r.t0;
        let snap = methods::health_snapshot(&mut r.gw, t0);
        let v = serde_json::to_value(&snap).unwrap();
        let mut paths = Vec::new();
        prom::numeric_paths(&v, "", &mut paths);
        let known: std::collections::HashSet<&str> =
            prom::FAMILIES.iter().map(|f| f.path).collect();
        let missing: Vec<&String> = paths
            .iter()
            .filter(|p| !known.contains(p.as_str()))
            .filter(|p| !prom::NOT_METRICS.iter().any(|n| p.starts_with(n)))
            .collect();
        assert!(
            missing.is_empty(),
            "numbers in health without a metric: {missing:?}"
        );
        let absent: Vec<&str> = prom::FAMILIES
            .iter()
            .map(|f| f.path)
            .filter(|p| {
                !paths.iter().any(|q| q == p) && !p.ends_with("enabled") && !p.ends_with("inFlight")
            })
            .collect();
        assert!(absent.is_empty(), "metrics not in health: {absent:?}");
        let text = r.gw.render_metrics(t0);
        assert!(text.contains("# HELP clawgate_gateway_connections_active "));
        assert!(text.contains("# TYPE clawgate_store_transactions_total counter"));
        assert!(text.contains("clawgate_gateway_memory_budget_bytes 671088640\n"));
    }

    #[test]
    fn test_http_head_handshake_timeout_by_stepping_time() {
        let mut r = rig(Config::default());
        let addr = r.listener.local_addr().unwrap();
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        let t0 = r.t0;
        r.turn_until(t0, |gw| gw.conns.len() == 1);
        // 1.9 s later: still waiting for the HTTP head.
        r.turn(t0 + Duration::from_millis(1_900));
        assert_eq!(r.gw.conns.len(), 1);
        // Past connections.httpHeadTimeoutMs (2 s, not the 10 s handshake
        // timeout): the socket is dropped, without anyone sleeping.
        r.turn(t0 + Duration::from_millis(2_020));
        assert_eq!(r.gw.conns.len(), 0);
        assert_eq!(r.gw.stats.handshake_timeouts, 1);
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(client.read(&mut buf).unwrap_or(0), 0, "closed");
    }

    #[test]
    fn test_open_idle_timeout_by_stepping_time() {
        let mut r = rig(Config::default());
        let addr = r.listener.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            let s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let (mut ws, _) = tungstenite::client::client(format!("ws://{addr}/"), s).unwrap();
            ws.read().unwrap(); // challenge
            ws.send(tungstenite::Message::text(
                r#"{"type":"req","id":"c","method":"connect","params":{"minProtocol":4,"maxProtocol":4,
                "client":{"id":"t","version":"1","platform":"linux","mode":"test"},"auth":{"token":"tok"}}}"#,
            ))
            .unwrap();
            loop {
                match ws.read() {
                    Ok(tungstenite::Message::Close(f)) => {
                        return f.map(|f| (u16::from(f.code), f.reason.to_string()))
                    }
                    Ok(_) => continue,
                    Err(e) => panic!("{e}"),
                }
            }
        });
        let t0 = r.t0;
        r.turn_until(t0, |gw| gw.counts().0 == 1);
        // 299 s of silence: still open. 300 s: closed 1000 "Idle timeout".
        r.turn(t0 + secs(299));
        assert_eq!(r.gw.counts().0, 1);
        let later = t0 + secs(301);
        r.turn(later);
        assert_eq!(r.gw.stats.idle_closed, 1);
        let end = later + secs(1);
        r.turn_until(end, |gw| gw.conns.is_empty());
        assert_eq!(
            client.join().unwrap(),
            Some((1000, "Idle timeout".to_string()))
        );
    }

    #[test]
    fn test_finished_process_ttl_and_run_timeout_by_stepping_time() {
        let mut cfg = Config::default();
        cfg.exec.finished_ttl_ms = 60_000;
        cfg.exec.kill_grace_ms = 2_000;
        let mut r = rig(cfg);
        let t0 = r.t0;
        let nobody = ConnId {
            index: 999,
            generation: 1,
        };
        let req = |params: &str| {
            crate::protocol::parse_request(&format!(
                r#"{{"type":"req","id":"x","method":"exec.run","params":{params}}}"#
            ))
            .unwrap()
        };
        // A child that exits at once: pipes reach EOF, it is reaped and kept.
        let res =
            r.gw.start_process_for_test(nobody, &req(r#"{"argv":["true"],"yieldMs":0}"#), t0);
        assert!(res.is_ok());
        r.turn_until(t0, |gw| gw.exec.finished() == 1);
        // Kept for the TTL, measured from its end; gone after it.
        r.turn(t0 + Duration::from_millis(59_000));
        assert_eq!(r.gw.exec.finished(), 1);
        r.turn(t0 + Duration::from_millis(60_100));
        assert_eq!(r.gw.exec.finished(), 0);
        assert_eq!(r.gw.exec.stats.pruned, 1);
        // A child that would sleep for an hour: its 5 s timeout fires when
        // time says so, SIGTERM ends it.
        let t1 = t0 + secs(100);
        let res = r.gw.start_process_for_test(
            nobody,
            &req(r#"{"argv":["sleep","3600"],"yieldMs":0,"timeoutMs":5000}"#),
            t1,
        );
        assert!(res.is_ok());
        r.turn(t1 + Duration::from_millis(4_900));
        assert_eq!(r.gw.exec.running(), 1);
        r.turn(t1 + Duration::from_millis(5_050));
        r.turn_until(t1 + secs(6), |gw| gw.exec.running() == 0);
        assert_eq!(r.gw.exec.stats.timed_out, 1);
    }
}
