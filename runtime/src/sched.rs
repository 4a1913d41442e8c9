//! The scheduler's shared state: Go's `schedt` (runtime2.go).
//!
//! One `Sched` per runtime, shared by its Ms and tasks through an `Arc`.
//! Nothing here is process-global, so several runtimes (one per `grt::run`
//! call, e.g. in parallel tests) never meet.
//!
//! The lock: like Go's `sched.lock`, one mutex guards the global run queue,
//! the idle P list and the idle M list together. Putting all three under one
//! lock is what makes "give up my P and go to sleep" atomic with respect to
//! "queue work and look for an idle P to run it", the heart of the spinning
//! protocol in schedule.rs. The counts that the fast paths read without the
//! lock (`global_len`, `npidle`, `nmspinning`) are mirrored in atomics and
//! only changed under the lock (except `nmspinning`, see schedule.rs).

use std::collections::VecDeque;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use grt_netpoll::Poller;

use crate::machine::{MachineShared, MachineThread};
use crate::processor::{self, Processor};
use crate::run_queue;
use crate::stack_pool::StackPool;
use crate::sysmon::SysmonNote;
use crate::task::{TaskId, TaskRef};
use crate::trace::timeline::Timeline;

/// What `sched.lock` protects.
pub struct Locked {
    /// The global run queue (Go's `sched.runq`): overflow from full local
    /// queues, and wake-ups from
    /// outside the runtime.
    pub global: VecDeque<TaskRef>,
    /// Ps that no M holds (Go's `sched.pidle`).
    pub idle_ps: Vec<usize>,
    /// Ms asleep in `stop_m`, waiting to be handed a P (Go's `sched.midle`).
    pub idle_ms: Vec<Arc<MachineShared>>,
    /// Ms asleep while the task locked to them is parked; not available
    /// for other work, but woken at shutdown.
    pub locked_ms: Vec<Arc<MachineShared>>,
    /// Set once the main task has returned; Ms exit instead of sleeping.
    pub shutting_down: bool,
}

pub struct Sched {
    /// All Ps, indexed by id; their number is fixed for the runtime's life.
    pub procs: Box<[Processor]>,
    /// Global queue, idle lists, shutdown flag.
    pub locked: Mutex<Locked>,
    /// `locked.global.len()`, readable without the lock.
    pub global_len: AtomicUsize,
    /// `locked.idle_ps.len()`, readable without the lock.
    pub npidle: AtomicUsize,
    /// Ms looking for work without having found any (Go's `sched.nmspinning`).
    pub nmspinning: AtomicUsize,
    /// `locked.shutting_down`, readable without the lock.
    pub shutdown: AtomicBool,
    /// The stack size tasks get unless their builder says otherwise.
    pub default_stack_size: usize,
    /// Spare default-size stacks shared by all Ps (Go's `stackpool`).
    pub stack_pool: StackPool,
    /// Next task id to hand out.
    next_task_id: AtomicU64,
    /// Next M id to hand out.
    next_m_id: AtomicUsize,
    /// OS threads started for Ms, joined when the runtime ends.
    pub threads: Mutex<Vec<MachineThread>>,
    /// Every M, in the order they started (Go's `allm`), for
    /// `GRT_SCHEDDETAIL`; Ms never leave before the runtime ends.
    pub all_ms: Mutex<Vec<Arc<MachineShared>>>,
    /// Threads of the runtime's own that are not Ms (Go's `sched.nmsys`,
    /// which counts sysmon): sysmon, the thread waiting in `run`, and the
    /// schedtrace monitor if tracing is on. `check_dead` counts them as
    /// the runtime's, not as outsiders.
    pub system_threads: AtomicUsize,
    /// Time zero of this runtime's timers (they count nanoseconds from it).
    epoch: Instant,
    /// The epoll instance that parks tasks on descriptors, and in which
    /// an idle M sleeps until the next timer (netpoll.rs).
    pub poller: Arc<Poller>,
    /// When the network was last polled, in timer nanoseconds; 0 while an
    /// M is blocked in the poll (Go's `sched.lastpoll`). Whoever swaps it
    /// to 0 is the one M allowed to block there.
    pub last_poll: AtomicU64,
    /// The deadline of the blocked poll, 0 if it has none (Go's
    /// `sched.pollUntil`): a timer armed earlier than this must wake it.
    pub poll_until: AtomicU64,
    /// How sysmon sleeps while every P is idle, and how it is woken.
    pub sysmon: SysmonNote,
    /// Most OS threads the runtime may start for Ms (Go's
    /// `debug.SetMaxThreads`); `GRT_MAXTHREADS`.
    pub max_threads: usize,
    /// The `GRT_TRACE` timeline, if one is being written.
    pub timeline: Option<Timeline>,
    /// Net polls made (`epoll_wait` calls), and the tasks they readied.
    pub net_polls: AtomicU64,
    pub net_polled_ready: AtomicU64,
}

