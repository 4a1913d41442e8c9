//! Blocking calls and preemption: `grt::blocking` hands its P over while
//! the thread is stuck, and sysmon makes a long computation yield at its
//! checkpoints. Both matter most with one P, where nothing else could run.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use grt::RuntimeBuilder;

/// How long a test may wait for a condition before declaring it broken.
const PATIENCE: Duration = Duration::from_secs(60);

#[test]
fn a_blocking_call_does_not_stop_the_other_tasks_of_its_p() {
    let (progress, retaken) = RuntimeBuilder::new().max_procs(1).run(|| {
        let counter = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let busy = {
            let (counter, stop) = (Arc::clone(&counter), Arc::clone(&stop));
            grt::go(move || {
                while !stop.load(Ordering::Relaxed) {
                    counter.fetch_add(1, Ordering::Relaxed);
                    grt::yield_now();
                }
            })
        };
        // Let the busy task get going on our only P.
        while counter.load(Ordering::Relaxed) == 0 {
            grt::yield_now();
        }
        // From here to `after` this task does not yield: only a hand-off
        // of the P lets the busy task count.
        let before = counter.load(Ordering::Relaxed);
        grt::blocking(|| std::thread::sleep(Duration::from_millis(200)));
        let after = counter.load(Ordering::Relaxed);
        stop.store(true, Ordering::Relaxed);
        busy.join().unwrap();
        (after - before, grt::stats().retaken)
    });
    assert!(
        progress > 0,
        "the other task made no progress during the call"
    );
    assert!(retaken >= 1, "sysmon never took the P back");
}

