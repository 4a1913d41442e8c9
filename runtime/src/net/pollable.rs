//! A non-blocking descriptor that blocks its task, not its thread: Go's
//! `netFD` with its `pollDesc` (internal/poll/fd_unix.go).
//!
//! Every socket in `grt::net` is a std socket switched to non-blocking
//! mode, wrapped in a `Pollable`. An operation is tried at once; on
//! `WouldBlock` the task parks until the poller says the descriptor is
//! ready in that direction, then tries again (Go's `fd.Read` loop around
//! `pd.waitRead`). Edge-triggered readiness can be spurious, so "ready"
//! only ever means "try again".
//!
//! The descriptor is registered with a runtime's poller the first time a
//! task has to wait on it, not when it is created: a socket made on a plain
//! thread (or in one runtime's main before any wait) gets its registration
//! from the runtime it is first used in, and a socket that never blocks
//! never costs an `epoll_ctl`. Registration of a descriptor that is already
//! ready reports it at once, so nothing is lost by registering late. A
//! socket then belongs to that runtime's poller; moving it to another
//! runtime is not supported.
//!
//! One task at a time waits in each direction (`turns`): the poller has one
//! slot per direction, as Go's `pollDesc` has `rg` and `wg`, and Go
//! serialises readers and writers the same way (`fdMutex`). So one task can
//! read while another writes (`&TcpStream` is `Read` and `Write`), and two
//! readers take turns.
//!
//! Invariant: the registration is closed (waking any waiter with an error)
//! before the descriptor is, so the poller never watches a number that the
//! kernel may hand to the next `socket` or `accept`.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use grt_netpoll::{Interest, Registration};

use crate::machine;
use crate::netpoll;
use crate::preempt::checkpoint;
use crate::sync::Mutex;
use crate::time::deadline_from;

/// A non-blocking socket of type `S` (a std socket) and its poller state.
pub(crate) struct Pollable<S: AsRawFd> {
    io: S,
    /// Set the first time a task waits (module comment); the error, if
    /// registering failed, is kept and returned to every later waiter.
    registration: OnceLock<Result<Registration, (io::ErrorKind, String)>>,
    /// Whose turn it is to wait for readability, and for writability.
    turns: [Mutex<()>; 2],
    /// Read and write timeouts in nanoseconds, 0 for none (std's
    /// `set_read_timeout` semantics: each call gets the whole timeout).
    timeouts: [AtomicU64; 2],
    /// Read and write deadlines (Go's `SetReadDeadline`: one instant for
    /// every call until changed), as nanoseconds after [`deadline_epoch`],
    /// 0 for none.
    deadlines: [AtomicU64; 2],
    /// std's `set_nonblocking(true)`: `WouldBlock` goes back to the caller
    /// instead of parking it.
    nonblocking: AtomicBool,
    /// The last stream read returned less than asked, or `WouldBlock`: the
    /// kernel's buffer was empty then, so the next read would most likely
    /// say `EAGAIN`; it waits for readiness first instead (tokio's rule,
    /// which saves one read system call per message on a request/response
    /// connection), or, non-blocking, says `WouldBlock` itself while the
    /// poller has seen nothing (`read_stream`).
    /// Safe because the poller keeps a hang-up ready for good (grt-netpoll's
    /// `HUNG_UP`): an end that arrived with the last data is still seen.
    drained: AtomicBool,
}

/// Time zero of the stored deadlines (any fixed instant will do).
fn deadline_epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// The earlier of two optional instants, `None` being "never".
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn index(interest: Interest) -> usize {
    match interest {
        Interest::Read => 0,
        Interest::Write => 1,
    }
}

impl<S: AsRawFd> Pollable<S> {
    /// Wraps `io`, which the caller has made non-blocking.
    pub fn new(io: S) -> Pollable<S> {
        Pollable {
            io,
            registration: OnceLock::new(),
            turns: [Mutex::new(()), Mutex::new(())],
            timeouts: [AtomicU64::new(0), AtomicU64::new(0)],
            deadlines: [AtomicU64::new(0), AtomicU64::new(0)],
            nonblocking: AtomicBool::new(false),
            drained: AtomicBool::new(false),
        }
    }

    /// The std socket, for the calls that never block (addresses, options).
    pub fn get(&self) -> &S {
        &self.io
    }

    /// Runs `op` on the socket until it does anything but `WouldBlock`,
    /// waiting for `interest` readiness in between, until the direction's
    /// timeout or deadline (whichever is set and comes first) has passed;
    /// in non-blocking mode, just once.
    pub fn io<R>(&self, interest: Interest, op: impl FnMut(&S) -> io::Result<R>) -> io::Result<R> {
        self.io_within(interest, None, op)
    }

