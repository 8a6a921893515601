//! Rate limits: token buckets for new connections per address and for
//! requests per connection. Failed-auth throttling lives in `auth.rs`.
//!
//! Buckets refill continuously from `now` (no timers), so an idle address
//! costs nothing and the tables only grow with traffic; the per-address
//! table is an LRU bounded by `rateLimits.trackedAddresses`.

use std::net::IpAddr;
use std::time::{Duration, Instant};

/// A token bucket: `burst` tokens, refilled at `per_sec`.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub fn full(burst: u32, now: Instant) -> Bucket {
        Bucket {
            tokens: burst as f64,
            last: now,
        }
    }

    /// Takes `n` tokens (bytes), or says how long until they are there;
    /// `n` above the burst is capped at it so a single item can pass.
    pub fn take_n(
        &mut self,
        n: f64,
        per_sec: f64,
        burst: f64,
        now: Instant,
    ) -> Result<(), Duration> {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * per_sec).min(burst);
        let n = n.min(burst);
        if self.tokens >= n {
            self.tokens -= n;
            Ok(())
        } else {
            let wait = (n - self.tokens) / per_sec;
            Err(Duration::from_secs_f64(wait).max(Duration::from_millis(1)))
        }
    }

    /// Takes one token, or says how long until one is there.
    pub fn take(&mut self, per_sec: f64, burst: u32, now: Instant) -> Result<(), Duration> {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * per_sec).min(burst as f64);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / per_sec;
            Err(Duration::from_secs_f64(wait).max(Duration::from_millis(1)))
        }
    }
}

#[derive(Debug, Default, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RateStats {
    pub connections_limited: u64,
    pub requests_limited: u64,
    /// Chat messages refused by `rateLimits.chatBytesPerMinute`.
    pub chat_bytes_limited: u64,
    pub tracked_addresses: usize,
}

/// New connections per remote address.
pub struct ConnectionRate {
    table: hashlink::LruCache<IpAddr, Bucket>,
    pub stats: RateStats,
}

impl ConnectionRate {
    pub fn new(tracked: usize) -> ConnectionRate {
        ConnectionRate {
            table: hashlink::LruCache::new(tracked.max(1)),
            stats: RateStats::default(),
        }
    }

    pub fn reconfigure(&mut self, tracked: usize) {
        self.table.set_capacity(tracked.max(1));
    }

    /// Counts one new connection from `ip`; `Err(retry)` when over
    /// `per_minute`.
    pub fn admit(&mut self, ip: IpAddr, per_minute: u32, now: Instant) -> Result<(), Duration> {
        let per_sec = per_minute as f64 / 60.0;
        let bucket = match self.table.get_mut(&ip) {
            Some(b) => b,
            None => {
                self.table.insert(ip, Bucket::full(per_minute, now));
                self.table.get_mut(&ip).expect("just inserted")
            }
        };
        let r = bucket.take(per_sec, per_minute, now);
        if r.is_err() {
            self.stats.connections_limited += 1;
        }
        r
    }

    pub fn view(&self) -> RateStats {
        RateStats {
            tracked_addresses: self.table.len(),
            ..self.stats.clone()
        }
    }
}

impl super::Gateway {
    /// Counts a new connection from `ip`; the retry hint (ms) when over
    /// `rateLimits.connectionsPerMinute`.
    pub(super) fn connection_rate(&mut self, ip: IpAddr, now: Instant) -> Option<u64> {
        let r = &self.cfg.rate_limits;
        if r.exempt_loopback && ip.is_loopback() {
            return None;
        }
        let per_minute = r.connections_per_minute;
        self.conn_rate
            .admit(ip, per_minute, now)
            .err()
            .map(|d| d.as_millis().max(1) as u64)
    }

