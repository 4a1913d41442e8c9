//! `RwLock<T>`: many readers or one writer, with writer preference, as
//! Go's `sync.RWMutex` (sync/rwmutex.go).
//!
//! # The idea
//! Readers only touch one counter, `reader_count`, on the way in and out:
//! an uncontended `read` and its unlock are one atomic addition each. A
//! writer first takes `writer` (a [`Mutex`], so writers queue among
//! themselves with the mutex's fairness), then announces itself by
//! subtracting [`MAX_READERS`] from `reader_count`. The count is negative
//! from then until the writer unlocks, and every reader arriving meanwhile
//! sees that and parks on `reader_sema`: a waiting writer blocks new
//! readers (writer preference), so a stream of readers cannot starve it.
//!
//! The readers already inside when the writer arrived must leave first.
//! Their number is what `reader_count` was before the subtraction; the
//! writer adds it to `reader_wait` and parks on `writer_sema` unless the
//! sum is already zero. Each of those readers, leaving, sees the negative
//! count and decrements `reader_wait`; the one that brings it to zero
//! releases the writer. (A reader's decrement may come before the writer's
//! addition; the sum is right either way, and exactly one side sees zero.)
//!
//! Unlocking the writer adds MAX_READERS back; the result is the number of
//! readers that arrived while it wrote, and it releases that many permits
//! on `reader_sema`, then unlocks `writer`.
//!
//! # Invariants
//! - `reader_count` = readers inside or waiting, minus MAX_READERS while a
//!   writer holds or waits for the lock. At most MAX_READERS - 1 readers.
//! - `reader_wait` is nonzero only between a writer's arrival and the last
//!   departure of the readers it found inside.
//! - The write guard unlocks `writer` last (field drop order), as Go's
//!   `Unlock` calls `rw.w.Unlock()` last: the readers that waited for this
//!   writer are released before the next writer can take its turn.
//!
//! No poisoning: a panic in either guard's owner unlocks, as in mutex.rs.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicI32, Ordering};

use super::mutex::{Mutex, MutexGuard};
use super::sema::{QueuePosition, Sema};
use crate::task::WaitReason;

/// What a writer subtracts from `reader_count` to announce itself (Go's
/// `rwmutexMaxReaders`): larger than any number of readers, so the count
/// stays negative while readers come and go.
const MAX_READERS: i32 = 1 << 30;

/// A reader-writer lock protecting a `T`; waiting tasks park, waiting
/// plain threads block.
pub struct RwLock<T: ?Sized> {
    /// Held by the writer for its whole turn; serialises writers.
    writer: Mutex<()>,
    /// Where the writer waits for the readers it found inside.
    writer_sema: Sema,
    /// Where readers wait for the writer.
    reader_sema: Sema,
    /// Readers in or waiting, minus MAX_READERS while a writer is present.
    reader_count: AtomicI32,
    /// Readers the present writer still waits for.
    reader_wait: AtomicI32,
    /// The protected value.
    data: UnsafeCell<T>,
}

// SAFETY: readers share `&T` across threads (needs `T: Sync`), a writer
// gets `&mut T` on whatever thread holds the guard (needs `T: Send`); the
// lock never allows both at once. Same bounds as std's RwLock.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}
// SAFETY: owning the lock is owning the `T`.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}

/// Shared access to a read-locked [`RwLock`]'s value.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

/// Exclusive access to a write-locked [`RwLock`]'s value.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    /// The held `writer` mutex; dropped (unlocked) after `Drop::drop` ran.
    _writer: MutexGuard<'a, ()>,
    /// The guard acts as a `&mut T`.
    _access: PhantomData<&'a mut T>,
}

impl<T> RwLock<T> {
    /// An unlocked lock holding `value`.
    pub const fn new(value: T) -> RwLock<T> {
        RwLock {
            writer: Mutex::new(()),
            writer_sema: Sema::new(0),
            reader_sema: Sema::new(0),
            reader_count: AtomicI32::new(0),
            reader_wait: AtomicI32::new(0),
            data: UnsafeCell::new(value),
        }
    }

    /// The value, consuming the lock.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Locks for reading, parking while a writer holds or waits for the
    /// lock (Go's `RLock`).
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        crate::preempt::checkpoint();
        if self.reader_count.fetch_add(1, Ordering::Acquire) + 1 < 0 {
            // A writer is present; its unlock releases one permit per
            // reader that arrived meanwhile, us included.
            self.reader_sema
                .acquire(QueuePosition::Back, WaitReason::RwLockRead);
        }
        RwLockReadGuard { lock: self }
    }

    /// Locks for reading if no writer holds or waits for the lock (Go's
    /// `TryRLock`).
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        let mut count = self.reader_count.load(Ordering::Relaxed);
        loop {
            if count < 0 {
                return None;
            }
            match self.reader_count.compare_exchange_weak(
                count,
                count + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(RwLockReadGuard { lock: self }),
                Err(now) => count = now,
            }
        }
    }

    /// Locks for writing, parking until other writers and the readers
    /// inside have left; readers arriving meanwhile wait behind us (Go's
    /// `Lock`).
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        let writer = self.writer.lock_with_reason(WaitReason::RwLockWrite);
        // Announce ourselves; `inside` readers were there before us.
        let inside = self.reader_count.fetch_sub(MAX_READERS, Ordering::AcqRel);
        if inside != 0 && self.reader_wait.fetch_add(inside, Ordering::AcqRel) + inside != 0 {
            self.writer_sema
                .acquire(QueuePosition::Back, WaitReason::RwLockWrite);
        }
        RwLockWriteGuard {
            lock: self,
            _writer: writer,
            _access: PhantomData,
        }
    }

    /// Locks for writing if nobody holds the lock (Go's `TryLock`).
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        let writer = self.writer.try_lock()?;
        // On failure `writer` drops here, unlocking the writer mutex.
        self.reader_count
            .compare_exchange(0, -MAX_READERS, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        Some(RwLockWriteGuard {
            lock: self,
            _writer: writer,
            _access: PhantomData,
        })
    }

    /// The value, through a unique borrow of the lock.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// Go's `RUnlock` and `rUnlockSlow`.
    fn read_unlock(&self) {
        if self.reader_count.fetch_sub(1, Ordering::Release) - 1 < 0 {
            // A writer waits; if it waits for us, we may be the last.
            if self.reader_wait.fetch_sub(1, Ordering::AcqRel) - 1 == 0 {
                self.writer_sema.release(1);
            }
        }
    }

    /// Go's `Unlock`, except `rw.w.Unlock()`, which the guard's field does.
    fn write_unlock(&self) {
        let arrived = self.reader_count.fetch_add(MAX_READERS, Ordering::Release) + MAX_READERS;
        debug_assert!(
            (0..MAX_READERS).contains(&arrived),
            "grt::sync: inconsistent RwLock state"
        );
        self.reader_sema.release(arrived as usize);
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: while a read guard exists, `reader_count` counts it, so
        // no writer can complete `write` (it waits for `reader_wait` to
        // reach zero, which needs this guard's unlock): nobody has `&mut T`.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.read_unlock();
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: a write guard exists only after `write` saw every reader
        // leave, and new readers park until it drops; writers are
        // serialised by `writer`. So this guard's is the only access.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only borrow
        // through this guard.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.write_unlock();
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}
