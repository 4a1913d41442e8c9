//! Memory per parked task: grt against tokio and OS threads.
//!
//! For each count N, a fresh child process parks N tasks (or threads) that
//! each wait to be released, and reports the resident memory they added,
//! per task, and how long starting them took. Children keep the runs
//! independent: RSS never shrinks back cleanly inside one process.
//!
//! - grt: `grt::run` (one P per core); each task parks in `grt::park`.
//! - tokio: a multi-thread runtime (one worker per core, as grt), the
//!   counting done in a spawned task as in grt's main task; each task
//!   awaits one shared `tokio::sync::Notify` (a waiter node inside the
//!   task's future, nothing allocated beside the task: the nearest thing to
//!   a grt task parking with nothing but itself).
//! - threads: std threads with 64 KiB stacks blocked on a `Barrier`.
//!
//! Where the kernel's mapping limit (`vm.max_map_count`) cannot hold N
//! stacks, the row says so instead of failing.
//!
//!     cargo run --release -p grt-benches --bin memory -- 100000 1000000
//!
//! A smoke run (`benches/smoke.sh`) uses a small N; nothing is asserted.
//! Every run records its figures in target/bench-results/memory.json, for
//! `bench-all`'s summary (grt_benches::results).

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Instant;

use grt_benches::host::{command_line, date};
use grt_benches::results::{Figure, Part, Results};

const CHILD: &str = "GRT_MEMORY_CHILD";

/// OS threads get 64 KiB stacks, about the least glibc will run Rust on.
const THREAD_STACK: usize = 64 * 1024;

fn main() {
    if let Ok(kind) = std::env::var(CHILD) {
        let n: usize = std::env::args().nth(1).unwrap().parse().unwrap();
        let (rss, elapsed_ms) = match kind.as_str() {
            "grt" => park_grt(n),
            "tokio" => park_tokio(n),
            "threads" => park_threads(n),
            other => panic!("unknown kind {other}"),
        };
        println!("{rss} {elapsed_ms}");
        return;
    }
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| {
            a.replace(['_', ','], "")
                .parse()
                .expect("counts are integers")
        })
        .collect();
    let counts = if counts.is_empty() {
        vec![100_000]
    } else {
        counts
    };
    let max_map_count = read_usize("/proc/sys/vm/max_map_count");
    println!("vm.max_map_count = {max_map_count}; kernel {}", kernel());
    println!();
    println!("| runtime | tasks | RSS bytes/task | start ms |");
    println!("|---|---:|---:|---:|");
    let mut measured = Vec::new();
    for &n in &counts {
        for kind in ["grt", "tokio", "threads"] {
            // A std thread costs four mappings: its stack and guard, and the
            // alternate signal stack and guard std gives every thread. Past
            // the limit spawning fails part-way, so say so instead.
            if kind == "threads" && 4 * n + 1000 > max_map_count {
                println!(
                    "| {kind} | {n} | needs {} mappings > vm.max_map_count | - |",
                    4 * n
                );
                continue;
            }
            let out = Command::new(std::env::current_exe().unwrap())
                .arg(n.to_string())
                .env(CHILD, kind)
                .output()
                .expect("run child");
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                let reason = err
                    .lines()
                    .find(|l| l.contains("grt:") || l.contains("panicked"))
                    .unwrap_or("failed");
                println!("| {kind} | {n} | {} | - |", reason.trim());
                continue;
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().unwrap());
            let (rss, ms) = (fields.next().unwrap(), fields.next().unwrap());
            println!("| {kind} | {n} | {} | {ms} |", rss / n as u64);
            measured.push(Measured {
                kind,
                tasks: n,
                bytes_per_task: rss as f64 / n as f64,
                start_ms: ms as f64,
            });
        }
    }
    Results {
        part: Part::Memory,
        date: date(),
        command: command_line("memory"),
        quick: grt_benches::quick(),
        figures: figures(&counts, &measured),
    }
    .save();
}

/// One row of the table.
struct Measured {
    kind: &'static str,
    tasks: usize,
    bytes_per_task: f64,
    start_ms: f64,
}

