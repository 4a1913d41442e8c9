//! grt's gdb commands (runtime/gdb/grt.py, embedded in the binary by
//! lib.rs): gdb runs examples/gdb_demo.rs in batch mode to the point where
//! its four tasks are parked, and the test reads what `info tasks`,
//! `task N bt` and `info procs` print. The program is the built example,
//! as in tests/deadlock.rs, rebuilt first so that it is never stale.
//!
//! Skipped, saying why, where gdb (with Python) is not installed or may not
//! trace a process; .ci/run installs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// target/<profile>/examples/gdb_demo, (re)built with the profile of this
/// test binary.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let path = profile_dir.join("examples").join("gdb_demo");
    if let Some(cargo) = std::env::var_os("CARGO") {
        let target_dir = profile_dir.parent().unwrap();
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev",
            Some(other) => other,
            None => "dev",
        };
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "grt", "--example", "gdb_demo"])
            .args(["--profile", profile])
            .arg("--target-dir")
            .arg(target_dir)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build --example gdb_demo failed");
    }
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --example gdb_demo`",
        path.display()
    );
    path
}

/// Why gdb cannot be used here, if it cannot.
fn gdb_missing() -> Option<String> {
    let output = Command::new("gdb")
        .args(["-nx", "-batch", "-ex", "python print('python-' + 'works')"])
        .output();
    match output {
        Err(err) => Some(format!("no gdb on PATH ({err})")),
        Ok(out) if !String::from_utf8_lossy(&out.stdout).contains("python-works") => Some(format!(
            "gdb has no Python: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(_) => None,
    }
}

/// The commands the session runs at the breakpoint, in order.
const COMMANDS: &[&str] = &[
    "info tasks",
    "task 2 bt",
    "bt",
    "task 3 bt",
    "task 1 bt",
    "info procs",
    "info grt-layout",
];

/// What gdb printed for each of [`COMMANDS`], or `None` if this machine
/// cannot trace a process (said on stderr).
fn run_session() -> Option<Vec<(String, String)>> {
    let mut gdb = Command::new("gdb");
    gdb.args(["-nx", "-batch", "-iex", "add-auto-load-safe-path /"])
        .args(["-ex", "set pagination off"])
        .args(["-ex", "set print thread-events off"])
        .args(["-ex", "set width 0"])
        .args(["-ex", "break gdb_demo::all_parked"])
        .args(["-ex", "run"]);
    for command in COMMANDS {
        gdb.arg("-ex").arg(format!("echo \\n@@@ {command}\\n"));
        gdb.arg("-ex").arg(command);
    }
    gdb.args(["-ex", "echo \\n@@@ end\\n", "-ex", "kill"])
        .arg(example_binary())
        .env_remove("GRT_SCHEDTRACE")
        .env_remove("GRT_SCHEDDETAIL")
        .env_remove("GRT_TRACE")
        .env_remove("GRT_MAXPROCS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = gdb.spawn().expect("gdb starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("gdb did not finish in two minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if stderr.contains("ptrace: Operation not permitted")
        || stderr.contains("Cannot create process")
    {
        eprintln!("skipped: gdb may not trace a process here:\n{stderr}");
        return None;
    }
    // A command that fails prints to stderr and gdb goes on with the next
    // -ex, so the session ends with the marker either way; failures are
    // looked for in stderr.
    assert!(
        stdout.contains("@@@ end"),
        "the gdb session did not get through its commands\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // (Not any "Error": in a container gdb may warn "Error disabling
    // address space randomization", which is harmless.)
    let failed = [
        "Python Exception",
        "Error occurred in Python",
        "Undefined command",
        "grt: ",
    ];
    assert!(
        !failed.iter().any(|f| stderr.contains(f)),
        "a command failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let mut sections = Vec::new();
    for part in stdout.split("\n@@@ ").skip(1) {
        let (command, text) = part.split_once('\n').unwrap_or((part, ""));
        sections.push((command.to_string(), text.to_string()));
    }
    Some(sections)
}

fn section<'a>(sections: &'a [(String, String)], command: &str) -> &'a str {
    sections
        .iter()
        .find(|(c, _)| c == command)
        .map(|(_, text)| text.as_str())
        .unwrap_or_else(|| panic!("no output for `{command}`"))
}

/// The `info tasks` line of task `id`.
fn task_line<'a>(info_tasks: &'a str, id: &str) -> &'a str {
    info_tasks
        .lines()
        .find(|line| {
            let mut words = line.split_whitespace();
            let first = words.next();
            first == Some(id) || (first == Some("*") && words.next() == Some(id))
        })
        .unwrap_or_else(|| panic!("no task {id} in `info tasks`:\n{info_tasks}"))
}

fn assert_contains(text: &str, what: &[&str], context: &str) {
    for w in what {
        assert!(text.contains(w), "{context}: no {w:?} in\n{text}");
    }
}

/// Frame lines of a backtrace (`#0 ...`), with wrapped lines joined.
fn frames(bt: &str) -> Vec<&str> {
    bt.lines().filter(|l| l.starts_with('#')).collect()
}

