"""grt's gdb commands: `info tasks`, `task <id> [command]`, `info procs`.

Go's runtime-gdb.py gives gdb `info goroutines` and `goroutine N bt`; this
is the same for grt's tasks. lib.rs embeds this file with
`#![debugger_visualizer(gdb_script_file = ...)]` in the `.debug_gdb_scripts`
section of every binary that links grt, and gdb runs it when it loads the
binary, if its auto-load safe-path allows: one line in ~/.gdbinit,
`add-auto-load-safe-path /path/to/your/target` (or `set auto-load safe-path /`
to trust everything), or `-iex 'add-auto-load-safe-path /'` when starting gdb.

    info tasks              one line per task: id, state, wait reason, name,
                            the M and P running it, the closure it runs
    task <id> [command]     runs a gdb command (default `bt`) as if the
                            task were the selected thread
    task all [command]      the same, for every task
    info procs              the Ps (status, run queue, runnext, M) and Ms
    info grt-layout         what this script knows about the layout, and,
                            in a debug build, whether DWARF agrees

How it finds things
-------------------
Only by reading memory: no calls into the process (which may be stopped
holding the very locks such a call would take), and no types from DWARF,
because the release profile's `debug = 1` keeps function names and line
tables but no types.

1. `GRT_DEBUG`, a `#[no_mangle]` static (runtime/src/debug.rs), found by
   `info address`. Its header gives the slots of live runtimes (each a
   `*const Sched`, set while `grt::run` runs) and a table of named numbers:
   `grt::task::Task.state` is the offset of a task's state byte, and so on,
   computed by the compiler for the binary at hand.
2. Layouts private to std and parking_lot (where a `Vec` keeps its pointer
   and length, which half of a fat pointer is the address, where an `Arc`
   keeps its strong count) are measured here from `GRT_DEBUG`'s samples:
   values the first `run` made, with the answers stored beside them.
3. From a runtime's `Sched`: `procs` (a boxed slice of Ps) and `all_ms`.
   Each P's `all_tasks` is a `Mutex<Vec<Weak<Task>>>`; a `Weak` is the
   address of the Arc's block (counts, then the Task), and a strong count
   of 0 means the task is gone.
4. A task's saved stack pointer is `context.sp`. A task that is running has
   a stale one; which task a thread runs is found the other way round: the
   thread's stack pointer lies inside that task's stack (`Task.stack`:
   base and length). The thread's name, `grt-m<id>`, is its M, and the M
   says which P it holds.

`task <id> bt`
--------------
A parked task's registers are where `grt_switch` pushed them on its own
stack (runtime/src/arch/x86_64.rs): at the saved stack pointer, the
floating-point control word slot, then r15, r14, r13, r12, rbx, rbp and the
return address into the task. The command loads those into the selected
thread, with rsp at the saved stack pointer and rip at grt_switch's
`mov [rdi], rsp` (the instruction that saved it), so the thread looks as the
task did at that moment and gdb unwinds the rest with grt_switch's CFI; it
runs the gdb command and puts the thread's own registers back, as Go's
`goroutine N bt` does. (Should that instruction not be found, rip is the
return address and rsp the word above it: as if grt_switch had returned.)
The backtrace ends at `grt_task_trampoline`, whose CFI marks its return
address undefined. A running task is shown on the thread that runs it.
Registers cannot be written in a core file, so there only `info tasks` and
`info procs` work.

The Spawned column
------------------
The outermost frame of the task's stack that is the program's own code,
not grt's or std's: for a task started with `go(move || ...)` the closure,
printed `path::to::fn::{closure#N}` (the function it was written in), for
one started with `go(some_fn)` that function. It is found by unwinding the
task's stack as `task N bt` does, loading only rip and rsp (about a
millisecond a parked task, most of it in the register writes). A task that
has not started has no stack yet; its `main` field holds the
`Arc<dyn TaskMain>` of a `grt::join::Packet<F, T>`, whose vtable's `run`
is named `grt::join::{impl#N}::run<F, T>`: F is read from that name (a
plain function shows as its type, `fn()`). The main task shows the closure
given to `grt::run`. Without debug info the column stays empty: the
frames would not show what was inlined.
"""

