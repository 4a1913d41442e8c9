//! The scheduler's observable behaviour: results, ordering, fairness,
//! stealing, panics, stacks. Each test builds its own runtime, so they run
//! in parallel like any other tests.

use std::collections::HashSet;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use grt::{RuntimeBuilder, TaskState, WaitReason};

/// How long a test may wait for a condition before declaring it broken.
const PATIENCE: Duration = Duration::from_secs(60);

/// Yields until `cond` holds; fails the test if it never does.
fn yield_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        grt::yield_now();
    }
}

/// Work that takes a while without blocking (and that the optimiser keeps).
fn spin(iterations: u64) -> u64 {
    (0..iterations).fold(0u64, |acc, i| {
        black_box(acc.wrapping_mul(31).wrapping_add(i))
    })
}

#[test]
fn hundred_thousand_tasks_all_return_their_results() {
    let (sum, stats) = RuntimeBuilder::new().max_procs(2).run(|| {
        let handles: Vec<_> = (0..100_000u64).map(|i| grt::go(move || i * i)).collect();
        let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        (sum, grt::stats())
    });
    let expected: u64 = (0..100_000u64).map(|i| i * i).sum();
    assert_eq!(sum, expected);
    assert_eq!(stats.spawned, 100_001, "main + 100,000 tasks");
    assert_eq!(stats.live_tasks, 1, "only main is left");
}

