//! spawn_many: the first program to run on grt.
//!
//! Spawns 100,000 tasks from the main task, joins them all, and prints what
//! the scheduler did: how many tasks idle Ps stole, how many parks, and a
//! `schedtrace`-style line. Things to watch:
//!
//!     cargo run --release --example spawn_many
//!     GRT_MAXPROCS=1 cargo run --release --example spawn_many   # no stealing
//!     GRT_STACK_SIZE=65536 cargo run --release --example spawn_many
//!
//! Every spawned task goes into the spawning P's `runnext` slot, pushing
//! the previous one to its queue (Go's `newproc`); the main task then parks
//! in `join`, and the other P, woken by `wake_p`, steals half the queue.
//! A task gets a stack only when it first runs, so 100,000 spawns do not
//! mean 100,000 stacks: finished tasks hand theirs to the next.

use std::time::Instant;

fn main() {
    const TASKS: u64 = 100_000;
    let (sum, elapsed, stats) = grt::run(|| {
        let start = Instant::now();
        let handles: Vec<_> = (0..TASKS).map(|i| grt::go(move || i * 2)).collect();
        let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        (sum, start.elapsed(), grt::stats())
    });
    assert_eq!(sum, TASKS * (TASKS - 1));
    println!(
        "spawned and joined {TASKS} tasks in {elapsed:.1?} ({:.0} ns/task)",
        elapsed.as_nanos() as f64 / TASKS as f64
    );
    println!(
        "steals: {} (moving {} tasks), parks: {}",
        stats.steals, stats.tasks_stolen, stats.parks
    );
    println!("SCHED {}ms: {stats}", elapsed.as_millis());
}
