//! P: a processor, the right to run tasks.
//!
//! Go's `p` (runtime2.go). There are exactly `GRT_MAXPROCS` of them; an M
//! must hold one to run a task, so they bound the parallelism of task code,
//! while Ms (threads) can outnumber them when some block. Each P owns what
//! the hot paths need without locks: its run queue (proc.go's `runq`,
//! `runnext`), a scheduling tick for fairness (`schedtick`), and a cache of
//! free stacks (stack.go's `stackcache`).
//!
//! Invariant: the fields in `ProcessorLocal` are touched only by the M that
//! currently holds this P, and a P changes hands only under `sched.lock`
//! (idle list), through an M's hand-off slot, or by the one compare-and-swap
//! that ends a system call (`status`: the returning M and sysmon race for a
//! P in `SYSCALL`, and exactly one wins), all of which order memory.

use std::cell::UnsafeCell;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};

use crate::all_tasks::TaskList;
use crate::run_queue::RunQueue;
use crate::sched::Sched;
use crate::stack::Stack;
use crate::stats::Counters;
use crate::time::heap::TimerHeap;

/// Stacks a P keeps for reuse: Go's `_StackCacheSize` is 32 KiB of small
/// stacks; we count whole stacks. Half moves to or from the shared pool
/// when the cache is full or empty, so a P that spawns and a P that retires
/// tasks balance through the pool a batch at a time, not a lock per stack.
pub const STACK_CACHE_MAX: usize = 32;

/// `Processor::status` values (Go's `_Pidle`, `_Prunning`, `_Psyscall`).
pub const IDLE: u8 = 0;
/// Held by an M, which runs tasks with it.
pub const RUNNING: u8 = 1;
/// Its M is in `grt::blocking` (blocking.rs); sysmon may take it away.
pub const SYSCALL: u8 = 2;

pub struct Processor {
    /// Index in `Sched::procs`.
    pub id: usize,
    /// `IDLE`, `RUNNING` or `SYSCALL`.
    pub status: AtomicU8,
    /// Set by sysmon when the running task has had this P for a whole
    /// time slice (Go's `gp.preempt`); the task yields at its next runtime
    /// entry (preempt.rs). Cleared when a new slice begins.
    pub preempt: AtomicBool,
    /// Calls into `grt::blocking` made with this P (Go's `syscalltick`):
    /// sysmon compares it between two looks to tell one long call from
    /// many short ones. Written by the holder only.
    syscalltick: AtomicU32,
    /// Local run queue and `runnext`.
    pub runq: RunQueue,
    /// Incremented on each new time slice; every 61st looks at the global
    /// queue first so that it cannot starve (Go's `schedtick`). Only the
    /// holder writes it; atomic so that `GRT_SCHEDDETAIL` may read it.
    schedtick: AtomicU32,
    /// State only the holding M touches.
    local: UnsafeCell<ProcessorLocal>,
    /// What happened on this P, for `grt::stats()`; bumped by the holder.
    pub counters: Counters,
    /// Timers armed by tasks running on this P (Go's `pp.timers`).
    pub timers: TimerHeap,
    /// Tasks spawned on this P (this P's share of Go's `allgs`).
    pub all_tasks: TaskList,
}

pub struct ProcessorLocal {
    /// Tasks run in a row from `runnext`, each inheriting the time slice
    /// (see `RUNNEXT_CHAIN_MAX` in schedule.rs).
    pub runnext_chain: u32,
    /// Free default-size stacks.
    pub stacks: Vec<Stack>,
}

// SAFETY: `local` is only accessed by the M holding this P (module
// invariant); everything else is atomic.
unsafe impl Sync for Processor {}

impl Processor {
    pub fn new(id: usize) -> Processor {
        Processor {
            id,
            status: AtomicU8::new(RUNNING),
            preempt: AtomicBool::new(false),
            syscalltick: AtomicU32::new(0),
            runq: RunQueue::new(),
            schedtick: AtomicU32::new(0),
            local: UnsafeCell::new(ProcessorLocal {
                runnext_chain: 0,
                stacks: Vec::new(),
            }),
            counters: Counters::default(),
            timers: TimerHeap::new(),
            all_tasks: TaskList::new(),
        }
    }