#[test]
fn blocking_returns_the_value_and_runs_on_plain_threads() {
    assert_eq!(grt::blocking(|| 6 * 7), 42);
    let answer = RuntimeBuilder::new().max_procs(2).run(|| {
        let handles: Vec<_> = (0..50u64)
            .map(|i| grt::go(move || grt::blocking(move || i * 2)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(answer, (0..50).map(|i| i * 2).sum::<u64>());
}

#[test]
fn many_tasks_blocking_at_once_all_finish() {
    // More simultaneous blocking calls than Ps: sysmon hands the P around
    // and the runtime starts Ms for the stuck ones.
    let (sum, threads) = RuntimeBuilder::new().max_procs(1).run(|| {
        let handles: Vec<_> = (0..8u64)
            .map(|i| {
                grt::go(move || {
                    grt::blocking(|| std::thread::sleep(Duration::from_millis(50)));
                    i
                })
            })
            .collect();
        let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        (sum, grt::stats().threads)
    });
    assert_eq!(sum, (0..8).sum::<u64>());
    assert!(threads > 1, "no M was started for the blocked ones");
}

#[test]
fn a_panic_inside_blocking_reaches_the_joiner_and_the_runtime_goes_on() {
    let (first, second) = RuntimeBuilder::new().max_procs(1).run(|| {
        let first = grt::go(|| {
            grt::blocking(|| {
                std::thread::sleep(Duration::from_millis(30));
                panic!("inside a blocking call")
            })
        })
        .join();
        let second = grt::go(|| grt::blocking(|| 5)).join();
        (first.is_err(), second.unwrap())
    });
    assert!(first, "the panic did not reach the joiner");
    assert_eq!(second, 5);
}

#[test]
fn a_hog_calling_checkpoint_does_not_starve_a_ticker() {
    let (ticks, hog_stopped_by_ticker, preempted) = RuntimeBuilder::new().max_procs(1).run(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let hog = {
            let stop = Arc::clone(&stop);
            grt::go(move || {
                let give_up = Instant::now() + PATIENCE;
                while !stop.load(Ordering::Relaxed) {
                    if Instant::now() > give_up {
                        return false;
                    }
                    grt::checkpoint();
                }
                true
            })
        };
        let ticker = grt::go(move || {
            let mut ticks = 0;
            for _ in 0..5 {
                grt::time::sleep(Duration::from_millis(5));
                ticks += 1;
            }
            stop.store(true, Ordering::Relaxed);
            ticks
        });
        let ticks = ticker.join().unwrap();
        let stopped = hog.join().unwrap();
        (ticks, stopped, grt::stats().preempted)
    });
    assert_eq!(ticks, 5);
    assert!(
        hog_stopped_by_ticker,
        "the hog ran out its patience: the ticker starved"
    );
    assert!(preempted >= 1, "sysmon never asked the hog to yield");
}

#[test]
fn the_thread_limit_bounds_the_ms_and_the_work_still_finishes() {
    let (sum, threads) = RuntimeBuilder::new().max_procs(1).max_threads(2).run(|| {
        let handles: Vec<_> = (0..6u64)
            .map(|i| {
                grt::go(move || {
                    grt::blocking(|| std::thread::sleep(Duration::from_millis(20)));
                    i
                })
            })
            .collect();
        let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        (sum, grt::stats().threads)
    });
    assert_eq!(sum, (0..6).sum::<u64>());
    assert!(threads <= 2, "{threads} threads under a limit of 2");
}

/// Aborts the test process if the returned guard is still alive after
/// `PATIENCE`: for tests whose failure mode is a hang.
fn watchdog(what: &'static str) -> impl Drop {
    struct Disarm(Arc<AtomicBool>);
    impl Drop for Disarm {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let done = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&done);
    std::thread::spawn(move || {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if seen.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("{what}: hung for {PATIENCE:?}");
        std::process::abort();
    });
    Disarm(done)
}

#[test]
fn at_the_thread_limit_the_m_in_the_net_poll_takes_the_stranded_p() {
    let _watchdog = watchdog("thread limit with an M in the net poll");
    // One P, two threads. W sits in a blocking call, so sysmon hands the P
    // to the second M, which then blocks in the net poll for R's socket.
    // When a plain thread readies S, no thread may start for the idle P:
    // the M in the poll must be woken to run S, which releases W.
    let got = RuntimeBuilder::new().max_procs(1).max_threads(2).run(|| {
        let listener = grt::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let (conn, _) = listener.accept().unwrap();
        let reader = grt::go(move || {
            let _ = std::io::Read::read(&mut &conn, &mut [0u8; 1]);
        });
        let (to_s, s_rx) = grt::chan::unbounded::<u32>();
        let (to_w, w_rx) = std::sync::mpsc::channel::<u32>();
        let s = grt::go(move || to_w.send(s_rx.recv().unwrap()).unwrap());
        let w = grt::go(move || grt::blocking(move || w_rx.recv().unwrap()));
        let (w_task, r_task) = (w.task().clone(), reader.task().clone());
        let poke = std::thread::spawn(move || {
            while w_task.state() != grt::TaskState::Syscall
                || r_task.state() != grt::TaskState::Waiting
            {
                std::thread::yield_now();
            }
            to_s.send(7).unwrap();
        });
        s.join().unwrap();
        let got = w.join().unwrap();
        poke.join().unwrap();
        got
    });
    assert_eq!(got, 7);
}

#[test]
fn run_does_not_wait_for_a_blocking_call_left_behind() {
    let (release, held) = std::sync::mpsc::channel::<()>();
    let _watchdog = watchdog("run waiting for a blocking call");
    RuntimeBuilder::new().max_procs(1).run(move || {
        let stuck = grt::go(move || grt::blocking(move || held.recv()));
        let task = stuck.task().clone();
        while task.state() != grt::TaskState::Syscall {
            grt::yield_now();
        }
        // Main returns with the call still going, as a program whose
        // background task reads stdin would.
    });
    // Run has returned: let the abandoned call end, its thread exits.
    let _ = release.send(());
}

#[test]
fn stats_count_tasks_by_state() {
    let stats = RuntimeBuilder::new().max_procs(2).run(|| {
        let (release_w, held) = std::sync::mpsc::channel::<()>();
        let (release_p, parked_rx) = grt::chan::bounded::<()>(0);
        let w = grt::go(move || grt::blocking(move || held.recv().unwrap()));
        let p = grt::go(move || parked_rx.recv().unwrap());
        let (w_task, p_task) = (w.task().clone(), p.task().clone());
        while w_task.state() != grt::TaskState::Syscall || p_task.state() != grt::TaskState::Waiting
        {
            grt::yield_now();
        }
        let stats = grt::stats();
        release_w.send(()).unwrap();
        release_p.send(()).unwrap();
        w.join().unwrap();
        p.join().unwrap();
        stats
    });
    assert_eq!(stats.syscall_tasks, 1, "{stats:?}");
    assert!(stats.waiting_tasks >= 1, "{stats:?}");
    // The main task took the snapshot, running.
    assert!(stats.running_tasks >= 1, "{stats:?}");
}
