//! A hashed timer wheel: O(1) insert, cancel and reset, bounded capacity.
//!
//! Entries live in a slab of nodes threaded into per-slot doubly linked lists, so
//! cancelling or moving a timer is an unlink and a relink. Each node keeps its
//! absolute deadline tick: a slot visited at tick `t` fires the nodes whose
//! deadline is `<= t` and leaves the others (later revolutions) in place. A
//! bitmap of non-empty slots makes "when is the next timer" a handful of word
//! scans, and that answer bounds the poll timeout.
//!
//! Time is passed in: the wheel never reads a clock, so tests step it by hand.

use std::time::{Duration, Instant};

/// Default wheel resolution. Timers fire at most one tick late.
pub const DEFAULT_TICK: Duration = Duration::from_millis(10);
/// Default slot count: one revolution is 5.12 s at 10 ms.
pub const DEFAULT_SLOTS: usize = 512;

const NIL: u32 = u32::MAX;

/// Handle to a scheduled timer. Carries a generation so a handle kept after its
/// timer fired or was cancelled can never touch a reused node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId {
    index: u32,
    generation: u32,
}

struct Node<T> {
    payload: Option<T>,
    deadline_tick: u64,
    slot: u32,
    prev: u32,
    next: u32,
    generation: u32,
}

/// Why a timer could not be scheduled.
#[derive(Debug, PartialEq, Eq)]
pub enum TimerError {
    /// The wheel holds `capacity` timers already.
    Full { capacity: usize },
}

impl std::fmt::Display for TimerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TimerError::Full { capacity } => write!(f, "timer wheel full ({capacity} timers)"),
        }
    }
}

/// Room kept above the capacity for the gateway's fixed set of periodic
/// timers (checkpoint, log flush, I/O window, memory check, accept retry):
/// each exists at most once, so a wheel filled by per-connection timers can
/// never drop one of them and silently stop a feature.
pub const RESERVED: usize = 8;

pub struct TimerWheel<T> {
    /// Inserts refused because the wheel was full (for `health`).
    full: u64,
    start: Instant,
    tick: Duration,
    /// The last tick whose slot has been processed.
    current_tick: u64,
    heads: Vec<u32>,
    occupied: Vec<u64>,
    nodes: Vec<Node<T>>,
    free: Vec<u32>,
    capacity: usize,
    len: usize,
}

