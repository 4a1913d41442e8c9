//! The runtime's side of the net poller: parking tasks on descriptors and
//! readying them when epoll says so (Go's netpoll.go: `netpollblock`,
//! `netpollready`, and the `netpoll` calls in `findRunnable`).
//!
//! The epoll layer (the `grt-netpoll` crate) knows nothing of tasks: a
//! waiter leaves an opaque token in a descriptor's read or write slot, and
//! a poll hands back the tokens whose slots became ready. Here a token is a
//! task reference turned into an integer (`Arc::into_raw`). Whoever takes a
//! token out of a slot owns that reference: the poller's caller (which
//! unparks the task), `close` (likewise), or the task itself taking it back
//! after a timeout. So every token is turned back into an `Arc` exactly
//! once, and a task is never readied twice for one wait.
//!
//! Who polls: an M looking for work polls without blocking, before it tries
//! to steal (schedule.rs `find_runnable`); the last M with nothing to do
//! blocks in the poll until the next timer (`block_in_netpoll`); and sysmon
//! polls if nobody has for 10 ms (sysmon.rs).

use std::cell::RefMut;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use grt_netpoll::{Armed, Interest, Registration};

use crate::machine::{self, Machine};
use crate::park;
use crate::sched::Sched;
use crate::task::{Task, TaskRef, WaitReason};
use crate::time;

/// Polls `sched`'s poller into `ready` (tokens appended).
pub fn poll_into(sched: &Sched, timeout: Option<Duration>, ready: &mut Vec<usize>) {
    match sched.poller.poll(timeout, ready) {
        Ok(found) => {
            sched.net_polls.fetch_add(1, Ordering::Relaxed);
            sched
                .net_polled_ready
                .fetch_add(found as u64, Ordering::Relaxed);
        }
        // epoll_wait fails only on a bad descriptor or buffer: a bug.
        Err(err) => panic!("grt: epoll_wait failed: {err}"),
    }
}

/// Polls from an M's g0 into the M's reusable buffer; the caller readies
/// what it returns with [`ready_all`].
pub fn wait(m: &Machine, timeout: Option<Duration>) -> RefMut<'_, Vec<usize>> {
    let mut ready = m.poll_ready.borrow_mut();
    poll_into(&m.sched, timeout, &mut ready);
    ready
}

/// A non-blocking poll from `find_runnable`: readies what it finds (into
/// this M's P) and says how many.
pub fn poll(m: &Machine, timeout: Option<Duration>) -> usize {
    let mut ready = wait(m, timeout);
    let found = ready.len();
    ready_all(&mut ready);
    found
}

/// Unparks the task of every token (Go's `netpollready` + `injectglist`):
/// into the caller's P if it holds one, else the global queue. Only then
/// does the task stop counting as a net waiter (`Poller::handled`, Go's
/// `netpollAdjustWaiters`): until it is queued somewhere, the deadlock
/// detector must not conclude that nothing can wake anyone.
pub fn ready_all(tokens: &mut Vec<usize>) {
    if tokens.is_empty() {
        return;
    }
    // SAFETY: as below; only looked at, while the token still owns it.
    let first = unsafe { &*(tokens[0] as *const Task) };
    if let Some(timeline) = &first.sched.timeline {
        let m = machine::current().filter(|m| Arc::ptr_eq(&m.sched, &first.sched));
        let detail = format!("{} tasks ready", tokens.len());
        timeline.instant(&first.sched, m, "netpoll", &detail);
    }
    for token in tokens.drain(..) {
        // SAFETY: the token came out of a slot, where `park_until_ready`
        // put a reference made by `Arc::into_raw`; taking it out of the slot
        // made it ours (module comment), so it is turned back exactly once.
        let task = unsafe { TaskRef::from_raw(token as *const Task) };
        park::unpark_task(&task);
        // The poller the task armed its wait on: its own runtime's.
        task.sched.poller.handled(1);
    }
}

/// Wakes the owners of tokens handed back by `Registration::close` or
/// `Registration::interrupt`.
pub fn ready_taken(tokens: [Option<usize>; 2]) {
    let mut tokens: Vec<usize> = tokens.into_iter().flatten().collect();
    ready_all(&mut tokens);
}

