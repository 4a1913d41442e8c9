//! The public API's contracts: outside-the-runtime errors, independence of
//! runtimes, and tasks talking to plain threads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use grt::RuntimeBuilder;

#[test]
#[should_panic(expected = "must be called from a grt task")]
fn go_outside_a_runtime_panics_clearly() {
    grt::go(|| ());
}

#[test]
#[should_panic(expected = "must be called from a grt task")]
fn yield_outside_a_runtime_panics_clearly() {
    grt::yield_now();
}

#[test]
#[should_panic(expected = "called from inside a grt runtime")]
fn run_inside_a_task_panics_clearly() {
    // The panic in main resumes here, in the caller of the outer run.
    grt::run(|| grt::run(|| ()));
}

#[test]
fn run_reports_a_main_task_that_cannot_get_a_stack() {
    let err = std::panic::catch_unwind(|| {
        RuntimeBuilder::new()
            .max_procs(1)
            .stack_size(1 << 50)
            .run(|| 1)
    })
    .expect_err("run must fail, not hang or succeed");
    let message = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("cannot start the main task"), "{message}");
    assert!(message.contains("vm.max_map_count"), "{message}");
}

#[test]
fn run_returns_the_main_result_and_can_run_again() {
    for round in 0..3u64 {
        let v = RuntimeBuilder::new()
            .max_procs(2)
            .run(move || grt::go(move || round + 40).join().unwrap());
        assert_eq!(v, round + 40);
    }
}

#[test]
fn parallel_runtimes_do_not_share_state() {
    let threads: Vec<_> = (0..4u64)
        .map(|k| {
            std::thread::spawn(move || {
                RuntimeBuilder::new().max_procs(2).run(move || {
                    let n = 500 + k * 100;
                    let handles: Vec<_> = (0..n).map(|i| grt::go(move || i)).collect();
                    let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
                    (n, sum, grt::stats())
                })
            })
        })
        .collect();
    for t in threads {
        let (n, sum, stats) = t.join().unwrap();
        assert_eq!(sum, n * (n - 1) / 2);
        // Each runtime counts only its own tasks: its main plus its n.
        assert_eq!(stats.spawned, n + 1);
        assert_eq!(stats.procs, 2);
    }
}

#[test]
fn current_names_the_running_task() {
    let (main_id, main_name, child) = RuntimeBuilder::new().max_procs(1).run(|| {
        let me = grt::current();
        let child = grt::Builder::new()
            .name("worker")
            .spawn(|| {
                let me = grt::current();
                (me.id().as_u64(), me.name().map(String::from))
            })
            .unwrap()
            .join()
            .unwrap();
        (me.id().as_u64(), me.name().map(String::from), child)
    });
    assert_eq!(main_id, 1);
    assert_eq!(main_name.as_deref(), Some("main"));
    assert_ne!(child.0, 1);
    assert_eq!(child.1.as_deref(), Some("worker"));
}

#[test]
fn plain_threads_can_unpark_tasks_and_join_them() {
    let result = RuntimeBuilder::new().max_procs(2).run(|| {
        let released = Arc::new(AtomicBool::new(false));
        let (handle_tx, handle_rx) = mpsc::channel();
        let worker = {
            let released = Arc::clone(&released);
            grt::go(move || {
                handle_tx.send(grt::current()).unwrap();
                while !released.load(Ordering::Acquire) {
                    grt::park();
                }
                "worker done"
            })
        };
        // A plain thread wakes the worker, joins it (blocking itself, not
        // an M), and reports back by unparking main.
        let main = grt::current();
        let outcome = Arc::new(Mutex::new(None));
        let thread_outcome = Arc::clone(&outcome);
        let plain = std::thread::spawn(move || {
            let worker_task = handle_rx.recv().unwrap();
            released.store(true, Ordering::Release);
            worker_task.unpark();
            *thread_outcome.lock().unwrap() = Some(worker.join().unwrap());
            main.unpark();
        });
        while outcome.lock().unwrap().is_none() {
            grt::park();
        }
        plain.join().unwrap();
        let result = outcome.lock().unwrap().take();
        result
    });
    assert_eq!(result, Some("worker done"));
}

#[test]
fn unpark_before_park_is_not_lost() {
    let parks = RuntimeBuilder::new().max_procs(1).run(|| {
        grt::current().unpark();
        // The token is already there: this park returns at once, without
        // ever leaving the CPU.
        grt::park();
        grt::stats().parks
    });
    assert_eq!(parks, 0);
}

/// The wake-up that ends a park is spent by it: the task's next park waits
/// for a new one. (`park` may return spuriously by contract, but a token
/// left behind made every wait after a wake-up return at once for nothing,
/// so each socket wait cost a second round of arming and checking.) One P,
/// so the order is fixed: the helper runs only while main is parked.
#[test]
fn a_wake_up_is_spent_by_the_park_it_ends() {
    let woke_for_the_second = RuntimeBuilder::new().max_procs(1).run(|| {
        let main = grt::current();
        let second_sent = Arc::new(AtomicBool::new(false));
        let sent = Arc::clone(&second_sent);
        grt::go(move || {
            main.unpark();
            // Main runs now, and parks a second time.
            grt::yield_now();
            sent.store(true, Ordering::SeqCst);
            main.unpark();
        });
        grt::park();
        grt::park();
        second_sent.load(Ordering::SeqCst)
    });
    assert!(
        woke_for_the_second,
        "the second park returned before the second unpark"
    );
}

/// Two tasks on two Ps hand a counter back and forth, each spinning a
/// little before it parks, so they often find their turn without parking
/// and leave a NOTIFIED token behind. An `unpark` that returned early on
/// reading that stale token (instead of writing it) lost wake-ups here: both
/// tasks ended up parked, each waiting for the other.
#[test]
fn park_unpark_hand_off_never_loses_a_wake_up() {
    use std::sync::atomic::AtomicU64;
    use std::time::Duration;

    const ROUNDS: u64 = 300_000;
    fn wait_for(ball: &AtomicU64, want: u64) {
        for _ in 0..50 {
            if ball.load(Ordering::Acquire) == want {
                return;
            }
            std::hint::spin_loop();
        }
        while ball.load(Ordering::Acquire) != want {
            grt::park();
        }
    }
    // The runtime runs on its own thread so that a lost wake-up fails the
    // test (by the deadline) instead of hanging it.
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        RuntimeBuilder::new().max_procs(2).run(move || {
            let ball = Arc::new(AtomicU64::new(0));
            let me = grt::current();
            let partner = {
                let ball = Arc::clone(&ball);
                grt::go(move || {
                    for i in 0..ROUNDS {
                        wait_for(&ball, 2 * i + 1);
                        ball.store(2 * i + 2, Ordering::Release);
                        me.unpark();
                    }
                })
            };
            let other = partner.task().clone();
            for i in 0..ROUNDS {
                ball.store(2 * i + 1, Ordering::Release);
                other.unpark();
                wait_for(&ball, 2 * i + 2);
            }
            partner.join().unwrap();
        });
        done_tx.send(()).unwrap();
    });
    assert!(
        done_rx.recv_timeout(Duration::from_secs(120)).is_ok(),
        "a wake-up was lost: both tasks are parked waiting for each other"
    );
}
