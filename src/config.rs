//! Typed configuration: one JSON file, every limit with a named default.
//!
//! The file is parsed strictly (unknown keys and wrong types are refused with the
//! key's full path, the file and the expected type) into [`Config`], then flags and
//! the environment are layered on top. [`Config::worst_case_memory`] turns the limits
//! into the upper bound the gateway promises, so `--check-config`, the systemd unit's
//! `MemoryMax` and the live accounting all use the same arithmetic.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Default TCP port, OpenClaw's.
pub const DEFAULT_PORT: u16 = 18789;
/// Default bind address: loopback only, as OpenClaw.
pub const DEFAULT_BIND: &str = "127.0.0.1";
/// Default data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "clawgate-data";

/// Authenticated connections the pool admits.
pub const DEFAULT_MAX_CONNECTIONS: usize = 50;
/// Authenticated connections one remote address may hold.
pub const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 50;
/// Authenticated connections one `client.id` may hold.
pub const DEFAULT_MAX_CONNECTIONS_PER_CLIENT_ID: usize = 50;
/// Sockets that have not finished the handshake yet, all addresses together.
pub const DEFAULT_MAX_UNAUTHENTICATED: usize = 32;
/// Sockets that have not finished the handshake yet, per remote address.
pub const DEFAULT_MAX_UNAUTHENTICATED_PER_ADDRESS: usize = 8;
/// From accept to `hello-ok`.
pub const DEFAULT_HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
/// From accept to a complete HTTP request head: a slowloris socket gives up
/// its pre-auth slot after this, not after the whole handshake timeout.
pub const DEFAULT_HTTP_HEAD_TIMEOUT_MS: u64 = 2_000;
/// Reset by every inbound frame.
pub const DEFAULT_IDLE_TIMEOUT_MS: u64 = 300_000;
/// Largest frame or message accepted before authentication.
pub const DEFAULT_PRE_AUTH_MAX_PAYLOAD: usize = 64 * 1024;
/// Largest frame or message accepted after authentication (`policy.maxPayload`).
pub const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;
/// Outbound bytes one connection may have waiting (`policy.maxBufferedBytes`).
pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 1024 * 1024;
/// Largest HTTP request head (upgrade request) accepted.
pub const DEFAULT_MAX_HTTP_HEAD_BYTES: usize = 8 * 1024;
/// tungstenite's eagerly allocated read buffer; its 128 KiB default would cost
/// 128 MB at 1,000 connections.
pub const DEFAULT_READ_BUFFER_BYTES: usize = 4 * 1024;
/// Messages read from one connection per readiness event before others get a turn.
pub const DEFAULT_READ_BUDGET: usize = 64;
/// Connections accepted per listener event before the loop serves others.
pub const DEFAULT_ACCEPT_BUDGET: usize = 128;
/// `tick` event period (`policy.tickIntervalMs`).
pub const DEFAULT_TICK_INTERVAL_MS: u64 = 30_000;
/// Batched events queued on one connection that force a flush.
pub const DEFAULT_BATCH_MAX_EVENTS: usize = 20;
/// Longest a batched event waits.
pub const DEFAULT_BATCH_DELAY_MS: u64 = 100;
/// Presence changes within this window go out as one `presence` event.
pub const DEFAULT_PRESENCE_DEBOUNCE_MS: u64 = 250;
/// Entries carried by a `presence` event or the hello snapshot (the full list
/// is `system-presence`); keeps a connect from costing O(clients²) bytes.
pub const DEFAULT_PRESENCE_MAX_ENTRIES: usize = 64;
/// SQLite page cache (`PRAGMA cache_size`).
pub const DEFAULT_STORE_CACHE_BYTES: usize = 10 * 1024 * 1024;
/// SQLite memory-mapped I/O window (`PRAGMA mmap_size`); file-backed pages.
pub const DEFAULT_STORE_MMAP_BYTES: usize = 16 * 1024 * 1024;
/// Passive WAL checkpoint period.
pub const DEFAULT_CHECKPOINT_INTERVAL_MS: u64 = 300_000;
/// Appends that close a group-commit transaction early.
pub const DEFAULT_GROUP_COMMIT_MAX: usize = 256;
/// Pending append bytes that close a group-commit transaction early.
pub const DEFAULT_GROUP_COMMIT_BYTES: usize = 1024 * 1024;
/// `chat.send` idempotency keys remembered, and for how long.
pub const DEFAULT_IDEMPOTENCY_KEYS: usize = 1000;
pub const DEFAULT_IDEMPOTENCY_TTL_MS: u64 = 300_000;
/// Session metadata (counters, updatedAt, preview) waits this long to be
/// coalesced; a crash loses at most this window of metadata (never messages).
pub const DEFAULT_META_DEBOUNCE_MS: u64 = 2_000;
/// Distinct sessions with pending metadata; one more flushes at once.
pub const DEFAULT_META_MAX_PENDING: usize = 10;
/// WAL logged since its last restart that asks the worker pool for a
/// checkpoint (SQLite's own auto-checkpoint, which would run inside a commit
/// on the loop, is off).
pub const DEFAULT_CHECKPOINT_WAL_BYTES: u64 = 16 * 1024 * 1024;
/// Transcript messages appended before a group commit also writes them into
/// the per-session index (`message_index`) in one batch. Higher: fewer index
/// pages written per message, but a longer step inside that commit (measured
/// on x86: 0.23 ms at 256, 1.1 ms at 1,024, 3.8 ms at 4,096; a Pi takes a few
/// times longer) and a longer `seq` scan of the tail in `chat.history`.
pub const DEFAULT_INDEX_BATCH: u64 = 256;
/// Messages waiting for a failing store before new ones get UNAVAILABLE.
pub const DEFAULT_PENDING_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Largest the database may grow (`PRAGMA max_page_count`); writes past it
/// fail like a full disk and are retried.
pub const DEFAULT_MAX_DB_BYTES: u64 = 1 << 30;
/// Bytes of a message's text carried by its `chat` event (then a preview).
pub const DEFAULT_CHAT_PREVIEW_BYTES: usize = 16 * 1024;
/// Message bytes one `client.id` may write per minute (and in a burst).
pub const DEFAULT_CHAT_BYTES_PER_MINUTE: u64 = 8 * 1024 * 1024;
/// Longest message `chat.send` / `chat.inject` accept.
pub const DEFAULT_CHAT_MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Longest a `chat.send` waits on a failing store (disk full) before it is
/// answered `UNAVAILABLE` / `STORE_UNAVAILABLE` (and dropped: it was never
/// acknowledged, so nothing acknowledged is lost; the client retries).
pub const DEFAULT_STORE_UNAVAILABLE_AFTER_MS: u64 = 1_000;
/// Largest page `sessions.list` / `chat.history` return.
pub const DEFAULT_MAX_PAGE: usize = 1000;
/// Log file size that triggers a rotation.
pub const DEFAULT_LOG_MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;
/// Rotated log files kept.
pub const DEFAULT_LOG_MAX_FILES: usize = 5;
/// Log lines buffered before a write.
pub const DEFAULT_LOG_BUFFER_LINES: usize = 100;
/// Longest a log line waits in the buffer.
pub const DEFAULT_LOG_FLUSH_INTERVAL_MS: u64 = 5_000;
/// Auth failures from one address inside the window before it is throttled.
pub const DEFAULT_AUTH_MAX_FAILURES: u32 = 5;
/// Window over which auth failures are counted, and how long a throttle lasts.
pub const DEFAULT_AUTH_FAILURE_WINDOW_MS: u64 = 60_000;
/// Addresses whose auth failures are remembered (oldest forgotten first).
pub const DEFAULT_AUTH_TRACKED_ADDRESSES: usize = 1024;
/// Auth failures from all addresses together inside the window before every
/// new attempt is throttled: rotating source addresses (or prefixes) then
/// buys an attacker nothing. Legitimate clients that already hold a
/// connection are unaffected.
pub const DEFAULT_AUTH_GLOBAL_MAX_FAILURES: u32 = 100;
/// Shortest accepted `auth.password`, in characters: a shorter shared
/// password is guessable even under the throttle, so start refuses it.
pub const MIN_PASSWORD_CHARS: usize = 16;
/// Time given to clients to read the `shutdown` event and close frame.
pub const DEFAULT_SHUTDOWN_GRACE_MS: u64 = 1_500;
/// Time a closing connection waits for the peer's close frame.
pub const DEFAULT_CLOSE_LINGER_MS: u64 = 2_000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Config {
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub connections: ConnectionsConfig,
    pub websocket: WebSocketConfig,
    pub events: EventsConfig,
    pub store: StoreConfig,
    pub metrics: MetricsConfig,
    pub workers: WorkersConfig,
    pub coach: CoachConfig,
    pub exec: ExecConfig,
    pub memory: MemoryConfig,
    pub cache: CacheConfig,
    pub rate_limits: RateLimitsConfig,
    pub audit_forward: AuditForwardConfig,
    pub log: LogConfig,
    pub tls: TlsConfig,
    pub testing: TestingConfig,
    pub agents: AgentsConfig,
    pub notify: NotifyConfig,
}

