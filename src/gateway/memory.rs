//! The gateway side of the memory monitor: the periodic check, relief at
//! pressure, the report at critical, and the live per-subsystem accounting.
//!
//! Live figures are the worst-case arithmetic of `config::MemoryBudget`
//! applied to what is held now (connections open, bytes buffered, rows
//! waiting), so `--check-config`, `health` and a report line up term by
//! term.

use super::Gateway;
use crate::config::{self, MemoryBudget};
use crate::observe::memory::{Level, Thresholds};
use crate::protocol::{ErrorCode, ErrorShape};
use serde::Serialize;
use serde_json::json;
use std::time::{Duration, Instant};

/// Longest retry hint given under memory pressure.
const MAX_PRESSURE_RETRY: Duration = Duration::from_secs(30);

/// One subsystem: bytes held now and the bound its limits allow.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    pub live_bytes: usize,
    pub worst_case_bytes: usize,
}

/// Live accounting by subsystem (`health.gateway.memory.accounting`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Accounting {
    pub fixed: Line,
    pub connections: Line,
    pub store: Line,
    pub coach: Line,
    pub process_output: Line,
    pub caches: Line,
    pub limits: Line,
    pub audit_forward: Line,
    pub total: Line,
}

impl Gateway {
    pub fn memory_accounting(&self) -> Accounting {
        let b: MemoryBudget = self.cfg.worst_case_memory();
        let (authed, pre) = self.counts();
        let connections = self.buffered_bytes() + (authed + pre) * config::MEMORY_PER_CONN_OVERHEAD;
        let store = crate::store::Store::sqlite_heap_bytes() as usize
            + self.chat.pending_bytes()
            + self.chat.idempotency_len() * 512;
        let (per_check, per_stored) = config::coach_item_bytes(&self.cfg);
        let coach = self.coach_rt.inflight() * per_check
            + (self.coach_rt.pending_alerts() + self.coach_rt.audit_waiting()) * per_stored
            + crate::coach::LIBRARY_BYTES;
        let caches = self.cache.bytes() + self.cache.view().entries * config::CACHE_ENTRY_OVERHEAD;
        let limits = (self.conn_rate.view().tracked_addresses
            + self.limiter.len()
            + self.per_addr.len()
            + self.per_client.len())
            * config::RATE_ENTRY_BYTES
            + 4 * crate::observe::lag::BUCKETS * 4;
        let forward = self.forwarder.as_ref().map_or(0, |f| f.held_bytes());
        let line = |live, worst| Line {
            live_bytes: live,
            worst_case_bytes: worst,
        };
        let fixed = config::MEMORY_FIXED_BYTES;
        let live_total = fixed
            + connections
            + store
            + coach
            + self.exec.held_bytes()
            + caches
            + limits
            + forward;
        Accounting {
            fixed: line(fixed, b.fixed_bytes),
            connections: line(
                connections,
                b.connections * b.per_connection_bytes
                    + b.unauthenticated * b.per_unauthenticated_bytes,
            ),
            store: line(store, b.store_bytes),
            coach: line(coach, b.coach_bytes),
            process_output: line(self.exec.held_bytes(), b.exec_bytes),
            caches: line(caches, b.cache_bytes),
            limits: line(limits, b.limits_bytes),
            audit_forward: line(forward, b.forward_bytes),
            total: line(live_total, b.total_bytes),
        }
    }

    fn thresholds(&self) -> Thresholds {
        let m = &self.cfg.memory;
        Thresholds {
            budget_bytes: m.budget_bytes,
            warn_percent: m.warn_percent,
            report_percent: m.report_percent,
            report_interval: Duration::from_millis(m.report_interval_ms),
        }
    }

