//! The fixed thread pool for blocking or CPU-heavy jobs: coach checks and
//! WAL checkpoints. Jobs go in through a bounded crossbeam channel; results
//! come back on another and the loop is woken through the `mio::Waker`,
//! then drains them with a budget. A panicking job is caught: the thread
//! survives and the panic is counted. Per-task timeouts live on the loop
//! (a timer per submitted check); a late result is simply dropped there.
//! Shutdown rejects what is still queued and joins the threads, waiting at
//! most a grace period for jobs still running: every job is either pure
//! (a check, the start-up library compile) or safe to cut off by exit (a
//! checkpoint, a POST retried from the store next start).

use crossbeam::channel::{bounded, Receiver, Sender, TrySendError};
use mio::Waker;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Makes the pool's threads allocate from the main heap. glibc gives each
/// thread that allocates its own arena (up to 8 per core); the coach's
/// library, compiled on a pool thread, then sat in a second heap with its
/// compile-time garbage around it, and each arena keeps its own free pages.
/// One poll thread and a small pool gain nothing measurable from separate
/// arenas (a check allocates little and briefly), and one heap makes the
/// resident figure follow what is live: RSS with the coach ready went from
/// 7.29 to 6.85 MB (`cargo bench --bench load`). musl has no arenas.
pub fn one_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called at start,
    // before any thread but main exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// What a job reports back to the loop.
#[derive(Debug)]
pub enum JobResult {
    /// A WAL checkpoint finished: how long it took, or why it failed.
    Checkpoint(Result<Duration, String>),
    /// The coach's pattern library finished compiling (at start).
    CoachReady(Duration),
    /// A coach check finished (`job` is the loop's id for it).
    Coach {
        job: u64,
        verdict: Box<crate::coach::Verdict>,
    },
    /// Live processes per watched process group: (pgid, count).
    ProcScan(Vec<(i32, usize)>),
    /// Processes a finished run left behind, killed by the sweep.
    Swept(usize),
    /// An audit batch POST finished: the HTTP status or why it failed.
    Forward(Result<u16, String>),
    /// `audit.verify` walked the chain on a read-only connection.
    AuditVerify {
        conn: crate::net::ConnId,
        req_id: String,
        report: Result<serde_json::Value, String>,
    },
    /// An approval notification POST finished (`src/notify/`).
    Notify(Result<u16, String>),
}

pub type Job = Box<dyn FnOnce() -> JobResult + Send + 'static>;

/// A job plus what to report if it panics: the failure result the loop
/// already handles (`Checkpoint(Err(..))`, an empty `ProcScan`, ...), so the
/// feature's in-flight flag is cleared and the failure takes its normal
/// path. `None` when the loop has its own timeout for the job (coach checks).
type Queued = (Option<JobResult>, Job);

#[derive(Debug, PartialEq, Eq)]
pub enum SubmitError {
    /// The queue is at its bound: run the work later (or inline if short).
    Full,
    /// The pool is shutting down.
    Stopped,
}

/// Counters shared with the threads.
#[derive(Debug, Default)]
pub struct PoolCounters {
    pub queued: AtomicU64,
    pub running: AtomicU64,
    pub done: AtomicU64,
    pub panicked: AtomicU64,
    pub busy_us: AtomicU64,
    /// Jobs still queued when shutdown began: dropped, not run.
    pub rejected_shutdown: AtomicU64,
    stopping: AtomicBool,
}

/// Snapshot of the pool's counters, for `health`.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolStats {
    pub threads: usize,
    pub queue_capacity: usize,
    pub queued: u64,
    pub running: u64,
    pub done: u64,
    pub panicked: u64,
    pub rejected_full: u64,
    pub rejected_shutdown: u64,
    /// Tasks whose caller was answered `UNAVAILABLE` after the task timeout.
    pub timed_out: u64,
    pub queue_high_water: u64,
    pub busy_us: u64,
    pub busy_us_per_worker: Vec<u64>,
}

