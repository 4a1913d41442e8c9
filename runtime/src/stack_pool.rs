//! The runtime-wide pool of spare stacks: Go's `stackpool`, and the part of
//! its background scavenger that hands stack memory back to the OS.
//!
//! Each P caches stacks for itself (processor.rs). A P whose cache is full
//! gives half of it here; a P whose cache is empty takes a batch from here
//! before it maps new ones. Two questions make the pool more than a list.
//!
//! **When a stack gives its memory back.** A task that ran deep left pages
//! committed below the top [`KEEP_RESIDENT`] bytes, and its stack's next
//! owner probably will not need them ([`Stack::release_deep_pages`]).
//! Trimming every stack on its way into the pool costs an `madvise` each,
//! and each takes the address-space lock that every page fault and `mmap`
//! of the process also takes. Under a burst of short tasks (100,000 sleepers
//! ending while the next 100,000 start) those calls were most of the burst:
//! 9.1–9.8 µs per sleeper with them, 2.0–2.8 µs without (docs/benchmarks.md,
//! timers_many). Go does not trim on the way in either: its scavenger gives
//! memory back in the background. So stacks arrive *untrimmed* and are
//! handed out again most-recent first (the warmest), and sysmon calls
//! [`StackPool::scavenge`] now and then, which trims the untrimmed stacks
//! that have sat in the pool since its previous call. A stack that passes
//! through the pool between two calls never pays for an `madvise`; one that
//! stays is trimmed by the second call after it arrived; and sysmon does not
//! sleep for want of busy Ps while the pool holds untrimmed stacks, so the
//! pool of an idle runtime is trimmed (each P's own cache keeps its few
//! stacks as they were, warm for the next spawn).
//!
//! **How many to keep.** About [`STACK_POOL_MAX`]. The bound is kept by the
//! scavenger too, not on the way in: the stacks a burst of ending tasks
//! brings stay until the next call, and those that have sat through one
//! beyond the bound are unmapped then, the coldest first, in one sorted
//! batch ([`stack::unmap_all`]: stacks that lie back to back go in one
//! `munmap`, and a batch of thousands has long runs where a P's handful
//! has short ones). A burst's stacks were the burst's tasks' a moment
//! before, so holding them a few milliseconds more raises no peak; and a
//! burst that follows soon after finds them here instead of mapping new
//! ones.
//!
//! Invariants, under the lock: the first `aged` stacks of `untrimmed` (the
//! bottom of its stack order) have been in the pool since the last
//! scavenge; every stack in `trimmed` holds at most `KEEP_RESIDENT` bytes
//! committed; after a scavenge, the pool holds at most `STACK_POOL_MAX`
//! stacks besides those given since the one before.

use parking_lot::Mutex;

#[cfg(doc)]
use crate::stack::KEEP_RESIDENT;
use crate::stack::{self, Stack};

/// Stacks the pool keeps through a scavenge; beyond this, aged stacks are
/// unmapped. Go's global `stackpool` is unbounded until GC frees spans; we
/// bound it so that a burst of a million tasks does not pin a million
/// stacks after it ends.
pub const STACK_POOL_MAX: usize = 1024;

#[derive(Default)]
pub struct StackPool {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Stacks as the Ps gave them; the last given is the first taken.
    untrimmed: Vec<Stack>,
    /// How many of `untrimmed`, from its start, were there at the last
    /// scavenge and have not been taken since.
    aged: usize,
    /// Stacks whose deep pages went back to the OS.
    trimmed: Vec<Stack>,
}

impl StackPool {
    /// Up to `want` stacks: untrimmed ones first, the most recently given
    /// first (their pages are the likeliest to be in cache), then trimmed.
    pub fn take(&self, want: usize) -> Vec<Stack> {
        let mut inner = self.inner.lock();
        let keep = inner.untrimmed.len().saturating_sub(want);
        let mut stacks = inner.untrimmed.split_off(keep);
        inner.aged = inner.aged.min(keep);
        let keep = inner.trimmed.len().saturating_sub(want - stacks.len());
        let more = inner.trimmed.split_off(keep);
        drop(inner);
        stacks.extend(more);
        stacks
    }

    /// Keeps `stacks`, untrimmed, until a scavenge decides (module doc).
    pub fn give(&self, mut stacks: Vec<Stack>) {
        self.inner.lock().untrimmed.append(&mut stacks);
    }

    /// Trims the untrimmed stacks that were here at the previous call, and
    /// unmaps what the pool holds beyond its bound: those stacks first,
    /// then trimmed ones (module doc). The system calls are made outside the
    /// lock, so Ps that take or give meanwhile do not wait for them.
    pub fn scavenge(&self) {
        let mut inner = self.inner.lock();
        let aged = inner.aged;
        let mut trimming: Vec<Stack> = inner.untrimmed.drain(..aged).collect();
        inner.aged = inner.untrimmed.len();
        let held = inner.untrimmed.len() + inner.trimmed.len() + trimming.len();
        let over = held.saturating_sub(STACK_POOL_MAX);
        let mut unmapping: Vec<Stack> = trimming.drain(..over.min(trimming.len())).collect();
        let over = over - unmapping.len();
        let keep = inner.trimmed.len().saturating_sub(over);
        unmapping.extend(inner.trimmed.drain(keep..));
        drop(inner);
        stack::unmap_all(unmapping);
        if trimming.is_empty() {
            return;
        }
        for stack in &trimming {
            stack.release_deep_pages();
        }
        self.inner.lock().trimmed.append(&mut trimming);
    }

