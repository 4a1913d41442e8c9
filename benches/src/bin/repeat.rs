//! One benchmark's work, N iterations, on grt or on tokio: the
//! standalone run that `valgrind --tool=callgrind` counts instructions of
//! (`benches/callgrind.sh` runs it twice with different N and takes the
//! difference, so runtime start-up and shutdown cancel out). The work is
//! the same code the criterion groups time (`src/lib.rs`).
//!
//!     cargo run --release -p grt-benches --bin repeat -- grt spawn_many 20
//!     cargo run --release -p grt-benches --bin repeat -- tokio switch 100000
//!
//! Runtimes: `bench.workers()` Ps for grt, the same number of tokio
//! workers (a current-thread runtime for `switch`; the time driver for
//! `timers_many`). Prints the wall time,
//! which under valgrind means little; the instruction count is the point.

use grt_benches::{on_grt, Bench, TokioHost};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let names: Vec<&str> = Bench::ALL.iter().map(|b| b.name()).collect();
    let usage = || -> ! {
        eprintln!("usage: repeat grt|tokio {} ITERATIONS", names.join("|"));
        std::process::exit(2)
    };
    let [runtime, bench, iters] = args.as_slice() else {
        usage()
    };
    let Some(bench) = Bench::from_name(bench) else {
        usage()
    };
    let Ok(iters) = iters.replace(['_', ','], "").parse::<u64>() else {
        usage()
    };
    let workers = bench.workers();
    let elapsed = match runtime.as_str() {
        "grt" => grt::RuntimeBuilder::new()
            .max_procs(workers)
            .run(move || on_grt::run(bench, iters)),
        "tokio" => TokioHost::for_bench(bench).time(bench, iters),
        _ => usage(),
    };
    let (ops, op) = bench.ops_per_iter();
    let per_op = elapsed.as_nanos() as f64 / (iters * ops).max(1) as f64;
    println!(
        "{runtime} {} x{iters}: {elapsed:?}, {per_op:.1} ns/{op}",
        bench.name()
    );
}
