//! sysmon: the runtime's watchdog thread (Go's `sysmon`, proc.go).
//!
//! Some things no M can do for itself: an M stuck in a blocking call cannot
//! notice that its P's queue is filling up, and a task computing in a loop
//! cannot notice that it has had the CPU for too long. So each runtime has
//! one more thread, holding no P and running no task, that looks at every
//! P now and then:
//! - **retake** (Go's `retake`): a P whose M has been in `grt::blocking`
//!   since the last look is taken back (the same compare-and-swap the
//!   returning M would use, processor.rs) and handed to another M, if
//!   there is work for it or it has been blocked for a whole time slice.
//! - **preempt** (Go's `preemptone`): a P that has been running the same
//!   time slice for 10 ms gets its `preempt` flag set; the task yields at
//!   its next runtime entry (preempt.rs).
//! - **poll**: if nobody has polled the network for 10 ms (every M busy),
//!   sysmon polls it, so ready sockets are not left waiting behind long
//!   computations.
//! - **scavenge** (Go's background scavenger, for stacks only): every
//!   10 ms, the spare stacks that have sat in the shared pool since the
//!   last time give their deep pages back to the OS; sysmon does not sleep
//!   for want of busy Ps until none is left untrimmed (stack_pool.rs).
//!
//! It sleeps 20 µs between looks while it finds syscalls to retake, backing
//! off to 10 ms when it does not (Go's numbers), and once backed off, while
//! every P is idle, it sleeps until one is not (`SysmonNote`), so an idle
//! runtime burns no CPU.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::netpoll;
use crate::processor::{RUNNING, SYSCALL};
use crate::sched::Sched;
use crate::schedule;
use crate::stats::bump;

/// Shortest nap between looks (Go's 20 µs).
const MIN_NAP: Duration = Duration::from_micros(20);
/// Longest nap between looks (Go's 10 ms).
const MAX_NAP: Duration = Duration::from_millis(10);
/// Looks that found nothing to retake before the nap starts doubling.
const IDLE_LOOKS_BEFORE_BACKOFF: u32 = 50;
/// How long a task may keep its P before it is asked to yield (Go's
/// `forcePreemptNS`), and how long a P may sit in a blocking call with
/// nothing else to do before it is retaken anyway; also how stale the last
/// net poll may get.
const TIME_SLICE_NANOS: u64 = 10_000_000;

/// How often the stack pool is scavenged: a stack that has sat in the
/// pool for this long is trimmed at the next look (stack_pool.rs).
const SCAVENGE_EVERY_NANOS: u64 = 10_000_000;

/// What sysmon saw of a P at its last look (Go's `sysmontick`).
#[derive(Clone, Copy, Default)]
struct Seen {
    schedtick: u32,
    /// When `schedtick` was first seen at its value.
    schedwhen: u64,
    syscalltick: u32,
    /// When `syscalltick` was first seen at its value.
    syscallwhen: u64,
}

/// How sysmon naps and sleeps, and how others wake it.
#[derive(Default)]
pub struct SysmonNote {
    /// Sysmon is asleep because every P was idle (Go's `sched.sysmonwait`).
    asleep: AtomicBool,
    state: Mutex<NoteState>,
    wake: Condvar,
}

#[derive(Default)]
struct NoteState {
    woken: bool,
    shutdown: bool,
}

impl SysmonNote {
    /// A P stopped being idle: if sysmon sleeps for want of Ps to watch,
    /// wake it. Called by `Sched::idle_p_get`; a load when it is awake.
    pub fn wake_if_asleep(&self) {
        if self.asleep.load(Ordering::SeqCst) {
            self.state.lock().woken = true;
            self.wake.notify_one();
        }
    }

    /// The runtime is ending: sysmon returns from any sleep and exits.
    pub fn shut_down(&self) {
        self.state.lock().shutdown = true;
        self.wake.notify_one();
    }

    /// Sleeps for `nap`; false if the runtime is ending.
    fn nap(&self, nap: Duration) -> bool {
        let mut state = self.state.lock();
        if !state.shutdown {
            self.wake.wait_for(&mut state, nap);
        }
        !state.shutdown
    }

    /// Sleeps while every P is idle and the stack pool has nothing left to
    /// trim (it is trimmed by the naps meanwhile); false if the runtime is
    /// ending.
    fn sleep_while_idle(&self, sched: &Sched) -> bool {
        let mut state = self.state.lock();
        self.asleep.store(true, Ordering::SeqCst);
        // The store-buffer pattern with `idle_p_get` (it stores `npidle`,
        // then loads `asleep`): either it sees us asleep and wakes us, or
        // we see its P taken here. A burst that took a P and gave it back
        // before we looked gave its stacks to the pool first, so reading
        // its `npidle` store, we see them.
        while !state.shutdown
            && !state.woken
            && sched.npidle.load(Ordering::SeqCst) == sched.procs.len()
            && !sched.stack_pool.has_untrimmed()
        {
            self.wake.wait(&mut state);
        }
        self.asleep.store(false, Ordering::SeqCst);
        state.woken = false;
        !state.shutdown
    }
}

