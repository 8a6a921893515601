//! The memory monitor: RSS against the configured budget, a level with
//! hysteresis, and the per-subsystem report written when it gets critical.
//!
//! The monitor only decides; the gateway acts (relief at `Pressure`, a
//! report at `Critical`) because only it knows the subsystems. Levels need
//! a drop of [`HYSTERESIS_PERCENT`] below a threshold to step down, so RSS
//! hovering at 80% does not flap relief on and off every check.

use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Points below a threshold RSS must fall before the level steps down.
pub const HYSTERESIS_PERCENT: f64 = 5.0;
/// Prefix of report files in the data dir.
pub const REPORT_PREFIX: &str = "memory-report-";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Normal,
    /// Over `memory.warnPercent`: caches shrunk, new connections and
    /// processes refused with a retryable error.
    Pressure,
    /// Over `memory.reportPercent`: as Pressure, plus a report.
    Critical,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Normal => "normal",
            Level::Pressure => "pressure",
            Level::Critical => "critical",
        }
    }
}

/// What a check asks the gateway to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// `(old, new)` when the level changed.
    pub changed: Option<(Level, Level)>,
    /// Write a report now (critical, and the last one is old enough).
    pub report: bool,
}

#[derive(Debug)]
pub struct MemoryMonitor {
    pub level: Level,
    pub last_rss: u64,
    pub last_percent: f64,
    pub checks: u64,
    pub reliefs: u64,
    pub reports: u64,
    pub report_errors: u64,
    last_report: Option<Instant>,
}

impl Default for MemoryMonitor {
    fn default() -> Self {
        MemoryMonitor {
            level: Level::Normal,
            last_rss: 0,
            last_percent: 0.0,
            checks: 0,
            reliefs: 0,
            reports: 0,
            report_errors: 0,
            last_report: None,
        }
    }
}

/// The thresholds of one check (from `memory.*`).
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub budget_bytes: u64,
    pub warn_percent: f64,
    pub report_percent: f64,
    pub report_interval: Duration,
}

impl MemoryMonitor {
    pub fn check(&mut self, rss: u64, t: &Thresholds, now: Instant) -> Verdict {
        self.checks += 1;
        self.last_rss = rss;
        let pct = if t.budget_bytes == 0 {
            0.0
        } else {
            rss as f64 * 100.0 / t.budget_bytes as f64
        };
        self.last_percent = (pct * 10.0).round() / 10.0;
        let up = if pct >= t.report_percent {
            Level::Critical
        } else if pct >= t.warn_percent {
            Level::Pressure
        } else {
            Level::Normal
        };
        // Stepping down needs the hysteresis margin under the threshold.
        let down = if pct < t.warn_percent - HYSTERESIS_PERCENT {
            Level::Normal
        } else if pct < t.report_percent - HYSTERESIS_PERCENT {
            Level::Pressure.min(self.level)
        } else {
            self.level
        };
        let new = if up >= self.level { up } else { down };
        let old = self.level;
        self.level = new;
        if new >= Level::Pressure && old < Level::Pressure {
            self.reliefs += 1;
        }
        let report = new == Level::Critical
            && self
                .last_report
                .is_none_or(|at| now.saturating_duration_since(at) >= t.report_interval);
        if report {
            self.last_report = Some(now);
        }
        Verdict {
            changed: (old != new).then_some((old, new)),
            report,
        }
    }

    pub fn refusing(&self) -> bool {
        self.level >= Level::Pressure
    }
}

/// Writes `report` to `<dir>/memory-report-<ms>.json` (0600, written whole
/// then renamed) and keeps the newest `keep` reports.
pub fn write_report(
    dir: &Path,
    wall_ms: u64,
    report: &serde_json::Value,
    keep: usize,
) -> std::io::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(format!("{REPORT_PREFIX}{wall_ms}.json"));
    let tmp = dir.join(format!(".{REPORT_PREFIX}{wall_ms}.tmp"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(
        serde_json::to_string_pretty(report)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    f.write_all(b"\n")?;
    drop(f);
    std::fs::rename(&tmp, &path)?;
    let mut old: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(REPORT_PREFIX) && n.ends_with(".json"))
        })
        .collect();
    // Names carry the millisecond timestamp: lexical order is age order
    // for reports of the same digit count, which holds for centuries.
    old.sort();
    let excess = old.len().saturating_sub(keep.max(1));
    for p in old.into_iter().take(excess) {
        let _ = std::fs::remove_file(p);
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Thresholds {
        Thresholds {
            budget_bytes: 1000,
            warn_percent: 80.0,
            report_percent: 95.0,
            report_interval: Duration::from_secs(600),
        }
    }

    #[test]
    fn test_levels_rise_at_thresholds_and_fall_with_hysteresis() {
        let mut m = MemoryMonitor::default();
        let t0 = Instant::now();
        assert_eq!(m.check(500, &t(), t0).changed, None);
        let v = m.check(800, &t(), t0);
        assert_eq!(v.changed, Some((Level::Normal, Level::Pressure)));
        assert!(!v.report);
        assert_eq!(m.reliefs, 1);
        // 78% is under 80 but inside the margin: still under pressure.
        assert_eq!(m.check(780, &t(), t0).changed, None);
        assert!(m.refusing());
        let v = m.check(960, &t(), t0);
        assert_eq!(v.changed, Some((Level::Pressure, Level::Critical)));
        assert!(v.report);
        // 92%: inside the critical margin; 85%: back to pressure.
        assert_eq!(m.check(920, &t(), t0).changed, None);
        assert_eq!(
            m.check(850, &t(), t0).changed,
            Some((Level::Critical, Level::Pressure))
        );
        // Straight from pressure to normal only under 75%.
        assert_eq!(m.check(760, &t(), t0).changed, None);
        assert_eq!(
            m.check(700, &t(), t0).changed,
            Some((Level::Pressure, Level::Normal))
        );
        assert!(!m.refusing());
    }

    #[test]
    fn test_reports_are_rate_limited_by_stepping_time() {
        let mut m = MemoryMonitor::default();
        let t0 = Instant::now();
        assert!(m.check(990, &t(), t0).report);
        assert!(!m.check(990, &t(), t0 + Duration::from_secs(599)).report);
        assert!(m.check(990, &t(), t0 + Duration::from_secs(600)).report);
    }

    #[test]
    fn test_report_files_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        for ms in 1_000_000_000_000u64..1_000_000_000_007 {
            write_report(dir.path(), ms, &serde_json::json!({"ms": ms}), 3).unwrap();
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec![
                "memory-report-1000000000004.json",
                "memory-report-1000000000005.json",
                "memory-report-1000000000006.json"
            ]
        );
    }
}
