//! What debuggers read: where a stopped process keeps its runtimes, and
//! where the fields of a task, a P and an M sit in memory.
//!
//! The gdb commands of `runtime/gdb/grt.py` (`info tasks`, `task N bt`,
//! `info procs`; embedded in every binary that links grt, see lib.rs) only
//! read the memory of a stopped process. They need two facts the program
//! does not otherwise publish:
//!
//! 1. **Where the runtimes are.** Each `grt::run` builds its `Sched` on the
//!    heap and nothing global points at it (several runtimes may run at
//!    once, one per test thread).
//! 2. **Where the fields are.** A debug build's DWARF describes every
//!    struct, but the release profile's `debug = 1` ("limited") keeps line
//!    tables and function names and drops the types, and a release build is
//!    the one gdb gets attached to when something is stuck in production.
//!
//! Both live in [`GRT_DEBUG`], one `#[no_mangle]` static that gdb finds by
//! its symbol name in any build that keeps a symbol table.
//!
//! Designs not taken:
//! - A function of ours for gdb to call (`call grt_dump_tasks()`): it would
//!   run code in a process stopped anywhere, perhaps inside the very lock
//!   the function takes; gdb resumes the other threads during the call
//!   unless the user has set scheduler-locking; and a core file cannot run
//!   code at all.
//! - A debugger-only list of tasks kept up to date: a store or two on every
//!   spawn and exit, for a tool that is rarely attached. The per-P
//!   `all_tasks` lists (the deadlock report's and `GRT_SCHEDDETAIL`'s) are
//!   such a list already; gdb reads them.
//! - Field offsets from DWARF alone: debug builds only (2 above). The script
//!   uses DWARF where it exists to check this module's table instead
//!   (`info grt-layout`).
//!
//! # The layout table
//! Named numbers: `path::Type.field` is a field's offset in its struct,
//! `size path::Type` a size, `path::NAME` a constant. They come from:
//! - `offset_of!` and `size_of` on grt's own structs: the fields gdb reads
//!   are `pub(crate)` for this module's sake, so a field added, moved or
//!   retyped changes the table by itself. (The gdb test also compares every
//!   offset of the table with the DWARF of a debug build:
//!   runtime/tests/gdb.rs.)
//! - The private layouts of std and parking_lot (a `Vec`'s pointer and
//!   length, the two halves of a fat pointer, an `Arc`'s counts, a `Mutex`'s
//!   data) cannot be named from here at all. The first `run` of the process
//!   leaves [`Samples`] of each with the answers beside them ("this `Vec`
//!   holds 1 element at this address") and the script finds the offsets by
//!   matching words, so they are measured on the std the program was built
//!   with, not assumed.
//!
//! # What it costs
//! `run` takes a slot of `GRT_DEBUG` with one compare-and-swap and frees it
//! with one store; the first `run` in the process also leaks the samples,
//! a few hundred bytes. Nothing else changes: no path that spawns, parks or
//! switches knows this module exists.

use std::mem::{align_of, offset_of, size_of};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Once, Weak};

use parking_lot::Mutex;

use crate::all_tasks::TaskList;
use crate::arch::Context;
use crate::machine::{MachineShared, OwnFlag};
use crate::processor::{self, Processor};
use crate::run_queue::RunQueue;
use crate::sched::Sched;
use crate::stack::Stack;
use crate::task::{Task, TaskId};

/// Runtimes that may be live at once and visible to a debugger; a `run`
/// beyond that many works as usual, but gdb does not see it. (Test
/// binaries run one runtime per test thread, a few dozen at most.)
const MAX_RUNTIMES: usize = 64;

/// Bumped when an entry of the table changes meaning or the header its
/// shape; the script refuses a version it does not know.
const VERSION: usize = 1;

/// Everything gdb reads to find its way, in one symbol.
///
/// `repr(C)`: the script reads the header by position. Six words, then
/// `runtimes`, `layout` and `names`, whose lengths the header gives.
#[repr(C)]
pub struct DebugInfo {
    /// `b"grtdebug"`: the script checks it before trusting anything else.
    magic: [u8; 8],
    /// [`VERSION`].
    version: usize,
    /// Entries of `runtimes`.
    max_runtimes: usize,
    /// Entries of `layout`.
    layout_len: usize,
    /// Bytes of `names`.
    names_len: usize,
    /// The [`Samples`], once the first `run` has made them; null before.
    samples: AtomicPtr<Samples>,
    /// The `Sched` of each live runtime, null in free slots: set by
    /// [`register`] right after `run` builds it, cleared when `run` returns.
    runtimes: [AtomicPtr<Sched>; MAX_RUNTIMES],
    /// The numbers of the layout table, in the order of `names`.
    layout: [usize; LAYOUT_LEN],
    /// The names of the layout table, each ending in a NUL byte.
    names: [u8; NAMES_LEN],
}

