//! `Once`: run an initialiser exactly once, however many tasks race to it
//! (Go's `sync.Once`, sync/once.go).
//!
//! # The idea
//! Go's `Once` is a `done` flag and a mutex. The fast path, taken by every
//! call after the first has finished, is one atomic load of `done`. The
//! slow path locks the mutex, checks `done` again, runs the initialiser if
//! it is still unset, sets `done`, and unlocks. Callers that arrive while
//! the initialiser runs park on the mutex (showing wait reason `Once`) and
//! find `done` set when they get it. Setting `done` only after the
//! initialiser returned is the point: Go's doc comment rejects the obvious
//! CAS on `done` because a caller that loses the CAS would return before
//! the winner's initialiser has finished.
//!
//! # A panicking initialiser
//! The panic propagates to the caller whose initialiser panicked; `done`
//! stays unset and the mutex unlocks as the panic unwinds, so the next
//! caller (a parked one, or a later one) runs *its* initialiser. The
//! `Once` is as if the failed call never happened: std's `OnceLock` does
//! the same. The alternatives: Go marks the `Once` done anyway (later
//! callers return as if initialisation had succeeded, then use whatever it
//! left half-built), and std's `Once` is poisoned (every later call panics,
//! forever). Retrying is the one that lets a program recover, e.g. from a
//! transient error turned into a panic.
//!
//! Invariant: `done` is set (Release) after the initialiser returned and
//! is read with Acquire, so its effects are visible to every caller that
//! returns from `call_once`. Calling `call_once` on the same `Once` from
//! inside its initialiser deadlocks, as in Go.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use super::mutex::Mutex;
use crate::task::WaitReason;

/// Runs one initialiser, once.
pub struct Once {
    /// An initialiser has run to completion.
    done: AtomicBool,
    /// Held while an initialiser runs; later callers park on it.
    running: Mutex<()>,
}

impl Once {
    pub const fn new() -> Once {
        Once {
            done: AtomicBool::new(false),
            running: Mutex::new(()),
        }
    }

    /// Runs `f` if no call has completed yet; otherwise does nothing. A
    /// caller arriving while another's `f` runs parks until it has finished
    /// (Go's `Once.Do`). If `f` panics, see the module comment: the panic
    /// is the caller's, and the next call runs its own `f`.
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        if self.done.load(Ordering::Acquire) {
            return;
        }
        self.call_once_slow(f);
    }

    /// Go's `doSlow`.
    #[cold]
    fn call_once_slow<F: FnOnce()>(&self, f: F) {
        let _running = self.running.lock_with_reason(WaitReason::Once);
        if !self.done.load(Ordering::Relaxed) {
            f();
            self.done.store(true, Ordering::Release);
        }
    }

    /// Whether an initialiser has run to completion.
    pub fn is_completed(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
}

impl Default for Once {
    fn default() -> Once {
        Once::new()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once")
            .field("done", &self.is_completed())
            .finish()
    }
}