pub struct WorkerPool {
    tx: Option<Sender<Queued>>,
    results: Receiver<JobResult>,
    threads: Vec<JoinHandle<()>>,
    /// How long `shutdown` waits for running jobs.
    exit_grace: Duration,
    counters: Arc<PoolCounters>,
    busy: Arc<Vec<AtomicU64>>,
    capacity: usize,
    rejected_full: u64,
    timed_out: u64,
    queue_high_water: u64,
}

/// How long shutdown waits, by default, for jobs still running. The longest
/// job is the start-up library compile, which an unoptimised build on a busy
/// machine stretched past 10 s: a stop signal must not wait for it.
pub const DEFAULT_EXIT_GRACE: Duration = Duration::from_secs(1);

/// How often `shutdown` looks whether the threads have ended.
const EXIT_POLL: Duration = Duration::from_millis(5);

/// Default thread count: cores − 1, at least 1.
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().saturating_sub(1))
        .unwrap_or(1)
        .max(1)
}

impl WorkerPool {
    pub fn new(threads: usize, queue: usize, waker: Arc<Waker>) -> std::io::Result<WorkerPool> {
        let (tx, rx) = bounded::<Queued>(queue);
        let (res_tx, results) = bounded::<JobResult>(queue + threads);
        let counters = Arc::new(PoolCounters::default());
        let busy = Arc::new((0..threads).map(|_| AtomicU64::new(0)).collect::<Vec<_>>());
        let mut handles = Vec::with_capacity(threads);
        for i in 0..threads {
            let rx = rx.clone();
            let res_tx = res_tx.clone();
            let waker = waker.clone();
            let c = counters.clone();
            let b = busy.clone();
            let h = std::thread::Builder::new()
                .name(format!("clawgate-worker-{i}"))
                .spawn(move || worker(i, rx, res_tx, waker, c, b))?;
            handles.push(h);
        }
        Ok(WorkerPool {
            tx: Some(tx),
            results,
            threads: handles,
            exit_grace: DEFAULT_EXIT_GRACE,
            counters,
            busy,
            capacity: queue,
            rejected_full: 0,
            timed_out: 0,
            queue_high_water: 0,
        })
    }

    /// Queues `job`; `on_panic` is sent back instead of its result if it
    /// panics (see [`Queued`]).
    pub fn submit(&mut self, on_panic: Option<JobResult>, job: Job) -> Result<(), SubmitError> {
        let Some(tx) = &self.tx else {
            return Err(SubmitError::Stopped);
        };
        // Counted before the send: a worker may take the job (and count it
        // down) before `try_send` even returns.
        let q = self.counters.queued.fetch_add(1, Ordering::Relaxed) + 1;
        match tx.try_send((on_panic, job)) {
            Ok(()) => {
                self.queue_high_water = self.queue_high_water.max(q);
                Ok(())
            }
            Err(e) => {
                self.counters.queued.fetch_sub(1, Ordering::Relaxed);
                match e {
                    TrySendError::Full(_) => {
                        self.rejected_full += 1;
                        Err(SubmitError::Full)
                    }
                    TrySendError::Disconnected(_) => Err(SubmitError::Stopped),
                }
            }
        }
    }

    /// Results ready now, at most `budget` of them.
    pub fn drain(&self, budget: usize, out: &mut Vec<JobResult>) {
        for _ in 0..budget {
            match self.results.try_recv() {
                Ok(r) => out.push(r),
                Err(_) => return,
            }
        }
    }

    pub fn stats(&self) -> PoolStats {
        let c = &self.counters;
        PoolStats {
            threads: self.threads.len(),
            queue_capacity: self.capacity,
            queued: c.queued.load(Ordering::SeqCst),
            running: c.running.load(Ordering::SeqCst),
            done: c.done.load(Ordering::Relaxed),
            panicked: c.panicked.load(Ordering::Relaxed),
            rejected_full: self.rejected_full,
            rejected_shutdown: c.rejected_shutdown.load(Ordering::Relaxed),
            timed_out: self.timed_out,
            queue_high_water: self.queue_high_water,
            busy_us: c.busy_us.load(Ordering::Relaxed),
            busy_us_per_worker: self
                .busy
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
        }
    }

