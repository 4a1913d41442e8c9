//! `GRT_SCHEDTRACE`: the trace's lines parse in Go's format, and while the
//! scheduler stands still they say exactly what `grt::stats()` says; the
//! detail lines list Ps, Ms and tasks consistently; and the trace thread
//! ends with `run`. (That a deadlocked program is still diagnosed with the
//! trace on is tested in deadlock.rs.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use grt::{RuntimeBuilder, Stats, TaskState};

/// How long a test may wait for a condition before declaring it broken.
const PATIENCE: Duration = Duration::from_secs(60);

/// The trace interval of these tests.
const TICK: Duration = Duration::from_millis(5);

/// One `SCHED` line, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    ms: u64,
    counts: Counts,
}

/// What a `SCHED` line says about the scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Counts {
    gomaxprocs: usize,
    idleprocs: usize,
    threads: usize,
    spinningthreads: usize,
    idlethreads: usize,
    runqueue: usize,
    local: Vec<usize>,
}

impl Counts {
    /// What a `SCHED` line taken at the same moment as `stats` must say.
    fn of(stats: &Stats) -> Counts {
        Counts {
            gomaxprocs: stats.procs,
            idleprocs: stats.idle_procs,
            threads: stats.threads,
            spinningthreads: stats.spinning_threads,
            idlethreads: stats.idle_threads,
            runqueue: stats.global_queue,
            local: stats.local_queues.clone(),
        }
    }
}

/// Parses Go's format strictly:
/// `SCHED <t>ms: gomaxprocs=N idleprocs=N threads=N spinningthreads=N idlethreads=N runqueue=N [N N ...]`.
fn parse(line: &str) -> Line {
    try_parse(line).unwrap_or_else(|| panic!("not a schedtrace line: {line:?}"))
}

fn try_parse(line: &str) -> Option<Line> {
    let rest = line.strip_prefix("SCHED ")?;
    let (ms, rest) = rest.split_once("ms: ")?;
    let (fields, local) = rest.split_once(" [")?;
    let local = local.strip_suffix(']')?;
    const KEYS: [&str; 6] = [
        "gomaxprocs",
        "idleprocs",
        "threads",
        "spinningthreads",
        "idlethreads",
        "runqueue",
    ];
    let fields: Vec<&str> = fields.split(' ').collect();
    if fields.len() != KEYS.len() {
        return None;
    }
    let mut values = [0usize; 6];
    for ((field, key), value) in fields.iter().zip(KEYS).zip(&mut values) {
        *value = field.strip_prefix(key)?.strip_prefix('=')?.parse().ok()?;
    }
    let [gomaxprocs, idleprocs, threads, spinningthreads, idlethreads, runqueue] = values;
    Some(Line {
        ms: ms.parse().ok()?,
        counts: Counts {
            gomaxprocs,
            idleprocs,
            threads,
            spinningthreads,
            idlethreads,
            runqueue,
            local: local
                .split(' ')
                .map(|n| n.parse().ok())
                .collect::<Option<_>>()?,
        },
    })
}

/// The reports a sink sent, with the ones received so far.
struct Reports {
    rx: Receiver<String>,
    all: Vec<String>,
}

impl Reports {
    /// A sink for `sched_trace_to` and the receiving end of it.
    fn new() -> (impl FnMut(&str) + Send + 'static, Reports) {
        let (tx, rx) = mpsc::channel();
        // Reports after the receiver has gone (main returned) are dropped.
        let sink = move |report: &str| drop(tx.send(report.to_owned()));
        (
            sink,
            Reports {
                rx,
                all: Vec::new(),
            },
        )
    }

    /// Waits for `n` reports made after this call, and returns them.
    ///
    /// The wait blocks the calling task's thread, not just the task: from
    /// the scheduler's side the task is simply running and keeps its P, as
    /// a task computing would. Parking or yielding instead would move it
    /// through the very queues the reports describe.
    fn next(&mut self, n: usize) -> Vec<String> {
        // Those already made, and the one being made now (its snapshot may
        // predate the call), do not count.
        self.all.extend(self.rx.try_iter());
        self.wait_one();
        (0..n).map(|_| self.wait_one()).collect()
    }