impl<T> TimerWheel<T> {
    /// A wheel starting at `now` that holds at most `capacity` timers.
    pub fn new(now: Instant, tick: Duration, slots: usize, capacity: usize) -> Self {
        let slots = slots.next_power_of_two().max(64);
        TimerWheel {
            full: 0,
            start: now,
            tick,
            current_tick: 0,
            heads: vec![NIL; slots],
            occupied: vec![0; slots / 64],
            nodes: Vec::new(),
            free: Vec::new(),
            capacity,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Changes the capacity (config reload). Timers already scheduled stay.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
    }

    fn tick_of(&self, at: Instant) -> u64 {
        let d = at.saturating_duration_since(self.start);
        (d.as_nanos() / self.tick.as_nanos()) as u64
    }

    /// Deadlines round up to the next tick so a timer never fires early.
    fn deadline_tick_of(&self, at: Instant) -> u64 {
        let d = at.saturating_duration_since(self.start);
        let t = d.as_nanos().div_ceil(self.tick.as_nanos()) as u64;
        t.max(self.current_tick + 1)
    }

    fn slot_of(&self, tick: u64) -> u32 {
        (tick as usize & (self.heads.len() - 1)) as u32
    }

    /// Inserts refused because the wheel was full, since start.
    pub fn full_count(&self) -> u64 {
        self.full
    }

    /// Schedules `payload` to fire at `deadline`.
    pub fn insert(&mut self, deadline: Instant, payload: T) -> Result<TimerId, TimerError> {
        self.insert_within(deadline, payload, self.capacity)
    }

    /// Like [`insert`](Self::insert) but may use the [`RESERVED`] room above
    /// the capacity: for the fixed periodic timers only.
    pub fn insert_reserved(
        &mut self,
        deadline: Instant,
        payload: T,
    ) -> Result<TimerId, TimerError> {
        self.insert_within(deadline, payload, self.capacity + RESERVED)
    }

    fn insert_within(
        &mut self,
        deadline: Instant,
        payload: T,
        limit: usize,
    ) -> Result<TimerId, TimerError> {
        if self.len >= limit {
            self.full += 1;
            return Err(TimerError::Full {
                capacity: self.capacity,
            });
        }
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.nodes.push(Node {
                    payload: None,
                    deadline_tick: 0,
                    slot: 0,
                    prev: NIL,
                    next: NIL,
                    generation: 0,
                });
                (self.nodes.len() - 1) as u32
            }
        };
        let deadline_tick = self.deadline_tick_of(deadline);
        {
            let node = &mut self.nodes[index as usize];
            node.payload = Some(payload);
            node.deadline_tick = deadline_tick;
        }
        self.link(index);
        self.len += 1;
        Ok(TimerId {
            index,
            generation: self.nodes[index as usize].generation,
        })
    }

    fn valid(&self, id: TimerId) -> bool {
        self.nodes
            .get(id.index as usize)
            .is_some_and(|n| n.generation == id.generation && n.payload.is_some())
    }

    /// Removes a timer; `None` when it already fired or was cancelled.
    pub fn cancel(&mut self, id: TimerId) -> Option<T> {
        if !self.valid(id) {
            return None;
        }
        self.unlink(id.index);
        Some(self.release(id.index))
    }

    /// Moves a pending timer to a new deadline. Returns false for a stale handle.
    pub fn reset(&mut self, id: TimerId, deadline: Instant) -> bool {
        if !self.valid(id) {
            return false;
        }
        self.unlink(id.index);
        self.nodes[id.index as usize].deadline_tick = self.deadline_tick_of(deadline);
        self.link(id.index);
        true
    }

    fn release(&mut self, index: u32) -> T {
        let node = &mut self.nodes[index as usize];
        node.generation = node.generation.wrapping_add(1);
        let payload = node.payload.take().expect("linked node has a payload");
        self.free.push(index);
        self.len -= 1;
        payload
    }

    fn link(&mut self, index: u32) {
        let slot = self.slot_of(self.nodes[index as usize].deadline_tick);
        let head = self.heads[slot as usize];
        {
            let node = &mut self.nodes[index as usize];
            node.slot = slot;
            node.prev = NIL;
            node.next = head;
        }
        if head != NIL {
            self.nodes[head as usize].prev = index;
        }
        self.heads[slot as usize] = index;
        self.occupied[slot as usize / 64] |= 1 << (slot % 64);
    }

    fn unlink(&mut self, index: u32) {
        let (slot, prev, next) = {
            let n = &self.nodes[index as usize];
            (n.slot, n.prev, n.next)
        };
        if prev != NIL {
            self.nodes[prev as usize].next = next;
        } else {
            self.heads[slot as usize] = next;
            if next == NIL {
                self.occupied[slot as usize / 64] &= !(1 << (slot % 64));
            }
        }
        if next != NIL {
            self.nodes[next as usize].prev = prev;
        }
    }

    fn instant_of(&self, tick: u64) -> Instant {
        self.start + Duration::from_nanos((self.tick.as_nanos() as u64).saturating_mul(tick))
    }

    /// Fires every timer due at `now`, in no particular order within a tick,
    /// appending their payloads to `out`. Returns how late the most overdue
    /// one fired (zero when none fired).
    pub fn expire(&mut self, now: Instant, out: &mut Vec<T>) -> Duration {
        let now_tick = self.tick_of(now);
        let mut lag = Duration::ZERO;
        if now_tick <= self.current_tick {
            return lag;
        }
        let slots = self.heads.len() as u64;
        let from = if now_tick - self.current_tick > slots {
            // Slept through a whole revolution: visit every slot once.
            now_tick - slots + 1
        } else {
            self.current_tick + 1
        };
        for t in from..=now_tick {
            let slot = self.slot_of(t);
            let mut cursor = self.heads[slot as usize];
            while cursor != NIL {
                let next = self.nodes[cursor as usize].next;
                let due = self.nodes[cursor as usize].deadline_tick;
                if due <= now_tick {
                    lag = lag.max(now.saturating_duration_since(self.instant_of(due)));
                    self.unlink(cursor);
                    out.push(self.release(cursor));
                }
                cursor = next;
            }
        }
        self.current_tick = now_tick;
        lag
    }

    /// When the next timer may be due, or `None` when the wheel is empty. A timer
    /// in a later revolution makes this early, never late: the loop wakes,
    /// finds nothing due and asks again.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.len == 0 {
            return None;
        }
        let slots = self.heads.len() as u64;
        let start_slot = self.slot_of(self.current_tick + 1) as usize;
        let words = self.occupied.len();
        // Scan the bitmap from the slot after `current_tick`, wrapping once.
        for step in 0..=words {
            let w = (start_slot / 64 + step) % words;
            let mut bits = self.occupied[w];
            if step == 0 {
                bits &= !0u64 << (start_slot % 64);
            } else if step == words {
                bits &= !(!0u64 << (start_slot % 64));
            }
            if bits != 0 {
                let slot = (w * 64 + bits.trailing_zeros() as usize) as u64;
                let base = self.slot_of(self.current_tick + 1) as u64;
                let ahead = (slot + slots - base) % slots;
                let tick = self.current_tick + 1 + ahead;
                return Some(self.instant_of(tick));
            }
        }
        None
    }

    /// Poll timeout: time until the next timer, zero when one is overdue.
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        self.next_deadline()
            .map(|d| d.saturating_duration_since(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wheel(now: Instant) -> TimerWheel<&'static str> {
        TimerWheel::new(now, Duration::from_millis(10), 64, 100)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn test_fires_at_deadline_not_before() {
        let t0 = Instant::now();
        let mut w = wheel(t0);
        w.insert(t0 + ms(25), "a").unwrap();
        let mut out = vec![];
        assert_eq!(w.expire(t0 + ms(20), &mut out), Duration::ZERO);
        assert!(out.is_empty());
        // Due at the 30 ms tick boundary; fired at 37 ms: 7 ms late.
        assert_eq!(w.expire(t0 + ms(37), &mut out), ms(7));
        assert_eq!(out, vec!["a"]);
        assert!(w.is_empty());
    }

    #[test]
    fn test_later_revolution_waits() {
        let t0 = Instant::now();
        let mut w = wheel(t0); // 64 slots x 10 ms = 640 ms a revolution
        w.insert(t0 + ms(2_000), "far").unwrap();
        w.insert(t0 + ms(50), "near").unwrap();
        let mut out = vec![];
        let mut t = t0;
        let mut fired_at = vec![];
        while t < t0 + ms(2_100) {
            t += ms(10);
            w.expire(t, &mut out);
            for p in out.drain(..) {
                fired_at.push((p, t - t0));
            }
        }
        assert_eq!(fired_at, vec![("near", ms(50)), ("far", ms(2_000))]);
    }

    #[test]
    fn test_cancel_and_stale_handle() {
        let t0 = Instant::now();
        let mut w = wheel(t0);
        let id = w.insert(t0 + ms(30), "a").unwrap();
        assert_eq!(w.cancel(id), Some("a"));
        assert_eq!(w.cancel(id), None);
        // The node is reused; the old handle must not reach the new timer.
        let id2 = w.insert(t0 + ms(30), "b").unwrap();
        assert_eq!(id.index, id2.index);
        assert_eq!(w.cancel(id), None);
        assert!(!w.reset(id, t0 + ms(90)));
        let mut out = vec![];
        w.expire(t0 + ms(40), &mut out);
        assert_eq!(out, vec!["b"]);
    }

    #[test]
    fn test_reset_moves_deadline() {
        let t0 = Instant::now();
        let mut w = wheel(t0);
        let id = w.insert(t0 + ms(30), "idle").unwrap();
        let mut out = vec![];
        w.expire(t0 + ms(20), &mut out);
        assert!(w.reset(id, t0 + ms(120)));
        w.expire(t0 + ms(100), &mut out);
        assert!(out.is_empty());
        w.expire(t0 + ms(120), &mut out);
        assert_eq!(out, vec!["idle"]);
    }

    #[test]
    fn test_capacity_is_enforced() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0, ms(10), 64, 2);
        w.insert(t0 + ms(10), 1).unwrap();
        w.insert(t0 + ms(10), 2).unwrap();
        assert_eq!(
            w.insert(t0 + ms(10), 3),
            Err(TimerError::Full { capacity: 2 })
        );
        assert_eq!(w.full_count(), 1, "a refused insert is counted");
    }

    /// Periodic timers used to be re-armed with `let _ = insert(..)`: a wheel
    /// filled by per-connection timers dropped them and the feature stopped
    /// for good. The reserve above the capacity always takes them.
    #[test]
    fn test_reserved_room_takes_periodic_timers_when_full() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0, ms(10), 64, 2);
        w.insert(t0 + ms(10), 1).unwrap();
        w.insert(t0 + ms(10), 2).unwrap();
        assert!(w.insert(t0 + ms(10), 3).is_err());
        for i in 0..RESERVED {
            w.insert_reserved(t0 + ms(20), 100 + i).unwrap();
        }
        assert!(
            w.insert_reserved(t0 + ms(20), 999).is_err(),
            "the reserve is bounded"
        );
        assert_eq!(w.full_count(), 2);
        let mut out = vec![];
        w.expire(t0 + ms(20), &mut out);
        assert_eq!(out.len(), 2 + RESERVED, "the periodic timers fire");
    }

    #[test]
    fn test_next_deadline_bounds_poll_timeout() {
        let t0 = Instant::now();
        let mut w = wheel(t0);
        assert_eq!(w.timeout(t0), None);
        w.insert(t0 + ms(300), "x").unwrap();
        w.insert(t0 + ms(70), "y").unwrap();
        assert_eq!(w.timeout(t0), Some(ms(70)));
        let mut out = vec![];
        w.expire(t0 + ms(70), &mut out);
        assert_eq!(w.timeout(t0 + ms(70)), Some(ms(230)));
        // A far timer (later revolution) yields an early wake, never a late one.
        let mut w = wheel(t0);
        w.insert(t0 + ms(1_000), "far").unwrap();
        let d = w.next_deadline().unwrap();
        assert!(d <= t0 + ms(1_000));
    }

    #[test]
    fn test_long_stall_fires_everything_due() {
        let t0 = Instant::now();
        let mut w = wheel(t0);
        for i in 0..50 {
            w.insert(t0 + ms(10 * i + 5), "t").unwrap();
        }
        w.insert(t0 + ms(60_000), "later").unwrap();
        let mut out = vec![];
        w.expire(t0 + ms(10_000), &mut out);
        assert_eq!(out.len(), 50);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn test_24_hours_of_ticks_by_stepping_time() {
        let t0 = Instant::now();
        let mut w: TimerWheel<u32> = TimerWheel::new(t0, ms(10), 512, 16);
        let period = ms(30_000);
        let mut next = t0 + period;
        w.insert(next, 0).unwrap();
        let mut fired = 0u32;
        let mut out = vec![];
        let mut now = t0;
        let end = t0 + Duration::from_secs(24 * 3600);
        while now < end {
            now = w.next_deadline().unwrap();
            w.expire(now, &mut out);
            for _ in out.drain(..) {
                fired += 1;
                next += period;
                w.insert(next, fired).unwrap();
            }
        }
        assert_eq!(fired, 24 * 3600 / 30);
        assert_eq!(w.len(), 1);
    }
}
