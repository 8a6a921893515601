//! The loop side of audit forwarding (`src/forward/`): rows written to the
//! local audit table are queued, a timer or a full batch sends one POST on
//! the pool, its result feeds the circuit breaker.

use super::{Gateway, Timer};
use crate::forward::Forwarder;
use crate::store::audit::AuditRow;
use std::time::Instant;

impl Gateway {
    /// Copies freshly stored audit rows to the forward queue.
    pub(super) fn forward_rows(&mut self, rows: &[AuditRow], now: Instant) {
        let Some(f) = self.forwarder.as_mut() else {
            return;
        };
        let bound = crate::config::forward_event_bytes(&self.cfg);
        for row in rows {
            let mut text = serde_json::to_string(row).unwrap_or_default();
            if text.len() > bound {
                // The local table has the whole row; the copy stays bounded.
                let mut short = row.clone();
                short.detail = None;
                short.input = short.input.chars().take(256).collect();
                text = serde_json::to_string(&short).unwrap_or_default();
            }
            f.push(text);
        }
        if f.batch_ready() {
            self.forward_send(now);
        } else {
            self.arm_forward(now);
        }
    }

    fn arm_forward(&mut self, now: Instant) {
        let Some(f) = self.forwarder.as_ref() else {
            return;
        };
        if self.forward_timer.is_some() || f.queue_len() == 0 || f.in_flight() {
            return;
        }
        // An open circuit waits for its half-open time, not the flush.
        let at = match f.breaker.open_until() {
            Some(t) if f.breaker.state == crate::forward::BreakerState::Open => {
                t.max(now + f.flush_interval())
            }
            _ => now + f.flush_interval(),
        };
        self.forward_timer = self.timers.insert(at, Timer::AuditForward).ok();
    }

    /// Sends one batch on the pool if the breaker and the queue allow.
    pub(super) fn forward_send(&mut self, now: Instant) {
        let Some(f) = self.forwarder.as_mut() else {
            return;
        };
        if let Some(body) = f.take_batch(now) {
            let request = f.request(&body);
            let endpoint = f.endpoint.clone();
            let timeout = f.timeout();
            let job = Box::new(move || {
                crate::workers::JobResult::Forward(crate::forward::post(
                    &endpoint, &request, timeout,
                ))
            });
            let on_panic = crate::workers::JobResult::Forward(Err("forward job panicked".into()));
            if self.workers.submit(Some(on_panic), job).is_err() {
                // Pool full: the batch goes back and waits for the timer.
                if let Some(f) = self.forwarder.as_mut() {
                    f.on_result(&Err("worker pool busy".into()), now);
                }
            }
        }
        self.arm_forward(now);
    }

    pub(super) fn on_forward_result(&mut self, res: Result<u16, String>, now: Instant) {
        let Some(f) = self.forwarder.as_mut() else {
            return;
        };
        if let Err(e) = &res {
            if f.breaker.state != crate::forward::BreakerState::Open {
                log::warn!("audit forward to {}: {e}", f.endpoint.host);
            }
        }
        f.on_result(&res, now);
        if f.batch_ready() {
            self.forward_send(now);
        } else {
            self.arm_forward(now);
        }
    }

    /// `auditForward` changed on reload: a new endpoint starts with a new
    /// queue (what the old one held is in the local table).
    pub(super) fn forward_reconfigure(&mut self, cfg: &crate::config::AuditForwardConfig) {
        if let Some(t) = self.forward_timer.take() {
            self.timers.cancel(t);
        }
        self.forwarder = Forwarder::new(cfg);
    }
}