import bisect
import re
import struct

import gdb

# `TaskState` and `WaitReason` of runtime/src/task.rs: (variant, value,
# how it prints; the wait reasons as `WaitReason::as_str`, Go's words).
# `info grt-layout` compares them with the enums' DWARF in a debug build.
TASK_STATES = [
    ("Runnable", 0, "runnable"),
    ("Running", 1, "running"),
    ("Waiting", 2, "waiting"),
    ("Dead", 3, "dead"),
    ("Syscall", 4, "syscall"),
]
WAIT_REASONS = [
    ("None", 0, ""),
    ("Join", 1, "join"),
    ("Park", 2, "park"),
    ("ChanSend", 3, "chan send"),
    ("ChanRecv", 4, "chan receive"),
    ("Select", 5, "select"),
    ("Sleep", 6, "sleep"),
    ("MutexLock", 7, "sync.Mutex.Lock"),
    ("RwLockRead", 8, "sync.RWMutex.RLock"),
    ("RwLockWrite", 9, "sync.RWMutex.Lock"),
    ("CondvarWait", 10, "sync.Cond.Wait"),
    ("WaitGroup", 11, "sync.WaitGroup.Wait"),
    ("Semaphore", 12, "semacquire"),
    ("Once", 13, "sync.Once.Do"),
    ("IoWait", 14, "IO wait"),
]
STATE_NAMES = {value: text for _, value, text in TASK_STATES}
REASON_NAMES = {value: text for _, value, text in WAIT_REASONS}
RUNNING, WAITING, DEAD, SYSCALL = 1, 2, 3, 4

# What grt_switch leaves at a parked task's saved stack pointer, one word
# each (arch/x86_64.rs, the invariant at the top and `init_stack`).
SWITCH_FRAME = ["fpcw", "r15", "r14", "r13", "r12", "rbx", "rbp", "rip"]
# The registers `task N <command>` replaces, and puts back.
SWAPPED_REGS = ["rsp", "rip", "rbp", "rbx", "r12", "r13", "r14", "r15"]

VERSION = 1
NO_P = (1 << 64) - 1
# Bounds for values read from a process that may be stopped mid-update.
MAX_TASKS_PER_P = 1 << 24
MAX_PROCS = 1 << 16


def _read(addr, size):
    return gdb.selected_inferior().read_memory(addr, size).tobytes()


def _words(addr, count):
    if count == 0:
        return ()
    return struct.unpack("<%dQ" % count, _read(addr, 8 * count))


def _u64(addr):
    return _words(addr, 1)[0]


def _u32(addr):
    return struct.unpack("<I", _read(addr, 4))[0]


def _u8(addr):
    return _read(addr, 1)[0]


def _symbol_address(name):
    """The address of a symbol with or without debug info, via `info address`."""
    try:
        out = gdb.execute("info address %s" % name, to_string=True)
    except gdb.error:
        return None
    match = re.search(r"\bat (?:address )?(0x[0-9a-fA-F]+)", out)
    return int(match.group(1), 16) if match else None


def _only_index(words, value, what):
    """The offset of the one word of `words` equal to `value`."""
    hits = [i for i, w in enumerate(words) if w == value]
    if len(hits) != 1:
        raise gdb.GdbError("grt: cannot tell where %s is (samples %s)" % (what, words))
    return 8 * hits[0]