/// One waiter on an approval (its connection and request id, ≤ 128 bytes).
pub const APPROVAL_WAITER_BYTES: usize = 192;

/// The `PATH` children get: system directories only, so a name in a
/// command is the system's binary, not one an agent dropped somewhere.
pub const DEFAULT_SAFE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Default memory budget: an alarm level, not an allocation (the gateway
/// idles near 10 MB). It sits above the default limits' worst case with
/// room to spare, so the default config does not warn about itself
/// (`test_the_default_worst_case_is_under_the_warning_level`); a 4 GB Pi
/// spares 640 MiB easily.
pub const DEFAULT_MEMORY_BUDGET_BYTES: u64 = 640 * 1024 * 1024;

/// The memory monitor (`src/observe/memory.rs`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct MemoryConfig {
    /// RSS the gateway should stay under.
    pub budget_bytes: u64,
    /// How often RSS is read from `/proc/self/statm`.
    pub check_interval_ms: u64,
    /// At this share of the budget: warn, shrink caches, refuse new
    /// connections and processes (retryable).
    pub warn_percent: f64,
    /// At this share: also write a memory report to the data dir.
    pub report_percent: f64,
    /// Shortest time between two reports.
    pub report_interval_ms: u64,
    /// Reports kept in the data dir (oldest removed).
    pub max_reports: usize,
    /// Once start-up is done (the coach compiled), and again at memory
    /// pressure, drop the resident pages of never-written read-only file
    /// mappings (code and constants of the binary and its libraries) so RSS
    /// holds what serving touches, not what start-up did
    /// (`observe::memory::release_clean_file_pages`).
    pub release_startup_pages: bool,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            budget_bytes: DEFAULT_MEMORY_BUDGET_BYTES,
            check_interval_ms: 30_000,
            warn_percent: 80.0,
            report_percent: 95.0,
            report_interval_ms: 600_000,
            max_reports: 5,
            release_startup_pages: true,
        }
    }
}

/// The read-response cache (`src/gateway/cache.rs`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct CacheConfig {
    /// Responses kept (LRU).
    pub entries: usize,
    /// Bytes of responses kept; the oldest go first past it.
    pub max_bytes: usize,
    /// `health` without `probe: true` and `/healthz`: reused this long.
    pub health_ttl_ms: u64,
    /// `/metrics`: reused this long (a scrape every 15 s never sees it).
    pub metrics_ttl_ms: u64,
    /// `sessions.list` pages: reused this long unless a write invalidates them.
    pub list_ttl_ms: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            entries: 64,
            max_bytes: 4 * 1024 * 1024,
            health_ttl_ms: 1_000,
            metrics_ttl_ms: 1_000,
            list_ttl_ms: 5_000,
        }
    }
}

/// Rate limits (`src/gateway/ratelimit.rs`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RateLimitsConfig {
    /// New TCP connections per remote address per minute.
    pub connections_per_minute: u32,
    /// Requests one connection may make per second, sustained...
    pub requests_per_second: u32,
    /// ...and in a burst.
    pub request_burst: u32,
    /// Loopback clients (the operator's own machine) are not rate limited,
    /// as in OpenClaw; failed-auth throttling applies to them regardless.
    pub exempt_loopback: bool,
    /// Addresses whose connection rate is remembered (oldest forgotten first).
    pub tracked_addresses: usize,
    /// `chat.send`/`chat.inject` message bytes one `client.id` may write per
    /// minute (also the burst); 0 = unlimited. Loopback follows `exemptLoopback`.
    pub chat_bytes_per_minute: u64,
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        RateLimitsConfig {
            connections_per_minute: 60,
            requests_per_second: 50,
            request_burst: 200,
            exempt_loopback: true,
            tracked_addresses: 1024,
            chat_bytes_per_minute: DEFAULT_CHAT_BYTES_PER_MINUTE,
        }
    }
}

/// Wire format of forwarded audit events.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ForwardFormat {
    /// A JSON array of audit rows, `Authorization: Bearer <token>`.
    #[default]
    Json,
    /// Splunk HEC: concatenated `{"time","sourcetype","event"}` objects,
    /// `Authorization: Splunk <token>`.
    Splunk,
}

/// Audit forwarding (`src/forward/`); off while `url` is null.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct AuditForwardConfig {
    /// `http://host:port/path`; null turns forwarding off.
    pub url: Option<String>,
    pub format: ForwardFormat,
    pub token: Option<String>,
    /// Events per POST.
    pub batch_size: usize,
    /// Events waiting (including retries); the oldest are dropped past it
    /// and counted; the local audit table keeps them all.
    pub max_queue: usize,
    /// Longest an event waits before a POST.
    pub flush_interval_ms: u64,
    /// Connect + send + answer, per POST.
    pub timeout_ms: u64,
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long the circuit stays open before one trial POST (half-open).
    pub open_ms: u64,
}

impl fmt::Debug for AuditForwardConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditForwardConfig")
            .field("url", &self.url)
            .field("format", &self.format)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("batch_size", &self.batch_size)
            .field("max_queue", &self.max_queue)
            .finish()
    }
}

impl Default for AuditForwardConfig {
    fn default() -> Self {
        AuditForwardConfig {
            url: None,
            format: ForwardFormat::Json,
            token: None,
            batch_size: 100,
            max_queue: 1000,
            flush_interval_ms: 1_000,
            timeout_ms: 2_000,
            failure_threshold: 5,
            open_ms: 30_000,
        }
    }
}

/// The security coach (`src/coach/`, `src/gateway/coach.rs`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct CoachConfig {
    /// `off`, `warn` (report, never block or ask) or `block`.
    pub mode: crate::coach::Mode,
    /// Matches below this severity are reported but do not decide.
    pub min_severity: crate::coach::Severity,
    /// Bytes of each input field examined; longer input is cut and reported.
    pub max_input_bytes: usize,
    /// A check not finished by then answers `UNAVAILABLE` (counted).
    pub task_timeout_ms: u64,
    /// Checks running or queued at once; beyond it callers get `UNAVAILABLE`.
    pub max_in_flight: usize,
    /// Run checks on the worker pool (false: always inline on the loop).
    pub offload: bool,
    /// Largest input run inline when the pool is saturated or off.
    pub inline_max_bytes: usize,
    /// An unanswered approval is denied after this long.
    pub alert_timeout_ms: u64,
    /// Pending approvals, all sessions together.
    pub max_pending_alerts: usize,
    /// Pending approvals per session (or per client when no session is named).
    pub max_pending_per_session: usize,
    /// User rules kept.
    pub max_rules: usize,
    /// Lazy-DFA cache bytes each checking thread keeps between checks
    /// (`coach::DEFAULT_DFA_CACHE_BYTES`); a check may grow them half as
    /// much again. Less memory, more DFA states rebuilt on varied input.
    pub dfa_cache_bytes: usize,
    /// Audit rows kept in the database (oldest pruned).
    pub audit_max_rows: u64,
    /// Characters of the input stored per audit row.
    pub audit_input_chars: usize,
    /// Audit rows buffered between commits (beyond it rows are counted as dropped).
    pub audit_buffer: usize,
}

/// Default per-check timeout.
pub const DEFAULT_COACH_TASK_TIMEOUT_MS: u64 = 5_000;
/// Default approval timeout (no answer = deny).
pub const DEFAULT_COACH_ALERT_TIMEOUT_MS: u64 = 60_000;

impl Default for CoachConfig {
    fn default() -> Self {
        CoachConfig {
            mode: crate::coach::Mode::Block,
            min_severity: crate::coach::Severity::Medium,
            max_input_bytes: crate::coach::DEFAULT_MAX_INPUT_BYTES,
            task_timeout_ms: DEFAULT_COACH_TASK_TIMEOUT_MS,
            max_in_flight: 64,
            offload: true,
            inline_max_bytes: 4096,
            alert_timeout_ms: DEFAULT_COACH_ALERT_TIMEOUT_MS,
            max_pending_alerts: 256,
            max_pending_per_session: 16,
            max_rules: 500,
            dfa_cache_bytes: crate::coach::DEFAULT_DFA_CACHE_BYTES,
            audit_max_rows: 100_000,
            audit_input_chars: 2048,
            audit_buffer: 512,
        }
    }
}

/// What a child does when the client that started it disconnects.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnDisconnect {
    /// Keep running; anyone with read scope can poll it.
    #[default]
    Keep,
    /// Kill its process group.
    Kill,
}

