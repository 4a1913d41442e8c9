//! Starting and ending a runtime: `grt::run` and `RuntimeBuilder`.
//!
//! Go's runtime starts before `main` (`rt0_go`, `schedinit`, `newproc` for
//! `main`, `mstart` on m0) and ends the process when `main` returns. A
//! library cannot own the process, so `run(f)` does the same inside a call:
//! it builds a scheduler, starts M0 holding P0 on a thread of its own, runs
//! `f` as task 1 (Go's main goroutine), waits for that task to return,
//! stops every M and returns `f`'s result. The calling thread only waits:
//! if it were M0, a task that left M0 inside a `grt::blocking` call that
//! never returns (a read of stdin) would keep `run` from ever returning,
//! where Go's process would simply exit.
//!
//! What ending means: as in Go, tasks still alive when the main task returns
//! do not run again. Each M stops at its next scheduling point (a task that
//! never parks, yields or ends keeps its M, and `run`, waiting). Tasks left
//! queued are dropped, and so are parked tasks once nothing else refers to
//! them, their stacks unmapped; values living on those stacks are not
//! dropped (there is no safe way to unwind a suspended stack from outside),
//! so they leak, as they would at process exit. A parked task whose own
//! stack holds a reference to it is a reference cycle: a task blocked in
//! `join` (the `JoinHandle` on its stack leads to the packet, which holds
//! the task as its waiter), or one keeping a `grt::current()` handle in a
//! local. Such a task stays, with its stack and the runtime's bookkeeping,
//! until the process ends; a registry of all tasks (planned with the
//! debugger support) will let shutdown unmap those stacks too. The stack
//! caches are unmapped at shutdown regardless.
//!
//! Every `run` is its own runtime: its own Ps, Ms, queues and counters, so
//! parallel tests (cargo runs them on several threads) never share one.

use std::env;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Once};
use std::time::Duration;

use crate::join::{Outcome, Packet};
use crate::machine::{self, Machine};
use crate::overflow;
use crate::sched::Sched;
use crate::schedule;
use crate::stack::{page_size, DEFAULT_STACK_SIZE};
use crate::stats::bump;
use crate::sysmon;
use crate::task::Task;
use crate::trace::schedtrace::{self, Monitor, Sink};
use crate::trace::timeline::Timeline;

/// Runtime configuration. Unset values come from the environment
/// (`GRT_MAXPROCS`, `GRT_STACK_SIZE`, `GRT_MAXTHREADS`, `GRT_SCHEDTRACE`,
/// `GRT_SCHEDDETAIL`, `GRT_TRACE`), then from defaults (one P per CPU,
/// 256 KiB stacks, 10,000 threads, no traces).
#[derive(Debug, Default)]
pub struct RuntimeBuilder {
    max_procs: Option<usize>,
    max_threads: Option<usize>,
    stack_size: Option<usize>,
    sched_trace: Option<Duration>,
    sched_trace_sink: Option<Sink>,
    sched_detail: Option<bool>,
    timeline: Option<PathBuf>,
}

impl RuntimeBuilder {
    pub fn new() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// Number of Ps: how many tasks run in parallel (Go's `GOMAXPROCS`).
    pub fn max_procs(mut self, n: usize) -> RuntimeBuilder {
        assert!(n > 0, "grt: max_procs must be at least 1");
        self.max_procs = Some(n);
        self
    }

    /// Most OS threads the runtime starts for Ms (Go's
    /// `debug.SetMaxThreads`, 10,000 by default). Ms beyond
    /// the Ps are needed only while tasks sit in [`crate::blocking`] calls;
    /// at the limit, the runtime says so once and runs on with fewer.
    pub fn max_threads(mut self, n: usize) -> RuntimeBuilder {
        assert!(n > 0, "grt: max_threads must be at least 1");
        self.max_threads = Some(n);
        self
    }

    /// Default usable stack bytes per task (rounded up to whole pages).
    pub fn stack_size(mut self, bytes: usize) -> RuntimeBuilder {
        assert!(bytes > 0, "grt: stack_size must be positive");
        self.stack_size = Some(bytes);
        self
    }

