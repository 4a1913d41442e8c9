//! The signals the gateway acts on: SIGINT and SIGTERM shut it down
//! gracefully, SIGHUP reloads its configuration (main.rs). They arrive as
//! values on a channel through [`grt::signal`] (Go's `signal.Notify`; that
//! module says why a thread in `sigwait` rather than a handler).
//!
//! What the gateway does with them is main.rs's policy: a second SIGINT
//! or SIGTERM while the first one's shutdown drains ends the process at
//! once with status 128 + the signal (the shell's convention), the way
//! out if a graceful shutdown takes too long for the operator; SIGHUPs may
//! come any number of times, and a burst of them while a reload runs is
//! folded into one more reload, which reads the file as it is by then.

use std::fmt;
use std::io;

use grt::chan::Receiver;

/// A signal the gateway acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C): shut down gracefully.
    Interrupt,
    /// SIGTERM (`kill`, systemd, Kubernetes): shut down gracefully.
    Terminate,
    /// SIGHUP: read the configuration again.
    Hangup,
}

impl Signal {
    /// The signal numbered `signal`, if it is one of the three.
    pub fn from_raw(signal: libc::c_int) -> Option<Signal> {
        match signal {
            libc::SIGINT => Some(Signal::Interrupt),
            libc::SIGTERM => Some(Signal::Terminate),
            libc::SIGHUP => Some(Signal::Hangup),
            _ => None,
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
            Signal::Hangup => "SIGHUP",
        })
    }
}

/// Watches for SIGINT, SIGTERM and SIGHUP; the channel receives each
/// one's number ([`Signal::from_raw`] names it). Call it in `main` before
/// `grt::run` ([`grt::signal::notify`]).
pub fn notify() -> io::Result<Receiver<libc::c_int>> {
    grt::signal::notify(&[libc::SIGINT, libc::SIGTERM, libc::SIGHUP])
}
