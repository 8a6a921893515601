//! Outbound: responses, events and broadcasts onto connections, the batching
//! of docs/protocol.md section 5 and the slow-consumer policy; and the end-of-turn
//! flush that brings each connection's poll interest in line with its state.

use super::{methods, Gateway, Priority, Timer};
use crate::net::conn::{frame_len, Flush};
use crate::net::sock::OutFrame;
use crate::net::{ConnId, ConnState};
use crate::protocol::{self, close, ErrorShape, SharedEvent};
use serde_json::Value;
use std::time::{Duration, Instant};

/// An approver's connection may hold this many times `maxBufferedBytes` of
/// answers and approval events before it too is closed as a slow consumer.
pub const APPROVER_HEADROOM: usize = 2;

impl Gateway {
    pub fn respond_ok(&mut self, id: ConnId, req_id: &str, payload: &Value, now: Instant) {
        if self.hooks.waiting(id) {
            return self.hook_settled(id, Ok(payload));
        }
        let text = protocol::res_ok(req_id, payload);
        self.enqueue(id, OutFrame::text(text), Priority::Immediate, now);
    }

    /// A response whose payload is already JSON text.
    pub fn respond_ok_raw(&mut self, id: ConnId, req_id: &str, payload_json: &str, now: Instant) {
        if self.hooks.waiting(id) {
            let v = serde_json::from_str(payload_json).unwrap_or_default();
            return self.hook_settled(id, Ok(&v));
        }
        let text = protocol::res_ok_raw(req_id, payload_json);
        self.enqueue(id, OutFrame::text(text), Priority::Immediate, now);
    }

    /// A late answer (see `Priority::Reply`).
    pub fn reply_late(&mut self, id: ConnId, req_id: &str, payload: &Value, now: Instant) {
        let text = protocol::res_ok(req_id, payload);
        self.enqueue(id, OutFrame::text(text), Priority::Reply, now);
    }

    pub fn respond_err(&mut self, id: ConnId, req_id: &str, err: &ErrorShape, now: Instant) {
        self.stats.errors_sent += 1;
        if self.hooks.waiting(id) {
            return self.hook_settled(id, Err(err));
        }
        let text = protocol::res_err(req_id, err);
        self.enqueue(id, OutFrame::text(text), Priority::Immediate, now);
    }

