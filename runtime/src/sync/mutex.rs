//! `Mutex<T>`: a lock that parks the task waiting for it, with Go's normal
//! and starvation modes (sync/mutex.go: `sync.(*Mutex).lockSlow`,
//! `unlockSlow`).
//!
//! # The idea
//! A task that finds the mutex locked must not block its M, which has a P
//! and other tasks to run; it parks, and the unlocker readies it. The lock
//! itself is one atomic word, so the uncontended cases cost one atomic
//! instruction each: `lock` is a CAS from 0 to LOCKED, `unlock` a
//! subtraction that finds no waiters. Only when tasks wait does the slow
//! path touch the wait queue, a [`Sema`] (sema.rs; Go's
//! `runtime_SemacquireMutex` and `runtime_Semrelease`).
//!
//! # Two modes (the comment above `starvationThresholdNs` in mutex.go)
//! - **Normal mode.** Waiters queue in FIFO order, but a woken waiter does
//!   not own the mutex: it competes with tasks that are arriving right now.
//!   The newcomers usually win, since they are already running and there
//!   may be many of them; the loser goes back to the *front* of the queue.
//!   This is much faster than handing the lock over (a task can lock and
//!   unlock many times in a row without a context switch), but a waiter can
//!   lose again and again.
//! - **Starvation mode.** A waiter that has waited more than 1 ms
//!   ([`STARVATION_THRESHOLD`], Go's `starvationThresholdNs = 1e6`) sets
//!   STARVING. From then on `unlock` hands the mutex directly to the waiter
//!   at the head of the queue, without setting LOCKED (STARVING alone means
//!   "owned, being handed over"), and yields its P to it. Newcomers do not
//!   try to take the mutex even when it looks free; they queue at the back.
//! - **Back to normal.** The waiter that receives the mutex leaves
//!   starvation mode if it is the last waiter or it waited less than 1 ms:
//!   starvation mode is so slow that two tasks could otherwise hand the
//!   lock back and forth forever.
//!
//! # The state word (Go's `m.state`)
//! `LOCKED | WOKEN | STARVING | waiters << WAITER_SHIFT`, where
//! - LOCKED: someone holds the mutex (in normal mode);
//! - WOKEN: an unlock has woken a waiter that has not yet run its next
//!   attempt, so further unlocks need not wake anyone else;
//! - STARVING: starvation mode;
//! - waiters: tasks and threads that have committed to wait (counted before
//!   they park on the sema, uncounted by whoever wakes them).
//!
//! # Differences from Go
//! - No spinning. Go's `lockSlow` first spins a few times when
//!   `runtime_canSpin` says another P is running and the local run queue is
//!   empty; that is a latency optimisation that needs the scheduler's
//!   idle-P accounting, and a spin is not needed for correctness. WOKEN
//!   keeps its other role (one woken waiter at a time).
//! - No poisoning, like Go: a panic while the guard is held unlocks the
//!   mutex as the guard drops, and the next owner sees the data as the
//!   panicking task left it. (std poisons, because a half-finished update
//!   may break an invariant; if that matters, catch the panic and repair.)
//! - The guard is `Send` when `T` is: a grt mutex is not tied to a thread
//!   (a task holding it may resume on another M after any park), and Go lets
//!   one goroutine lock and another unlock.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::sema::{QueuePosition, Sema};
use crate::task::WaitReason;

/// Someone holds the mutex (Go's `mutexLocked`).
const LOCKED: usize = 1;
/// A waiter has been woken and not yet retried (Go's `mutexWoken`).
const WOKEN: usize = 1 << 1;
/// Starvation mode (Go's `mutexStarving`).
const STARVING: usize = 1 << 2;
/// The waiter count starts at this bit (Go's `mutexWaiterShift`).
const WAITER_SHIFT: u32 = 3;
/// One waiter, as counted in the state word.
const ONE_WAITER: usize = 1 << WAITER_SHIFT;

/// How long a waiter may wait before it switches the mutex to starvation
/// mode: Go's `starvationThresholdNs`. Shorter makes handoffs (slow, one
/// context switch per unlock) more frequent; longer lets tail latency grow.
const STARVATION_THRESHOLD: Duration = Duration::from_millis(1);

fn waiters(state: usize) -> usize {
    state >> WAITER_SHIFT
}

