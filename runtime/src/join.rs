//! `JoinHandle`: waiting for a task's result.
//!
//! Go has no join (a goroutine's result travels through a channel or a
//! `WaitGroup`); Rust programmers expect `std::thread::JoinHandle`, so a
//! task's closure writes its result into a shared slot and wakes whoever
//! waits there. A panic is caught at the task's entry (it must never unwind
//! across the context switch, where there are no frames to unwind into) and
//! arrives here as `Err`, exactly like `std::thread::JoinHandle::join`.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;

use parking_lot::Mutex;

use crate::park::{TaskHandle, Waiter};
use crate::task::{TaskMain, WaitReason};

/// Where a task's result waits for its joiner.
pub(crate) struct Packet<T> {
    slot: Mutex<Slot<T>>,
}

struct Slot<T> {
    /// The outcome, once the task has ended.
    result: Option<thread::Result<T>>,
    /// Whoever is blocked in `join`, to wake when `result` arrives.
    waiter: Option<Waiter>,
}

impl<T> Packet<T> {
    pub fn new() -> Packet<T> {
        Packet {
            slot: Mutex::new(Slot {
                result: None,
                waiter: None,
            }),
        }
    }

    /// Stores the outcome and wakes the joiner, if one waits.
    pub fn complete(&self, result: thread::Result<T>) {
        let waiter = {
            let mut slot = self.slot.lock();
            slot.result = Some(result);
            slot.waiter.take()
        };
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }

    /// The outcome if the task has ended (taking it out).
    pub fn try_take(&self) -> Option<thread::Result<T>> {
        self.slot.lock().result.take()
    }

    fn is_complete(&self) -> bool {
        self.slot.lock().result.is_some()
    }

    /// Blocks the caller (task or thread) until the outcome is there.
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

/// A spawned task's closure and the packet its result goes to.
pub(crate) struct Spawned<F, T> {
    pub f: F,
    pub packet: Arc<Packet<T>>,
}

impl<F, T> TaskMain for Spawned<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn run(self: Box<Self>) {
        let Spawned { f, packet } = *self;
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        packet.complete(result);
    }

    fn abandon(self: Box<Self>, why: std::io::Error) {
        let message = why.to_string();
        eprintln!("{message}");
        self.packet
            .complete(Err(Box::new(message) as Box<dyn Any + Send>));
    }
}

/// An owned permission to wait for a task's result (like
/// `std::thread::JoinHandle`). Dropping it detaches the task.
pub struct JoinHandle<T> {
    packet: Arc<Packet<T>>,
    task: TaskHandle,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(packet: Arc<Packet<T>>, task: TaskHandle) -> JoinHandle<T> {
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
