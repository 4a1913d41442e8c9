//! grt against tokio: one criterion group per benchmark (scheduler work:
//! `spawn_many`, `yield_many`, `chained_spawn`, `ping_pong`, `switch`;
//! channels, mutex, timers: `chan_round_trip`, `chan_throughput`,
//! `mutex_contended`, `timers_many`), with a `grt` and a `tokio` function
//! in each, so the report shows them side by side. What each does, and why
//! the two sides are comparable, is in `src/lib.rs`; the figures and their
//! reading in docs/benchmarks.md.
//!
//!     cargo bench -p grt-benches --bench runtimes
//!     cargo run --release -p grt-benches --bin report     # ratios table
//!
//! Defaults: 1 s warm-up, 3 s measurement (criterion's flags override
//! them). `GRT_BENCH_ORDER=tokio-first` measures tokio first in each group,
//! to interleave runs. Smoke run (each benchmark once, small sizes, no
//! timing asserted): `GRT_BENCH_QUICK=1 cargo bench -p grt-benches --bench
//! runtimes -- --test`, or `benches/smoke.sh` for everything.
//!
//! Each runtime is built once per group; criterion's `iter_custom` passes
//! the iteration count to a task inside the runtime, which times the
//! iterations itself.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use grt_benches::{Bench, GrtHost, TokioHost};

fn runtimes(c: &mut Criterion) {
    let tokio_first = std::env::var("GRT_BENCH_ORDER").is_ok_and(|v| v == "tokio-first");
    for bench in Bench::ALL {
        let workers = bench.workers();
        let grt = GrtHost::new(workers);
        let tokio = TokioHost::for_bench(bench);
        let mut group = c.benchmark_group(bench.name());
        if matches!(
            bench,
            Bench::SpawnMany
                | Bench::YieldMany
                | Bench::ChainedSpawn
                | Bench::MutexContended
                | Bench::TimersMany
        ) {
            // Iterations of a millisecond or so: linear sampling would need
            // thousands of them per run.
            group.sampling_mode(SamplingMode::Flat);
        }
        if bench == Bench::TimersMany {
            // An iteration is 100,000 sleepers, 0.1 s or more: criterion's
            // least sample count keeps a run to a few seconds.
            group.sample_size(10);
        }
        let measure_grt = |group: &mut criterion::BenchmarkGroup<_>| {
            group.bench_function("grt", |b| b.iter_custom(|iters| grt.time(bench, iters)));
        };
        let measure_tokio = |group: &mut criterion::BenchmarkGroup<_>| {
            group.bench_function("tokio", |b| b.iter_custom(|iters| tokio.time(bench, iters)));
        };
        if tokio_first {
            measure_tokio(&mut group);
            measure_grt(&mut group);
        } else {
            measure_grt(&mut group);
            measure_tokio(&mut group);
        }
        group.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = runtimes
}
criterion_main!(benches);
