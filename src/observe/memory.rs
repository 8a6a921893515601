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
    old.sort_unstable();
    let excess = old.len().saturating_sub(keep.max(1));
    for p in old.into_iter().take(excess) {
        let _ = std::fs::remove_file(p);
    }
    Ok(path)
}

/// A read-only, private mapping of a file that no page of has been written
/// (so none is a private copy): its pages can be dropped from this process
/// and read back from the page cache when next touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CleanMapping {
    start: usize,
    len: usize,
}

/// The mappings of `smaps` (the text of `/proc/self/smaps`) that are
/// read-only, private, backed by a file and hold no anonymous (copied)
/// page. A RELRO segment is read-only too, but the loader wrote its
/// relocations into it, so its pages are private copies and it is left
/// alone; dropping those would undo the relocations.
fn clean_file_mappings(smaps: &str) -> Vec<CleanMapping> {
    let mut out = Vec::new();
    let mut current: Option<CleanMapping> = None;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else { continue };
        if let Some((lo, hi)) = first.split_once('-') {
            // A header: "start-end perms offset dev inode [path]".
            current = None;
            let (Ok(start), Ok(end)) =
                (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
            else {
                continue;
            };
            let perms = fields.next().unwrap_or("");
            let inode = fields.nth(2).unwrap_or("0");
            let path = fields.next().unwrap_or("");
            let read_only_private = perms.len() == 4
                && perms.starts_with('r')
                && perms.as_bytes()[1] == b'-'
                && perms.ends_with('p');
            if read_only_private && inode != "0" && path.starts_with('/') && end > start {
                current = Some(CleanMapping {
                    start,
                    len: end - start,
                });
            }
        } else if first == "Anonymous:" {
            // Seen once per mapping, after its header.
            let kb = fields.next().and_then(|v| v.parse::<u64>().ok());
            if let (Some(m), Some(0)) = (current.take(), kb) {
                out.push(m);
            }
        }
    }
    out
}

/// Drops this process's resident pages of read-only file mappings that
/// were never written: the binary's and the shared libraries' code and
/// constants. Start-up (the loader's relocations, config parsing, the
/// store's migrations, the coach's compile) touches code that serving never
/// runs again, and the kernel maps 64 KiB around every page fault, so after
/// start the libraries alone hold ~1 MB the gateway does not use. Dropped
/// pages stay in the page cache; what serving touches comes back with a
/// minor fault. Nothing is lost: a private page that was written (RELRO,
/// a debugger's breakpoint) has anonymous pages and is skipped. Returns the
/// bytes of the ranges advised (not all of them were resident).
pub fn release_clean_file_pages() -> usize {
    #[cfg(target_os = "linux")]
    {
        let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
            return 0;
        };
        let mut advised = 0;
        for m in clean_file_mappings(&smaps) {
            // SAFETY: the range is a whole mapping of this process, read
            // only and never written, so MADV_DONTNEED only unmaps page
            // cache pages that the next access maps again, unchanged.
            let rc =
                unsafe { libc::madvise(m.start as *mut libc::c_void, m.len, libc::MADV_DONTNEED) };
            if rc == 0 {
                advised += m.len;
            }
        }
        advised
    }
    #[cfg(not(target_os = "linux"))]
    {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_never_written_read_only_file_mappings_are_released() {
        let smaps = "\
5600-5700 r--p 00000000 fe:00 42 /usr/bin/clawgate
Rss:                 100 kB
Anonymous:             0 kB
5700-5900 r-xp 00100000 fe:00 42 /usr/bin/clawgate
Anonymous:             0 kB
5900-5a00 r--p 00300000 fe:00 42 /usr/bin/clawgate
Anonymous:            64 kB
5a00-5b00 rw-p 00400000 fe:00 42 /usr/bin/clawgate
Anonymous:             0 kB
5b00-5c00 rw-p 00000000 00:00 0 [heap]
Anonymous:            64 kB
7000-7100 rw-s 00000000 fe:00 77 /data/clawgate.db-shm
Anonymous:             0 kB
7100-7200 r--p 00000000 00:00 0
Anonymous:             0 kB
7200-7300 r-xp 00000000 00:00 0 [vdso]
Anonymous:             0 kB
7300-7400 r--s 00000000 fe:00 78 /data/shared-ro
Anonymous:             0 kB
";
        let got = clean_file_mappings(smaps);
        assert_eq!(
            got,
            vec![
                CleanMapping {
                    start: 0x5600,
                    len: 0x100
                },
                CleanMapping {
                    start: 0x5700,
                    len: 0x200
                },
            ]
        );
    }

    #[test]
    fn releasing_pages_keeps_the_process_running_and_smaller() {
        // Touch something, release, and run the same code again: the pages
        // come back from the page cache unchanged.
        // File-backed RSS only: tests running beside this one allocate.
        let rss_file = || {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let line = status.lines().find(|l| l.starts_with("RssFile:")).unwrap();
            line.split_whitespace()
                .nth(1)
                .unwrap()
                .parse::<u64>()
                .unwrap()
        };
        let before = rss_file();
        let advised = release_clean_file_pages();
        assert!(advised > 0, "no clean file mapping found");
        let after = rss_file();
        assert!(after < before, "file-backed RSS {before} -> {after} kB");
        let v: Vec<u64> = (0..1000).map(|i| i * 3).collect();
        assert_eq!(v.iter().sum::<u64>(), 1_498_500);
    }

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
        names.sort_unstable();
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
