//! The scheduler loop: `schedule`, `find_runnable`, `execute`, and the
//! protocol that decides when Ms sleep and wake (proc.go).
//!
//! # The problem
//! Ms must run tasks whenever there are tasks and free Ps, yet burn no CPU
//! when there are none, and a task readied on an idle runtime must start
//! within microseconds. It is hard because the state is spread over per-P
//! queues (no cheap global "is there work?"), and because the right answer
//! depends on the future (do not put a thread to sleep just before a task
//! is readied for it). Go's design comment in proc.go rejects three
//! simpler designs, and so do we:
//! 1. Centralise all scheduler state: one lock for everything; it does not
//!    scale.
//! 2. Hand a readied task directly to a woken thread with a spare P: the
//!    readying thread may run out of work the next moment and have to
//!    sleep (thread thrashing), and dependent tasks that would have run
//!    warm on one thread are scattered.
//! 3. Wake an extra thread whenever a task is readied and a P is idle,
//!    without hand-off: most of those threads find nothing (the readier
//!    runs the task itself) and go straight back to sleep.
//!
//! # The protocol ("spinning" Ms)
//! An M with a P that finds nothing in its own queue becomes *spinning*
//! (counted in `nmspinning`) and tries to steal. At most about half the busy
//! Ps' worth of Ms spin at once (`2 * nmspinning < nprocs - npidle`), so idle
//! Ms do not all hammer the queues.
//! - Whoever makes a task runnable (spawn, ready, overflow) then calls
//!   [`wake_p`]: if there is an idle P and *no* spinning M, it starts one
//!   (waking a sleeping M or creating a thread). One spinning M is enough:
//!   when it finds work it stops spinning and, if it was the last spinner,
//!   wakes another ([`reset_spinning`]), so wake-ups cascade only as far as
//!   there is work.
//! - A spinning M that finds nothing gives its P back, then decrements
//!   `nmspinning`, then looks at every queue once more (so does a
//!   non-spinning M giving up its P: work queued while every P was busy
//!   found no idle P to wake). Submitters do the
//!   mirror image: queue the task, then read `nmspinning`. Each side puts a
//!   `SeqCst` fence between its write and its read (the store-buffering
//!   pattern: without the fences both reads could see the old values), so
//!   either the submitter sees a spinner that will find its task, or the
//!   spinner's last look sees the task. Nothing is lost.
//!
//! # Fairness
//! A P looks at the global queue first on every 61st time slice (Go's
//! constant: prime, so it does not resonate with task patterns), so tasks
//! spilled there cannot starve behind a busy local queue. A task readied into
//! `runnext` inherits the current time slice (`schedtick` is not advanced).
//! In Go, sysmon preempts a `runnext` chain that outlives its 10 ms slice.
//! Ours flags it too (sysmon.rs), but the flag is only seen at runtime
//! entries (preempt.rs), and a pair that wakes each other with
//! `park`/`unpark` passes none; so we also bound the chain by count
//! ([`RUNNEXT_CHAIN_MAX`]): after that many inherited slices in a row the
//! `runnext` task goes to the back of the queue and the oldest queued task
//! runs.

use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::arch;
use crate::checkdead;
use parking_lot::MutexGuard;

use crate::machine::{self, Machine, MachineShared, Pending, Wakeup};
use crate::netpoll;
use crate::processor::Processor;
use crate::run_queue::Overflow;
use crate::sched::{Locked, Sched};
use crate::stats::bump;
use crate::task::{TaskRef, TaskState, WaitReason, TOKEN_EMPTY, TOKEN_PARKED};
use crate::trace::timeline::Timeline;

/// Go's constant from `schedule`: how often the global queue goes first.
const GLOBAL_QUEUE_EVERY: u32 = 61;

/// Rounds of stealing over all Ps before giving up (Go's `stealTries`).
const STEAL_ROUNDS: usize = 4;