/// A mutual-exclusion lock protecting a `T`; waiting tasks park (their M
/// runs other tasks), waiting plain threads block.
pub struct Mutex<T: ?Sized> {
    /// LOCKED, WOKEN, STARVING and the waiter count (module comment).
    state: AtomicUsize,
    /// Where waiters park; holds no permits at rest (Go's `m.sema`).
    sema: Sema,
    /// The protected value.
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands out access to `data` to one guard at a time, so
// sharing the mutex across threads moves `T` between threads (hence
// `T: Send`) but never shares it (no `T: Sync` needed), as for std's Mutex.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}
// SAFETY: owning the mutex is owning the `T`.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}

/// Access to a locked [`Mutex`]'s value; unlocks when dropped.
#[must_use = "the mutex unlocks as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    /// The locked mutex; `Condvar::wait` uses it to lock again.
    pub(super) mutex: &'a Mutex<T>,
    /// The guard acts as a `&mut T`: `Send` needs `T: Send`, `Sync` needs
    /// `T: Sync`.
    _access: PhantomData<&'a mut T>,
}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`.
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            state: AtomicUsize::new(0),
            sema: Sema::new(0),
            data: UnsafeCell::new(value),
        }
    }

    /// The value, consuming the mutex (no locking needed: we own it).
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex, parking the calling task (or blocking the calling
    /// thread) while someone else holds it (Go's `Lock`).
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.lock_with_reason(WaitReason::MutexLock)
    }

    /// [`Mutex::lock`], showing `reason` while parked: `Once` and `RwLock`
    /// are built on a `Mutex<()>` and say what their waiters wait for.
    pub(super) fn lock_with_reason(&self, reason: WaitReason) -> MutexGuard<'_, T> {
        crate::preempt::checkpoint();
        if self
            .state
            .compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow(reason);
        }
        MutexGuard::new(self)
    }

    /// Locks the mutex if that needs no waiting (Go's `TryLock`). Fails in
    /// starvation mode even if the mutex is momentarily free: it belongs to
    /// the waiter it is being handed to.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        let old = self.state.load(Ordering::Relaxed);
        if old & (LOCKED | STARVING) != 0 {
            return None;
        }
        self.state
            .compare_exchange(old, old | LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| MutexGuard::new(self))
    }

    /// The value, through a unique borrow of the mutex (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// Go's `lockSlow` without the spinning: announce ourselves as a
    /// waiter, park on the sema, and when woken either compete for the lock
    /// (normal mode) or find it handed to us (starvation mode).
    #[cold]
    fn lock_slow(&self, reason: WaitReason) {
        let mut wait_start: Option<Instant> = None;
        // We have waited longer than STARVATION_THRESHOLD.
        let mut starving = false;
        // An unlock woke us and set WOKEN on our behalf; we must clear it.
        let mut woken = false;
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            let mut new = old;
            // In starvation mode the mutex belongs to the head waiter.
            if old & STARVING == 0 {
                new |= LOCKED;
            }
            if old & (LOCKED | STARVING) != 0 {
                new += ONE_WAITER;
            }
            // Only while it is held: an unlock in starvation mode expects a
            // waiter to hand the mutex to, and we are about to be one.
            if starving && old & LOCKED != 0 {
                new |= STARVING;
            }
            if woken {
                debug_assert!(new & WOKEN != 0, "grt::sync: inconsistent mutex state");
                new &= !WOKEN;
            }
            if let Err(now) =
                self.state
                    .compare_exchange(old, new, Ordering::Acquire, Ordering::Relaxed)
            {
                old = now;
                continue;
            }
            if old & (LOCKED | STARVING) == 0 {
                return; // We set LOCKED.
            }
            // A waiter that already waited keeps its place at the front.
            let position = match wait_start {
                Some(_) => QueuePosition::Front,
                None => QueuePosition::Back,
            };
            let started = *wait_start.get_or_insert_with(Instant::now);
            self.sema.acquire(position, reason);
            starving = starving || started.elapsed() > STARVATION_THRESHOLD;
            old = self.state.load(Ordering::Relaxed);
            if old & STARVING != 0 {
                // Handed to us: LOCKED is clear and we are still counted as
                // a waiter. Fix both in one step, and maybe end the mode.
                debug_assert!(
                    old & (LOCKED | WOKEN) == 0 && waiters(old) != 0,
                    "grt::sync: inconsistent mutex state"
                );
                let mut take = ONE_WAITER - LOCKED;
                if !starving || waiters(old) == 1 {
                    take += STARVING;
                }
                self.state.fetch_sub(take, Ordering::Acquire);
                return;
            }
            woken = true;
        }
    }

    /// Go's `Unlock`: one atomic subtraction, and the slow path only if
    /// anything besides LOCKED was set.
    fn unlock(&self) {
        let new = self.state.fetch_sub(LOCKED, Ordering::Release) - LOCKED;
        if new != 0 {
            self.unlock_slow(new);
        }
    }

    /// Go's `unlockSlow`: wake one waiter to compete (normal mode), or hand
    /// the mutex to the head waiter (starvation mode).
    #[cold]
    fn unlock_slow(&self, new: usize) {
        if new & STARVING != 0 {
            // LOCKED stays clear; the woken waiter takes ownership. STARVING
            // keeps newcomers out meanwhile.
            self.sema.release_and_yield();
            return;
        }
        let mut old = new;
        loop {
            // Nobody to wake; or someone already took the lock, or a woken
            // waiter is on its way, or the mode changed to starvation (then
            // the owner's unlock hands over, not us).
            if waiters(old) == 0 || old & (LOCKED | WOKEN | STARVING) != 0 {
                return;
            }
            let new = (old - ONE_WAITER) | WOKEN;
            match self
                .state
                .compare_exchange_weak(old, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    self.sema.release(1);
                    return;
                }
                Err(now) => old = now,
            }
        }
    }
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// The guard of a mutex the caller has just locked.
    fn new(mutex: &'a Mutex<T>) -> MutexGuard<'a, T> {
        MutexGuard {
            mutex,
            _access: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: this guard exists only while its mutex is locked, and the
        // mutex hands out one guard at a time, so no `&mut T` exists
        // elsewhere; the borrow ends with the guard's.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only borrow
        // through this guard.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    /// Unlocks, also when a panic unwinds through the guard's owner.
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