    /// Every `interval` while the runtime runs, prints a line of scheduler
    /// state to stderr in the format of Go's `GODEBUG=schedtrace` (also
    /// `GRT_SCHEDTRACE=<ms>`). See the book's "Watching the scheduler".
    ///
    /// Panics if `interval` is under a millisecond (the unit of the trace).
    pub fn sched_trace(mut self, interval: Duration) -> RuntimeBuilder {
        assert!(
            interval >= Duration::from_millis(1),
            "grt: sched_trace interval must be at least 1 ms"
        );
        self.sched_trace = Some(interval);
        self
    }

    /// Like [`sched_trace`](Self::sched_trace), but each report goes to
    /// `sink` instead of stderr: one call as the runtime starts and one per
    /// interval after, each with the `SCHED` line (followed by the detail lines with
    /// [`sched_detail`](Self::sched_detail)), every line ending in `\n`.
    /// `sink` runs on the runtime's trace thread, never in a task; a panic
    /// in it resumes from `run`.
    pub fn sched_trace_to(
        self,
        interval: Duration,
        sink: impl FnMut(&str) + Send + 'static,
    ) -> RuntimeBuilder {
        let mut builder = self.sched_trace(interval);
        builder.sched_trace_sink = Some(Sink::new(sink));
        builder
    }

    /// Writes a timeline of the run to `path` in the Chrome trace-event
    /// format (also `GRT_TRACE=<path>`): open it in ui.perfetto.dev or
    /// chrome://tracing. One track per M and per P, a slice per task run,
    /// instants for parks, steals, net polls and hand-offs, and arrows from
    /// each wake-up to the run it caused. See the book's "Watching the
    /// scheduler". The file is complete when `run` returns.
    pub fn trace(mut self, path: impl Into<PathBuf>) -> RuntimeBuilder {
        self.timeline = Some(path.into());
        self
    }

    /// Whether a trace adds a line per P, per M and per task (Go's
    /// `scheddetail=1`; also `GRT_SCHEDDETAIL=1`). Without a trace
    /// interval it does nothing.
    pub fn sched_detail(mut self, on: bool) -> RuntimeBuilder {
        self.sched_detail = Some(on);
        self
    }

