//! Ctrl-C as a channel: SIGINT and SIGTERM arrive as values a task can
//! receive or `select!` on (Go's `signal.Notify`).
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
//! 1. Before any other thread exists, block SIGINT and SIGTERM in the
//!    calling thread's mask. Every thread created later, grt's Ms
//!    included, inherits the mask, so the kernel delivers these signals to
//!    no thread: they stay pending for the process.
//! 2. Start one plain thread that loops in `sigwait`, which takes a
//!    pending signal synchronously, as an ordinary function return. From
//!    there it may do anything, such as sending on a grt channel (which
//!    works from plain threads).
//!
//! No handler ever runs, so nothing needs to be async-signal-safe, and no
//! extra dependency is needed beyond `libc`. The catch is step 1's "before
//! any other thread": a thread started earlier would still have the
//! signals unblocked and the default action (death) would apply if the
//! kernel picked it. So [`notify`] must be called first thing in `main`,
//! before `grt::run`.
//!
//! A second signal, while the first is still being handled, ends the
//! process at once with status 130 (the shell's 128 + SIGINT): the way out
//! if a graceful shutdown hangs.

use std::io;
use std::mem::MaybeUninit;

use grt::chan::{self, Receiver};

/// Blocks SIGINT and SIGTERM for this thread and every thread started
/// after it, and returns a channel that receives the first such signal's
/// number. Call it before `grt::run` and before starting any thread.
pub fn notify() -> io::Result<Receiver<i32>> {
    let set = signal_set()?;
    // SAFETY: `set` is an initialised signal set, and a null old-mask
    // pointer is allowed. `pthread_sigmask` only changes this thread's mask.
    let err = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if err != 0 {
        return Err(io::Error::from_raw_os_error(err));
    }
    let (tx, rx) = chan::bounded(1);
    std::thread::Builder::new()
        .name("chat-signals".into())
        .spawn(move || {
            let mut seen = 0;
            loop {
                let mut signal: libc::c_int = 0;
                // SAFETY: `set` is initialised and `signal` is a valid
                // place for the answer. The signals in `set` are blocked
                // in this thread (inherited), as `sigwait` requires.
                let err = unsafe { libc::sigwait(&set, &mut signal) };
                if err != 0 {
                    continue;
                }
                seen += 1;
                if seen > 1 {
                    eprintln!("chat: second signal, exiting now");
                    std::process::exit(130);
                }
                let _ = tx.try_send(signal);
            }
        })?;
    Ok(rx)
}

/// The set {SIGINT, SIGTERM}.
fn signal_set() -> io::Result<libc::sigset_t> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: `sigemptyset` initialises the set it is given a pointer to;
    // `sigaddset` then only modifies the initialised set. `assume_init`
    // runs only after `sigemptyset` succeeded.
    unsafe {
        if libc::sigemptyset(set.as_mut_ptr()) != 0
            || libc::sigaddset(set.as_mut_ptr(), libc::SIGINT) != 0
            || libc::sigaddset(set.as_mut_ptr(), libc::SIGTERM) != 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(set.assume_init())
    }
}
