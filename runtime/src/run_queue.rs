//! The per-P local run queue: a fixed ring of 256 task slots plus a
//! `runnext` slot, that its owner uses without locks and other Ps steal half
//! of. This is Go's `runqput`, `runqget`, `runqgrab` and `runqsteal`
//! (proc.go), written out in Rust.
//!
//! Why not crossbeam-deque? Its Chase-Lev deque grows without bound and has
//! no `runnext` slot; its batch steal takes "about half", capped, into the
//! thief's deque. Go's ring has a fixed size, so overflow is an explicit
//! event (half the ring moves to the global queue in one lock acquisition,
//! `runqputslow`), a thief takes exactly half the victim's work straight
//! into its own ring with one CAS, and `runnext` is part of the structure.
//! Those are the properties the book discusses, so we keep Go's shape.
//!
//! Invariants:
//! - Only the owning P writes `tail` and the slots between `tail` and
//!   `head + LEN`; anyone may advance `head`, only with a CAS, and only after
//!   reading the slots it takes. A slot is rewritten by the owner only once
//!   `tail - head < LEN` says it is free, so a thief whose CAS on `head`
//!   succeeds read slots nobody had overwritten.
//! - `runnext` holds a task that runs before everything in the ring: the task
//!   most recently readied by the running one (Go's `runqput(pp, gp, true)`),
//!   so a pair talking through a channel ping-pongs without queueing behind
//!   everyone else. It is stolen only as a last resort.
//! - Every pointer in the ring or in `runnext` is an owned `Arc<Task>` turned
//!   into a raw pointer; whoever takes it out turns it back.

use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use std::sync::Arc;

use crate::task::{Task, TaskRef};

/// Slots in the ring: Go's `len(p.runq)`. A power of two so indices wrap
/// with a mask; big enough that a burst of spawns rarely spills to the
/// global queue, small enough that a P's queue is cheap to scan.
pub const LEN: u32 = 256;

/// A P's run queue.
pub struct RunQueue {
    /// Next slot to take from; advanced by the owner and by thieves (CAS).
    pub(crate) head: AtomicU32,
    /// Next free slot; written only by the owner.
    pub(crate) tail: AtomicU32,
    /// The ring itself, inline so that a slot is one masked index away.
    slots: [AtomicPtr<Task>; LEN as usize],
    /// The task to run next, ahead of the ring.
    pub(crate) runnext: AtomicPtr<Task>,
}

/// Where the owner's `put` sent the tasks that did not fit.
pub enum Overflow {
    /// Everything fit in the ring.
    None,
    /// The ring was full: half of it plus the new task, oldest first, for the global queue.
    Spill(Vec<TaskRef>),
}

impl RunQueue {
    pub fn new() -> RunQueue {
        RunQueue {
            head: AtomicU32::new(0),
            tail: AtomicU32::new(0),
            slots: std::array::from_fn(|_| AtomicPtr::default()),
            runnext: AtomicPtr::default(),
        }
    }

    #[inline]
    fn slot(&self, i: u32) -> &AtomicPtr<Task> {
        &self.slots[(i % LEN) as usize]
    }

    /// Owner only: queues `task`. With `next`, the task goes into `runnext`
    /// and the task it displaces goes to the tail (Go's `runqput`).
    #[inline]
    pub fn put(&self, task: TaskRef, next: bool) -> Overflow {
        let mut ptr = Arc::into_raw(task).cast_mut();
        if next {
            ptr = self.runnext.swap(ptr, Ordering::AcqRel);
            if ptr.is_null() {
                return Overflow::None;
            }
        }
        match self.push_if_room(ptr) {
            Ok(()) => Overflow::None,
            Err(_) => self.put_full(ptr),
        }
    }

