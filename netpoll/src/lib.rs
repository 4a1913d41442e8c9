//! grt-netpoll: the epoll layer under grt's net poller. This is Go's
//! `netpoll_epoll.go` plus the `pollDesc` half of `netpoll.go`; it knows
//! nothing of tasks.
//!
//! # The problem
//! A task that reads a non-blocking socket and gets `EAGAIN` must sleep until
//! the socket is readable, without a thread per socket, and without losing
//! the readiness that arrives in the gap between its `EAGAIN` and its going
//! to sleep. The scheduler, when it looks for work, must be able to ask "whose
//! sockets became ready?" and get the sleepers back.
//!
//! # The shape (Go's)
//! One epoll instance per [`Poller`]. Every descriptor is registered once, for
//! its whole life, edge-triggered for both directions (Go's `pollOpen`), and
//! gets a `PollDesc` with two wait slots, one per [`Interest`]. A task that
//! got `EAGAIN` [arms](Registration::arm) its slot with an opaque `usize`
//! token and parks; [`Poller::poll`] (Go's `netpoll(delay)`) turns each epoll
//! event into the tokens it found in the slots, and the runtime readies the
//! tasks they name. [`Poller::wake`] (Go's `netpollBreak`) kicks a poller out
//! of a blocking `epoll_wait` through an eventfd.
//!
//! The crate calls libc's `epoll_create1`, `epoll_ctl`, `epoll_wait` and
//! `eventfd` directly rather than going through mio: the book sets each of
//! our calls beside Go's, one to one, and mio's `Registry`/`Token`/`Waker`
//! would put a layer with its own vocabulary between the two.
//!
//! # Designs we did not take
//! 1. **Level-triggered registration.** Every `epoll_wait` reports a readable
//!    socket until someone drains it, so a socket whose reader is busy
//!    elsewhere makes every poll return at once: the poller spins.
//! 2. **`EPOLLONESHOT`, re-armed with `EPOLL_CTL_MOD` on every wait.** Correct,
//!    but it costs a system call per wait, and the re-arm must be ordered
//!    against the event it re-enables. Edge-triggered events plus a READY
//!    state in the slot give the same "nothing is lost" with plain atomics.
//! 3. **Putting the waiter (or an fd-to-waiter map) in the epoll data.** The
//!    kernel may deliver an event after the waiter or the fd is gone, and fd
//!    numbers are reused at once. So the data names a `PollDesc`, which is
//!    never freed, plus a sequence tag that tells a stale event from a
//!    current one (see `registration.rs`).
//!
//! # Tokens
//! A token is whatever the runtime chooses (grt passes `Arc::into_raw(task)`),
//! at least 8 and 8-aligned: the values below 8 are slot states. The crate
//! never reads, drops or clones a token. Whoever takes one out of a slot owns
//! it and hands it back to its caller: `poll` pushes it onto `ready`,
//! [`Registration::close`] returns it, and [`Registration::disarm`] reports
//! that the caller has it back. Each token armed comes back exactly once.
//!
//! Wake-ups may be spurious (an event left over from a closed registration
//! can ready the next user of its `PollDesc`; see `registration.rs`): as in
//! Go, a woken waiter always retries its I/O and arms again on `EAGAIN`.

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
compile_error!("grt-netpoll uses epoll and tags pointers in bits 48..64: it needs 64-bit Linux");

mod poller;
mod registration;
#[cfg(test)]
mod test_util;

pub use poller::Poller;
pub use registration::{Armed, Interest, Registration};
