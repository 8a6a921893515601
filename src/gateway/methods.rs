//! The gateway-core methods (`connect`, `health`, `status`,
//! `system-presence`) and the payloads they share with the handshake.

use super::{stats, wall_ms, Gateway, Priority};
use crate::net::ConnId;
use crate::observe;
use crate::protocol::handshake::{SCOPE_ADMIN, SCOPE_APPROVALS, SCOPE_READ, SCOPE_WRITE};
use crate::protocol::{ErrorCode, ErrorShape, Request, SharedEvent, PROTOCOL_VERSION};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a handler answers: a JSON tree, or text already serialized (hot paths).
pub enum Payload {
    Json(Value),
    Raw(String),
    /// The handler answers later (an append waits for its group commit).
    Deferred,
}

impl From<Value> for Payload {
    fn from(v: Value) -> Self {
        Payload::Json(v)
    }
}

type Handler = fn(&mut Gateway, ConnId, &Request, Instant) -> Result<Payload, ErrorShape>;

/// A method: its name, the scope it needs, its handler.
pub struct MethodSpec {
    pub name: &'static str,
    pub scope: &'static str,
    pub handler: Handler,
    /// Only with `testing.enableTestMethods`.
    pub test_only: bool,
}

const fn method(name: &'static str, scope: &'static str, handler: Handler) -> MethodSpec {
    MethodSpec {
        name,
        scope,
        handler,
        test_only: false,
    }
}

const METHODS: &[MethodSpec] = &[
    method("connect", SCOPE_ADMIN, connect),
    method("health", SCOPE_READ, health),
    method("status", SCOPE_READ, status),
    method("system-presence", SCOPE_READ, system_presence),
    method("logs.tail", SCOPE_READ, logs_tail),
    method("chat.send", SCOPE_WRITE, Gateway::chat_send),
    method("chat.inject", SCOPE_WRITE, Gateway::chat_inject),
    method("chat.history", SCOPE_READ, Gateway::chat_history),
    method("sessions.list", SCOPE_READ, Gateway::sessions_list),
    method("sessions.preview", SCOPE_READ, Gateway::sessions_preview),
    method("sessions.patch", SCOPE_WRITE, Gateway::sessions_patch),
    method("tokens.create", SCOPE_ADMIN, Gateway::tokens_create),
    method("tokens.list", SCOPE_ADMIN, Gateway::tokens_list),
    method("tokens.revoke", SCOPE_ADMIN, Gateway::tokens_revoke),
    method("sessions.reset", SCOPE_ADMIN, Gateway::sessions_reset),
    method("sessions.delete", SCOPE_ADMIN, Gateway::sessions_delete),
    method("sessions.compact", SCOPE_ADMIN, Gateway::sessions_compact),
    method("security.coach.check", SCOPE_WRITE, Gateway::coach_check),
    method("security.coach.status", SCOPE_READ, Gateway::coach_status),
    method("security.coach.metrics", SCOPE_READ, Gateway::coach_metrics),
    method(
        "security.coach.alerts.pending",
        SCOPE_READ,
        Gateway::coach_alerts_pending,
    ),
    method(
        "security.coach.history.query",
        SCOPE_READ,
        Gateway::coach_history,
    ),
    method(
        "security.coach.rules.list",
        SCOPE_READ,
        Gateway::coach_rules_list,
    ),
    method(
        "security.coach.resolve",
        SCOPE_APPROVALS,
        Gateway::coach_resolve,
    ),
    method(
        "security.coach.rules.add",
        SCOPE_ADMIN,
        Gateway::coach_rules_add,
    ),
    method(
        "security.coach.rules.delete",
        SCOPE_ADMIN,
        Gateway::coach_rules_delete,
    ),
    method(
        "exec.approval.request",
        SCOPE_APPROVALS,
        Gateway::exec_approval_request,
    ),
    method(
        "exec.approval.resolve",
        SCOPE_APPROVALS,
        Gateway::exec_approval_resolve,
    ),
    method(
        "exec.approval.list",
        SCOPE_APPROVALS,
        Gateway::exec_approval_list,
    ),
    // OpenClaw's approval and config methods (gateway/openclaw.rs).
    method(
        "plugin.approval.list",
        SCOPE_APPROVALS,
        Gateway::empty_approval_list,
    ),
    method(
        "openclaw.approval.list",
        SCOPE_APPROVALS,
        Gateway::empty_approval_list,
    ),
    method("approval.get", SCOPE_APPROVALS, Gateway::approval_get),
    method(
        "approval.resolve",
        SCOPE_APPROVALS,
        Gateway::approval_resolve,
    ),
    method(
        "approval.history",
        SCOPE_APPROVALS,
        Gateway::approval_history,
    ),
    method(
        "exec.approvals.get",
        SCOPE_ADMIN,
        Gateway::exec_approvals_get,
    ),
    method("config.get", SCOPE_READ, Gateway::config_get),
    method("exec.run", SCOPE_WRITE, Gateway::exec_run),
    method("agent.check", SCOPE_WRITE, Gateway::agent_check),
    method("agent.report", SCOPE_WRITE, Gateway::agent_report),
    method("audit.verify", SCOPE_READ, Gateway::audit_verify),
    method("process.list", SCOPE_READ, Gateway::process_list),
    method("process.poll", SCOPE_READ, Gateway::process_poll),
    method("process.write", SCOPE_WRITE, Gateway::process_write),
    method("process.kill", SCOPE_WRITE, Gateway::process_kill),
    method("process.remove", SCOPE_WRITE, Gateway::process_remove),
    method(
        "security.coach.config.update",
        SCOPE_ADMIN,
        Gateway::coach_config_update,
    ),
    MethodSpec {
        name: "debug.broadcast",
        scope: SCOPE_ADMIN,
        handler: debug_broadcast,
        test_only: true,
    },
    MethodSpec {
        name: "debug.panic",
        scope: SCOPE_ADMIN,
        handler: debug_panic,
        test_only: true,
    },
];

