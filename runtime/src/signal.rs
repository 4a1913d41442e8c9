//! Signals as channel values: Go's `os/signal.Notify` for grt programs.
//! SIGINT, SIGTERM, SIGHUP (whichever the program asks for) arrive as
//! numbers on a [`Receiver`] that a task can `recv` or `select!` on.
//!
//! # Why not a signal handler
//! A handler runs on whichever thread the kernel picks, in the middle of
//! whatever that thread was doing, possibly holding a lock inside `malloc`
//! or inside grt's scheduler. Only async-signal-safe calls are allowed
//! there, which rules out sending on a channel (it locks and may wake a
//! task). The usual answer is a self-pipe that the handler writes to, as
//! the `signal-hook` crate does; Go's runtime has its own handler and a
//! queue the `os/signal` goroutine drains.
//!
//! # What we do instead: `sigwait` on a thread of our own
//! 1. Before any other thread exists, block the signals in the calling
//!    thread's mask. Every thread created later, grt's Ms included,
//!    inherits the mask, so the kernel delivers these signals to no
//!    thread: they stay pending for the process.
//! 2. Start one plain thread that loops in `sigwait`, which takes a
//!    pending signal synchronously, as an ordinary function return. From
//!    there it may do anything, such as sending on a grt channel (which
//!    works from plain threads).
//!
//! No handler ever runs, so nothing needs to be async-signal-safe, and
//! nothing beyond `libc` is needed. The catch is step 1's "before any
//! other thread": a thread started earlier would still have the signals
//! unblocked, and their default action (death, for these three) would
//! apply if the kernel picked it. So [`notify`] must be called first thing
//! in `main`, before `grt::run`.
//!
//! As with Go's `Notify`, the sender never blocks: a signal that finds
//! the channel full ([`QUEUE`] undelivered signals) is dropped. What a
//! program does with a second SIGINT, or a burst of SIGHUPs, is its own
//! policy (examples/gateway/src/main.rs exits on the second stop and folds
//! reloads). A process's signals cannot be tested from inside a test
//! harness that already runs threads, so the gateway's tests/signals.rs
//! drives a gateway process with `kill` instead.

use std::io;
use std::mem::MaybeUninit;

use crate::chan::{self, Receiver};

/// Signals the channel holds before further ones are dropped.
pub const QUEUE: usize = 16;

/// Blocks `signals` (numbers such as `libc::SIGINT`) for this thread and
/// every thread started after it, and returns a channel that receives
/// each of them as it arrives. Call it in `main` before `grt::run` and
/// before starting any thread (module doc).
pub fn notify(signals: &[libc::c_int]) -> io::Result<Receiver<libc::c_int>> {
    let set = signal_set(signals)?;
    // SAFETY: `set` is an initialised signal set, and a null old-mask
    // pointer is allowed. `pthread_sigmask` only changes this thread's mask.
    let err = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if err != 0 {
        return Err(io::Error::from_raw_os_error(err));
    }
    let (tx, rx) = chan::bounded(QUEUE);
    std::thread::Builder::new()
        .name("grt-signals".into())
        .spawn(move || loop {
            let mut signal: libc::c_int = 0;
            // SAFETY: `set` is initialised and `signal` is a valid place
            // for the answer. The signals in `set` are blocked in this
            // thread (inherited from the caller), as `sigwait` requires.
            if unsafe { libc::sigwait(&set, &mut signal) } == 0 {
                // Full, or nobody listens any more: as with Go's Notify,
                // the signal is dropped rather than waited for.
                let _ = tx.try_send(signal);
            }
        })?;
    Ok(rx)
}

/// The set of `signals`.
fn signal_set(signals: &[libc::c_int]) -> io::Result<libc::sigset_t> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: `sigemptyset` initialises the set it is given a pointer to;
    // `sigaddset` then only modifies the initialised set. `assume_init`
    // runs only after `sigemptyset` succeeded.
    unsafe {
        if libc::sigemptyset(set.as_mut_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
        for &signal in signals {
            if libc::sigaddset(set.as_mut_ptr(), signal) != 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{signal} is not a signal number"),
                ));
            }
        }
        Ok(set.assume_init())
    }
}