/// What gdb reads (see the module comment). Kept by `#[used]` and
/// `#[no_mangle]` in every build that calls `run`, release included.
#[used]
#[no_mangle]
pub static GRT_DEBUG: DebugInfo = DebugInfo {
    magic: *b"grtdebug",
    version: VERSION,
    max_runtimes: MAX_RUNTIMES,
    layout_len: LAYOUT_LEN,
    names_len: NAMES_LEN,
    samples: AtomicPtr::new(ptr::null_mut()),
    runtimes: [const { AtomicPtr::new(ptr::null_mut()) }; MAX_RUNTIMES],
    layout: layout_values(),
    names: layout_names(),
};

/// A runtime's place in [`GRT_DEBUG`]; dropping it takes the runtime off
/// the list. `run` holds it from just after building the `Sched` until it
/// returns (or unwinds), so a listed pointer always points at a live one.
pub struct Registration {
    /// The slot taken, or `None` if all were in use.
    slot: Option<usize>,
}

/// Lists `sched` for debuggers until the returned value is dropped, which
/// must happen before the `Sched` is freed.
pub fn register(sched: &Arc<Sched>) -> Registration {
    static SAMPLES: Once = Once::new();
    SAMPLES.call_once(|| {
        let samples: &'static mut Samples = Box::leak(Box::new(Samples::new()));
        // The mutex's data is inside it: its address is known once the
        // samples have stopped moving.
        samples.mutex_data = samples.mutex.data_ptr() as usize;
        GRT_DEBUG.samples.store(samples, Ordering::Release);
    });
    let sched = Arc::as_ptr(sched).cast_mut();
    let slot = GRT_DEBUG.runtimes.iter().position(|slot| {
        slot.compare_exchange(ptr::null_mut(), sched, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    });
    Registration { slot }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            GRT_DEBUG.runtimes[slot].store(ptr::null_mut(), Ordering::Release);
        }
    }
}

/// Values of std's and parking_lot's types with the answers beside them,
/// for the script to learn those types' private layouts by matching words
/// (see the module comment). Never read by Rust: they exist to be looked
/// at, hence `dead_code`.
#[repr(C)]
#[allow(dead_code)]
struct Samples {
    /// One element (`vec_len`) in a buffer at `vec_ptr`, capacity 4.
    vec: Vec<u64>,
    vec_ptr: usize,
    vec_len: usize,
    /// A fat pointer: three elements (`slice_len`) at `slice_ptr`.
    slice: Box<[u64]>,
    slice_ptr: usize,
    slice_len: usize,
    /// Three strong references (`arc` and `arc_more`) and one `Weak` to a
    /// value at `arc_data`.
    arc: Arc<u64>,
    arc_more: [Arc<u64>; 2],
    weak: Weak<u64>,
    arc_data: usize,
    /// A parking_lot mutex whose data is at `mutex_data` (set by
    /// `register`, once the samples are in place).
    mutex: Mutex<Vec<u64>>,
    mutex_data: usize,
}

impl Samples {
    fn new() -> Samples {
        let mut vec = Vec::with_capacity(4);
        vec.push(1);
        let slice: Box<[u64]> = Box::new([1, 2, 3]);
        let arc = Arc::new(1);
        Samples {
            vec_ptr: vec.as_ptr() as usize,
            vec_len: vec.len(),
            vec,
            slice_ptr: slice.as_ptr() as usize,
            slice_len: slice.len(),
            slice,
            arc_more: [Arc::clone(&arc), Arc::clone(&arc)],
            weak: Arc::downgrade(&arc),
            arc_data: Arc::as_ptr(&arc) as usize,
            arc,
            mutex: Mutex::new(Vec::new()),
            mutex_data: 0,
        }
    }
}

// The samples stand for the types gdb meets: a `Vec<Weak<Task>>` or
// `Vec<Arc<MachineShared>>` is laid out as a `Vec<u64>` (its element type
// only sizes the buffer), an `Arc<Task>`'s header as an `Arc<u64>`'s as
// long as the alignments agree, and a `Mutex<Vec<_>>` as a
// `Mutex<Vec<u64>>`.
const _: () = {
    assert!(align_of::<Task>() == align_of::<u64>());
    assert!(align_of::<MachineShared>() == align_of::<u64>());
    assert!(size_of::<Weak<Task>>() == size_of::<usize>());
    assert!(size_of::<Arc<MachineShared>>() == size_of::<usize>());
};

// What the table assumes of types it cannot take offsets in.
const _: () = {
    // `Context` is `repr(C)` around the saved stack pointer alone, so `sp`
    // is at offset 0; `OwnFlag` wraps one `AtomicBool`, `TaskId` one u64.
    assert!(size_of::<Context>() == size_of::<usize>());
    assert!(size_of::<OwnFlag>() == 1);
    assert!(size_of::<TaskId>() == size_of::<u64>());
    // An empty `Option<Stack>` is a null `base` (NonNull's niche).
    assert!(size_of::<Option<Stack>>() == size_of::<Stack>());
};