    /// Time slices begun on this P, wrapping (Go's `schedtick`).
    pub fn schedtick(&self) -> u32 {
        self.schedtick.load(Ordering::Relaxed)
    }

    /// A new time slice begins. Called by the holder only, so a load and a
    /// store, not an atomic add (as `stats::bump`).
    pub fn begin_time_slice(&self) {
        self.schedtick
            .store(self.schedtick().wrapping_add(1), Ordering::Relaxed);
        self.preempt.store(false, Ordering::Relaxed);
    }

    /// Blocking calls begun with this P, wrapping (Go's `syscalltick`).
    pub fn syscalltick(&self) -> u32 {
        self.syscalltick.load(Ordering::Relaxed)
    }

    /// The holder is entering a blocking call: from here on the P is up
    /// for grabs (its M has already let go of it).
    pub fn begin_syscall(&self) {
        self.syscalltick
            .store(self.syscalltick().wrapping_add(1), Ordering::Relaxed);
        self.status.store(SYSCALL, Ordering::SeqCst);
    }

    /// Claims a P in `SYSCALL`: the M returning from the call (Go's
    /// `exitsyscallfast`) and sysmon retaking it (`retake`) both try, and
    /// exactly one succeeds.
    pub fn claim_from_syscall(&self) -> bool {
        self.status
            .compare_exchange(SYSCALL, RUNNING, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// The holder's private state.
    ///
    /// # Safety
    /// The caller's M must hold this P, and must not keep two of these
    /// references alive at once.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn local(&self) -> &mut ProcessorLocal {
        // SAFETY: exclusive access is the caller's promise.
        unsafe { &mut *self.local.get() }
    }

    /// A stack of the runtime's default size, from this P's cache, else a
    /// batch from the shared pool, else a fresh reservation.
    ///
    /// # Safety
    /// The caller's M holds this P.
    pub unsafe fn take_stack(&self, sched: &Sched) -> io::Result<Stack> {
        // SAFETY: the caller holds this P.
        let cache = unsafe { &mut self.local().stacks };
        refill(sched, cache)?;
        Ok(cache.pop().expect("refill leaves at least one stack"))
    }

    /// Makes sure the next `take_stack` will not fail, so that `spawn` can
    /// report a memory limit to its caller instead of to the task's joiner.
    ///
    /// # Safety
    /// The caller's M holds this P.
    pub unsafe fn reserve_stack(&self, sched: &Sched) -> io::Result<()> {
        // SAFETY: the caller holds this P.
        refill(sched, unsafe { &mut self.local().stacks })
    }

    /// Takes back the stack of a task that ended. Stacks of another size are
    /// unmapped; default ones are cached as they are, still warm, for the
    /// next task this P starts. When the cache is full, half of it moves to
    /// the shared pool, and only there, once they have sat a while, do
    /// stacks shed their deep pages (stack_pool.rs): a `madvise` per task
    /// exit would cost more than the rest of a spawn (measured on 2 cores:
    /// spawn-and-join of 100,000 tasks went from 1.4–3.4 µs to 0.3–0.8 µs
    /// per task when it was taken off this path; docs/benchmarks.md), and
    /// a P's cache holds at most `STACK_CACHE_MAX` stacks, so what it keeps
    /// committed is bounded.
    ///
    /// # Safety
    /// The caller's M holds this P.
    pub unsafe fn give_stack(&self, sched: &Sched, stack: Stack) {
        if stack.size() != sched.default_stack_size {
            return;
        }
        // SAFETY: the caller holds this P.
        let cache = unsafe { &mut self.local().stacks };
        cache.push(stack);
        if cache.len() >= STACK_CACHE_MAX {
            sched.stack_pool.give(cache.split_off(STACK_CACHE_MAX / 2));
        }
    }
}

/// Makes sure an empty cache holds at least one stack: half a cache's worth
/// from the shared pool, or that many fresh ones in one reservation.
fn refill(sched: &Sched, cache: &mut Vec<Stack>) -> io::Result<()> {
    if cache.is_empty() {
        cache.extend(sched.stack_pool.take(STACK_CACHE_MAX / 2));
    }
    if cache.is_empty() {
        cache.extend(Stack::reserve(
            sched.default_stack_size,
            STACK_CACHE_MAX / 2,
        )?);
    }
    Ok(())
}