/// Consecutive `runnext` runs (inherited time slices) before the queue gets
/// a turn. Go bounds the chain by time (10 ms, enforced by sysmon); a count
/// needs no clock. 61 like the global-queue period: long enough that a
/// ping-pong pair keeps its cache warmth, short enough that a queued task
/// waits microseconds, not forever.
pub const RUNNEXT_CHAIN_MAX: u32 = 61;

/// The g0 loop of every M (Go's `schedule`): find a task, run it, repeat,
/// until the runtime shuts down.
pub fn schedule(m: &Machine) {
    loop {
        // An M whose task is locked to it runs nothing else: it waits for
        // that task to be readied (Go's `stoplockedm`).
        let next = if m.shared.locked.get() {
            stop_locked_m(m)
        } else {
            find_runnable(m)
        };
        let Some((task, inherit_time)) = next else {
            return;
        };
        if m.shared.spinning.get() {
            reset_spinning(m);
        }
        // SAFETY: this M owns the task it just took.
        if let Some(owner) = unsafe { task.locked_m() } {
            if !Arc::ptr_eq(owner, &m.shared) {
                let owner = Arc::clone(owner);
                start_locked_m(m, &owner, task);
                continue;
            }
        }
        execute(m, task, inherit_time);
    }
}

/// Go's `findRunnable`: blocks until there is a task for this M to run, and
/// returns it with its `inherit_time` flag, or `None` at shutdown. On
/// return the M holds a P.
fn find_runnable(m: &Machine) -> Option<(TaskRef, bool)> {
    let sched = &*m.sched;
    loop {
        if sched.shutdown.load(Ordering::Acquire) {
            return None;
        }
        if m.p_id().is_none() {
            // We gave our P to a locked M (start_locked_m), came back from
            // a blocking call to find it gone, or woke from the net poll
            // while every P was busy.
            stop_m(m);
            continue;
        }
        let p = m.p();
        run_timers(&m.sched, p);
        let tick = p.schedtick();
        if tick % GLOBAL_QUEUE_EVERY == 0 && sched.global_len.load(Ordering::Relaxed) > 0 {
            if let Some(task) = sched.global_take(&mut sched.locked.lock(), p, 1) {
                return Some((task, false));
            }
        }
        if let Some((task, inherit_time)) = p.runq.get() {
            // SAFETY: this M holds p.
            if inherit_time && unsafe { p.local().runnext_chain } >= RUNNEXT_CHAIN_MAX {
                // The chain has had its turn: behind the queue it goes, and
                // the queue's oldest task runs on a fresh slice (if the
                // queue was empty, that is this same task).
                put_runnable(&m.sched, p, task, false);
                continue;
            }
            return Some((task, inherit_time));
        }
        if sched.global_len.load(Ordering::Relaxed) > 0 {
            if let Some(task) = sched.global_take(&mut sched.locked.lock(), p, usize::MAX) {
                return Some((task, false));
            }
        }
        // Go polls the network before stealing: ready descriptors are
        // work as local as it gets. Not while an M is blocked in the poll:
        // it will see the same events.
        if sched.poller.waiters() > 0
            && sched.last_poll.load(Ordering::Relaxed) != 0
            && netpoll::poll(m, Some(Duration::ZERO)) > 0
        {
            continue;
        }
        let nprocs = sched.procs.len();
        if m.shared.spinning.get()
            || 2 * sched.nmspinning.load(Ordering::SeqCst)
                < nprocs - sched.npidle.load(Ordering::SeqCst)
        {
            if !m.shared.spinning.get() {
                m.shared.spinning.set(true);
                sched.nmspinning.fetch_add(1, Ordering::SeqCst);
            }
            if let Some(task) = steal_work(m, p) {
                return Some((task, false));
            }
        }

        // Due timers anywhere may ready tasks (into this P).
        if run_all_timers(&m.sched) > 0 {
            continue;
        }

        // Nothing to do: give up the P, then sleep.
        {
            let mut locked = sched.locked.lock();
            if locked.shutting_down {
                return None;
            }
            if let Some(task) = sched.global_take(&mut locked, p, usize::MAX) {
                return Some((task, false));
            }
            sched.idle_p_put(&mut locked, p.id);
            m.set_p(None);
        }
        let was_spinning = m.shared.spinning.replace(false);
        if was_spinning {
            sched.nmspinning.fetch_sub(1, Ordering::SeqCst);
        }
        // The last look (see the module comment), taken by every M on its
        // way to sleep. A spinner must look: work queued while it still
        // counted as spinning woke nobody. A non-spinning M must look too:
        // work queued while no P was idle woke nobody either. (Go 1.21
        // closes that second gap with `needspinning`; a look here costs only
        // on the way to sleep, never on the submitter's path.)
        fence(Ordering::SeqCst);
        if sched.global_len.load(Ordering::SeqCst) > 0
            || sched.procs.iter().any(|p| !p.runq.is_empty())
        {
            let mut locked = sched.locked.lock();
            if let Some(p) = sched.idle_p_get(&mut locked) {
                drop(locked);
                m.set_p(Some(p));
                // Spinning, so that the steal limit cannot send us straight
                // back here (Go's `needspinning` path does the same).
                m.shared.spinning.set(true);
                sched.nmspinning.fetch_add(1, Ordering::SeqCst);
                continue;
            }
        }
        if block_in_netpoll(m, was_spinning) {
            continue;
        }
        stop_m(m);
    }
}

