//! `GRT_TRACE=<file.json>`: a timeline of the scheduler in the Chrome
//! trace-event format, which Perfetto (ui.perfetto.dev) and
//! chrome://tracing open. Go's `go tool trace` answers the same questions:
//! which task ran where and when, who woke whom, where time went.
//!
//! What the file shows:
//! - one track per M (process "Ms") and one per P (process "Ps"), with a
//!   slice for every run of a task (from the switch into it to the switch
//!   back to g0), named after the task, and nested `blocking` slices for
//!   `grt::blocking` calls;
//! - instant events where the scheduler decides something: a park (with
//!   its wait reason), a steal, a net poll that woke tasks, sysmon taking a
//!   P from a blocking call, a preemption;
//! - flow arrows from the point where a task was readied (inside the run
//!   of the task, or the poll, that readied it) to the start of its next
//!   run.
//!
//! Events from threads that are not Ms (sysmon, plain threads) go on a
//! track of their own.
//!
//! Cost: off, one load and branch at each hook (`Sched::timeline` is
//! `None`). On, each event is formatted into its M's own buffer, with no
//! lock; a buffer goes to the file when it passes `FLUSH_AT` bytes, and
//! whatever is left when the M or the runtime ends. So memory stays bounded
//! however long the run, and the file is complete once `run` returns.
//!
//! Invariant: the file is a JSON array of events, each written whole by
//! one `write_all` under the output lock, each followed by `,\n`; `finish`
//! closes the array with a last metadata event, so the file parses as JSON.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::machine::Machine;
use crate::sched::Sched;
use crate::task::Task;

/// Bytes an event buffer may hold before it is written out.
const FLUSH_AT: usize = 256 * 1024;

/// Track ids: Ms and Ps are processes in the viewer, their numbers tracks.
const PID_MS: u32 = 1;
const PID_PS: u32 = 2;
/// The track, among the Ms', of events from threads that are not Ms.
const TID_OUTSIDE: usize = 1_000_000;

/// The timeline of one runtime.
pub struct Timeline {
    out: Mutex<Output>,
    /// Events from threads that are not Ms.
    outside: Mutex<String>,
    /// Flow arrow ids.
    next_flow: AtomicU64,
}

struct Output {
    file: Option<BufWriter<File>>,
}

/// An M's unshared buffer of formatted events.
#[derive(Default)]
pub struct Buffer(RefCell<String>);

impl Timeline {
    /// Creates the trace file at `path`.
    pub fn create(path: &Path) -> io::Result<Timeline> {
        let mut file = BufWriter::new(File::create(path)?);
        file.write_all(b"[\n")?;
        let timeline = Timeline {
            out: Mutex::new(Output { file: Some(file) }),
            outside: Mutex::new(String::new()),
            next_flow: AtomicU64::new(1),
        };
        let mut names = String::new();
        process_name(&mut names, PID_MS, "Ms (OS threads)");
        process_name(&mut names, PID_PS, "Ps (processors)");
        thread_name(
            &mut names,
            PID_MS,
            TID_OUTSIDE,
            "outside Ms (sysmon, plain threads)",
        );
        timeline.write(&names);
        Ok(timeline)
    }

    /// Names M `m`'s track.
    pub fn m_started(&self, m: &Machine) {
        let mut names = String::new();
        thread_name(
            &mut names,
            PID_MS,
            m.shared.id,
            &format!("M{}", m.shared.id),
        );
        self.write(&names);
    }

    /// Names P `p`'s track (once, as the runtime starts).
    pub fn p_exists(&self, p: usize) {
        let mut names = String::new();
        thread_name(&mut names, PID_PS, p, &format!("P{p}"));
        self.write(&names);
    }

    /// Writes `events` (whole, comma-terminated events) to the file.
    fn write(&self, events: &str) {
        if events.is_empty() {
            return;
        }
        let mut out = self.out.lock();
        if let Some(file) = out.file.as_mut() {
            if let Err(err) = file.write_all(events.as_bytes()) {
                eprintln!("grt: writing the trace failed, tracing stops: {err}");
                out.file = None;
            }
        }
    }

    /// Writes out M `m`'s buffer (its loop is ending).
    pub fn flush(&self, m: &Machine) {
        let events = std::mem::take(&mut *m.trace.0.borrow_mut());
        self.write(&events);
    }

    /// Closes the array and the file; later events are dropped. Returns
    /// the first error closing it, if any.
    pub fn finish(&self) -> io::Result<()> {
        let outside = std::mem::take(&mut *self.outside.lock());
        self.write(&outside);
        let Some(mut file) = self.out.lock().file.take() else {
            return Ok(());
        };
        // A last event without the trailing comma closes the array.
        file.write_all(
            br#"{"ph":"M","name":"process_sort_index","pid":1,"args":{"sort_index":0}}"#,
        )?;
        file.write_all(b"\n]\n")?;
        file.flush()
    }

    /// Appends one event through `format` to the buffer of the calling M,
    /// or to the shared one on other threads.
    fn emit(&self, m: Option<&Machine>, format: impl FnOnce(&mut String)) {
        match m {
            Some(m) => {
                let mut buf = m.trace.0.borrow_mut();
                format(&mut buf);
                if buf.len() >= FLUSH_AT {
                    let events = std::mem::take(&mut *buf);
                    drop(buf);
                    self.write(&events);
                }
            }
            None => {
                let mut buf = self.outside.lock();
                format(&mut buf);
                if buf.len() >= FLUSH_AT {
                    let events = std::mem::take(&mut *buf);
                    drop(buf);
                    self.write(&events);
                }
            }
        }
    }