    /// Reads RSS (fresh, not the 1 s cache) and acts on the level.
    pub(super) fn check_memory(&mut self, now: Instant) {
        let rss = crate::observe::rss_bytes();
        self.rss_cache = Some((now, rss));
        let t = self.thresholds();
        let verdict = self.memory.check(rss, &t, now);
        if let Some((old, new)) = verdict.changed {
            let pct = self.memory.last_percent;
            match new {
                Level::Normal => log::info!(
                    "memory back to normal: RSS {rss} bytes, {pct}% of memory.budgetBytes; accepting new connections and processes"
                ),
                _ if old == Level::Normal => {
                    log::warn!(
                        "memory {}: RSS {rss} bytes is {pct}% of memory.budgetBytes ({}); shrinking caches, refusing new connections and processes until it falls",
                        new.as_str(),
                        t.budget_bytes
                    );
                    self.memory_relief();
                }
                _ => log::warn!("memory {}: RSS {rss} bytes, {pct}% of the budget", new.as_str()),
            }
        }
        if verdict.report {
            self.write_memory_report(rss);
        }
    }

    /// Relief that loses no live work: caches and free pages go back;
    /// connections, sessions, processes and pending answers stay.
    fn memory_relief(&mut self) {
        self.cache.clear();
        let freed = self.store.release_memory();
        crate::observe::trim_heap();
        self.release_startup_pages();
        log::info!("memory relief: response cache cleared, {freed} bytes of SQLite cache released, heap trimmed");
    }

    /// Drops resident pages of code and constants that serving does not
    /// touch (see `memory.releaseStartupPages`); they come back from the
    /// page cache if used.
    pub(super) fn release_startup_pages(&mut self) {
        if !self.cfg.memory.release_startup_pages {
            return;
        }
        // RSS is read around the release only when it is logged.
        if !log::log_enabled!(log::Level::Debug) {
            crate::observe::memory::release_clean_file_pages();
            return;
        }
        let before = crate::observe::rss_bytes();
        crate::observe::memory::release_clean_file_pages();
        let after = crate::observe::rss_bytes();
        log::debug!(
            "released clean file pages: RSS {} -> {} KiB",
            before / 1024,
            after / 1024
        );
    }

    fn write_memory_report(&mut self, rss: u64) {
        let report = json!({
            "ts": super::wall_ms(),
            "rssBytes": rss,
            "budgetBytes": self.cfg.memory.budget_bytes,
            "percent": self.memory.last_percent,
            "level": self.memory.level,
            "accounting": self.memory_accounting(),
            "counts": {
                "connections": self.counts().0,
                "authenticating": self.counts().1,
                "processesRunning": self.exec.running(),
                "processesFinished": self.exec.finished(),
                "cacheEntries": self.cache.view().entries,
                "idempotencyKeys": self.chat.idempotency_len(),
                "coachInFlight": self.coach_rt.inflight(),
                "pendingApprovals": self.approvals.pending_count(),
            },
            "worstCase": self.cfg.worst_case_memory(),
        });
        match crate::observe::memory::write_report(
            &self.cfg.server.data_dir,
            super::wall_ms(),
            &report,
            self.cfg.memory.max_reports,
        ) {
            Ok(path) => {
                self.memory.reports += 1;
                log::warn!("memory report written to {}", path.display());
            }
            Err(e) => {
                self.memory.report_errors += 1;
                log::error!(
                    "memory report not written to {}: {e}",
                    self.cfg.server.data_dir.display()
                );
            }
        }
    }

    /// `UNAVAILABLE`/`MEMORY_PRESSURE`, retryable after the next check.
    pub(super) fn memory_pressure_error(&self) -> ErrorShape {
        let retry = Duration::from_millis(self.cfg.memory.check_interval_ms)
            .min(MAX_PRESSURE_RETRY)
            .as_millis() as u64;
        ErrorShape::new(
            ErrorCode::Unavailable,
            format!(
                "memory pressure: RSS is {}% of memory.budgetBytes; retry later",
                self.memory.last_percent
            ),
        )
        .detail(
            "MEMORY_PRESSURE",
            json!({"rssBytes": self.memory.last_rss, "budgetBytes": self.cfg.memory.budget_bytes,
                   "percent": self.memory.last_percent, "level": self.memory.level, "retryAfterMs": retry}),
        )
        .retry_after(retry)
    }
}
