//! Event-loop lag: how long each turn takes and how late timers fire, as
//! quantiles over a sliding window, plus utilisation (busy time / wall time).
//!
//! Each sample is one increment in a fixed log-linear histogram (8 buckets
//! per power of two, so a quantile is within 12.5% of the true value), so
//! recording costs a few nanoseconds and no allocation: the monitor runs on
//! every turn without showing up in a profile. The window is two halves: the
//! figures cover the last one to two half-windows and roll without a sweep.

use std::time::{Duration, Instant};

/// Exact buckets for 0..16 µs, then 8 per power of two up to 2^25 µs (33 s).
const LINEAR: usize = 16;
const SUB: usize = 8;
const MAX_EXP: usize = 25;
pub const BUCKETS: usize = LINEAR + (MAX_EXP - 4) * SUB;

/// A histogram of durations in microseconds.
#[derive(Clone)]
pub struct Histogram {
    counts: [u32; BUCKETS],
    total: u64,
    max_us: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: [0; BUCKETS],
            total: 0,
            max_us: 0,
        }
    }
}

fn bucket_of(us: u64) -> usize {
    if us < LINEAR as u64 {
        return us as usize;
    }
    let exp = 63 - us.leading_zeros() as usize; // >= 4
    let sub = ((us >> (exp - 3)) & (SUB as u64 - 1)) as usize;
    (LINEAR + (exp - 4) * SUB + sub).min(BUCKETS - 1)
}

/// The upper edge of a bucket (what a quantile in it reports).
fn bucket_high(i: usize) -> u64 {
    if i < LINEAR {
        return i as u64;
    }
    let exp = (i - LINEAR) / SUB + 4;
    let sub = ((i - LINEAR) % SUB) as u64;
    ((SUB as u64 + sub + 1) << (exp - 3)) - 1
}

impl Histogram {
    pub fn record(&mut self, d: Duration) {
        let us = d.as_micros().min(u64::MAX as u128) as u64;
        self.counts[bucket_of(us)] = self.counts[bucket_of(us)].saturating_add(1);
        self.total += 1;
        self.max_us = self.max_us.max(us);
    }

    pub fn clear(&mut self) {
        *self = Histogram::default();
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The `q` quantile (0..=1) over this histogram and `other`, in µs.
    pub fn quantile_with(&self, other: &Histogram, q: f64) -> u64 {
        let total = self.total + other.total;
        if total == 0 {
            return 0;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0u64;
        for i in 0..BUCKETS {
            seen += (self.counts[i] + other.counts[i]) as u64;
            if seen >= rank {
                // Never report above the true maximum.
                return bucket_high(i).min(self.max_us.max(other.max_us));
            }
        }
        self.max_us.max(other.max_us)
    }
}

/// Figures over the window, as rendered in `health.gateway.eventLoop.lag`.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LagView {
    pub window_ms: u64,
    pub turns: u64,
    pub turn_p50_us: u64,
    pub turn_p99_us: u64,
    pub turn_max_us: u64,
    pub timer_samples: u64,
    pub timer_lag_p50_us: u64,
    pub timer_lag_p99_us: u64,
    pub timer_lag_max_us: u64,
    /// Busy time over wall time in the window, 0..=1.
    pub utilisation: f64,
    /// Windows whose p99 passed `metrics.lagWarnMs`.
    pub warnings: u64,
}

/// Turn and timer-lateness histograms over a sliding window.
pub struct LagMonitor {
    half: Duration,
    warn: Duration,
    cur_started: Instant,
    prev_started: Instant,
    turns: [Histogram; 2],
    timers: [Histogram; 2],
    busy: [Duration; 2],
    /// Which of the two slots is the current half.
    cur: usize,
    pub warnings: u64,
}

impl LagMonitor {
    pub fn new(window: Duration, warn: Duration, now: Instant) -> LagMonitor {
        LagMonitor {
            half: (window / 2).max(Duration::from_millis(1)),
            warn,
            cur_started: now,
            prev_started: now,
            turns: [Histogram::default(), Histogram::default()],
            timers: [Histogram::default(), Histogram::default()],
            busy: [Duration::ZERO; 2],
            cur: 0,
            warnings: 0,
        }
    }

    pub fn reconfigure(&mut self, window: Duration, warn: Duration) {
        self.half = (window / 2).max(Duration::from_millis(1));
        self.warn = warn;
    }

    /// One loop turn that started at `start` and took `turn`; `timer_lag`
    /// when timers fired in it. Returns a warning line when a half-window
    /// closes with a p99 over the threshold.
    pub fn record(
        &mut self,
        start: Instant,
        turn: Duration,
        timer_lag: Option<Duration>,
    ) -> Option<String> {
        let warning = if start.saturating_duration_since(self.cur_started) >= self.half {
            self.roll(start)
        } else {
            None
        };
        self.turns[self.cur].record(turn);
        if let Some(l) = timer_lag {
            self.timers[self.cur].record(l);
        }
        self.busy[self.cur] += turn;
        warning
    }