/// Exec, approvals and the process registry (`src/exec/`, `src/gateway/exec.rs`,
/// `src/gateway/approvals.rs`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ExecConfig {
    /// `exec.run` answers `FORBIDDEN` when false (approvals still work).
    pub enabled: bool,
    /// Runs `command` strings as `<shell> -c <command>`.
    pub shell: String,
    /// Timeout when the request names none.
    pub default_timeout_ms: u64,
    /// Largest timeout a request may ask for.
    pub max_timeout_ms: u64,
    /// How long `exec.run` waits for the exit before answering "running".
    pub default_yield_ms: u64,
    pub max_yield_ms: u64,
    /// Children running at once; more get `UNAVAILABLE` `PROCESS_LIMIT`.
    pub max_processes: usize,
    /// Finished processes kept for `process.poll` (oldest pruned first).
    pub max_finished: usize,
    /// A finished process is pruned this long after its exit (60000..=10800000).
    pub finished_ttl_ms: u64,
    /// Output kept per process; beyond it the oldest bytes go and `truncated` is set.
    pub max_output_bytes: usize,
    /// SIGTERM first, SIGKILL this long after.
    pub kill_grace_ms: u64,
    /// After the exit, how long to wait for grandchildren holding the pipes.
    pub exit_drain_ms: u64,
    /// Longest `command` string (or argv, joined).
    pub max_command_bytes: usize,
    pub max_env_vars: usize,
    /// Variables copied from the gateway's own environment into the child's
    /// (besides these, a child gets only `PATH` = `safePath` and the
    /// request's own `env`, which may not touch code loading).
    pub env_passthrough: Vec<String>,
    /// The child's `PATH`, whatever the gateway's is.
    pub safe_path: String,
    pub on_disconnect: OnDisconnect,
    /// RLIMIT_NPROC given to children (0: unchanged). Root is exempt.
    pub max_user_processes: u64,
    /// Processes one run may have alive in its group; a group over it (a
    /// fork loop) is SIGKILLed whole. Counted from /proc on a worker every
    /// `watchIntervalMs` while anything runs; works for root too. 0: off.
    pub max_group_processes: usize,
    pub watch_interval_ms: u64,
    /// cgroup v2 containment (`src/exec/cgroup.rs`): `"auto"` uses the
    /// delegated cgroup the gateway runs in (systemd `Delegate=yes`),
    /// `"off"` disables it, a path names a writable directory in a cgroup
    /// v2 hierarchy. Every run gets its own cgroup, killed whole at the
    /// run's end, on process.kill and at shutdown.
    pub cgroup: String,
    /// `pids.max` of each run's cgroup (0: not set); needs the pids
    /// controller in the subtree.
    pub cgroup_pids_max: u64,
    /// `memory.max` of each run's cgroup (0: not set).
    pub cgroup_memory_max_bytes: u64,
    /// Memory the children may use together. Not part of the gateway's own
    /// worst case: under systemd the children share its cgroup, so
    /// install.sh adds this to MemoryMax (and children get a raised
    /// oom_score_adj, so the kernel picks them before the gateway).
    pub children_memory_bytes: u64,
    /// Bytes per pipe read; also the largest `process.output` chunk.
    pub read_chunk_bytes: usize,
    /// Reads per pipe per readiness event before serving others.
    pub read_budget: usize,
    /// Stdin bytes waiting for the child to read them.
    pub max_stdin_bytes: usize,
    /// Read a child's pipes only while the client that started it keeps up
    /// (its outbound buffer under half of `maxBufferedBytes`): a child cannot
    /// outrun its reader, and no output is skipped. Off: pipes are drained
    /// at full speed and a slow client's output events are skipped (the
    /// registry keeps the tail for `process.poll`). A child whose client has
    /// gone is always drained.
    pub flow_control: bool,
    /// Commands that skip the human (never the coach's block).
    pub allowlist: Vec<crate::exec::allow::AllowEntry>,
    /// "allow-always" decisions kept (exact commands).
    pub max_allow_always: usize,
    /// An approval nobody answers expires (decision null) after this long.
    pub approval_timeout_ms: u64,
    pub max_approval_timeout_ms: u64,
    pub max_pending_approvals: usize,
    pub max_pending_approvals_per_session: usize,
    /// Pending approvals one identity (device, else connection) may have.
    pub max_pending_approvals_per_identity: usize,
    /// `exec.approval.request` calls that may wait on one approval.
    pub max_approval_waiters: usize,
    /// Decided approvals kept in the database (so a retry learns its answer).
    pub approvals_kept: usize,
}