    fn wait_one(&mut self) -> String {
        let report = self
            .rx
            .recv_timeout(PATIENCE)
            .expect("no schedtrace report came");
        self.all.push(report.clone());
        report
    }

    /// Everything received, as lines.
    fn lines(mut self) -> Vec<String> {
        self.all.extend(self.rx.try_iter());
        self.all
            .iter()
            .flat_map(|report| {
                assert!(report.ends_with('\n'), "unterminated report {report:?}");
                report.lines().map(str::to_owned)
            })
            .collect()
    }
}

/// Yields until `cond` holds; fails the test if it never does.
fn yield_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        grt::yield_now();
    }
}

/// Waits without yielding (see `Reports::next`) until `cond` holds.
fn spin_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::hint::spin_loop();
    }
}

/// Asserts that each report says what `stats` says, and returns that.
fn assert_reports_match(reports: &[String], stats: &Stats) -> Counts {
    let expected = Counts::of(stats);
    for report in reports {
        assert_eq!(
            parse(report.trim_end()).counts,
            expected,
            "report {report:?} vs grt::stats() {stats:?}"
        );
    }
    expected
}

#[test]
fn schedtrace_lines_parse_and_match_stats_while_the_scheduler_stands_still() {
    const PROCS: usize = 2;
    const WORKERS: usize = 4;
    const QUEUED: usize = 5;
    const FROM_OUTSIDE: usize = 2;
    let (sink, mut reports) = Reports::new();
    let (still, busy, reports) = RuntimeBuilder::new()
        .max_procs(PROCS)
        .sched_trace_to(TICK, sink)
        .sched_detail(false)
        .run(move || {
            // Still: every worker parked on a channel, every M but main's
            // asleep, main blocked waiting for reports.
            let (tx, rx) = grt::chan::bounded::<u32>(0);
            let workers: Vec<_> = (0..WORKERS)
                .map(|_| {
                    let rx = rx.clone();
                    grt::go(move || rx.recv().unwrap())
                })
                .collect();
            yield_until("the workers to park, and the other Ms to sleep", || {
                let s = grt::stats();
                workers
                    .iter()
                    .all(|w| w.task().state() == TaskState::Waiting)
                    && s.idle_procs == PROCS - 1
                    && s.spinning_threads == 0
                    && s.idle_threads == s.threads - 1
            });
            let got = reports.next(3);
            let still = assert_reports_match(&got, &grt::stats());

            // Busy: every P taken by a task that never yields (main and a
            // hog), tasks queued on main's P, and workers readied from a
            // plain thread into the global queue. Nothing can run, so
            // nothing moves.
            let stop = Arc::new(AtomicBool::new(false));
            let hog = {
                let stop = Arc::clone(&stop);
                grt::go(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            };
            // Main does not yield: the hog must be stolen by the M that
            // spawning it woke, not be left to run here.
            spin_until("the hog to run on the other P", || {
                let s = grt::stats();
                hog.task().state() == TaskState::Running
                    && s.idle_procs == 0
                    && s.spinning_threads == 0
            });
            let queued: Vec<_> = (0..QUEUED).map(|i| grt::go(move || i)).collect();
            let plain_tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..FROM_OUTSIDE as u32 {
                    plain_tx.send(i).unwrap();
                }
            })
            .join()
            .unwrap();
            let got = reports.next(3);
            let busy = assert_reports_match(&got, &grt::stats());

            stop.store(true, Ordering::Relaxed);
            for i in FROM_OUTSIDE..WORKERS {
                tx.send(i as u32).unwrap();
            }
            let mut received: Vec<u32> = workers.into_iter().map(|w| w.join().unwrap()).collect();
            received.sort_unstable();
            assert_eq!(received, (0..WORKERS as u32).collect::<Vec<_>>());
            for q in queued {
                q.join().unwrap();
            }
            hog.join().unwrap();
            (still, busy, reports)
        });

    assert_eq!(still.idleprocs, PROCS - 1, "{still:?}");
    assert_eq!(still.idlethreads, still.threads - 1, "{still:?}");
    assert_eq!(
        (still.runqueue, still.local.iter().sum()),
        (0, 0),
        "{still:?}"
    );
    assert_eq!(busy.idleprocs, 0, "{busy:?}");
    assert_eq!(busy.spinningthreads, 0, "{busy:?}");
    assert_eq!(busy.runqueue, FROM_OUTSIDE, "{busy:?}");
    assert_eq!(busy.local.iter().sum::<usize>(), QUEUED, "{busy:?}");

    let lines = reports.lines();
    assert!(lines.len() >= 8, "{lines:#?}");
    let parsed: Vec<Line> = lines.iter().map(|l| parse(l)).collect();
    for line in &parsed {
        assert_eq!(line.counts.gomaxprocs, PROCS, "{line:?}");
        assert_eq!(line.counts.local.len(), PROCS, "{line:?}");
    }
    let tick_ms = TICK.as_millis() as u64;
    for pair in parsed.windows(2) {
        assert!(
            pair[1].ms >= pair[0].ms + tick_ms,
            "a tick came early or time went back: {pair:?}"
        );
    }
}