#[test]
fn idle_ps_steal_work_and_tasks_run_on_several_threads() {
    let (threads, stats) = RuntimeBuilder::new().max_procs(2).run(|| {
        let seen = Arc::new(Mutex::new(HashSet::new()));
        // Fewer than a ring's worth, so nothing spills to the global queue:
        // the second P can only get work by stealing. Each task keeps
        // yielding (staying queued on the first P) until tasks have run on
        // two threads, so the test does not depend on how fast the second
        // M's thread starts.
        let handles: Vec<_> = (0..200)
            .map(|_| {
                let seen = Arc::clone(&seen);
                grt::go(move || {
                    let deadline = Instant::now() + PATIENCE;
                    loop {
                        let mut threads = seen.lock().unwrap();
                        threads.insert(std::thread::current().id());
                        if threads.len() >= 2 {
                            break;
                        }
                        drop(threads);
                        assert!(
                            Instant::now() < deadline,
                            "no second thread ever ran a task"
                        );
                        spin(1_000);
                        grt::yield_now();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let threads = seen.lock().unwrap().len();
        (threads, grt::stats())
    });
    assert!(stats.steals > 0, "no steal happened: {stats:?}");
    assert!(stats.tasks_stolen >= stats.steals, "{stats:?}");
    // Usually 2; a third M can appear in the moment an M is between giving
    // up its P and going to sleep.
    assert!(threads >= 2, "tasks ran on {threads} thread(s)");
}

#[test]
fn newest_spawn_runs_next_then_the_rest_in_order() {
    let order = RuntimeBuilder::new().max_procs(1).run(|| {
        let order = Arc::new(Mutex::new(Vec::new()));
        let handles: Vec<_> = ["a", "b", "c", "d"]
            .into_iter()
            .map(|name| {
                let order = Arc::clone(&order);
                grt::go(move || order.lock().unwrap().push(name))
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        Arc::try_unwrap(order).unwrap().into_inner().unwrap()
    });
    // "d" sits in runnext, the others in the ring in spawn order (newproc).
    assert_eq!(order, ["d", "a", "b", "c"]);
}

#[test]
fn readied_task_runs_before_queued_ones() {
    let order = RuntimeBuilder::new().max_procs(1).run(|| {
        let order = Arc::new(Mutex::new(Vec::new()));
        let log = |name: &'static str| {
            let order = Arc::clone(&order);
            move || order.lock().unwrap().push(name)
        };
        let sleeper = {
            let log = log("sleeper");
            grt::go(move || {
                grt::park();
                log()
            })
        };
        // Let the sleeper park, then queue two tasks behind it.
        yield_until("sleeper to park", || {
            sleeper.task().state() == TaskState::Waiting
        });
        let first = grt::go(log("queued-1"));
        let second = grt::go(log("queued-2"));
        // Readying puts the sleeper in runnext, ahead of both (goready).
        sleeper.task().unpark();
        sleeper.join().unwrap();
        first.join().unwrap();
        second.join().unwrap();
        Arc::try_unwrap(order).unwrap().into_inner().unwrap()
    });
    assert_eq!(order, ["sleeper", "queued-1", "queued-2"]);
}

/// Runs `tasks` tasks that count their turns and yield, on `procs` Ps,
/// until every one has had `rounds` turns; their counts at that moment.
fn yielders(procs: usize, tasks: usize, rounds: usize) -> Vec<usize> {
    RuntimeBuilder::new().max_procs(procs).run(move || {
        let counts: Arc<Vec<AtomicUsize>> =
            Arc::new((0..tasks).map(|_| AtomicUsize::new(0)).collect());
        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..tasks)
            .map(|i| {
                let (counts, stop) = (Arc::clone(&counts), Arc::clone(&stop));
                grt::go(move || {
                    while !stop.load(Ordering::Relaxed) {
                        counts[i].fetch_add(1, Ordering::Relaxed);
                        grt::yield_now();
                    }
                })
            })
            .collect();
        yield_until("every task to make progress", || {
            counts.iter().all(|c| c.load(Ordering::Relaxed) >= rounds)
        });
        stop.store(true, Ordering::Relaxed);
        let snapshot: Vec<usize> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        for h in handles {
            h.join().unwrap();
        }
        snapshot
    })
}

#[test]
fn yielding_tasks_share_one_p_round_robin() {
    let counts = yielders(1, 8, 2_000);
    let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    assert!(
        max - min <= 2,
        "one P should run yielders in turn: {counts:?}"
    );
}

#[test]
fn yielding_tasks_all_progress_on_two_ps() {
    let counts = yielders(2, 16, 1_000);
    assert!(counts.iter().all(|&c| c >= 1_000), "{counts:?}");
}

fn tree(depth: u32) -> u64 {
    if depth == 0 {
        return 1;
    }
    let left = grt::go(move || tree(depth - 1));
    let right = grt::go(move || tree(depth - 1));
    left.join().unwrap() + right.join().unwrap()
}

#[test]
fn nested_spawns_form_a_tree_of_joins() {
    let leaves = RuntimeBuilder::new().max_procs(2).run(|| tree(11));
    assert_eq!(leaves, 2048);
}

#[test]
fn panic_is_delivered_to_join_and_the_runtime_goes_on() {
    let (message, after) = RuntimeBuilder::new().max_procs(2).run(|| {
        let failing = grt::Builder::new()
            .name("doomed")
            .spawn(|| -> u32 { panic!("boom in a task") })
            .unwrap();
        assert_eq!(failing.task().name(), Some("doomed"));
        let err = failing.join().unwrap_err();
        let message = err.downcast_ref::<&str>().map(|s| s.to_string());
        (message, grt::go(|| 5).join().unwrap())
    });
    assert_eq!(message.as_deref(), Some("boom in a task"));
    assert_eq!(after, 5);
}

#[test]
fn main_task_panic_resumes_in_the_caller_after_shutdown() {
    let result = std::panic::catch_unwind(|| {
        RuntimeBuilder::new().max_procs(2).run(|| {
            grt::go(|| 1).join().unwrap();
            panic!("main failed")
        })
    });
    let err = result.unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"main failed"));
}

#[test]
fn a_task_can_use_200_kib_of_its_256_kib_stack() {
    let sum = RuntimeBuilder::new()
        .max_procs(1)
        .stack_size(256 * 1024)
        .run(|| {
            grt::go(|| {
                let mut buf = [0u8; 200 * 1024];
                let buf = black_box(&mut buf);
                for (i, b) in buf.iter_mut().enumerate() {
                    *b = i as u8;
                }
                buf.iter().map(|&b| b as u64).sum::<u64>()
            })
            .join()
            .unwrap()
        });
    let expected: u64 = (0..200 * 1024u64).map(|i| i % 256).sum();
    assert_eq!(sum, expected);
}

#[test]
fn builder_stack_size_gives_a_bigger_stack() {
    let deep = RuntimeBuilder::new()
        .max_procs(1)
        .stack_size(64 * 1024)
        .run(|| {
            grt::Builder::new()
                .stack_size(1024 * 1024)
                .spawn(|| {
                    let mut buf = [1u8; 800 * 1024];
                    black_box(&mut buf)
                        .iter()
                        .map(|&b| b as usize)
                        .sum::<usize>()
                })
                .unwrap()
                .join()
                .unwrap()
        });
    assert_eq!(deep, 800 * 1024);
}

#[test]
fn spawn_that_cannot_get_a_stack_names_the_limit() {
    let err = RuntimeBuilder::new()
        .max_procs(1)
        .run(|| {
            grt::Builder::new()
                .stack_size(1 << 50)
                .spawn(|| ())
                .map(|_| ())
        })
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::OutOfMemory);
    let message = err.to_string();
    assert!(message.contains("vm.max_map_count"), "{message}");
    assert!(message.contains("sysctl -w vm.max_map_count="), "{message}");
}

#[test]
fn twenty_thousand_tasks_parked_at_once() {
    const N: usize = 20_000;
    let total = RuntimeBuilder::new().max_procs(2).run(|| {
        let release = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let release = Arc::clone(&release);
                grt::go(move || {
                    while !release.load(Ordering::Acquire) {
                        grt::park();
                    }
                    i
                })
            })
            .collect();
        yield_until("all tasks to park", || {
            handles.iter().all(|h| {
                h.task().state() == TaskState::Waiting && h.task().wait_reason() == WaitReason::Park
            })
        });
        assert_eq!(grt::stats().live_tasks, N as u64 + 1);
        release.store(true, Ordering::Release);
        for h in &handles {
            h.task().unpark();
        }
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum::<usize>()
    });
    assert_eq!(total, (0..N).sum());
}

