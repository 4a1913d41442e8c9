//! What `cargo run --release` starts: a tour of the scheduler.
//!
//! Until the gateway and chat showcases land, this runs the runtime through
//! its paces — a spawn storm, thousands of tasks parked at once, a tree of
//! nested joins, and uneven work that idle Ps must steal — and after each
//! phase prints a line in the format of Go's `GODEBUG=schedtrace`, plus the
//! counters that show what the scheduler did.
//!
//! Try `GRT_MAXPROCS=1 cargo run --release` and watch the steals vanish.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let report = grt::run(|| {
        let start = Instant::now();
        let mut phases = Vec::new();
        let mut phase = |name: &str, t: Instant| {
            let s = grt::stats();
            phases.push(format!(
                "SCHED {:>5}ms: {s}\n  {name} in {:.1?}  (spawned={} steals={} stolen={} parks={} yields={})",
                start.elapsed().as_millis(),
                t.elapsed(),
                s.spawned,
                s.steals,
                s.tasks_stolen,
                s.parks,
                s.yields
            ));
        };

        let t = Instant::now();
        let handles: Vec<_> = (0..100_000u64).map(|i| grt::go(move || i)).collect();
        let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, 100_000 * 99_999 / 2);
        phase("spawned and joined 100,000 tasks", t);

        let t = Instant::now();
        parked_at_once(20_000);
        phase("parked 20,000 tasks at once, then woke them all", t);

        let t = Instant::now();
        assert_eq!(tree(14), 1 << 14);
        phase(
            "a tree of nested spawns and joins, 32,767 tasks deep-wide",
            t,
        );

        let t = Instant::now();
        uneven_work(256);
        phase(
            "256 CPU-bound tasks spawned on one P, spread by stealing",
            t,
        );

        let t = Instant::now();
        yield_storm(200, 1_000);
        phase("200 tasks x 1,000 yields", t);
        phases
    });
    println!(
        "grt showcase: the scheduler at work (GRT_MAXPROCS={})\n",
        procs()
    );
    for line in report {
        println!("{line}");
    }
}

fn procs() -> String {
    std::env::var("GRT_MAXPROCS").unwrap_or_else(|_| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .to_string()
    })
}

fn parked_at_once(n: usize) {
    let release = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let release = Arc::clone(&release);
            grt::go(move || {
                while !release.load(Ordering::Acquire) {
                    grt::park();
                }
            })
        })
        .collect();
    while !handles
        .iter()
        .all(|h| h.task().state() == grt::TaskState::Waiting)
    {
        grt::yield_now();
    }
    release.store(true, Ordering::Release);
    for h in &handles {
        h.task().unpark();
    }
    for h in handles {
        h.join().unwrap();
    }
}

fn tree(depth: u32) -> u64 {
    if depth == 0 {
        return 1;
    }
    let left = grt::go(move || tree(depth - 1));
    let right = tree(depth - 1);
    left.join().unwrap() + right
}

fn uneven_work(n: u64) {
    let handles: Vec<_> = (0..n)
        .map(|i| {
            grt::go(move || {
                let until = Instant::now() + Duration::from_micros(200);
                let mut x = i;
                while Instant::now() < until {
                    x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
                x
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

fn yield_storm(tasks: usize, yields: usize) {
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            grt::go(move || {
                for _ in 0..yields {
                    grt::yield_now();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}
