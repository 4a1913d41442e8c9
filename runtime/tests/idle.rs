//! An idle runtime burns no CPU: Ms with nothing to do sleep instead of
//! polling. This is its own test binary so that no other test's work is
//! counted in the process's CPU time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// CPU time (user + system) this process has used so far.
fn process_cpu_time() -> Duration {
    // SAFETY: getrusage writes into the struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut usage), 0);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

#[test]
fn idle_runtime_uses_under_five_percent_of_a_core() {
    const IDLE: Duration = Duration::from_secs(1);
    let cpu = grt::RuntimeBuilder::new().max_procs(2).run(|| {
        // Wake every P first, so there are Ms that must go back to sleep.
        let handles: Vec<_> = (0..64u64)
            .map(|i| grt::go(move || (0..10_000u64).fold(i, |a, b| std::hint::black_box(a ^ b))))
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        // Park main; a plain thread wakes it after IDLE. Meanwhile the
        // runtime has nothing to run.
        let woken = Arc::new(AtomicBool::new(false));
        let main = grt::current();
        let before = process_cpu_time();
        let waker = {
            let woken = Arc::clone(&woken);
            std::thread::spawn(move || {
                std::thread::sleep(IDLE);
                woken.store(true, Ordering::Release);
                main.unpark();
            })
        };
        while !woken.load(Ordering::Acquire) {
            grt::park();
        }
        let used = process_cpu_time() - before;
        waker.join().unwrap();
        used
    });
    assert!(
        cpu < IDLE / 20,
        "an idle runtime used {cpu:?} of CPU in {IDLE:?} (limit: 5% of one core)"
    );
}

/// Writes 64 KiB of this task's stack, below the 32 KiB a spare stack
/// keeps when it is trimmed.
fn use_deep_stack() {
    let mut frame = [0u8; 64 * 1024];
    std::hint::black_box(&mut frame);
}

#[test]
fn an_idle_runtime_trims_its_spare_stacks() {
    const TASKS: usize = 256;
    const PATIENCE: Duration = Duration::from_secs(10);
    grt::RuntimeBuilder::new().max_procs(2).run(|| {
        // All alive at once, so that the Ps' caches overflow into the
        // shared pool when they end.
        let started = Arc::new(grt::sync::WaitGroup::new());
        started.add(TASKS as i32);
        let (release, released) = grt::chan::bounded::<()>(0);
        let handles: Vec<_> = (0..TASKS)
            .map(|_| {
                let (started, released) = (Arc::clone(&started), released.clone());
                grt::go(move || {
                    use_deep_stack();
                    started.done();
                    assert!(released.recv().is_err(), "nothing is ever sent");
                })
            })
            .collect();
        started.wait();
        drop(release);
        for h in handles {
            h.join().unwrap();
        }
        let ended = grt::stats();
        assert!(ended.pooled_stacks > 0, "no stack reached the pool");
        // The runtime now idles but for this task's timer; sysmon trims
        // the pool before it goes to sleep.
        let deadline = std::time::Instant::now() + PATIENCE;
        let mut now = grt::stats();
        while now.trimmed_stacks < now.pooled_stacks && std::time::Instant::now() < deadline {
            grt::time::sleep(Duration::from_millis(20));
            now = grt::stats();
        }
        assert_eq!(
            now.trimmed_stacks, now.pooled_stacks,
            "spare stacks still untrimmed after {PATIENCE:?}"
        );
    });
}
