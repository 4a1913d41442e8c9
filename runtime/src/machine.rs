//! M: an OS thread that runs tasks, and its g0 context.
//!
//! Go's `m` (runtime2.go). Each M runs the scheduler loop (`schedule`) on its
//! own thread stack, which Go calls the M's `g0`: the loop never runs on a
//! task's stack, so a task can park, exit or overflow without the scheduler
//! standing on the stack in question. A task gives the CPU back by
//! switching to g0 (Go's `mcall`) after leaving a note in `pending` saying
//! what it wants done (park it, requeue it, bury it); g0 does that on its own
//! stack, where it is safe to let another M pick the task up.
//!
//! The `Machine` lives on its thread's stack for the thread's whole life; a
//! thread-local pointer to it is how a task finds "its" M. Because a task can
//! move to another M whenever it switches out, a task must never hold a
//! `&Machine` across a switch: it asks [`current`] again afterwards.
//! (`current` is `#[inline(never)]` so the compiler cannot reuse a
//! thread-local address computed on one thread after the task resumed on
//! another.)
//!
//! What the M holds and does (its P, spinning, locked) is its own business,
//! but `GRT_SCHEDDETAIL` shows it from another thread: those few facts live
//! in atomics in `MachineShared`, written by the M only when they change,
//! never on the path that switches tasks.

use std::cell::{Cell, RefCell, UnsafeCell};
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use parking_lot::{Condvar, Mutex};

use crate::arch::Context;
use crate::overflow;
use crate::processor::Processor;
use crate::sched::Sched;
use crate::schedule;
use crate::task::{TaskRef, WaitReason};
use crate::trace::timeline;

/// What a task asked g0 to do with it when it switched out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pending {
    /// Nothing asked (g0 is running, not returning from a task).
    Nothing,
    /// `yield_now`: back to the run queue.
    Yield,
    /// The time slice is up (preempt.rs): to the global queue.
    Preempted,
    /// Park until unparked (the park token protocol in park.rs).
    Park(WaitReason),
    /// Back from `grt::blocking` to find that sysmon gave the P away and
    /// no idle one is left: queue the task and let the M sleep (Go's
    /// `exitsyscall0`).
    ExitBlocking,
    /// The task's closure has returned: free its stack.
    Exit,
}

/// Work handed to a sleeping M.
pub enum Wakeup {
    /// Run with P `p`; `spinning` says whether the waker counted this M as
    /// spinning (Go's `startm(pp, spinning)` sets `mp.spinning`).
    Handoff { p: usize, spinning: bool },
    /// Run the task locked to this M, with P `p` (Go's `startlockedm`).
    RunLocked { p: usize, task: TaskRef },
}

/// The part of an M that other threads touch: how to wake it, and what
/// the schedtrace monitor shows of it.
pub struct MachineShared {
    /// M id, for traces and thread names.
    pub id: usize,
    /// The P the M holds, `NO_P` if none (a copy of `Machine::p`).
    pub(crate) p: AtomicUsize,
    /// Looking for work without having found any (Go's `m.spinning`).
    pub spinning: OwnFlag,
    /// A task is locked to this M (Go's `m.lockedg`): while it is parked
    /// the M sleeps rather than run anything else.
    pub locked: OwnFlag,
    /// The M is running a task's `grt::blocking` call. SeqCst, unlike the
    /// other flags: `run` reads it at shutdown to decide not to wait for
    /// the call, and the M's exit reads the shutdown flag after clearing it
    /// (blocking.rs).
    pub in_blocking: AtomicBool,
    /// What the waker left for this M (Go's `m.nextp` plus the `m.park` note).
    note: Mutex<Note>,
    /// Signalled when `note` changes.
    wake: Condvar,
}

/// The M's mailbox. Hand-offs are exclusive (only the one waker that took
/// this M off an idle list may leave one), while the shutdown flag may be
/// raised at any time, even on top of a hand-off, so they are kept apart.
#[derive(Default)]
struct Note {
    handoff: Option<Wakeup>,
    shutdown: bool,
}

/// `MachineShared::p` of an M without a P.
const NO_P: usize = usize::MAX;

/// A flag of an M that only the M writes and any thread may read (the
/// schedtrace monitor). One writer, so `replace` is a load and a store, not
/// an atomic swap; Relaxed, because readers want a glimpse, not a
/// synchronisation point.
#[derive(Default)]
pub struct OwnFlag(AtomicBool);

impl OwnFlag {
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Called by the owning M only.
    pub fn set(&self, value: bool) {
        self.0.store(value, Ordering::Relaxed);
    }

    /// Called by the owning M only.
    pub fn replace(&self, value: bool) -> bool {
        let old = self.get();
        self.set(value);
        old
    }
}

impl MachineShared {
    /// A new M's shared half, listed in `all_ms`.
    fn register(sched: &Sched, id: usize, p: usize, spinning: bool) -> Arc<MachineShared> {
        let shared = Arc::new(MachineShared::new(id, p, spinning));
        sched.all_ms.lock().push(Arc::clone(&shared));
        shared
    }

