//! Parking and readying tasks: Go's `gopark`/`goready`, and the task side of
//! `mcall` (switching to g0).
//!
//! # The park token
//! Each task carries one bit of "you have been woken" ([`crate::task`]'s
//! TOKEN_*), with the contract of `std::thread::park`: `unpark` before
//! `park` makes that `park` return at once, and `park` may return
//! spuriously, so callers loop on their own condition. Every blocking
//! primitive in grt (join, and later channels, locks, sockets) is "register
//! myself as a waiter, release my lock, park, re-check".
//!
//! # Why the park is committed on g0
//! A task cannot mark itself parked while it still runs on its stack: an
//! unpark on another M would ready it, and a second M would resume a stack
//! that the first is still using. So the task only asks to park
//! (`Pending::Park`) and switches to g0; g0, once the task's registers are
//! saved, moves the token from EMPTY to PARKED. An unpark always swaps in
//! NOTIFIED; if it replaced PARKED it readies the task (which clears the
//! token as it resumes), and otherwise g0's CAS (or the task's next
//! `park`) finds NOTIFIED and the task goes on at once. That is Go's
//! `park_m` calling `unlockf` on g0, and the same argument about who may
//! touch the task when.

use std::fmt;
use std::sync::atomic::Ordering;
use std::thread;

use crate::arch;
use crate::lock;
use crate::machine::{self, Machine, Pending};
use crate::schedule;
use crate::task::{
    TaskId, TaskRef, TaskState, WaitReason, TOKEN_EMPTY, TOKEN_NOTIFIED, TOKEN_PARKED,
};

/// The M of the running task, or a clear panic naming the function that
/// needs one.
pub(crate) fn machine_for(what: &str) -> &'static Machine {
    match machine::current() {
        Some(m) if m.current_task().is_some() => m,
        _ => panic!("{what} must be called from a grt task; start a runtime with grt::run"),
    }
}

/// Switches from the running task to its M's g0 with a request, and
/// returns when some M resumes the task (Go's `mcall`).
pub(crate) fn switch_to_g0(m: &Machine, pending: Pending) {
    m.pending.set(pending);
    let task = m.current_task().expect("switch_to_g0 outside a task");
    let from = task.context.get();
    // SAFETY: we are the running task on this M, so its context is ours to
    // save into, and g0's context was saved when g0 switched to us. After
    // this call returns `m` may be another thread's M: it is not used again.
    unsafe { arch::switch(from, m.g0.get()) };
}

/// Where every task starts (called by the arch trampoline on the new stack):
/// runs the task's closure, then asks g0 to bury it. Never returns.
pub(crate) unsafe extern "C" fn task_entry(_arg: usize) -> ! {
    let main = {
        let m = machine::current().expect("task started outside an M");
        let task = m.current_task().expect("task entry without a task");
        // SAFETY: only the task itself touches `main` once it runs.
        unsafe { (*task.main.get()).take() }
    };
    if let Some(main) = main {
        main.run();
    }
    let m = machine::current().expect("task ended outside an M");
    lock::unpin_after_unwinding(m.current_task().expect("task entry without a task"));
    switch_to_g0(m, Pending::Exit);
    unreachable!("a dead task was resumed");
}

/// Gives up the processor: the task goes to the back of its P's queue and
/// every other runnable task gets a turn first (Go's `runtime.Gosched`).
pub fn yield_now() {
    let m = machine_for("grt::yield_now");
    lock::pin_if_unwinding(m.current_task().expect("checked by machine_for"));
    switch_to_g0(m, Pending::Yield);
}

/// Blocks the running task until its [`TaskHandle::unpark`] is called, or
/// returns at once if an unpark came first. May return spuriously: loop on
/// your condition, as with `std::thread::park`.
pub fn park() {
    park_current(WaitReason::Park);
}