    /// Sends `ev` to one connection with its next `seq`.
    pub fn send_event(&mut self, id: ConnId, ev: &SharedEvent, prio: Priority, now: Instant) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.seq += 1;
        let mut tail = [0u8; 28];
        let n = SharedEvent::tail(Some(conn.seq), &mut tail);
        let frame = OutFrame::with_tail(ev.prefix(), &tail[..n]);
        self.enqueue(id, frame, prio, now);
    }

    /// Sends `ev` to every authenticated connection (but `except`) that passes
    /// `filter`. The payload is serialized once, by the caller.
    pub fn broadcast(
        &mut self,
        ev: &SharedEvent,
        prio: Priority,
        except: Option<ConnId>,
        now: Instant,
    ) -> usize {
        // A scratch list reused across broadcasts (one per chat message).
        let mut ids = std::mem::take(&mut self.broadcast_ids);
        ids.clear();
        ids.extend(
            self.conns
                .iter()
                .filter(|c| c.state() == ConnState::Open && Some(c.id) != except)
                .map(|c| c.id),
        );
        self.stats.broadcasts += 1;
        for &id in &ids {
            self.send_event(id, ev, prio, now);
        }
        let n = ids.len();
        self.broadcast_ids = ids;
        n
    }

    /// Presence changed: one `presence` event goes out after the debounce,
    /// whatever the number of joins and leaves in between.
    pub(super) fn presence_changed(&mut self, now: Instant) {
        self.state_version.presence += 1;
        if self.presence_timer.is_none() && !self.is_shutting_down() {
            let at = now + Duration::from_millis(self.cfg.events.presence_debounce_ms);
            self.presence_timer = self.timers.insert(at, Timer::Presence).ok();
        }
    }

    pub(super) fn broadcast_presence(&mut self, now: Instant) {
        if self.is_shutting_down() {
            return;
        }
        let ev = SharedEvent::new("presence", &methods::presence_event_payload(self))
            .with_state_version(self.state_version);
        self.broadcast(&ev, Priority::Droppable, None, now);
    }

    /// RSS, read from /proc at most once a second.
    pub fn rss_bytes(&mut self, now: Instant) -> u64 {
        match self.rss_cache {
            Some((at, v)) if now.duration_since(at) < Duration::from_secs(1) => v,
            _ => {
                let v = crate::observe::rss_bytes();
                self.rss_cache = Some((now, v));
                v
            }
        }
    }

    /// The outbound policy: immediate frames go into the write buffer now,
    /// batched ones wait for a count or a timer; over `maxBufferedBytes`,
    /// droppable frames are skipped and anything else closes the connection as
    /// a slow consumer.
    pub(super) fn enqueue(&mut self, id: ConnId, frame: OutFrame, prio: Priority, now: Instant) {
        let cap = self.cfg.websocket.max_buffered_bytes;
        let batch_max = self.cfg.events.batch_max_events;
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if conn.state() == ConnState::Closing {
            return;
        }
        let size = frame_len(frame.len());
        let pending = conn.pending_out_bytes();
        // An approver is the last connection closed: over the cap its
        // batched events are skipped (it can re-read them) and answers and
        // approval events get APPROVER_HEADROOM more room, so approval
        // events are not lost to someone else's chat burst.
        let approver = pending + size > cap
            && self.sessions.get(&id).is_some_and(|s| {
                crate::protocol::handshake::scope_allows(
                    &s.scopes,
                    crate::protocol::handshake::SCOPE_APPROVALS,
                )
            });
        if approver && pending + size <= cap * APPROVER_HEADROOM {
            if matches!(
                prio,
                Priority::Batched | Priority::Droppable | Priority::Flow
            ) {
                self.stats.dropped += 1;
                return;
            }
        } else if pending + size > cap {
            let straddle = matches!(prio, Priority::Reply | Priority::Flow) && pending <= cap;
            if matches!(prio, Priority::Droppable | Priority::Eager)
                || (prio == Priority::Flow && !straddle)
            {
                self.stats.dropped += 1;
                return;
            }
            if pending > 0 && !straddle {
                self.stats.slow_consumers += 1;
                log::warn!("{id}: slow consumer ({pending} bytes pending), closing");
                return self.close(id, close::POLICY, "slow consumer", now);
            }
        }
        self.stats.messages_out += 1;
        self.stats.bytes_queued += size as u64;
        match prio {
            Priority::Immediate | Priority::Eager | Priority::Reply => {
                self.stats.immediate += 1;
                let n = conn.write_now(Some(frame));
                if n > 1 {
                    // Held batched frames went first to keep order.
                    self.stats.batches += 1;
                    self.stats.batched_messages += (n - 1) as u64;
                    if let Some(t) = conn.batch_timer.take() {
                        self.timers.cancel(t);
                    }
                }
                self.mark_dirty(id);
            }
            Priority::Batched | Priority::Droppable | Priority::Flow => {
                conn.push_batched(frame);
                if conn.batch_len() >= batch_max {
                    self.flush_batch(id);
                } else if conn.batch_timer.is_none() {
                    let delay = Duration::from_millis(self.cfg.events.batch_delay_ms);
                    conn.batch_timer = self.timers.insert(now + delay, Timer::Batch(id)).ok();
                    if conn.batch_timer.is_none() {
                        // Timer wheel full: never strand a frame.
                        self.flush_batch(id);
                    }
                }
            }
        }
    }

    pub(super) fn flush_batch(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if let Some(t) = conn.batch_timer.take() {
            self.timers.cancel(t);
        }
        let n = conn.write_now(None);
        if n > 0 {
            self.stats.batches += 1;
            self.stats.batched_messages += n as u64;
        }
        self.mark_dirty(id);
    }

    /// End of a loop turn: flush what is pending and bring each touched
    /// connection's registered interest in line with its state.
    pub fn flush_dirty(&mut self, now: Instant) {
        // This turn's appends: one transaction, then their answers.
        self.commit_appends(now);
        // This turn's coach decisions: one audit transaction.
        self.flush_audit(now);
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for id in dirty.drain(..) {
            self.settle(id, now);
        }
        self.dirty = dirty; // keep the allocation
    }

    /// Flushes one connection and brings its registered interest in line
    /// with its state. Called right after a connection's reads (so its
    /// responses do not wait for the rest of the turn) and at the end of
    /// the turn for every connection touched indirectly.
    pub fn settle(&mut self, id: ConnId, now: Instant) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if conn.write_pending() || conn.state() == ConnState::Closing {
            self.stats.flushes += 1;
            if conn.flush() == Flush::Closed {
                self.remove(id, now);
                return;
            }
        }
        conn.finish_failed_close();
        let pending = conn.pending_out_bytes();
        let want = conn.interest();
        if conn.registered != Some(want) {
            match self
                .registry
                .reregister(&mut conn.sock.tcp, id.token(), want)
            {
                Ok(()) => conn.registered = Some(want),
                Err(e) => {
                    log::warn!("{id}: reregister failed: {e}");
                    self.remove(id, now);
                    return;
                }
            }
        }
        self.exec_resume_for(id, pending);
    }
}
