//! G: a task, the unit of scheduling.
//!
//! Go's `g` (runtime2.go) is a goroutine's stack bounds, saved registers
//! (`gobuf`), status and wait reason. Ours is the same, plus the closure the
//! task will run and the one-bit park token that [`crate::park`] builds on.
//!
//! Invariants:
//! - A task is shared as `Arc<Task>` ([`TaskRef`]): the run queue, whoever
//!   will wake it, and its M while it runs each hold a reference. Exactly one
//!   of "a run queue", "a waker" and "an M" is responsible for running it at
//!   any moment; that is what the state machine below enforces.
//! - `context`, `stack`, `main`, `locked_to` and `pinned_for_unwind` are touched only by the M that is about
//!   to run the task or has just switched away from it, never concurrently:
//!   handing a task to a run queue (an Acquire/Release pair) hands these
//!   fields over with it.
//! - A task of the default stack size holds no stack until it first runs,
//!   and gives its stack back the moment it ends, so 100,000
//!   spawned-but-unstarted tasks cost 100,000 small heap objects, not
//!   100,000 mappings. (A task built with another stack size gets its own
//!   stack at spawn: no cache holds that size.)

use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::io;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use crate::arch::Context;
use crate::machine::MachineShared;
use crate::sched::Sched;
use crate::stack::Stack;
use crate::time::heap::TimerShared;

pub type TaskRef = Arc<Task>;

/// A task's identifier, unique within its runtime; the main task is 1, as
/// goroutine 1 is Go's `main`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(NonZeroU64);

impl TaskId {
    pub(crate) fn new(id: u64) -> TaskId {
        TaskId(NonZeroU64::new(id).expect("task ids start at 1"))
    }

    /// The number, as `info tasks` and traces print it.
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a task is in its life: Go's `_Grunnable`, `_Grunning`, `_Gwaiting`,
/// `_Gdead`, `_Gsyscall`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TaskState {
    /// In a run queue (or about to be), waiting for a P.
    Runnable = 0,
    /// On an M, executing.
    Running = 1,
    /// Parked; see its [`WaitReason`].
    Waiting = 2,
    /// Finished; its stack is gone.
    Dead = 3,
    /// Inside `grt::blocking`: its M runs it without a P.
    Syscall = 4,
}

impl TaskState {
    /// Lower-case, as schedtrace's detail lines print it.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Runnable => "runnable",
            TaskState::Running => "running",
            TaskState::Waiting => "waiting",
            TaskState::Dead => "dead",
            TaskState::Syscall => "syscall",
        }
    }
}

/// Why a task is parked: Go's `waitReason`. Each reason names one place that
/// parks, so a listing of blocked tasks says what each is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum WaitReason {
    /// Not waiting.
    None = 0,
    /// In `JoinHandle::join`, waiting for another task to finish.
    Join = 1,
    /// In `grt::park()`, waiting for `TaskHandle::unpark`.
    Park = 2,
    /// Blocked sending on a channel (Go's "chan send").
    ChanSend = 3,
    /// Blocked receiving from a channel (Go's "chan receive").
    ChanRecv = 4,
    /// Blocked in `select!` with no ready case (Go's "select").
    Select = 5,
    /// In `grt::time::sleep` (Go's "sleep").
    Sleep = 6,
    /// Waiting for a `grt::sync::Mutex` (Go's "sync.Mutex.Lock").
    MutexLock = 7,
    /// Waiting to read-lock a `grt::sync::RwLock` (Go's "sync.RWMutex.RLock").
    RwLockRead = 8,
    /// Waiting to write-lock a `grt::sync::RwLock` (Go's "sync.RWMutex.Lock").
    RwLockWrite = 9,
    /// In `Condvar::wait` (Go's "sync.Cond.Wait").
    CondvarWait = 10,
    /// In `WaitGroup::wait` (Go's "sync.WaitGroup.Wait").
    WaitGroup = 11,
    /// Waiting for a `Semaphore` permit (Go's "semacquire").
    Semaphore = 12,
    /// Waiting for another task's `Once` initialiser to finish.
    Once = 13,
    /// Waiting for a socket to become readable or writable (Go's "IO wait").
    IoWait = 14,
}

