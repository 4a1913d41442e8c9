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