    /// A task starts a run on `m` with P `p`; ends the flow arrow from
    /// whoever readied it.
    pub fn run_begin(&self, m: &Machine, p: usize, task: &Task) {
        let ts = m.sched.now_nanos();
        let flow = task.trace_flow.swap(0, Ordering::Relaxed);
        self.emit(Some(m), |buf| {
            for (pid, tid) in [(PID_MS, m.shared.id), (PID_PS, p)] {
                event(buf, "B", pid, tid, ts, &task_name(task), |args| {
                    let _ = write!(args, r#""task":{},"m":{},"p":{p}"#, task.id, m.shared.id);
                });
            }
            if flow != 0 {
                flow_event(buf, "f", m.shared.id, ts, flow);
            }
        });
    }

    /// The run that `run_begin` opened ends, for the reason `why`.
    pub fn run_end(&self, m: &Machine, p: usize, why: &str) {
        let ts = m.sched.now_nanos();
        self.emit(Some(m), |buf| {
            for (pid, tid) in [(PID_MS, m.shared.id), (PID_PS, p)] {
                let _ = writeln!(
                    buf,
                    r#"{{"ph":"E","pid":{pid},"tid":{tid},"ts":{},"args":{{"end":"{}"}}}},"#,
                    Micros(ts),
                    Escaped(why)
                );
            }
        });
    }

    /// Something happened at one moment on the calling thread's track.
    pub fn instant(&self, sched: &Sched, m: Option<&Machine>, name: &str, detail: &str) {
        let ts = sched.now_nanos();
        let tid = m.map_or(TID_OUTSIDE, |m| m.shared.id);
        self.emit(m, |buf| {
            event(buf, "i", PID_MS, tid, ts, name, |args| {
                let _ = write!(args, r#""detail":"{}""#, Escaped(detail));
            });
        });
    }

    /// `task` was readied by the calling thread: an instant, and the start
    /// of a flow arrow that its next run ends.
    pub fn ready(&self, m: Option<&Machine>, task: &Task) {
        let sched = &task.sched;
        let ts = sched.now_nanos();
        let flow = self.next_flow.fetch_add(1, Ordering::Relaxed);
        task.trace_flow.store(flow, Ordering::Relaxed);
        let tid = m.map_or(TID_OUTSIDE, |m| m.shared.id);
        self.emit(m, |buf| {
            event(buf, "i", PID_MS, tid, ts, "ready", |args| {
                let _ = write!(
                    args,
                    r#""task":{},"name":"{}""#,
                    task.id,
                    Escaped(task.display_name())
                );
            });
            flow_event(buf, "s", tid, ts, flow);
        });
    }

    /// A `grt::blocking` call begins (`true`) or ends on M `m`.
    pub fn blocking(&self, m: &Machine, begins: bool) {
        let ts = m.sched.now_nanos();
        self.emit(Some(m), |buf| {
            let ph = if begins { "B" } else { "E" };
            event(buf, ph, PID_MS, m.shared.id, ts, "blocking", |_| {});
        });
    }
}

impl Buffer {
    pub fn new() -> Buffer {
        Buffer::default()
    }
}

/// One event line: `{"ph":..,"name":..,"pid":..,"tid":..,"ts":..,"args":{..}},`
fn event(
    buf: &mut String,
    ph: &str,
    pid: u32,
    tid: usize,
    ts: u64,
    name: &str,
    args: impl FnOnce(&mut String),
) {
    let _ = write!(
        buf,
        r#"{{"ph":"{ph}","name":"{}","pid":{pid},"tid":{tid},"ts":{}"#,
        Escaped(name),
        Micros(ts)
    );
    if ph == "i" {
        buf.push_str(r#","s":"t""#);
    }
    buf.push_str(r#","args":{"#);
    args(buf);
    buf.push_str("}},\n");
}

/// A flow arrow's start (`s`) or end (`f`, bound to the enclosing slice's
/// start, which is where a run begins).
fn flow_event(buf: &mut String, ph: &str, tid: usize, ts: u64, id: u64) {
    let bind = if ph == "f" { r#","bp":"e""# } else { "" };
    let _ = writeln!(
        buf,
        r#"{{"ph":"{ph}","name":"ready","cat":"ready","id":{id},"pid":{PID_MS},"tid":{tid},"ts":{}{bind}}},"#,
        Micros(ts)
    );
}

fn process_name(buf: &mut String, pid: u32, name: &str) {
    let _ = writeln!(
        buf,
        r#"{{"ph":"M","name":"process_name","pid":{pid},"args":{{"name":"{}"}}}},"#,
        Escaped(name)
    );
}

fn thread_name(buf: &mut String, pid: u32, tid: usize, name: &str) {
    let _ = writeln!(
        buf,
        r#"{{"ph":"M","name":"thread_name","pid":{pid},"tid":{tid},"args":{{"name":"{}"}}}},"#,
        Escaped(name)
    );
}

/// A run's slice title: the task's name, else its number.
fn task_name(task: &Task) -> String {
    match &task.name {
        Some(name) => format!("{name} (task {})", task.id),
        None => format!("task {}", task.id),
    }
}

/// Nanoseconds as the microseconds the format counts in, exactly.
struct Micros(u64);

impl std::fmt::Display for Micros {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

/// A string as the inside of a JSON string literal.
struct Escaped<'a>(&'a str);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}