/// The end of Go's `findRunnable`: with no P and nothing to run, block in
/// the net poll until a descriptor is ready, the earliest timer is due, or
/// `Poller::wake` (a nearer timer, shutdown). Only one M at a time, and only
/// if something could wake it: a task waiting on a descriptor, or a timer.
/// Returns true if the M got a P back (tasks may have been readied into it,
/// and due timers are run by `find_runnable`); false if it should sleep.
fn block_in_netpoll(m: &Machine, was_spinning: bool) -> bool {
    let sched = &m.sched;
    let next_timer = sched.next_timer();
    if sched.poller.waiters() == 0 && next_timer.is_none() {
        return false;
    }
    if sched.last_poll.swap(0, Ordering::SeqCst) == 0 {
        // Another M is in the poll. If it sleeps past our earliest timer
        // (it read the heaps before this one was armed), wake it.
        if let Some(when) = next_timer {
            let until = sched.poll_until.load(Ordering::SeqCst);
            if until == 0 || until > when {
                sched.poller.wake();
            }
        }
        return false;
    }
    // Read the heaps again now that we are the poller: a timer armed
    // before the swap saw nobody in the poll and only woke a P, which may
    // find nothing to do. `timer_armed` pushes, fences, then reads
    // `last_poll`; we swap it, fence, then read the heaps: one of the two
    // sees the other (the store-buffer pattern).
    fence(Ordering::SeqCst);
    let next_timer = sched.next_timer();
    sched
        .poll_until
        .store(next_timer.unwrap_or(0), Ordering::SeqCst);
    let timeout =
        next_timer.map(|when| Duration::from_nanos(when.saturating_sub(sched.now_nanos())));
    let mut ready = netpoll::wait(m, timeout);
    // In this order: a timer armed from here on sees nobody in the poll
    // and wakes a P instead (`Sched::timer_armed`).
    sched.poll_until.store(0, Ordering::SeqCst);
    sched
        .last_poll
        .store(sched.now_nanos().max(1), Ordering::SeqCst);
    if sched.shutdown.load(Ordering::Acquire) {
        // `ready` drops the tasks of a runtime that has ended.
        netpoll::ready_all(&mut ready);
        return false;
    }
    let p = sched.idle_p_get(&mut sched.locked.lock());
    if let Some(p) = p {
        m.set_p(Some(p));
        if was_spinning && ready.is_empty() {
            m.shared.spinning.set(true);
            sched.nmspinning.fetch_add(1, Ordering::SeqCst);
        }
    }
    // With a P they go into its queue; without one, to the global queue
    // for the busy Ps (Go's `injectglist`).
    netpoll::ready_all(&mut ready);
    p.is_some()
}