/// The layout table (see the module comment for the names).
const LAYOUT: &[(&str, usize)] = &[
    // The runtime: its Ps, its Ms and its global queue's length.
    ("grt::sched::Sched.procs", offset_of!(Sched, procs)),
    ("grt::sched::Sched.all_ms", offset_of!(Sched, all_ms)),
    (
        "grt::sched::Sched.global_len",
        offset_of!(Sched, global_len),
    ),
    // A P.
    ("size grt::processor::Processor", size_of::<Processor>()),
    ("grt::processor::Processor.id", offset_of!(Processor, id)),
    (
        "grt::processor::Processor.status",
        offset_of!(Processor, status),
    ),
    (
        "grt::processor::Processor.runq",
        offset_of!(Processor, runq),
    ),
    (
        "grt::processor::Processor.all_tasks",
        offset_of!(Processor, all_tasks),
    ),
    ("grt::processor::IDLE", processor::IDLE as usize),
    ("grt::processor::RUNNING", processor::RUNNING as usize),
    ("grt::processor::SYSCALL", processor::SYSCALL as usize),
    ("grt::run_queue::RunQueue.head", offset_of!(RunQueue, head)),
    ("grt::run_queue::RunQueue.tail", offset_of!(RunQueue, tail)),
    (
        "grt::run_queue::RunQueue.runnext",
        offset_of!(RunQueue, runnext),
    ),
    (
        "grt::all_tasks::TaskList.tasks",
        offset_of!(TaskList, tasks),
    ),
    // A task.
    ("grt::task::Task.id", offset_of!(Task, id)),
    ("grt::task::Task.name", offset_of!(Task, name)),
    ("grt::task::Task.state", offset_of!(Task, state)),
    ("grt::task::Task.wait_reason", offset_of!(Task, wait_reason)),
    ("grt::task::Task.context", offset_of!(Task, context)),
    ("grt::task::Task.stack", offset_of!(Task, stack)),
    ("grt::task::Task.main", offset_of!(Task, main)),
    ("grt::arch::x86_64::Context.sp", 0),
    ("grt::stack::Stack.base", offset_of!(Stack, base)),
    ("grt::stack::Stack.len", offset_of!(Stack, len)),
    // An M.
    (
        "grt::machine::MachineShared.id",
        offset_of!(MachineShared, id),
    ),
    (
        "grt::machine::MachineShared.p",
        offset_of!(MachineShared, p),
    ),
    (
        "grt::machine::MachineShared.spinning",
        offset_of!(MachineShared, spinning),
    ),
    (
        "grt::machine::MachineShared.locked",
        offset_of!(MachineShared, locked),
    ),
    (
        "grt::machine::MachineShared.in_blocking",
        offset_of!(MachineShared, in_blocking),
    ),
    // Where the samples' fields are.
    ("grt::debug::Samples.vec", offset_of!(Samples, vec)),
    ("grt::debug::Samples.vec_ptr", offset_of!(Samples, vec_ptr)),
    ("grt::debug::Samples.vec_len", offset_of!(Samples, vec_len)),
    ("grt::debug::Samples.slice", offset_of!(Samples, slice)),
    (
        "grt::debug::Samples.slice_ptr",
        offset_of!(Samples, slice_ptr),
    ),
    (
        "grt::debug::Samples.slice_len",
        offset_of!(Samples, slice_len),
    ),
    ("grt::debug::Samples.arc", offset_of!(Samples, arc)),
    ("grt::debug::Samples.weak", offset_of!(Samples, weak)),
    (
        "grt::debug::Samples.arc_data",
        offset_of!(Samples, arc_data),
    ),
    ("grt::debug::Samples.mutex", offset_of!(Samples, mutex)),
    (
        "grt::debug::Samples.mutex_data",
        offset_of!(Samples, mutex_data),
    ),
    ("size alloc::vec::Vec<u64>", size_of::<Vec<u64>>()),
    ("size alloc::boxed::Box<[u64]>", size_of::<Box<[u64]>>()),
];

const LAYOUT_LEN: usize = LAYOUT.len();

const NAMES_LEN: usize = {
    let mut len = 0;
    let mut i = 0;
    while i < LAYOUT_LEN {
        len += LAYOUT[i].0.len() + 1;
        i += 1;
    }
    len
};

const fn layout_values() -> [usize; LAYOUT_LEN] {
    let mut values = [0; LAYOUT_LEN];
    let mut i = 0;
    while i < LAYOUT_LEN {
        values[i] = LAYOUT[i].1;
        i += 1;
    }
    values
}

const fn layout_names() -> [u8; NAMES_LEN] {
    let mut names = [0; NAMES_LEN];
    let mut at = 0;
    let mut i = 0;
    while i < LAYOUT_LEN {
        let name = LAYOUT[i].0.as_bytes();
        let mut j = 0;
        while j < name.len() {
            names[at] = name[j];
            at += 1;
            j += 1;
        }
        // The NUL that ends the name is already there.
        at += 1;
        i += 1;
    }
    names
}
