//! The gateway as the reactor sees it: [`crate::reactor::Handler`], the
//! only calls the loop makes into it. Tokens are decoded here (a
//! connection's slot and generation, or a child's pipe), so the reactor
//! knows nothing of connections or processes.

use super::{Gateway, MetaFlush};
use crate::config::Config;
use crate::gateway::auth::Secrets;
use crate::net::ConnId;
use crate::reactor::{Handler, WORKER_RESULTS_BUDGET};
use mio::net::TcpListener;
use mio::Token;
use std::time::{Duration, Instant};

impl Handler for Gateway {
    fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        if self.has_revisits() {
            return Some(Duration::ZERO);
        }
        self.timers.timeout(now)
    }

    fn on_accept(&mut self, listener: &TcpListener, now: Instant) {
        self.accept(listener, now);
    }

    fn on_wake(&mut self, now: Instant) {
        self.loop_stats.wakeups += 1;
        self.on_worker_results(WORKER_RESULTS_BUDGET, now);
    }

    fn on_token(&mut self, token: Token, readable: bool, writable: bool, now: Instant) {
        if let Some((seq, stream)) = crate::exec::from_proc_token(token) {
            self.on_proc_ready(seq, stream, readable, writable, now);
        } else if let Some(id) = ConnId::from_token(token) {
            self.on_ready(id, readable, writable, now);
        }
    }

    fn on_child(&mut self, now: Instant) {
        self.on_sigchld(now);
    }

    fn on_shutdown(&mut self, why: &str, now: Instant) {
        self.begin_shutdown(why, now);
    }

    fn on_reload(&mut self, new: Option<(Config, Secrets)>, now: Instant) {
        match new {
            Some((cfg, secrets)) => self.reload(cfg, secrets, now),
            None => self.stats.reload_failures += 1,
        }
    }

    fn end_turn(&mut self, listener: Option<&TcpListener>, now: Instant) -> usize {
        self.run_revisits(listener, now);
        let mut fired = std::mem::take(&mut self.fired);
        let n = self.expire_timers(now, &mut fired);
        self.fired = fired;
        self.flush_dirty(now);
        n
    }

    fn record_turn(&mut self, start: Instant, took: Duration, events: u64, timers: usize) {
        let s = &mut self.loop_stats;
        s.iterations += 1;
        s.events += events;
        s.timers_fired += timers as u64;
        s.last_turn = took;
        s.max_turn = s.max_turn.max(took);
        s.busy += took;
        self.record_lag(start, took);
    }

    fn finish_if_done(&mut self, now: Instant) -> bool {
        if !self.shutdown_complete(now) {
            return false;
        }
        self.exec_final(now);
        self.commit_appends(now);
        self.flush_meta(MetaFlush::Shutdown, now);
        self.workers.shutdown();
        if let Err(e) = self.store.checkpoint() {
            log::warn!("final checkpoint failed: {e}");
        }
        let (open, _) = self.counts();
        log::info!("shutdown complete ({open} connections still open at exit)");
        if let Some(f) = &self.logfile {
            f.flush();
        }
        true
    }

    fn next_timer(&self, now: Instant) -> Option<Duration> {
        self.timers.timeout(now)
    }

    fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    fn token_origin(&self) -> &str {
        Gateway::token_origin(self)
    }
}