impl WaitReason {
    fn from_u8(v: u8) -> WaitReason {
        match v {
            1 => WaitReason::Join,
            2 => WaitReason::Park,
            3 => WaitReason::ChanSend,
            4 => WaitReason::ChanRecv,
            5 => WaitReason::Select,
            6 => WaitReason::Sleep,
            7 => WaitReason::MutexLock,
            8 => WaitReason::RwLockRead,
            9 => WaitReason::RwLockWrite,
            10 => WaitReason::CondvarWait,
            11 => WaitReason::WaitGroup,
            12 => WaitReason::Semaphore,
            13 => WaitReason::Once,
            14 => WaitReason::IoWait,
            _ => WaitReason::None,
        }
    }

    /// How Go's runtime would print it (`goroutine 7 [chan receive]:`).
    pub fn as_str(self) -> &'static str {
        match self {
            WaitReason::None => "",
            WaitReason::Join => "join",
            WaitReason::Park => "park",
            WaitReason::ChanSend => "chan send",
            WaitReason::ChanRecv => "chan receive",
            WaitReason::Select => "select",
            WaitReason::Sleep => "sleep",
            WaitReason::MutexLock => "sync.Mutex.Lock",
            WaitReason::RwLockRead => "sync.RWMutex.RLock",
            WaitReason::RwLockWrite => "sync.RWMutex.Lock",
            WaitReason::CondvarWait => "sync.Cond.Wait",
            WaitReason::WaitGroup => "sync.WaitGroup.Wait",
            WaitReason::Semaphore => "semacquire",
            WaitReason::Once => "sync.Once.Do",
            WaitReason::IoWait => "IO wait",
        }
    }
}

/// What a task runs: the user's closure together with the place its result
/// goes. Two ways to consume it, because a task that never gets a stack
/// must still tell its joiner why.
pub trait TaskMain: Send + Sync {
    /// Runs the task to completion on its own stack; never unwinds. Called once.
    fn run(&self);
    /// The task cannot start (no stack could be had); report `why` instead.
    fn abandon(&self, why: io::Error);
}

/// The park token: at most one pending wake-up, like `std::thread::park`'s.
pub(crate) const TOKEN_EMPTY: u8 = 0;
/// The task is off its M and waits for `unpark` to ready it.
pub(crate) const TOKEN_PARKED: u8 = 1;
/// An `unpark` arrived before (or while) the task parked.
pub(crate) const TOKEN_NOTIFIED: u8 = 2;

/// A task: Go's `g`.
pub struct Task {
    /// Unique within the runtime.
    pub id: TaskId,
    /// The name given at spawn, shown in panics, overflow reports and traces.
    pub name: Option<Box<str>>,
    /// The runtime this task belongs to; a wake-up from anywhere goes there.
    pub sched: Arc<Sched>,
    /// A `TaskState`.
    pub(crate) state: AtomicU8,
    /// A `WaitReason`, meaningful while `Waiting`.
    pub(crate) wait_reason: AtomicU8,
    /// TOKEN_EMPTY, TOKEN_PARKED or TOKEN_NOTIFIED.
    pub(crate) token: AtomicU8,
    /// Saved registers while the task is not running (Go's `gobuf`).
    pub(crate) context: UnsafeCell<Context>,
    /// The stack, from first run to exit.
    pub(crate) stack: UnsafeCell<Option<Stack>>,
    /// The closure, until the task starts.
    pub(crate) main: UnsafeCell<Option<Arc<dyn TaskMain>>>,
    /// The M this task is wired to by `lock_os_thread` (Go's `g.lockedm`),
    /// with the nesting depth of its lock calls.
    pub(crate) locked_to: UnsafeCell<Option<(Arc<MachineShared>, u32)>>,
    /// Whether lock.rs pinned this task to its thread because it parked
    /// while unwinding a panic.
    pub(crate) pinned_for_unwind: Cell<bool>,
    /// With `GRT_TRACE`: the flow arrow from whoever readied the task to
    /// its next run (trace/timeline.rs); 0 for none.
    pub(crate) trace_flow: AtomicU64,
    /// The timer that ends this task's waits with a deadline, made on the
    /// first such wait and re-armed for each one ([`Task::wake_timer`]).
    wake_timer: OnceLock<Arc<TimerShared>>,
}