    /// Closes the current half. The warning looks at that half alone, so
    /// one slow stretch warns once.
    fn roll(&mut self, now: Instant) -> Option<String> {
        let empty = Histogram::default();
        let turn_p99 = self.turns[self.cur].quantile_with(&empty, 0.99);
        let lag_p99 = self.timers[self.cur].quantile_with(&empty, 0.99);
        let half_ms = now.saturating_duration_since(self.cur_started).as_millis();
        let warn_us = self.warn.as_micros() as u64;
        let over = turn_p99 > warn_us || lag_p99 > warn_us;
        self.cur ^= 1;
        self.prev_started = self.cur_started;
        self.cur_started = now;
        self.turns[self.cur].clear();
        self.timers[self.cur].clear();
        self.busy[self.cur] = Duration::ZERO;
        if over {
            self.warnings += 1;
            return Some(format!(
                "event loop lag: turn p99 {turn_p99} µs, timer lateness p99 {lag_p99} µs over the last {half_ms} ms (threshold {} ms)",
                self.warn.as_millis()
            ));
        }
        None
    }

    pub fn view(&self, now: Instant) -> LagView {
        let (a, b) = (self.cur, self.cur ^ 1);
        let span = now.saturating_duration_since(self.prev_started);
        let busy = self.busy[0] + self.busy[1];
        let utilisation = if span.is_zero() {
            0.0
        } else {
            (busy.as_secs_f64() / span.as_secs_f64()).min(1.0)
        };
        let t = (&self.turns[a], &self.turns[b]);
        let l = (&self.timers[a], &self.timers[b]);
        LagView {
            window_ms: span.as_millis() as u64,
            turns: t.0.count() + t.1.count(),
            turn_p50_us: t.0.quantile_with(t.1, 0.50),
            turn_p99_us: t.0.quantile_with(t.1, 0.99),
            turn_max_us: t.0.max_us.max(t.1.max_us),
            timer_samples: l.0.count() + l.1.count(),
            timer_lag_p50_us: l.0.quantile_with(l.1, 0.50),
            timer_lag_p99_us: l.0.quantile_with(l.1, 0.99),
            timer_lag_max_us: l.0.max_us.max(l.1.max_us),
            utilisation: (utilisation * 10_000.0).round() / 10_000.0,
            warnings: self.warnings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn test_buckets_are_monotonic_and_within_an_eighth() {
        let mut last = 0;
        for v in [
            0u64, 1, 15, 16, 17, 31, 32, 100, 1000, 12_345, 1_000_000, 30_000_000,
        ] {
            let b = bucket_of(v);
            assert!(b >= last, "{v}");
            last = b;
            let hi = bucket_high(b);
            assert!(hi >= v.min(bucket_high(BUCKETS - 1)), "{v} -> {hi}");
            assert!(hi as f64 <= v as f64 * 1.125 + 1.0, "{v} -> {hi}");
        }
    }

    #[test]
    fn test_quantiles_of_a_known_distribution() {
        let t0 = Instant::now();
        let mut m = LagMonitor::new(Duration::from_secs(60), Duration::from_millis(50), t0);
        // 980 fast turns of 100 µs, 20 slow ones of 20 ms.
        for _ in 0..980 {
            m.record(t0, us(100), None);
        }
        for _ in 0..20 {
            m.record(t0, us(20_000), Some(us(5_000)));
        }
        let v = m.view(t0 + Duration::from_secs(1));
        assert_eq!(v.turns, 1000);
        assert!((100..=113).contains(&v.turn_p50_us), "{v:?}");
        assert!((20_000..=22_500).contains(&v.turn_p99_us), "{v:?}");
        assert_eq!(v.turn_max_us, 20_000);
        assert_eq!(v.timer_samples, 20);
        assert!((5_000..=5_625).contains(&v.timer_lag_p50_us), "{v:?}");
        // 980 × 0.1 ms + 20 × 20 ms = 498 ms busy in 1 s.
        assert!((v.utilisation - 0.498).abs() < 0.001, "{v:?}");
    }

    #[test]
    fn test_window_rolls_and_warns_once_per_half_by_stepping_time() {
        let t0 = Instant::now();
        let mut m = LagMonitor::new(Duration::from_secs(10), Duration::from_millis(50), t0);
        for _ in 0..10 {
            assert!(m.record(t0, us(80_000), None).is_none());
        }
        // 5 s later the first half closes: its p99 was 80 ms > 50 ms.
        let w = m.record(t0 + Duration::from_secs(5), us(10), None);
        assert!(w.unwrap().contains("turn p99"));
        assert_eq!(m.warnings, 1);
        // The slow half is still in view for one more half...
        assert_eq!(m.view(t0 + Duration::from_secs(6)).turn_max_us, 80_000);
        // ...and gone after it; quiet halves do not warn.
        assert!(m
            .record(t0 + Duration::from_secs(10), us(10), None)
            .is_none());
        let v = m.view(t0 + Duration::from_secs(11));
        assert_eq!(v.turn_max_us, 10);
        assert_eq!(v.turns, 2);
        assert_eq!(m.warnings, 1);
    }
}
