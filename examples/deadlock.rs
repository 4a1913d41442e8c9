//! deadlock: what grt does when no task can ever run again.
//!
//! The main task waits for a worker that waits on a channel nobody will
//! send on (main holds the only sender but is busy waiting). Go stops such
//! a program with "fatal error: all goroutines are asleep - deadlock!"; grt
//! prints the same diagnosis, lists every blocked task with what it waits
//! for, and exits with status 2:
//!
//!     cargo run --example deadlock
//!
//!     grt: all tasks are asleep - deadlock!
//!
//!     task 1 'main' [join]
//!     task 2 'worker' [chan receive]
//!
//! (Detection needs every thread of the process to be one of the runtime's
//! Ms: a thread of your own could still wake a task, so with one around
//! grt waits instead. See runtime/src/checkdead.rs.)

fn main() {
    // `deadlock locked`: both tasks first wire themselves to their threads
    // (grt::lock_os_thread), so the last M to sleep is one whose locked task
    // is parked; the diagnosis must not depend on which kind of M that is.
    let locked = std::env::args().nth(1).as_deref() == Some("locked");
    grt::run(move || {
        if locked {
            grt::lock_os_thread();
        }
        let (tx, rx) = grt::chan::bounded::<u32>(0);
        let worker = grt::Builder::new()
            .name("worker")
            .spawn(move || {
                if locked {
                    grt::lock_os_thread();
                }
                rx.recv()
            })
            .expect("spawn");
        let _never_sent_on = tx;
        worker.join().expect("the worker does not panic")
    })
    .expect("unreachable: the runtime reports the deadlock first");
}
