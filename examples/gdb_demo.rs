//! gdb_demo: four tasks parked in four different places, for looking at
//! with gdb's `info tasks`, `task N bt` and `info procs`.
//!
//! The main task spawns a receiver blocked on a channel, a sleeper, a
//! locker waiting for a mutex that main holds, and a joiner waiting for the
//! receiver. Once all four are parked it calls `all_parked`, a function
//! that does nothing but give gdb a place to stop, then releases the
//! others and ends, the sleeper still asleep.
//!
//!     cargo build --example gdb_demo
//!     gdb -iex 'add-auto-load-safe-path /' \
//!         -ex 'break gdb_demo::all_parked' -ex run target/debug/examples/gdb_demo
//!     (gdb) info tasks
//!     (gdb) task 2 bt
//!     (gdb) info procs
//!
//! (grt's gdb commands travel inside the binary; gdb runs them once its
//! auto-load safe-path allows, which is what the `-iex` line is for. The
//! book's "Watching the scheduler" shows a session.) Without gdb the program
//! says what it did and ends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use grt::chan::Receiver;
use grt::{TaskHandle, TaskState, WaitReason};

fn main() {
    grt::RuntimeBuilder::new().max_procs(2).run(|| {
        let (tx, rx) = grt::chan::bounded::<String>(0);
        let receiver = spawn("receiver", move || wait_for_message(&rx));
        let sleeper = spawn("sleeper", nap);
        let lock = Arc::new(grt::sync::Mutex::new(0));
        let guard = lock.lock();
        let locker = spawn("locker", {
            let lock = Arc::clone(&lock);
            move || *lock.lock() += 1
        });
        let waiting_for = [
            (receiver.task().clone(), WaitReason::ChanRecv),
            (sleeper.task().clone(), WaitReason::Sleep),
            (locker.task().clone(), WaitReason::MutexLock),
        ];
        let joiner = spawn("joiner", move || receiver.join().is_ok());
        let joiner_task = joiner.task().clone();
        wait_until_parked(&waiting_for);
        wait_until_parked(&[(joiner_task.clone(), WaitReason::Join)]);

        all_parked(&[
            &waiting_for[0].0,
            &waiting_for[1].0,
            &waiting_for[2].0,
            &joiner_task,
        ]);

        tx.send("hello".into()).expect("the receiver waits");
        drop(guard);
        locker.join().expect("the locker does not panic");
        assert!(joiner.join().expect("the joiner does not panic"));
        println!(
            "tasks {} to {} were parked in chan receive, sleep, sync.Mutex.Lock and join; \
             run me under gdb to see them (comment at the top of examples/gdb_demo.rs)",
            waiting_for[0].0.id(),
            joiner_task.id()
        );
        // The sleeper is still asleep: the runtime ends without it.
    });
}

/// Starts `f` as a task called `name`.
fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> grt::JoinHandle<T> {
    grt::Builder::new()
        .name(name)
        .spawn(f)
        .expect("a stack for the task")
}

/// The receiver: blocks in `recv` until main sends. `task 2 bt` shows this
/// function under grt's channel code.
#[inline(never)]
fn wait_for_message(rx: &Receiver<String>) -> String {
    rx.recv().expect("main sends before it ends")
}

/// The sleeper: an hour, longer than the program lives. (It returns what
/// it slept so that the call to `sleep` is not its last act: a tail call
/// would leave no `nap` frame to see.)
#[inline(never)]
fn nap() -> Duration {
    let hour = Duration::from_secs(3600);
    grt::time::sleep(hour);
    hour
}

/// Sleeps until each task is parked for its reason.
fn wait_until_parked(tasks: &[(TaskHandle, WaitReason)]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !tasks
        .iter()
        .all(|(t, why)| t.state() == TaskState::Waiting && t.wait_reason() == *why)
    {
        assert!(
            Instant::now() < deadline,
            "the tasks did not park: {tasks:?}"
        );
        grt::time::sleep(Duration::from_millis(1));
    }
}

/// Where gdb stops (`break gdb_demo::all_parked`): every task but main is
/// parked. Kept out of line so that the breakpoint has a function to hit.
#[inline(never)]
fn all_parked(tasks: &[&TaskHandle]) {
    std::hint::black_box(tasks);
}
