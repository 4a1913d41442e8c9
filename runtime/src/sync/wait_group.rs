//! `WaitGroup`: wait for a number of tasks to finish (Go's
//! `sync.WaitGroup`, sync/waitgroup.go).
//!
//! # The idea
//! One 64-bit atomic word holds both numbers that matter, so `add` and
//! `done` are a single atomic addition in the common case: the counter in
//! the high 32 bits, the number of parked waiters in the low 32. `wait`
//! returns at once if the counter is zero; otherwise it adds itself to the
//! waiters with a CAS (so it cannot miss the counter reaching zero between
//! its check and its registration) and parks on the [`Sema`]. The `add`
//! that brings the counter to zero with waiters present resets the word to
//! zero and releases one permit per waiter.
//!
//! # Go's rules, and the panics that enforce them
//! - The counter must not go negative: "sync: negative WaitGroup counter".
//! - An `add` that starts a new round (counter from zero up) must happen
//!   before `wait`, not concurrently with the wake-up of the previous
//!   round's waiters: "sync: WaitGroup misuse: add called concurrently with
//!   wait". (The final `add` of a round overwrites the word with zero, so a
//!   concurrent `add` would be lost; Go checks, on a best-effort basis, and
//!   so do we.)
//! - A waiter that wakes and finds the word nonzero has seen the group
//!   reused too early: "sync: WaitGroup is reused before previous wait has
//!   returned".
//!
//! The messages are Go's, so that they can be searched for.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use super::sema::{QueuePosition, Sema};
use crate::task::WaitReason;

/// Waits for a collection of tasks (or threads) to finish: `add` the
/// number to wait for, each calls `done`, and `wait` parks until the
/// counter is back at zero.
pub struct WaitGroup {
    /// Counter in the high 32 bits (as an `i32`), waiters in the low 32.
    state: AtomicU64,
    /// Where waiters park.
    sema: Sema,
}

fn counter(state: u64) -> i32 {
    (state >> 32) as u32 as i32
}

fn waiters(state: u64) -> u32 {
    state as u32
}

impl WaitGroup {
    pub const fn new() -> WaitGroup {
        WaitGroup {
            state: AtomicU64::new(0),
            sema: Sema::new(0),
        }
    }

    /// Adds `delta`, which may be negative, to the counter (Go's `Add`).
    /// When the counter reaches zero, every task blocked in `wait` is
    /// released. Panics if the counter goes negative.
    pub fn add(&self, delta: i32) {
        // `delta` sign-extended and shifted: adds `delta` to the high half.
        let step = (delta as i64 as u64) << 32;
        let state = self
            .state
            .fetch_add(step, Ordering::AcqRel)
            .wrapping_add(step);
        let count = counter(state);
        let waiting = waiters(state);
        if count < 0 {
            panic!("sync: negative WaitGroup counter");
        }
        if waiting != 0 && delta > 0 && count == delta {
            panic!("sync: WaitGroup misuse: add called concurrently with wait");
        }
        if count > 0 || waiting == 0 {
            return;
        }
        // The counter is zero and tasks wait: nobody may change the word now
        // (an `add` would be misuse, and `wait` returns early on zero).
        if self.state.load(Ordering::Relaxed) != state {
            panic!("sync: WaitGroup misuse: add called concurrently with wait");
        }
        self.state.store(0, Ordering::Relaxed);
        self.sema.release(waiting as usize);
    }

    /// Decrements the counter by one (Go's `Done`).
    pub fn done(&self) {
        self.add(-1);
    }

    /// Parks the calling task (or blocks the calling thread) until the
    /// counter is zero (Go's `Wait`).
    pub fn wait(&self) {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if counter(state) == 0 {
                return;
            }
            match self.state.compare_exchange_weak(
                state,
                state + 1,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
        // The releasing `add` reset the word before releasing us.
        self.sema
            .acquire(QueuePosition::Back, WaitReason::WaitGroup);
        if self.state.load(Ordering::Relaxed) != 0 {
            panic!("sync: WaitGroup is reused before previous wait has returned");
        }
    }
}

impl Default for WaitGroup {
    fn default() -> WaitGroup {
        WaitGroup::new()
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.load(Ordering::Relaxed);
        f.debug_struct("WaitGroup")
            .field("counter", &counter(state))
            .field("waiters", &waiters(state))
            .finish()
    }
}
