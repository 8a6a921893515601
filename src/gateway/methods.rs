//! The gateway-core methods (`connect`, `health`, `status`,
//! `system-presence`) and the payloads they share with the handshake.

use super::{wall_ms, Gateway, Priority};
use crate::net::ConnId;
use crate::observe;
use crate::protocol::handshake::{SCOPE_ADMIN, SCOPE_READ};
use crate::protocol::{ErrorShape, Request, SharedEvent, PROTOCOL_VERSION};
use serde_json::{json, Map, Value};
use std::time::Instant;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

type Handler = fn(&mut Gateway, ConnId, &Request, Instant) -> Result<Value, ErrorShape>;

/// A method: its name, the scope it needs, its handler.
pub struct MethodSpec {
    pub name: &'static str,
    pub scope: &'static str,
    pub handler: Handler,
    /// Only with `testing.enableTestMethods`.
    pub test_only: bool,
}

const METHODS: &[MethodSpec] = &[
    MethodSpec {
        name: "connect",
        scope: SCOPE_ADMIN,
        handler: connect,
        test_only: false,
    },
    MethodSpec {
        name: "health",
        scope: SCOPE_READ,
        handler: health,
        test_only: false,
    },
    MethodSpec {
        name: "status",
        scope: SCOPE_READ,
        handler: status,
        test_only: false,
    },
    MethodSpec {
        name: "system-presence",
        scope: SCOPE_READ,
        handler: system_presence,
        test_only: false,
    },
    MethodSpec {
        name: "debug.broadcast",
        scope: SCOPE_ADMIN,
        handler: debug_broadcast,
        test_only: true,
    },
];

/// Events this gateway core emits.
pub const EVENTS: &[&str] = &[
    "connect.challenge",
    "tick",
    "shutdown",
    "presence",
    "health",
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

fn bad_param(method: &str, key: &str, expected: &str) -> ErrorShape {
    ErrorShape::invalid(format!(
        "invalid {method} params: `{key}` must be {expected}"
    ))
    .detail("INVALID_PARAMS", json!({"property": key}))
}

fn connect(gw: &mut Gateway, id: ConnId, req: &Request, now: Instant) -> Result<Value, ErrorShape> {
    gw.reconnect(id, req, now)
}

fn health(gw: &mut Gateway, _id: ConnId, req: &Request, now: Instant) -> Result<Value, ErrorShape> {
    if let Some(p) = params_object(req, &["probe"])? {
        if !matches!(
            p.get("probe"),
            None | Some(Value::Bool(_)) | Some(Value::Null)
        ) {
            return Err(bad_param("health", "probe", "a boolean"));
        }
    }
    Ok(health_payload(gw, now))
}

fn status(gw: &mut Gateway, _id: ConnId, req: &Request, now: Instant) -> Result<Value, ErrorShape> {
    params_object(req, &[])?;
    let (auth, pre) = gw.counts();
    Ok(json!({
        "version": VERSION,
        "uptimeMs": gw.uptime_ms(now),
        "startedAt": gw.started_ms(),
        "connections": {"active": auth, "authenticating": pre, "max": gw.cfg.connections.max_connections},
        "sessions": {"count": 0},
        "processes": {"running": 0},
        "coach": {"enabled": false, "mode": "off"},
    }))
}

fn system_presence(
    gw: &mut Gateway,
    _id: ConnId,
    req: &Request,
    _now: Instant,
) -> Result<Value, ErrorShape> {
    params_object(req, &[])?;
    Ok(Value::Array(presence_entries(gw)))
}

/// Test-only load generator: `count` events of `bytes` filler to every
/// authenticated client, batched (or droppable / immediate by `priority`).
fn debug_broadcast(
    gw: &mut Gateway,
    _id: ConnId,
    req: &Request,
    now: Instant,
) -> Result<Value, ErrorShape> {
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
    Ok(json!({"events": count, "frames": delivered}))
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
    entries.sort_by_key(|(id, _)| *id);
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

pub fn health_payload(gw: &mut Gateway, now: Instant) -> Value {
    let rss = gw.rss_bytes(now);
    let (auth, pre) = gw.counts();
    let (operators, nodes) = gw.role_counts();
    let s = &gw.stats;
    let live_in: u64 = gw.conns.iter().map(|c| c.sock.bytes_in).sum();
    let live_out: u64 = gw
        .conns
        .iter()
        .map(|c| c.sock.ws_bytes_out + c.sock.prelude_bytes_out)
        .sum();
    let live_frames_out: u64 = gw.conns.iter().map(|c| c.frames_out).sum();
    let budget = gw.cfg.worst_case_memory();
    json!({
        "ok": true,
        "ts": wall_ms(),
        // Built from in-memory counters on the loop: no probes to time.
        "durationMs": 0,
        "gateway": {
            "version": VERSION,
            "uptimeMs": gw.uptime_ms(now),
            "connections": {
                "active": auth,
                "authenticating": pre,
                "operators": operators,
                "nodes": nodes,
                "max": gw.cfg.connections.max_connections,
                "maxUnauthenticated": gw.cfg.connections.max_unauthenticated,
                "accepted": s.accepted,
                "authenticated": s.authenticated,
                "closed": s.closed,
                "rejected": s.rejected_json(),
                "rejectedTotal": s.rejected_total(),
                "idleClosed": s.idle_closed,
                "handshakeTimeouts": s.handshake_timeouts,
                "slowConsumersClosed": s.slow_consumers,
            },
            "memory": {
                "rssBytes": rss,
                "connectionBuffersBytes": gw.buffered_bytes(),
                "worstCaseBytes": budget.total_bytes,
            },
            "eventLoop": observe::loop_json(&gw.loop_stats),
            "io": {
                "framesIn": s.frames_in,
                "framesOut": s.frames_out + live_frames_out,
                "bytesIn": s.bytes_in + live_in,
                "bytesOut": s.bytes_out + live_out,
                "requests": s.requests,
                "badFrames": s.bad_frames,
                "unknownMethods": s.unknown_methods,
                "protocolErrors": s.protocol_errors,
                "httpRequests": s.http_requests,
                "flushes": s.flushes,
            },
            "batcher": s.batcher_json(),
            "config": {"reloads": s.reloads, "reloadFailures": s.reload_failures},
        },
        "sessions": {"count": 0, "recent": []},
        "coach": {"enabled": false},
        "channels": {},
        "channelOrder": [],
        "channelLabels": {},
        "heartbeatSeconds": 0,
        "agents": [],
    })
}

pub fn hello_ok(gw: &mut Gateway, id: ConnId, now: Instant) -> Value {
    let health = health_payload(gw, now);
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