/// [`park`] with a wait reason that says what the task waits for.
pub(crate) fn park_current(reason: WaitReason) {
    let m = machine_for("grt::park");
    let task = m.current_task().expect("checked by machine_for");
    if task
        .token
        .compare_exchange(
            TOKEN_NOTIFIED,
            TOKEN_EMPTY,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_ok()
    {
        return;
    }
    lock::pin_if_unwinding(task);
    switch_to_g0(m, Pending::Park(reason));
    // Back, with NOTIFIED left by whoever readied us, or by the unpark
    // that made g0's commit fail (schedule.rs `execute`), or by a later
    // unparker. Consumed here, as std's `park` does on waking: kept, it
    // would make our next `park` return at once for nothing, and every
    // wait after a wake-up would cost a round of re-checking (one per
    // proxied request and socket, before this). An acquire
    // read-modify-write: every unpark so far wrote the token with a
    // release read-modify-write, so the caller's re-check sees what each
    // of them published.
    let task = machine::current()
        .and_then(Machine::current_task)
        .expect("a parked task resumes as the current task of some M");
    task.token.swap(TOKEN_EMPTY, Ordering::Acquire);
}

/// Wakes a task parked with [`park`] (Go's `goready`), or makes its next
/// `park` return at once.
///
/// Always a write, never a read that returns early on NOTIFIED: the
/// caller has just published the condition the task waits for, and only a
/// release *write* of the token carries that store to the task's next
/// acquire of it. (An early return on a NOTIFIED read is the store-buffer
/// race: the task consumes the old NOTIFIED, re-reads its condition
/// without our store, and parks for good.) The task readied here consumes
/// the NOTIFIED when it resumes, before its caller re-checks: a second
/// unparker racing this one either wrote before that consumption (which
/// then acquires its write, so the re-check sees its condition) or after
/// it (and the task's next `park` returns at once).
pub(crate) fn unpark_task(task: &TaskRef) {
    if task.token.swap(TOKEN_NOTIFIED, Ordering::AcqRel) == TOKEN_PARKED {
        schedule::ready(TaskRef::clone(task));
    }
}

/// A handle to a task: its identity, and the right to unpark it. Like
/// `std::thread::Thread`.
#[derive(Clone)]
pub struct TaskHandle(pub(crate) TaskRef);

impl TaskHandle {
    pub fn id(&self) -> TaskId {
        self.0.id
    }

    pub fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    /// Where the task is in its life, at this moment.
    pub fn state(&self) -> TaskState {
        self.0.state()
    }

    /// What the task waits for, if it is parked.
    pub fn wait_reason(&self) -> WaitReason {
        self.0.wait_reason()
    }

    /// Wakes the task if it is parked in [`park`]; otherwise its next `park`
    /// returns at once. Callable from any thread, in or out of the runtime.
    pub fn unpark(&self) {
        unpark_task(&self.0);
    }
}

impl fmt::Debug for TaskHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("id", &self.0.id)
            .field("name", &self.0.name)
            .field("state", &self.0.state())
            .finish()
    }
}

/// The running task (like `std::thread::current`). Panics outside a task.
pub fn current() -> TaskHandle {
    let m = machine_for("grt::current");
    TaskHandle(TaskRef::clone(
        m.current_task().expect("checked by machine_for"),
    ))
}

/// Whoever is waiting for something: a task (parks the task, its M goes on)
/// or a plain thread (blocks the thread). Lets blocking primitives serve
/// both, so tasks can talk to code outside the runtime.
pub(crate) enum Waiter {
    Task(TaskRef),
    Thread(thread::Thread),
}

impl Waiter {
    /// The caller, as a waiter.
    pub fn current() -> Waiter {
        match machine::current().and_then(Machine::current_task) {
            Some(task) => Waiter::Task(TaskRef::clone(task)),
            None => Waiter::Thread(thread::current()),
        }
    }

    /// Blocks the caller until woken (or spuriously).
    pub fn park_current(reason: WaitReason) {
        match machine::current().and_then(Machine::current_task) {
            Some(_) => park_current(reason),
            None => thread::park(),
        }
    }

    /// Wakes the waiter.
    pub fn wake(self) {
        self.wake_ref();
    }

    /// Wakes the waiter, keeping the handle.
    pub fn wake_ref(&self) {
        match self {
            Waiter::Task(task) => unpark_task(task),
            Waiter::Thread(thread) => thread.unpark(),
        }
    }
}
