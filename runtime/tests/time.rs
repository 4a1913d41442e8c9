//! Timers run by the scheduler: sleep, after, tick, Timer, and the channel
//! timeouts built on them. Assertions are about order and "not before the
//! deadline"; upper bounds are generous, since speed belongs in benchmarks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use grt::chan::{self, RecvTimeoutError, SendTimeoutError};
use grt::time::{self, Timer};
use grt::RuntimeBuilder;

/// A bound no correct run comes near; exceeding it means a lost wake-up.
const LOST: Duration = Duration::from_secs(20);

#[test]
fn sleep_returns_no_earlier_than_asked() {
    let elapsed = RuntimeBuilder::new().max_procs(2).run(|| {
        let start = Instant::now();
        time::sleep(Duration::from_millis(20));
        start.elapsed()
    });
    assert!(elapsed >= Duration::from_millis(20), "{elapsed:?}");
    assert!(elapsed < LOST, "{elapsed:?}");
}

#[test]
fn sleeping_tasks_each_wake_after_their_own_deadline() {
    // (Not "in deadline order": timers due in the same pass are readied
    // one after another into runnext, so a late M runs them newest first,
    // as Go's goready would.)
    let woke_early = RuntimeBuilder::new().max_procs(1).run(|| {
        let start = Instant::now();
        let handles: Vec<_> = [30u64, 10, 20, 0, 40]
            .into_iter()
            .map(|ms| {
                grt::go(move || {
                    let wanted = Duration::from_millis(ms * 5);
                    time::sleep(wanted);
                    (start.elapsed() < wanted).then_some(ms)
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert!(
        woke_early.is_empty(),
        "woke before their deadlines: {woke_early:?}"
    );
}

#[test]
fn a_hundred_thousand_sleepers_all_wake_without_a_thread_each() {
    const N: usize = 100_000;
    let (woken, threads) = RuntimeBuilder::new().max_procs(2).run(|| {
        let woken = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..N)
            .map(|_| {
                let woken = Arc::clone(&woken);
                grt::go(move || {
                    time::sleep(Duration::from_millis(1));
                    woken.fetch_add(1, Ordering::Relaxed);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        (woken.load(Ordering::Relaxed), grt::stats().threads)
    });
    assert_eq!(woken, N);
    assert!(
        threads <= 4,
        "timers must not cost threads: {threads} threads for 2 Ps"
    );
}

#[test]
fn a_timer_armed_by_a_busy_task_wakes_an_idle_runtime() {
    // Main keeps its P busy (no parking) while a task on the other P waits
    // for an `after`: the idle M must wake for the timer by itself.
    let got = RuntimeBuilder::new().max_procs(2).run(|| {
        let (done_tx, done_rx) = chan::bounded::<bool>(1);
        grt::go(move || {
            let rx = time::after(Duration::from_millis(10));
            done_tx.send(rx.recv().is_ok()).unwrap();
        });
        let deadline = Instant::now() + LOST;
        loop {
            if let Ok(v) = done_rx.try_recv() {
                break v;
            }
            assert!(Instant::now() < deadline, "the timer never fired");
            std::hint::spin_loop();
        }
    });
    assert!(got);
}

#[test]
fn sleep_on_a_plain_thread_works() {
    let start = Instant::now();
    time::sleep(Duration::from_millis(5));
    assert!(start.elapsed() >= Duration::from_millis(5));
}

#[test]
fn after_delivers_once_after_the_duration() {
    RuntimeBuilder::new().max_procs(2).run(|| {
        let start = Instant::now();
        let rx = time::after(Duration::from_millis(15));
        let at = rx.recv().unwrap();
        assert!(at >= start + Duration::from_millis(15));
        assert!(start.elapsed() >= Duration::from_millis(15));
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(30)),
            Err(RecvTimeoutError::Timeout),
            "only once"
        );
    });
}

#[test]
fn tick_delivers_increasing_instants_and_drops_when_unread() {
    RuntimeBuilder::new().max_procs(2).run(|| {
        let period = Duration::from_millis(5);
        let rx = time::tick(period);
        let ticks: Vec<Instant> = (0..5).map(|_| rx.recv().unwrap()).collect();
        for pair in ticks.windows(2) {
            assert!(pair[1] > pair[0], "{ticks:?}");
        }
        // Not reading for 10 periods leaves one tick buffered, not ten (a
        // second may land while we drain, hence "at most two").
        time::sleep(period * 10);
        let buffered = std::iter::from_fn(|| rx.try_recv().ok()).take(10).count();
        assert!(
            (1..=2).contains(&buffered),
            "a slow reader sees no backlog: {buffered}"
        );
    });
}

#[test]
fn timer_stop_prevents_firing_and_reset_moves_the_deadline() {
    RuntimeBuilder::new().max_procs(2).run(|| {
        // Long enough that a descheduled test thread still stops it first,
        // short enough that the wait below would see it fire if stop failed.
        let timer = Timer::new(Duration::from_millis(100));
        assert!(timer.stop(), "stopped before it fired");
        assert!(!timer.stop(), "already stopped");
        assert_eq!(
            timer.channel().recv_timeout(Duration::from_millis(300)),
            Err(RecvTimeoutError::Timeout),
            "a stopped timer never fires"
        );

        let start = Instant::now();
        let timer = Timer::new(LOST);
        assert!(timer.reset(Duration::from_millis(50)), "it was pending");
        let fired = timer.channel().recv().unwrap();
        assert!(
            fired >= start + Duration::from_millis(50),
            "fired at the old deadline"
        );
        assert!(!timer.reset(Duration::from_millis(1)), "it had fired");
        assert!(
            timer.channel().recv_timeout(LOST).is_ok(),
            "reset re-arms a fired timer"
        );
    });
}

#[test]
fn recv_and_send_timeouts_give_up_and_leave_nothing_behind() {
    RuntimeBuilder::new().max_procs(2).run(|| {
        let (tx, rx) = chan::bounded::<u32>(0);
        let start = Instant::now();
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(10)),
            Err(RecvTimeoutError::Timeout)
        );
        assert!(start.elapsed() >= Duration::from_millis(10));
        assert_eq!(
            tx.send_timeout(7, Duration::from_millis(10)),
            Err(SendTimeoutError::Timeout(7))
        );
        // The timed-out waiters are gone: a later pair meets normally, and
        // a value sent now is not swallowed by a stale receiver.
        let receiver = grt::go(move || rx.recv());
        tx.send(8).unwrap();
        assert_eq!(receiver.join().unwrap(), Ok(8));
    });
}

#[test]
fn timeouts_work_on_plain_threads_too() {
    let (tx, rx) = chan::bounded::<u32>(0);
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(5)),
        Err(RecvTimeoutError::Timeout)
    );
    assert_eq!(
        tx.send_timeout(1, Duration::from_millis(5)),
        Err(SendTimeoutError::Timeout(1))
    );
}

#[test]
fn select_timeout_arm_fires_only_when_nothing_else_does() {
    RuntimeBuilder::new().max_procs(2).run(|| {
        let (tx, rx) = chan::bounded::<u32>(0);
        let start = Instant::now();
        let timed_out = grt::select! {
            recv(rx) -> _ => false,
            default(Duration::from_millis(15)) => true,
        };
        assert!(timed_out);
        assert!(start.elapsed() >= Duration::from_millis(15));

        let sender = grt::go(move || {
            time::sleep(Duration::from_millis(5));
            tx.send(3)
        });
        let got = grt::select! {
            recv(rx) -> v => v.ok(),
            default(LOST) => None,
        };
        assert_eq!(got, Some(3));
        sender.join().unwrap().unwrap();
    });
}
