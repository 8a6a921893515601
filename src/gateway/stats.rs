//! Counters of the gateway core: the pool, the batcher, I/O. Plain integers
//! owned by the loop thread; rendered into `health` and `status`.

use serde::Serialize;

/// Why a connection (or connection attempt) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    PreAuthLimit,
    PreAuthPerAddress,
    PoolFull,
    PerAddress,
    PerClientId,
    Auth,
    AuthRateLimited,
    ProtocolMismatch,
    BadConnect,
    PerRole,
    Device,
}

impl RejectReason {
    pub const ALL: [RejectReason; 11] = [
        RejectReason::PreAuthLimit,
        RejectReason::PreAuthPerAddress,
        RejectReason::PoolFull,
        RejectReason::PerAddress,
        RejectReason::PerClientId,
        RejectReason::Auth,
        RejectReason::AuthRateLimited,
        RejectReason::ProtocolMismatch,
        RejectReason::BadConnect,
        RejectReason::PerRole,
        RejectReason::Device,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RejectReason::PreAuthLimit => "preAuthLimit",
            RejectReason::PreAuthPerAddress => "preAuthPerAddress",
            RejectReason::PoolFull => "poolFull",
            RejectReason::PerAddress => "perAddress",
            RejectReason::PerClientId => "perClientId",
            RejectReason::Auth => "auth",
            RejectReason::AuthRateLimited => "authRateLimited",
            RejectReason::ProtocolMismatch => "protocolMismatch",
            RejectReason::BadConnect => "badConnect",
            RejectReason::PerRole => "perRole",
            RejectReason::Device => "device",
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub accepted: u64,
    pub authenticated: u64,
    pub closed: u64,
    pub rejected: [u64; 11],
    pub idle_closed: u64,
    pub handshake_timeouts: u64,
    pub linger_expired: u64,
    pub slow_consumers: u64,
    pub accept_errors: u64,
    pub stale_events: u64,
    pub http_requests: u64,
    pub http_errors: u64,
    pub protocol_errors: u64,
    pub bad_frames: u64,
    pub requests: u64,
    pub unknown_methods: u64,
    pub forbidden: u64,
    pub errors_sent: u64,
    pub frames_in: u64,
    /// Frames written by closed connections (live ones are added on render).
    pub frames_out: u64,
    /// Bytes of closed connections (live ones are added on render).
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub messages_out: u64,
    pub bytes_queued: u64,
    pub immediate: u64,
    pub batches: u64,
    pub batched_messages: u64,
    pub batch_timer_flushes: u64,
    pub dropped: u64,
    pub broadcasts: u64,
    pub flushes: u64,
    pub close_codes: [u64; 16],
    pub reloads: u64,
    pub group_commits: u64,
    pub group_committed: u64,
    pub idempotent_replays: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub reload_failures: u64,
    /// WebSocket upgrades refused for their `Origin`.
    pub origin_refused: u64,
    /// Sends answered STORE_UNAVAILABLE after store.unavailableAfterMs.
    pub store_unavailable: u64,
    /// Pre-auth sockets closed to admit a new address (issue #18).
    pub pre_auth_evicted: u64,
    /// `/healthz` answered at the listener while the pre-auth pool was full.
    pub healthz_at_listener: u64,
    /// Connections and processes refused under memory pressure.
    pub memory_refused: u64,
    /// Closed TLS connections whose handshake had completed.
    pub tls_handshakes: u64,
    /// TLS connections closed before their handshake completed (a client
    /// refusing our certificate, plain HTTP on the TLS port, a timeout).
    pub tls_failed: u64,
}

impl Stats {
    pub fn reject(&mut self, r: RejectReason) {
        self.rejected[r as usize] += 1;
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }

    pub fn closes_by_code(&mut self, code: u16) {
        if (1000..1016).contains(&code) {
            self.close_codes[(code - 1000) as usize] += 1;
        }
    }

    pub fn rejected_view(&self) -> RejectedView {
        let r = |x: RejectReason| self.rejected[x as usize];
        RejectedView {
            pre_auth_limit: r(RejectReason::PreAuthLimit),
            pre_auth_per_address: r(RejectReason::PreAuthPerAddress),
            pool_full: r(RejectReason::PoolFull),
            per_address: r(RejectReason::PerAddress),
            per_client_id: r(RejectReason::PerClientId),
            auth: r(RejectReason::Auth),
            auth_rate_limited: r(RejectReason::AuthRateLimited),
            protocol_mismatch: r(RejectReason::ProtocolMismatch),
            bad_connect: r(RejectReason::BadConnect),
            per_role: r(RejectReason::PerRole),
            device: r(RejectReason::Device),
        }
    }

    pub fn batcher_view(&self) -> BatcherView {
        let mean = if self.batches == 0 {
            0.0
        } else {
            self.batched_messages as f64 / self.batches as f64
        };
        BatcherView {
            messages: self.messages_out,
            immediate: self.immediate,
            batches: self.batches,
            batched_messages: self.batched_messages,
            mean_batch_size: (mean * 100.0).round() / 100.0,
            timer_flushes: self.batch_timer_flushes,
            dropped: self.dropped,
            slow_consumers_closed: self.slow_consumers,
            broadcasts: self.broadcasts,
        }
    }
}

/// Rejections by reason, as rendered in `health`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectedView {
    pub pre_auth_limit: u64,
    pub pre_auth_per_address: u64,
    pub pool_full: u64,
    pub per_address: u64,
    pub per_client_id: u64,
    pub auth: u64,
    pub auth_rate_limited: u64,
    pub protocol_mismatch: u64,
    pub bad_connect: u64,
    pub per_role: u64,
    pub device: u64,
}

/// Batcher counters, as rendered in `health`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatcherView {
    pub messages: u64,
    pub immediate: u64,
    pub batches: u64,
    pub batched_messages: u64,
    pub mean_batch_size: f64,
    pub timer_flushes: u64,
    pub dropped: u64,
    pub slow_consumers_closed: u64,
    pub broadcasts: u64,
}