/// Panics on the loop (test builds of the config only): proves the panic
/// hook logs the panic before the process exits (issue #18).
fn debug_panic(
    _gw: &mut Gateway,
    _id: ConnId,
    _req: &Request,
    _now: Instant,
) -> Result<Payload, ErrorShape> {
    panic!("debug.panic requested")
}

/// Events this gateway core emits.
pub const EVENTS: &[&str] = &[
    "connect.challenge",
    "tick",
    "shutdown",
    "presence",
    "health",
    "chat",
    "sessions.changed",
    "security.coach.alert.requested",
    "security.coach.alert.resolved",
    "exec.approval.requested",
    "exec.approval.resolved",
    "process.output",
    "process.exit",
];

/// Most events one `debug.broadcast` call may generate per recipient.
pub const DEBUG_BROADCAST_MAX_COUNT: u64 = 100_000;
/// Largest filler payload of a `debug.broadcast` event.
pub const DEBUG_BROADCAST_MAX_BYTES: u64 = 64 * 1024;

pub fn lookup(name: &str, testing: bool) -> Option<&'static MethodSpec> {
    METHODS
        .iter()
        .find(|m| m.name == name && (testing || !m.test_only))
}

pub fn method_names(testing: bool) -> Vec<&'static str> {
    METHODS
        .iter()
        .filter(|m| testing || !m.test_only)
        .map(|m| m.name)
        .collect()
}

/// Params must be absent or an object whose keys are all in `allowed`.
pub fn params_object<'a>(
    req: &'a Request,
    allowed: &[&str],
) -> Result<Option<&'a Map<String, Value>>, ErrorShape> {
    match &req.params {
        None => Ok(None),
        Some(Value::Object(m)) => {
            if let Some(k) = m.keys().find(|k| !allowed.contains(&k.as_str())) {
                return Err(ErrorShape::invalid(format!(
                    "invalid {} params: unknown property `{k}`",
                    req.method
                ))
                .detail("INVALID_PARAMS", json!({"property": k})));
            }
            Ok(Some(m))
        }
        Some(_) => Err(ErrorShape::invalid(format!(
            "invalid {} params: expected an object",
            req.method
        ))
        .detail("INVALID_PARAMS", Value::Null)),
    }
}

/// `INVALID_REQUEST` naming the param and what it must be (every method uses it).
pub(super) fn bad_param(method: &str, key: &str, expected: &str) -> ErrorShape {
    ErrorShape::invalid(format!(
        "invalid {method} params: `{key}` must be {expected}"
    ))
    .detail("INVALID_PARAMS", json!({"property": key}))
}