/// Starts the sysmon thread of `sched`; the caller joins it after the Ms.
pub fn start(sched: &Arc<Sched>) -> io::Result<thread::JoinHandle<()>> {
    let sched = Arc::clone(sched);
    thread::Builder::new()
        .name("grt-sysmon".into())
        .spawn(move || sysmon(&sched))
}

/// Go's `sysmon` loop.
fn sysmon(sched: &Arc<Sched>) {
    let mut seen = vec![Seen::default(); sched.procs.len()];
    let mut nap = MIN_NAP;
    let mut idle_looks = 0u32;
    let mut last_scavenge = 0u64;
    loop {
        if idle_looks == 0 {
            nap = MIN_NAP;
        } else if idle_looks > IDLE_LOOKS_BEFORE_BACKOFF {
            nap = (nap * 2).min(MAX_NAP);
        }
        if !sched.sysmon.nap(nap) {
            return;
        }
        let now = sched.now_nanos();
        if now - last_scavenge >= SCAVENGE_EVERY_NANOS {
            sched.stack_pool.scavenge();
            last_scavenge = now;
        }
        if sched.npidle.load(Ordering::SeqCst) == sched.procs.len() {
            // Only once the naps have backed off all the way: a runtime
            // that idles between bursts of work (a server between
            // requests) would otherwise send sysmon to sleep and wake it
            // with a futex call on nearly every burst. The nap stays long
            // afterwards, as Go's does unless a system call wakes it.
            if nap >= MAX_NAP && !sched.sysmon.sleep_while_idle(sched) {
                return;
            }
            idle_looks += 1;
            continue;
        }
        poll_if_forgotten(sched, now);
        if retake(sched, now, &mut seen) > 0 {
            idle_looks = 0;
        } else {
            idle_looks += 1;
        }
    }
}

/// Polls the network if no M has for a time slice: every M is busy, and
/// the tasks waiting on sockets would otherwise wait for one to be free.
fn poll_if_forgotten(sched: &Arc<Sched>, now: u64) {
    let last = sched.last_poll.load(Ordering::SeqCst);
    if last == 0 || last.saturating_add(TIME_SLICE_NANOS) >= now || sched.poller.waiters() == 0 {
        return;
    }
    if sched
        .last_poll
        .compare_exchange(last, now, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
    {
        let mut ready = Vec::new();
        netpoll::poll_into(sched, Some(Duration::ZERO), &mut ready);
        // From this thread they go to the global queue, and wake Ps.
        netpoll::ready_all(&mut ready);
    }
}

/// Go's `retake`: flags Ps that ran one slice too long, and takes back Ps
/// from blocking calls. Returns how many were taken back.
fn retake(sched: &Arc<Sched>, now: u64, seen: &mut [Seen]) -> usize {
    let mut retaken = 0;
    for (p, seen) in sched.procs.iter().zip(seen.iter_mut()) {
        let status = p.status.load(Ordering::SeqCst);
        if status != RUNNING && status != SYSCALL {
            continue;
        }
        let tick = p.schedtick();
        if seen.schedtick != tick {
            seen.schedtick = tick;
            seen.schedwhen = now;
        } else if status == RUNNING && now - seen.schedwhen >= TIME_SLICE_NANOS {
            p.preempt.store(true, Ordering::Relaxed);
        }
        if status != SYSCALL {
            continue;
        }
        let tick = p.syscalltick();
        if seen.syscalltick != tick {
            // A call we have not seen before: give it until the next look.
            seen.syscalltick = tick;
            seen.syscallwhen = now;
            continue;
        }
        // Nothing waits for this P and others are free to take new work:
        // let the call keep it, up to a time slice.
        if p.runq.is_empty()
            && sched.global_len.load(Ordering::SeqCst) == 0
            && sched.nmspinning.load(Ordering::SeqCst) + sched.npidle.load(Ordering::SeqCst) > 0
            && now - seen.syscallwhen < TIME_SLICE_NANOS
        {
            continue;
        }
        if p.claim_from_syscall() {
            retaken += 1;
            // We hold the P now, so the holder-only counter is ours to bump.
            bump(&p.counters.retaken, 1);
            if let Some(timeline) = &sched.timeline {
                let detail = format!("P{} from an M in a blocking call", p.id);
                timeline.instant(sched, None, "retake", &detail);
            }
            schedule::hand_off_p(sched, p.id);
        }
    }
    retaken
}
