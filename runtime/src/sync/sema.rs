//! The runtime semaphore under every sync primitive: Go's `semacquire` and
//! `semrelease` (runtime/sema.go).
//!
//! Go builds `sync.Mutex`, `RWMutex` and `WaitGroup` from atomic state words
//! plus one operation the runtime provides: "sleep until a matching wake-up,
//! even if the wake-up came first". That is a counting semaphore whose
//! waiters park: `runtime_SemacquireMutex` and `runtime_Semrelease`. Ours
//! is the same, [`Sema`]: a permit count and a FIFO queue of parked
//! waiters, each a [`WaitNode`].
//!
//! # Where a released permit goes
//! Go's `semrelease1` adds the permit to the count and then wakes a waiter,
//! who takes it with `cansemacquire` if nobody else got there first; only
//! with `handoff` does the releaser take the permit on the waiter's behalf
//! (`s.ticket = 1`). We always hand it over: `release` pops the first waiter
//! and gives it the permit, and adds to the count only when nobody is
//! queued. So a woken waiter never has to queue again, and the queue is
//! strictly FIFO. What is left of Go's `handoff` flag is its second half,
//! [`Sema::release_and_yield`]: the releaser yields its P to the task it
//! woke, which a mutex in starvation mode wants.
//!
//! # Invariants
//! - `permits` grows only while `waiters` is locked and empty. An acquirer
//!   queues only after seeing `permits == 0` under that lock. Hence a
//!   waiter is never parked while a permit sits in the pool, and no wake-up
//!   is lost: a release either finds the queued waiter or runs before the
//!   acquirer's check under the lock, which then sees the permit.
//! - `permits` shrinks by CAS from anywhere, without the lock: the fast
//!   path of `acquire` is one CAS, as in Go's `cansemacquire`.
//! - Lock order: `waiters` is innermost. Nobody is woken while it is held.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use parking_lot::Mutex;

use super::wait_node::WaitNode;
use crate::machine::{self, Machine};
use crate::park::yield_now;
use crate::task::WaitReason;

/// Where an acquirer that must wait joins the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum QueuePosition {
    /// Behind everyone (the normal case).
    Back,
    /// Ahead of everyone: a mutex waiter that was woken, lost the race for
    /// the lock, and waits again (Go's `lifo` argument, true in `lockSlow`
    /// when the goroutine has waited before).
    Front,
}

/// A counting semaphore whose waiters park (Go's runtime `sema`).
pub(super) struct Sema {
    /// Permits available without waiting.
    permits: AtomicUsize,
    /// Parked acquirers, first to be served first.
    waiters: Mutex<VecDeque<Arc<WaitNode>>>,
}

impl Sema {
    pub const fn new(permits: usize) -> Sema {
        Sema {
            permits: AtomicUsize::new(permits),
            waiters: Mutex::new(VecDeque::new()),
        }
    }

    /// Permits in the pool right now (a snapshot).
    pub fn available(&self) -> usize {
        self.permits.load(Ordering::Relaxed)
    }

    /// Takes a permit from the pool if there is one (Go's `cansemacquire`).
    pub fn try_acquire(&self) -> bool {
        let mut permits = self.permits.load(Ordering::Relaxed);
        while permits > 0 {
            match self.permits.compare_exchange_weak(
                permits,
                permits - 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => permits = now,
            }
        }
        false
    }

    /// Takes a permit, parking the calling task (or blocking the calling
    /// thread) until one is released to it (Go's `semacquire1`). `reason`
    /// is what the task's wait reason shows meanwhile.
    pub fn acquire(&self, position: QueuePosition, reason: WaitReason) {
        if self.try_acquire() {
            return;
        }
        let node = {
            let mut waiters = self.waiters.lock();
            // Checked again under the lock: a release that ran since the
            // first check put its permit in the pool (the queue was empty).
            if self.try_acquire() {
                return;
            }
            let node = WaitNode::for_current();
            match position {
                QueuePosition::Back => waiters.push_back(Arc::clone(&node)),
                QueuePosition::Front => waiters.push_front(Arc::clone(&node)),
            }
            node
        };
        // Woken only by `release`, which handed us the permit.
        node.wait(reason);
    }

    /// Releases `n` permits (Go's `semrelease1` without handoff, `n`
    /// times): each goes to the waiter at the head of the queue, which is
    /// woken; what is left when the queue is empty goes to the pool.
    pub fn release(&self, n: usize) {
        for handed in 0..n {
            match self.pop_waiter_or_pool(n - handed) {
                Some(next) => next.wake(),
                None => return,
            }
        }
    }

    /// Releases one permit, and if it went to a parked task, yields this
    /// task's P to it so that it runs at once, inheriting the rest of our
    /// time slice (Go's `semrelease1` with `handoff`, which calls `goyield`).
    /// Without the yield, a task that unlocks a starving mutex and computes
    /// on would leave the new owner waiting in the run queue, holding the
    /// lock but not running.
    pub fn release_and_yield(&self) {
        let Some(next) = self.pop_waiter_or_pool(1) else {
            return;
        };
        next.wake();
        // Only a running task has a P to give; yielding during a panic would
        // pin the task to its thread (lock.rs), so an unwinding unlock skips it.
        let caller_is_task = machine::current().and_then(Machine::current_task).is_some();
        if next.is_task() && caller_is_task && !thread::panicking() {
            yield_now();
        }
    }

    /// Under the lock: the first queued waiter, now owning a permit, for
    /// the caller to wake once the lock is released; or, if nobody waits,
    /// `pool` permits added to the pool and `None`.
    fn pop_waiter_or_pool(&self, pool: usize) -> Option<Arc<WaitNode>> {
        let mut waiters = self.waiters.lock();
        if let Some(next) = waiters.pop_front() {
            return Some(next);
        }
        // Only released permits raise the count, and only here, under the
        // lock, so this check is not racy.
        let pooled = self.permits.load(Ordering::Relaxed);
        assert!(
            pooled.checked_add(pool).is_some(),
            "grt::sync: semaphore permit count overflow"
        );
        self.permits.fetch_add(pool, Ordering::Release);
        None
    }
}