    /// The loop gave up waiting for a task.
    pub fn note_timeout(&mut self) {
        self.timed_out += 1;
    }

    /// Sets how long `shutdown` waits for jobs still running.
    pub fn set_exit_grace(&mut self, grace: Duration) {
        self.exit_grace = grace;
    }

    pub fn threads(&self) -> usize {
        self.threads.len()
    }

    /// Stops taking jobs, drops what is still queued (counted), gives
    /// running jobs up to the exit grace to finish and joins the threads that
    /// ended; a thread still busy after that is left to end with the process.
    /// Returns how many were left.
    pub fn shutdown(&mut self) -> usize {
        self.counters.stopping.store(true, Ordering::SeqCst);
        self.tx = None;
        // Polled, not waited on through a channel: this runs once, at exit,
        // and a channel's timed wait cost the aarch64 binary 13 KB.
        let deadline = Instant::now() + self.exit_grace;
        while self.threads.iter().any(|h| !h.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(EXIT_POLL);
        }
        let mut left = 0;
        for h in self.threads.drain(..) {
            if h.is_finished() {
                let _ = h.join();
            } else {
                left += 1;
            }
        }
        if left > 0 {
            log::warn!(
                "{left} worker thread(s) still running a job after {:?}; not waited for",
                self.exit_grace
            );
        }
        left
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

fn worker(
    index: usize,
    rx: Receiver<Queued>,
    res_tx: Sender<JobResult>,
    waker: Arc<Waker>,
    c: Arc<PoolCounters>,
    busy: Arc<Vec<AtomicU64>>,
) {
    // `running` goes up before `queued` goes down, and down only once the
    // result is in the channel: `queued + running == 0` then means every
    // result is there to take (the virtual-clock soak relies on it).
    while let Ok((on_panic, job)) = rx.recv() {
        c.running.fetch_add(1, Ordering::SeqCst);
        c.queued.fetch_sub(1, Ordering::SeqCst);
        if c.stopping.load(Ordering::SeqCst) {
            c.rejected_shutdown.fetch_add(1, Ordering::Relaxed);
            c.running.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        let t = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(job));
        let us = t.elapsed().as_micros() as u64;
        c.busy_us.fetch_add(us, Ordering::Relaxed);
        busy[index].fetch_add(us, Ordering::Relaxed);
        match outcome {
            Ok(result) => {
                c.done.fetch_add(1, Ordering::Relaxed);
                let sent = res_tx.send(result);
                c.running.fetch_sub(1, Ordering::SeqCst);
                if sent.is_err() {
                    return;
                }
                let _ = waker.wake();
            }
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                log::error!("worker job panicked: {msg}");
                c.panicked.fetch_add(1, Ordering::Relaxed);
                // Report like a result, so the loop clears the job's flag.
                let sent = match on_panic {
                    Some(r) => res_tx.send(r).map(|_| true),
                    None => Ok(false),
                };
                c.running.fetch_sub(1, Ordering::SeqCst);
                match sent {
                    Err(_) => return,
                    Ok(true) => {
                        let _ = waker.wake();
                    }
                    Ok(false) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll, Token};

    fn pool(threads: usize, queue: usize) -> (WorkerPool, Poll) {
        let poll = Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), Token(1)).unwrap());
        (WorkerPool::new(threads, queue, waker).unwrap(), poll)
    }

    fn wait_results(p: &WorkerPool, poll: &mut Poll, n: usize) -> Vec<JobResult> {
        let mut out = Vec::new();
        let mut events = Events::with_capacity(4);
        while out.len() < n {
            poll.poll(&mut events, Some(Duration::from_secs(10)))
                .unwrap();
            assert!(!events.is_empty(), "the waker woke the poll");
            p.drain(16, &mut out);
        }
        out
    }

    #[test]
    fn test_results_wake_the_poll() {
        let (mut p, mut poll) = pool(2, 4);
        p.submit(
            None,
            Box::new(|| JobResult::Checkpoint(Ok(Duration::from_millis(1)))),
        )
        .unwrap();
        let r = wait_results(&p, &mut poll, 1);
        assert!(matches!(r[0], JobResult::Checkpoint(Ok(_))));
        assert_eq!(p.stats().done, 1);
    }

    #[test]
    fn test_panicking_job_is_isolated() {
        let (mut p, mut poll) = pool(1, 4);
        p.submit(None, Box::new(|| panic!("boom"))).unwrap();
        p.submit(
            None,
            Box::new(|| JobResult::Checkpoint(Err("after".into()))),
        )
        .unwrap();
        let r = wait_results(&p, &mut poll, 1);
        assert!(matches!(&r[0], JobResult::Checkpoint(Err(m)) if m == "after"));
        assert_eq!(p.stats().panicked, 1, "the thread survived the panic");
    }

    /// A panicking job used to vanish: the checkpoint (or process scan, or
    /// audit forward) flag stayed set and the feature stopped for good. Its
    /// failure result now comes back and the panic is counted.
    #[test]
    fn test_panicking_job_reports_its_failure_result() {
        let (mut p, mut poll) = pool(1, 4);
        p.submit(
            Some(JobResult::Checkpoint(Err("checkpoint job panicked".into()))),
            Box::new(|| panic!("boom")),
        )
        .unwrap();
        let r = wait_results(&p, &mut poll, 1);
        assert!(
            matches!(&r[0], JobResult::Checkpoint(Err(m)) if m.contains("panicked")),
            "{r:?}"
        );
        assert_eq!(p.stats().panicked, 1);
        assert_eq!(p.stats().running, 0);
    }

    /// Starts a job that holds one thread until the returned sender is
    /// dropped, and waits until it runs.
    fn hold_a_thread(p: &mut WorkerPool) -> crossbeam::channel::Sender<()> {
        let (gate_tx, gate_rx) = bounded::<()>(0);
        let (started_tx, started_rx) = bounded::<()>(1);
        p.submit(
            None,
            Box::new(move || {
                let _ = started_tx.send(());
                let _ = gate_rx.recv();
                JobResult::Checkpoint(Ok(Duration::ZERO))
            }),
        )
        .unwrap();
        started_rx.recv().unwrap();
        gate_tx
    }

    #[test]
    fn test_shutdown_does_not_wait_past_the_grace() {
        let (mut p, _poll) = pool(2, 4);
        // One thread is held by a job that outlasts the grace; the other is idle.
        let gate_tx = hold_a_thread(&mut p);
        p.set_exit_grace(Duration::from_millis(100));
        let t = Instant::now();
        assert_eq!(
            p.shutdown(),
            1,
            "the busy thread is left, the idle one joined"
        );
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        drop(gate_tx);
    }

    #[test]
    fn test_bounded_queue_and_shutdown() {
        let (mut p, _poll) = pool(1, 1);
        // Occupy the only thread, then fill the one queue slot.
        let gate_tx = hold_a_thread(&mut p);
        let mut accepted = 0;
        let mut full = false;
        for _ in 0..4 {
            match p.submit(None, Box::new(|| JobResult::Checkpoint(Ok(Duration::ZERO)))) {
                Ok(()) => accepted += 1,
                Err(SubmitError::Full) => full = true,
                Err(e) => panic!("{e:?}"),
            }
        }
        assert!(full, "the bound holds");
        assert_eq!(accepted, 1, "one queue slot");
        // Shutdown begins while the thread is busy: the queued job must not run.
        p.counters.stopping.store(true, Ordering::SeqCst);
        drop(gate_tx);
        p.shutdown();
        assert_eq!(
            p.stats().rejected_shutdown,
            accepted as u64,
            "queued jobs were rejected, not run"
        );
        assert_eq!(
            p.submit(None, Box::new(|| JobResult::Checkpoint(Ok(Duration::ZERO)))),
            Err(SubmitError::Stopped)
        );
    }
}
