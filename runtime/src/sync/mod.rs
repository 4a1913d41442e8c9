//! Locks and other synchronisation that park tasks: `Mutex`, `RwLock`,
//! `Condvar`, `WaitGroup`, `Once`, `Semaphore` (Go's package `sync`, and
//! the runtime's sema.go beneath it).
//!
//! # Why not std's
//! `std::sync::Mutex` blocks the OS thread of a waiting task. That thread
//! is an M holding a P: every other task in that P's queue stalls with it,
//! and if the lock's holder is one of those tasks, or needs that P to run,
//! the program deadlocks. These primitives park the *task* instead (its M
//! goes on running others), and block only when the caller is a plain
//! thread, so tasks and non-runtime threads can share them.
//!
//! # One building block
//! Every primitive is "register as a waiter under a lock, release the lock,
//! park, re-check" on the park token of park.rs, via two pieces:
//! - `wait_node.rs`: a queued waiter with a `woken` flag (Go's `sudog`);
//! - `sema.rs`: a counting semaphore with a FIFO queue of those nodes (Go's
//!   `semacquire`/`semrelease`), which `Mutex`, `RwLock`, `WaitGroup` and
//!   `Semaphore` build on, as Go's sync package builds on its runtime's.
//!
//! Then one file per primitive, each opening with its idea, its Go
//! counterpart and its invariants:
//! - `mutex.rs`: normal and starvation modes (the heart of this module);
//! - `rwlock.rs`: writer preference;
//! - `condvar.rs`: wait and notify;
//! - `wait_group.rs`: Go's counter-and-waiters word;
//! - `once.rs`: a flag and a mutex;
//! - `semaphore.rs`: the runtime semaphore, public.
//!
//! The book's chapter "Sync primitives that park tasks" (docs/src/sync.md)
//! walks through them with Go's code alongside.

mod condvar;
mod mutex;
mod once;
mod rwlock;
mod sema;
mod semaphore;
mod wait_group;
mod wait_node;

pub use condvar::Condvar;
pub use mutex::{Mutex, MutexGuard};
pub use once::Once;
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{Semaphore, SemaphorePermit};
pub use wait_group::WaitGroup;
