//! `lock_os_thread`: a locked task stays on its thread across parks and
//! yields, and its P keeps serving other tasks while it is parked.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use grt::RuntimeBuilder;

#[test]
fn locked_task_stays_on_its_thread_while_others_churn() {
    let moved = RuntimeBuilder::new().max_procs(2).run(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let churn: Vec<_> = (0..32)
            .map(|_| {
                let stop = Arc::clone(&stop);
                grt::go(move || {
                    while !stop.load(Ordering::Relaxed) {
                        grt::go(|| ()).join().unwrap();
                        grt::yield_now();
                    }
                })
            })
            .collect();
        let locked = grt::go(|| {
            grt::lock_os_thread();
            let home = thread::current().id();
            let mut moved = 0;
            for i in 0..300 {
                if i % 2 == 0 {
                    grt::yield_now();
                } else {
                    // Parks until the child ends.
                    grt::go(|| ()).join().unwrap();
                }
                moved += (thread::current().id() != home) as usize;
            }
            grt::unlock_os_thread();
            moved
        });
        let moved = locked.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        for h in churn {
            h.join().unwrap();
        }
        moved
    });
    assert_eq!(
        moved, 0,
        "the locked task ran on another thread {moved} times"
    );
}

#[test]
fn a_locked_main_task_stays_on_its_thread() {
    let caller = thread::current().id();
    let (off_thread, on_caller) = RuntimeBuilder::new().max_procs(2).run(move || {
        grt::lock_os_thread();
        let home = thread::current().id();
        let off_thread = (0..100)
            .filter(|&i| {
                grt::go(move || i).join().unwrap();
                thread::current().id() != home
            })
            .count();
        (off_thread, home == caller)
    });
    assert_eq!(off_thread, 0);
    // The caller of `run` only waits; tasks run on the runtime's Ms.
    assert!(!on_caller);
}

#[test]
fn a_parked_locked_task_gives_its_p_to_others() {
    // One P: while the locked task is parked, the only way the waker can
    // run is if the locked M handed its P off.
    let woken_by = RuntimeBuilder::new().max_procs(1).run(|| {
        let ran = Arc::new(AtomicUsize::new(0));
        let locked = {
            let ran = Arc::clone(&ran);
            grt::go(move || {
                grt::lock_os_thread();
                while ran.load(Ordering::Acquire) == 0 {
                    grt::park();
                }
                grt::unlock_os_thread();
                ran.load(Ordering::Acquire)
            })
        };
        // Let it really park (not just find the waker's unpark waiting).
        while locked.task().state() != grt::TaskState::Waiting {
            grt::yield_now();
        }
        let target = locked.task().clone();
        let waker = {
            let ran = Arc::clone(&ran);
            grt::go(move || {
                ran.store(7, Ordering::Release);
                target.unpark();
            })
        };
        waker.join().unwrap();
        locked.join().unwrap()
    });
    assert_eq!(woken_by, 7);
}

#[test]
fn lock_calls_nest() {
    let stayed = RuntimeBuilder::new().max_procs(2).run(|| {
        grt::go(|| {
            grt::lock_os_thread();
            grt::lock_os_thread();
            grt::unlock_os_thread();
            // Still locked once: parking must not move us.
            let home = thread::current().id();
            let same = (0..50).all(|_| {
                grt::go(|| ()).join().unwrap();
                thread::current().id() == home
            });
            grt::unlock_os_thread();
            same
        })
        .join()
        .unwrap()
    });
    assert!(stayed);
}

#[test]
fn a_p_handed_off_while_all_ps_were_busy_goes_looking_for_work() {
    // Two Ps, both busy: main on one, a locked task on the other. A task
    // spawned now finds no idle P to wake. When the locked task parks, its
    // M must not simply idle the P: someone has to find that task while
    // main keeps its own P busy.
    let ran = RuntimeBuilder::new().max_procs(2).run(|| {
        let started = Arc::new(AtomicBool::new(false));
        let may_park = Arc::new(AtomicBool::new(false));
        let locked = {
            let (started, may_park) = (Arc::clone(&started), Arc::clone(&may_park));
            grt::go(move || {
                grt::lock_os_thread();
                started.store(true, Ordering::Release);
                while !may_park.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
                grt::park();
                grt::unlock_os_thread();
            })
        };
        while !started.load(Ordering::Acquire) {
            std::hint::spin_loop();
        }
        let t_ran = Arc::new(AtomicBool::new(false));
        let t = {
            let t_ran = Arc::clone(&t_ran);
            grt::go(move || t_ran.store(true, Ordering::Release))
        };
        may_park.store(true, Ordering::Release);
        // Keep this P busy (no yield) until the task runs elsewhere.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !t_ran.load(Ordering::Acquire) && Instant::now() < deadline {
            std::hint::spin_loop();
        }
        let ran = t_ran.load(Ordering::Acquire);
        t.join().unwrap();
        while locked.task().state() != grt::TaskState::Waiting {
            grt::yield_now();
        }
        locked.task().unpark();
        locked.join().unwrap();
        ran
    });
    assert!(
        ran,
        "the spawned task waited while the handed-off P sat idle"
    );
}