impl Sched {
    pub fn new(
        nprocs: usize,
        default_stack_size: usize,
        max_threads: usize,
        timeline: Option<Timeline>,
    ) -> Sched {
        assert!(nprocs > 0, "a runtime needs at least one P");
        Sched {
            procs: (0..nprocs).map(Processor::new).collect(),
            locked: Mutex::new(Locked {
                global: VecDeque::new(),
                idle_ps: Vec::new(),
                idle_ms: Vec::new(),
                locked_ms: Vec::new(),
                shutting_down: false,
            }),
            epoch: Instant::now(),
            poller: Arc::new(Poller::new().unwrap_or_else(|err| {
                panic!("grt: cannot create the net poller (epoll_create1/eventfd): {err}")
            })),
            last_poll: AtomicU64::new(1),
            poll_until: AtomicU64::new(0),
            sysmon: SysmonNote::default(),
            max_threads,
            timeline,
            net_polls: AtomicU64::new(0),
            net_polled_ready: AtomicU64::new(0),
            global_len: AtomicUsize::new(0),
            npidle: AtomicUsize::new(0),
            nmspinning: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            default_stack_size,
            stack_pool: StackPool::default(),
            next_task_id: AtomicU64::new(1),
            next_m_id: AtomicUsize::new(0),
            threads: Mutex::new(Vec::new()),
            all_ms: Mutex::new(Vec::new()),
            system_threads: AtomicUsize::new(0),
        }
    }

    pub fn next_task_id(&self) -> TaskId {
        TaskId::new(self.next_task_id.fetch_add(1, Ordering::Relaxed))
    }

    /// `instant` in this runtime's timer nanoseconds.
    pub fn nanos_at(&self, instant: Instant) -> u64 {
        // Saturates short of u64::MAX, which means "no timer" (584 years on).
        let nanos = instant.saturating_duration_since(self.epoch).as_nanos();
        nanos.min(u128::from(u64::MAX - 1)) as u64
    }

    /// The instant of a timer-nanoseconds value.
    pub fn instant_at(&self, nanos: u64) -> Instant {
        self.epoch + Duration::from_nanos(nanos)
    }

    /// The time now, in timer nanoseconds.
    pub fn now_nanos(&self) -> u64 {
        self.nanos_at(Instant::now())
    }

    /// The earliest timer deadline on any P.
    pub fn next_timer(&self) -> Option<u64> {
        self.procs
            .iter()
            .filter_map(|p| p.timers.next_deadline())
            .min()
    }

    /// A timer was armed for `when`: make sure an M will be awake then
    /// (Go's `wakeNetPoller`). If an M is blocked in the poll and would
    /// sleep past `when`, it is woken to re-plan; if none is, an idle P is
    /// started, whose M will block in the poll with the right deadline if
    /// it finds nothing else to do.
    pub fn timer_armed(self: &Arc<Self>, when: u64) {
        // Orders the heap push before the reads below; the poller does the
        // mirror image (`block_in_netpoll` in schedule.rs).
        fence(Ordering::SeqCst);
        if self.last_poll.load(Ordering::SeqCst) == 0 {
            let until = self.poll_until.load(Ordering::SeqCst);
            if until == 0 || until > when {
                self.poller.wake();
            }
        } else {
            crate::schedule::wake_p(self);
        }
    }

    pub fn next_m_id(&self) -> usize {
        self.next_m_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Go's `globrunqput`/`globrunqputbatch`; the caller holds the lock.
    pub fn global_push(&self, locked: &mut Locked, tasks: impl IntoIterator<Item = TaskRef>) {
        locked.global.extend(tasks);
        self.global_len.store(locked.global.len(), Ordering::SeqCst);
    }

    /// Go's `globrunqget`: takes a fair share of the global queue for P `p`
    /// (all of it divided by the number of Ps, at most `max`, at most half a
    /// local ring), returns the first and moves the rest into P's ring.
    /// The caller holds the lock and owns P.
    pub fn global_take(&self, locked: &mut Locked, p: &Processor, max: usize) -> Option<TaskRef> {
        let len = locked.global.len();
        if len == 0 {
            return None;
        }
        let share = (len / self.procs.len() + 1)
            .min(len)
            .min(max.max(1))
            .min(run_queue::LEN as usize / 2)
            .min(p.runq.free_slots() as usize + 1);
        let first = locked.global.pop_front();
        p.runq.put_batch(locked.global.drain(..share - 1));
        self.global_len.store(locked.global.len(), Ordering::SeqCst);
        first
    }

    /// Go's `pidleput`; the caller holds the lock and gives up P `p`.
    pub fn idle_p_put(&self, locked: &mut Locked, p: usize) {
        self.procs[p]
            .status
            .store(processor::IDLE, Ordering::Relaxed);
        locked.idle_ps.push(p);
        self.npidle.store(locked.idle_ps.len(), Ordering::SeqCst);
    }

    /// Go's `pidleget`; the caller holds the lock. Wakes sysmon if it
    /// slept because every P was idle: from now on there is a P to watch.
    pub fn idle_p_get(&self, locked: &mut Locked) -> Option<usize> {
        let p = locked.idle_ps.pop()?;
        self.procs[p]
            .status
            .store(processor::RUNNING, Ordering::Relaxed);
        self.npidle.store(locked.idle_ps.len(), Ordering::SeqCst);
        self.sysmon.wake_if_asleep();
        Some(p)
    }
}
