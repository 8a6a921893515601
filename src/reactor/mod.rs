//! The poll loop: one thread, one `mio::Poll`, the only owner of the clock.
//!
//! Each turn: compute the timeout from the timer wheel (zero when a
//! connection or the listener still has work from a spent budget), poll,
//! dispatch readiness, revisit, fire due timers, flush what is pending and
//! bring interests in line. Signals arrive as readiness on a self-pipe; the
//! worker pool of later subsystems wakes the loop through the `Waker`.

pub mod signals;
pub mod timer;

use crate::config::{Config, ConfigSource};
use crate::gateway::auth::{self, Secrets};
use crate::gateway::Gateway;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use signals::SignalAction;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const LISTENER: Token = Token(0);
pub const WAKER: Token = Token(1);
pub const SIGNALS: Token = Token(2);

/// Worker results handled per wake before the loop serves sockets again.
pub const WORKER_RESULTS_BUDGET: usize = 64;
/// Readiness events taken per poll call.
pub const EVENTS_CAPACITY: usize = 1024;

#[derive(Debug)]
pub enum ReactorError {
    Poll(std::io::Error),
    Bind { addr: String, err: std::io::Error },
    Signals(std::io::Error),
    Secrets(auth::AuthError),
    Store(crate::store::StoreError),
    Tls(crate::net::tls::TlsError),
}

