//! Wiring a task to its OS thread: Go's `runtime.LockOSThread`.
//!
//! Some code cares which thread it runs on: thread-local state of a C
//! library, a GUI toolkit's main thread, `setns`, per-thread signal masks.
//! A task normally hops between Ms whenever it parks, so such code locks
//! the task to its current M. Until it unlocks, the task runs only on that
//! M, and that M runs nothing else: when the task parks, the M hands its P
//! to another M and sleeps (`stop_locked_m` in schedule.rs); whichever M
//! later finds the task runnable hands it, with that M's own P, back to the
//! locked M (`start_locked_m`). Locking is cheap, but every park of a locked
//! task costs two thread hand-offs, as in Go.
//!
//! Calls nest: each `lock_os_thread` needs its `unlock_os_thread`.
//!
//! One difference from Go: when a task ends still locked, Go terminates its
//! thread, since the task may have left it in a state no other goroutine
//! should inherit. grt releases the M and reuses it; undo thread state
//! before the task ends.
//!
//! grt also locks a task by itself in one case: when it parks or yields
//! while a panic unwinds through it (a `Drop` that joins another task, say).
//! std counts panics in progress per thread, so if the M ran other tasks
//! meanwhile they would see `std::thread::panicking()` return true (and a
//! `std::sync::Mutex` they unlock would be poisoned), and if the task
//! resumed on another thread the counts of both threads would go wrong. The
//! pin lasts until the task's closure has returned.

use std::sync::Arc;

use crate::park::machine_for;
use crate::task::Task;

/// Wires the running task to its current OS thread until the matching
/// [`unlock_os_thread`]. Panics outside a task.
pub fn lock_os_thread() {
    let m = machine_for("grt::lock_os_thread");
    let task = m.current_task().expect("checked by machine_for");
    // SAFETY: the running task is owned by this M; `locked_to` is ours.
    let locked_to = unsafe { &mut *task.locked_to.get() };
    match locked_to {
        Some((_, depth)) => *depth += 1,
        None => {
            *locked_to = Some((Arc::clone(&m.shared), 1));
            m.shared.locked.set(true);
        }
    }
}

/// Keeps a task that parks mid-panic on its thread (see the module
/// comment). Called by the running task before it parks or yields.
pub(crate) fn pin_if_unwinding(task: &Task) {
    if std::thread::panicking() && !task.pinned_for_unwind.get() {
        task.pinned_for_unwind.set(true);
        lock_os_thread();
    }
}

/// Ends the pin of [`pin_if_unwinding`] once the task's closure (and the
/// unwinding through it) is over.
pub(crate) fn unpin_after_unwinding(task: &Task) {
    if task.pinned_for_unwind.replace(false) {
        unlock_os_thread();
    }
}

/// Undoes one [`lock_os_thread`]; the last one lets the task move between
/// threads again. Does nothing if the task is not locked.
pub fn unlock_os_thread() {
    let m = machine_for("grt::unlock_os_thread");
    let task = m.current_task().expect("checked by machine_for");
    // SAFETY: as in lock_os_thread.
    let locked_to = unsafe { &mut *task.locked_to.get() };
    if let Some((_, depth)) = locked_to {
        *depth -= 1;
        if *depth == 0 {
            *locked_to = None;
            m.shared.locked.set(false);
        }
    }
}