/// The headline figures for the summary (grt_benches::results): at every
/// count, RSS per task and start time, grt against tokio and threads.
fn figures(counts: &[usize], measured: &[Measured]) -> Vec<Figure> {
    let find = |kind: &str, n: usize| measured.iter().find(|m| m.kind == kind && m.tasks == n);
    let mut figures = Vec::new();
    for &n in counts {
        let Some(grt) = find("grt", n) else {
            continue;
        };
        for other in ["tokio", "threads"] {
            let Some(them) = find(other, n) else {
                continue;
            };
            let point = format!("{n} parked tasks");
            figures.extend(Figure::new(
                &point,
                "RSS bytes/task",
                grt.bytes_per_task,
                them.bytes_per_task,
                other,
                false,
            ));
            figures.extend(Figure::new(
                point,
                "start ms",
                grt.start_ms,
                them.start_ms,
                other,
                false,
            ));
        }
    }
    figures
}

/// Resident bytes of this process.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn read_usize(path: &str) -> usize {
    std::fs::read_to_string(path).map_or(0, |s| s.trim().parse().unwrap_or(0))
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "?".into(), |s| s.trim().into())
}

/// Parks `n` grt tasks; returns (RSS added, ms to get them all parked).
fn park_grt(n: usize) -> (u64, u128) {
    grt::run(move || {
        let before = rss_bytes();
        let start = Instant::now();
        let release = Arc::new(AtomicBool::new(false));
        let parked = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let (release, parked) = (Arc::clone(&release), Arc::clone(&parked));
                grt::go(move || {
                    parked.fetch_add(1, Ordering::Relaxed);
                    while !release.load(Ordering::Acquire) {
                        grt::park();
                    }
                })
            })
            .collect();
        while parked.load(Ordering::Relaxed) < n {
            grt::yield_now();
        }
        let elapsed = start.elapsed().as_millis();
        let rss = rss_bytes().saturating_sub(before);
        release.store(true, Ordering::Release);
        for h in &handles {
            h.task().unpark();
        }
        for h in handles {
            h.join().unwrap();
        }
        (rss, elapsed)
    })
}

/// Parks `n` tokio tasks on one `Notify`; returns (RSS added, ms to get
/// them all waiting).
fn park_tokio(n: usize) -> (u64, u128) {
    struct Release {
        flag: AtomicBool,
        notify: tokio::sync::Notify,
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .build()
        .expect("build the tokio runtime");
    let main = rt.spawn(async move {
        let before = rss_bytes();
        let start = Instant::now();
        let release = Arc::new(Release {
            flag: AtomicBool::new(false),
            notify: tokio::sync::Notify::new(),
        });
        let parked = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let (release, parked) = (Arc::clone(&release), Arc::clone(&parked));
                tokio::spawn(async move {
                    let mut counted = false;
                    loop {
                        // Registered before the flag is checked, so a
                        // `notify_waiters` after the check still wakes us.
                        let notified = release.notify.notified();
                        tokio::pin!(notified);
                        notified.as_mut().enable();
                        if !counted {
                            parked.fetch_add(1, Ordering::Relaxed);
                            counted = true;
                        }
                        if release.flag.load(Ordering::Acquire) {
                            return;
                        }
                        notified.await;
                    }
                })
            })
            .collect();
        while parked.load(Ordering::Relaxed) < n {
            tokio::task::yield_now().await;
        }
        let elapsed = start.elapsed().as_millis();
        let rss = rss_bytes().saturating_sub(before);
        release.flag.store(true, Ordering::Release);
        release.notify.notify_waiters();
        for h in handles {
            h.await.unwrap();
        }
        (rss, elapsed)
    });
    rt.block_on(main).expect("tokio memory task panicked")
}

/// Parks `n` OS threads on a barrier; returns (RSS added, ms to start them).
fn park_threads(n: usize) -> (u64, u128) {
    let before = rss_bytes();
    let start = Instant::now();
    let barrier = Arc::new(Barrier::new(n + 1));
    let started = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (barrier, started) = (Arc::clone(&barrier), Arc::clone(&started));
            std::thread::Builder::new()
                .stack_size(THREAD_STACK)
                .spawn(move || {
                    started.fetch_add(1, Ordering::Relaxed);
                    barrier.wait();
                })
                .expect("spawn thread")
        })
        .collect();
    while started.load(Ordering::Relaxed) < n {
        std::thread::yield_now();
    }
    let elapsed = start.elapsed().as_millis();
    let rss = rss_bytes().saturating_sub(before);
    barrier.wait();
    for h in handles {
        h.join().unwrap();
    }
    (rss, elapsed)
}