    /// Runs `f` as the main task of a new runtime on this thread and the
    /// runtime's own, and returns its result once every M has stopped. A
    /// panic in `f` resumes on the caller's thread, after shutdown.
    ///
    /// Panics if called from inside a grt task.
    pub fn run<F, T>(self, f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        assert!(
            machine::this_thread().is_none(),
            "grt::run called from inside a grt runtime; spawn a task with grt::go instead"
        );
        let procs = self.max_procs.unwrap_or_else(|| {
            env_usize("GRT_MAXPROCS")
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        });
        let stack_size = self
            .stack_size
            .or_else(|| env_usize("GRT_STACK_SIZE"))
            .unwrap_or(DEFAULT_STACK_SIZE)
            .next_multiple_of(page_size());
        let trace = self
            .sched_trace
            .or_else(|| env_usize("GRT_SCHEDTRACE").map(|ms| Duration::from_millis(ms as u64)))
            .map(|interval| schedtrace::Config {
                interval,
                detail: self
                    .sched_detail
                    .unwrap_or_else(|| env::var("GRT_SCHEDDETAIL").is_ok_and(|v| v.trim() == "1")),
                sink: self.sched_trace_sink.unwrap_or_else(Sink::stderr),
            });
        let max_threads = self
            .max_threads
            .or_else(|| env_usize("GRT_MAXTHREADS"))
            .unwrap_or(DEFAULT_MAX_THREADS);
        overflow::install_handler();
        install_panic_hook();

        let timeline = self
            .timeline
            .or_else(|| {
                env::var_os("GRT_TRACE")
                    .filter(|p| !p.is_empty())
                    .map(PathBuf::from)
            })
            .and_then(|path| match Timeline::create(&path) {
                Ok(timeline) => Some(timeline),
                Err(err) => {
                    eprintln!(
                        "grt: cannot create the trace file {}: {err}; running without it",
                        path.display()
                    );
                    None
                }
            });
        let sched = Arc::new(Sched::new(procs, stack_size, max_threads, timeline));
        // Listed for debuggers until `run` returns (debug.rs).
        let _debugger = crate::debug::register(&sched);
        if let Some(timeline) = &sched.timeline {
            (0..procs).for_each(|p| timeline.p_exists(p));
        }
        {
            let mut locked = sched.locked.lock();
            for p in (1..procs).rev() {
                sched.idle_p_put(&mut locked, p);
            }
        }
        let main_sched = Arc::clone(&sched);
        let main = move || {
            // Shut down even if `f` panics; the panic travels on to `run`.
            let result = panic::catch_unwind(AssertUnwindSafe(f));
            schedule::begin_shutdown(&main_sched);
            result
        };
        let packet = Arc::new(Packet::new(main));
        let task = Arc::new(Task::new(
            Arc::clone(&sched),
            Some("main".into()),
            None,
            packet.clone(),
        ));
        // No M runs yet, so this thread may act as P0's holder. A main task
        // that could not get a stack would leave nobody to end the runtime:
        // fail here instead, with the reason.
        // SAFETY: as above, nothing else holds P0 yet.
        if let Err(err) = unsafe { sched.procs[0].reserve_stack(&sched) } {
            panic!("grt: cannot start the main task: {err}");
        }
        bump(&sched.procs[0].counters.spawned, 1);
        sched.procs[0].all_tasks.register(&task);
        schedule::put_runnable(&sched, &sched.procs[0], task, true);
        // Before the first M, so that check_dead always counts it; its first
        // report shows the main task queued, before any task has run.
        let monitor = trace.and_then(|config| Monitor::start(&sched, config));
        // sysmon and this thread, which only waits, are the runtime's too.
        sched.system_threads.fetch_add(2, Ordering::SeqCst);
        let sysmon = sysmon::start(&sched)
            .unwrap_or_else(|err| panic!("grt: cannot start the sysmon thread: {err}"));
        {
            let mut threads = sched.threads.lock();
            let m0 = machine::start_thread(&sched, 0, false)
                .unwrap_or_else(|err| panic!("grt: cannot start a thread for M0: {err}"));
            threads.push(m0);
        }
        // The main task's closure has begun the shutdown before its packet
        // completes, so from here on every M is stopping.
        let outcome = packet.wait();

        let threads = std::mem::take(&mut *sched.threads.lock());
        for thread in threads {
            // An M inside a task's `grt::blocking` call may stay there for
            // ever (a read of stdin); Go's process would exit under it. We
            // let it go: when the call returns, the M sees the runtime has
            // ended, drops the task and its thread ends (blocking.rs).
            if thread.shared.in_blocking.load(Ordering::SeqCst) {
                continue;
            }
            // An M thread only ends by returning from its loop; a panic
            // there is a scheduler bug worth surfacing.
            thread.handle.join().expect("grt: an M thread panicked");
        }
        sysmon.join().expect("grt: the sysmon thread panicked");
        if let Some(timeline) = &sched.timeline {
            if let Err(err) = timeline.finish() {
                eprintln!("grt: finishing the trace file failed: {err}");
            }
        }
        release_leftover_tasks(&sched);
        // Stops and joins the trace thread (it is dropped on unwinding too).
        drop(monitor);
        match outcome {
            Ok(Ok(value)) => value,
            Ok(Err(panic)) | Err(panic) => panic::resume_unwind(panic),
        }
    }
}

/// Go's default thread limit (`debug.SetMaxThreads`).
const DEFAULT_MAX_THREADS: usize = 10_000;

/// Runs `f` as the main task of a new runtime configured from the
/// environment, and returns its result. See [`RuntimeBuilder::run`].
pub fn run<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    RuntimeBuilder::new().run(f)
}

/// Drops the tasks still queued when the runtime ends (their Arcs point
/// back at the scheduler, so leaving them would leak it) and unmaps the
/// cached stacks.
fn release_leftover_tasks(sched: &Sched) {
    let global = std::mem::take(&mut sched.locked.lock().global);
    drop(global);
    for p in sched.procs.iter() {
        drop(p.runq.drain());
        p.timers.clear();
        // SAFETY: every M has exited, so no one else holds this P.
        drop(std::mem::take(unsafe { &mut p.local().stacks }));
    }
    sched.stack_pool.clear();
}

fn env_usize(name: &str) -> Option<usize> {
    let value = env::var(name).ok()?;
    match value.trim().parse::<usize>() {
        Ok(n) if n > 0 => Some(n),
        _ => panic!("grt: {name} must be a positive integer, got {value:?}"),
    }
}

/// Adds the task's id and name to panic messages: the default hook names
/// only the thread, which for a task is whichever M it happened to run on.
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if let Some(task) = machine::this_thread().and_then(Machine::current_task) {
                eprintln!("grt: task {} '{}' panicked:", task.id, task.display_name());
            }
            previous(info);
        }));
    });
}
