//! Timers: `sleep`, `after`, `tick` and `Timer`, like Go's `time` package,
//! run by the scheduler from per-P heaps (heap.rs) rather than by a thread
//! per sleeper.
//!
//! A sleeping task costs a heap entry and a parked task: 100,000 tasks can
//! sleep at once, and when their deadlines pass the P that finds them due
//! readies them all in one pass (schedule.rs `run_timers`). An M with
//! nothing to do sleeps until the earliest deadline of all Ps, and arming
//! an earlier timer wakes it to re-plan (Go's `wakeNetPoller`).
//!
//! Timer channels have room for one value, and a tick that finds it full
//! is dropped, as in Go: a slow reader of `tick` sees fewer ticks, never a
//! backlog. They are never closed, even once the timer is gone.
//!
//! From a plain thread, `sleep` is `std::thread::sleep`; the other timers
//! need a runtime (they live in its Ps) and panic clearly outside one.

pub(crate) mod heap;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use heap::{Fire, TimerShared};

use crate::chan::{self, Receiver};
use crate::machine::{self, Machine};
use crate::park::{self, machine_for, TaskHandle};
use crate::sched::Sched;
use crate::task::WaitReason;

/// Arms `timer` to fire at `when` on the calling M's P and makes sure some
/// M will be awake by then. Returns the generation of the new entry.
pub(crate) fn arm(m: &Machine, timer: &Arc<TimerShared>, when: Instant) -> u64 {
    let generation = timer.invalidate();
    arm_generation(m, timer, generation, when);
    generation
}

/// [`arm`] with a generation the caller took from `invalidate` (and
/// published) first.
fn arm_generation(m: &Machine, timer: &Arc<TimerShared>, generation: u64, when: Instant) {
    let sched = &m.sched;
    let when = sched.nanos_at(when);
    m.p().timers.push(Arc::clone(timer), generation, when);
    sched.timer_armed(when);
}

/// A timer armed from the current task, firing `fire`.
fn start(fire: Box<Fire>, when: Instant) -> Arc<TimerShared> {
    let timer = TimerShared::new(fire);
    arm(machine_for("grt::time timers"), &timer, when);
    timer
}

/// `Instant::now() + duration`, saturating a century from now instead of
/// panicking on overflow (`Duration::MAX` means "for ever" to every
/// timeout in grt).
pub fn deadline_after(duration: Duration) -> Instant {
    deadline_from(Instant::now(), duration)
}

/// [`deadline_after`] from a clock reading the caller already has.
pub(crate) fn deadline_from(now: Instant, duration: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    now.checked_add(duration.min(CENTURY)).unwrap_or(now)
}

/// Blocks the current task (or thread) for `duration`.
pub fn sleep(duration: Duration) {
    sleep_until(deadline_after(duration));
}

/// Blocks the current task (or thread) until `deadline`.
pub fn sleep_until(deadline: Instant) {
    if deadline <= Instant::now() {
        return; // as Go's Sleep(0): no trip through the timer heap
    }
    let Some(m) = machine::current().filter(|m| m.current_task().is_some()) else {
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
        return;
    };
    let me = TaskHandle(Arc::clone(m.current_task().expect("filtered above")));
    let fired = Arc::new(AtomicBool::new(false));
    let timer = {
        let fired = Arc::clone(&fired);
        TimerShared::new(Box::new(move |_, _, _| {
            fired.store(true, Ordering::Release);
            me.unpark();
            None
        }))
    };
    arm(m, &timer, deadline);
    while !fired.load(Ordering::Acquire) {
        park::park_current(WaitReason::Sleep);
    }
}

/// A channel that receives the time once `duration` has passed (Go's
/// `time.After`).
pub fn after(duration: Duration) -> Receiver<Instant> {
    let (tx, rx) = chan::timer_channel();
    let sched = Arc::clone(&machine_for("grt::time::after").sched);
    let fire = Box::new(move |_: u64, _: u64, now: u64| {
        let _ = tx.try_send(sched.instant_at(now));
        None
    });
    start(fire, deadline_after(duration));
    rx
}

/// A channel that receives the time every `period` (Go's `time.Tick`);
/// ticks are dropped while the previous one is unread.
pub fn tick(period: Duration) -> Receiver<Instant> {
    assert!(
        !period.is_zero(),
        "grt::time::tick: the period must be positive"
    );
    let (tx, rx) = chan::timer_channel();
    let sched = Arc::clone(&machine_for("grt::time::tick").sched);
    // In the runtime's nanoseconds; a period past u64 range is "never".
    let period = period.as_nanos().clamp(1, u128::from(u64::MAX)) as u64;
    let fire = Box::new(move |_: u64, when: u64, now: u64| {
        if let Err(chan::TrySendError::Closed(_)) = tx.try_send(sched.instant_at(now)) {
            return None; // nobody can read the ticks any more
        }
        // The next tick on the original grid, skipping any we fell behind.
        let missed = now.saturating_sub(when) / period;
        Some(when.saturating_add((missed + 1).saturating_mul(period)))
    });
    start(fire, deadline_after(Duration::from_nanos(period)));
    rx
}

/// A single-shot timer with a channel, which can be stopped and reset (Go's
/// `time.Timer`).
pub struct Timer {
    shared: Arc<TimerShared>,
    /// The generation of the pending deadline, 0 if none: a fire sends
    /// only if it still is the pending one, so a fire racing a `reset` or
    /// `stop` cannot send for a deadline that was replaced.
    armed: Arc<AtomicU64>,
    rx: Receiver<Instant>,
}

impl Timer {
    /// A timer that sends the time on its channel after `duration`.
    pub fn new(duration: Duration) -> Timer {
        let (tx, rx) = chan::timer_channel();
        let armed = Arc::new(AtomicU64::new(0));
        let sched: Arc<Sched> = Arc::clone(&machine_for("grt::time::Timer").sched);
        let fire = {
            let armed = Arc::clone(&armed);
            Box::new(move |generation: u64, _: u64, now: u64| {
                if armed
                    .compare_exchange(generation, 0, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    let _ = tx.try_send(sched.instant_at(now));
                }
                None
            })
        };
        let timer = Timer {
            shared: TimerShared::new(fire),
            armed,
            rx,
        };
        timer.reset(duration);
        timer
    }

    /// The channel the time arrives on.
    pub fn channel(&self) -> &Receiver<Instant> {
        &self.rx
    }

    /// Stops the timer; true if that prevented it from firing.
    pub fn stop(&self) -> bool {
        let was_pending = self.armed.swap(0, Ordering::AcqRel) != 0;
        self.shared.invalidate();
        was_pending
    }

    /// Re-arms the timer to fire after `duration`; true if it was still
    /// pending (so this replaced a deadline, as Go's `Reset` reports). A
    /// value already sent and unread stays in the channel, as in Go.
    pub fn reset(&self, duration: Duration) -> bool {
        let generation = self.shared.invalidate();
        let was_pending = self.armed.swap(generation, Ordering::AcqRel) != 0;
        arm_generation(
            machine_for("grt::time::Timer"),
            &self.shared,
            generation,
            deadline_after(duration),
        );
        was_pending
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.shared.invalidate();
    }
}