    /// One request's token, or `UNAVAILABLE`/`RATE_LIMITED` with the wait.
    pub(super) fn request_rate(
        &mut self,
        id: crate::net::ConnId,
        now: Instant,
    ) -> Result<(), crate::protocol::ErrorShape> {
        let r = &self.cfg.rate_limits;
        let (per_sec, burst) = (r.requests_per_second, r.request_burst);
        let Some(bucket) = self.sessions.get_mut(&id).and_then(|s| s.bucket.as_mut()) else {
            return Ok(());
        };
        bucket.take(per_sec as f64, burst, now).map_err(|wait| {
            self.conn_rate.stats.requests_limited += 1;
            let retry = wait.as_millis().max(1) as u64;
            crate::protocol::ErrorShape::new(
                crate::protocol::ErrorCode::Unavailable,
                format!("too many requests on this connection (rateLimits.requestsPerSecond = {per_sec}, requestBurst = {burst})"),
            )
            .detail(
                "RATE_LIMITED",
                serde_json::json!({"limit": "requestsPerSecond", "max": per_sec, "retryAfterMs": retry}),
            )
            .retry_after(retry)
        })
    }

    /// `rateLimits.chatBytesPerMinute` per `client.id`: one writer cannot
    /// flood every reader's fan-out. The table holds at most one bucket per
    /// connected id (`maxConnections`, least recently used evicted).
    pub(super) fn chat_byte_rate(
        &mut self,
        id: crate::net::ConnId,
        bytes: usize,
        now: Instant,
    ) -> Result<(), crate::protocol::ErrorShape> {
        let r = &self.cfg.rate_limits;
        let per_minute = r.chat_bytes_per_minute;
        let exempt = r.exempt_loopback
            && self
                .conns
                .get(id)
                .is_some_and(|c| c.addr.ip().is_loopback());
        if per_minute == 0 || exempt {
            return Ok(());
        }
        let Some(client) = self.sessions.get(&id).map(|s| s.params.client.id.clone()) else {
            return Ok(());
        };
        let cap = self.cfg.connections.max_connections.max(1);
        if self.chat_rate.capacity() != cap {
            self.chat_rate.set_capacity(cap);
        }
        let burst = per_minute as f64;
        let bucket = match self.chat_rate.get_mut(&client) {
            Some(b) => b,
            None => {
                self.chat_rate.insert(
                    client.clone(),
                    Bucket {
                        tokens: burst,
                        last: now,
                    },
                );
                self.chat_rate.get_mut(&client).expect("just inserted")
            }
        };
        bucket
            .take_n(bytes as f64, per_minute as f64 / 60.0, burst, now)
            .map_err(|wait| {
                self.conn_rate.stats.chat_bytes_limited += 1;
                let retry = wait.as_millis().max(1) as u64;
                crate::protocol::ErrorShape::new(
                    crate::protocol::ErrorCode::Unavailable,
                    format!("too many message bytes from client.id {client} (rateLimits.chatBytesPerMinute = {per_minute})"),
                )
                .detail(
                    "RATE_LIMITED",
                    serde_json::json!({"limit": "chatBytesPerMinute", "max": per_minute, "retryAfterMs": retry}),
                )
                .retry_after(retry)
            })
    }

    pub fn rate_view(&self) -> RateStats {
        self.conn_rate.view()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_bucket_burst_then_refill_by_stepping_time() {
        let t0 = Instant::now();
        let mut b = Bucket::full(3, t0);
        for _ in 0..3 {
            assert!(b.take(1.0, 3, t0).is_ok());
        }
        let wait = b.take(1.0, 3, t0).unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        assert!(b.take(1.0, 3, t0 + Duration::from_millis(1000)).is_ok());
        // Refill never exceeds the burst.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert!(b.take(1.0, 3, later).is_ok());
        }
        assert!(b.take(1.0, 3, later).is_err());
    }

    #[test]
    fn test_connection_rate_per_address_and_bounded_table() {
        let t0 = Instant::now();
        let mut r = ConnectionRate::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..60 {
            assert!(r.admit(a, 60, t0).is_ok());
        }
        let retry = r.admit(a, 60, t0).unwrap_err();
        assert!(retry <= Duration::from_secs(1));
        assert!(
            r.admit(b, 60, t0).is_ok(),
            "another address is not affected"
        );
        assert!(r.admit(a, 60, t0 + Duration::from_secs(1)).is_ok());
        r.admit("10.0.0.3".parse().unwrap(), 60, t0).unwrap();
        assert_eq!(r.view().tracked_addresses, 2);
        assert_eq!(r.view().connections_limited, 1);
    }
}