    /// Owner only: appends `ptr` at the tail if the ring has room; if it is
    /// full, returns the `(head, tail)` that showed it.
    #[inline]
    fn push_if_room(&self, ptr: *mut Task) -> Result<(), (u32, u32)> {
        let head = self.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::Relaxed);
        if tail.wrapping_sub(head) >= LEN {
            return Err((head, tail));
        }
        self.slot(tail).store(ptr, Ordering::Relaxed);
        self.tail.store(tail.wrapping_add(1), Ordering::Release);
        Ok(())
    }

    /// `put` found the ring full: spill half of it, or retry if a thief
    /// made room meanwhile.
    #[cold]
    #[inline(never)]
    fn put_full(&self, ptr: *mut Task) -> Overflow {
        loop {
            let Err((head, tail)) = self.push_if_room(ptr) else {
                return Overflow::None;
            };
            if let Some(mut batch) = self.grab_half_for_overflow(head, tail) {
                // SAFETY: ptr came from Arc::into_raw and we still own it.
                batch.push(unsafe { Arc::from_raw(ptr) });
                return Overflow::Spill(batch);
            }
        }
    }

    /// Go's `runqputslow`: takes the older half of a full ring, or `None` if a
    /// thief changed `head` meanwhile.
    fn grab_half_for_overflow(&self, head: u32, tail: u32) -> Option<Vec<TaskRef>> {
        let n = tail.wrapping_sub(head) / 2;
        debug_assert_eq!(n, LEN / 2, "ring not full");
        let taken: Vec<*mut Task> = (0..n)
            .map(|i| self.slot(head.wrapping_add(i)).load(Ordering::Relaxed))
            .collect();
        self.head
            .compare_exchange(
                head,
                head.wrapping_add(n),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .ok()?;
        // SAFETY: the CAS made these slots ours; each holds an owned Arc.
        Some(
            taken
                .into_iter()
                .map(|p| unsafe { Arc::from_raw(p) })
                .collect(),
        )
    }

    /// Owner only: the next task to run and whether it came from `runnext`
    /// (Go's `inheritTime`: such a task shares the time slice of the one
    /// that readied it rather than starting a new one).
    pub fn get(&self) -> Option<(TaskRef, bool)> {
        let next = self.runnext.load(Ordering::Relaxed);
        if !next.is_null()
            && self
                .runnext
                .compare_exchange(
                    next,
                    std::ptr::null_mut(),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            // SAFETY: the CAS took ownership of the Arc stored in runnext.
            return Some((unsafe { Arc::from_raw(next) }, true));
        }
        loop {
            let head = self.head.load(Ordering::Acquire);
            let tail = self.tail.load(Ordering::Relaxed);
            if head == tail {
                return None;
            }
            let ptr = self.slot(head).load(Ordering::Relaxed);
            if self
                .head
                .compare_exchange(
                    head,
                    head.wrapping_add(1),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                // SAFETY: the CAS took the slot; it held an owned Arc.
                return Some((unsafe { Arc::from_raw(ptr) }, false));
            }
        }
    }

    /// Owner only: appends tasks taken from the global queue or a thief's
    /// catch; the caller guarantees they fit (see [`RunQueue::free_slots`]).
    pub fn put_batch(&self, tasks: impl IntoIterator<Item = TaskRef>) {
        let mut tail = self.tail.load(Ordering::Relaxed);
        for task in tasks {
            debug_assert!(tail.wrapping_sub(self.head.load(Ordering::Acquire)) < LEN);
            self.slot(tail)
                .store(Arc::into_raw(task).cast_mut(), Ordering::Relaxed);
            tail = tail.wrapping_add(1);
        }
        self.tail.store(tail, Ordering::Release);
    }

    /// Owner only: how many more tasks the ring takes without overflowing.
    pub fn free_slots(&self) -> u32 {
        let head = self.head.load(Ordering::Acquire);
        LEN - self.tail.load(Ordering::Relaxed).wrapping_sub(head)
    }

    /// Tasks queued, `runnext` included. Exact for the owner; a hint for others.
    pub fn len(&self) -> usize {
        loop {
            let head = self.head.load(Ordering::Acquire);
            let tail = self.tail.load(Ordering::Acquire);
            let next = !self.runnext.load(Ordering::Acquire).is_null();
            if head == self.head.load(Ordering::Acquire) {
                return tail.wrapping_sub(head) as usize + next as usize;
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Thief side (Go's `runqsteal`): moves half of `victim`'s tasks into
    /// this ring, whose owner must be the caller, and returns one of them to
    /// run now, with how many were taken. With `take_runnext`, an otherwise
    /// empty victim gives up its `runnext` (Go does this only on the last
    /// steal round).
    pub fn steal_half(&self, victim: &RunQueue, take_runnext: bool) -> Option<(TaskRef, u32)> {
        let tail = self.tail.load(Ordering::Relaxed);
        let n = victim.grab_half(self, tail, take_runnext);
        if n == 0 {
            return None;
        }
        let last = tail.wrapping_add(n - 1);
        let ptr = self.slot(last).load(Ordering::Relaxed);
        if n > 1 {
            self.tail.store(last, Ordering::Release);
        }
        // SAFETY: the slot at `last` is past our published tail, so only we
        // can see it; it holds an owned Arc moved in by grab_half.
        Some((unsafe { Arc::from_raw(ptr) }, n))
    }

    /// Go's `runqgrab`: copies half of this queue into `into`'s ring starting
    /// at `into_tail` and commits by advancing our `head`. Returns how many.
    fn grab_half(&self, into: &RunQueue, into_tail: u32, take_runnext: bool) -> u32 {
        loop {
            let head = self.head.load(Ordering::Acquire);
            let tail = self.tail.load(Ordering::Acquire);
            let available = tail.wrapping_sub(head);
            let n = available - available / 2;
            if n == 0 {
                if !take_runnext {
                    return 0;
                }
                let next = self.runnext.load(Ordering::Acquire);
                if next.is_null() {
                    return 0;
                }
                if self
                    .runnext
                    .compare_exchange(
                        next,
                        std::ptr::null_mut(),
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    )
                    .is_err()
                {
                    continue;
                }
                into.slot(into_tail).store(next, Ordering::Relaxed);
                return 1;
            }
            if n > LEN / 2 {
                // head and tail were read at different moments; try again.
                continue;
            }
            for i in 0..n {
                let ptr = self.slot(head.wrapping_add(i)).load(Ordering::Relaxed);
                into.slot(into_tail.wrapping_add(i))
                    .store(ptr, Ordering::Relaxed);
            }
            if self
                .head
                .compare_exchange(
                    head,
                    head.wrapping_add(n),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                return n;
            }
        }
    }

    /// Takes every queued task out (used when a runtime shuts down).
    pub fn drain(&self) -> Vec<TaskRef> {
        std::iter::from_fn(|| self.get().map(|(task, _)| task)).collect()
    }
}

impl Drop for RunQueue {
    fn drop(&mut self) {
        drop(self.drain());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::join::Packet;
    use crate::sched::Sched;

    /// `n` distinct tasks (ids 1..=n) of a throwaway scheduler.
    fn tasks(n: usize) -> Vec<TaskRef> {
        let sched = Arc::new(Sched::new(1, 64 * 1024, 1, None));
        (0..n)
            .map(|_| {
                Arc::new(Task::new(
                    Arc::clone(&sched),
                    None,
                    None,
                    Arc::new(Packet::new(|| ())),
                ))
            })
            .collect()
    }

    fn id(task: &TaskRef) -> u64 {
        task.id.as_u64()
    }

    #[test]
    fn ring_is_fifo_and_runnext_jumps_the_queue() {
        let q = RunQueue::new();
        let mut ts = tasks(4).into_iter();
        for t in ts.by_ref().take(3) {
            assert!(matches!(q.put(t, false), Overflow::None));
        }
        assert!(matches!(q.put(ts.next().unwrap(), true), Overflow::None));
        assert_eq!(q.len(), 4);
        let order: Vec<(u64, bool)> = std::iter::from_fn(|| q.get())
            .map(|(t, inherit)| (id(&t), inherit))
            .collect();
        assert_eq!(order, [(4, true), (1, false), (2, false), (3, false)]);
        assert!(q.is_empty());
    }

    #[test]
    fn a_new_runnext_pushes_the_old_one_to_the_tail() {
        let q = RunQueue::new();
        let mut ts = tasks(3).into_iter();
        q.put(ts.next().unwrap(), false);
        q.put(ts.next().unwrap(), true);
        q.put(ts.next().unwrap(), true);
        let order: Vec<u64> = std::iter::from_fn(|| q.get())
            .map(|(t, _)| id(&t))
            .collect();
        assert_eq!(order, [3, 1, 2]);
    }

    #[test]
    fn a_full_ring_spills_its_older_half_plus_the_newcomer() {
        let q = RunQueue::new();
        let mut ts = tasks(LEN as usize + 1).into_iter();
        for t in ts.by_ref().take(LEN as usize) {
            assert!(matches!(q.put(t, false), Overflow::None));
        }
        let Overflow::Spill(batch) = q.put(ts.next().unwrap(), false) else {
            panic!("a full ring must spill");
        };
        let spilled: Vec<u64> = batch.iter().map(id).collect();
        let expected: Vec<u64> = (1..=LEN as u64 / 2).chain([LEN as u64 + 1]).collect();
        assert_eq!(
            spilled, expected,
            "oldest half first, then the task that did not fit"
        );
        assert_eq!(q.len(), LEN as usize / 2);
        assert_eq!(q.get().map(|(t, _)| id(&t)), Some(LEN as u64 / 2 + 1));
    }

    #[test]
    fn a_thief_takes_half_and_runnext_only_when_asked() {
        let victim = RunQueue::new();
        let thief = RunQueue::new();
        let mut ts = tasks(11).into_iter();
        for t in ts.by_ref().take(10) {
            victim.put(t, false);
        }
        victim.put(ts.next().unwrap(), true);
        // 10 in the ring: the thief takes 5, runs the last it took, queues 4.
        let (first, stolen) = thief.steal_half(&victim, false).unwrap();
        assert_eq!((id(&first), stolen), (5, 5));
        let queued: Vec<u64> = std::iter::from_fn(|| thief.get())
            .map(|(t, _)| id(&t))
            .collect();
        assert_eq!(queued, [1, 2, 3, 4]);
        assert_eq!(victim.len(), 6, "5 left in the ring plus runnext");
        // Half of what is left each time (rounded up): 3, then 1, then 1.
        let mut takes = Vec::new();
        while let Some((_, n)) = thief.steal_half(&victim, false) {
            takes.push(n);
            while thief.get().is_some() {}
        }
        assert_eq!(takes, [3, 1, 1]);
        // Only runnext is left, and only a runnext-taking steal gets it.
        let (last, stolen) = thief.steal_half(&victim, true).unwrap();
        assert_eq!((id(&last), stolen), (11, 1));
        assert!(victim.is_empty());
    }
}