    fn new(id: usize, p: usize, spinning: bool) -> MachineShared {
        MachineShared {
            id,
            p: AtomicUsize::new(p),
            spinning: OwnFlag(AtomicBool::new(spinning)),
            locked: OwnFlag::default(),
            in_blocking: AtomicBool::new(false),
            note: Mutex::new(Note::default()),
            wake: Condvar::new(),
        }
    }

    /// Go's `notewakeup(&mp.park)`: hands this M work.
    pub fn wake(&self, work: Wakeup) {
        let mut note = self.note.lock();
        assert!(
            note.handoff.is_none(),
            "grt: an M was handed two things at once (scheduler bug)"
        );
        note.handoff = Some(work);
        self.wake.notify_one();
    }

    /// Tells this M the runtime is ending; harmless if said twice.
    pub fn wake_for_shutdown(&self) {
        self.note.lock().shutdown = true;
        self.wake.notify_one();
    }

    /// The P this M holds, as last published by the M.
    pub fn p(&self) -> Option<usize> {
        Some(self.p.load(Ordering::Relaxed)).filter(|&p| p != NO_P)
    }

    /// Removes a hand-off nobody will act on (the M is exiting).
    pub fn take_handoff(&self) -> Option<Wakeup> {
        self.note.lock().handoff.take()
    }

    /// Go's `notesleep(&mp.park)`: blocks the thread until it is handed
    /// work (`Some`) or told to shut down (`None`). Work wins if both came.
    pub fn sleep(&self) -> Option<Wakeup> {
        let mut note = self.note.lock();
        loop {
            if let Some(work) = note.handoff.take() {
                return Some(work);
            }
            if note.shutdown {
                return None;
            }
            self.wake.wait(&mut note);
        }
    }
}

/// An M, owned by its thread and living on that thread's stack.
pub struct Machine {
    /// The runtime this M serves.
    pub sched: Arc<Sched>,
    /// What others need to wake this M.
    pub shared: Arc<MachineShared>,
    /// The P this M holds, if any (Go's `m.p`).
    p: Cell<Option<usize>>,
    /// That P's `preempt` flag, null without a P: what `checkpoint` reads,
    /// one pointer away from the thread-local.
    preempt_flag: Cell<*const AtomicBool>,
    /// The scheduler's saved context while a task runs (Go's `g0.sched`).
    pub g0: UnsafeCell<Context>,
    /// The task running on this M (Go's `m.curg`).
    current: UnsafeCell<Option<TaskRef>>,
    /// The running task's request to g0.
    pub pending: Cell<Pending>,
    /// State of this M's xorshift generator for steal order.
    rand: Cell<u64>,
    /// The running task is inside `grt::blocking`: this M has let go of
    /// its P, and [`current`] pretends it is a plain thread.
    pub blocking: Cell<bool>,
    /// Tokens of tasks a net poll found ready, reused between polls.
    pub poll_ready: RefCell<Vec<usize>>,
    /// This M's `GRT_TRACE` events not yet written out.
    pub trace: timeline::Buffer,
}

thread_local! {
    /// The Machine of this thread, or null on threads that are not Ms.
    static CURRENT: Cell<*const Machine> = const { Cell::new(std::ptr::null()) };
}

/// This thread's M, if it is one and is running the scheduler or a task
/// (not a task's `grt::blocking` call, whose code runs as if on a plain
/// thread: it holds no P, so it must not park or spawn).
///
/// The reference is valid until the calling task next switches out; do not
/// keep it across [`crate::park`]/`yield_now` (see the module comment).
#[inline(never)]
pub fn current<'a>() -> Option<&'a Machine> {
    this_thread().filter(|m| !m.blocking.get())
}

/// Whether sysmon has asked the task running on this thread to yield
/// (preempt.rs): false on threads that are not Ms, and on an M without a P
/// (inside `grt::blocking`). Not inlined, for the reason `current` is not.
#[inline(never)]
pub fn preempt_requested() -> bool {
    let ptr = CURRENT.with(Cell::get);
    // SAFETY: as in `this_thread`: a non-null CURRENT is this thread's live
    // Machine.
    let Some(m) = (unsafe { ptr.as_ref() }) else {
        return false;
    };
    let flag = m.preempt_flag.get();
    // SAFETY: a non-null flag points into a P of the Machine's Sched,
    // which the Machine keeps alive.
    !flag.is_null() && unsafe { (*flag).load(Ordering::Relaxed) }
}

/// This thread's M, if it is one, even inside `grt::blocking`: for the
/// panic hook and the stack overflow handler, which only name the task.
#[inline(never)]
pub fn this_thread<'a>() -> Option<&'a Machine> {
    let ptr = CURRENT.with(Cell::get);
    // SAFETY: CURRENT points at the Machine on this thread's stack, set by
    // `Machine::run_loop` for exactly as long as that Machine is alive; every
    // task runs inside that loop, so the Machine outlives any use by the
    // caller that respects the contract above.
    unsafe { ptr.as_ref() }
}