impl fmt::Display for ReactorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReactorError::Poll(e) => write!(f, "poll: {e}"),
            ReactorError::Bind { addr, err } => write!(f, "cannot listen on {addr}: {err}"),
            ReactorError::Signals(e) => write!(f, "cannot install signal handlers: {e}"),
            ReactorError::Secrets(e) => write!(f, "{e}"),
            ReactorError::Store(e) => write!(f, "{e}"),
            ReactorError::Tls(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ReactorError {}

pub struct Reactor {
    poll: Poll,
    events: Events,
    listener: Option<TcpListener>,
    signals: signal_hook_mio::v1_0::Signals,
    source: ConfigSource,
    gw: Gateway,
    local_addr: SocketAddr,
    /// See [`Reactor::now`].
    clock_offset: Duration,
}

/// What the loop drives: the only calls the reactor makes into the
/// gateway. The reactor owns the poll, the listener, the signals and the
/// clock; the handler owns everything behind the tokens it registered.
pub trait Handler {
    /// How long the next poll may block: until the next timer, or zero
    /// while work from a spent budget is waiting.
    fn poll_timeout(&self, now: Instant) -> Option<Duration>;
    /// The listener is readable.
    fn on_accept(&mut self, listener: &TcpListener, now: Instant);
    /// The worker pool woke the loop.
    fn on_wake(&mut self, now: Instant);
    /// Readiness on a token the handler registered (a connection, a pipe).
    fn on_token(&mut self, token: Token, readable: bool, writable: bool, now: Instant);
    /// SIGCHLD.
    fn on_child(&mut self, now: Instant);
    /// SIGTERM/SIGINT: the listener is already deregistered.
    fn on_shutdown(&mut self, why: &str, now: Instant);
    /// SIGHUP with a config that loaded; `None` when it did not (counted).
    fn on_reload(&mut self, new: Option<(Config, Secrets)>, now: Instant);
    /// After the events: revisits, due timers, flushes. Returns the
    /// number of timers fired.
    fn end_turn(&mut self, listener: Option<&TcpListener>, now: Instant) -> usize;
    /// The turn's figures: it started at `start` and took `took`.
    fn record_turn(&mut self, start: Instant, took: Duration, events: u64, timers: usize);
    /// Shutdown has completed: the last work (children, commits, flushes)
    /// is done here and true returned; false while it has not.
    fn finish_if_done(&mut self, now: Instant) -> bool;
    /// When the next timer is due (the clock soak steps to it).
    fn next_timer(&self, now: Instant) -> Option<Duration>;
    /// The listener speaks TLS.
    fn is_tls(&self) -> bool;
    /// Where the token came from (the token file's path, "configuration"...).
    fn token_origin(&self) -> &str;
}

/// Buffers a turn reuses (signals drained).
#[derive(Default)]
pub struct TurnScratch {
    signals: Vec<SignalAction>,
}

/// Reads the secrets the config points at (explicit token, or the token file).
pub fn load_secrets(cfg: &Config) -> Result<Secrets, auth::AuthError> {
    auth::resolve_secrets(
        cfg.auth.token.as_deref(),
        cfg.auth.password.as_deref(),
        &cfg.server.data_dir,
    )
}

impl Reactor {
    /// Binds the listener and installs signals; nothing runs yet.
    pub fn new(
        cfg: Config,
        source: ConfigSource,
        logfile: Option<Arc<crate::observe::logfile::LogFile>>,
    ) -> Result<Reactor, ReactorError> {
        let secrets = load_secrets(&cfg).map_err(ReactorError::Secrets)?;
        // Before the store opens: a bad certificate path is a config mistake
        // and must not leave anything behind.
        let tls = match (&cfg.tls.cert_path, &cfg.tls.key_path) {
            (Some(cert), Some(key)) => {
                let a = crate::net::tls::Acceptor::load(cert, key).map_err(ReactorError::Tls)?;
                log::info!(
                    "tls: serving {} (SHA-256 {})",
                    cert.display(),
                    a.fingerprint()
                );
                Some(a)
            }
            _ => None,
        };
        let store = crate::store::Store::open(
            &cfg.server.data_dir,
            &crate::store::StoreOptions {
                cache_bytes: cfg.store.cache_bytes,
                mmap_bytes: cfg.store.mmap_bytes,
                max_bytes: cfg.store.max_db_bytes,
                synchronous_full: cfg.store.synchronous_full,
                index_batch: cfg.store.index_batch,
            },
        )
        .map_err(ReactorError::Store)?;
        match auth::private_dir(&cfg.server.data_dir) {
            Ok(Some(old)) => log::warn!(
                "data dir {} was mode {old:o}: now 700 (it holds transcripts, the audit trail and the token)",
                cfg.server.data_dir.display()
            ),
            Ok(None) => {}
            Err(e) => log::warn!("data dir {}: {e}", cfg.server.data_dir.display()),
        }
        let poll = Poll::new().map_err(ReactorError::Poll)?;
        let addr_text = format!("{}:{}", cfg.server.bind, cfg.server.port);
        let addr: SocketAddr = addr_text.parse().map_err(|_| ReactorError::Bind {
            addr: addr_text.clone(),
            err: std::io::ErrorKind::InvalidInput.into(),
        })?;
        let mut listener = TcpListener::bind(addr).map_err(|err| ReactorError::Bind {
            addr: addr_text.clone(),
            err,
        })?;
        defer_accept(&listener);
        let local_addr = listener.local_addr().map_err(ReactorError::Poll)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(ReactorError::Poll)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(ReactorError::Poll)?);
        let mut signals = signals::install().map_err(ReactorError::Signals)?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .map_err(ReactorError::Poll)?;
        let registry = poll.registry().try_clone().map_err(ReactorError::Poll)?;
        let threads = match cfg.workers.threads {
            0 => crate::workers::default_threads(),
            n => n,
        };
        let queue = if cfg.workers.queue == 0 {
            64
        } else {
            cfg.workers.queue
        };
        let mut workers = crate::workers::WorkerPool::new(threads, queue, waker.clone())
            .map_err(ReactorError::Poll)?;
        if cfg.workers.exit_grace_ms > 0 {
            workers.set_exit_grace(std::time::Duration::from_millis(cfg.workers.exit_grace_ms));
        }
        let mut gw = Gateway::new(cfg, secrets, store, workers, registry, tls, Instant::now());
        gw.logfile = logfile;
        Ok(Reactor {
            poll,
            events: Events::with_capacity(EVENTS_CAPACITY),
            listener: Some(listener),
            signals,
            source,
            gw,
            local_addr,
            clock_offset: Duration::ZERO,
        })
    }

    /// Where the token came from (the token file's path, "configuration"...).
    pub fn gw_token_origin(&self) -> String {
        Handler::token_origin(&self.gw).to_string()
    }

    /// The gateway, to look at (tests and soaks read its figures); the
    /// loop drives it only through [`Handler`].
    pub fn gateway(&self) -> &Gateway {
        &self.gw
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `wss` when the listener speaks TLS, else `ws`.
    pub fn scheme(&self) -> &'static str {
        if self.gw.is_tls() {
            "wss"
        } else {
            "ws"
        }
    }

    /// Runs until shutdown completes.
    pub fn run(&mut self) -> Result<(), ReactorError> {
        let mut scratch = TurnScratch::default();
        while !self.turn(None, &mut scratch)? {}
        Ok(())
    }

    /// The loop's clock: monotonic time plus the offset a virtual-time soak
    /// moves forward (zero otherwise).
    fn now(&self) -> Instant {
        Instant::now() + self.clock_offset
    }

    /// Moves the loop's clock forward by `d`: the next turn sees timers due
    /// up to then as fired. Production never calls it; the timer soak runs
    /// a day of timers in seconds with it.
    pub fn advance_clock(&mut self, d: Duration) {
        self.clock_offset += d;
    }

    /// How long until the next timer is due on the loop's clock.
    pub fn until_next_timer(&self) -> Option<Duration> {
        self.gw.next_timer(self.now())
    }

    /// One turn: poll (at most `cap`, or until the next timer), handle
    /// the events, revisits and due timers, flush. `Ok(true)` once shutdown
    /// has completed.
    pub fn turn(
        &mut self,
        cap: Option<Duration>,
        scratch: &mut TurnScratch,
    ) -> Result<bool, ReactorError> {
        let now = self.now();
        let mut timeout = self.gw.poll_timeout(now);
        if let Some(c) = cap {
            timeout = Some(timeout.map_or(c, |t| t.min(c)));
        }
        if let Err(e) = self.poll.poll(&mut self.events, timeout) {
            if e.kind() == std::io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(ReactorError::Poll(e));
        }
        let now = self.now();
        let mut n_events = 0u64;
        for ev in self.events.iter() {
            n_events += 1;
            match ev.token() {
                LISTENER => {
                    if let Some(l) = &self.listener {
                        self.gw.on_accept(l, now);
                    }
                }
                WAKER => self.gw.on_wake(now),
                SIGNALS => signals::drain(&mut self.signals, &mut scratch.signals),
                token => {
                    let readable = ev.is_readable() || ev.is_read_closed() || ev.is_error();
                    let writable = ev.is_writable() || ev.is_write_closed();
                    self.gw.on_token(token, readable, writable, now);
                }
            }
        }
        let mut actions = std::mem::take(&mut scratch.signals);
        for action in actions.drain(..) {
            self.on_signal(action, now);
        }
        scratch.signals = actions;
        let fired = self.gw.end_turn(self.listener.as_ref(), now);
        let end = self.now();
        self.gw.record_turn(now, end - now, n_events, fired);
        Ok(self.gw.finish_if_done(end))
    }

    /// Asks the loop to stop as SIGTERM would (for callers that run it
    /// turn by turn).
    pub fn begin_shutdown(&mut self, why: &'static str) {
        let now = self.now();
        self.on_signal(SignalAction::Shutdown(why), now);
    }

    fn on_signal(&mut self, action: SignalAction, now: Instant) {
        match action {
            SignalAction::Shutdown(name) => {
                if let Some(mut l) = self.listener.take() {
                    let _ = self.poll.registry().deregister(&mut l);
                }
                self.gw
                    .on_shutdown(&format!("gateway stopping ({name})"), now);
            }
            SignalAction::Reload => self.reload(now),
            SignalAction::Child => self.gw.on_child(now),
        }
    }

    /// SIGHUP: rebuild the config from the same sources; keep the old one on error.
    fn reload(&mut self, now: Instant) {
        let loaded = self
            .source
            .load()
            .map_err(|e| e.to_string())
            .and_then(|cfg| {
                let secrets = load_secrets(&cfg).map_err(|e| e.to_string())?;
                Ok((cfg, secrets))
            });
        match loaded {
            Ok((cfg, secrets)) => {
                if let Some(level) = crate::config::log_level(&cfg.log.level) {
                    log::set_max_level(level);
                }
                self.gw.on_reload(Some((cfg, secrets)), now);
            }
            Err(e) => {
                log::error!("reload refused, keeping the running config: {e}");
                self.gw.on_reload(None, now);
            }
        }
    }
}

/// Seconds the kernel holds a new connection that has sent nothing before
/// handing it to `accept` (`TCP_DEFER_ACCEPT`). Every client we serve speaks
/// first (HTTP, WebSocket, TLS ClientHello), so an idle socket no longer
/// takes a pre-auth slot, and the listener sees a `/healthz` request at
/// accept time (answered even when every slot is taken).
const DEFER_ACCEPT_SECS: libc::c_int = 2;

fn defer_accept(listener: &TcpListener) {
    use std::os::fd::AsRawFd;
    let v = DEFER_ACCEPT_SECS;
    // SAFETY: a valid listening fd and a c_int option value that outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            &v as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        log::warn!(
            "TCP_DEFER_ACCEPT not set: {}",
            std::io::Error::last_os_error()
        );
    }
}
