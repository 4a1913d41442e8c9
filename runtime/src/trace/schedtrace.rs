//! `GRT_SCHEDTRACE=<ms>`: a line of scheduler state every interval, in the
//! format of Go's `GODEBUG=schedtrace` (proc.go `schedtrace`).
//!
//! ```text
//! SCHED 1000ms: gomaxprocs=2 idleprocs=0 threads=5 spinningthreads=0 idlethreads=2 runqueue=0 [3 1]
//! ```
//!
//! With `GRT_SCHEDDETAIL=1` (Go's `scheddetail=1`) each line is followed by
//! one line per P, per M and per task, with the task's state and wait
//! reason. The book's "Watching the scheduler" explains every field.
//!
//! # Who prints
//! Go prints from sysmon, the thread that also retakes Ps from system calls
//! and preempts long-running goroutines. grt's sysmon (sysmon.rs) naps up to
//! 10 ms and sleeps outright while every P is idle, so it cannot keep a
//! trace's beat; the trace gets a thread of its own, the *monitor*: one per
//! runtime, started by
//! `run` only when tracing is on (an untraced runtime has no extra
//! thread), asleep on a condvar between ticks. Simpler designs fail:
//! 1. Let an M print when it passes through `schedule` and a tick is due:
//!    an idle runtime has no M awake, and a runtime whose tasks compute
//!    without parking has none passing through; those are exactly the
//!    moments one wants to see.
//! 2. Print from a grt timer: timers are run by Ms too (the same problem),
//!    and every tick would wake an idle M, so the trace would change the
//!    schedule it shows.
//! 3. `thread::sleep(interval)` between ticks: `run` could not end before
//!    the monitor woke up to notice, up to a whole interval later. A condvar
//!    wait with a deadline ends the moment `run` says stop.
//!
//! # Invariants
//! - The monitor only reads: the snapshot `grt::stats()` takes
//!   (`Stats::of`), atomics the Ms publish on transitions, and the per-P
//!   task lists, each lock held briefly. It never readies, parks or wakes
//!   anything.
//! - It lives inside `run`: started before the first M, stopped and joined
//!   (by dropping its [`Monitor`]) after the last M has exited, on every
//!   path out of `run`, unwinding included.
//! - Its first report is out before the first task runs (`Monitor::start`
//!   waits for it), so every traced run prints at least one line, even one
//!   that ends at once or in a deadlock's `exit(2)`.
//! - While it exists it is counted in `Sched::system_threads`, so that
//!   `check_dead` does not take it for an outsider that could wake a task
//!   (Go's `checkdead` discounts sysmon the same way, via `sched.nmsys`).
//! - Each tick comes at least one interval after the previous one began
//!   (sysmon's `lasttrace` rule), so printed times strictly increase.
//! - A report is a moment's reading, not a consistent cut: values are read
//!   one after another while the Ms run on, as in Go, where most fields are
//!   read racily even under `sched.lock`.

use std::fmt::{self, Write as _};
use std::io::{self, Write as _};
use std::panic;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::all_tasks;
use crate::sched::Sched;
use crate::stats::Stats;
use crate::task::TaskState;

/// Where reports go: stderr, or the closure given to
/// `RuntimeBuilder::sched_trace_to`.
pub struct Sink(Box<dyn FnMut(&str) + Send>);

impl Sink {
    pub fn new(f: impl FnMut(&str) + Send + 'static) -> Sink {
        Sink(Box::new(f))
    }

    /// Go prints to stderr; so do we, one write per report.
    pub fn stderr() -> Sink {
        Sink::new(|report| {
            let _ = io::stderr().write_all(report.as_bytes());
        })
    }
}

impl fmt::Debug for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sink(..)")
    }
}

/// What to trace, decided by `run` from the builder and the environment.
pub struct Config {
    /// Time between reports.
    pub interval: Duration,
    /// Add the P, M and task lines (`GRT_SCHEDDETAIL`).
    pub detail: bool,
    /// Where the reports go.
    pub sink: Sink,
}

/// The running monitor thread; dropping it stops the thread and waits for
/// it to end.
pub struct Monitor {
    /// The traced runtime, whose `system_threads` counts the monitor.
    sched: Arc<Sched>,
    /// Shared with the monitor thread.
    stop: Arc<Stop>,
    /// The monitor thread; `None` once joined.
    thread: Option<thread::JoinHandle<()>>,
}

/// How `run` tells the monitor to end.
#[derive(Default)]
struct Stop {
    /// Set once, by `Monitor::drop`.
    stopped: Mutex<bool>,
    /// Signalled when `stopped` is set.
    wake: Condvar,
}