/// `UNAVAILABLE` with a precise `details.code` and a retry hint.
pub(super) fn unavailable(code: &str, message: impl Into<String>, retry_ms: u64) -> ErrorShape {
    ErrorShape::new(ErrorCode::Unavailable, message)
        .detail(code, Value::Null)
        .retry_after(retry_ms)
}

pub(super) fn opt_str<'a>(
    p: Option<&'a Map<String, Value>>,
    method: &str,
    key: &str,
    max: usize,
) -> Result<Option<&'a str>, ErrorShape> {
    match p.and_then(|m| m.get(key)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= max => Ok(Some(s)),
        Some(_) => Err(bad_param(
            method,
            key,
            &format!("a non-empty string of at most {max} characters"),
        )),
    }
}

pub(super) fn opt_u64(
    p: Option<&Map<String, Value>>,
    method: &str,
    key: &str,
) -> Result<Option<u64>, ErrorShape> {
    match p.and_then(|m| m.get(key)) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| bad_param(method, key, "a non-negative integer")),
    }
}

/// A string param that may be empty, bounded in bytes (commands, stdin data).
pub(super) fn opt_text<'a>(
    p: Option<&'a Map<String, Value>>,
    method: &str,
    key: &str,
    max_bytes: usize,
) -> Result<Option<&'a str>, ErrorShape> {
    match p.and_then(|m| m.get(key)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= max_bytes => Ok(Some(s)),
        Some(_) => Err(bad_param(
            method,
            key,
            &format!("a string of at most {max_bytes} bytes"),
        )),
    }
}

/// `opt_u64` with an upper bound named in the error.
pub(super) fn opt_u64_max(
    p: Option<&Map<String, Value>>,
    method: &str,
    key: &str,
    max: u64,
) -> Result<Option<u64>, ErrorShape> {
    match opt_u64(p, method, key) {
        Ok(Some(n)) if n > max => Err(bad_param(method, key, &format!("an integer 0..={max}"))),
        Err(_) => Err(bad_param(method, key, &format!("an integer 0..={max}"))),
        other => other,
    }
}

pub(super) fn opt_bool(
    p: Option<&Map<String, Value>>,
    method: &str,
    key: &str,
) -> Result<Option<bool>, ErrorShape> {
    match p.and_then(|m| m.get(key)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(bad_param(method, key, "a boolean")),
    }
}

fn connect(
    gw: &mut Gateway,
    id: ConnId,
    req: &Request,
    now: Instant,
) -> Result<Payload, ErrorShape> {
    gw.reconnect(id, req, now).map(Payload::Json)
}

/// Cache key of the `health` payload.
pub const HEALTH_CACHE_KEY: &str = "health";

fn health(
    gw: &mut Gateway,
    _id: ConnId,
    req: &Request,
    now: Instant,
) -> Result<Payload, ErrorShape> {
    let p = params_object(req, &["probe"])?;
    let probe = opt_bool(p, "health", "probe")?.unwrap_or(false);
    // As OpenClaw: a recent snapshot answers unless the caller asks for a
    // probe; pollers (dashboards, status bars) then cost one render per TTL.
    if !probe {
        if let Some((body, _)) = gw.cache.get(HEALTH_CACHE_KEY, now) {
            return Ok(Payload::Raw(body.to_string()));
        }
    }
    let text = serde_json::to_string(&health_snapshot(gw, now)).expect("health serializes");
    let ttl = Duration::from_millis(gw.cfg.cache.health_ttl_ms);
    gw.cache.put(HEALTH_CACHE_KEY, text.clone(), ttl, now);
    Ok(Payload::Raw(text))
}

fn status(
    gw: &mut Gateway,
    _id: ConnId,
    req: &Request,
    now: Instant,
) -> Result<Payload, ErrorShape> {
    params_object(req, &[])?;
    let (auth, pre) = gw.counts();
    Ok(Payload::Json(json!({
        "version": VERSION,
        "uptimeMs": gw.uptime_ms(now),
        "startedAt": gw.started_ms(),
        "connections": {"active": auth, "authenticating": pre, "max": gw.cfg.connections.max_connections},
        "sessions": {"count": gw.store.count_sessions().unwrap_or(0)},
        "processes": gw.exec_summary(),
        "coach": gw.coach_summary(),
    })))
}

fn system_presence(
    gw: &mut Gateway,
    _id: ConnId,
    req: &Request,
    _now: Instant,
) -> Result<Payload, ErrorShape> {
    params_object(req, &[])?;
    Ok(Value::Array(presence_entries(gw)).into())
}

