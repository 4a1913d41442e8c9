//! A task that runs off its stack is reported by name, not left to die
//! with a bare SIGSEGV. The overflowing program must crash, so the test
//! runs it as a child process: this same test binary, asked by an
//! environment variable to play the child.

use std::process::Command;

const CHILD_ENV: &str = "GRT_TEST_OVERFLOW_CHILD";

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let mut frame = [depth as u8; 1024];
    std::hint::black_box(&mut frame);
    if depth == u64::MAX {
        return 0;
    }
    recurse(depth + 1) + frame[7] as u64
}

fn overflow_in_a_task() {
    grt::RuntimeBuilder::new().max_procs(1).run(|| {
        grt::Builder::new()
            .name("deep-recursion")
            .stack_size(64 * 1024)
            .spawn(|| recurse(0))
            .unwrap()
            .join()
            .unwrap()
    });
}

/// Runs this binary's test `name` in a child process with `env` set, and
/// returns its stderr, after checking that the child died.
fn stderr_of_dying_child(name: &str, env: &str) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(env, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "the child should have died; stderr:\n{stderr}"
    );
    stderr
}

#[test]
fn stack_overflow_names_the_task_and_aborts() {
    if std::env::var_os(CHILD_ENV).is_some() {
        overflow_in_a_task();
        unreachable!("the recursion cannot end");
    }
    let stderr = stderr_of_dying_child("stack_overflow_names_the_task_and_aborts", CHILD_ENV);
    assert!(
        stderr.contains("overflowed its 64 KiB stack") && stderr.contains("'deep-recursion'"),
        "no overflow report in stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("stack_size"),
        "the report should say how to get more room:\n{stderr}"
    );
}

#[test]
fn overflow_on_a_plain_thread_still_gets_rusts_message() {
    const THREAD_CHILD_ENV: &str = "GRT_TEST_THREAD_OVERFLOW_CHILD";
    if std::env::var_os(THREAD_CHILD_ENV).is_some() {
        // Install grt's handler first (any runtime does), then overflow a
        // plain thread: the fault is not in a task, so Rust's handler speaks.
        grt::run(|| ());
        std::thread::Builder::new()
            .name("plain-overflow".into())
            .stack_size(128 * 1024)
            .spawn(|| recurse(0))
            .unwrap()
            .join()
            .unwrap();
        unreachable!();
    }
    let stderr = stderr_of_dying_child(
        "overflow_on_a_plain_thread_still_gets_rusts_message",
        THREAD_CHILD_ENV,
    );
    assert!(
        stderr.contains("has overflowed its stack"),
        "Rust's report is missing:\n{stderr}"
    );
    assert!(
        !stderr.contains("grt: task"),
        "grt claimed a fault that was not a task's:\n{stderr}"
    );
}