impl Default for ExecConfig {
    fn default() -> Self {
        ExecConfig {
            enabled: true,
            shell: "/bin/sh".into(),
            default_timeout_ms: 30 * 60_000,
            max_timeout_ms: 3 * 3_600_000,
            default_yield_ms: 10_000,
            max_yield_ms: 120_000,
            max_processes: 8,
            max_finished: 64,
            finished_ttl_ms: 30 * 60_000,
            max_output_bytes: 200_000,
            kill_grace_ms: 5_000,
            exit_drain_ms: 1_000,
            max_command_bytes: 64 * 1024,
            max_env_vars: 64,
            env_passthrough: [
                "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TZ", "USER", "LOGNAME", "TMPDIR",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            safe_path: DEFAULT_SAFE_PATH.into(),
            on_disconnect: OnDisconnect::Keep,
            max_user_processes: 0,
            max_group_processes: 256,
            cgroup: "auto".into(),
            cgroup_pids_max: 256,
            cgroup_memory_max_bytes: 512 * 1024 * 1024,
            watch_interval_ms: 500,
            children_memory_bytes: 512 * 1024 * 1024,
            read_chunk_bytes: 64 * 1024,
            read_budget: 4,
            max_stdin_bytes: 64 * 1024,
            flow_control: true,
            allowlist: Vec::new(),
            max_allow_always: 1000,
            approval_timeout_ms: 120_000,
            max_approval_timeout_ms: 600_000,
            max_pending_approvals: 64,
            max_pending_approvals_per_session: 8,
            max_pending_approvals_per_identity: 16,
            max_approval_waiters: 8,
            approvals_kept: 1000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct WorkersConfig {
    /// Pool threads; 0 = cores - 1 (at least 1). Fixed at start.
    pub threads: usize,
    /// Jobs waiting for a thread; 0 = 64.
    pub queue: usize,
    /// At shutdown, how long to wait for jobs still running; 0 = 1000. A
    /// job still running then (the start-up library compile, a check) is
    /// left to end with the process.
    pub exit_grace_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct MetricsConfig {
    /// Length of one I/O metrics window.
    pub window_ms: u64,
    /// Windows kept (60 x 1 min = one hour).
    pub windows: usize,
    /// Event-loop lag quantiles cover the last one to two halves of this.
    pub lag_window_ms: u64,
    /// A half-window whose turn or timer-lateness p99 passes this warns.
    pub lag_warn_ms: u64,
    /// `/metrics` wants `Authorization: Bearer <token>`.
    pub require_auth: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            window_ms: 60_000,
            windows: 60,
            lag_window_ms: 60_000,
            lag_warn_ms: 50,
            require_auth: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct StoreConfig {
    pub cache_bytes: usize,
    pub mmap_bytes: usize,
    pub checkpoint_interval_ms: u64,
    pub group_commit_max: usize,
    pub group_commit_bytes: usize,
    pub idempotency_keys: usize,
    pub idempotency_ttl_ms: u64,
    pub max_page: usize,
    pub meta_debounce_ms: u64,
    pub meta_max_pending: usize,
    pub pending_max_bytes: usize,
    pub max_db_bytes: u64,
    /// A send waiting on a failing store is answered `STORE_UNAVAILABLE` after this.
    pub unavailable_after_ms: u64,
    /// fsync the WAL at every commit (survives power loss; slower).
    pub synchronous_full: bool,
    pub checkpoint_wal_bytes: u64,
    pub index_batch: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            cache_bytes: DEFAULT_STORE_CACHE_BYTES,
            mmap_bytes: DEFAULT_STORE_MMAP_BYTES,
            checkpoint_interval_ms: DEFAULT_CHECKPOINT_INTERVAL_MS,
            group_commit_max: DEFAULT_GROUP_COMMIT_MAX,
            group_commit_bytes: DEFAULT_GROUP_COMMIT_BYTES,
            idempotency_keys: DEFAULT_IDEMPOTENCY_KEYS,
            idempotency_ttl_ms: DEFAULT_IDEMPOTENCY_TTL_MS,
            max_page: DEFAULT_MAX_PAGE,
            meta_debounce_ms: DEFAULT_META_DEBOUNCE_MS,
            meta_max_pending: DEFAULT_META_MAX_PENDING,
            pending_max_bytes: DEFAULT_PENDING_MAX_BYTES,
            max_db_bytes: DEFAULT_MAX_DB_BYTES,
            unavailable_after_ms: DEFAULT_STORE_UNAVAILABLE_AFTER_MS,
            synchronous_full: false,
            checkpoint_wal_bytes: DEFAULT_CHECKPOINT_WAL_BYTES,
            index_batch: DEFAULT_INDEX_BATCH,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub bind: String,
    /// TCP port; 0 picks a free one (printed at start).
    pub port: u16,
    /// Where the token file, database and logs live.
    pub data_dir: PathBuf,
    /// How long clients get to read `shutdown` before the process exits.
    pub shutdown_grace_ms: u64,
    /// How long a closing connection waits for the peer's close frame.
    pub close_linger_ms: u64,
    /// Browser origins (`scheme://host[:port]`) allowed to open a WebSocket
    /// besides the gateway's own host; `"*"` allows any (not advised).
    pub allowed_origins: Vec<String>,
    /// Names (besides the bind address and `localhost`) browsers may use in
    /// `Host` to reach the gateway, e.g. `pi.lan`; anything else with an
    /// `Origin` is refused (DNS rebinding).
    pub hostnames: Vec<String>,
    /// How a phone reaches this gateway (`https://pi.example:18789`): the
    /// base of approval links in notifications. Its host is accepted in
    /// `Host` like `hostnames`. TLS is advised: a link is a capability.
    pub public_url: Option<String>,
}

#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct AuthConfig {
    /// Shared token; when neither token nor password is set one is generated
    /// into `<dataDir>/token` (mode 0600).
    pub token: Option<String>,
    /// Shared password, accepted as `auth.password` on connect.
    pub password: Option<String>,
    pub max_failures: u32,
    pub failure_window_ms: u64,
    pub tracked_addresses: usize,
    /// Failures from all addresses in one window before all are throttled.
    pub global_max_failures: u32,
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("max_failures", &self.max_failures)
            .field("failure_window_ms", &self.failure_window_ms)
            .field("tracked_addresses", &self.tracked_addresses)
            .field("global_max_failures", &self.global_max_failures)
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ConnectionsConfig {
    pub max_connections: usize,
    pub max_per_address: usize,
    pub max_per_client_id: usize,
    pub max_unauthenticated: usize,
    pub max_unauthenticated_per_address: usize,
    pub handshake_timeout_ms: u64,
    /// From accept to a complete HTTP request head.
    pub http_head_timeout_ms: u64,
    pub idle_timeout_ms: u64,
    pub accept_budget: usize,
    /// Authenticated operator connections; null: `maxConnections`.
    pub max_operators: Option<usize>,
    /// Authenticated node connections; null: `maxConnections`.
    pub max_nodes: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct WebSocketConfig {
    pub pre_auth_max_payload: usize,
    pub max_payload: usize,
    pub max_buffered_bytes: usize,
    pub max_http_head_bytes: usize,
    pub read_buffer_bytes: usize,
    pub read_budget: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct EventsConfig {
    pub tick_interval_ms: u64,
    /// `chat` events carry at most this many bytes of the text, plus
    /// `truncated: true` (the full text via `chat.history`): no writer can
    /// push a reader past its outbound cap.
    pub chat_preview_bytes: usize,
    /// Longest `chat.send` / `chat.inject` message accepted.
    pub chat_max_message_bytes: usize,
    pub batch_max_events: usize,
    pub batch_delay_ms: u64,
    pub presence_debounce_ms: u64,
    pub presence_max_entries: usize,
    /// New messages in a session produce one `sessions.changed` per window.
    pub sessions_changed_debounce_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct LogConfig {
    /// error, warn, info, debug or trace.
    pub level: String,
    /// Also log to `<dataDir>/clawgate.log` (buffered, rotated).
    pub file: bool,
    pub max_file_bytes: u64,
    pub max_files: usize,
    pub buffer_lines: usize,
    pub flush_interval_ms: u64,
}

/// `wss://` (`src/net/tls.rs`, cargo feature `tls`). With both paths set the
/// listener speaks only TLS; `clawgate tls generate` makes a self-signed pair.
/// The files are read at start and again on SIGHUP (certificate renewal).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert_path: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_path: Option<PathBuf>,
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        self.cert_path.is_some() && self.key_path.is_some()
    }
}

/// Default hold of a hook waiting for a person: under Claude Code's 60 s
/// default hook timeout, so the deny arrives before Claude Code gives up.
pub const DEFAULT_AGENTS_HOLD_TIMEOUT_MS: u64 = 50_000;
/// Default largest hook body (a `Write` of a large file is cut by the coach's
/// `maxInputBytes` anyway; the rest is only audited).
pub const DEFAULT_AGENTS_MAX_BODY_BYTES: usize = 256 * 1024;

/// Approvals on a phone (`src/notify/`): channels notified when an
/// approval is raised, with signed single-use links.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct NotifyConfig {
    pub channels: Vec<NotifyChannel>,
    /// Notifications waiting to be sent (all channels); the oldest go past it.
    pub max_queue: usize,
    /// Connect + send + answer, per POST.
    pub timeout_ms: u64,
    /// Consecutive failures that open a channel's circuit.
    pub failure_threshold: u32,
    /// How long a channel's circuit stays open.
    pub open_ms: u64,
}

/// Largest notification request counted in the worst case (a command is
/// cut to 300 characters in the text; the webhook carries it whole, up to
/// the coach's input cap, and the links).
pub const NOTIFY_REQUEST_BYTES: usize = 8 * 1024;

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            channels: Vec::new(),
            max_queue: 64,
            timeout_ms: 5_000,
            failure_threshold: 3,
            open_ms: 30_000,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NotifyKind {
    /// ntfy's JSON publish (POST to the server root; topic in the body).
    Ntfy,
    /// A generic JSON webhook.
    Webhook,
}

#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NotifyChannel {
    /// Named in audit rows when a link from this channel decides.
    pub name: String,
    pub kind: NotifyKind,
    /// `http://host[:port][/path]` (ntfy: the server root).
    pub url: String,
    /// ntfy topic (required for ntfy).
    #[serde(default)]
    pub topic: Option<String>,
    /// Sent as `Authorization: Bearer …` (ntfy access token, webhook secret).
    #[serde(default)]
    pub token: Option<String>,
    /// ntfy priority 1..=5.
    #[serde(default = "default_ntfy_priority")]
    pub priority: u8,
    /// Offer "Allow always" as a button too (off: a phone tap should not
    /// allow a command for good).
    #[serde(default)]
    pub allow_always_button: bool,
}

fn default_ntfy_priority() -> u8 {
    4
}

impl fmt::Debug for NotifyChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifyChannel")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("topic", &self.topic)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Agents plugging in (`src/agent/`, `POST /hooks/claude-code`, `agent.*`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct AgentsConfig {
    /// `approve` holds the hook until a person decides (console, phone,
    /// terminal) instead of answering `ask` (Claude Code asks locally).
    pub remote_approval: bool,
    /// Longest hold of a hook or `agent.check` waiting for a person; no
    /// decision by then answers `deny`. Keep it under the hook's `timeout`.
    pub hold_timeout_ms: u64,
    /// Largest request body on the gateway port (hooks); over it: 413.
    pub max_body_bytes: usize,
}

impl Default for AgentsConfig {
    fn default() -> Self {
        AgentsConfig {
            remote_approval: false,
            hold_timeout_ms: DEFAULT_AGENTS_HOLD_TIMEOUT_MS,
            max_body_bytes: DEFAULT_AGENTS_MAX_BODY_BYTES,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct TestingConfig {
    /// Enables `debug.*` methods (broadcast generator for benchmarks and tests).
    /// Never on in a default or example config.
    pub enable_test_methods: bool,
    /// WebSocket echo server instead of the gateway protocol: every upgraded
    /// connection echoes its messages (Autobahn|Testsuite conformance runs).
    pub echo: bool,
    /// With `enableTestMethods`: each coach job waits this long first, so
    /// tests can drive the per-task timeout and pool saturation for real.
    pub coach_delay_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: DEFAULT_BIND.into(),
            port: DEFAULT_PORT,
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            shutdown_grace_ms: DEFAULT_SHUTDOWN_GRACE_MS,
            close_linger_ms: DEFAULT_CLOSE_LINGER_MS,
            allowed_origins: Vec::new(),
            hostnames: Vec::new(),
            public_url: None,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            token: None,
            password: None,
            max_failures: DEFAULT_AUTH_MAX_FAILURES,
            failure_window_ms: DEFAULT_AUTH_FAILURE_WINDOW_MS,
            tracked_addresses: DEFAULT_AUTH_TRACKED_ADDRESSES,
            global_max_failures: DEFAULT_AUTH_GLOBAL_MAX_FAILURES,
        }
    }
}

impl Default for ConnectionsConfig {
    fn default() -> Self {
        ConnectionsConfig {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_per_address: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
            max_per_client_id: DEFAULT_MAX_CONNECTIONS_PER_CLIENT_ID,
            max_unauthenticated: DEFAULT_MAX_UNAUTHENTICATED,
            max_unauthenticated_per_address: DEFAULT_MAX_UNAUTHENTICATED_PER_ADDRESS,
            handshake_timeout_ms: DEFAULT_HANDSHAKE_TIMEOUT_MS,
            http_head_timeout_ms: DEFAULT_HTTP_HEAD_TIMEOUT_MS,
            idle_timeout_ms: DEFAULT_IDLE_TIMEOUT_MS,
            accept_budget: DEFAULT_ACCEPT_BUDGET,
            max_operators: None,
            max_nodes: None,
        }
    }
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        WebSocketConfig {
            pre_auth_max_payload: DEFAULT_PRE_AUTH_MAX_PAYLOAD,
            max_payload: DEFAULT_MAX_PAYLOAD,
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
            max_http_head_bytes: DEFAULT_MAX_HTTP_HEAD_BYTES,
            read_buffer_bytes: DEFAULT_READ_BUFFER_BYTES,
            read_budget: DEFAULT_READ_BUDGET,
        }
    }
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            tick_interval_ms: DEFAULT_TICK_INTERVAL_MS,
            batch_max_events: DEFAULT_BATCH_MAX_EVENTS,
            chat_preview_bytes: DEFAULT_CHAT_PREVIEW_BYTES,
            chat_max_message_bytes: DEFAULT_CHAT_MAX_MESSAGE_BYTES,
            batch_delay_ms: DEFAULT_BATCH_DELAY_MS,
            presence_debounce_ms: DEFAULT_PRESENCE_DEBOUNCE_MS,
            presence_max_entries: DEFAULT_PRESENCE_MAX_ENTRIES,
            sessions_changed_debounce_ms: 250,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            file: true,
            max_file_bytes: DEFAULT_LOG_MAX_FILE_BYTES,
            max_files: DEFAULT_LOG_MAX_FILES,
            buffer_lines: DEFAULT_LOG_BUFFER_LINES,
            flush_interval_ms: DEFAULT_LOG_FLUSH_INTERVAL_MS,
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug)]
pub enum ConfigError {
    Read {
        path: PathBuf,
        err: std::io::Error,
    },
    /// Malformed JSON, an unknown key or a wrong type; `key` is the dotted path.
    Parse {
        path: PathBuf,
        key: String,
        msg: String,
    },
    /// Well-formed but out of range.
    Invalid {
        source: String,
        key: &'static str,
        msg: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, err } => {
                write!(f, "config {}: cannot read: {err}", path.display())
            }
            ConfigError::Parse { path, key, msg } if key.is_empty() || key == "." => {
                write!(f, "config {}: {msg}", path.display())
            }
            ConfigError::Parse { path, key, msg } => {
                write!(f, "config {}: key `{key}`: {msg}", path.display())
            }
            ConfigError::Invalid { source, key, msg } => {
                write!(f, "config {source}: key `{key}`: {msg}")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// The key path (`connections.maxConnections`, `exec.allowlist[0].command`)
/// of the value being read at `line`:`column` (1-based, where serde_json
/// stopped), found by walking the JSON text up to there. It names the key in
/// an error without a path-tracking deserializer (serde_path_to_error was
/// 114 KB of the aarch64 binary, for the config's error messages alone).
fn key_path_at(text: &str, line: usize, column: usize) -> String {
    enum Frame {
        Object {
            key: Option<String>,
            expecting_key: bool,
        },
        Array {
            index: usize,
        },
    }
    let offset = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum::<usize>()
        .saturating_add(column)
        .min(text.len());
    let b = text.as_bytes();
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < offset {
        match b[i] {
            b'{' => stack.push(Frame::Object {
                key: None,
                expecting_key: true,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object { expecting_key, .. }) => *expecting_key = true,
                Some(Frame::Array { index }) => *index += 1,
                None => {}
            },
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                if let Some(Frame::Object { key, expecting_key }) = stack.last_mut() {
                    if *expecting_key {
                        *key = Some(text[start..i.min(text.len())].to_string());
                        *expecting_key = false;
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    let mut path = String::new();
    for f in &stack {
        match f {
            Frame::Object { key: Some(k), .. } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
            }
            Frame::Object { key: None, .. } => {}
            Frame::Array { index } => path.push_str(&format!("[{index}]")),
        }
    }
    path
}

impl Config {
    /// Reads and validates a config file. Missing keys take their defaults.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|err| ConfigError::Read {
            path: path.to_path_buf(),
            err,
        })?;
        Config::from_json(&text, path)
    }

    /// Parses `text` as if read from `path` (the path only names the source in
    /// errors). Whole-line `//` comments are allowed, so an example config can
    /// explain itself; they become empty lines, keeping line numbers right.
    pub fn from_json(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let text = strip_line_comments(text);
        let de = &mut serde_json::Deserializer::from_str(&text);
        let parse_error = |key: String, inner: serde_json::Error| {
            // A syntax error has no key to name (serde_path_to_error would
            // say `?`); its line and column say where.
            let key = if inner.is_syntax() || inner.is_eof() {
                String::new()
            } else {
                key
            };
            ConfigError::Parse {
                path: path.to_path_buf(),
                key,
                msg: describe_serde_error(&inner),
            }
        };
        let cfg: Config = serde::Deserialize::deserialize(&mut *de).map_err(|e| {
            let key = key_path_at(&text, e.line(), e.column());
            parse_error(key, e)
        })?;
        // Anything but white space after the object is an error, not ignored.
        de.end().map_err(|e| parse_error(String::new(), e))?;
        cfg.validate(&path.display().to_string())?;
        Ok(cfg)
    }

    /// Range checks the type system cannot express.
    pub fn validate(&self, source: &str) -> Result<(), ConfigError> {
        let bad = |key: &'static str, msg: &str| {
            Err(ConfigError::Invalid {
                source: source.to_string(),
                key,
                msg: msg.to_string(),
            })
        };
        if self.server.bind.parse::<IpAddr>().is_err() {
            return bad("server.bind", "expected an IP address such as 127.0.0.1");
        }
        match (&self.tls.cert_path, &self.tls.key_path) {
            (Some(_), None) => return bad("tls.keyPath", "expected with tls.certPath"),
            (None, Some(_)) => return bad("tls.certPath", "expected with tls.keyPath"),
            (Some(_), Some(_)) if !crate::net::tls::BUILT => {
                return bad(
                    "tls",
                    "this clawgate was built without TLS; rebuild with `--features tls` (make cross FEATURES=tls) or remove the tls section",
                )
            }
            _ => {}
        }
        let e = &self.exec;
        if e.safe_path.is_empty() || e.safe_path.split(':').any(|d| !d.starts_with('/')) {
            return bad(
                "exec.safePath",
                "expected absolute directories joined by ':' (such as /usr/bin:/bin)",
            );
        }
        if e.shell.is_empty() {
            return bad("exec.shell", "expected a shell path such as /bin/sh");
        }
        if e.watch_interval_ms < 10 {
            return bad("exec.watchIntervalMs", "expected at least 10");
        }
        if e.max_processes == 0 || e.max_processes > 4096 {
            return bad("exec.maxProcesses", "expected 1..=4096");
        }
        if !(60_000..=10_800_000).contains(&e.finished_ttl_ms) {
            return bad(
                "exec.finishedTtlMs",
                "expected 60000..=10800000 (1 min to 3 h)",
            );
        }
        if e.default_timeout_ms == 0 || e.default_timeout_ms > e.max_timeout_ms {
            return bad("exec.defaultTimeoutMs", "expected 1..=exec.maxTimeoutMs");
        }
        if e.default_yield_ms > e.max_yield_ms {
            return bad("exec.defaultYieldMs", "expected at most exec.maxYieldMs");
        }
        if e.max_output_bytes < 1024 || e.max_output_bytes > 64 * 1024 * 1024 {
            return bad("exec.maxOutputBytes", "expected 1024..=67108864");
        }
        if e.read_chunk_bytes < 512 || e.read_chunk_bytes > 1024 * 1024 || e.read_budget == 0 {
            return bad(
                "exec.readChunkBytes",
                "expected 512..=1048576 (and exec.readBudget at least 1)",
            );
        }
        if e.max_command_bytes == 0
            || e.max_pending_approvals == 0
            || e.max_pending_approvals_per_session == 0
            || e.max_pending_approvals_per_identity == 0
        {
            return bad("exec.maxPendingApprovals", "exec.maxCommandBytes, maxPendingApprovals, maxPendingApprovalsPerSession and maxPendingApprovalsPerIdentity must be at least 1");
        }
        if e.max_approval_waiters == 0 || e.max_approval_waiters > 1024 {
            return bad("exec.maxApprovalWaiters", "expected 1..=1024");
        }
        let n = &self.notify;
        if let Some(u) = &self.server.public_url {
            if !(u.starts_with("http://") || u.starts_with("https://")) || u.len() > 512 {
                return bad(
                    "server.publicUrl",
                    "expected http(s)://host[:port] (https advised)",
                );
            }
        }
        if !n.channels.is_empty() && self.server.public_url.is_none() {
            return bad(
                "server.publicUrl",
                "required with notify.channels: the links in a notification must reach this gateway",
            );
        }
        if n.channels.len() > 8 || n.max_queue == 0 || n.max_queue > 10_000 {
            return bad(
                "notify",
                "expected at most 8 channels and maxQueue 1..=10000",
            );
        }
        if n.timeout_ms < 100 || n.timeout_ms > 60_000 {
            return bad("notify.timeoutMs", "expected 100..=60000");
        }
        for ch in &n.channels {
            if let Err(msg) = crate::forward::Endpoint::parse(&ch.url) {
                return Err(ConfigError::Invalid {
                    source: source.to_string(),
                    key: "notify.channels[].url",
                    msg,
                });
            }
            if ch.name.is_empty() || ch.name.len() > 64 {
                return bad("notify.channels[].name", "expected 1..=64 characters");
            }
            if ch.kind == NotifyKind::Ntfy && ch.topic.as_deref().is_none_or(str::is_empty) {
                return bad("notify.channels[].topic", "required for an ntfy channel");
            }
            if !(1..=5).contains(&ch.priority) {
                return bad("notify.channels[].priority", "expected 1..=5");
            }
        }
        let a = &self.agents;
        if a.hold_timeout_ms < 100 || a.hold_timeout_ms > e.max_approval_timeout_ms {
            return bad(
                "agents.holdTimeoutMs",
                "expected 100..=exec.maxApprovalTimeoutMs",
            );
        }
        if a.max_body_bytes < 1024 || a.max_body_bytes > 16 * 1024 * 1024 {
            return bad("agents.maxBodyBytes", "expected 1024..=16777216");
        }
        if e.approval_timeout_ms < 100 || e.approval_timeout_ms > e.max_approval_timeout_ms {
            return bad(
                "exec.approvalTimeoutMs",
                "expected 100..=exec.maxApprovalTimeoutMs",
            );
        }
        if let Err(msg) = crate::exec::allow::Allowlist::new(&e.allowlist) {
            return Err(ConfigError::Invalid {
                source: source.to_string(),
                key: "exec.allowlist",
                msg,
            });
        }
        let k = &self.coach;
        if k.max_input_bytes < 256 || k.max_input_bytes > 16 * 1024 * 1024 {
            return bad("coach.maxInputBytes", "expected 256..=16777216");
        }
        if k.task_timeout_ms < 10 {
            return bad("coach.taskTimeoutMs", "expected at least 10");
        }
        if k.alert_timeout_ms < 100 {
            return bad("coach.alertTimeoutMs", "expected at least 100");
        }
        if k.max_in_flight == 0 || k.max_pending_alerts == 0 || k.max_pending_per_session == 0 {
            return bad(
                "coach.maxInFlight",
                "coach.maxInFlight, maxPendingAlerts and maxPendingPerSession must be at least 1",
            );
        }
        if k.dfa_cache_bytes < crate::coach::MIN_DFA_CACHE_BYTES {
            return bad("coach.dfaCacheBytes", "expected at least 262144");
        }
        if k.audit_buffer == 0 || k.audit_input_chars == 0 {
            return bad(
                "coach.auditBuffer",
                "coach.auditBuffer and auditInputChars must be at least 1",
            );
        }
        let c = &self.connections;
        if c.max_connections == 0 || c.max_connections > 65_536 {
            return bad("connections.maxConnections", "expected 1..=65536");
        }
        if c.max_unauthenticated == 0 || c.max_unauthenticated > 65_536 {
            return bad("connections.maxUnauthenticated", "expected 1..=65536");
        }
        if c.max_per_address == 0 {
            return bad("connections.maxPerAddress", "expected at least 1");
        }
        if c.max_per_client_id == 0 {
            return bad("connections.maxPerClientId", "expected at least 1");
        }
        if c.max_unauthenticated_per_address == 0 {
            return bad(
                "connections.maxUnauthenticatedPerAddress",
                "expected at least 1",
            );
        }
        if c.http_head_timeout_ms < 10 {
            return bad("connections.httpHeadTimeoutMs", "expected at least 10");
        }
        if c.handshake_timeout_ms < 10 {
            return bad("connections.handshakeTimeoutMs", "expected at least 10");
        }
        if c.idle_timeout_ms < 10 {
            return bad("connections.idleTimeoutMs", "expected at least 10");
        }
        if c.accept_budget == 0 {
            return bad("connections.acceptBudget", "expected at least 1");
        }
        let w = &self.websocket;
        if w.pre_auth_max_payload < 1024 {
            return bad("websocket.preAuthMaxPayload", "expected at least 1024");
        }
        if w.max_payload < w.pre_auth_max_payload {
            return bad(
                "websocket.maxPayload",
                "expected at least websocket.preAuthMaxPayload",
            );
        }
        if w.max_buffered_bytes < 4096 {
            return bad("websocket.maxBufferedBytes", "expected at least 4096");
        }
        if w.max_http_head_bytes < 512 {
            return bad("websocket.maxHttpHeadBytes", "expected at least 512");
        }
        if w.read_buffer_bytes < 512 {
            return bad("websocket.readBufferBytes", "expected at least 512");
        }
        if w.read_budget == 0 {
            return bad("websocket.readBudget", "expected at least 1");
        }
        let e = &self.events;
        if e.tick_interval_ms < 10 {
            return bad("events.tickIntervalMs", "expected at least 10");
        }
        if e.chat_preview_bytes < 64 {
            return bad("events.chatPreviewBytes", "expected at least 64");
        }
        if e.chat_max_message_bytes == 0 {
            return bad("events.chatMaxMessageBytes", "expected at least 1");
        }
        if e.batch_max_events == 0 {
            return bad("events.batchMaxEvents", "expected at least 1");
        }
        if self.auth.tracked_addresses == 0 {
            return bad("auth.trackedAddresses", "expected at least 1");
        }
        if self.auth.max_failures == 0 {
            return bad("auth.maxFailures", "expected at least 1");
        }
        if matches!(&self.auth.token, Some(t) if t.is_empty()) {
            return bad("auth.token", "expected a non-empty string or null");
        }
        if matches!(&self.auth.password, Some(t) if t.is_empty()) {
            return bad("auth.password", "expected a non-empty string or null");
        }
        if matches!(&self.auth.password, Some(t) if t.chars().count() < MIN_PASSWORD_CHARS) {
            return bad(
                "auth.password",
                "too short: use at least 16 characters (or a token; `openssl rand -hex 24` makes one)",
            );
        }
        if self.auth.global_max_failures < self.auth.max_failures {
            return bad(
                "auth.globalMaxFailures",
                "expected at least auth.maxFailures",
            );
        }
        let st = &self.store;
        if st.cache_bytes < 64 * 1024 {
            return bad("store.cacheBytes", "expected at least 65536");
        }
        if st.checkpoint_interval_ms < 1000 {
            return bad("store.checkpointIntervalMs", "expected at least 1000");
        }
        if st.group_commit_max == 0 {
            return bad("store.groupCommitMax", "expected at least 1");
        }
        if !(1..=65_536).contains(&st.index_batch) {
            return bad("store.indexBatch", "expected 1 to 65536");
        }
        if st.group_commit_bytes < 1024 {
            return bad("store.groupCommitBytes", "expected at least 1024");
        }
        if st.idempotency_keys == 0 {
            return bad("store.idempotencyKeys", "expected at least 1");
        }
        if st.pending_max_bytes < st.group_commit_bytes {
            return bad(
                "store.pendingMaxBytes",
                "expected at least store.groupCommitBytes",
            );
        }
        if st.unavailable_after_ms < 10 {
            return bad("store.unavailableAfterMs", "expected at least 10");
        }
        if st.max_db_bytes < 64 * 1024 {
            return bad("store.maxDbBytes", "expected at least 65536");
        }
        if st.meta_max_pending == 0 {
            return bad("store.metaMaxPending", "expected at least 1");
        }
        if st.max_page == 0 || st.max_page > 100_000 {
            return bad("store.maxPage", "expected 1..=100000");
        }
        if self.metrics.window_ms < 10 {
            return bad("metrics.windowMs", "expected at least 10");
        }
        if self.metrics.windows == 0 || self.metrics.windows > 10_000 {
            return bad("metrics.windows", "expected 1..=10000");
        }
        let m = &self.memory;
        if m.budget_bytes < 1024 * 1024 {
            return bad("memory.budgetBytes", "expected at least 1048576 (1 MiB)");
        }
        if m.check_interval_ms < 10 {
            return bad("memory.checkIntervalMs", "expected at least 10");
        }
        if !(m.warn_percent > 0.0
            && m.warn_percent <= m.report_percent
            && m.report_percent <= 1000.0)
        {
            return bad(
                "memory.warnPercent",
                "expected 0 < memory.warnPercent <= memory.reportPercent <= 1000",
            );
        }
        if m.max_reports == 0 {
            return bad("memory.maxReports", "expected at least 1");
        }
        let ca = &self.cache;
        if ca.entries == 0 || ca.max_bytes < 4096 {
            return bad(
                "cache.entries",
                "cache.entries must be at least 1 and cache.maxBytes at least 4096",
            );
        }
        let r = &self.rate_limits;
        if r.connections_per_minute == 0 || r.requests_per_second == 0 || r.request_burst == 0 {
            return bad(
                "rateLimits.connectionsPerMinute",
                "rateLimits.connectionsPerMinute, requestsPerSecond and requestBurst must be at least 1",
            );
        }
        if r.tracked_addresses == 0 {
            return bad("rateLimits.trackedAddresses", "expected at least 1");
        }
        if self.metrics.lag_window_ms < 100 {
            return bad("metrics.lagWindowMs", "expected at least 100");
        }
        for o in &self.server.allowed_origins {
            if o != "*" && !(o.starts_with("http://") || o.starts_with("https://")) {
                return bad(
                    "server.allowedOrigins",
                    "expected origins such as https://dash.example or \"*\"",
                );
            }
        }
        let f = &self.audit_forward;
        if let Some(url) = &f.url {
            if let Err(msg) = crate::forward::Endpoint::parse(url) {
                return Err(ConfigError::Invalid {
                    source: source.to_string(),
                    key: "auditForward.url",
                    msg,
                });
            }
        }
        if f.batch_size == 0 || f.max_queue < f.batch_size {
            return bad(
                "auditForward.maxQueue",
                "expected auditForward.batchSize >= 1 and maxQueue >= batchSize",
            );
        }
        if f.timeout_ms < 10 || f.flush_interval_ms < 10 || f.failure_threshold == 0 {
            return bad(
                "auditForward.timeoutMs",
                "auditForward.timeoutMs and flushIntervalMs must be at least 10, failureThreshold at least 1",
            );
        }
        if self.log.max_file_bytes < 4096 {
            return bad("log.maxFileBytes", "expected at least 4096");
        }
        if self.log.buffer_lines == 0 {
            return bad("log.bufferLines", "expected at least 1");
        }
        if self.log.flush_interval_ms < 10 {
            return bad("log.flushIntervalMs", "expected at least 10");
        }
        if log_level(&self.log.level).is_none() {
            return bad(
                "log.level",
                "expected one of error, warn, info, debug, trace",
            );
        }
        Ok(())
    }

    /// The effective config as JSON with secrets replaced, for `--check-config`
    /// and `config.get`.
    pub fn redacted_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        for (section, key) in [
            ("auth", "token"),
            ("auth", "password"),
            ("auditForward", "token"),
        ] {
            if let Some(slot) = v.get_mut(section).and_then(|a| a.get_mut(key)) {
                if !slot.is_null() {
                    *slot = serde_json::Value::String("<redacted>".into());
                }
            }
        }
        if let Some(chs) = v
            .get_mut("notify")
            .and_then(|n| n.get_mut("channels"))
            .and_then(|c| c.as_array_mut())
        {
            for ch in chs {
                if let Some(t) = ch.get_mut("token").filter(|t| !t.is_null()) {
                    *t = serde_json::Value::String("<redacted>".into());
                }
            }
        }
        v
    }

    /// Upper bound on resident memory the limits allow; see [`MemoryBudget`].
    pub fn worst_case_memory(&self) -> MemoryBudget {
        MemoryBudget::from_config(self)
    }
}

/// Blanks lines whose first non-blank characters are `//`. JSON strings cannot
/// span lines, so such a line is never inside a string.
fn strip_line_comments(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.lines().any(|l| l.trim_start().starts_with("//")) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with("//") {
            if line.ends_with('\n') {
                out.push('\n');
            }
        } else {
            out.push_str(line);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Turns serde's messages into the wording users read: JSON's kinds of
/// value ("a number", "a string", "an object"), never Rust's type names.
fn describe_serde_error(e: &serde_json::Error) -> String {
    // serde_json appends " at line L column C"; keep it, it helps find the key.
    let mut msg = e.to_string();
    const WORDS: &[(&str, &str)] = &[
        ("invalid type: ", "wrong type: got "),
        ("invalid value: ", "wrong value: got "),
        ("unknown field", "unknown key"),
        (
            "trailing characters",
            "unexpected content after the JSON object",
        ),
        ("got integer `", "got the number `"),
        ("got floating point `", "got the number `"),
        ("got string ", "got the string "),
        ("got map", "got an object"),
        ("got sequence", "got an array"),
        ("got boolean `", "got `"),
        ("got unit value", "got null"),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected an object"),
        ("expected a boolean", "expected true or false"),
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
        ("expected a borrowed string", "expected a string"),
    ];
    for (from, to) in WORDS {
        if msg.contains(from) {
            msg = msg.replace(from, to);
        }
    }
    // "expected u16", "expected usize", "expected struct Foo", "expected
    // an integer between ...": JSON's words.
    for (prefix, word) in [
        ("expected u", "a whole number, 0 or more"),
        ("expected i", "a whole number"),
        ("expected struct ", "an object"),
    ] {
        if let Some(at) = msg.find(prefix) {
            let rest = &msg[at + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if end > 0 {
                msg = format!("{}expected {word}{}", &msg[..at], &rest[end..]);
            }
        }
    }
    msg
}

pub fn log_level(name: &str) -> Option<log::LevelFilter> {
    Some(match name {
        "error" => log::LevelFilter::Error,
        "warn" => log::LevelFilter::Warn,
        "info" => log::LevelFilter::Info,
        "debug" => log::LevelFilter::Debug,
        "trace" => log::LevelFilter::Trace,
        "off" => log::LevelFilter::Off,
        _ => return None,
    })
}

/// Fixed cost of the process before any connection: code, libc, allocator arenas,
/// the timer wheel and the tables (measured ~2.5 MB RSS at start on x86_64; the
/// figure here is rounded up).
pub const MEMORY_FIXED_BYTES: usize = 4 * 1024 * 1024;
/// Threads that may run coach checks: the workers plus the loop (inline).
fn coach_threads(c: &Config) -> usize {
    let workers = if c.workers.threads == 0 {
        crate::workers::default_threads()
    } else {
        c.workers.threads
    };
    if c.coach.offload {
        workers + 1
    } else {
        1
    }
}
/// Bookkeeping per connection slot outside the buffers: the `Conn` struct, its
/// presence entry, map entries and allocator slack.
pub const MEMORY_PER_CONN_OVERHEAD: usize = 2 * 1024;

/// Key, timestamps and map slack of one cached response.
pub const CACHE_ENTRY_OVERHEAD: usize = 256;
/// One remembered address in a rate or throttle table.
pub const RATE_ENTRY_BYTES: usize = 96;

/// Per coach check in flight (its capped inputs and verdict), and per
/// stored row (pending alert or audit row with its capped input).
pub fn coach_item_bytes(c: &Config) -> (usize, usize) {
    let k = &c.coach;
    (
        2 * k.max_input_bytes + 8 * 1024,
        2 * k.audit_input_chars * 4 + 4 * 1024,
    )
}

/// Upper bound of one queued audit event: an audit row's capped input and
/// detail, serialized.
pub fn forward_event_bytes(c: &Config) -> usize {
    coach_item_bytes(c).1
}

/// Worst-case memory derived from the limits. Each line is a product of a limit
/// and a per-item bound, so the same numbers serve `--check-config` and the live
/// accounting.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryBudget {
    pub fixed_bytes: usize,
    /// Per authenticated connection: read buffer, one frame being read and one
    /// message being assembled (each up to `maxPayload`), the outbound cap
    /// (counted twice: queued frames carry per-frame bookkeeping, up to the
    /// payload's size for the smallest frames) plus one message that may
    /// straddle it, and bookkeeping; with TLS, what rustls may hold.
    pub per_connection_bytes: usize,
    pub connections: usize,
    /// Per unauthenticated socket: the HTTP head, read buffer, one pre-auth frame
    /// and message, the challenge/hello output; with TLS, what rustls may hold.
    pub per_unauthenticated_bytes: usize,
    pub unauthenticated: usize,
    /// SQLite page cache, appends waiting for a commit (bound + one
    /// message), idempotency cache (keys x ~512 bytes).
    pub store_bytes: usize,
    /// Coach: checks in flight and pending alerts (inputs capped by
    /// `maxInputBytes`), the audit buffer, user rules, the compiled library.
    pub coach_bytes: usize,
    /// Exec: retained output of running and finished processes, stdin
    /// buffers, the read scratch, pending approvals and allow-always keys.
    pub exec_bytes: usize,
    /// The read-response cache (`cache.maxBytes` plus an entry's bookkeeping).
    pub cache_bytes: usize,
    /// Rate-limit and auth-throttle tables, and the lag histograms.
    pub limits_bytes: usize,
    /// Audit events waiting to be forwarded (`auditForward.maxQueue`) and
    /// one batch being sent.
    pub forward_bytes: usize,
    pub total_bytes: usize,
    /// What exec's children may use beside it (`exec.childrenMemoryBytes`);
    /// not in the total, which is the gateway's own.
    pub children_bytes: u64,
}

impl MemoryBudget {
    pub fn from_config(c: &Config) -> MemoryBudget {
        let w = &c.websocket;
        let tls = if c.tls.enabled() {
            crate::net::tls::PER_CONN_WORST_BYTES
        } else {
            0
        };
        let per_connection_bytes = w.read_buffer_bytes
            + 2 * w.max_payload
            + 2 * w.max_buffered_bytes
            + w.max_payload
            + tls
            + MEMORY_PER_CONN_OVERHEAD;
        // A hook's body is read into the head buffer (and copied out once).
        let per_unauthenticated_bytes = w.max_http_head_bytes
            + 2 * c.agents.max_body_bytes
            + w.read_buffer_bytes
            + 2 * w.pre_auth_max_payload
            + 16 * 1024
            + tls
            + MEMORY_PER_CONN_OVERHEAD;
        let connections = c.connections.max_connections;
        let unauthenticated = c.connections.max_unauthenticated;
        let store_bytes = c.store.cache_bytes
            + c.store.pending_max_bytes
            + w.max_payload
            + c.store.idempotency_keys * 512;
        // Coach: each check in flight holds its input (capped per field,
        // ~4 fields) and its verdict; each pending alert the same; audit rows
        // wait with their capped input; rules hold a compiled regex and its
        // lazy-DFA caches each.
        let k = &c.coach;
        let (per_check, per_stored) = coach_item_bytes(c);
        let coach_bytes = k.max_in_flight * per_check
            + k.max_pending_alerts * per_stored
            + k.audit_buffer * per_stored
            + k.max_rules
                * (crate::matcher::worst_case_bytes(crate::coach::rules::RULE_REGEX_SIZE_LIMIT)
                    + 512)
            + crate::coach::LIBRARY_BYTES
            + coach_threads(c) * crate::coach::dfa_cache_bytes_per_thread(k.dfa_cache_bytes);
        let e = &c.exec;
        let exec_bytes = (e.max_processes + e.max_finished) * (e.max_output_bytes + 4 * 1024)
            + e.max_processes * e.max_stdin_bytes
            + e.read_chunk_bytes
            + e.max_pending_approvals
                * (2 * e.max_command_bytes
                    + 8 * 1024
                    + e.max_approval_waiters * APPROVAL_WAITER_BYTES)
            + e.max_allow_always * (crate::exec::ALLOW_ALWAYS_MAX_KEY_BYTES + 64);
        let cache_bytes = c.cache.max_bytes + c.cache.entries * CACHE_ENTRY_OVERHEAD;
        // Per-address and per-`client.id` connection counts: an entry lives
        // only while a connection holds it (re-connect moves it), so each
        // table is bounded by the connection slots.
        let slots = c.connections.max_connections + c.connections.max_unauthenticated;
        // The per-`client.id` tables (connection count, chat byte rate).
        let conn_count_bytes = slots * RATE_ENTRY_BYTES
            + 2 * c.connections.max_connections
                * (RATE_ENTRY_BYTES + 4 * crate::protocol::handshake::MAX_CLIENT_FIELD_CHARS);
        let limits_bytes = (c.rate_limits.tracked_addresses + c.auth.tracked_addresses)
            * RATE_ENTRY_BYTES
            + conn_count_bytes
            + 4 * crate::observe::lag::BUCKETS * 4;
        let forward_bytes = if c.audit_forward.url.is_some() {
            (c.audit_forward.max_queue + c.audit_forward.batch_size) * forward_event_bytes(c)
        } else {
            0
        } + if c.notify.channels.is_empty() {
            0
        } else {
            // The queue plus the one in flight.
            (c.notify.max_queue + 1) * NOTIFY_REQUEST_BYTES
        };
        let total_bytes = MEMORY_FIXED_BYTES
            + connections * per_connection_bytes
            + unauthenticated * per_unauthenticated_bytes
            + store_bytes
            + coach_bytes
            + exec_bytes
            + cache_bytes
            + limits_bytes
            + forward_bytes;
        MemoryBudget {
            fixed_bytes: MEMORY_FIXED_BYTES,
            per_connection_bytes,
            connections,
            per_unauthenticated_bytes,
            unauthenticated,
            store_bytes,
            coach_bytes,
            exec_bytes,
            cache_bytes,
            limits_bytes,
            forward_bytes,
            total_bytes,
            children_bytes: e.children_memory_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_json(text, Path::new("/etc/clawgate.json"))
    }

    #[test]
    fn key_paths_name_where_an_error_stopped() {
        let t = r#"{"connections":{"maxConnections":"many"}}"#;
        assert_eq!(key_path_at(t, 1, 39), "connections.maxConnections");
        let t = "{\n  \"exec\": {\"allowlist\": [{\"command\": \"a\"}, {\"command\": 7}]}\n}";
        assert_eq!(key_path_at(t, 2, 55), "exec.allowlist[1].command");
        assert_eq!(key_path_at("{}", 1, 1), "");
    }

    #[test]
    fn test_empty_object_gives_defaults() {
        assert_eq!(parse("{}").unwrap(), Config::default());
        // A partial section fills the rest of that section with defaults.
        let c = parse(r#"{"auth":{"token":"t"},"connections":{"maxConnections":3}}"#).unwrap();
        assert_eq!(c.auth.max_failures, DEFAULT_AUTH_MAX_FAILURES);
        assert_eq!(c.connections.idle_timeout_ms, DEFAULT_IDLE_TIMEOUT_MS);
    }

    /// Any password length used to be accepted; under 16 characters is now
    /// refused at start, naming the key and the fix.
    #[test]
    fn test_short_password_is_refused() {
        let err = parse(r#"{"auth":{"password":"hunter2hunter2"}}"#).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("auth.password") && msg.contains("16"), "{msg}");
        assert!(parse(r#"{"auth":{"password":"correct horse battery"}}"#).is_ok());
    }

    #[test]
    fn test_line_comments_are_allowed_and_keep_line_numbers() {
        let text = "// a comment\n{\n  // the port\n  \"server\": {\"port\": 1}\n}\n";
        assert_eq!(parse(text).unwrap().server.port, 1);
        let bad = "// c\n// c\n{\"server\": {\"port\": \"x\"}}";
        let err = parse(bad).unwrap_err().to_string();
        assert!(err.contains("line 3"), "{err}");
        // `//` inside a string value is data, not a comment.
        let url = r#"{"server":{"bind":"127.0.0.1","dataDir":"//srv/x"}}"#;
        assert_eq!(
            parse(url).unwrap().server.data_dir,
            PathBuf::from("//srv/x")
        );
    }

    #[test]
    fn test_unknown_key_names_path_and_file() {
        let err = parse(r#"{"connections":{"maxConectons":3}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("/etc/clawgate.json"), "{err}");
        assert!(err.contains("maxConectons"), "{err}");
        assert!(err.contains("maxConnections"), "lists known keys: {err}");
    }

    #[test]
    fn test_wrong_type_names_key_and_expected_type() {
        let err = parse(r#"{"connections":{"maxConnections":"many"}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`connections.maxConnections`"), "{err}");
        assert!(err.contains("expected a whole number"), "{err}");
        assert!(err.contains("got the string \"many\""), "{err}");
        assert!(!err.contains("usize"), "{err}");
        let err = parse(r#"{"server":true}"#).unwrap_err().to_string();
        assert!(err.contains("expected an object"), "{err}");
        assert!(err.contains("got `true`"), "{err}");
        let err = parse(r#"{"server":{"bind":1}}"#).unwrap_err().to_string();
        assert!(err.contains("expected a string"), "{err}");
        assert!(err.contains("got the number `1`"), "{err}");
    }

    #[test]
    fn test_syntax_errors_name_line_and_column_without_a_key() {
        let err = parse("{\n  \"server\": {\"port\": 1,}\n}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2 column"), "{err}");
        assert!(!err.contains('?') && !err.contains("key `"), "{err}");
    }

    #[test]
    fn test_trailing_content_after_the_object_is_an_error() {
        let err = parse("{\"server\": {\"port\": 1}}\n{\"server\": {}}\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unexpected content after the JSON object"),
            "{err}"
        );
        assert!(err.contains("line 2 column 1"), "{err}");
        let err = parse("{} trailing").unwrap_err().to_string();
        assert!(err.contains("unexpected content"), "{err}");
        // White space and whole-line comments after it are fine.
        assert!(parse("{}\n\n// end\n").is_ok());
    }

    #[test]
    fn test_the_default_worst_case_is_under_the_warning_level() {
        // `--check-config` warns when the worst case passes warnPercent of
        // the budget; the embedded default must not warn about itself.
        let cfg = Config::default();
        let worst = cfg.worst_case_memory().total_bytes as f64;
        let warn_at = cfg.memory.budget_bytes as f64 * cfg.memory.warn_percent / 100.0;
        assert!(worst < warn_at, "worst case {worst} passes {warn_at}");
    }

    #[test]
    fn test_out_of_range_refused() {
        let err = parse(r#"{"connections":{"maxConnections":0}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("connections.maxConnections"), "{err}");
        let err = parse(r#"{"server":{"bind":"localhost:1"}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.bind"), "{err}");
        let err = parse(r#"{"store":{"indexBatch":0}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("store.indexBatch") && err.contains("1 to 65536"),
            "{err}"
        );
    }

    #[test]
    fn test_redaction_hides_secrets() {
        let mut c = Config::default();
        c.auth.token = Some("s3cret".into());
        let text = c.redacted_json().to_string();
        assert!(!text.contains("s3cret"));
        assert!(format!("{c:?}").contains("<redacted>"));
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn test_worst_case_grows_with_limits() {
        let mut c = Config::default();
        let base = c.worst_case_memory().total_bytes;
        c.connections.max_connections *= 2;
        assert!(c.worst_case_memory().total_bytes > base);
    }
}

/// Where the effective config comes from: an optional file plus command-line
/// overrides. Kept so SIGHUP can rebuild the config from the same sources.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    pub path: Option<PathBuf>,
    pub bind: Option<String>,
    pub port: Option<u16>,
    pub data_dir: Option<PathBuf>,
    /// `--token`, or `CLAWGATE_TOKEN` from the environment.
    pub token: Option<String>,
    pub log_level: Option<String>,
}

impl ConfigSource {
    /// File (or the embedded defaults), then flags, then validation.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let mut cfg = match &self.path {
            Some(p) => Config::from_file(p)?,
            None => Config::default(),
        };
        if let Some(b) = &self.bind {
            cfg.server.bind = b.clone();
        }
        if let Some(p) = self.port {
            cfg.server.port = p;
        }
        if let Some(d) = &self.data_dir {
            cfg.server.data_dir = d.clone();
        }
        if let Some(t) = &self.token {
            cfg.auth.token = Some(t.clone());
        }
        if let Some(l) = &self.log_level {
            cfg.log.level = l.clone();
        }
        cfg.validate("command line")?;
        Ok(cfg)
    }
}
