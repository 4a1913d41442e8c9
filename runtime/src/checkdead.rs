//! Deadlock detection: Go's `checkdead` (proc.go).
//!
//! When the last M goes to sleep with nothing runnable, no timer pending
//! and no task in a system call, no task can ever run again: Go stops the
//! program with "all goroutines are asleep - deadlock!" instead of hanging.
//! We do the same, with one more condition that Go gets for free. Go knows
//! every thread that could ready a goroutine; a Rust program can have
//! threads of its own (or another runtime's) holding a `TaskHandle` or a
//! channel end, ready to wake a task at any time. So we declare deadlock only
//! when the process has no thread besides this runtime's Ms and its own
//! helpers (`Sched::system_threads`: sysmon, the thread waiting in `run`,
//! the schedtrace monitor; none of them readies tasks on its own, except
//! sysmon's net poll, which keeps the woken tasks counted as net waiters
//! until they are queued): then nobody is left who could. A program with other threads
//! never gets a false alarm; it only loses the diagnosis (Go makes the same
//! trade with cgo, where foreign threads may call in).
//!
//! The report lists every blocked task with its wait reason, as Go lists
//! its goroutines, and the process exits with status 2, as Go's does.

use std::io::Write;
use std::sync::atomic::Ordering;

use crate::all_tasks;
use crate::sched::{Locked, Sched};
use crate::task::TaskState;

/// Called by an M about to sleep, holding `sched.lock`, after it has put
/// its P back and itself on the idle list. Never returns if the runtime is
/// deadlocked.
pub fn check_dead(sched: &Sched, locked: &Locked) {
    let ms = sched.threads.lock().len();
    let all_asleep = locked.idle_ms.len() + locked.locked_ms.len() == ms
        && sched.npidle.load(Ordering::SeqCst) == sched.procs.len()
        && locked.global.is_empty()
        && sched.procs.iter().all(|p| p.runq.is_empty())
        && sched.next_timer().is_none();
    let own = ms + sched.system_threads.load(Ordering::SeqCst);
    if !all_asleep || process_threads() != Some(own) {
        return;
    }
    let mut report = String::from("grt: all tasks are asleep - deadlock!\n\n");
    for task in all_tasks::live_tasks(sched)
        .iter()
        .filter(|t| t.state() == TaskState::Waiting)
    {
        report.push_str(&format!(
            "task {} '{}' [{}]\n",
            task.id,
            task.display_name(),
            task.wait_reason().as_str()
        ));
    }
    let _ = std::io::stderr().write_all(report.as_bytes());
    std::process::exit(2);
}

/// Threads in this process, from /proc (Linux).
fn process_threads() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Threads:"))?;
    line["Threads:".len()..].trim().parse().ok()
}
