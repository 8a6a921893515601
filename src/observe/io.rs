//! I/O metrics in per-minute windows: the counters are the real ones (socket
//! byte counters, the log file's writes, the store's statements, the
//! idempotency cache); this module only cuts their running totals into
//! windows and keeps a bounded history (default 60 windows: one hour).

use serde::Serialize;
use std::collections::VecDeque;

/// Running totals, read from the code paths that do the I/O.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IoCounters {
    pub net_bytes_in: u64,
    pub net_bytes_out: u64,
    pub frames_in: u64,
    pub frames_out: u64,
    /// Log file writes and the store's committed transactions.
    pub disk_writes: u64,
    /// Log bytes written plus transcript bytes committed.
    pub disk_bytes: u64,
    pub db_queries: u64,
    pub db_transactions: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
}

impl IoCounters {
    fn minus(&self, o: &IoCounters) -> IoCounters {
        IoCounters {
            net_bytes_in: self.net_bytes_in.saturating_sub(o.net_bytes_in),
            net_bytes_out: self.net_bytes_out.saturating_sub(o.net_bytes_out),
            frames_in: self.frames_in.saturating_sub(o.frames_in),
            frames_out: self.frames_out.saturating_sub(o.frames_out),
            disk_writes: self.disk_writes.saturating_sub(o.disk_writes),
            disk_bytes: self.disk_bytes.saturating_sub(o.disk_bytes),
            db_queries: self.db_queries.saturating_sub(o.db_queries),
            db_transactions: self.db_transactions.saturating_sub(o.db_transactions),
            cache_hits: self.cache_hits.saturating_sub(o.cache_hits),
            cache_misses: self.cache_misses.saturating_sub(o.cache_misses),
        }
    }

    fn fields(&self) -> [u64; 10] {
        [
            self.net_bytes_in,
            self.net_bytes_out,
            self.frames_in,
            self.frames_out,
            self.disk_writes,
            self.disk_bytes,
            self.db_queries,
            self.db_transactions,
            self.cache_hits,
            self.cache_misses,
        ]
    }

    fn from_fields(f: [u64; 10]) -> IoCounters {
        IoCounters {
            net_bytes_in: f[0],
            net_bytes_out: f[1],
            frames_in: f[2],
            frames_out: f[3],
            disk_writes: f[4],
            disk_bytes: f[5],
            db_queries: f[6],
            db_transactions: f[7],
            cache_hits: f[8],
            cache_misses: f[9],
        }
    }
}

/// One closed window.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IoWindow {
    /// Wall-clock start of the window, ms.
    pub start_ms: u64,
    #[serde(flatten)]
    pub counts: IoCounters,
}

/// The windows and where the open one started.
pub struct IoHistory {
    windows: VecDeque<IoWindow>,
    capacity: usize,
    window_start: IoCounters,
    window_start_ms: u64,
}

/// What `health.io` shows.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IoView<'a> {
    pub totals: IoCounters,
    pub current: IoCounters,
    pub window_ms: u64,
    pub windows: &'a VecDeque<IoWindow>,
    /// Per closed window: mean and max of each counter.
    pub mean_per_window: IoCounters,
    pub max_per_window: IoCounters,
}

impl IoHistory {
    pub fn new(capacity: usize, totals: IoCounters, now_ms: u64) -> IoHistory {
        IoHistory {
            windows: VecDeque::with_capacity(capacity),
            capacity,
            window_start: totals,
            window_start_ms: now_ms,
        }
    }

    /// Closes the open window at `totals` and opens the next.
    pub fn roll(&mut self, totals: IoCounters, now_ms: u64) {
        if self.windows.len() == self.capacity {
            self.windows.pop_front();
        }
        self.windows.push_back(IoWindow {
            start_ms: self.window_start_ms,
            counts: totals.minus(&self.window_start),
        });
        self.window_start = totals;
        self.window_start_ms = now_ms;
    }

    pub fn view(&self, totals: IoCounters, window_ms: u64) -> IoView<'_> {
        let n = self.windows.len().max(1) as u64;
        let mut sum = [0u64; 10];
        let mut max = [0u64; 10];
        for w in &self.windows {
            for (i, v) in w.counts.fields().into_iter().enumerate() {
                sum[i] += v;
                max[i] = max[i].max(v);
            }
        }
        IoView {
            totals,
            current: totals.minus(&self.window_start),
            window_ms,
            windows: &self.windows,
            mean_per_window: IoCounters::from_fields(sum.map(|s| s / n)),
            max_per_window: IoCounters::from_fields(max),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_windows_are_deltas_and_bounded() {
        let mut t = IoCounters::default();
        let mut h = IoHistory::new(3, t, 0);
        for minute in 1..=5u64 {
            t.net_bytes_in += 100 * minute;
            t.cache_hits += 1;
            h.roll(t, minute * 60_000);
        }
        let v = h.view(t, 60_000);
        assert_eq!(v.windows.len(), 3, "bounded history");
        let ins: Vec<u64> = v.windows.iter().map(|w| w.counts.net_bytes_in).collect();
        assert_eq!(ins, [300, 400, 500]);
        assert_eq!(v.mean_per_window.net_bytes_in, 400);
        assert_eq!(v.max_per_window.net_bytes_in, 500);
        assert_eq!(v.current, IoCounters::default());
        t.frames_in += 7;
        assert_eq!(h.view(t, 60_000).current.frames_in, 7);
    }
}
