//! Observability of the process itself: resident memory, event-loop turn
//! statistics and the log backend.

pub mod io;
pub mod lag;
pub mod logfile;
pub mod memory;
pub mod prom;

use std::sync::Arc;
use std::time::Duration;

/// Resident set size from `/proc/self/statm` (pages × page size); 0 where
/// unavailable.
pub fn rss_bytes() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let resident: u64 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    resident * page.max(0) as u64
}

/// Hands freed heap pages back to the kernel. glibc keeps the high-water mark
/// of a burst otherwise, which makes RSS after a spike look like a leak.
pub fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Per-turn figures of the poll loop, rendered in `health.gateway.eventLoop`.
#[derive(Debug, Default, Clone)]
pub struct LoopStats {
    pub iterations: u64,
    pub events: u64,
    pub timers_fired: u64,
    pub wakeups: u64,
    /// Longest turn (events + timers + flushes), excluding the wait in poll.
    pub max_turn: Duration,
    pub last_turn: Duration,
    pub busy: Duration,
    /// How late a timer fired past its deadline, worst seen.
    pub max_timer_lag: Duration,
}

impl serde::Serialize for LoopStats {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("LoopStats", 8)?;
        st.serialize_field("iterations", &self.iterations)?;
        st.serialize_field("events", &self.events)?;
        st.serialize_field("timersFired", &self.timers_fired)?;
        st.serialize_field("wakeups", &self.wakeups)?;
        st.serialize_field("lastTurnUs", &(self.last_turn.as_micros() as u64))?;
        st.serialize_field("maxTurnUs", &(self.max_turn.as_micros() as u64))?;
        st.serialize_field("busyMs", &(self.busy.as_millis() as u64))?;
        st.serialize_field("maxTimerLagUs", &(self.max_timer_lag.as_micros() as u64))?;
        st.end()
    }
}

/// stderr logging (journald picks it up under systemd), plus the buffered
/// log file when one is given.
pub fn init_logging(level: log::LevelFilter, file: Option<Arc<logfile::LogFile>>) {
    use simplelog::{CombinedLogger, ConfigBuilder, SharedLogger, WriteLogger};
    let config = ConfigBuilder::new()
        .set_target_level(log::LevelFilter::Off)
        .set_thread_level(log::LevelFilter::Off)
        .set_time_format_rfc3339()
        .build();
    // A plain writer on stderr, not `TermLogger`: colour was always off,
    // and without the terminal code (simplelog's default features) the
    // aarch64 binary is smaller.
    let mut loggers: Vec<Box<dyn SharedLogger>> =
        vec![WriteLogger::new(level, config, std::io::stderr())];
    if let Some(f) = file {
        loggers.push(Box::new(logfile::FileBackend(f)));
    }
    let _ = CombinedLogger::init(loggers);
}
