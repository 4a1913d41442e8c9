//! Blocking calls: `grt::blocking(f)`, Go's `entersyscall`/`exitsyscall`.
//!
//! Some calls block the OS thread and nothing can be done about it: a
//! `read` of a file, `getaddrinfo`, a C library that sleeps. A task making
//! one holds its M, and without help its P too, so every task queued on that
//! P would wait. Go's answer, and ours: around the call, the M lets go of
//! its P without giving it away (the P's status becomes `SYSCALL`,
//! processor.rs). Most calls are short, and the M takes its P back with one
//! compare-and-swap on return, as if nothing happened. If the call is still
//! running when sysmon next looks (20 µs to 10 ms later) and there is other
//! work, sysmon takes the P with the same compare-and-swap and hands it to
//! another M (sysmon.rs `retake`, schedule.rs `hand_off_p`), starting a
//! thread if no M is idle. On return the task then looks for an idle P;
//! if there is none it goes to the global queue and its M goes to sleep
//! (Go's `exitsyscall0`).
//!
//! Inside `f` the task runs as if on a plain thread: its M holds no P, so
//! grt calls made there behave as they do outside the runtime (a channel
//! send blocks the thread; a spawn panics), and cannot park the task on
//! a P it no longer holds.

use std::sync::atomic::Ordering;

use crate::lock;
use crate::machine::{self, Machine, Pending};
use crate::park;
use crate::task::TaskState;

/// Runs `f`, which may block its thread for long, without stalling the
/// other tasks of this task's P (Go's `entersyscall`/`exitsyscall`). On a
/// plain thread it just runs `f`.
///
/// ```
/// let data = grt::run(|| grt::blocking(|| std::fs::read("Cargo.toml")));
/// assert!(data.is_ok());
/// ```
pub fn blocking<F, R>(f: F) -> R
where
    F: FnOnce() -> R,
{
    let Some(m) = machine::current().filter(|m| m.current_task().is_some()) else {
        return f();
    };
    let p = enter_blocking(m);
    // Leaves the call however `f` ends: a panic unwinding through here
    // must find the task back in the scheduler's hands.
    struct Exit<'a>(&'a Machine, usize);
    impl Drop for Exit<'_> {
        fn drop(&mut self) {
            exit_blocking(self.0, self.1);
        }
    }
    let _exit = Exit(m, p);
    f()
}

/// Go's `entersyscall`: the M lets go of its P (keeping its number) and
/// marks it up for grabs. Returns the P's number.
fn enter_blocking(m: &Machine) -> usize {
    let p = m.p_id().expect("a running task's M holds a P");
    m.current_task()
        .expect("checked by the caller")
        .set_state(TaskState::Syscall);
    if let Some(timeline) = &m.sched.timeline {
        timeline.blocking(m, true);
    }
    m.set_p(None);
    m.blocking.set(true);
    m.shared.in_blocking.store(true, Ordering::SeqCst);
    m.sched.procs[p].begin_syscall();
    p
}

/// Go's `exitsyscall`: back from the call, the task needs a P. Its own if
/// sysmon left it alone; else any idle one; else it queues globally and
/// its M sleeps (on g0, in schedule.rs `execute`).
fn exit_blocking(m: &Machine, p: usize) {
    m.blocking.set(false);
    m.shared.in_blocking.store(false, Ordering::SeqCst);
    if let Some(timeline) = &m.sched.timeline {
        timeline.blocking(m, false);
    }
    let task = m.current_task().expect("the task is still current");
    let sched = &m.sched;
    // Read after clearing `in_blocking` (both SeqCst): if `run` saw us in
    // the call and did not wait for this thread, we see the runtime ended,
    // and touch no P and run no more task code (schedule.rs `execute`).
    if sched.shutdown.load(Ordering::SeqCst) {
        lock::pin_if_unwinding(task);
        park::switch_to_g0(m, Pending::ExitBlocking);
        return;
    }
    if sched.procs[p].claim_from_syscall() {
        m.set_p(Some(p));
        task.set_state(TaskState::Running);
        return;
    }
    if sched.npidle.load(Ordering::SeqCst) > 0 {
        let idle = sched.idle_p_get(&mut sched.locked.lock());
        if let Some(idle) = idle {
            m.set_p(Some(idle));
            sched.procs[idle].begin_time_slice();
            task.set_state(TaskState::Running);
            return;
        }
    }
    lock::pin_if_unwinding(task);
    park::switch_to_g0(m, Pending::ExitBlocking);
}
