//! `Condvar`: wait for a condition protected by a
//! [`Mutex`](super::Mutex), parking the task meanwhile (Go's `sync.Cond`,
//! sync/cond.go, on the runtime's `notifyList` in runtime/sema.go).
//!
//! # The idea
//! `wait` must release the mutex and go to sleep as one step: a
//! `notify_one` that comes after the unlock (because the notifier took the
//! mutex, changed the condition and notified) must find the waiter. So the
//! waiter queues its [`WaitNode`] while it still holds the mutex, and only
//! then unlocks and parks; a notifier pops nodes in FIFO order and wakes
//! them. A wake-up that comes between the unlock and the park is kept by
//! the node's flag (and the park token), so it is not lost.
//!
//! Go gets the same effect with tickets: `notifyListAdd` takes a ticket
//! before unlocking and `notifyListWait` parks unless that ticket was
//! already notified, because Go's `Wait` may be called with the lock held
//! in read mode by many goroutines at once. Ours only takes a
//! [`MutexGuard`], so queueing the node directly is enough.
//!
//! # Invariants
//! - A node is in `waiters` from before its owner's unlock until a notify
//!   pops it; `wait` returns only after that (no spurious returns, though
//!   callers should loop on their condition anyway: another task may have
//!   made it false again before the waiter relocked).
//! - Lock order: the mutex (if the caller holds it), then `waiters`, which
//!   is innermost; nobody is woken while `waiters` is locked.
//!
//! Any `grt::sync::Mutex` may be used with any `Condvar`; unlike std, there
//! is no check that a condvar is always used with the same mutex.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex as QueueLock;

use super::mutex::MutexGuard;
use super::wait_node::WaitNode;
use crate::task::WaitReason;

/// A condition variable whose waiters park.
pub struct Condvar {
    /// Waiters not yet notified, oldest first.
    waiters: QueueLock<VecDeque<Arc<WaitNode>>>,
}

impl Condvar {
    pub const fn new() -> Condvar {
        Condvar {
            waiters: QueueLock::new(VecDeque::new()),
        }
    }

    /// Unlocks `guard`'s mutex, parks the calling task (or blocks the
    /// calling thread) until a notify reaches it, then locks the mutex
    /// again and returns the new guard (Go's `Cond.Wait`). Loop on your
    /// condition around it.
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        let mutex = guard.mutex;
        let node = WaitNode::for_current();
        self.waiters.lock().push_back(Arc::clone(&node));
        drop(guard);
        node.wait(WaitReason::CondvarWait);
        mutex.lock()
    }

    /// Wakes the longest-waiting waiter, if any (Go's `Cond.Signal`).
    pub fn notify_one(&self) {
        let next = self.waiters.lock().pop_front();
        if let Some(next) = next {
            next.wake();
        }
    }

    /// Wakes every waiter (Go's `Cond.Broadcast`).
    pub fn notify_all(&self) {
        let all = std::mem::take(&mut *self.waiters.lock());
        for waiter in all {
            waiter.wake();
        }
    }
}

impl Default for Condvar {
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}
