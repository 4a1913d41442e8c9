//! The context switch's CFI: an unwinder walking a task's stack passes
//! through our frames and stops at the task's entry trampoline, with no
//! garbage frames below it. std's backtrace uses the same DWARF CFI as gdb.

use std::backtrace::Backtrace;

#[inline(never)]
fn capture_in_task() -> String {
    std::hint::black_box(Backtrace::force_capture().to_string())
}

#[test]
fn task_backtrace_ends_at_the_entry_trampoline() {
    let trace = grt::RuntimeBuilder::new()
        .max_procs(1)
        .run(|| grt::go(capture_in_task).join().unwrap());
    let frames: Vec<&str> = trace
        .lines()
        .map(str::trim)
        .filter(|l| {
            l.split_once(": ")
                .is_some_and(|(n, _)| n.parse::<u32>().is_ok())
        })
        .collect();
    assert!(
        frames.iter().any(|f| f.contains("capture_in_task")),
        "the task's own frame is missing:\n{trace}"
    );
    let last = frames.last().expect("empty backtrace");
    assert!(
        last.contains("grt_task_trampoline"),
        "the walk should end at the trampoline, but ends at {last:?}:\n{trace}"
    );
    assert!(
        frames.iter().any(|f| f.contains("task_entry")),
        "grt's task entry should sit just above the trampoline:\n{trace}"
    );
}