/// Go's `stealWork`: a few rounds over the other Ps in random order,
/// taking half of the first non-empty queue found. Only the last round may
/// take a victim's `runnext`, which its owner is probably about to run.
fn steal_work(m: &Machine, p: &Processor) -> Option<TaskRef> {
    let sched = &*m.sched;
    let n = sched.procs.len();
    if n == 1 {
        return None;
    }
    for round in 0..STEAL_ROUNDS {
        let last_round = round == STEAL_ROUNDS - 1;
        let (start, step) = random_order(m.rand(), n);
        for i in 0..n {
            let victim = &sched.procs[(start + i * step) % n];
            if victim.id == p.id {
                continue;
            }
            if let Some((task, stolen)) = p.runq.steal_half(&victim.runq, last_round) {
                bump(&p.counters.steals, 1);
                bump(&p.counters.tasks_stolen, stolen as u64);
                if let Some(timeline) = &sched.timeline {
                    let detail = format!("{stolen} tasks from P{}", victim.id);
                    timeline.instant(sched, Some(m), "steal", &detail);
                }
                return Some(task);
            }
        }
        if sched.shutdown.load(Ordering::Relaxed) {
            return None;
        }
    }
    None
}

/// Go's `randomOrder`: a random start and a random step coprime with `n`
/// visit every P exactly once, in an order that differs between thieves.
fn random_order(r: u64, n: usize) -> (usize, usize) {
    let start = (r % n as u64) as usize;
    let mut step = ((r >> 32) % n as u64) as usize + 1;
    while gcd(step, n) != 1 {
        step += 1;
    }
    (start, step)
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Go's `resetspinning`: this M found work and stops spinning; if it was
/// the last spinner, another M starts looking, because there may be more.
fn reset_spinning(m: &Machine) {
    m.shared.spinning.set(false);
    let before = m.sched.nmspinning.fetch_sub(1, Ordering::SeqCst);
    if before == 1 {
        wake_p(&m.sched);
    }
}

/// Go's `execute` plus the g0 half of `mcall`: runs `task` on this M until
/// it switches back, then does what it asked.
fn execute(m: &Machine, mut task: TaskRef, inherit_time: bool) {
    let sched = &m.sched;
    let p = m.p();
    // SAFETY: this M holds p.
    let local = unsafe { p.local() };
    if inherit_time {
        local.runnext_chain += 1;
    } else {
        p.begin_time_slice();
        local.runnext_chain = 0;
    }
    if !give_stack_on_first_run(m, p, &task) {
        return;
    }
    loop {
        task.set_state(TaskState::Running);
        let to = task.context.get();
        let began_on = m.p_id().expect("execute holds a P");
        if let Some(timeline) = &sched.timeline {
            timeline.run_begin(m, began_on, &task);
        }
        // The M holds the task's reference while it runs (moved, not
        // cloned: no atomic traffic on the switch path).
        m.set_current(task);
        // SAFETY: the task is not running anywhere else (we took it from a
        // queue or it just switched out to us), its context was saved by a
        // switch or forged by init_stack on its live stack, and g0's
        // context lives in this Machine for the whole switch.
        unsafe { arch::switch(m.g0.get(), to) };
        task = m.take_current().expect("the task we ran is current");
        if let Some(timeline) = &sched.timeline {
            trace_run_end(timeline, m, began_on);
        }
        if m.pending.get() == Pending::ExitBlocking {
            // The task has no P to come back to (blocking.rs).
            m.pending.set(Pending::Nothing);
            task.set_state(TaskState::Runnable);
            let mut locked = sched.locked.lock();
            if locked.shutting_down {
                // The runtime ended during the call: the task never runs
                // again (`run` may have returned already; see blocking.rs).
                return;
            }
            if let Some(p) = sched.idle_p_get(&mut locked) {
                drop(locked);
                m.set_p(Some(p));
                m.p().begin_time_slice();
                continue;
            }
            sched.global_push(&mut locked, [task]);
            return;
        }
        // Not the P we started with if the task went through a blocking
        // call and came back on another.
        let p = m.p();
        match m.pending.replace(Pending::Nothing) {
            Pending::Yield => {
                bump(&p.counters.yields, 1);
                task.set_state(TaskState::Runnable);
                put_runnable(sched, p, task, false);
            }
            Pending::Preempted => {
                // Go's `gopreempt_m`: to the global queue, behind whatever
                // waits there (tasks readied by sysmon's net poll, say),
                // which a P otherwise checks only every 61st slice.
                bump(&p.counters.preempted, 1);
                task.set_state(TaskState::Runnable);
                sched.global_push(&mut sched.locked.lock(), [task]);
                wake_p(sched);
            }
            Pending::Park(reason) => {
                task.set_wait_reason(reason);
                task.set_state(TaskState::Waiting);
                // Commit the park (park.rs): from here on an unpark readies
                // the task. If one already came, keep running it instead;
                // the task consumes the NOTIFIED as it resumes, with a
                // read-modify-write that acquires every unpark since (a
                // plain store of EMPTY here would end their release
                // sequence, and a re-check could miss an unparker's write).
                if task
                    .token
                    .compare_exchange(
                        TOKEN_EMPTY,
                        TOKEN_PARKED,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    )
                    .is_err()
                {
                    task.set_wait_reason(WaitReason::None);
                    continue;
                }
                bump(&p.counters.parks, 1);
            }
            Pending::Exit => {
                task.set_state(TaskState::Dead);
                // Go kills a thread whose locked goroutine exits; we release
                // the wiring and reuse the M (see lock.rs).
                m.shared.locked.set(false);
                bump(&p.counters.exited, 1);
                // SAFETY: the task is dead; nothing runs on its stack.
                if let Some(stack) = unsafe { (*task.stack.get()).take() } {
                    // SAFETY: this M holds p.
                    unsafe { p.give_stack(sched, stack) };
                }
            }
            Pending::Nothing | Pending::ExitBlocking => {
                unreachable!("a task switched to g0 without saying why")
            }
        }
        return;
    }
}

/// Ends a run's slice on the `GRT_TRACE` timeline, saying why it ended
/// (cold: only with a trace).
#[cold]
fn trace_run_end(timeline: &Timeline, m: &Machine, began_on: usize) {
    let why = match m.pending.get() {
        Pending::Yield => "yield".to_string(),
        Pending::Preempted => "preempted".to_string(),
        Pending::Park(reason) => {
            timeline.instant(&m.sched, Some(m), "park", reason.as_str());
            format!("park: {}", reason.as_str())
        }
        Pending::Exit => "exit".to_string(),
        Pending::ExitBlocking => "back from blocking, no P".to_string(),
        Pending::Nothing => String::new(),
    };
    timeline.run_end(m, began_on, &why);
}

/// A task that has never run gets its stack now. If none can be had, its
/// joiner learns why and the task is dropped; returns whether it can run.
fn give_stack_on_first_run(m: &Machine, p: &Processor, task: &TaskRef) -> bool {
    // SAFETY: we own the task (it came off a run queue to this M).
    let slot = unsafe { &mut *task.stack.get() };
    if slot.is_none() {
        // SAFETY: this M holds p.
        match unsafe { p.take_stack(&m.sched) } {
            Ok(stack) => *slot = Some(stack),
            Err(why) => {
                task.set_state(TaskState::Dead);
                // SAFETY: as above; the task never ran, so `main` is still there.
                if let Some(main) = unsafe { (*task.main.get()).take() } {
                    main.abandon(why);
                }
                return false;
            }
        }
    }
    // SAFETY: as above. No saved context means the task has never run
    // (whether its stack came from the cache just now or from its builder
    // at spawn): forge its first frame.
    unsafe {
        let context = &mut *task.context.get();
        if context.stack_pointer().is_null() {
            let top = slot.as_ref().expect("stack just set").top();
            *context = arch::init_stack(top, crate::park::task_entry, 0);
        }
    }
    true
}

/// Go's `runqput` with its spill (`runqputslow`) to the global queue,
/// where an idle P may want it.
pub fn put_runnable(sched: &Arc<Sched>, p: &Processor, task: TaskRef, next: bool) {
    if let Overflow::Spill(batch) = p.runq.put(task, next) {
        sched.global_push(&mut sched.locked.lock(), batch);
        wake_p(sched);
    }
}

/// Go's `goready`: makes a parked task runnable. On an M of the task's own
/// runtime it goes into this P's `runnext`; from anywhere else (a plain
/// thread, another runtime) into the global queue.
pub fn ready(task: TaskRef) {
    task.set_wait_reason(WaitReason::None);
    task.set_state(TaskState::Runnable);
    let sched = Arc::clone(&task.sched);
    if sched.shutdown.load(Ordering::Acquire) {
        // Nothing will run it again; queueing it would only keep the dead
        // runtime alive through the task's reference to it.
        return;
    }
    if let Some(timeline) = &sched.timeline {
        timeline.ready(
            machine::current().filter(|m| Arc::ptr_eq(&m.sched, &sched)),
            &task,
        );
    }
    match machine::current() {
        Some(m) if Arc::ptr_eq(&m.sched, &sched) && m.p_id().is_some() => {
            put_runnable(&sched, m.p(), task, true);
        }
        _ => {
            let mut locked = sched.locked.lock();
            // Checked again under the lock: `run` drains the global queue
            // after shutdown, and a task pushed later would never be freed.
            if locked.shutting_down {
                return;
            }
            sched.global_push(&mut locked, [task]);
        }
    }
    wake_p(&sched);
}

/// Go's `wakep`: if a P is idle and nobody is spinning, start an M to spin.
pub fn wake_p(sched: &Arc<Sched>) {
    // Orders the caller's queueing of work before the reads below (the
    // submitter's half of the protocol in the module comment).
    fence(Ordering::SeqCst);
    if sched.npidle.load(Ordering::SeqCst) == 0 {
        return;
    }
    if sched.nmspinning.load(Ordering::SeqCst) != 0
        || sched
            .nmspinning
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
    {
        return;
    }
    start_m(sched, true);
}

/// Go's `startm`: gives an idle P to an idle M (or a new one). With
/// `spinning`, the caller has already counted the M in `nmspinning`.
fn start_m(sched: &Arc<Sched>, spinning: bool) {
    let mut locked = sched.locked.lock();
    match sched.idle_p_get(&mut locked) {
        Some(p) => start_m_on(sched, locked, p, spinning),
        None => {
            drop(locked);
            if spinning {
                sched.nmspinning.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
}

/// Gives P `p` to an idle M, or to a new thread. Takes the lock guard so
/// that the P never sits outside the idle list unaccounted.
fn start_m_on(sched: &Arc<Sched>, mut locked: MutexGuard<'_, Locked>, p: usize, spinning: bool) {
    if !locked.shutting_down {
        if let Some(idle) = locked.idle_ms.pop() {
            drop(locked);
            idle.wake(Wakeup::Handoff { p, spinning });
            return;
        }
        // A new thread is started under the lock so that shutdown, which
        // takes the lock to set its flag, sees every thread it must join.
        let mut threads = sched.threads.lock();
        if threads.len() >= sched.max_threads {
            report_thread_limit(sched.max_threads);
        } else {
            match machine::start_thread(sched, p, spinning) {
                Ok(thread) => {
                    threads.push(thread);
                    return;
                }
                Err(err) => {
                    eprintln!("grt: cannot start a thread for an idle P, running with fewer: {err}")
                }
            }
        }
        drop(threads);
        sched.idle_p_put(&mut locked, p);
        drop(locked);
        if spinning {
            sched.nmspinning.fetch_sub(1, Ordering::SeqCst);
        }
        // The work that wanted this P still needs an M: an M blocked in
        // the net poll is free, and takes the idle P when it wakes.
        sched.poller.wake();
        return;
    }
    sched.idle_p_put(&mut locked, p);
    drop(locked);
    if spinning {
        sched.nmspinning.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Every M is busy (in blocking calls, most likely) and the limit says no
/// more: Go dies of "thread exhaustion"; we run on with the Ms we have and
/// say why, once.
#[cold]
fn report_thread_limit(max: usize) {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        eprintln!(
            "grt: all {max} threads allowed for Ms are busy (most likely in grt::blocking calls); \
             the runtime runs on with fewer Ms than Ps. Raise the limit with GRT_MAXTHREADS or \
             RuntimeBuilder::max_threads."
        )
    });
}

/// Go's `handoffp`: P `p` has no M (its M sleeps with a locked task
/// parked, or sysmon took it from a long blocking call). If there is work,
/// another M gets the P now; if every other P is busy and nobody spins, a
/// spinning M gets it to look for work those Ps could not announce; if it is
/// the last P and nobody polls the network, an M gets it to do that;
/// otherwise the P goes idle, and the next submitter's `wake_p` will find it.
pub fn hand_off_p(sched: &Arc<Sched>, p: usize) {
    // Decided under the lock: a task readied into the global queue after a
    // look without it would find no idle P to wake, and this P would go
    // idle beside it (Go's handoffp re-checks `sched.runqsize` likewise).
    let mut locked = sched.locked.lock();
    if !sched.procs[p].runq.is_empty() || !locked.global.is_empty() {
        start_m_on(sched, locked, p, false);
    } else if sched.nmspinning.load(Ordering::SeqCst) + sched.npidle.load(Ordering::SeqCst) == 0
        && sched
            .nmspinning
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    {
        // Every other P is busy and nobody is looking for work: tasks
        // readied meanwhile found no idle P to wake, so some may be waiting
        // in those Ps' queues. Send a spinning M to look (as Go's handoffp).
        start_m_on(sched, locked, p, true);
    } else if sched.npidle.load(Ordering::SeqCst) == sched.procs.len() - 1
        && sched.last_poll.load(Ordering::SeqCst) != 0
    {
        // Everyone else is idle and nobody is in the net poll: descriptors
        // and timers need an M to watch them.
        start_m_on(sched, locked, p, false);
    } else {
        // Go's handoffp ends with wakeNetPoller(pp.timers.wakeTime()): the
        // P's timers must still wake someone while it sits idle.
        let next_timer = sched.procs[p].timers.next_deadline();
        sched.idle_p_put(&mut locked, p);
        drop(locked);
        if let Some(when) = next_timer {
            sched.timer_armed(when);
        }
    }
}

/// Go's `stoplockedm`: gives away the P and sleeps until the locked task
/// is readied and some M hands it over, with a P to run it on.
fn stop_locked_m(m: &Machine) -> Option<(TaskRef, bool)> {
    // No P if the task came back from a blocking call to find it gone.
    if let Some(p) = m.p_id() {
        m.set_p(None);
        hand_off_p(&m.sched, p);
    }
    {
        let mut locked = m.sched.locked.lock();
        if locked.shutting_down {
            // A hand-off that beat us here would hold our task (and through
            // it, this M) in a reference cycle.
            drop(m.shared.take_handoff());
            return None;
        }
        locked.locked_ms.push(Arc::clone(&m.shared));
        // Go's stoplockedm counts the M idle and calls checkdead too: a
        // locked M may be the last one to go to sleep.
        checkdead::check_dead(&m.sched, &locked);
    }
    let woken = m.shared.sleep();
    // start_locked_m removes us from the list, unless it came before we
    // were on it; either way we are awake now and must not be listed.
    m.sched
        .locked
        .lock()
        .locked_ms
        .retain(|waiting| !Arc::ptr_eq(waiting, &m.shared));
    match woken? {
        Wakeup::RunLocked { p, task } => {
            m.set_p(Some(p));
            Some((task, false))
        }
        Wakeup::Handoff { .. } => unreachable!("a locked M is never on the idle list"),
    }
}

/// Go's `startlockedm`: `task` is locked to `owner`, so this M hands it its
/// own P and the task, and goes to find other work without a P (it will
/// sleep in `stop_m`).
fn start_locked_m(m: &Machine, owner: &Arc<MachineShared>, task: TaskRef) {
    let sched = &m.sched;
    let p = m.p_id().expect("start_locked_m without a P");
    m.set_p(None);
    let mut locked = sched.locked.lock();
    if locked.shutting_down {
        sched.idle_p_put(&mut locked, p);
        return;
    }
    // The owner may not have reached its sleep yet; its wake-up slot keeps
    // the hand-off until it does. Removing it from the list keeps shutdown
    // from waking it a second time.
    locked
        .locked_ms
        .retain(|waiting| !Arc::ptr_eq(waiting, owner));
    drop(locked);
    owner.wake(Wakeup::RunLocked { p, task });
}

/// Go's `stopm`: this M (already without a P) sleeps on the idle list until
/// `start_m` hands it a P, or the runtime shuts down.
fn stop_m(m: &Machine) {
    let sched = &m.sched;
    {
        let mut locked = sched.locked.lock();
        if locked.shutting_down {
            return;
        }
        locked.idle_ms.push(Arc::clone(&m.shared));
        checkdead::check_dead(sched, &locked);
    }
    match m.shared.sleep() {
        Some(Wakeup::Handoff { p, spinning }) => {
            m.set_p(Some(p));
            m.shared.spinning.set(spinning);
        }
        Some(Wakeup::RunLocked { .. }) => unreachable!("an idle M has no locked task"),
        None => {}
    }
}

/// Go's `checkTimers`: runs P `p`'s due timers.
fn run_timers(sched: &Arc<Sched>, p: &Processor) {
    if p.timers.next_deadline().is_some() && p.timers.run_due(sched.now_nanos()) > 0 {
        announce_next_timer(sched);
    }
}

/// After timers fired (periodic ones re-armed themselves without telling
/// anyone), make sure some M will wake for the next deadline.
fn announce_next_timer(sched: &Arc<Sched>) {
    if let Some(next) = sched.next_timer() {
        sched.timer_armed(next);
    }
}

/// Runs the due timers of every P (an idle P's timers have nobody else to
/// run them; Go's `stealWork` checks other Ps' timers the same way).
/// Returns how many fired.
fn run_all_timers(sched: &Arc<Sched>) -> usize {
    if sched.next_timer().is_none() {
        return 0;
    }
    let now = sched.now_nanos();
    let fired = sched.procs.iter().map(|p| p.timers.run_due(now)).sum();
    if fired > 0 {
        announce_next_timer(sched);
    }
    fired
}

/// The main task has returned: every M exits at its next scheduling point,
/// sleeping ones are woken to do so.
pub fn begin_shutdown(sched: &Sched) {
    let idle = {
        let mut locked = sched.locked.lock();
        locked.shutting_down = true;
        sched.shutdown.store(true, Ordering::SeqCst);
        let mut sleeping = std::mem::take(&mut locked.idle_ms);
        sleeping.append(&mut locked.locked_ms);
        sleeping
    };
    for m in idle {
        m.wake_for_shutdown();
    }
    sched.poller.wake();
    sched.sysmon.shut_down();
}