#[test]
fn join_parks_with_the_join_wait_reason() {
    let value = RuntimeBuilder::new().max_procs(2).run(|| {
        let gate = Arc::new(AtomicBool::new(false));
        let child = {
            let gate = Arc::clone(&gate);
            grt::go(move || {
                while !gate.load(Ordering::Acquire) {
                    grt::park();
                }
                11
            })
        };
        let child_task = child.task().clone();
        let joiner = grt::go(move || child.join().unwrap() * 2);
        yield_until("joiner to wait in join", || {
            joiner.task().state() == TaskState::Waiting
                && joiner.task().wait_reason() == WaitReason::Join
        });
        gate.store(true, Ordering::Release);
        child_task.unpark();
        joiner.join().unwrap()
    });
    assert_eq!(value, 22);
}

#[test]
fn a_ping_pong_pair_cannot_starve_its_p() {
    // One P. A and B wake each other through `runnext` forever; each wake
    // inherits the time slice, so without a bound on that chain the main
    // task, queued behind them, would never run again.
    let (starved, rounds) = RuntimeBuilder::new().max_procs(1).run(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let starved = Arc::new(AtomicBool::new(false));
        let rounds = Arc::new(AtomicUsize::new(0));
        let a_handle = Arc::new(Mutex::new(None::<grt::TaskHandle>));
        let b = {
            let (stop, a_handle) = (Arc::clone(&stop), Arc::clone(&a_handle));
            grt::go(move || loop {
                grt::park();
                if stop.load(Ordering::Acquire) {
                    break;
                }
                if let Some(a) = a_handle.lock().unwrap().as_ref() {
                    a.unpark();
                }
            })
        };
        let a = {
            let (stop, starved, rounds) =
                (Arc::clone(&stop), Arc::clone(&starved), Arc::clone(&rounds));
            let b = b.task().clone();
            grt::go(move || {
                let deadline = Instant::now() + Duration::from_secs(10);
                while !stop.load(Ordering::Acquire) {
                    if Instant::now() > deadline {
                        starved.store(true, Ordering::Release);
                        stop.store(true, Ordering::Release);
                        break;
                    }
                    rounds.fetch_add(1, Ordering::Relaxed);
                    b.unpark();
                    grt::park();
                }
                b.unpark();
            })
        };
        *a_handle.lock().unwrap() = Some(a.task().clone());
        // Behind the pair in the queue; this returns only when the P lets
        // the queue have a turn.
        grt::yield_now();
        stop.store(true, Ordering::Release);
        a.task().unpark();
        b.task().unpark();
        a.join().unwrap();
        b.join().unwrap();
        (
            starved.load(Ordering::Acquire),
            rounds.load(Ordering::Relaxed),
        )
    });
    assert!(
        !starved,
        "the queued main task never ran while the pair ping-ponged"
    );
    assert!(
        rounds >= 10,
        "the pair should have ping-ponged before main ran: {rounds} rounds"
    );
}

/// Tasks that saw `std::thread::panicking()` without panicking themselves.
static INNOCENTS_PANICKING: AtomicUsize = AtomicUsize::new(0);

/// Joins a task from its destructor, so a panicking task parks mid-unwind.
struct JoinOnDrop(Option<grt::JoinHandle<bool>>);

impl Drop for JoinOnDrop {
    fn drop(&mut self) {
        let child_saw = self.0.take().unwrap().join().unwrap();
        INNOCENTS_PANICKING.fetch_add(child_saw as usize, Ordering::Relaxed);
    }
}

#[test]
fn a_task_parked_mid_panic_does_not_make_others_panicking() {
    for procs in [1, 2] {
        RuntimeBuilder::new().max_procs(procs).run(|| {
            for _ in 0..20 {
                let bad = grt::go(|| {
                    // The child runs while `bad` unwinds and waits for it.
                    let _join = JoinOnDrop(Some(grt::go(|| {
                        grt::yield_now();
                        std::thread::panicking()
                    })));
                    panic!("intentional, to unwind through a join");
                });
                assert!(bad.join().is_err());
                // Tasks started afterwards, on whichever M: per-thread panic
                // counts must not have drifted.
                let later: Vec<_> = (0..50).map(|_| grt::go(std::thread::panicking)).collect();
                for h in later {
                    INNOCENTS_PANICKING.fetch_add(h.join().unwrap() as usize, Ordering::Relaxed);
                }
            }
        });
        let saw = INNOCENTS_PANICKING.load(Ordering::Relaxed);
        assert_eq!(
            saw, 0,
            "{procs} P(s): {saw} innocent tasks saw std::thread::panicking() == true"
        );
    }
}
