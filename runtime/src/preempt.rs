//! Cooperative preemption: `grt::checkpoint()` and the checks at runtime
//! entries.
//!
//! A task keeps its P until it parks or yields, so one that computes for a
//! second starves every task queued behind it. Go stops such a goroutine
//! wherever it is: since 1.14 sysmon sends its thread a signal (`SIGURG`)
//! and the handler rewrites the interrupted context to call the scheduler
//! (asynchronous preemption), relying on the Go compiler to tell it, for
//! every instruction, which registers hold pointers and whether stopping
//! there is safe. Rust gives us none of that: a signal can land while the
//! task holds a `std::sync::Mutex`, is inside `malloc`, or has a reference
//! into a `RefCell` — switching away there and running another task on the
//! same thread can deadlock or break thread-local invariants that code
//! relies on. So grt preempts cooperatively, as Go did before 1.14: sysmon
//! flags a P whose time slice passed 10 ms (`Processor::preempt`), and the
//! task yields at its next runtime entry — a channel operation, a socket
//! operation, a spawn, a lock, a `yield_now` — or at a `checkpoint()` a
//! long computation calls in its loop. A loop with none of these keeps its
//! P for as long as it runs; other Ps still run the rest.

use crate::lock;
use crate::machine::{self, Pending};
use crate::park;

/// Yields if the running task has used up its time slice (sysmon says so);
/// otherwise returns at once. Costs a few loads: call it in long loops
/// that never park, so they cannot starve the tasks queued behind them.
/// Does nothing outside a task.
#[inline]
pub fn checkpoint() {
    if machine::preempt_requested() {
        preempted();
    }
}

/// The flag was up: give the P to the next task, going to the back of the
/// global queue (schedule.rs `execute`).
#[cold]
fn preempted() {
    let m = machine::current().expect("checked by checkpoint");
    // Code on g0 (a timer's action) has nothing to preempt.
    let Some(task) = m.current_task() else {
        return;
    };
    lock::pin_if_unwinding(task);
    park::switch_to_g0(m, Pending::Preempted);
}
