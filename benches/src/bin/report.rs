//! Criterion's latest grt and tokio estimates for each benchmark,
//! as a markdown table of grt/tokio ratios with the absolute figures, for
//! docs/benchmarks.md.
//!
//!     cargo bench -p grt-benches --bench runtimes
//!     cargo run --release -p grt-benches --bin report [CRITERION_DIR]
//!
//! CRITERION_DIR defaults to `$CRITERION_HOME`, else
//! `$CARGO_TARGET_DIR/criterion`, else `target/criterion`. The estimate is
//! criterion's headline one: the slope of a linear-sampling run, else the
//! mean (grt_benches::results reads it, for `bench-all` too). Run with the same
//! `GRT_BENCH_QUICK` setting as the benchmarks (it sets the sizes that
//! per-operation figures divide by).

use std::path::PathBuf;

use grt_benches::results::{criterion_dir, estimate_ns};
use grt_benches::Bench;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map_or_else(criterion_dir, PathBuf::from);
    println!("| benchmark | one iteration | grt | tokio | grt/tokio | grt per op | tokio per op |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for bench in Bench::ALL {
        let (ops, op) = bench.ops_per_iter();
        let (Some(grt), Some(tokio)) = (
            estimate_ns(&dir, bench, "grt"),
            estimate_ns(&dir, bench, "tokio"),
        ) else {
            println!(
                "| {} | no estimates in {} | | | | | |",
                bench.name(),
                dir.display()
            );
            continue;
        };
        println!(
            "| {} | {} | {} | {} | {:.2} | {:.1} ns/{op} | {:.1} ns/{op} |",
            bench.name(),
            describe(bench),
            human(grt),
            human(tokio),
            grt / tokio,
            grt / ops as f64,
            tokio / ops as f64,
        );
    }
}

/// What one iteration of `bench` is.
fn describe(bench: Bench) -> String {
    let s = grt_benches::sizes();
    match bench {
        Bench::SpawnMany => format!("spawn {} tasks, wait all", s.spawn_many),
        Bench::YieldMany => format!("{} tasks x {} yields", s.yield_tasks, s.yields),
        Bench::ChainedSpawn => format!("chain of {} spawns", s.chain_depth),
        Bench::PingPong => "one round trip (2 wake-ups)".into(),
        Bench::Switch => "one yield each, 1 P".into(),
        Bench::ChanRoundTrip => "one round trip, unbuffered (tokio: mpsc cap 1)".into(),
        Bench::ChanThroughput => format!("one item, {}-slot channel", grt_benches::CHAN_SLOTS),
        Bench::MutexContended => format!("{} tasks x {} locks", s.mutex_tasks, s.mutex_ops),
        Bench::TimersMany => format!(
            "{} tasks sleep {} ms, wait all",
            s.sleepers,
            grt_benches::SLEEP.as_millis()
        ),
    }
}

fn human(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}
