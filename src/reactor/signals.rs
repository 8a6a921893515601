//! SIGTERM, SIGINT, SIGHUP and SIGCHLD delivered into the poll loop through a
//! self-pipe (signal-hook-mio), so handlers never run loop code.

use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

/// What the loop does about a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalAction {
    Shutdown(&'static str),
    Reload,
    /// A child exited (or stopped): reap.
    Child,
}

pub fn install() -> std::io::Result<Signals> {
    Signals::new([SIGTERM, SIGINT, SIGHUP, SIGCHLD])
}

/// Drains pending signals into actions.
pub fn drain(signals: &mut Signals, out: &mut Vec<SignalAction>) {
    for sig in signals.pending() {
        out.push(match sig {
            SIGTERM => SignalAction::Shutdown("SIGTERM"),
            SIGINT => SignalAction::Shutdown("SIGINT"),
            SIGCHLD => SignalAction::Child,
            _ => SignalAction::Reload,
        });
    }
}
