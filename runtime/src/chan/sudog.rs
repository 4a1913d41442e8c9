//! Waiters on a channel: Go's `sudog` ("pseudo-g") and the claim that
//! decides which of a select's cases wins.
//!
//! A task blocked on a channel is represented in that channel's send or
//! receive queue by a [`Sudog`]: who is waiting, which case of its select
//! this is, and a slot for the value (a sender's value waiting to be taken,
//! or the place a receiver's value is delivered to). A select registers one
//! sudog per case, all pointing at one shared [`Selector`].
//!
//! The claim: whoever wants to complete an operation with a waiting sudog
//! (a sender finding a parked receiver, `close` waking everyone) must first
//! win `Selector::try_claim` for that sudog's case. Exactly one claim
//! succeeds per selector, which is what makes a select complete at most one
//! case; losers skip the sudog, and its owner removes the rest of its
//! registrations when it wakes. This is Go's `selectDone` CAS in
//! `dequeueSudoG`, used for plain sends and receives too (as a select of
//! one case), so there is a single wake-up protocol.
//!
//! Ordering: the claimer locks the sudog's slot, wins the claim, fills or
//! empties the slot, and only then unlocks it (and later wakes the owner).
//! The owner may see the claim before it ever parks, but it reads the slot
//! under the same lock, so it always finds the exchange complete.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use std::time::Instant;

use crate::machine;
use crate::park::Waiter;
use crate::task::WaitReason;
use crate::time::{self, heap::TimerShared};

/// `Selector::chosen` before any case has completed.
const NONE: usize = usize::MAX;
/// `Selector::chosen` when the owner withdrew to retry (select found a case
/// ready while registering, see select.rs).
const ABORTED: usize = usize::MAX - 1;
/// `Selector::chosen` when the deadline passed first.
const TIMED_OUT: usize = usize::MAX - 2;

/// One blocking channel operation or select: who waits, and which case won.
pub struct Selector {
    /// NONE, ABORTED, or the index of the case that completed.
    chosen: AtomicUsize,
    /// Whom to wake when a case completes.
    waiter: Waiter,
}

impl Selector {
    /// A selector for the calling task or thread.
    pub fn for_current() -> Arc<Selector> {
        Arc::new(Selector {
            chosen: AtomicUsize::new(NONE),
            waiter: Waiter::current(),
        })
    }

    /// Claims the selector for `case`; true if nobody had.
    pub fn try_claim(&self, case: usize) -> bool {
        self.chosen
            .compare_exchange(NONE, case, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The owner withdraws: no counterpart may claim it any more. False if
    /// one already has (then that case completed and must be honoured).
    pub fn try_abort(&self) -> bool {
        self.chosen
            .compare_exchange(NONE, ABORTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The case that completed, if any (`None` before, and when the
    /// selector was withdrawn or timed out).
    pub fn chosen(&self) -> Option<usize> {
        match self.chosen.load(Ordering::Acquire) {
            NONE | ABORTED | TIMED_OUT => None,
            case => Some(case),
        }
    }

    /// Whether anything (a case, a timeout) has settled this selector.
    fn settled(&self) -> bool {
        self.chosen.load(Ordering::Acquire) != NONE
    }

    /// Wakes the owner (called by the claimer, after releasing the channel lock).
    pub fn wake(&self) {
        self.waiter.wake_ref();
    }

    /// The owner blocks until a case completes (Go's `gopark` in `chansend`,
    /// `chanrecv`, `selectgo`). Loops over spurious wake-ups.
    pub fn wait(&self, reason: WaitReason) -> usize {
        loop {
            if let Some(case) = self.chosen() {
                return case;
            }
            Waiter::park_current(reason);
        }
    }

    /// Like [`wait`](Self::wait), but gives up at `deadline`: returns the
    /// completed case, or `None` if the timeout won the claim. A task arms
    /// a runtime timer that claims the selector for the timeout; a plain
    /// thread parks with a timeout and claims it itself.
    pub fn wait_until(self: &Arc<Self>, reason: WaitReason, deadline: Instant) -> Option<usize> {
        match machine::current().filter(|m| m.current_task().is_some()) {
            Some(m) => {
                let me = Arc::clone(self);
                let timer = TimerShared::new(Box::new(move |_, _, _| {
                    if me.try_claim(TIMED_OUT) {
                        me.wake();
                    }
                    None
                }));
                time::arm(m, &timer, deadline);
                while !self.settled() {
                    Waiter::park_current(reason);
                }
                timer.invalidate();
            }
            None => {
                while !self.settled() {
                    let now = Instant::now();
                    if now >= deadline {
                        // Loses only if a case completed just now.
                        self.try_claim(TIMED_OUT);
                    } else {
                        std::thread::park_timeout(deadline - now);
                    }
                }
            }
        }
        self.chosen()
    }
}

/// A waiter in a channel's queue (Go's `sudog`).
pub struct Sudog<T> {
    /// The operation (or select) this waiter belongs to.
    pub selector: Arc<Selector>,
    /// Which case of that select.
    pub case: usize,
    /// A parked sender's value, until taken; or a parked receiver's
    /// delivered value (`None` after completion means "closed").
    pub slot: Mutex<Option<T>>,
}

impl<T> Sudog<T> {
    pub fn new(selector: &Arc<Selector>, case: usize, value: Option<T>) -> Arc<Sudog<T>> {
        Arc::new(Sudog {
            selector: Arc::clone(selector),
            case,
            slot: Mutex::new(value),
        })
    }
}