    /// Whether some stack here still waits to be trimmed.
    pub fn has_untrimmed(&self) -> bool {
        !self.inner.lock().untrimmed.is_empty()
    }

    /// Unmaps every stack the pool holds (the runtime has ended).
    pub fn clear(&self) {
        let mut inner = self.inner.lock();
        let mut stacks = std::mem::take(&mut inner.untrimmed);
        stacks.append(&mut inner.trimmed);
        inner.aged = 0;
        drop(inner);
        stack::unmap_all(stacks);
    }

    /// Stacks held, untrimmed and trimmed.
    pub fn counts(&self) -> (usize, usize) {
        let inner = self.inner.lock();
        (inner.untrimmed.len(), inner.trimmed.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::KEEP_RESIDENT;

    const SIZE: usize = 4 * KEEP_RESIDENT;

    /// A stack with its deepest and its top byte written.
    fn used_stack() -> Stack {
        let stack = Stack::new(SIZE).unwrap();
        let (_, guard_end) = stack.guard();
        // SAFETY: the bytes between the guard and the top are ours.
        unsafe {
            *(guard_end as *mut u8) = 0xAB;
            *stack.top().sub(1) = 0xCD;
        }
        stack
    }

    /// The deepest and the top byte of `stack`.
    fn ends(stack: &Stack) -> (u8, u8) {
        let (_, guard_end) = stack.guard();
        // SAFETY: as above; released pages read back as zero.
        unsafe { (*(guard_end as *const u8), *stack.top().sub(1)) }
    }

    #[test]
    fn a_stack_is_trimmed_only_once_it_has_sat_through_a_scavenge() {
        let pool = StackPool::default();
        pool.give(vec![used_stack()]);
        pool.scavenge();
        assert_eq!(pool.counts(), (1, 0), "it arrived since the last look");
        pool.scavenge();
        assert_eq!(pool.counts(), (0, 1));
        let stack = pool.take(1).pop().unwrap();
        assert_eq!(ends(&stack), (0, 0xCD), "deep page released, top kept");
    }

    #[test]
    fn a_stack_taken_and_given_back_starts_its_wait_again() {
        let pool = StackPool::default();
        pool.give(vec![used_stack()]);
        pool.scavenge();
        // Aged now; taken and given back, it is new again, and the next
        // scavenge leaves it alone.
        let stack = pool.take(1).pop().unwrap();
        pool.give(vec![stack]);
        pool.scavenge();
        assert_eq!(pool.counts(), (1, 0));
        let stack = pool.take(1).pop().unwrap();
        assert_eq!(ends(&stack), (0xAB, 0xCD));
    }

    #[test]
    fn taking_below_the_aged_mark_lowers_it() {
        let pool = StackPool::default();
        pool.give(vec![used_stack(), used_stack()]);
        pool.scavenge();
        // Both aged; both taken; one given back: it is new, not aged.
        let mut both = pool.take(2);
        pool.give(vec![both.pop().unwrap()]);
        pool.scavenge();
        assert_eq!(pool.counts(), (1, 0));
    }

    #[test]
    fn take_prefers_untrimmed_stacks() {
        let pool = StackPool::default();
        pool.give(vec![used_stack()]);
        pool.scavenge();
        pool.scavenge();
        assert_eq!(pool.counts(), (0, 1));
        assert!(!pool.has_untrimmed());
        pool.give(vec![used_stack()]);
        assert!(pool.has_untrimmed());
        let first = pool.take(1).pop().unwrap();
        assert_eq!(ends(&first), (0xAB, 0xCD), "the untrimmed one first");
        let second = pool.take(1).pop().unwrap();
        assert_eq!(ends(&second), (0, 0xCD));
        assert!(pool.take(1).is_empty());
    }

    #[test]
    fn a_scavenge_unmaps_aged_stacks_beyond_the_bound() {
        let pool = StackPool::default();
        pool.give(Stack::reserve(SIZE, STACK_POOL_MAX + 3).unwrap());
        pool.scavenge();
        assert_eq!(pool.counts(), (STACK_POOL_MAX + 3, 0), "none aged yet");
        pool.give(vec![Stack::new(SIZE).unwrap()]);
        pool.scavenge();
        // Four over: four of the aged are unmapped, the rest trimmed; the
        // stack given since the last scavenge waits for the next.
        assert_eq!(pool.counts(), (1, STACK_POOL_MAX - 1));
        pool.scavenge();
        assert_eq!(pool.counts(), (0, STACK_POOL_MAX));
        pool.clear();
        assert_eq!(pool.counts(), (0, 0));
    }
}