impl Monitor {
    /// Starts the monitor of `sched` and returns once its first report is
    /// out. If no thread can be had, says so and returns `None`: the
    /// runtime runs on, untraced.
    pub fn start(sched: &Arc<Sched>, config: Config) -> Option<Monitor> {
        let stop = Arc::new(Stop::default());
        // Dropped by the monitor after its first report (or as it unwinds).
        let (reported, first_report) = mpsc::channel::<()>();
        let thread = thread::Builder::new().name("grt-schedtrace".into()).spawn({
            let sched = Arc::clone(sched);
            let stop = Arc::clone(&stop);
            move || watch(&sched, config, &stop, reported)
        });
        match thread {
            Ok(thread) => {
                // Returns when the sender is dropped; nothing is ever sent.
                let _ = first_report.recv();
                // Counted only once the thread exists: counted early, it
                // could make a process with one outside thread look like
                // one with none to check_dead.
                sched.system_threads.fetch_add(1, Ordering::SeqCst);
                Some(Monitor {
                    sched: Arc::clone(sched),
                    stop,
                    thread: Some(thread),
                })
            }
            Err(err) => {
                eprintln!("grt: cannot start the schedtrace thread, running without it: {err}");
                None
            }
        }
    }
}

impl Drop for Monitor {
    /// Wakes the monitor, waits for its thread to end, and passes on a
    /// panic of the sink (unless `run` is already unwinding).
    fn drop(&mut self) {
        *self.stop.stopped.lock() = true;
        self.stop.wake.notify_one();
        let Some(thread) = self.thread.take() else {
            return;
        };
        let joined = thread.join();
        self.sched.system_threads.fetch_sub(1, Ordering::SeqCst);
        if let Err(payload) = joined {
            if !thread::panicking() {
                panic::resume_unwind(payload);
            }
        }
    }
}

/// The monitor thread: a report now (then `reported` is dropped), then one
/// each interval, until told to stop.
fn watch(sched: &Sched, mut config: Config, stop: &Stop, reported: mpsc::Sender<()>) {
    let mut reported = Some(reported);
    let mut stopped = stop.stopped.lock();
    while !*stopped {
        let now = Instant::now();
        // Not under the lock: a slow report or sink must not hold up the
        // stop.
        MutexGuard::unlocked(&mut stopped, || {
            (config.sink.0)(&report(sched, now, config.detail));
        });
        drop(reported.take());
        let next = now + config.interval;
        while !*stopped && Instant::now() < next {
            stop.wake.wait_until(&mut stopped, next);
        }
    }
}

/// One tick's text: the `SCHED` line and, with `detail`, the P, M and task
/// lines; each line ends in a newline.
fn report(sched: &Sched, now: Instant, detail: bool) -> String {
    let mut out = format!(
        "SCHED {}ms: {}\n",
        sched.nanos_at(now) / 1_000_000,
        Stats::of(sched)
    );
    if detail {
        write_detail(sched, &mut out);
    }
    out
}

/// Go's detailed lines, with the fields grt has:
///
/// ```text
///   P0: status=1 schedtick=40 m=0 runqsize=0 timerslen=0
///   M0: p=0 spinning=false blocked=false locked=false
///   G2: status=waiting(chan receive) name=worker
/// ```
///
/// P status is Go's number (0 `_Pidle`, 1 `_Prunning`, 2 `_Psyscall`);
/// task status is spelled out, with the wait reason in the parentheses
/// (empty unless waiting), as Go prints it.
fn write_detail(sched: &Sched, out: &mut String) {
    let asleep: Vec<usize> = {
        let locked = sched.locked.lock();
        let asleep = locked.idle_ms.iter().chain(&locked.locked_ms);
        asleep.map(|m| m.id).collect()
    };
    let ms = sched.all_ms.lock().clone();
    for p in sched.procs.iter() {
        // The processor.rs constants are Go's numbers.
        let status = p.status.load(Ordering::Relaxed);
        let m = ms.iter().find(|m| m.p() == Some(p.id)).map(|m| m.id);
        let _ = writeln!(
            out,
            "  P{}: status={status} schedtick={} m={} runqsize={} timerslen={}",
            p.id,
            p.schedtick(),
            OrNil(m),
            p.runq.len(),
            p.timers.len()
        );
    }
    for m in &ms {
        let _ = writeln!(
            out,
            "  M{}: p={} spinning={} blocked={} locked={}",
            m.id,
            OrNil(m.p()),
            m.spinning.get(),
            asleep.contains(&m.id),
            m.locked.get()
        );
    }
    for task in all_tasks::live_tasks(sched) {
        let state = task.state();
        let reason = match state {
            TaskState::Waiting => task.wait_reason().as_str(),
            _ => "",
        };
        let _ = write!(out, "  G{}: status={}({reason})", task.id, state.as_str());
        if let Some(name) = &task.name {
            let _ = write!(out, " name={name}");
        }
        out.push('\n');
    }
}

/// An id, or Go's `nil` for none.
struct OrNil(Option<usize>);

impl fmt::Display for OrNil {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(id) => id.fmt(f),
            None => f.write_str("nil"),
        }
    }
}