    /// [`io`](Self::io) for a call whose first wait may already have
    /// happened: `timeout_end` is then `Some` (the end of the call's
    /// timeout, from that wait), so that no retry starts the timeout over.
    fn io_within<R>(
        &self,
        interest: Interest,
        mut timeout_end: Option<Option<Instant>>,
        mut op: impl FnMut(&S) -> io::Result<R>,
    ) -> io::Result<R> {
        checkpoint();
        if self.nonblocking.load(Ordering::Relaxed) {
            return op(&self.io);
        }
        // The end of the call's timeout is worked out at its first wait,
        // if the caller has not: a call that never has to wait (most, on a
        // busy connection) never reads the clock. The standing deadline is
        // read at every wait (`park`): another task may move it meanwhile.
        loop {
            match op(&self.io) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    let end = match timeout_end {
                        Some(end) => end,
                        None => *timeout_end.insert(self.call_deadline(interest)?),
                    };
                    self.park(interest, end)?;
                }
                result => return result,
            }
        }
    }

    /// A stream read into `len` bytes of buffer: [`io`](Self::io), but
    /// after a read that found the socket's buffer empty (`drained`) the
    /// next one does not try at once: a blocking read waits for readiness
    /// first (waiting costs nothing if data came meanwhile: the poller has
    /// marked the socket ready, and the wait returns at once), and a
    /// non-blocking one says `WouldBlock` without a system call unless the
    /// poller has reported the socket readable since (tokio's `try_read`).
    pub fn read_stream(
        &self,
        len: usize,
        op: impl FnMut(&S) -> io::Result<usize>,
    ) -> io::Result<usize> {
        self.stream_read(len, true, op)
    }

    /// [`read_stream`](Self::read_stream) for a peek: what it sees stays in
    /// the socket's buffer, so only `WouldBlock` leaves it known empty.
    pub fn peek_stream(
        &self,
        len: usize,
        op: impl FnMut(&S) -> io::Result<usize>,
    ) -> io::Result<usize> {
        self.stream_read(len, false, op)
    }

    fn stream_read(
        &self,
        len: usize,
        consumes: bool,
        mut op: impl FnMut(&S) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let mut timeout_end = None;
        if len > 0 && self.drained.load(Ordering::Relaxed) {
            if !self.nonblocking.load(Ordering::Relaxed) {
                self.drained.store(false, Ordering::Relaxed);
                let end = *timeout_end.insert(self.call_deadline(Interest::Read)?);
                self.park(Interest::Read, end)?;
            } else if !self.read_readiness_seen() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
        }
        let result = self.io_within(Interest::Read, timeout_end, &mut op);
        let drained = match &result {
            Ok(n) => consumes && *n > 0 && *n < len,
            Err(err) => err.kind() == io::ErrorKind::WouldBlock,
        };
        self.drained.store(drained, Ordering::Relaxed);
        result
    }

    /// Whether the socket may have become readable (or hung up) since a
    /// waiter last consumed its readiness (`Registration::may_be_ready`);
    /// without a registration nothing is known, so yes.
    fn read_readiness_seen(&self) -> bool {
        match self.registration.get() {
            Some(Ok(registration)) => registration.may_be_ready(Interest::Read),
            _ => true,
        }
    }

    /// A call starting now in `interest`'s direction: the end of its
    /// timeout, if it has one; `TimedOut` if that or the standing deadline
    /// has already passed. One clock reading serves both, and none is
    /// taken without a timeout or deadline.
    fn call_deadline(&self, interest: Interest) -> io::Result<Option<Instant>> {
        let (timeout, standing) = (self.timeout(interest), self.deadline(interest));
        if timeout.is_none() && standing.is_none() {
            return Ok(None);
        }
        let now = Instant::now();
        let timeout_end = timeout.map(|timeout| deadline_from(now, timeout));
        if earliest(timeout_end, standing).is_some_and(|deadline| deadline <= now) {
            return Err(io::ErrorKind::TimedOut.into());
        }
        Ok(timeout_end)
    }

    /// Blocks until the socket may be ready for `interest`, or `deadline`
    /// (the caller's alone: the standing deadline is not consulted).
    pub fn wait(&self, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.park_until(interest, deadline, None)
    }

    /// Waits for `interest` until `timeout_end` (a call's timeout,
    /// checked by `call_deadline`) or the standing deadline, whichever
    /// comes first. The standing deadline is read here, and the wait ends
    /// early if it changes (`set_deadline`).
    fn park(&self, interest: Interest, timeout_end: Option<Instant>) -> io::Result<()> {
        let standing = &self.deadlines[index(interest)];
        let seen = standing.load(Ordering::SeqCst);
        let deadline = earliest(timeout_end, self.deadline_at(seen));
        let moved = || standing.load(Ordering::SeqCst) != seen;
        self.park_until(interest, deadline, Some(&moved))
    }

    /// Parks the task (or blocks the thread, outside a task) until the
    /// socket may be ready for `interest`, `deadline` passes, or `moved`
    /// says the deadline it came from has changed.
    fn park_until(
        &self,
        interest: Interest,
        deadline: Option<Instant>,
        moved: Option<&dyn Fn() -> bool>,
    ) -> io::Result<()> {
        let fd = self.io.as_raw_fd();
        if machine::current().and_then(|m| m.current_task()).is_none() {
            return netpoll::block_thread_until_ready(fd, interest, deadline);
        }
        let _turn = self.turns[index(interest)].lock();
        // Asked after the lock, which may have parked us and moved us to
        // another M.
        let m = machine::current().expect("still in a task");
        let registration = self
            .registration
            .get_or_init(|| {
                m.sched
                    .poller
                    .register(fd)
                    .map_err(|err| (err.kind(), err.to_string()))
            })
            .as_ref()
            .map_err(|(kind, why)| {
                io::Error::new(
                    *kind,
                    format!("cannot register the socket with epoll: {why}"),
                )
            })?;
        netpoll::park_until_ready(m, registration, interest, deadline, moved)
    }

    pub fn timeout(&self, interest: Interest) -> Option<Duration> {
        match self.timeouts[index(interest)].load(Ordering::Relaxed) {
            0 => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    /// std's `set_read_timeout`/`set_write_timeout`: `None` waits for ever,
    /// a zero duration is an error.
    pub fn set_timeout(&self, interest: Interest, timeout: Option<Duration>) -> io::Result<()> {
        let nanos = match timeout {
            None => 0,
            Some(timeout) if timeout.is_zero() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "cannot set a 0 duration timeout",
                ))
            }
            Some(timeout) => timeout.as_nanos().clamp(1, u128::from(u64::MAX)) as u64,
        };
        self.timeouts[index(interest)].store(nanos, Ordering::Relaxed);
        Ok(())
    }

    pub fn deadline(&self, interest: Interest) -> Option<Instant> {
        self.deadline_at(self.deadlines[index(interest)].load(Ordering::SeqCst))
    }

    /// A stored deadline (`deadlines`' encoding) as an instant.
    fn deadline_at(&self, nanos: u64) -> Option<Instant> {
        match nanos {
            0 => None,
            nanos => Some(deadline_epoch() + Duration::from_nanos(nanos - 1)),
        }
    }

    /// Go's `SetReadDeadline`/`SetWriteDeadline`: calls in that direction
    /// fail with `TimedOut` once `deadline` has passed, if they have to
    /// wait; `None` clears it. As in Go, it applies to a task's call
    /// already waiting too: that call is woken, and waits again until the
    /// new deadline, or fails if it has passed (a deadline in the past is
    /// how one task stops another's blocked read). A plain thread blocked
    /// in `poll(2)` (outside the runtime) keeps the deadline it started
    /// with.
    pub fn set_deadline(&self, interest: Interest, deadline: Option<Instant>) {
        let nanos = deadline.map_or(0, |d| {
            let since = d.saturating_duration_since(deadline_epoch()).as_nanos();
            // +1 so that the epoch itself is not "none".
            since.min(u128::from(u64::MAX - 1)) as u64 + 1
        });
        // SeqCst, as the slot's operations: a waiter woken by the interrupt
        // below reads the new deadline, and one whose arm the interrupt
        // missed sees the change in its `moved` check (netpoll.rs
        // `park_until_ready`).
        self.deadlines[index(interest)].store(nanos, Ordering::SeqCst);
        if let Some(Ok(registration)) = self.registration.get() {
            if let Some(token) = registration.interrupt(interest) {
                netpoll::ready_taken([Some(token), None]);
            }
        }
    }

    /// std's `set_nonblocking`.
    pub fn set_nonblocking(&self, nonblocking: bool) {
        self.nonblocking.store(nonblocking, Ordering::Relaxed);
    }

    /// A handle to the same socket through a new descriptor (`dup`), with
    /// this one's timeouts and a registration of its own.
    pub fn try_clone_with(
        &self,
        clone: impl FnOnce(&S) -> io::Result<S>,
    ) -> io::Result<Pollable<S>> {
        let copy = Pollable::new(clone(&self.io)?);
        let fields = [
            (&copy.timeouts, &self.timeouts),
            (&copy.deadlines, &self.deadlines),
        ];
        for (to, from) in fields
            .into_iter()
            .flat_map(|(to, from)| to.iter().zip(from))
        {
            to.store(from.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        copy.set_nonblocking(self.nonblocking.load(Ordering::Relaxed));
        Ok(copy)
    }

    pub fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl<S: AsRawFd> Drop for Pollable<S> {
    fn drop(&mut self) {
        // Before `io` closes the descriptor (fields drop after this).
        if let Some(Ok(registration)) = self.registration.get() {
            netpoll::ready_taken(registration.close());
        }
    }
}
