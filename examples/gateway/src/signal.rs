//! Signals as a channel: SIGINT, SIGTERM and SIGHUP arrive as values the
//! main task receives (Go's `signal.Notify`), for the graceful shutdown
//! and the configuration reload (main.rs).
//!
//! The design is the chat example's (examples/chat/src/signal.rs), with
//! SIGHUP added; the two crates do not depend on each other, so it is
//! repeated here.
//!
//! # Why not a signal handler
//! A handler runs on whichever thread the kernel picks, in the middle of
//! whatever that thread was doing, possibly holding a lock inside `malloc`
//! or inside grt's scheduler. Only async-signal-safe calls are allowed
//! there, which rules out sending on a channel (it locks and may wake a
//! task). The usual answer is a self-pipe that the handler writes to, and
//! the `signal-hook` crate packages it well.
//!
//! # What we do instead: `sigwait` on a thread of our own
//! 1. Before any other thread exists, block the three signals in the
//!    calling thread's mask. Every thread created later, grt's Ms
//!    included, inherits the mask, so the kernel delivers these signals to
//!    no thread: they stay pending for the process.
//! 2. Start one plain thread that loops in `sigwait`, which takes a
//!    pending signal synchronously, as an ordinary function return. From
//!    there it may do anything, such as sending on a grt channel (which
//!    works from plain threads).
//!
//! No handler ever runs, so nothing needs to be async-signal-safe. The
//! catch is step 1's "before any other thread": a thread started earlier
//! would still have the signals unblocked, and the default action (death)
//! would apply if the kernel picked it. So [`notify`] must be called first
//! thing in `main`, before `grt::run`.
//!
//! A second SIGINT or SIGTERM, while the first one's shutdown is still
//! draining, ends the process at once with status 128 + the signal (the
//! shell's convention): the way out if a graceful shutdown takes too
//! long for the operator. SIGHUPs may come any number of times; a burst
//! of them while a reload runs is folded into one more reload, which reads
//! the file as it is by then.

use std::fmt;
use std::io;
use std::mem::MaybeUninit;

use grt::chan::{self, Receiver};

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
    fn from_raw(signal: libc::c_int) -> Option<Signal> {
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

/// Room for signals not yet received: one shutdown and one reload, with
/// room to spare; a SIGHUP that finds it full is dropped (module doc).
const QUEUE: usize = 4;

/// Blocks SIGINT, SIGTERM and SIGHUP for this thread and every thread
/// started after it, and returns a channel that receives them. Call it
/// before `grt::run` and before starting any thread (module doc).
pub fn notify() -> io::Result<Receiver<Signal>> {
    let set = signal_set()?;
    // SAFETY: `set` is an initialised signal set, and a null old-mask
    // pointer is allowed. `pthread_sigmask` only changes this thread's mask.
    let err = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if err != 0 {
        return Err(io::Error::from_raw_os_error(err));
    }
    let (tx, rx) = chan::bounded(QUEUE);
    std::thread::Builder::new()
        .name("gateway-signals".into())
        .spawn(move || {
            let mut stops = 0;
            loop {
                let mut raw: libc::c_int = 0;
                // SAFETY: `set` is initialised and `raw` is a valid place
                // for the answer. The signals in `set` are blocked in this
                // thread (inherited), as `sigwait` requires.
                let err = unsafe { libc::sigwait(&set, &mut raw) };
                let Some(signal) = (err == 0).then(|| Signal::from_raw(raw)).flatten() else {
                    continue;
                };
                if signal == Signal::Hangup {
                    let _ = tx.try_send(signal);
                    continue;
                }
                stops += 1;
                if stops > 1 {
                    eprintln!("gateway: second {signal}, exiting now");
                    std::process::exit(128 + raw);
                }
                // Waits for room: a stop must not be lost behind reloads.
                let _ = tx.send(signal);
            }
        })?;
    Ok(rx)
}

/// The set {SIGINT, SIGTERM, SIGHUP}.
fn signal_set() -> io::Result<libc::sigset_t> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: `sigemptyset` initialises the set it is given a pointer to;
    // `sigaddset` then only modifies the initialised set. `assume_init`
    // runs only after `sigemptyset` succeeded.
    unsafe {
        if libc::sigemptyset(set.as_mut_ptr()) != 0
            || libc::sigaddset(set.as_mut_ptr(), libc::SIGINT) != 0
            || libc::sigaddset(set.as_mut_ptr(), libc::SIGTERM) != 0
            || libc::sigaddset(set.as_mut_ptr(), libc::SIGHUP) != 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(set.assume_init())
    }
}
