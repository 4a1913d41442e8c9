//! Creating tasks: `grt::go` and `grt::Builder` (Go's `newproc`).
//!
//! A new task is a heap object and a closure, nothing more: it gets a stack
//! only when an M first runs it (schedule.rs), so a burst of spawns costs no
//! mappings. It goes into the spawning P's `runnext`, displacing the
//! previous occupant to the queue's tail, as `newproc` does: the newest task
//! runs next, while its data is still in cache, and a spawn loop's tasks
//! still run in spawn order behind it. Then `wake_p` lets an idle P steal
//! some.
//!
//! Spawning still checks memory up front, as far as laziness allows: a
//! default-size task needs at least one stack to be in the P's cache (or
//! obtainable now), so a runtime that cannot get any stack at all reports
//! the limit to the caller of `spawn`, who can act on it. A task of another
//! size gets its own reservation at once. What the check cannot see is a
//! burst of spawns that outruns the limit before the tasks start: a task
//! that finds no stack when it first runs ends without running, and its
//! `JoinHandle::join` returns `Err` with the same message (also printed to
//! stderr).

use std::io;
use std::sync::Arc;

use crate::join::{JoinHandle, Packet};
use crate::park::{machine_for, TaskHandle};
use crate::schedule;
use crate::stack::{page_size, Stack};
use crate::stats::bump;
use crate::task::Task;

/// Task configuration, like `std::thread::Builder`.
#[derive(Debug, Default)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the task (shown in panics, overflow reports, traces, debuggers).
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Usable stack bytes for this task, instead of the runtime's default
    /// (`GRT_STACK_SIZE`, 256 KiB). Rounded up to whole pages.
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Spawns a task running `f` on the current runtime.
    ///
    /// Fails with `ErrorKind::OutOfMemory` if no stack can be reserved; the
    /// message names the limit (usually `vm.max_map_count`) and how to raise
    /// it. (A task that passes this check but finds no stack when it starts
    /// reports the same error through `join`; see the module comment.)
    /// Panics if called outside a grt task.
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        crate::preempt::checkpoint();
        let m = machine_for("grt::go / grt::Builder::spawn");
        let sched = &m.sched;
        let p = m.p();
        let stack_size = self.stack_size.map_or(sched.default_stack_size, |s| {
            s.next_multiple_of(page_size())
        });
        let stack = if stack_size == sched.default_stack_size {
            // SAFETY: the running task's M holds p.
            unsafe { p.reserve_stack(sched)? };
            None
        } else {
            Some(Stack::new(stack_size)?)
        };
        let packet = Arc::new(Packet::new(f));
        let task = Arc::new(Task::new(
            Arc::clone(sched),
            self.name,
            stack,
            packet.clone(),
        ));
        bump(&p.counters.spawned, 1);
        p.all_tasks.register(&task);
        let handle = TaskHandle(Arc::clone(&task));
        schedule::put_runnable(sched, p, task, true);
        schedule::wake_p(sched);
        Ok(JoinHandle::new(packet, handle))
    }
}

/// Starts `f` as a new task (Go's `go` statement) and returns its handle.
///
/// Panics if called outside a grt task, or if no stack can be reserved
/// (with the message of [`Builder::spawn`]'s error).
pub fn go<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match Builder::new().spawn(f) {
        Ok(handle) => handle,
        Err(err) => panic!("{err}"),
    }
}
