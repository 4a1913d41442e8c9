//! Counters and `grt::stats()`: what the scheduler has done, for tests,
//! demos and `GRT_SCHEDTRACE` (trace/schedtrace.rs), which print the same
//! snapshot.
//!
//! Counters live in each P and only the M holding that P bumps them, so a
//! bump is a plain load and store, not an atomic read-modify-write (a
//! `lock xadd` on the yield path costs about as much as the rest of a
//! yield). They are atomics only so that `stats()` may read them from any
//! thread; a snapshot is a moment's reading, not a consistent cut (as Go's
//! `schedtrace` is).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::park::machine_for;
use crate::sched::Sched;
use crate::task::TaskState;

/// Events on one P since the runtime started.
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
    /// Times a task yielded because sysmon flagged its slice as used up.
    pub preempted: AtomicU64,
    /// Times sysmon took this P from an M in a blocking call.
    pub retaken: AtomicU64,
}

/// Adds `n` to a counter of the P the caller's M holds (see the module
/// comment for why this is not `fetch_add`).
pub fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

/// A snapshot of the runtime (see [`stats`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Number of Ps (`GRT_MAXPROCS`).
    pub procs: usize,
    /// Ps held by no M.
    pub idle_procs: usize,
    /// OS threads serving as Ms.
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
    /// Live tasks by state, counted one by one from the task lists (so a
    /// snapshot of a runtime with a million tasks takes a while).
    pub runnable_tasks: usize,
    pub running_tasks: usize,
    pub waiting_tasks: usize,
    pub syscall_tasks: usize,
    pub spawned: u64,
    pub steals: u64,
    pub tasks_stolen: u64,
    pub parks: u64,
    pub yields: u64,
    pub preempted: u64,
    pub retaken: u64,
    /// Tasks parked waiting for a socket.
    pub net_waiters: usize,
    /// Net polls (`epoll_wait` calls) made, and tasks they readied.
    pub net_polls: u64,
    pub net_polled_ready: u64,
    /// Spare stacks in the runtime's shared pool, and how many of them
    /// have given their deep pages back to the OS (stack_pool.rs).
    pub pooled_stacks: usize,
    pub trimmed_stacks: usize,
}

/// A snapshot of the current runtime's scheduler. Panics outside a task.
pub fn stats() -> Stats {
    Stats::of(&machine_for("grt::stats").sched)
}

impl Stats {
    /// A snapshot of `sched`, from any thread: `grt::stats()` takes it
    /// from a task, the schedtrace monitor from its own thread.
    pub(crate) fn of(sched: &Sched) -> Stats {
        let (idle_threads, global_queue) = {
            let locked = sched.locked.lock();
            (locked.idle_ms.len(), locked.global.len())
        };
        let sum = |field: fn(&Counters) -> &AtomicU64| -> u64 {
            sched
                .procs
                .iter()
                .map(|p| field(&p.counters).load(Ordering::Relaxed))
                .sum()
        };
        let spawned = sum(|c| &c.spawned);
        let (untrimmed, trimmed_stacks) = sched.stack_pool.counts();
        let mut states = [0usize; 5];
        for p in sched.procs.iter() {
            p.all_tasks.count_states(&mut states);
        }
        Stats {
            procs: sched.procs.len(),
            idle_procs: sched.npidle.load(Ordering::Relaxed),
            threads: sched.threads.lock().len(),
            idle_threads,
            spinning_threads: sched.nmspinning.load(Ordering::Relaxed),
            global_queue,
            local_queues: sched.procs.iter().map(|p| p.runq.len()).collect(),
            // Counters are read one after another, not atomically together.
            live_tasks: spawned.saturating_sub(sum(|c| &c.exited)),
            runnable_tasks: states[TaskState::Runnable as usize],
            running_tasks: states[TaskState::Running as usize],
            waiting_tasks: states[TaskState::Waiting as usize],
            syscall_tasks: states[TaskState::Syscall as usize],
            spawned,
            steals: sum(|c| &c.steals),
            tasks_stolen: sum(|c| &c.tasks_stolen),
            parks: sum(|c| &c.parks),
            yields: sum(|c| &c.yields),
            preempted: sum(|c| &c.preempted),
            retaken: sum(|c| &c.retaken),
            net_waiters: sched.poller.waiters(),
            net_polls: sched.net_polls.load(Ordering::Relaxed),
            net_polled_ready: sched.net_polled_ready.load(Ordering::Relaxed),
            pooled_stacks: untrimmed + trimmed_stacks,
            trimmed_stacks,
        }
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