#[test]
fn gdb_lists_tasks_and_shows_a_parked_tasks_stack() {
    if let Some(why) = gdb_missing() {
        eprintln!("skipped: {why}");
        return;
    }
    let Some(sections) = run_session() else {
        return;
    };

    // The ids are the spawn order: main is 1, then receiver, sleeper,
    // locker, joiner.
    let tasks = section(&sections, "info tasks");
    let main = task_line(tasks, "1");
    assert!(main.trim_start().starts_with('*'), "main runs: {main}");
    assert_contains(
        main,
        &["running", "main", "thread", "gdb_demo::main"],
        "task 1",
    );
    let expected = [
        ("2", "chan receive", "receiver"),
        ("3", "sleep", "sleeper"),
        ("4", "sync.Mutex.Lock", "locker"),
        ("5", "join", "joiner"),
    ];
    for (id, reason, name) in expected {
        let line = task_line(tasks, id);
        assert_contains(line, &["waiting", reason, name], &format!("task {id}"));
        assert!(
            !line.trim_start().starts_with('*'),
            "task {id} is parked: {line}"
        );
    }
    assert_contains(
        task_line(tasks, "3"),
        &["gdb_demo::nap"],
        "the sleeper's function",
    );

    // The receiver's stack, from the switch to the trampoline.
    let bt = section(&sections, "task 2 bt");
    let bt_frames = frames(bt);
    assert!(
        bt_frames[0].contains("grt_switch"),
        "parked in grt_switch:\n{bt}"
    );
    assert_contains(
        bt,
        &["gdb_demo::wait_for_message", "grt::chan::", "recv"],
        "task 2 bt",
    );
    assert!(
        bt_frames.last().unwrap().contains("grt_task_trampoline"),
        "the backtrace ends at the trampoline:\n{bt}"
    );
    assert!(!bt.contains("Backtrace stopped"), "{bt}");

    // The thread has its own registers back.
    let own = section(&sections, "bt");
    assert!(
        frames(own)
            .iter()
            .take(2)
            .any(|f| f.contains("gdb_demo::all_parked")),
        "after `task 2 bt` the thread is where it stopped:\n{own}"
    );

    let sleeper = section(&sections, "task 3 bt");
    assert_contains(sleeper, &["grt::time::sleep", "gdb_demo::nap"], "task 3 bt");

    let running = section(&sections, "task 1 bt");
    assert_contains(
        running,
        &["task 1 is running on M", "gdb_demo::all_parked"],
        "task 1 bt",
    );

    // Two Ps (the demo asks for two), one of them running main's M.
    let procs = section(&sections, "info procs");
    assert_contains(procs, &["2 Ps", "P0", "P1", "running", "M0"], "info procs");

    // A debug build has DWARF types, and they agree with GRT_DEBUG's table;
    // a release build has none.
    let layout = section(&sections, "info grt-layout");
    assert!(!layout.contains("MISMATCH"), "{layout}");
    if cfg!(debug_assertions) {
        assert_contains(layout, &["checked, 0 mismatches"], "info grt-layout");
    }
}