// SAFETY: the UnsafeCell fields are only accessed by the single M that owns
// the task at that moment (see the module invariants); ownership passes
// between Ms through run queues and park tokens with Release/Acquire edges.
unsafe impl Sync for Task {}
// SAFETY: as above; the boxed closure is Send, Context is plain data.
unsafe impl Send for Task {}

impl Task {
    pub(crate) fn new(
        sched: Arc<Sched>,
        name: Option<String>,
        stack: Option<Stack>,
        main: Arc<dyn TaskMain>,
    ) -> Task {
        Task {
            id: sched.next_task_id(),
            name: name.map(String::into_boxed_str),
            sched,
            state: AtomicU8::new(TaskState::Runnable as u8),
            wait_reason: AtomicU8::new(WaitReason::None as u8),
            token: AtomicU8::new(TOKEN_EMPTY),
            context: UnsafeCell::new(Context::empty()),
            stack: UnsafeCell::new(stack),
            main: UnsafeCell::new(Some(main)),
            locked_to: UnsafeCell::new(None),
            pinned_for_unwind: Cell::new(false),
            trace_flow: AtomicU64::new(0),
            wake_timer: OnceLock::new(),
        }
    }

    /// A timer that unparks this task when it fires, for a wait that has a
    /// deadline: armed when the wait starts, invalidated when it ends. A
    /// task waits for one thing at a time, so one timer serves all its
    /// waits, and a socket read with a timeout allocates nothing for it
    /// (Go likewise keeps a timer in each `pollDesc` direction, and one in
    /// each g for `Sleep`, and resets them rather than making new ones).
    /// The timer holds the task weakly: a task never keeps itself alive.
    /// A fire that raced the invalidation can still unpark the task once,
    /// in a later park: every park in grt tolerates a spurious wake-up.
    pub(crate) fn wake_timer(self: &Arc<Self>) -> &Arc<TimerShared> {
        self.wake_timer.get_or_init(|| {
            let task = Arc::downgrade(self);
            TimerShared::new(Box::new(move |_, _, _| {
                if let Some(task) = task.upgrade() {
                    crate::park::unpark_task(&task);
                }
                None
            }))
        })
    }

    pub fn state(&self) -> TaskState {
        match self.state.load(Ordering::Acquire) {
            0 => TaskState::Runnable,
            1 => TaskState::Running,
            2 => TaskState::Waiting,
            4 => TaskState::Syscall,
            _ => TaskState::Dead,
        }
    }

    pub(crate) fn set_state(&self, state: TaskState) {
        self.state.store(state as u8, Ordering::Release);
    }

    pub fn wait_reason(&self) -> WaitReason {
        WaitReason::from_u8(self.wait_reason.load(Ordering::Relaxed))
    }

    pub(crate) fn set_wait_reason(&self, reason: WaitReason) {
        self.wait_reason.store(reason as u8, Ordering::Relaxed);
    }

    /// The M this task must run on, if it is locked to one.
    ///
    /// # Safety
    /// The caller owns the task (see the module invariants).
    pub(crate) unsafe fn locked_m(&self) -> Option<&Arc<MachineShared>> {
        // SAFETY: the caller owns the task.
        unsafe { (*self.locked_to.get()).as_ref().map(|(m, _)| m) }
    }

    /// `'name'` or `(unnamed)`, for messages.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or("(unnamed)")
    }
}
