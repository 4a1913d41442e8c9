//! # grt: a Go-style M:N green-thread runtime
//!
//! grt runs many lightweight *tasks* on a few OS threads, the way Go runs
//! goroutines. Each task has its own stack, so it is written as ordinary
//! blocking code — `read`, `join`, `lock` — and when it has to wait, the
//! runtime switches its thread to another task instead of blocking it.
//!
//! ## G, M, P
//! The three nouns of Go's scheduler (runtime/proc.go), and of this crate:
//! - **G** — a task (`task.rs`): a closure, a stack (`stack.rs`) and the
//!   registers saved when it is not running (`arch.rs`).
//! - **M** — a machine, i.e. an OS thread (`machine.rs`). Each M runs the
//!   scheduler loop on its own thread stack (its *g0*) and switches into
//!   tasks from there.
//! - **P** — a processor (`processor.rs`): the right to run task code, with a
//!   local run queue (`run_queue.rs`). There are `GRT_MAXPROCS` Ps; an M must
//!   hold one to run a task.
//!
//! Why three and not two? Ms cannot simply own run queues: an M that blocks
//! in a system call would strand its queue. Tying queues to Ps, of which
//! there are exactly as many as cores we want to use, lets a blocked M hand
//! its P and queue to another M while keeping the number of threads running
//! task code constant.
//!
//! ## The life of a task
//! 1. [`go`] creates a G and puts it in the current P's `runnext` slot
//!    (`spawn.rs`; Go's `newproc`), then wakes an idle P if there is one
//!    (`schedule.rs` `wake_p`; Go's `wakep`).
//! 2. An M in `schedule.rs` `schedule` (Go's `schedule`) finds it: its own
//!    queue first, then the global queue, then by stealing half of another
//!    P's queue (`findRunnable`, `runqsteal`).
//! 3. The M gives it a stack from the P's cache and switches to it (Go's
//!    `execute`, `gogo`).
//! 4. The task runs until it blocks: it records why and switches back to
//!    g0 (`park.rs`; Go's `gopark` via `mcall`). g0 marks it waiting.
//! 5. Whoever it waits for readies it ([`TaskHandle::unpark`]; Go's
//!    `goready`): back into a run queue, usually `runnext`.
//! 6. When its closure returns, g0 takes its stack back into the cache and
//!    the result goes to its [`JoinHandle`] (`join.rs`; Go's `goexit`).
//!
//! The book in `docs/` walks through each step with the code.
//!
//! ## What tasks use to wait
//! Everything that blocks parks the task and frees its M, and works from
//! plain threads too (blocking the thread): [`chan`] (Go's channels, with
//! [`select!`]), [`time`] (sleep, after, tick, Timer, run by the
//! scheduler from per-P heaps), [`sync`] (Mutex with Go's starvation mode,
//! RwLock, Condvar, WaitGroup, Once, Semaphore), [`net`] (TCP, UDP and
//! Unix sockets with std's API, parked on the epoll net poller:
//! `netpoll.rs` and the `grt-netpoll` crate, Go's `netpoll`), [`signal`]
//! (signals as channel values, Go's `signal.Notify`), and
//! [`JoinHandle::join`]. When every task is blocked for good, the runtime
//! says so and exits instead of hanging (`checkdead.rs`, Go's `checkdead`).
//!
//! ## The watchdog
//! Each runtime has one thread that runs no tasks: sysmon (`sysmon.rs`,
//! Go's `sysmon`). It takes the P away from an M stuck in a
//! [`blocking`] call (Go's `retake` after `entersyscall`), asks a task that
//! has held its P for 10 ms to yield at its next runtime entry or
//! [`checkpoint`] (`preempt.rs`), and polls the network when every M is
//! too busy to.
//!
//! ## What tasks should know
//! - A task may continue on another OS thread after any park, yield or join.
//!   Thread-locals it reads can change under it; code that needs one
//!   thread (C libraries with thread state, `setns`) calls
//!   [`lock_os_thread`] first.
//! - Scheduling is cooperative: a task that computes without parking,
//!   yielding or calling into the runtime keeps its P. Long loops should
//!   call [`checkpoint`], which yields once sysmon says the slice is up
//!   (why grt cannot preempt by signal as Go does: `preempt.rs`).
//! - A call that blocks the OS thread (`std::fs`, `std::thread::sleep`, a
//!   C library) belongs in [`blocking`], which lets another M run the P's
//!   other tasks meanwhile. Sockets should be [`net`]'s, which park.
//! - Stacks do not grow past their reservation (256 KiB by default,
//!   `GRT_STACK_SIZE` or [`Builder::stack_size`] to change it); running off
//!   the end aborts the process with a report naming the task.

// gdb's `info tasks`, `task N bt` and `info procs`, carried in the
// `.debug_gdb_scripts` section of every binary that links grt; debug.rs
// says what they read, the book's "Watching the scheduler" how to use them.
#![debugger_visualizer(gdb_script_file = "../gdb/grt.py")]

mod all_tasks;
mod arch;
mod blocking;
pub mod chan;
mod checkdead;
mod debug;
mod join;
mod lock;
mod machine;
pub mod net;
mod netpoll;
mod overflow;
mod park;
mod preempt;
mod processor;
mod run_queue;
mod runtime;
mod sched;
mod schedule;
pub mod signal;
mod spawn;
mod stack;
mod stack_pool;
mod stats;
pub mod sync;
mod sysmon;
mod task;
pub mod time;
mod trace;

pub use blocking::blocking;
pub use join::JoinHandle;
pub use lock::{lock_os_thread, unlock_os_thread};
pub use park::{current, park, yield_now, TaskHandle};
pub use preempt::checkpoint;
pub use runtime::{run, RuntimeBuilder};
pub use spawn::{go, Builder};
pub use stats::{stats, Stats};
pub use task::{TaskId, TaskState, WaitReason};