impl Machine {
    fn new(sched: Arc<Sched>, shared: Arc<MachineShared>, p: usize) -> Machine {
        let preempt_flag: *const AtomicBool = &sched.procs[p].preempt;
        Machine {
            sched,
            p: Cell::new(Some(p)),
            preempt_flag: Cell::new(preempt_flag),
            g0: UnsafeCell::new(Context::empty()),
            current: UnsafeCell::new(None),
            pending: Cell::new(Pending::Nothing),
            // Seeded from the M id: steal orders differ between Ms, which is
            // all the randomness is for.
            rand: Cell::new(0x9E37_79B9_7F4A_7C15 ^ ((shared.id as u64 + 1) << 17)),
            blocking: Cell::new(false),
            poll_ready: RefCell::new(Vec::new()),
            trace: timeline::Buffer::new(),
            shared,
        }
    }

    /// Runs the scheduler on the calling thread (a new one, from
    /// [`start_thread`]), holding P `p`, until the runtime shuts down.
    fn run(sched: Arc<Sched>, shared: Arc<MachineShared>, p: usize) {
        let m = Machine::new(sched, shared, p);
        let _altstack = overflow::AltStack::ensure();
        CURRENT.with(|c| c.set(&m));
        // Clears CURRENT however the loop ends: a panic on g0 (a scheduler
        // bug) must not leave this thread pointing at a dead Machine.
        struct ClearCurrent<'a>(&'a MachineShared);
        impl Drop for ClearCurrent<'_> {
            fn drop(&mut self) {
                CURRENT.with(|c| c.set(std::ptr::null()));
                drop(self.0.take_handoff());
            }
        }
        let _clear = ClearCurrent(&m.shared);
        if let Some(timeline) = &m.sched.timeline {
            timeline.m_started(&m);
        }
        schedule::schedule(&m);
        if let Some(timeline) = &m.sched.timeline {
            timeline.flush(&m);
        }
    }

    /// The P this M holds. Panics if it holds none (a scheduler bug).
    #[inline]
    pub fn p(&self) -> &Processor {
        match self.p.get() {
            Some(p) => &self.sched.procs[p],
            None => no_p(),
        }
    }

    pub fn p_id(&self) -> Option<usize> {
        self.p.get()
    }

    pub fn set_p(&self, p: Option<usize>) {
        self.p.set(p);
        self.preempt_flag.set(match p {
            Some(p) => &self.sched.procs[p].preempt,
            None => std::ptr::null(),
        });
        self.shared.p.store(p.unwrap_or(NO_P), Ordering::Relaxed);
    }

    /// The running task, if this M is running one.
    pub fn current_task(&self) -> Option<&TaskRef> {
        // SAFETY: `current` is only written by this M's g0 while no task
        // runs (set_current/take_current), and read by the task it names;
        // both are on this thread, never at the same time.
        unsafe { (*self.current.get()).as_ref() }
    }

    pub fn set_current(&self, task: TaskRef) {
        // SAFETY: called on g0 only, while no task runs on this M.
        unsafe { *self.current.get() = Some(task) }
    }

    pub fn take_current(&self) -> Option<TaskRef> {
        // SAFETY: as set_current.
        unsafe { (*self.current.get()).take() }
    }

    /// A pseudo-random number (xorshift64*), for steal order.
    pub fn rand(&self) -> u64 {
        let mut x = self.rand.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rand.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[cold]
fn no_p() -> ! {
    panic!("grt: an M without a P tried to schedule (scheduler bug)")
}

/// An M's thread, as `run` joins it at the end.
pub struct MachineThread {
    pub shared: Arc<MachineShared>,
    pub handle: thread::JoinHandle<()>,
}

/// Starts an OS thread for a new M that begins holding P `p` (Go's `newm`).
pub fn start_thread(sched: &Arc<Sched>, p: usize, spinning: bool) -> io::Result<MachineThread> {
    let id = sched.next_m_id();
    let shared = MachineShared::register(sched, id, p, spinning);
    let (sched, mine) = (Arc::clone(sched), Arc::clone(&shared));
    let handle = thread::Builder::new()
        .name(format!("grt-m{id}"))
        .spawn(move || {
            // A panic on g0 is a scheduler bug (task panics are caught by
            // their packets): the runtime's state can no longer be trusted,
            // and nobody is placed to report it. Go throws; so do we.
            if panic::catch_unwind(AssertUnwindSafe(|| Machine::run(sched, mine, p))).is_err() {
                eprintln!("grt: fatal error: M{id}'s scheduler loop panicked (a grt bug)");
                std::process::abort();
            }
        })?;
    Ok(MachineThread { shared, handle })
}
