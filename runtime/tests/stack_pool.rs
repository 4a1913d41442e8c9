//! Spare stacks give their deep pages back while the runtime idles
//! (runtime/src/stack_pool.rs, sysmon.rs). Its own test binary: other
//! tests' tasks would give and take stacks from under it.

use std::sync::Arc;
use std::time::Duration;

/// Writes 64 KiB of this task's stack, below the 32 KiB a spare stack
/// keeps when it is trimmed.
fn use_deep_stack() {
    let mut frame = [0u8; 64 * 1024];
    std::hint::black_box(&mut frame);
}

#[test]
fn an_idle_runtime_trims_its_spare_stacks() {
    const TASKS: usize = 256;
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
        // What is under test is what happens while nothing wakes the
        // runtime: one timer, and every P idle until it fires. sysmon must
        // trim the pool (two 10 ms passes) before it sleeps for want of
        // busy Ps; asleep, it would trim nothing until the timer ends the
        // idleness. So this waits a fixed time, far longer than two passes,
        // rather than polling the stats, which would wake the runtime.
        grt::time::sleep(Duration::from_secs(1));
        let idle = grt::stats();
        assert_eq!(
            idle.trimmed_stacks, idle.pooled_stacks,
            "spare stacks still untrimmed after a second of idleness"
        );
    });
}