/// Most lines `logs.tail` returns, and the default.
pub const LOGS_TAIL_MAX_LINES: u64 = 5000;
pub const LOGS_TAIL_DEFAULT_LINES: u64 = 500;
/// Most bytes `logs.tail` reads, and the default.
pub const LOGS_TAIL_MAX_BYTES: u64 = 1_000_000;
pub const LOGS_TAIL_DEFAULT_BYTES: u64 = 250_000;

fn logs_tail(
    gw: &mut Gateway,
    _id: ConnId,
    req: &Request,
    _now: Instant,
) -> Result<Payload, ErrorShape> {
    let p = params_object(req, &["cursor", "limit", "maxBytes"])?;
    let num = |k: &str, default: u64, min: u64, max: u64| -> Result<u64, ErrorShape> {
        match p.and_then(|p| p.get(k)) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_u64()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| bad_param("logs.tail", k, &format!("an integer {min}..={max}"))),
        }
    };
    let cursor = match p.and_then(|p| p.get("cursor")) {
        None | Some(Value::Null) => None,
        Some(_) => Some(num("cursor", 0, 0, u64::MAX)?),
    };
    let limit = num("limit", LOGS_TAIL_DEFAULT_LINES, 1, LOGS_TAIL_MAX_LINES)? as usize;
    let max_bytes = num("maxBytes", LOGS_TAIL_DEFAULT_BYTES, 1, LOGS_TAIL_MAX_BYTES)? as usize;
    let Some(file) = gw.logfile.clone() else {
        return Err(
            ErrorShape::invalid("logs.tail: file logging is off (log.file = false)")
                .detail("LOG_FILE_DISABLED", Value::Null),
        );
    };
    // Buffered lines first, so the tail is current.
    file.flush();
    let page =
        crate::observe::logfile::tail(file.path(), cursor, limit, max_bytes).map_err(|e| {
            ErrorShape::new(
                crate::protocol::ErrorCode::Unavailable,
                format!("logs.tail: {e}"),
            )
            .detail("LOG_READ_FAILED", Value::Null)
        })?;
    Ok(Payload::Json(
        serde_json::to_value(page).unwrap_or_default(),
    ))
}

/// Test-only load generator: `count` events of `bytes` filler to every
/// authenticated client, batched (or droppable / immediate by `priority`).
fn debug_broadcast(
    gw: &mut Gateway,
    _id: ConnId,
    req: &Request,
    now: Instant,
) -> Result<Payload, ErrorShape> {
    let p = params_object(req, &["count", "bytes", "priority"])?;
    let get = |k: &str, default: u64, max: u64| -> Result<u64, ErrorShape> {
        match p.and_then(|p| p.get(k)) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_u64()
                .filter(|n| *n <= max)
                .ok_or_else(|| bad_param("debug.broadcast", k, &format!("an integer 0..={max}"))),
        }
    };
    let count = get("count", 1, DEBUG_BROADCAST_MAX_COUNT)?;
    let bytes = get("bytes", 16, DEBUG_BROADCAST_MAX_BYTES)?;
    let prio = match p.and_then(|p| p.get("priority")).and_then(Value::as_str) {
        None | Some("batched") => Priority::Batched,
        Some("droppable") => Priority::Droppable,
        Some("immediate") => Priority::Immediate,
        Some(_) => {
            return Err(bad_param(
                "debug.broadcast",
                "priority",
                "batched, droppable or immediate",
            ))
        }
    };
    let filler = "x".repeat(bytes as usize);
    let mut delivered = 0;
    for i in 0..count {
        let ev = SharedEvent::new("debug", &json!({"i": i, "data": filler}));
        delivered += gw.broadcast(&ev, prio, None, now);
    }
    Ok(json!({"events": count, "frames": delivered}).into())
}

