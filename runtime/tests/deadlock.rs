//! Go's `checkdead`: a program whose tasks are all blocked for good stops
//! with a diagnosis instead of hanging. The program is examples/deadlock.rs,
//! run as a child process (detection needs a process whose only threads are
//! the runtime's, which a test harness is not).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// target/<profile>/examples/deadlock, built by `cargo test` with the tests.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = profile_dir.join("examples").join("deadlock");
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds the examples (with `--test deadlock`, add `--examples`)",
        path.display()
    );
    path
}

/// Runs the example with `args` and `envs` until it exits; its exit code
/// and stderr.
fn run_deadlock_example(args: &[&str], envs: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut child = Command::new(example_binary())
        .args(args)
        .env_remove("GRT_SCHEDTRACE")
        .env_remove("GRT_SCHEDDETAIL")
        .envs(envs.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A hang is the failure this guards against; do not wait for ever.
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the deadlocked program hung instead of reporting");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
}

fn assert_deadlock_reported(code: Option<i32>, stderr: &str) {
    assert_eq!(code, Some(2), "stderr:\n{stderr}");
    assert!(
        stderr.contains("grt: all tasks are asleep - deadlock!"),
        "{stderr}"
    );
    assert!(stderr.contains("task 1 'main' [join]"), "{stderr}");
    assert!(stderr.contains("'worker' [chan receive]"), "{stderr}");
}

#[test]
fn a_deadlocked_program_exits_with_the_blocked_tasks_listed() {
    let (code, stderr) = run_deadlock_example(&[], &[]);
    assert_deadlock_reported(code, &stderr);
}

/// An M whose locked task parks sleeps in `stop_locked_m`, not `stop_m`;
/// when it is the last to sleep it must run the check too (Go's
/// `stoplockedm` does, through `incidlelocked`).
#[test]
fn a_deadlock_among_locked_tasks_is_diagnosed() {
    let (code, stderr) = run_deadlock_example(&["locked"], &[]);
    assert_deadlock_reported(code, &stderr);
}

/// The schedtrace thread is the runtime's own, not an outsider that could
/// wake a task: with it running, the deadlock is still diagnosed. (Its
/// first line is out before the main task runs, so it is always there.)
#[test]
fn a_deadlocked_program_is_diagnosed_with_schedtrace_on() {
    for detail in ["0", "1"] {
        let (code, stderr) = run_deadlock_example(
            &[],
            &[("GRT_SCHEDTRACE", "100"), ("GRT_SCHEDDETAIL", detail)],
        );
        assert_deadlock_reported(code, &stderr);
        assert!(stderr.starts_with("SCHED "), "no trace line: {stderr}");
    }
}
