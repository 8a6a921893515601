//! Prometheus text exposition (format 0.0.4) of the `health` snapshot.
//!
//! Every numeric figure of `health` is a metric: [`FAMILIES`] names each
//! one with its type and HELP text, and a unit test walks a live snapshot
//! and fails on any number without an entry, so a new counter cannot ship
//! without its metric. Names follow Prometheus conventions (checked by
//! `promtool check metrics` in `tests/observe.rs`): the dotted path in
//! snake case, base units (`...Ms`/`...Us` become `_seconds`, `...Bytes`
//! stays `_bytes`, a percentage becomes a 0-1 `_ratio`), one `_total` on
//! counters, and breakdowns as labels: the families of one name sit next
//! to each other and differ by their label (`reason`, `decision`,
//! `category`...). A number that repeats another (a sum of a breakdown, the
//! same counter under two paths) is listed in [`NOT_METRICS`] instead.

use serde_json::Value;
use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

/// One metric sample: where it is in the snapshot, its type, its HELP
/// line; optionally an explicit name (without `clawgate_` and `_total`,
/// with its unit) and a label set, for the samples of a breakdown.
pub struct Family {
    pub path: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    pub name: Option<&'static str>,
    pub labels: Option<&'static str>,
}

/// Paths of numbers in `health` that are not metrics (timestamps, limits
/// already in the config, the per-minute history Prometheus keeps itself).
/// Also the numbers another metric already exports: sums of a labelled
/// breakdown (Prometheus sums with `sum()`), and counters that health shows
/// twice (`io.totals` feeds the I/O windows with the same counts as
/// `gateway.io` and `store`).
pub const NOT_METRICS: &[&str] = &[
    "gateway.connections.rejectedTotal",
    "gateway.batcher.slowConsumersClosed",
    "gateway.memory.accounting.total",
    "io.totals.netBytesIn",
    "io.totals.netBytesOut",
    "io.totals.framesIn",
    "io.totals.framesOut",
    "io.totals.dbQueries",
    "io.totals.dbTransactions",
    "ts",
    "durationMs",
    "heartbeatSeconds",
    "io.history",
    "io.windowMs",
    "io.current",
    "io.meanPerWindow",
    "io.maxPerWindow",
];

fn snake(path: &str, out: &mut String) {
    for (i, part) in path.split('.').enumerate() {
        if i > 0 {
            out.push('_');
        }
        let mut prev_lower = false;
        for ch in part.chars() {
            if ch.is_ascii_uppercase() {
                if prev_lower {
                    out.push('_');
                }
                out.push(ch.to_ascii_lowercase());
                prev_lower = false;
            } else {
                out.push(ch);
                prev_lower = ch.is_ascii_lowercase() || ch.is_ascii_digit();
            }
        }
    }
}

/// The unit suffix and the factor turning a value at `path` into base
/// units, from the path's own unit (`...Ms`, `...UsTotal`, `...Percent`).
fn unit_of(path: &str) -> (&str, &'static str, f64) {
    const UNITS: &[(&str, &str, f64)] = &[
        ("UsTotal", "_seconds", 1e-6),
        ("UsMax", "_max_seconds", 1e-6),
        ("Ms", "_seconds", 1e-3),
        ("Us", "_seconds", 1e-6),
        ("Bytes", "_bytes", 1.0),
        ("Percent", "_ratio", 1e-2),
    ];
    for (suffix, unit, factor) in UNITS {
        if let Some(stem) = path.strip_suffix(suffix) {
            return (stem, unit, *factor);
        }
    }
    (path, "", 1.0)
}

/// The metric name and the factor turning the value into base units.
pub fn name_of(f: &Family) -> (String, f64) {
    let (stem, unit, factor) = unit_of(f.path);
    let mut name = String::with_capacity(48);
    name.push_str("clawgate_");
    match f.name {
        Some(explicit) => name.push_str(explicit),
        None => {
            snake(stem, &mut name);
            name.push_str(unit);
        }
    }
    if f.kind == Kind::Counter {
        name.push_str("_total");
    }
    (name, factor)
}

fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut v = root;
    for part in path.split('.') {
        v = v.get(part)?;
    }
    Some(v)
}

/// Renders every family found in `root`; booleans count as 0/1. HELP and
/// TYPE go out once per name, before its first sample.
pub fn render(root: &Value, families: &[Family], out: &mut String) {
    let mut last = String::new();
    for f in families {
        let Some(v) = lookup(root, f.path) else {
            continue;
        };
        let num = match v {
            Value::Number(n) => n.as_f64().unwrap_or(0.0),
            Value::Bool(b) => *b as u8 as f64,
            _ => continue,
        };
        let (name, factor) = name_of(f);
        if name != last {
            let kind = match f.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
            };
            let _ = writeln!(out, "# HELP {name} {}", f.help);
            let _ = writeln!(out, "# TYPE {name} {kind}");
        }
        out.push_str(&name);
        if let Some(labels) = f.labels {
            let _ = write!(out, "{{{labels}}}");
        }
        let value = num * factor;
        if value.fract() == 0.0 && value.abs() < 1e15 {
            let _ = writeln!(out, " {}", value as i64);
        } else {
            let _ = writeln!(out, " {value}");
        }
        last = name;
    }
}

/// Every numeric leaf of `v` by dotted path (arrays are skipped).
pub fn numeric_paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                numeric_paths(child, &path, out);
            }
        }
        Value::Number(_) => out.push(prefix.to_string()),
        _ => {}
    }
}

/// `Kind "path" "help";` derives the name from the path;
/// `Kind "path" => "name" {"label=\"value\""} "help";` is one sample of a
/// labelled breakdown (its HELP is the first sample's).
macro_rules! families {
    ($($kind:ident $path:literal $(=> $name:literal $({$labels:literal})?)? $help:literal;)*) => {
        /// Every metric, in exposition order.
        pub const FAMILIES: &[Family] = &[
            $(Family {
                path: $path,
                kind: Kind::$kind,
                help: $help,
                name: families!(@opt $($name)?),
                labels: families!(@opt $($($labels)?)?),
            },)*
        ];
    };
    (@opt $v:literal) => { Some($v) };
    (@opt) => { None };
}

