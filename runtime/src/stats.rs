//! Counters and `grt::stats()`: what the scheduler has done, for tests,
//! demos and (later) `GRT_SCHEDTRACE`.
//!
//! Counters are relaxed atomics bumped on the paths they count; a snapshot
//! is a moment's reading, not a consistent cut (as Go's `schedtrace` is).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::park::machine_for;

/// Events since the runtime started.
#[derive(Debug, Default)]
pub struct Counters {
    /// Tasks created (the main task included).
    pub spawned: AtomicU64,
    /// Tasks that ran to the end.
    pub exited: AtomicU64,
    /// Successful steals (each moves half a victim's queue).
    pub steals: AtomicU64,
    /// Tasks moved by those steals.
    pub tasks_stolen: AtomicU64,
    /// Times a task parked (committed on g0, not counting a pre-delivered unpark).
    pub parks: AtomicU64,
    /// Times a task yielded.
    pub yields: AtomicU64,
}

/// A snapshot of the runtime (see [`stats`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Number of Ps (`GRT_MAXPROCS`).
    pub procs: usize,
    /// Ps held by no M.
    pub idle_procs: usize,
    /// OS threads serving as Ms (the caller of `run` included).
    pub threads: usize,
    /// Ms asleep waiting for a P.
    pub idle_threads: usize,
    /// Ms looking for work.
    pub spinning_threads: usize,
    /// Tasks in the global run queue.
    pub global_queue: usize,
    /// Tasks in each P's local queue (`runnext` included).
    pub local_queues: Vec<usize>,
    /// Tasks spawned and not yet ended (the main task included).
    pub live_tasks: u64,
    pub spawned: u64,
    pub steals: u64,
    pub tasks_stolen: u64,
    pub parks: u64,
    pub yields: u64,
}

/// A snapshot of the current runtime's scheduler. Panics outside a task.
pub fn stats() -> Stats {
    let sched = &machine_for("grt::stats").sched;
    let (idle_threads, global_queue) = {
        let locked = sched.locked.lock();
        (locked.idle_ms.len(), locked.global.len())
    };
    let c = &sched.counters;
    let spawned = c.spawned.load(Ordering::Relaxed);
    Stats {
        procs: sched.procs.len(),
        idle_procs: sched.npidle.load(Ordering::Relaxed),
        threads: sched.threads.lock().len() + 1,
        idle_threads,
        spinning_threads: sched.nmspinning.load(Ordering::Relaxed),
        global_queue,
        local_queues: sched.procs.iter().map(|p| p.runq.len()).collect(),
        live_tasks: spawned - c.exited.load(Ordering::Relaxed),
        spawned,
        steals: c.steals.load(Ordering::Relaxed),
        tasks_stolen: c.tasks_stolen.load(Ordering::Relaxed),
        parks: c.parks.load(Ordering::Relaxed),
        yields: c.yields.load(Ordering::Relaxed),
    }
}

/// Go's `schedtrace` line, without the `SCHED <t>ms: ` prefix.
impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gomaxprocs={} idleprocs={} threads={} spinningthreads={} idlethreads={} runqueue={} [",
            self.procs,
            self.idle_procs,
            self.threads,
            self.spinning_threads,
            self.idle_threads,
            self.global_queue
        )?;
        for (i, len) in self.local_queues.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{len}")?;
        }
        f.write_str("]")
    }
}