/// One presence entry per authenticated client (OpenClaw's PresenceEntry
/// fields where they apply).
pub fn presence_entries(gw: &Gateway) -> Vec<Value> {
    let mut entries: Vec<(ConnId, Value)> = gw
        .sessions()
        .map(|(id, s)| {
            let c = &s.params.client;
            let ip = gw.conns.get(*id).map(|c| c.addr.ip().to_string());
            let mut e = json!({
                "instanceId": c.instance_id.clone().unwrap_or_else(|| id.to_string()),
                "host": c.display_name.clone().unwrap_or_else(|| c.id.clone()),
                "ip": ip,
                "version": c.version,
                "platform": c.platform,
                "mode": c.mode,
                "reason": "connect",
                "roles": [s.params.role.as_str()],
                "scopes": s.scopes,
                "ts": s.connected_at_ms,
                "text": format!("{} ({}) connected", c.id, c.mode),
            });
            if let Some(f) = &c.device_family {
                e["deviceFamily"] = json!(f);
            }
            if let Some(d) = &s.params.device {
                e["deviceId"] = json!(d.id);
            }
            (*id, e)
        })
        .collect();
    entries.sort_unstable_by_key(|(id, _)| *id);
    entries.into_iter().map(|(_, e)| e).collect()
}

/// `presence` event payload: at most `presenceMaxEntries` entries, with the
/// total so a client knows to call `system-presence` for the rest.
pub fn presence_event_payload(gw: &Gateway) -> Value {
    let mut entries = presence_entries(gw);
    let count = entries.len();
    let max = gw.cfg.events.presence_max_entries;
    let truncated = count > max;
    entries.truncate(max);
    let mut v = json!({"presence": entries, "count": count});
    if truncated {
        v["truncated"] = json!(true);
    }
    v
}