/// `  P0: status=1 schedtick=12 m=0 runqsize=0 timerslen=0`
#[derive(Debug)]
struct PLine {
    status: u8,
    m: Option<usize>,
    runqsize: usize,
}

/// `  M0: p=0 spinning=false blocked=false locked=false`
#[derive(Debug)]
struct MLine {
    id: usize,
    p: Option<usize>,
    spinning: bool,
    blocked: bool,
    locked: bool,
}

/// The `key=value` fields after `prefix` (`"  P0: "`), in order.
fn fields<'a>(line: &'a str, prefix: &str, keys: &[&str]) -> Vec<&'a str> {
    let rest = line
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{line:?} does not start with {prefix:?}"));
    let fields: Vec<&str> = rest.split(' ').collect();
    assert_eq!(fields.len(), keys.len(), "{line:?}");
    fields
        .iter()
        .zip(keys)
        .map(|(field, key)| {
            field
                .strip_prefix(key)
                .and_then(|f| f.strip_prefix('='))
                .unwrap_or_else(|| panic!("{line:?}: expected {key}=..."))
        })
        .collect()
}

fn id_or_nil(value: &str) -> Option<usize> {
    (value != "nil").then(|| value.parse().unwrap())
}

#[test]
fn scheddetail_lists_every_p_m_and_task_consistently() {
    const PROCS: usize = 2;
    const WORKERS: usize = 3;
    let (sink, mut reports) = Reports::new();
    let (report, workers) = RuntimeBuilder::new()
        .max_procs(PROCS)
        .sched_trace_to(TICK, sink)
        .sched_detail(true)
        .run(move || {
            let (tx, rx) = grt::chan::bounded::<u32>(0);
            let workers: Vec<_> = (0..WORKERS)
                .map(|_| {
                    let rx = rx.clone();
                    grt::Builder::new()
                        .name("worker")
                        .spawn(move || rx.recv().unwrap())
                        .unwrap()
                })
                .collect();
            yield_until("the workers to park, and the other Ms to sleep", || {
                let s = grt::stats();
                workers
                    .iter()
                    .all(|w| w.task().state() == TaskState::Waiting)
                    && s.idle_procs == PROCS - 1
                    && s.idle_threads == s.threads - 1
            });
            let report = reports.next(1).pop().unwrap();
            let ids: Vec<u64> = workers.iter().map(|w| w.task().id().as_u64()).collect();
            for i in 0..WORKERS as u32 {
                tx.send(i).unwrap();
            }
            for w in workers {
                w.join().unwrap();
            }
            (report, ids)
        });

    let lines: Vec<&str> = report.lines().collect();
    let summary = parse(lines[0]);
    let (p_lines, rest) = lines[1..].split_at(PROCS);
    let ps: Vec<PLine> = p_lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let f = fields(
                line,
                &format!("  P{i}: "),
                &["status", "schedtick", "m", "runqsize", "timerslen"],
            );
            f[1].parse::<u32>().unwrap();
            assert_eq!(f[4], "0", "no timers here: {line:?}");
            PLine {
                status: f[0].parse().unwrap(),
                m: id_or_nil(f[2]),
                runqsize: f[3].parse().unwrap(),
            }
        })
        .collect();
    let m_count = rest.iter().take_while(|l| l.starts_with("  M")).count();
    let (m_lines, g_lines) = rest.split_at(m_count);
    let ms: Vec<MLine> = m_lines
        .iter()
        .map(|line| {
            let (id, _) = line[3..].split_once(':').unwrap();
            let f = fields(
                line,
                &format!("  M{id}: "),
                &["p", "spinning", "blocked", "locked"],
            );
            MLine {
                id: id.parse().unwrap(),
                p: id_or_nil(f[0]),
                spinning: f[1].parse().unwrap(),
                blocked: f[2].parse().unwrap(),
                locked: f[3].parse().unwrap(),
            }
        })
        .collect();

    // The Ps agree with the summary line.
    let idle = ps.iter().filter(|p| p.status == 0).count();
    assert_eq!(idle, summary.counts.idleprocs, "{report}");
    let queued: Vec<usize> = ps.iter().map(|p| p.runqsize).collect();
    assert_eq!(queued, summary.counts.local, "{report}");
    // The Ms agree with the summary and with the Ps: main's M alone holds
    // a P and is awake; every other M sleeps without one.
    assert_eq!(ms.len(), summary.counts.threads, "{report}");
    assert_eq!(
        ms.iter().filter(|m| m.blocked).count(),
        summary.counts.idlethreads,
        "{report}"
    );
    let awake: Vec<&MLine> = ms.iter().filter(|m| !m.blocked).collect();
    assert_eq!(awake.len(), 1, "{report}");
    let running_p = awake[0].p.expect("main's M holds a P");
    assert_eq!(ps[running_p].status, 1, "{report}");
    assert_eq!(ps[running_p].m, Some(awake[0].id), "{report}");
    for m in &ms {
        assert!(!m.spinning && !m.locked, "{m:?} in {report}");
        if m.blocked {
            assert_eq!(m.p, None, "{report}");
        }
    }
    // Every task is listed once, by id, with its state and wait reason.
    assert!(
        g_lines.contains(&"  G1: status=running() name=main"),
        "{report}"
    );
    for id in workers {
        let line = format!("  G{id}: status=waiting(chan receive) name=worker");
        assert!(g_lines.contains(&line.as_str()), "{line:?} in {report}");
    }
    assert_eq!(g_lines.len(), 1 + WORKERS, "{report}");
}

