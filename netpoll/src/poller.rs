//! The epoll instance: Go's `netpoll_epoll.go` (`netpollinit`,
//! `netpollopen`, `netpollclose`, `netpoll`, `netpollBreak`).
//!
//! A `Poller` owns one epoll descriptor and one eventfd. Descriptors are
//! added edge-triggered by [`Poller::register`]; [`Poller::poll`] waits for
//! events and converts them into the tokens parked in the descriptors'
//! slots. The eventfd is the poller's doorbell: [`Poller::wake`] writes it
//! so that a thread blocked in `epoll_wait` returns (the scheduler does this
//! when it has new work or an earlier timer).
//!
//! Invariants:
//! - The eventfd is registered level-triggered with epoll data 0
//!   ([`WAKE_DATA`]), which no `PollDesc` address can be. While its counter
//!   is non-zero every `epoll_wait` reports it, so a wake cannot be missed by
//!   a poller that enters `epoll_wait` after it.
//! - `wake_pending` is true from the wake that wrote the eventfd until a
//!   blocking poll has drained it; wakes in between write nothing (Go's
//!   `netpollWakeSig`). Only a blocking poll drains: a non-blocking poll that
//!   happened to see the eventfd must not swallow a wake meant for the thread
//!   that is about to block (Go makes the same choice).
//! - `waiters` counts tokens sitting in slots, and tokens taken out by
//!   `poll` or `close` that the caller has not yet reported [`handled`]
//!   (Go's `netpollAdjustWaiters` after `injectglist`). It is raised before a
//!   token is stored and lowered only once its waiter has been dealt with,
//!   so it never dips below the number of waiters that I/O could still
//!   wake; it may briefly exceed it, which only costs a poll. (Lowering it
//!   in `poll` would let a scheduler see "nobody waits on I/O" while the
//!   waiter it just took is not yet queued anywhere, and declare deadlock.)
//!
//! [`handled`]: Poller::handled

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use libc::c_int;

use crate::registration::{Interest, PollDesc, Registration};

/// Events one `poll` harvests: Go's `var events [128]epollevent`. Events
/// beyond this stay queued in the kernel for the next poll; 128 entries are
/// 1.5 KiB of stack, cheap enough to keep on it.
const EVENTS: usize = 128;

/// The epoll data of the eventfd's events. `PollDesc`s are heap objects, so
/// none sits at address 0.
const WAKE_DATA: u64 = 0;

