//! `Semaphore`: a count of permits, where acquiring parks the task until a
//! permit is free. It bounds how many tasks do something at once.
//!
//! # Go's counterparts
//! Go programs bound concurrency with a buffered channel (`make(chan
//! struct{}, n)`: send to acquire, receive to release) or with
//! `golang.org/x/sync/semaphore.Weighted`, which serves waiters in FIFO
//! order. The runtime's own `sema` (sema.go) is a semaphore too, but
//! exposed only to package sync. Ours exposes that one, [`Sema`], directly:
//! a permit pool that can be taken with one CAS, and a FIFO queue of parked
//! waiters to which released permits are handed.
//!
//! # Invariants (see sema.rs)
//! - A permit is held by exactly one [`SemaphorePermit`] or is in the pool,
//!   or is being handed to the waiter at the head of the queue; `acquire`
//!   returns only with a permit.
//! - Waiters are served in arrival order: the pool has permits only when
//!   the queue is empty, so a newcomer cannot take a permit a queued
//!   waiter is owed.

use std::fmt;

use super::sema::{QueuePosition, Sema};
use crate::task::WaitReason;

/// A counting semaphore whose waiters park.
pub struct Semaphore {
    sema: Sema,
}

/// One permit of a [`Semaphore`], given back when dropped.
#[must_use = "the permit is released as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    semaphore: &'a Semaphore,
}

impl Semaphore {
    /// A semaphore with `permits` permits available.
    pub const fn new(permits: usize) -> Semaphore {
        Semaphore {
            sema: Sema::new(permits),
        }
    }

    /// Takes a permit, parking the calling task (or blocking the calling
    /// thread) until one is free; waiters are served first come, first
    /// served.
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        crate::preempt::checkpoint();
        self.sema
            .acquire(QueuePosition::Back, WaitReason::Semaphore);
        SemaphorePermit { semaphore: self }
    }

    /// Takes a permit if one is free now.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        // `then`, not `then_some`: a permit built eagerly and dropped on
        // failure would release a permit nobody took.
        self.sema
            .try_acquire()
            .then(|| SemaphorePermit { semaphore: self })
    }

    /// Adds `n` permits, waking up to `n` waiters. Panics if the number of
    /// free permits would overflow `usize`.
    pub fn add_permits(&self, n: usize) {
        self.sema.release(n);
    }

    /// Permits free right now (a snapshot; zero while anyone waits).
    pub fn available_permits(&self) -> usize {
        self.sema.available()
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.semaphore.sema.release(1);
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available_permits", &self.available_permits())
            .finish()
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SemaphorePermit { .. }")
    }
}