/// The `health` snapshot, typed so the hot path serializes straight to text
/// (no intermediate `Value` tree): `health` is the method clients poll.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthSnapshot<'a> {
    ok: bool,
    ts: u64,
    /// Built from in-memory counters on the loop: there are no probes to time.
    duration_ms: u64,
    gateway: GatewayHealth<'a>,
    sessions: SessionsHealth,
    store: StoreHealth,
    log: crate::observe::logfile::LogStats,
    io: crate::observe::io::IoView<'a>,
    workers: crate::workers::PoolStats,
    coach: CoachHealth,
    processes: ProcessesHealth<'a>,
    cache: super::cache::CacheStats,
    rate_limits: super::ratelimit::RateStats,
    audit_forward: ForwardHealth<'a>,
    channels: Empty,
    channel_order: [(); 0],
    channel_labels: Empty,
    heartbeat_seconds: u64,
    agents: [(); 0],
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct SessionsHealth {
    count: u64,
    recent: [(); 0],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StoreHealth {
    #[serde(flatten)]
    stats: crate::store::StoreStats,
    wal_bytes: u64,
    group_commits: u64,
    group_committed: u64,
    idempotent_replays: u64,
    /// Sends answered STORE_UNAVAILABLE after store.unavailableAfterMs.
    unavailable_answers: u64,
    metadata: super::chat::MetaStats,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CoachHealth {
    enabled: bool,
    mode: crate::coach::Mode,
    patterns: usize,
    /// The start-up compile has finished.
    ready: bool,
    rules: usize,
    pending_alerts: usize,
    in_flight: usize,
    #[serde(flatten)]
    stats: super::coach::CoachStats,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProcessesHealth<'a> {
    running: usize,
    finished: usize,
    max_processes: usize,
    pending_approvals: usize,
    #[serde(flatten)]
    stats: &'a super::exec::ExecStats,
    approvals: &'a super::approvals::ApprovalStats,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ForwardHealth<'a> {
    enabled: bool,
    state: Option<crate::forward::BreakerState>,
    /// 0 closed, 1 open, 2 half-open (for metrics).
    state_code: u8,
    queue: usize,
    in_flight: bool,
    circuit_opened: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    stats: Option<&'a crate::forward::ForwardStats>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GatewayHealth<'a> {
    version: &'static str,
    uptime_ms: u64,
    connections: ConnectionsHealth,
    memory: MemoryHealth,
    event_loop: EventLoopHealth<'a>,
    io: IoHealth,
    batcher: stats::BatcherView,
    config: ConfigHealth,
    tls: TlsHealth,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TlsHealth {
    enabled: bool,
    /// SHA-256 of the served certificate (what clients pin).
    fingerprint: Option<String>,
    /// Handshakes completed (closed and live connections).
    handshakes: u64,
    /// Connections closed before their handshake completed.
    failed: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionsHealth {
    active: usize,
    authenticating: usize,
    operators: usize,
    nodes: usize,
    max: usize,
    max_unauthenticated: usize,
    accepted: u64,
    authenticated: u64,
    closed: u64,
    rejected: stats::RejectedView,
    rejected_total: u64,
    idle_closed: u64,
    handshake_timeouts: u64,
    slow_consumers_closed: u64,
    origin_refused: u64,
    /// Pre-auth sockets closed to admit a new address.
    pre_auth_evicted: u64,
    /// `/healthz` answered at the listener while the pre-auth pool was full.
    healthz_at_listener: u64,
    /// Auth attempts refused by the per-prefix or global throttle.
    auth_throttled: u64,
    /// ... of which because the global failure budget was spent.
    auth_global_throttled: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MemoryHealth {
    rss_bytes: u64,
    connection_buffers_bytes: usize,
    worst_case_bytes: usize,
    budget_bytes: u64,
    /// RSS over the budget at the last check, in percent.
    budget_percent: f64,
    level: crate::observe::memory::Level,
    /// 0 normal, 1 pressure, 2 critical (for metrics).
    level_code: u8,
    checks: u64,
    reliefs: u64,
    reports: u64,
    refused: u64,
    accounting: super::memory::Accounting,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventLoopHealth<'a> {
    #[serde(flatten)]
    stats: &'a observe::LoopStats,
    lag: crate::observe::lag::LagView,
    /// Timer inserts refused because the wheel was full.
    timer_wheel_full: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IoHealth {
    frames_in: u64,
    frames_out: u64,
    bytes_in: u64,
    bytes_out: u64,
    requests: u64,
    bad_frames: u64,
    unknown_methods: u64,
    protocol_errors: u64,
    http_requests: u64,
    flushes: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConfigHealth {
    reloads: u64,
    reload_failures: u64,
}

fn percent_of(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    (part as f64 * 1000.0 / whole as f64).round() / 10.0
}

pub fn health_snapshot(gw: &mut Gateway, now: Instant) -> HealthSnapshot<'_> {
    let rss = gw.rss_bytes(now);
    let (active, authenticating) = gw.counts();
    let (operators, nodes) = gw.role_counts();
    let (mut live_in, mut live_out, mut live_frames_out) = (0, 0, 0);
    let mut live_tls = 0;
    for c in gw.conns.iter() {
        live_tls += u64::from(c.sock.tls_handshake_done());
        live_in += c.sock.bytes_in;
        live_out += c.sock.bytes_out;
        live_frames_out += c.sock.frames_queued;
    }
    let connection_buffers_bytes = gw.buffered_bytes();
    let session_count = gw.store.count_sessions().unwrap_or(0);
    let io_totals = gw.io_totals();
    let store = StoreHealth {
        stats: gw.store.stats.clone(),
        wal_bytes: gw.store.wal_bytes(),
        group_commits: gw.stats.group_commits,
        group_committed: gw.stats.group_committed,
        idempotent_replays: gw.stats.idempotent_replays,
        unavailable_answers: gw.stats.store_unavailable,
        metadata: gw.chat.meta_stats.clone(),
    };
    let uptime_ms = gw.uptime_ms(now);
    let accounting = gw.memory_accounting();
    let s = &gw.stats;
    HealthSnapshot {
        ok: true,
        ts: wall_ms(),
        duration_ms: 0,
        gateway: GatewayHealth {
            version: VERSION,
            uptime_ms,
            connections: ConnectionsHealth {
                active,
                authenticating,
                operators,
                nodes,
                max: gw.cfg.connections.max_connections,
                max_unauthenticated: gw.cfg.connections.max_unauthenticated,
                accepted: s.accepted,
                authenticated: s.authenticated,
                closed: s.closed,
                rejected: s.rejected_view(),
                rejected_total: s.rejected_total(),
                idle_closed: s.idle_closed,
                handshake_timeouts: s.handshake_timeouts,
                slow_consumers_closed: s.slow_consumers,
                origin_refused: s.origin_refused,
                pre_auth_evicted: s.pre_auth_evicted,
                healthz_at_listener: s.healthz_at_listener,
                auth_throttled: gw.limiter.throttled_total,
                auth_global_throttled: gw.limiter.global_throttled_total,
            },
            memory: MemoryHealth {
                rss_bytes: rss,
                connection_buffers_bytes,
                // The accounting already holds the bound: one computation.
                worst_case_bytes: accounting.total.worst_case_bytes,
                budget_bytes: gw.cfg.memory.budget_bytes,
                budget_percent: percent_of(rss, gw.cfg.memory.budget_bytes),
                level: gw.memory.level,
                level_code: gw.memory.level as u8,
                checks: gw.memory.checks,
                reliefs: gw.memory.reliefs,
                reports: gw.memory.reports,
                refused: s.memory_refused,
                accounting,
            },
            event_loop: EventLoopHealth {
                stats: &gw.loop_stats,
                lag: gw.lag.view(now),
                timer_wheel_full: gw.timers.full_count(),
            },
            io: IoHealth {
                frames_in: s.frames_in,
                frames_out: s.frames_out + live_frames_out,
                bytes_in: s.bytes_in + live_in,
                bytes_out: s.bytes_out + live_out,
                requests: s.requests,
                bad_frames: s.bad_frames,
                unknown_methods: s.unknown_methods,
                protocol_errors: s.protocol_errors,
                http_requests: s.http_requests,
                flushes: s.flushes,
            },
            batcher: s.batcher_view(),
            config: ConfigHealth {
                reloads: s.reloads,
                reload_failures: s.reload_failures,
            },
            tls: TlsHealth {
                enabled: gw.tls.is_some(),
                fingerprint: gw.tls.as_ref().map(|t| t.fingerprint().to_string()),
                handshakes: s.tls_handshakes + live_tls,
                failed: s.tls_failed,
            },
        },
        sessions: SessionsHealth {
            count: session_count,
            recent: [],
        },
        store,
        log: gw.logfile.as_ref().map(|f| f.stats()).unwrap_or_default(),
        io: gw.io_history.view(io_totals, gw.cfg.metrics.window_ms),
        workers: gw.workers.stats(),
        coach: CoachHealth {
            enabled: gw.coach_rt.coach.settings.mode != crate::coach::Mode::Off,
            mode: gw.coach_rt.coach.settings.mode,
            patterns: gw.coach_rt.coach.lib.pattern_count(),
            ready: gw.coach_rt.ready(),
            rules: gw.coach_rt.rules.len(),
            pending_alerts: gw.coach_rt.pending_alerts(),
            in_flight: gw.coach_rt.inflight(),
            stats: gw.coach_rt.stats.clone(),
        },
        processes: ProcessesHealth {
            running: gw.exec.running(),
            finished: gw.exec.finished(),
            max_processes: gw.cfg.exec.max_processes,
            pending_approvals: gw.approvals.pending_count(),
            stats: &gw.exec.stats,
            approvals: &gw.approvals.stats,
        },
        cache: gw.cache.view(),
        rate_limits: gw.rate_view(),
        audit_forward: match &gw.forwarder {
            Some(f) => ForwardHealth {
                enabled: true,
                state: Some(f.breaker.state),
                state_code: match f.breaker.state {
                    crate::forward::BreakerState::Closed => 0,
                    crate::forward::BreakerState::Open => 1,
                    crate::forward::BreakerState::HalfOpen => 2,
                },
                queue: f.queue_len(),
                in_flight: f.in_flight(),
                circuit_opened: f.breaker.opened,
                stats: Some(&f.stats),
            },
            None => ForwardHealth {
                enabled: false,
                state: None,
                state_code: 0,
                queue: 0,
                in_flight: false,
                circuit_opened: 0,
                stats: None,
            },
        },
        channels: Empty {},
        channel_order: [],
        channel_labels: Empty {},
        heartbeat_seconds: 0,
        agents: [],
    }
}

pub fn hello_ok(gw: &mut Gateway, id: ConnId, now: Instant) -> Value {
    let health = serde_json::to_value(health_snapshot(gw, now)).unwrap_or_default();
    let presence = presence_event_payload(gw);
    let session = gw.session(id).expect("hello after authentication");
    json!({
        "type": "hello-ok",
        "protocol": session.params.protocol.min(PROTOCOL_VERSION),
        "server": {"version": VERSION, "connId": id.to_string()},
        "features": {
            "methods": method_names(gw.cfg.testing.enable_test_methods),
            "events": EVENTS,
        },
        "snapshot": {
            "presence": presence["presence"],
            "health": health,
            "stateVersion": gw.state_version(),
            "uptimeMs": gw.uptime_ms(now),
        },
        "auth": {"role": session.params.role.as_str(), "scopes": session.scopes},
        "policy": {
            "maxPayload": gw.cfg.websocket.max_payload,
            "maxBufferedBytes": gw.cfg.websocket.max_buffered_bytes,
            "tickIntervalMs": gw.cfg.events.tick_interval_ms,
        },
    })
}