/// The error a task gets when the descriptor it waits on is closed.
pub fn closed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "use of a closed socket: it was closed while a task waited on it",
    )
}

/// Go's `netpollblock` (via `poll_runtime_pollWait`): parks the running
/// task until `reg` is ready for `interest` — which means only "try the
/// I/O again", it may still say `WouldBlock` — or `deadline` passes
/// (`TimedOut`), or the registration is closed.
///
/// `moved` says whether the deadline the caller read has been changed
/// since. Whoever changes it stores the new one, then interrupts the
/// waiter (`Registration::interrupt`); an interrupt that came before our
/// token was in the slot found nothing to wake, so `moved` is asked once
/// the token is in (both sides `SeqCst`: one of them sees the other), and
/// the wait ends as if woken, for the caller to read the new deadline.
///
/// At most one task may wait on each half of a registration at a time;
/// callers serialise (net/pollable.rs).
pub fn park_until_ready(
    m: &Machine,
    reg: &Registration,
    interest: Interest,
    deadline: Option<Instant>,
    moved: Option<&dyn Fn() -> bool>,
) -> io::Result<()> {
    let me = Arc::clone(m.current_task().expect("checked by the caller"));
    let token = Arc::into_raw(Arc::clone(&me)) as usize;
    // The deadline, as a timer that only unparks: whether the wait timed
    // out is decided below by who holds the token.
    let timer = deadline.map(|deadline| {
        let timer = me.wake_timer();
        time::arm(m, timer, deadline);
        timer
    });
    // Whether the token's reference is ours to drop: true until a slot
    // keeps it, true again if `disarm` hands it back, false for good once
    // the poller or `close` has taken it (they drop it after waking us).
    let mut token_ours = true;
    let outcome = loop {
        match reg.arm(interest, token) {
            Armed::Ready => break Ok(()),
            Armed::Closed => break Err(closed_error()),
            Armed::Busy => panic!("grt: two tasks waited on one socket half at once (grt bug)"),
            Armed::Waiting => token_ours = false,
        }
        if moved.is_some_and(|moved| moved()) && reg.disarm(interest, token) {
            token_ours = true;
            break Ok(());
        }
        park::park_current(WaitReason::IoWait);
        if !reg.disarm(interest, token) {
            // Taken out of the slot by the poller, `close` or `interrupt`,
            // which ready us.
            if reg.is_closing() {
                break Err(closed_error());
            }
            // Readiness that woke us, or came before an interrupt did, is
            // what our caller's retry reads.
            reg.consume_ready(interest);
            break Ok(());
        }
        token_ours = true;
        // Still ours: the timer fired, or a wake-up meant for an earlier
        // wait arrived late. A deadline moved meanwhile (its setter's
        // interrupt may not have reached the slot yet) is the caller's to
        // read again, not a timeout.
        if moved.is_some_and(|moved| moved()) {
            break Ok(());
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break Err(io::ErrorKind::TimedOut.into());
        }
    };
    if let Some(timer) = timer {
        timer.invalidate();
    }
    if token_ours {
        // SAFETY: no slot holds the token (module comment): the reference
        // made by `into_raw` above is ours, and dropped only here.
        drop(unsafe { TaskRef::from_raw(token as *const Task) });
    }
    outcome
}

/// Outside a task there is no scheduler to park in: `poll(2)` the one
/// descriptor, as a blocking socket would.
pub fn block_thread_until_ready(
    fd: RawFd,
    interest: Interest,
    deadline: Option<Instant>,
) -> io::Result<()> {
    let events = match interest {
        Interest::Read => libc::POLLIN | libc::POLLRDHUP,
        Interest::Write => libc::POLLOUT,
    };
    loop {
        let timeout = match deadline {
            None => -1,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                // Rounded up: a 0 ms poll would spin until the deadline.
                left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32
            }
        };
        let mut pollfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd, and the count says one.
        match unsafe { libc::poll(&mut pollfd, 1, timeout) } {
            -1 => {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
            0 => {}
            _ => return Ok(()),
        }
    }
}