#[test]
fn run_ends_without_waiting_for_a_tick_and_leaves_no_trace_thread() {
    let interval = PATIENCE * 2;
    let (tx, rx) = mpsc::channel::<(String, libc::pid_t)>();
    let started = Instant::now();
    let (rx, tid) = RuntimeBuilder::new()
        .max_procs(2)
        .sched_trace_to(interval, move |report| {
            // SAFETY: gettid has no preconditions.
            let tid = unsafe { libc::gettid() };
            drop(tx.send((report.to_owned(), tid)));
        })
        .run(move || {
            // The first report comes as the runtime starts, not an
            // interval later.
            let (report, tid) = rx.recv_timeout(PATIENCE).expect("no first report");
            let first_line = report.lines().next().unwrap();
            assert!(parse(first_line).ms < PATIENCE.as_millis() as u64);
            assert_eq!(thread_name(tid).as_deref(), Some("grt-schedtrace"));
            (rx, tid)
        });
    // The sink lives on the trace thread until the thread ends: if its
    // sender is still there, `run` did not wait for that end. (Checked
    // first: a thread left running would drop it a moment later.)
    assert!(
        matches!(rx.try_recv(), Err(TryRecvError::Disconnected)),
        "the trace thread outlived run"
    );
    // Shutdown woke the trace thread instead of waiting out its interval.
    assert!(
        started.elapsed() < PATIENCE,
        "run took {:?}",
        started.elapsed()
    );
    // And the thread is gone from the process (the kernel may take a
    // moment after the join to remove its entry).
    spin_until("the trace thread to leave /proc", || {
        thread_name(tid).as_deref() != Some("grt-schedtrace")
    });
}

/// The name of this process's thread `tid`, if it exists.
fn thread_name(tid: libc::pid_t) -> Option<String> {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/comm"))
        .ok()
        .map(|name| name.trim_end().to_owned())
}