class Layout:
    """`GRT_DEBUG` decoded: the runtimes, the table, and std's layouts."""

    def __init__(self):
        addr = _symbol_address("GRT_DEBUG")
        if addr is None:
            raise gdb.GdbError("grt: no GRT_DEBUG symbol: this program does not link grt")
        magic = _read(addr, 8)
        version, max_runtimes, layout_len, names_len, samples = _words(addr + 8, 5)
        if magic != b"grtdebug" or version != VERSION:
            raise gdb.GdbError(
                "grt: GRT_DEBUG is version %d (%r); this script reads version %d"
                % (version, magic, VERSION)
            )
        runtimes_at = addr + 48
        layout_at = runtimes_at + 8 * max_runtimes
        self.runtimes = [s for s in _words(runtimes_at, max_runtimes) if s]
        values = _words(layout_at, layout_len)
        names = _read(layout_at + 8 * layout_len, names_len).split(b"\0")[:layout_len]
        self.table = dict(zip((n.decode() for n in names), values))
        self.measured = {}
        if samples:
            self._measure(samples)

    def __getitem__(self, name):
        return self.table[name]

    def field(self, path, name):
        return self.table["%s.%s" % (path, name)]

    def _measure(self, samples):
        """Std's private layouts, from the samples and their answers."""

        def s(name):
            return samples + self.field("grt::debug::Samples", name)

        vec = _words(s("vec"), self["size alloc::vec::Vec<u64>"] // 8)
        self.vec_ptr = _only_index(vec, _u64(s("vec_ptr")), "a Vec's pointer")
        self.vec_len = _only_index(vec, _u64(s("vec_len")), "a Vec's length")
        fat = _words(s("slice"), self["size alloc::boxed::Box<[u64]>"] // 8)
        self.fat_data = _only_index(fat, _u64(s("slice_ptr")), "a fat pointer's address")
        self.fat_meta = _only_index(fat, _u64(s("slice_len")), "a fat pointer's length")
        inner = _u64(s("arc"))
        if _u64(s("weak")) != inner:
            raise gdb.GdbError("grt: an Arc and its Weak do not point at the same block")
        self.arc_data = _u64(s("arc_data")) - inner
        # Three strong references; the weak count is 1 + one Weak = 2.
        self.arc_strong = _only_index(_words(inner, self.arc_data // 8), 3, "an Arc's count")
        self.mutex_data = _u64(s("mutex_data")) - s("mutex")
        self.measured = {
            "Vec.ptr": self.vec_ptr,
            "Vec.len": self.vec_len,
            "fat pointer address": self.fat_data,
            "fat pointer metadata": self.fat_meta,
            "Arc block: strong count": self.arc_strong,
            "Arc block: data": self.arc_data,
            "parking_lot Mutex: data": self.mutex_data,
        }

    def vec(self, addr):
        """The words of the `Vec` of 8-byte elements at `addr`."""
        ptr, length = _u64(addr + self.vec_ptr), _u64(addr + self.vec_len)
        if length > MAX_TASKS_PER_P:
            return ()
        return _words(ptr, length)

    def fat(self, addr):
        """(address, metadata) of the fat pointer at `addr`."""
        return _u64(addr + self.fat_data), _u64(addr + self.fat_meta)


class Task:
    """One task, read from its address (the data of its Arc)."""

    def __init__(self, layout, runtime, addr):
        f = lambda name: addr + layout.field("grt::task::Task", name)
        self.runtime = runtime
        self.addr = addr
        self.id = _u64(f("id"))
        self.state = _u8(f("state"))
        self.reason = _u8(f("wait_reason"))
        name_ptr, name_len = layout.fat(f("name"))
        self.name = None
        if name_ptr:
            self.name = _read(name_ptr, min(name_len, 200)).decode("utf-8", "replace")
        self.sp = _u64(f("context") + layout["grt::arch::x86_64::Context.sp"])
        base = _u64(f("stack") + layout["grt::stack::Stack.base"])
        length = _u64(f("stack") + layout["grt::stack::Stack.len"])
        self.stack = (base, base + length) if base else None
        main_ptr, main_vtable = layout.fat(f("main"))
        self.main_vtable = main_vtable if main_ptr else None
        # Filled by _find_threads: the thread running this task.
        self.thread = None

    def label(self):
        if self.runtime.number is None:
            return str(self.id)
        return "%d.%d" % (self.runtime.number, self.id)

    def state_text(self):
        return STATE_NAMES.get(self.state, "state %d" % self.state)

    def reason_text(self):
        if self.state != WAITING:
            return ""
        return REASON_NAMES.get(self.reason, "reason %d" % self.reason)


class M:
    """An M's shared half (`MachineShared`)."""

    def __init__(self, layout, addr):
        f = lambda name: addr + layout.field("grt::machine::MachineShared", name)
        self.id = _u64(f("id"))
        p = _u64(f("p"))
        self.p = None if p == NO_P else p
        self.spinning = _u8(f("spinning")) != 0
        self.locked = _u8(f("locked")) != 0
        self.in_blocking = _u8(f("in_blocking")) != 0


class Runtime:
    """One live `grt::run`, read from its `Sched`."""

    def __init__(self, layout, sched, number):
        self.layout = layout
        self.sched = sched
        # Shown before task ids only when several runtimes are live.
        self.number = number
        procs, nprocs = layout.fat(sched + layout["grt::sched::Sched.procs"])
        size = layout["size grt::processor::Processor"]
        self.procs = [procs + i * size for i in range(min(nprocs, MAX_PROCS))]
        self.global_len = _u64(sched + layout["grt::sched::Sched.global_len"])

    def _arcs(self, vec_addr):
        """The data addresses behind a Vec of Arcs or Weaks, live ones only."""
        layout = self.layout
        for inner in layout.vec(vec_addr):
            # Weak::new() is a dangling usize::MAX with no block behind it.
            if inner in (0, (1 << 64) - 1):
                continue
            try:
                if _u64(inner + layout.arc_strong) == 0:
                    continue
            except gdb.MemoryError:
                continue
            yield inner + layout.arc_data

    def tasks(self):
        """Every task still alive, by id (the per-P lists of all_tasks.rs)."""
        layout = self.layout
        tasks = []
        for p in self.procs:
            tasks_vec = (
                p
                + layout["grt::processor::Processor.all_tasks"]
                + layout["grt::all_tasks::TaskList.tasks"]
                + layout.mutex_data
            )
            for addr in self._arcs(tasks_vec):
                try:
                    tasks.append(Task(layout, self, addr))
                except gdb.MemoryError:
                    pass
        tasks.sort(key=lambda t: t.id)
        return tasks

    def ms(self):
        """Every M, in the order they started (`Sched::all_ms`)."""
        vec = self.sched + self.layout["grt::sched::Sched.all_ms"] + self.layout.mutex_data
        return [M(self.layout, addr) for addr in self._arcs(vec)]

    def proc(self, addr):
        """(id, status, local queue length, runnext task address or 0) of a P."""
        layout = self.layout
        f = lambda name: addr + layout.field("grt::processor::Processor", name)
        runq = f("runq")
        head = _u32(runq + layout["grt::run_queue::RunQueue.head"])
        tail = _u32(runq + layout["grt::run_queue::RunQueue.tail"])
        runnext = _u64(runq + layout["grt::run_queue::RunQueue.runnext"])
        return _u64(f("id")), _u8(f("status")), (tail - head) & 0xFFFFFFFF, runnext


def _runtimes():
    layout = Layout()
    if not layout.runtimes:
        raise gdb.GdbError("grt: no runtime is running (grt::run has not started or has returned)")
    several = len(layout.runtimes) > 1
    return [Runtime(layout, s, i if several else None) for i, s in enumerate(layout.runtimes)]


def _m_of_thread(thread):
    match = re.fullmatch(r"grt-m(\d+)", thread.name or "")
    return int(match.group(1)) if match else None


def _thread_text(thread):
    if thread is None:
        return "-"
    m = _m_of_thread(thread)
    return ("M%d " % m if m is not None else "") + "thread %d" % thread.num


class _KeepSelection:
    """Restores the selected thread and frame on exit."""

    def __enter__(self):
        self.thread = gdb.selected_thread()
        self.level = None
        try:
            frame, self.level = gdb.selected_frame(), 0
            while frame.newer() is not None:
                frame, self.level = frame.newer(), self.level + 1
        except gdb.error:
            pass
        return self

    def __exit__(self, *exc):
        if self.thread is not None and self.thread.is_valid():
            self.thread.switch()
            if self.level is not None:
                try:
                    gdb.execute("frame %d" % self.level, to_string=True)
                except gdb.error:
                    pass
        return False


def _find_threads(tasks):
    """Marks each task whose stack holds a thread's stack pointer as run by
    that thread. Looks at a thread's innermost frames, not only the first:
    a task's thread may be in a signal handler on another stack."""
    spans = sorted((t.stack[0], t.stack[1], t) for t in tasks if t.stack)
    starts = [s[0] for s in spans]
    if not spans:
        return
    with _KeepSelection():
        for thread in gdb.selected_inferior().threads():
            thread.switch()
            try:
                frame = gdb.newest_frame()
            except gdb.error:
                continue
            for _ in range(16):
                if frame is None:
                    break
                sp = int(frame.read_register("rsp"))
                i = bisect.bisect_right(starts, sp) - 1
                if i >= 0 and spans[i][0] <= sp < spans[i][1]:
                    spans[i][2].thread = thread
                    break
                try:
                    frame = frame.older()
                except gdb.error:
                    break


# Where a frame's function belongs to the runtime or the standard library
# rather than to the program (for the Spawned column).
RUNTIME_CODE = re.compile(r"(grt|std|core|alloc|panic_unwind)::|__rust|grt_task_trampoline$")
PACKET_RUN = re.compile(r"grt::join::\{impl#\d+\}::run<(.*)>$")
# Frames walked at most, per task, for the Spawned column.
MAX_FRAMES = 256


def _spawned_from_vtable(vtable):
    """F of the `Packet<F, T>` whose `TaskMain` vtable is at `vtable`: the
    name of its `run` method says it. Entries that are not code (the size
    and alignment) find no function and are passed over."""
    # drop_in_place, size, align, then the methods: run, abandon.
    for word in _words(vtable, 5):
        try:
            block = gdb.block_for_pc(word)
        except RuntimeError:
            continue
        while block is not None:
            if block.function is not None:
                match = PACKET_RUN.match(block.function.name)
                if match:
                    return _pretty_closure(_first_generic(match.group(1)))
            block = block.superblock
    return ""


def _outermost_program_frame():
    """The name of the outermost frame of the selected thread that is the
    program's own code: Rust (its source file ends in `.rs`), and not
    grt's or std's. Only frames with debug info count: without it, inlined
    frames are invisible and the answer would be a guess."""
    found = ""
    try:
        frame = gdb.newest_frame()
        for _ in range(MAX_FRAMES):
            if frame is None:
                break
            name, function = frame.name(), frame.function()
            if (
                name
                and function is not None
                and function.symtab is not None
                and function.symtab.filename.endswith(".rs")
                and not RUNTIME_CODE.match(name)
            ):
                found = name
            frame = frame.older()
    except gdb.error:
        pass
    return found


def _spawned_column(tasks):
    """What each task was spawned with (see the module comment), by task
    address. Parked tasks go through one `_TaskRegisters`, loading rip and
    rsp only: the writes, not the unwinding, are what costs."""
    spawned, parked = {}, []
    for task in tasks:
        try:
            if task.state == DEAD:
                continue
            if task.main_vtable is not None:
                spawned[task.addr] = _spawned_from_vtable(task.main_vtable)
            elif task.thread is not None:
                with _KeepSelection():
                    task.thread.switch()
                    spawned[task.addr] = _outermost_program_frame()
            elif task.stack is not None and task.sp:
                parked.append(task)
        except (gdb.error, gdb.MemoryError):
            pass
    if parked:
        with _KeepSelection(), _TaskRegisters() as regs:
            for task in parked:
                try:
                    regs.load(task, all_registers=False)
                except gdb.GdbError:
                    break  # registers cannot be written here (a core file)
                except gdb.MemoryError:
                    continue
                spawned[task.addr] = _outermost_program_frame()
    return spawned


def _first_generic(args):
    """`A<x, y>, B` -> `A<x, y>`: the first of comma-separated generic args."""
    depth = 0
    for i, c in enumerate(args):
        if c in "<([{":
            depth += 1
        elif c in ">)]}":
            depth -= 1
        elif c == "," and depth == 0:
            return args[:i].strip()
    return args.strip()


def _pretty_closure(name):
    """`grt::runtime::...::{closure_env#0}<user::{closure_env#1}, T>` -> `user::{closure#1}`."""
    if name.startswith("grt::") and "<" in name:
        name = _first_generic(name[name.index("<") + 1 : -1])
    return name.replace("{closure_env#", "{closure#")


def _table(rows):
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


class InfoTasks(gdb.Command):
    """List grt's tasks: info tasks

One line per live task: id, state, wait reason, name, where it runs (M,
gdb thread, P) if it is running, and the closure or function it was
spawned with. `*` marks the running tasks. Tasks that have ended but whose
JoinHandle is still held are counted at the end, not listed. With several
runtimes in the process, ids read RUNTIME.ID."""

    def __init__(self):
        super().__init__("info tasks", gdb.COMMAND_STATUS)

    def invoke(self, arg, from_tty):
        for runtime in _runtimes():
            tasks = runtime.tasks()
            _find_threads(tasks)
            ms = {m.id: m for m in runtime.ms()}
            if runtime.number is not None:
                print("runtime %d (Sched at 0x%x):" % (runtime.number, runtime.sched))
            spawned = _spawned_column(tasks)
            rows = [["", "Task", "State", "Waiting for", "Name", "Running on", "Spawned"]]
            ended = 0
            for task in tasks:
                if task.state == DEAD:
                    ended += 1
                    continue
                where = ""
                if task.thread is not None:
                    where = _thread_text(task.thread)
                    m = ms.get(_m_of_thread(task.thread))
                    if m is not None and m.p is not None and task.state != SYSCALL:
                        where += " P%d" % m.p
                elif task.state in (RUNNING, SYSCALL):
                    where = "(between switches)"
                rows.append(
                    [
                        "*" if task.thread is not None else "",
                        task.label(),
                        task.state_text(),
                        task.reason_text(),
                        task.name or "",
                        where,
                        spawned.get(task.addr, ""),
                    ]
                )
            _table(rows)
            if ended:
                plural = "" if ended == 1 else "s"
                print("(and %d ended task%s whose JoinHandle is not dropped yet)" % (ended, plural))


class TaskCommand(gdb.Command):
    """Run a gdb command as a grt task: task ID [COMMAND]

task 7 bt         backtrace of task 7 (COMMAND defaults to bt)
task 7 bt full    any gdb command: frame 3, info registers, ...
task all bt       every task in turn

A parked task's saved registers (where grt_switch pushed them) are loaded
into the selected thread for the duration of the command, then the
thread's own registers are put back. A running task's command runs on the
thread that runs it. Not in a core file: its registers cannot be written."""

    def __init__(self):
        super().__init__("task", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        which, _, command = arg.strip().partition(" ")
        command = command.strip() or "bt"
        if not which:
            raise gdb.GdbError("usage: task ID|all [COMMAND]")
        tasks = [t for r in _runtimes() for t in r.tasks()]
        if which != "all":
            tasks = [t for t in tasks if t.label() == which or str(t.id) == which]
            if not tasks:
                raise gdb.GdbError("grt: no live task %s (see info tasks)" % which)
            if len(tasks) > 1:
                raise gdb.GdbError(
                    "grt: several runtimes have a task %s: say RUNTIME.%s" % (which, which)
                )
        if which == "all":
            tasks = [t for t in tasks if t.state != DEAD]
        _find_threads(tasks)
        for task in tasks:
            if which == "all":
                name = " '%s'" % task.name if task.name else ""
                status = ", ".join(x for x in (task.state_text(), task.reason_text()) if x)
                print("\ntask %s%s [%s]:" % (task.label(), name, status))
            _run_as(task, command)


def _run_as(task, command):
    if task.thread is not None:
        print("task %s is running on %s" % (task.label(), _thread_text(task.thread)))
        with _KeepSelection():
            task.thread.switch()
            gdb.execute(command)
        return
    if task.state == DEAD:
        print("task %s has ended" % task.label())
        return
    if task.stack is None or not task.sp:
        print("task %s has not started: no stack, no frames" % task.label())
        return
    if task.state in (RUNNING, SYSCALL):
        print("task %s is %s but no thread is on its stack; its last saved registers:"
              % (task.label(), task.state_text()))
    with _KeepSelection(), _TaskRegisters() as regs:
        regs.load(task)
        gdb.execute(command)


class _TaskRegisters:
    """Loads parked tasks' saved registers into the selected thread, one
    task after another, and gives the thread its own back on exit,
    whatever happens in between."""

    def __enter__(self):
        # Registers are written in frame 0: in an older frame, gdb would
        # write a saved register's stack slot instead.
        gdb.newest_frame().select()
        frame = gdb.newest_frame()
        self.own = {r: int(frame.read_register(r)) & ((1 << 64) - 1) for r in SWAPPED_REGS}
        # Linux's record of an interrupted system call, which it restarts
        # on resume: gdb versions differ on whether writing rip clears it,
        # so it is put back too, last.
        self.restore = list(SWAPPED_REGS)
        try:
            self.own["orig_rax"] = int(frame.read_register("orig_rax")) & ((1 << 64) - 1)
            self.restore.append("orig_rax")
        except (ValueError, gdb.error):
            pass
        self.store_pc = _switch_store_pc()
        self.changed = False
        return self

    def load(self, task, all_registers=True):
        """Makes the selected thread look like `task` stopped in grt_switch.
        With `all_registers` False, only rip and rsp are loaded: enough for
        gdb to unwind, since grt_switch's CFI finds the rest on the stack."""
        saved = dict(zip(SWITCH_FRAME, _words(task.sp, len(SWITCH_FRAME))))
        if self.store_pc is not None:
            # Stopped in grt_switch itself, on the instruction that saves
            # rsp: the registers there are the task's, and gdb unwinds the
            # rest with grt_switch's CFI, so the task's frames come out
            # exactly, the innermost one included.
            saved["rip"], saved["rsp"] = self.store_pc, task.sp
        else:
            # As if grt_switch had just returned into the task.
            saved["rsp"] = task.sp + 8 * len(SWITCH_FRAME)
            all_registers = True
        names = SWAPPED_REGS if all_registers else ("rip", "rsp")
        try:
            _write_registers(saved, names)
        except gdb.error as err:
            try:
                _write_registers(self.own, self.restore)
            except gdb.error:
                pass  # nothing was written: registers are read-only here
            raise gdb.GdbError(
                "grt: cannot load task %s's registers (%s); a core file?" % (task.label(), err)
            )
        self.changed = True

    def __exit__(self, *exc):
        if self.changed:
            _write_registers(self.own, self.restore)
        return False


def _switch_store_pc():
    """The address of grt_switch's `mov [rdi], rsp`, where it saves the
    outgoing stack pointer, or None if it cannot be found. Frame 0 placed
    there reads better than one placed at the return address into the task:
    gdb looks up frame 0's line at its pc exactly, and the return address
    is often the first instruction of the task's next statement."""
    addr = _symbol_address("grt_switch")
    if addr is None:
        return None
    arch = gdb.selected_inferior().architecture()
    for insn in arch.disassemble(addr, count=16):
        asm = insn["asm"].replace(" ", "")
        if asm in ("mov%rsp,(%rdi)", "movQWORDPTR[rdi],rsp", "mov[rdi],rsp"):
            return insn["addr"]
    return None


def _write_registers(values, names):
    for name in names:
        gdb.execute("set var $%s = 0x%x" % (name, values[name]), to_string=True)


class InfoProcs(gdb.Command):
    """List grt's Ps and Ms: info procs

A line per P: status (Go's: idle, running, syscall = its M is in
grt::blocking), tasks in its local run queue, the task in its runnext slot,
the M holding it. Then a line per M: its gdb thread, its P, and whether it
is spinning (looking for work), locked to a task, or in a blocking call."""

    def __init__(self):
        super().__init__("info procs", gdb.COMMAND_STATUS)

    def invoke(self, arg, from_tty):
        for runtime in _runtimes():
            layout = runtime.layout
            status_names = {
                layout["grt::processor::IDLE"]: "idle",
                layout["grt::processor::RUNNING"]: "running",
                layout["grt::processor::SYSCALL"]: "syscall",
            }
            ms = runtime.ms()
            threads = {}
            for thread in gdb.selected_inferior().threads():
                if _m_of_thread(thread) is not None:
                    threads[_m_of_thread(thread)] = thread
            header = "%d Ps, %d Ms, global queue %d" % (
                len(runtime.procs), len(ms), runtime.global_len)
            if runtime.number is not None:
                header = "runtime %d (Sched at 0x%x): %s" % (runtime.number, runtime.sched, header)
            print(header)
            rows = [["P", "Status", "Run queue", "Runnext", "M"]]
            for addr in runtime.procs:
                pid, status, queued, runnext = runtime.proc(addr)
                next_text = "-"
                if runnext:
                    next_text = "task %d" % _u64(runnext + layout["grt::task::Task.id"])
                holder = [m for m in ms if m.p == pid]
                rows.append([
                    "P%d" % pid,
                    status_names.get(status, "status %d" % status),
                    str(queued),
                    next_text,
                    ", ".join(_thread_text(threads.get(m.id)) if m.id in threads
                              else "M%d" % m.id for m in holder) or "-",
                ])
            _table(rows)
            rows = [["M", "Thread", "P", "Doing"]]
            for m in ms:
                doing = [w for w, on in (("spinning", m.spinning), ("locked to a task", m.locked),
                                         ("in grt::blocking", m.in_blocking)) if on]
                thread = threads.get(m.id)
                rows.append([
                    "M%d" % m.id,
                    "%d %s" % (thread.num, thread.name) if thread else "-",
                    "P%d" % m.p if m.p is not None else "-",
                    ", ".join(doing),
                ])
            _table(rows)


class InfoLayout(gdb.Command):
    """Show what grt's gdb commands know of the layout: info grt-layout

Prints GRT_DEBUG's table and the layouts measured from its samples. In a
binary with DWARF types (a debug build), also compares every grt field
offset and size, and the TaskState and WaitReason tables of this script,
with DWARF, and says how many agree."""

    def __init__(self):
        super().__init__("info grt-layout", gdb.COMMAND_STATUS)

    def invoke(self, arg, from_tty):
        layout = Layout()
        print("GRT_DEBUG: %d live runtime(s)" % len(layout.runtimes))
        for name, value in sorted(layout.table.items()):
            print("  %-45s %d" % (name, value))
        for name, value in layout.measured.items():
            print("  %-45s %d (measured)" % (name, value))
        checked, wrong = 0, []
        for name, value in layout.table.items():
            found = _dwarf_value(name)
            if found is None:
                continue
            checked += 1
            if found != value:
                wrong.append("%s: table %d, DWARF %d" % (name, value, found))
        for path, table in (("grt::task::TaskState", TASK_STATES),
                            ("grt::task::WaitReason", WAIT_REASONS)):
            enum = _dwarf_struct(path, gdb.TYPE_CODE_ENUM)
            if enum is None:
                continue
            dwarf = {f.name.split("::")[-1]: f.enumval for f in enum.fields()}
            mine = {variant: value for variant, value, _ in table}
            checked += 1
            if dwarf != mine:
                wrong.append("%s: script %s, DWARF %s" % (path, mine, dwarf))
        if not checked:
            print("DWARF: no types in this binary (debug = 1?); nothing to compare")
            return
        print("DWARF: %d checked, %d mismatches" % (checked, len(wrong)))
        for line in wrong:
            print("  MISMATCH " + line)


def _dwarf_struct(path, code=gdb.TYPE_CODE_STRUCT):
    try:
        ty = gdb.lookup_type(path).strip_typedefs()
    except gdb.error:
        return None
    if ty.code != code or not ty.fields():
        return None
    return ty


def _dwarf_value(name):
    """What DWARF says of a table entry, or None if it says nothing."""
    if name.startswith("size grt::"):
        ty = _dwarf_struct(name[len("size "):])
        return ty.sizeof if ty is not None else None
    path, dot, field = name.rpartition(".")
    if not dot or not path.startswith("grt::"):
        return None
    ty = _dwarf_struct(path)
    if ty is None:
        return None
    for f in ty.fields():
        if f.name == field:
            return f.bitpos // 8
    return None


InfoTasks()
TaskCommand()
InfoProcs()
InfoLayout()
