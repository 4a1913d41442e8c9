//! A parked waiter in one of the sync primitives' queues: the `sudog` of
//! `grt::sync`.
//!
//! Every blocking primitive here does the same four steps, the park-token
//! protocol of park.rs: under the primitive's lock, decide that it must wait
//! and enqueue a [`WaitNode`] for itself; release the lock; park; when it
//! wakes, check its node's `woken` flag and park again if it is not set.
//! Whoever serves the waiter pops the node under the same lock, then, after
//! releasing the lock, calls [`WaitNode::wake`].
//!
//! Go's counterpart is the `sudog` that `semacquire1` and `notifyListWait`
//! (runtime/sema.go) queue. Go's `goready` never wakes a goroutine
//! spuriously, so Go needs no flag; a grt task's park token can hold a stale
//! wake-up from an earlier wait (a channel close that arrived just after the
//! task stopped waiting, say), so the node carries its own.
//!
//! Invariants:
//! - A node is woken at most once, by whoever popped it from its queue; a
//!   node that is in a queue has not been woken.
//! - `woken` is set (Release) before the waiter is unparked, and read
//!   (Acquire) by the waiter: everything the waker did before waking, such
//!   as handing over a lock or a permit, is visible to the waiter once it
//!   sees the flag.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::park::Waiter;
use crate::task::WaitReason;

/// One waiting task or thread, queued on a sync primitive.
pub(super) struct WaitNode {
    /// Whom to unpark.
    waiter: Waiter,
    /// Set once, by the waker, when the waiter's turn has come.
    woken: AtomicBool,
}

impl WaitNode {
    /// A node for the calling task or thread.
    pub fn for_current() -> Arc<WaitNode> {
        Arc::new(WaitNode {
            waiter: Waiter::current(),
            woken: AtomicBool::new(false),
        })
    }

    /// Blocks the caller (the node's owner) until [`WaitNode::wake`] has
    /// been called, parking again after any spurious wake-up.
    pub fn wait(&self, reason: WaitReason) {
        while !self.woken.load(Ordering::Acquire) {
            Waiter::park_current(reason);
        }
    }

    /// Ends the owner's wait. Call after popping the node from its queue
    /// and after releasing the queue's lock (waking may ready a task, which
    /// takes scheduler locks).
    pub fn wake(&self) {
        self.woken.store(true, Ordering::Release);
        self.waiter.wake_ref();
    }

    /// Whether the owner is a task (as opposed to a plain thread).
    pub fn is_task(&self) -> bool {
        matches!(self.waiter, Waiter::Task(_))
    }
}
