//! The per-P timer heap: Go 1.14+'s `pp.timers` (time.go).
//!
//! Before Go 1.14 every timer lived in one of 64 global buckets, each with
//! its own goroutine (`timerproc`) sleeping until the next deadline: a
//! timer firing cost two context switches and contention on the bucket.
//! Go 1.14 moved timers into the P that created them and let the scheduler
//! run them: `checkTimers` at every `schedule`, other Ps' timers while
//! stealing, and the M that blocks for lack of work sleeps only until the
//! earliest timer (`netpoll(delay)`). We do the same; without a net poller
//! yet, the sleeping M waits on its note with a deadline (schedule.rs).
//!
//! A heap entry is a (deadline, generation, timer) triple. Stopping or
//! resetting a timer does not search the heap: it bumps the timer's
//! generation, and an entry whose generation is stale is dropped when it
//! comes due, or earlier by a sweep whenever the heap has doubled (Go marks
//! such timers `timerDeleted` and sweeps them once they are a quarter of
//! the heap; without a sweep, a `recv_timeout(60 s)` that completed at once
//! would keep its entry, and the task it names, for a minute). What a timer does when it fires is a closure; it runs on g0
//! with the P held, so it must be short and must not block: waking a task
//! or a `try_send` on a channel.
//!
//! Invariant: `next` is the deadline of the heap's top entry (stale or
//! not), or `u64::MAX` when the heap is empty, so the scheduler can ask
//! "any timers?" with one atomic load, and reads the clock only if so.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

/// What a timer does when it fires, given the generation of the entry that
/// fired, its deadline and the time now (in the runtime's nanoseconds);
/// returns the next deadline for a periodic timer. The generation lets the
/// action tell a fire that raced a reset from the one it asked for.
pub type Fire = dyn Fn(u64, u64, u64) -> Option<u64> + Send + Sync;

/// A timer's identity and state, shared by its owner and its heap entry.
pub struct TimerShared {
    /// Bumped by every stop and reset; heap entries of older generations
    /// are dead.
    generation: AtomicU64,
    /// The action.
    fire: Box<Fire>,
}

impl TimerShared {
    pub fn new(fire: Box<Fire>) -> Arc<TimerShared> {
        Arc::new(TimerShared {
            generation: AtomicU64::new(0),
            fire,
        })
    }

    /// Invalidates every heap entry of this timer; returns the generation
    /// a new entry must carry.
    pub fn invalidate(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::AcqRel) + 1
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

struct Entry {
    when: u64,
    generation: u64,
    timer: Arc<TimerShared>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.when == other.when
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Entry) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Entry) -> std::cmp::Ordering {
        self.when.cmp(&other.when)
    }
}

/// Heap size below which pushes never sweep out stopped timers.
const SWEEP_MIN: usize = 64;

/// One P's timers.
pub struct TimerHeap {
    /// Earliest first.
    heap: Mutex<BinaryHeap<Reverse<Entry>>>,
    /// Deadline of the top entry, `u64::MAX` if none (see the invariant).
    next: AtomicU64,
    /// The size at which the next push sweeps: twice the live size left by
    /// the last sweep, so a sweep's O(n) is paid for by n pushes (a fixed
    /// trigger such as "size is a power of two" can fire on every push when
    /// the live count sits just below it). Changed only under `heap`'s lock.
    sweep_at: AtomicUsize,
}

impl TimerHeap {
    pub fn new() -> TimerHeap {
        TimerHeap {
            heap: Mutex::new(BinaryHeap::new()),
            next: AtomicU64::new(u64::MAX),
            sweep_at: AtomicUsize::new(SWEEP_MIN),
        }
    }

    /// The earliest deadline here, if any (possibly of a stopped timer).
    pub fn next_deadline(&self) -> Option<u64> {
        let next = self.next.load(Ordering::Acquire);
        (next != u64::MAX).then_some(next)
    }

    /// Entries in the heap, stopped timers not yet swept out included
    /// (Go's `timerslen` in schedtrace).
    pub fn len(&self) -> usize {
        self.heap.lock().len()
    }

    /// Arms `timer` (generation `generation`) to fire at `when`.
    pub fn push(&self, timer: Arc<TimerShared>, generation: u64, when: u64) {
        let mut heap = self.heap.lock();
        if heap.len() >= self.sweep_at.load(Ordering::Relaxed) {
            heap.retain(|Reverse(e)| e.timer.generation() == e.generation);
            self.sweep_at
                .store((2 * heap.len()).max(SWEEP_MIN), Ordering::Relaxed);
        }
        heap.push(Reverse(Entry {
            when,
            generation,
            timer,
        }));
        self.publish_next(&heap);
    }

    fn publish_next(&self, heap: &BinaryHeap<Reverse<Entry>>) {
        let next = heap.peek().map_or(u64::MAX, |Reverse(e)| e.when);
        self.next.store(next, Ordering::Release);
    }

    /// Runs every timer due at `now` (Go's `runtimer` loop in
    /// `checkTimers`); returns how many fired. Periodic timers are pushed
    /// back with their next deadline.
    pub fn run_due(&self, now: u64) -> usize {
        if self.next.load(Ordering::Acquire) > now {
            return 0;
        }
        let mut fired = 0;
        loop {
            let entry = {
                let mut heap = self.heap.lock();
                let due = matches!(heap.peek(), Some(Reverse(e)) if e.when <= now);
                let entry = if due {
                    heap.pop().map(|Reverse(e)| e)
                } else {
                    None
                };
                self.publish_next(&heap);
                match entry {
                    Some(entry) => entry,
                    None => return fired,
                }
            };
            // Fire outside the heap lock: the action may arm timers.
            if entry.timer.generation() != entry.generation {
                continue;
            }
            fired += 1;
            if let Some(next) = (entry.timer.fire)(entry.generation, entry.when, now) {
                if entry.timer.generation() == entry.generation {
                    self.push(entry.timer, entry.generation, next);
                }
            }
        }
    }

    /// Drops every entry (runtime shutdown).
    pub fn clear(&self) {
        let mut heap = self.heap.lock();
        heap.clear();
        self.publish_next(&heap);
    }
}