families! {
    Gauge "gateway.uptimeMs" "Time since the gateway started.";
    Gauge "gateway.connections.active" "Authenticated WebSocket connections open now.";
    Gauge "gateway.connections.authenticating" "Sockets that have not finished the handshake.";
    Gauge "gateway.connections.operators" "Authenticated operator connections.";
    Gauge "gateway.connections.nodes" "Authenticated node connections.";
    Gauge "gateway.connections.max" "connections.maxConnections.";
    Gauge "gateway.connections.maxUnauthenticated" "connections.maxUnauthenticated.";
    Counter "gateway.connections.accepted" "TCP connections accepted.";
    Counter "gateway.connections.authenticated" "Handshakes completed.";
    Counter "gateway.connections.closed" "Connections closed.";
    Counter "gateway.connections.rejected.preAuthLimit" => "gateway_connections_rejected" {"reason=\"pre_auth_limit\""} "Connections refused, by reason.";
    Counter "gateway.connections.rejected.preAuthPerAddress" => "gateway_connections_rejected" {"reason=\"pre_auth_per_address\""} "Refused: too many handshakes from one address.";
    Counter "gateway.connections.rejected.poolFull" => "gateway_connections_rejected" {"reason=\"pool_full\""} "Refused: connections.maxConnections reached.";
    Counter "gateway.connections.rejected.perAddress" => "gateway_connections_rejected" {"reason=\"per_address\""} "Refused: connections.maxPerAddress reached.";
    Counter "gateway.connections.rejected.perClientId" => "gateway_connections_rejected" {"reason=\"per_client_id\""} "Refused: connections.maxPerClientId reached.";
    Counter "gateway.connections.rejected.perRole" => "gateway_connections_rejected" {"reason=\"per_role\""} "Refused: connections.maxOperators or maxNodes reached.";
    Counter "gateway.connections.rejected.auth" => "gateway_connections_rejected" {"reason=\"auth\""} "Refused: bad or missing credentials.";
    Counter "gateway.connections.rejected.device" => "gateway_connections_rejected" {"reason=\"device\""} "Refused: a device identity that did not verify.";
    Counter "gateway.connections.rejected.authRateLimited" => "gateway_connections_rejected" {"reason=\"auth_rate_limited\""} "Refused: too many failed authentications from the address.";
    Counter "gateway.connections.rejected.protocolMismatch" => "gateway_connections_rejected" {"reason=\"protocol_mismatch\""} "Refused: no common protocol version.";
    Counter "gateway.connections.rejected.badConnect" => "gateway_connections_rejected" {"reason=\"bad_connect\""} "Refused: malformed connect request.";
    Counter "gateway.connections.idleClosed" => "gateway_connections_dropped" {"reason=\"idle\""} "Open or opening connections closed by the gateway, by reason.";
    Counter "gateway.connections.handshakeTimeouts" => "gateway_connections_dropped" {"reason=\"handshake_timeout\""} "Sockets dropped for not finishing the handshake in time.";
    Counter "gateway.connections.slowConsumersClosed" => "gateway_connections_dropped" {"reason=\"slow_consumer\""} "Connections closed for not reading their output.";
    Counter "gateway.connections.originRefused" => "gateway_connections_dropped" {"reason=\"origin\""} "WebSocket upgrades refused for their Origin.";
    Counter "gateway.connections.preAuthEvicted" "Pre-auth sockets closed to admit a new address.";
    Counter "gateway.connections.healthzAtListener" "/healthz answered at the listener while the pre-auth pool was full.";
    Counter "gateway.connections.authThrottled" "Auth attempts refused by the failure throttle.";
    Counter "gateway.connections.authGlobalThrottled" "Auth attempts refused by the global failure budget.";
    Gauge "gateway.tls.enabled" "The listener speaks TLS (wss://): 1, or plain ws://: 0.";
    Counter "gateway.tls.handshakes" "TLS handshakes completed.";
    Counter "gateway.tls.failed" "TLS connections closed before their handshake completed.";
    Gauge "gateway.memory.rssBytes" "Resident set size.";
    Gauge "gateway.memory.connectionBuffersBytes" "Bytes held in connection buffers.";
    Gauge "gateway.memory.worstCaseBytes" "Worst-case memory the configured limits allow.";
    Gauge "gateway.memory.budgetBytes" "memory.budgetBytes.";
    Gauge "gateway.memory.budgetPercent" => "gateway_memory_budget_ratio" "RSS as a share of the budget at the last check (0-1).";
    Gauge "gateway.memory.levelCode" "Memory level: 0 normal, 1 pressure, 2 critical.";
    Counter "gateway.memory.checks" "Memory checks run.";
    Counter "gateway.memory.reliefs" "Times memory pressure began (caches shrunk, admission paused).";
    Counter "gateway.memory.reports" "Memory reports written to the data dir.";
    Counter "gateway.memory.refused" "Connections and processes refused under memory pressure.";
    Gauge "gateway.memory.accounting.fixed.liveBytes" => "gateway_memory_accounted_bytes" {"category=\"fixed\",bound=\"live\""} "Memory accounted per category: held now (bound live) and the bound from the limits (bound worst_case).";
    Gauge "gateway.memory.accounting.fixed.worstCaseBytes" => "gateway_memory_accounted_bytes" {"category=\"fixed\",bound=\"worst_case\""} "Fixed cost bound.";
    Gauge "gateway.memory.accounting.connections.liveBytes" => "gateway_memory_accounted_bytes" {"category=\"connections\",bound=\"live\""} "Connections: buffers and bookkeeping held now.";
    Gauge "gateway.memory.accounting.connections.worstCaseBytes" => "gateway_memory_accounted_bytes" {"category=\"connections\",bound=\"worst_case\""} "Connections: bound from the limits.";
    Gauge "gateway.memory.accounting.store.liveBytes" => "gateway_memory_accounted_bytes" {"category=\"store\",bound=\"live\""} "Store: SQLite heap, pending appends, idempotency keys.";
    Gauge "gateway.memory.accounting.store.worstCaseBytes" => "gateway_memory_accounted_bytes" {"category=\"store\",bound=\"worst_case\""} "Store: bound from the limits.";
    Gauge "gateway.memory.accounting.coach.liveBytes" => "gateway_memory_accounted_bytes" {"category=\"coach\",bound=\"live\""} "Coach: checks in flight, alerts, audit rows, library.";
    Gauge "gateway.memory.accounting.coach.worstCaseBytes" => "gateway_memory_accounted_bytes" {"category=\"coach\",bound=\"worst_case\""} "Coach: bound from the limits.";
    Gauge "gateway.memory.accounting.processOutput.liveBytes" => "gateway_memory_accounted_bytes" {"category=\"process_output\",bound=\"live\""} "Exec: process output and stdin held.";
    Gauge "gateway.memory.accounting.processOutput.worstCaseBytes" => "gateway_memory_accounted_bytes" {"category=\"process_output\",bound=\"worst_case\""} "Exec: bound from the limits.";
    Gauge "gateway.memory.accounting.caches.liveBytes" => "gateway_memory_accounted_bytes" {"category=\"caches\",bound=\"live\""} "Response cache held.";
    Gauge "gateway.memory.accounting.caches.worstCaseBytes" => "gateway_memory_accounted_bytes" {"category=\"caches\",bound=\"worst_case\""} "Response cache bound.";
    Gauge "gateway.memory.accounting.limits.liveBytes" => "gateway_memory_accounted_bytes" {"category=\"limits\",bound=\"live\""} "Rate-limit tables and lag histograms.";
    Gauge "gateway.memory.accounting.limits.worstCaseBytes" => "gateway_memory_accounted_bytes" {"category=\"limits\",bound=\"worst_case\""} "Rate-limit tables bound.";
    Gauge "gateway.memory.accounting.auditForward.liveBytes" => "gateway_memory_accounted_bytes" {"category=\"audit_forward\",bound=\"live\""} "Audit events waiting to be forwarded.";
    Gauge "gateway.memory.accounting.auditForward.worstCaseBytes" => "gateway_memory_accounted_bytes" {"category=\"audit_forward\",bound=\"worst_case\""} "Audit forward queue bound.";
    Counter "gateway.eventLoop.iterations" "Event loop turns.";
    Counter "gateway.eventLoop.events" "Readiness events handled.";
    Counter "gateway.eventLoop.timersFired" "Timers fired.";
    Counter "gateway.eventLoop.timerWheelFull" "Timer inserts refused because the wheel was full.";
    Counter "gateway.eventLoop.wakeups" "Worker-pool wakeups of the loop.";
    Gauge "gateway.eventLoop.lastTurnUs" "Duration of the last loop turn.";
    Gauge "gateway.eventLoop.maxTurnUs" "Longest loop turn since start.";
    Counter "gateway.eventLoop.busyMs" "Time the loop spent working (not waiting in poll).";
    Gauge "gateway.eventLoop.maxTimerLagUs" "Latest a timer fired past its deadline since start.";
    Gauge "gateway.eventLoop.lag.windowMs" "Span the lag quantiles cover.";
    Gauge "gateway.eventLoop.lag.turns" "Loop turns in the lag window.";
    Gauge "gateway.eventLoop.lag.turnP50Us" "Median loop turn duration in the window.";
    Gauge "gateway.eventLoop.lag.turnP99Us" "99th percentile loop turn duration in the window.";
    Gauge "gateway.eventLoop.lag.turnMaxUs" "Longest loop turn in the window.";
    Gauge "gateway.eventLoop.lag.timerSamples" "Turns with fired timers in the window.";
    Gauge "gateway.eventLoop.lag.timerLagP50Us" "Median timer lateness in the window.";
    Gauge "gateway.eventLoop.lag.timerLagP99Us" "99th percentile timer lateness in the window.";
    Gauge "gateway.eventLoop.lag.timerLagMaxUs" "Worst timer lateness in the window.";
    Gauge "gateway.eventLoop.lag.utilisation" => "gateway_event_loop_lag_utilisation_ratio" "Share of wall time the loop was busy in the window (0-1).";
    Counter "gateway.eventLoop.lag.warnings" "Half-windows whose p99 passed metrics.lagWarnMs.";
    Counter "gateway.io.framesIn" "WebSocket messages received.";
    Counter "gateway.io.framesOut" "WebSocket frames sent.";
    Counter "gateway.io.bytesIn" "Bytes received on sockets.";
    Counter "gateway.io.bytesOut" "Bytes sent on sockets.";
    Counter "gateway.io.requests" "Requests dispatched.";
    Counter "gateway.io.badFrames" "Frames that were not valid requests.";
    Counter "gateway.io.unknownMethods" "Requests for unknown methods.";
    Counter "gateway.io.protocolErrors" "WebSocket protocol violations.";
    Counter "gateway.io.httpRequests" "Plain HTTP requests.";
    Counter "gateway.io.flushes" "Socket flushes.";
    Counter "gateway.batcher.messages" "Messages queued to clients.";
    Counter "gateway.batcher.immediate" "Messages written at once.";
    Counter "gateway.batcher.batches" "Batches flushed.";
    Counter "gateway.batcher.batchedMessages" "Messages sent in batches.";
    Gauge "gateway.batcher.meanBatchSize" "Mean messages per batch.";
    Counter "gateway.batcher.timerFlushes" "Batches flushed by their delay.";
    Counter "gateway.batcher.dropped" "Droppable events skipped for slow clients.";
    Counter "gateway.batcher.broadcasts" "Broadcast events.";
    Counter "gateway.config.reloads" "Configuration reloads applied.";
    Counter "gateway.config.reloadFailures" "Configuration reloads refused.";
    Gauge "sessions.count" => "sessions" "Sessions in the store.";
    Counter "store.queries" "SQL statements run.";
    Counter "store.transactions" "Transactions committed.";
    Counter "store.rowsWritten" "Rows written.";
    Counter "store.bytesWritten" "Transcript bytes committed.";
    Counter "store.checkpoints" "WAL checkpoints.";
    Counter "store.checkpointUsTotal" => "store_checkpoint_seconds" "Time spent in WAL checkpoints.";
    Gauge "store.checkpointUsMax" => "store_checkpoint_max_seconds" "Longest WAL checkpoint.";
    Counter "store.errors" "Store errors.";
    Gauge "store.walBytes" "Size of the WAL file.";
    Counter "store.groupCommits" "Group-commit transactions.";
    Counter "store.groupCommitted" "Appends committed by group commits.";
    Counter "store.idempotentReplays" "chat.send retries answered from the idempotency cache.";
    Counter "store.unavailableAnswers" "chat.send answered STORE_UNAVAILABLE on a failing store.";
    Counter "store.metadata.requested" "Session metadata updates requested.";
    Counter "store.metadata.performed" "Session metadata writes performed.";
    Counter "store.metadata.coalesced" "Session metadata updates coalesced away.";
    Counter "store.metadata.flushesDebounce" => "store_metadata_flushes" {"reason=\"debounce\""} "Session metadata flushes, by what caused them.";
    Counter "store.metadata.flushesFull" => "store_metadata_flushes" {"reason=\"full\""} "Metadata flushes because the buffer was full.";
    Counter "store.metadata.flushesRead" => "store_metadata_flushes" {"reason=\"read\""} "Metadata flushes before a read.";
    Counter "store.metadata.flushesShutdown" => "store_metadata_flushes" {"reason=\"shutdown\""} "Metadata flushes at shutdown.";
    Counter "store.metadata.errors" "Metadata flush errors.";
    Counter "log.lines" "Log lines written to the file.";
    Counter "log.writes" "Log file writes.";
    Counter "log.bytes" "Bytes written to the log file.";
    Gauge "log.bufferHighWater" "Most log lines buffered at once.";
    Counter "log.rotations" "Log file rotations.";
    Counter "log.writeErrors" "Log write errors.";
    Counter "io.totals.diskWrites" "Disk writes (log and store).";
    Counter "io.totals.diskBytes" "Bytes written to disk (log and store).";
    Counter "io.totals.cacheHits" "Idempotency cache hits.";
    Counter "io.totals.cacheMisses" "Idempotency cache misses.";
    Gauge "workers.threads" "Worker pool threads.";
    Gauge "workers.queueCapacity" "Worker pool queue bound.";
    Gauge "workers.queued" "Jobs waiting in the worker queue.";
    Gauge "workers.running" "Jobs running on the pool.";
    Counter "workers.done" "Jobs completed by the pool.";
    Counter "workers.panicked" "Jobs that panicked.";
    Counter "workers.rejectedFull" => "workers_rejected" {"reason=\"full\""} "Jobs refused by the pool, by reason.";
    Counter "workers.rejectedShutdown" => "workers_rejected" {"reason=\"shutdown\""} "Jobs refused because the pool was stopping.";
    Counter "workers.timedOut" "Jobs whose caller was answered UNAVAILABLE after the task timeout.";
    Gauge "workers.queueHighWater" "Most jobs queued at once.";
    Counter "workers.busyUs" "Time workers spent running jobs.";
    Gauge "coach.enabled" "The coach is on (1) or off (0).";
    Gauge "coach.patterns" "Built-in coach patterns.";
    Gauge "coach.rules" "User coach rules.";
    Gauge "coach.pendingAlerts" "Coach approvals waiting for a human.";
    Gauge "coach.inFlight" "Coach checks running.";
    Counter "coach.checks" "Coach checks.";
    Counter "coach.allowed" => "coach_decisions" {"decision=\"allow\""} "Coach checks by decision.";
    Counter "coach.approvals" => "coach_decisions" {"decision=\"approve\""} "Coach checks that asked a human.";
    Counter "coach.blocked" => "coach_decisions" {"decision=\"block\""} "Coach checks that blocked.";
    Counter "coach.wouldHaveActed" "Warn mode: checks block mode would have acted on.";
    Counter "coach.truncatedInputs" "Coach inputs cut to coach.maxInputBytes.";
    Counter "coach.offloaded" => "coach_checks_run" {"where=\"pool\""} "Coach checks by where they ran: the worker pool or inline on the loop.";
    Counter "coach.inline" => "coach_checks_run" {"where=\"loop\""} "Coach checks run on the loop.";
    Counter "coach.inlineUsTotal" => "coach_inline_seconds" "Time spent in coach checks on the loop.";
    Gauge "coach.inlineUsMax" => "coach_inline_max_seconds" "Longest coach check on the loop.";
    Counter "coach.panicked" "Inline coach checks that panicked (answered block).";
    Counter "coach.timedOut" "Coach checks past coach.taskTimeoutMs.";
    Counter "coach.rejectedBusy" "Coach checks refused: too many in flight.";
    Counter "coach.alertsRaised" "Coach alerts raised.";
    Counter "coach.alertsCoalesced" "Coach alerts merged into a pending one.";
    Counter "coach.alertsThrottled" "Coach alerts refused by the per-session bound.";
    Counter "coach.alertsExpired" "Coach alerts that expired unanswered.";
    Counter "coach.resolvedAllowOnce" => "coach_alerts_resolved" {"decision=\"allow_once\""} "Coach alerts resolved by a person, by decision.";
    Counter "coach.resolvedAllowAlways" => "coach_alerts_resolved" {"decision=\"allow_always\""} "Coach alerts resolved allow-always.";
    Counter "coach.resolvedDeny" => "coach_alerts_resolved" {"decision=\"deny\""} "Coach alerts resolved deny.";
    Counter "coach.rulesAdded" "Coach rules added.";
    Counter "coach.rulesDeleted" "Coach rules deleted.";
    Counter "coach.rulesExpired" "Coach rules expired.";
    Counter "coach.auditWritten" "Audit rows written.";
    Counter "coach.auditDropped" "Audit rows dropped (buffer full).";
    Counter "coach.auditErrors" "Audit write errors.";
    Counter "coach.auditPruned" "Audit rows pruned by age or count.";
    Gauge "processes.running" "Child processes running.";
    Gauge "processes.finished" "Finished processes kept for polling.";
    Gauge "processes.maxProcesses" "exec.maxProcesses.";
    Gauge "processes.pendingApprovals" "Exec approvals waiting for a human.";
    Counter "processes.runs" "exec.run requests.";
    Counter "processes.spawned" "Processes started.";
    Counter "processes.spawnFailed" "Processes that failed to start.";
    Counter "processes.blocked" "exec.run refused by the coach or a human.";
    Counter "processes.rejectedBusy" "exec.run refused: exec.maxProcesses reached.";
    Counter "processes.exited" "Processes that exited.";
    Counter "processes.killed" "Processes killed.";
    Counter "processes.timedOut" "Processes past their timeout.";
    Counter "processes.outputBytes" "Bytes read from process output.";
    Counter "processes.outputEvents" "process.output events sent.";
    Counter "processes.flowPauses" "Times process output paused for a slow client.";
    Counter "processes.orphanPauses" "Orphaned processes no longer read once their output buffer was full.";
    Counter "processes.processLimitKills" "Groups killed for exceeding exec.maxGroupProcesses.";
    Counter "processes.stdinBytes" "Bytes written to process stdin.";
    Counter "processes.pruned" "Finished processes pruned.";
    Counter "processes.reaped" "Children reaped.";
    Counter "processes.leftoversKilled" "Processes a finished run left behind (another session, a double fork), killed by the sweep.";
    Counter "processes.orphansReaped" "Orphans re-parented to the gateway (child subreaper) and reaped.";
    Counter "processes.approvals.requested" "Exec approvals requested.";
    Counter "processes.approvals.allowedOnce" => "processes_approvals_settled" {"decision=\"allow_once\""} "Exec approvals settled, by decision.";
    Counter "processes.approvals.allowedAlways" => "processes_approvals_settled" {"decision=\"allow_always\""} "Exec approvals allowed always.";
    Counter "processes.approvals.denied" => "processes_approvals_settled" {"decision=\"deny\""} "Exec approvals denied.";
    Counter "processes.approvals.expired" => "processes_approvals_settled" {"decision=\"expired\""} "Exec approvals expired.";
    Counter "processes.approvals.cancelled" => "processes_approvals_settled" {"decision=\"cancelled\""} "Exec approvals cancelled.";
    Counter "processes.approvals.expiredAtStart" => "processes_approvals_settled" {"decision=\"expired_at_start\""} "Exec approvals expired by a restart.";
    Counter "processes.approvals.rejectedFull" "Exec approvals refused: too many pending.";
    Counter "processes.approvals.skippedByAllowAlways" "Approvals not asked thanks to allow-always.";
    Counter "cache.hits" "Response cache hits.";
    Counter "cache.misses" "Response cache misses.";
    Counter "cache.invalidations" "Response cache entries dropped by writes.";
    Counter "cache.evictions" "Response cache entries evicted (size, count, relief).";
    Gauge "cache.entries" "Response cache entries.";
    Gauge "cache.bytes" "Response cache bytes.";
    Counter "cache.notModified" "HTTP answers 304 Not Modified.";
    Counter "rateLimits.connectionsLimited" => "rate_limits_limited" {"what=\"connections\""} "Connections and requests over their rate limit.";
    Counter "rateLimits.requestsLimited" => "rate_limits_limited" {"what=\"requests\""} "Requests over rateLimits.requestsPerSecond.";
    Counter "rateLimits.chatBytesLimited" "Chat messages refused by rateLimits.chatBytesPerMinute.";
    Gauge "rateLimits.trackedAddresses" "Addresses in the connection-rate table.";
    Gauge "auditForward.enabled" "Audit forwarding is configured (1) or not (0).";
    Gauge "auditForward.stateCode" "Forward circuit: 0 closed, 1 open, 2 half-open.";
    Gauge "auditForward.queue" "Audit events waiting to be forwarded.";
    Gauge "auditForward.inFlight" "A forward batch is being sent (1) or not (0).";
    Counter "auditForward.circuitOpened" "Times the forward circuit opened.";
    Counter "auditForward.stats.queued" "Audit events queued for forwarding.";
    Counter "auditForward.stats.sent" "Audit events delivered to the collector.";
    Counter "auditForward.stats.batches" "Forward batches delivered.";
    Counter "auditForward.stats.failures" "Forward POSTs that failed.";
    Counter "auditForward.stats.retried" "Audit events put back for a retry.";
    Counter "auditForward.stats.dropped" "Audit events dropped from a full forward queue (still in the local table).";
    Counter "auditForward.stats.shortCircuited" "Forward attempts skipped while the circuit was open.";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_names_units_and_types() {
        let f = Family {
            path: "gateway.eventLoop.busyMs",
            kind: Kind::Counter,
            help: "",
            name: None,
            labels: None,
        };
        assert_eq!(
            name_of(&f),
            (
                "clawgate_gateway_event_loop_busy_seconds_total".into(),
                1e-3
            )
        );
        let root = serde_json::json!({"gateway": {"eventLoop": {"busyMs": 1500}}});
        let mut out = String::new();
        render(&root, &[f], &mut out);
        assert!(out.contains("# TYPE clawgate_gateway_event_loop_busy_seconds_total counter"));
        assert!(out.contains("\nclawgate_gateway_event_loop_busy_seconds_total 1.5\n"));
    }

    #[test]
    fn test_a_name_is_one_run_of_samples_with_distinct_labels() {
        // Prometheus wants a family's samples together under one HELP and
        // TYPE: every name appears in one run, one kind, no label set twice.
        let mut runs = std::collections::HashSet::new();
        let mut prev = String::new();
        let mut labels = std::collections::HashSet::new();
        let mut kind = Kind::Gauge;
        for f in FAMILIES {
            let (name, _) = name_of(f);
            if name != prev {
                assert!(runs.insert(name.clone()), "{name} appears in two runs");
                labels.clear();
                kind = f.kind;
            }
            assert_eq!(f.kind, kind, "{name}: one kind per name");
            assert!(
                labels.insert(f.labels.unwrap_or("")),
                "{name}: label set {:?} twice",
                f.labels
            );
            assert!(
                !name.trim_end_matches("_total").ends_with("_total"),
                "{name}: one _total"
            );
            prev = name;
        }
    }

    #[test]
    fn test_family_paths_are_unique_and_names_valid() {
        let mut seen = std::collections::HashSet::new();
        for f in FAMILIES {
            assert!(seen.insert(f.path), "duplicate {}", f.path);
            let (name, _) = name_of(f);
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{name}"
            );
            assert!(!f.help.is_empty());
        }
    }
}
