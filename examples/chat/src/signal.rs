//! Ctrl-C for the chat server (and the showcase, which runs the hubs):
//! SIGINT and SIGTERM as values on a channel, through [`grt::signal`]
//! (Go's `signal.Notify`; that module says why a thread in `sigwait`
//! rather than a handler), and what a second one means here.

use std::io;

use grt::chan::Receiver;

/// Watches for SIGINT and SIGTERM; the channel receives each one's
/// number. Call it in `main` before `grt::run` ([`grt::signal::notify`]).
pub fn notify() -> io::Result<Receiver<i32>> {
    grt::signal::notify(&[libc::SIGINT, libc::SIGTERM])
}

/// Once the first signal has started the goodbyes: a second one ends the
/// process at once with status 128 + its number (the shell's convention),
/// the way out if a graceful shutdown hangs. Spawns a task that waits for
/// it, so the caller may block in the shutdown meanwhile.
pub fn exit_on_second(interrupts: Receiver<i32>, program: &'static str) {
    grt::go(move || {
        if let Ok(signal) = interrupts.recv() {
            eprintln!("{program}: second signal, exiting now");
            std::process::exit(128 + signal);
        }
    });
}
