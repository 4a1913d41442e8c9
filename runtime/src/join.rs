//! `JoinHandle`: waiting for a task's result.
//!
//! Go has no join (a goroutine's result travels through a channel or a
//! `WaitGroup`); Rust programmers expect `std::thread::JoinHandle`, so a
//! task's closure writes its result into a shared slot and wakes whoever
//! waits there. A panic is caught at the task's entry (it must never unwind
//! across the context switch, where there are no frames to unwind into) and
//! arrives here as `Err`, exactly like `std::thread::JoinHandle::join`.

use std::any::Any;
use std::cell::UnsafeCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;

use parking_lot::Mutex;

use crate::park::{TaskHandle, Waiter};
use crate::task::{TaskMain, WaitReason};

/// A task's closure and the slot its result goes to, in one allocation:
/// the task sees it as `TaskMain` (something to run), the `JoinHandle` as
/// `Outcome<T>` (something to wait for), so neither side names `F`.
pub(crate) struct Packet<F, T> {
    /// The closure, until the task runs it.
    f: UnsafeCell<Option<F>>,
    /// The outcome and its waiter.
    slot: Mutex<Slot<T>>,
}

struct Slot<T> {
    /// The outcome, once the task has ended.
    result: Option<thread::Result<T>>,
    /// Whoever is blocked in `join`, to wake when `result` arrives.
    waiter: Option<Waiter>,
}

// SAFETY: `f` is taken exactly once, by the task that runs (or abandons)
// the packet, and never touched by the JoinHandle side; `slot` is a mutex.
unsafe impl<F: Send, T: Send> Sync for Packet<F, T> {}

impl<F, T> Packet<F, T> {
    pub fn new(f: F) -> Packet<F, T> {
        Packet {
            f: UnsafeCell::new(Some(f)),
            slot: Mutex::new(Slot {
                result: None,
                waiter: None,
            }),
        }
    }

    /// Stores the outcome and wakes the joiner, if one waits.
    fn complete(&self, result: thread::Result<T>) {
        let waiter = {
            let mut slot = self.slot.lock();
            slot.result = Some(result);
            slot.waiter.take()
        };
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }

    /// The closure, taken out for running.
    fn take_f(&self) -> Option<F> {
        // SAFETY: only the task that owns this packet calls run/abandon,
        // once (the struct's Sync argument).
        unsafe { (*self.f.get()).take() }
    }
}

impl<F, T> TaskMain for Packet<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn run(&self) {
        if let Some(f) = self.take_f() {
            self.complete(panic::catch_unwind(AssertUnwindSafe(f)));
        }
    }

    fn abandon(&self, why: std::io::Error) {
        // This runs on g0: the closure's captures must not unwind into the
        // scheduler if one of their destructors panics.
        let f = self.take_f();
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(f)));
        let message = why.to_string();
        eprintln!("{message}");
        self.complete(Err(Box::new(message) as Box<dyn Any + Send>));
    }
}

/// The joiner's view of a packet.
pub(crate) trait Outcome<T>: Send + Sync {
    /// Whether the task has ended.
    fn is_complete(&self) -> bool;
    /// Blocks the caller (task or thread) until the outcome is there.
    fn wait(&self) -> thread::Result<T>;
}

impl<F: Send, T: Send> Outcome<T> for Packet<F, T> {
    fn is_complete(&self) -> bool {
        self.slot.lock().result.is_some()
    }

    fn wait(&self) -> thread::Result<T> {
        loop {
            {
                let mut slot = self.slot.lock();
                if let Some(result) = slot.result.take() {
                    return result;
                }
                slot.waiter = Some(Waiter::current());
            }
            Waiter::park_current(WaitReason::Join);
        }
    }
}

/// An owned permission to wait for a task's result (like
/// `std::thread::JoinHandle`). Dropping it detaches the task.
pub struct JoinHandle<T> {
    packet: Arc<dyn Outcome<T>>,
    task: TaskHandle,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(packet: Arc<dyn Outcome<T>>, task: TaskHandle) -> JoinHandle<T> {
        JoinHandle { packet, task }
    }

    /// Waits for the task to finish: parks the calling task, or blocks the
    /// calling thread if it is not a task. `Err` carries the task's panic.
    pub fn join(self) -> thread::Result<T> {
        self.packet.wait()
    }

    /// The task this handle joins.
    pub fn task(&self) -> &TaskHandle {
        &self.task
    }

    /// Whether the task has ended (so `join` will not block).
    pub fn is_finished(&self) -> bool {
        self.packet.is_complete()
    }
}