/// What a descriptor is registered for (Go's `netpollopen`): both
/// directions, peer shutdown, edge-triggered.
const REGISTER_EVENTS: u32 =
    (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;

/// Events that ready a reader. Hang-up and error count as readable because a
/// read will no longer block: it returns 0 or the error, which the waiter
/// must see (Go's `netpoll` uses the same masks).
const READABLE: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;

/// Events after which reading can never block again: the peer's end of
/// the stream (RDHUP) or both directions gone (HUP).
const READ_HUNG_UP: u32 = (libc::EPOLLRDHUP | libc::EPOLLHUP) as u32;

/// Events after which writing can never block again.
const WRITE_HUNG_UP: u32 = libc::EPOLLHUP as u32;

/// Events that ready a writer; see [`READABLE`].
const WRITABLE: u32 = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;

/// One epoll instance with its wake-up eventfd. Dropping it closes both;
/// each [`Registration`] holds an `Arc` to its poller, so that happens only
/// after the last registration is gone.
pub struct Poller {
    /// The epoll descriptor (Go's `epfd`).
    epoll: OwnedFd,
    /// The eventfd that `wake` writes (Go's `netpollEventFd`).
    event: OwnedFd,
    /// A wake has written the eventfd and no blocking poll has drained it
    /// yet (Go's `netpollWakeSig`).
    wake_pending: AtomicBool,
    /// Tokens parked in slots (Go's `netpollWaiters`); kept by
    /// `registration.rs`, lowered here for the tokens `poll` takes.
    pub(crate) waiters: AtomicUsize,
}

impl Poller {
    /// Go's `netpollinit`: an epoll instance and its wake-up eventfd, both
    /// close-on-exec.
    pub fn new() -> io::Result<Poller> {
        // SAFETY: a plain system call; it touches no memory of ours.
        let epoll = owned_fd(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: as above.
        let event = owned_fd(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        let poller = Poller {
            epoll,
            event,
            wake_pending: AtomicBool::new(false),
            waiters: AtomicUsize::new(0),
        };
        // Level-triggered on purpose: see the module invariants.
        let eventfd = poller.event.as_raw_fd();
        poller.ctl(
            libc::EPOLL_CTL_ADD,
            eventfd,
            libc::EPOLLIN as u32,
            WAKE_DATA,
        )?;
        Ok(poller)
    }

    /// Go's `pollOpen`: adds `fd` to the epoll set, edge-triggered for
    /// reading, writing and peer shutdown, for as long as the returned
    /// registration lives. The caller keeps owning `fd` and closes it only
    /// after [`Registration::close`] (or dropping the registration).
    ///
    /// The epoll data is the `PollDesc`'s address with its sequence number
    /// in the top 16 bits, so that `poll` can recognise events registered
    /// before the desc was closed and reused.
    pub fn register(self: &Arc<Self>, fd: RawFd) -> io::Result<Registration> {
        let desc = PollDesc::alloc();
        if let Err(err) = self.ctl(libc::EPOLL_CTL_ADD, fd, REGISTER_EVENTS, desc.epoll_data()) {
            // Never registered, so no event can name it: it can go straight back.
            desc.release();
            return Err(err);
        }
        Ok(Registration::new(Arc::clone(self), desc, fd))
    }

    /// Go's `netpoll(delay)`: waits for events, at most `timeout` (`None`:
    /// until one arrives or [`wake`](Self::wake); `Some(ZERO)`: not at all),
    /// and appends to `ready` the tokens that the ready slots held. Slots
    /// without a token are left READY for the next `arm`. Returns how many
    /// tokens it appended; they count in [`waiters`](Self::waiters) until
    /// the caller reports them [`handled`](Self::handled).
    ///
    /// A sub-millisecond timeout waits 1 ms and longer ones round up to whole
    /// milliseconds (epoll's unit), so a poll that times out never returns
    /// before the caller's deadline; timeouts are capped at `i32::MAX` ms
    /// (24.8 days). A signal cuts the wait short and returns `Ok(0)`: the
    /// caller loops, recomputing its timeout, as Go's does.
    pub fn poll(&self, timeout: Option<Duration>, ready: &mut Vec<usize>) -> io::Result<usize> {
        let blocking = !timeout.is_some_and(|t| t.is_zero());
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; EVENTS];
        // SAFETY: `events` is valid for writes of EVENTS entries and outlives
        // the call; the kernel writes only the entries it reports.
        let n = unsafe {
            libc::epoll_wait(
                self.epoll.as_raw_fd(),
                events.as_mut_ptr(),
                EVENTS as c_int,
                timeout_ms(timeout),
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::Interrupted => Ok(0),
                _ => Err(err),
            };
        }
        let before = ready.len();
        for event in &events[..n as usize] {
            // Copies: the struct is packed on x86_64, so no references into it.
            let (flags, data) = (event.events, event.u64);
            if data == WAKE_DATA {
                if blocking {
                    self.drain_wake();
                }
                continue;
            }
            // SAFETY: every non-wake event's data was made by `epoll_data` in
            // `register`, under this desc's then-current seq.
            let Some(desc) = (unsafe { PollDesc::from_epoll_data(data) }) else {
                // Registered under an older seq: that registration is closed.
                continue;
            };
            if flags & READABLE != 0 {
                let hung_up = flags & READ_HUNG_UP != 0;
                ready.extend(desc.make_ready(Interest::Read, hung_up));
            }
            if flags & WRITABLE != 0 {
                let hung_up = flags & WRITE_HUNG_UP != 0;
                ready.extend(desc.make_ready(Interest::Write, hung_up));
            }
        }
        Ok(ready.len() - before)
    }

    /// The caller has dealt with `tokens` tokens that `poll` or
    /// [`Registration::close`] handed it (readied their waiters): they stop
    /// counting in [`waiters`](Self::waiters). Call it on the poller of the
    /// registration each token was armed on; that is the poller that
    /// returned it, except in the rare race where an event for a closed
    /// registration reaches the next user of its record, which may belong
    /// to another poller.
    pub fn handled(&self, tokens: usize) {
        self.waiters.fetch_sub(tokens, SeqCst);
    }

    /// Go's `netpollBreak`: makes a poll blocked in `epoll_wait` return, or
    /// the next blocking poll return at once if none is blocked now. Wakes
    /// are coalesced: until a blocking poll has drained the eventfd, further
    /// calls only see `wake_pending` set and return.
    pub fn wake(&self) {
        if self
            .wake_pending
            .compare_exchange(false, true, SeqCst, SeqCst)
            .is_err()
        {
            return;
        }
        let one = 1u64;
        loop {
            // SAFETY: writes the 8 bytes of a local u64, an eventfd's unit.
            let n = unsafe { libc::write(self.event.as_raw_fd(), (&one as *const u64).cast(), 8) };
            if n == 8 {
                return;
            }
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::Interrupted => continue,
                // The counter is full, so the eventfd is readable already.
                io::ErrorKind::WouldBlock => return,
                _ => panic!("grt-netpoll: writing the wake-up eventfd failed: {err}"),
            }
        }
    }

    /// Go's `netpollWaiters`: tokens parked in slots now, plus those handed
    /// out and not yet [`handled`](Self::handled). The scheduler uses it to
    /// skip polling when nobody waits; it may briefly over-count (see the
    /// module invariants), never under-count.
    pub fn waiters(&self) -> usize {
        self.waiters.load(SeqCst)
    }

    /// A blocking poll saw the eventfd: reset its counter, then let the next
    /// `wake` write again. In this order a wake that lands between the two
    /// finds `wake_pending` still set and writes nothing; that is fine,
    /// because this poll is returning and its caller re-checks for work.
    fn drain_wake(&self) {
        let mut count = 0u64;
        // SAFETY: reads 8 bytes into a local u64.
        let n = unsafe { libc::read(self.event.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
        // EAGAIN: a concurrent blocking poll drained it first.
        debug_assert!(
            n == 8 || io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock,
            "reading the wake-up eventfd: {}",
            io::Error::last_os_error()
        );
        self.wake_pending.store(false, SeqCst);
    }

    /// `epoll_ctl(op, fd)` with an event of `events` and `data`; the kernel
    /// ignores the event for `EPOLL_CTL_DEL`.
    pub(crate) fn ctl(&self, op: c_int, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
        let mut event = libc::epoll_event { events, u64: data };
        // SAFETY: `event` is a valid epoll_event for the duration of the call.
        if unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut event) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(test)]
impl Poller {
    /// The epoll descriptor, for tests that look at its readiness.
    pub(crate) fn epoll_fd(&self) -> RawFd {
        self.epoll.as_raw_fd()
    }
}

/// Wraps the result of a call that returns a new descriptor or -1.
fn owned_fd(fd: c_int) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just created `fd` for us and nothing else holds it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `epoll_wait`'s timeout argument: -1 waits forever, otherwise whole
/// milliseconds rounded up and capped (see [`Poller::poll`]).
fn timeout_ms(timeout: Option<Duration>) -> c_int {
    match timeout {
        None => -1,
        Some(t) => t.as_nanos().div_ceil(1_000_000).min(c_int::MAX as u128) as c_int,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::thread;
    use std::time::Instant;

    use super::*;

    #[test]
    fn timeouts_round_up_to_whole_milliseconds_and_saturate() {
        assert_eq!(timeout_ms(None), -1);
        assert_eq!(timeout_ms(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_ms(Some(Duration::from_nanos(1))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_micros(999))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_millis(1))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_micros(1_001))), 2);
        assert_eq!(
            timeout_ms(Some(Duration::from_secs(3600 * 24 * 365))),
            c_int::MAX
        );
        assert_eq!(timeout_ms(Some(Duration::MAX)), c_int::MAX);
    }

    /// The eventfd's counter, left as it was.
    fn eventfd_count(poller: &Poller) -> u64 {
        let fd = poller.event.as_raw_fd();
        let mut count = 0u64;
        // SAFETY: reads 8 bytes into a local u64.
        if unsafe { libc::read(fd, (&mut count as *mut u64).cast(), 8) } != 8 {
            return 0;
        }
        // SAFETY: writes 8 bytes from a local u64.
        assert_eq!(
            unsafe { libc::write(fd, (&count as *const u64).cast(), 8) },
            8
        );
        count
    }

    #[test]
    fn wake_returns_a_poll_blocked_forever() {
        let poller = Arc::new(Poller::new().unwrap());
        let (done_tx, done_rx) = mpsc::channel();
        let polling = {
            let poller = Arc::clone(&poller);
            thread::spawn(move || {
                let mut ready = Vec::new();
                let n = poller.poll(None, &mut ready).unwrap();
                done_tx.send((n, ready)).unwrap();
            })
        };
        // Whether this lands before or during the poll's epoll_wait, the
        // level-triggered eventfd makes that wait return.
        poller.wake();
        let (n, ready) = done_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("poll(None) did not return after wake()");
        assert_eq!((n, ready), (0, Vec::new()));
        polling.join().unwrap();
        assert!(!poller.wake_pending.load(SeqCst));
    }

    #[test]
    fn wakes_coalesce_until_a_blocking_poll_drains_them() {
        let poller = Poller::new().unwrap();
        let mut ready = Vec::new();
        poller.wake();
        poller.wake();
        assert_eq!(eventfd_count(&poller), 1, "the second wake wrote again");

        // A non-blocking poll leaves the wake for the thread about to block.
        assert_eq!(poller.poll(Some(Duration::ZERO), &mut ready).unwrap(), 0);
        assert!(poller.wake_pending.load(SeqCst));
        assert_eq!(eventfd_count(&poller), 1);

        // A blocking poll returns because of it, long before its timeout,
        // and drains it.
        let start = Instant::now();
        assert_eq!(
            poller
                .poll(Some(Duration::from_secs(30)), &mut ready)
                .unwrap(),
            0
        );
        assert!(start.elapsed() < Duration::from_secs(30));
        assert!(!poller.wake_pending.load(SeqCst));
        assert_eq!(eventfd_count(&poller), 0);

        // Nothing is left over for the next poll, which sleeps out its timeout.
        assert_eq!(
            poller
                .poll(Some(Duration::from_millis(10)), &mut ready)
                .unwrap(),
            0
        );
        assert!(ready.is_empty());

        // And the next wake rings again.
        poller.wake();
        assert_eq!(eventfd_count(&poller), 1);
    }
}
