//! A registered descriptor and its two wait slots: the `pollDesc` half of
//! Go's `netpoll.go` (`netpollblock`, `netpollunblock`, `pollUnblock`,
//! `pollClose`, `pollCache`).
//!
//! # The slot
//! Each `PollDesc` has a read slot and a write slot, one `AtomicUsize` each
//! (Go's `rg` and `wg`), in one of three states:
//!
//! | state | meaning                                 | Go        |
//! |-------|-----------------------------------------|-----------|
//! | EMPTY | nothing pending, nobody waiting         | `pdNil`   |
//! | READY | readiness arrived that nobody consumed  | `pdReady` |
//! | HUNG_UP | the peer hung up: ready for good      | (none)    |
//! | token | a waiter is parked on this half         | a `*g`    |
//!
//! and four kinds of transition, all atomic swaps or CASes:
//! - `arm` (the caller got `EAGAIN`): READY -> EMPTY, and the caller retries
//!   its I/O at once; EMPTY -> token, and the caller parks.
//! - `poll` (an event arrived): anything but HUNG_UP -> READY, or, for a
//!   hang-up, anything -> HUNG_UP, taking the token if there was one.
//!   `arm` on HUNG_UP returns Ready and leaves it (see `HUNG_UP`).
//! - `disarm` (the waiter gave up, e.g. on a timeout): its own token -> EMPTY.
//! - `close`: anything -> EMPTY, taking the token if there was one.
//!
//! Why nothing is lost with edge-triggered epoll: the kernel reports a
//! readiness edge once. If the edge comes after the caller's `EAGAIN` but
//! before its `arm`, `poll` finds the slot EMPTY and leaves READY, and the
//! `arm` consumes READY and retries instead of parking. If it comes after
//! the `arm`, `poll` finds the token and hands it back. The swap and the CAS
//! are ordered on the slot, so one of the two always happens. Go needs an
//! extra `pdWait` state because a goroutine can only publish itself once it
//! is off its stack; grt's park tolerates an unpark that arrives before the
//! park (runtime/src/park.rs), so the runtime may hand us its token first.
//!
//! # Arm against close
//! `close` sets `closing` and then empties both slots; `arm` stores its
//! token and then re-reads `closing`. With all four accesses SeqCst, either
//! the re-read sees `closing` (and `arm` takes its token back, or finds that
//! `close` already took it), or `close`'s swap comes later and takes the
//! token. A token is never stranded in a closed registration. (Every atomic
//! here is SeqCst: that handshake needs it, and the cost is noise next to
//! the system calls around each operation.)
//!
//! # Why descs are never freed
//! One thread's `epoll_wait` may return an event for a registration that
//! another thread closes before the first looks at the event; the event
//! still carries the desc's address. So, like Go's `pollCache`, descs are
//! leaked and recycled through a process-wide free list: the address in any
//! event ever delivered stays valid memory. To tell an event of the old
//! registration from one of the desc's next user, `close` bumps the desc's
//! `seq`, whose low 16 bits ride in the top 16 bits of the epoll data
//! (x86_64 and aarch64 user addresses fit in 48 bits; `alloc` asserts it),
//! and `poll` drops events whose tag is not the current seq. A poll that
//! checked the tag just before a close can still mark the slot, or take the
//! token of the desc's next user: a spurious wake-up, which waiters tolerate
//! (lib.rs). The tag wraps after 65536 reuses of one desc, as Go's does.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, PoisonError};

use crate::poller::Poller;

/// Slot state: no readiness pending, no waiter (Go's `pdNil`).
const EMPTY: usize = 0;
/// Slot state: readiness arrived that no `arm` has consumed (Go's `pdReady`).
const READY: usize = 1;
/// Slot state: the peer hung up (EPOLLRDHUP or EPOLLHUP). Unlike READY it
/// is never consumed: every later `arm` says Ready, so a reader that read
/// the last data without seeing the end (a short read) still finds it,
/// though the one edge that announced it is long gone. tokio keeps its
/// `READ_CLOSED` sticky for the same reason. Errors (EPOLLERR) are not
/// sticky: on a UDP socket they pass once the error has been read.
const HUNG_UP: usize = 2;
/// The smallest token; every value below it is a slot state (0 to 2 are
/// used, the rest reserved). Tokens are also 8-aligned, as the `Arc`
/// pointers grt passes are.
const MIN_TOKEN: usize = 8;

/// Where the seq tag starts in the epoll data: above the 48 bits of a user
/// address on x86_64 and aarch64 (4-level page tables).
const TAG_SHIFT: u32 = 48;

/// The descs of closed registrations, ready for reuse (Go's `pollCache`).
/// Process-wide rather than per poller so that a program that opens and
/// closes sockets on several pollers still reuses a bounded set.
static FREE: Mutex<Vec<&'static PollDesc>> = Mutex::new(Vec::new());

/// Which half of a descriptor a waiter waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interest {
    /// Readable (or hung up, or in error).
    Read,
    /// Writable (or hung up, or in error).
    Write,
}

/// What [`Registration::arm`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Armed {
    /// Readiness was pending and has been consumed: retry the I/O now.
    Ready,
    /// The token is in the slot: park. `poll` or `close` will hand it back
    /// (possibly before the caller has finished parking), or the caller
    /// takes it back with [`Registration::disarm`].
    Waiting,
    /// Another token is parked on this half. Go serialises readers (and
    /// writers) of one descriptor with `fdMutex` above the poller; the
    /// caller must do the same.
    Busy,
    /// The registration is closing: fail the I/O.
    Closed,
}

/// One wait slot: EMPTY, READY or a token (see the module doc).
struct Slot(AtomicUsize);

impl Slot {
    const fn new() -> Slot {
        Slot(AtomicUsize::new(EMPTY))
    }

    /// The first half of Go's `netpollblock`: consume READY, or park
    /// `token` in an EMPTY slot, or report that another token is there.
    fn park(&self, token: usize) -> Armed {
        let mut state = self.0.load(SeqCst);
        loop {
            let (next, armed) = match state {
                READY => (EMPTY, Armed::Ready),
                HUNG_UP => return Armed::Ready,
                EMPTY => (token, Armed::Waiting),
                other => {
                    debug_assert_ne!(other, token, "token {token:#x} armed twice");
                    return Armed::Busy;
                }
            };
            match self.0.compare_exchange(state, next, SeqCst, SeqCst) {
                Ok(_) => return armed,
                Err(now) => state = now,
            }
        }
    }

    /// Takes `token` back if it is still parked here. Usually the poller
    /// has taken it already (the waiter was woken by readiness), which a
    /// plain load sees without the locked compare-exchange; once taken, a
    /// token never comes back to the slot but through its owner's `park`.
    fn unpark(&self, token: usize) -> bool {
        self.0.load(SeqCst) == token
            && self
                .0
                .compare_exchange(token, EMPTY, SeqCst, SeqCst)
                .is_ok()
    }

    /// Go's `netpollunblock(ioready=true)`: records readiness (a hang-up
    /// for good) and takes the token, if any.
    fn make_ready(&self, hung_up: bool) -> Option<usize> {
        if hung_up {
            return token(self.0.swap(HUNG_UP, SeqCst));
        }
        let mut state = self.0.load(SeqCst);
        loop {
            if state == HUNG_UP {
                return None;
            }
            match self.0.compare_exchange(state, READY, SeqCst, SeqCst) {
                Ok(old) => return token(old),
                Err(now) => state = now,
            }
        }
    }

    /// READY → EMPTY, leaving any other state alone.
    fn consume_ready(&self) {
        let _ = self.0.compare_exchange(READY, EMPTY, SeqCst, SeqCst);
    }

    /// Go's `netpollunblock(ioready=false)`, for close: drops pending
    /// readiness and takes the token, if any.
    fn clear(&self) -> Option<usize> {
        token(self.0.swap(EMPTY, SeqCst))
    }

    /// Takes the token if one is parked, leaving readiness (and a hang-up)
    /// alone. A failed exchange means the poller took it first and hands
    /// it back itself.
    fn take_token(&self) -> Option<usize> {
        let state = self.0.load(SeqCst);
        let parked = token(state)?;
        self.0
            .compare_exchange(parked, EMPTY, SeqCst, SeqCst)
            .ok()
            .map(|_| parked)
    }
}

/// The token a slot state holds, if it holds one.
fn token(state: usize) -> Option<usize> {
    (state >= MIN_TOKEN).then_some(state)
}

/// The poller's per-descriptor record (Go's `pollDesc`). Leaked, recycled
/// through [`FREE`], and only ever reached by `&'static` reference.
pub(crate) struct PollDesc {
    /// Bumped by each `close`; its low 16 bits tag the epoll data, so events
    /// of earlier registrations are recognised as stale (Go's `fdseq`).
    seq: AtomicU32,
    /// Set by `close`: arms fail from then on (Go's `closing`).
    closing: AtomicBool,
    /// The reader's slot (Go's `rg`).
    read: Slot,
    /// The writer's slot (Go's `wg`).
    write: Slot,
}

impl PollDesc {
    /// A desc for a new registration: a recycled one if the free list has
    /// one, else a new leaked one. Comes back open, with empty slots and its
    /// seq where its last close left it.
    pub(crate) fn alloc() -> &'static PollDesc {
        let recycled = FREE.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let desc = recycled.unwrap_or_else(|| {
            let desc: &'static PollDesc = Box::leak(Box::new(PollDesc {
                seq: AtomicU32::new(0),
                closing: AtomicBool::new(false),
                read: Slot::new(),
                write: Slot::new(),
            }));
            let addr = desc as *const PollDesc as usize;
            assert!(
                addr >> TAG_SHIFT == 0,
                "PollDesc at {addr:#x} has bits above 48: the epoll tag would overwrite them"
            );
            desc
        });
        // A straggling poll (module doc) may have left READY; never a token,
        // because close emptied both slots after arms started failing.
        let left = [desc.read.clear(), desc.write.clear()];
        debug_assert_eq!(left, [None, None], "a token parked in a free PollDesc");
        desc.closing.store(false, SeqCst);
        desc
    }

    /// Returns the desc to the free list. Its registration must be over: no
    /// `Registration` may refer to it any more.
    pub(crate) fn release(&'static self) {
        FREE.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(self);
    }

    /// The epoll data naming this desc under its current seq.
    pub(crate) fn epoll_data(&'static self) -> u64 {
        let tag = u64::from(self.seq.load(SeqCst) as u16);
        self as *const PollDesc as u64 | tag << TAG_SHIFT
    }

    /// The desc that `data` names, if `data` was made under its current seq;
    /// `None` for an event of a registration since closed.
    ///
    /// # Safety
    /// `data` must have been returned by [`epoll_data`](Self::epoll_data).
    pub(crate) unsafe fn from_epoll_data(data: u64) -> Option<&'static PollDesc> {
        let addr = data & ((1 << TAG_SHIFT) - 1);
        // SAFETY: by the contract the address is a PollDesc's, and descs are
        // leaked, never freed, so it is valid for 'static whatever became of
        // its registration.
        let desc = unsafe { &*(addr as *const PollDesc) };
        let tag = (data >> TAG_SHIFT) as u16;
        (desc.seq.load(SeqCst) as u16 == tag).then_some(desc)
    }

    /// An event made `interest` ready: see [`Slot::make_ready`].
    pub(crate) fn make_ready(&self, interest: Interest, hung_up: bool) -> Option<usize> {
        self.slot(interest).make_ready(hung_up)
    }

    fn slot(&self, interest: Interest) -> &Slot {
        match interest {
            Interest::Read => &self.read,
            Interest::Write => &self.write,
        }
    }
}

/// A descriptor registered with a [`Poller`] (Go's `pollDesc` as seen from
/// `internal/poll`). Dropping it closes it.
pub struct Registration {
    /// Kept alive so that its epoll instance outlives the registration.
    poller: Arc<Poller>,
    /// This registration's desc; ours alone until `drop` releases it.
    desc: &'static PollDesc,
    /// The registered descriptor, for `EPOLL_CTL_DEL`.
    fd: RawFd,
}

impl Registration {
    pub(crate) fn new(poller: Arc<Poller>, desc: &'static PollDesc, fd: RawFd) -> Registration {
        Registration { poller, desc, fd }
    }

    /// The first half of Go's `netpollblock`, for a caller whose I/O on
    /// `interest` just returned `EAGAIN`:
    /// - [`Armed::Ready`]: readiness arrived since; it is consumed, retry.
    /// - [`Armed::Waiting`]: `token` is parked; the caller parks. The slot owns
    ///   the token until `poll`, `close` or `disarm` takes it out.
    /// - [`Armed::Busy`]: another token is parked on this half.
    /// - [`Armed::Closed`]: the registration is closing.
    ///
    /// `token` must be at least 8 and 8-aligned (lib.rs).
    pub fn arm(&self, interest: Interest, token: usize) -> Armed {
        debug_assert!(
            token >= MIN_TOKEN && token % 8 == 0,
            "token {token:#x} is not >= 8 and 8-aligned"
        );
        let desc = self.desc;
        if desc.closing.load(SeqCst) {
            return Armed::Closed;
        }
        let slot = desc.slot(interest);
        // Counted before it is visible, so that a poll taking it at once
        // cannot drive the count below zero.
        self.poller.waiters.fetch_add(1, SeqCst);
        let armed = slot.park(token);
        if armed != Armed::Waiting {
            self.poller.waiters.fetch_sub(1, SeqCst);
            return armed;
        }
        // The arm-against-close handshake (module doc). If the CAS fails,
        // close or poll took the token and hands it back: still Waiting.
        if desc.closing.load(SeqCst) && slot.unpark(token) {
            self.poller.waiters.fetch_sub(1, SeqCst);
            return Armed::Closed;
        }
        Armed::Waiting
    }

    /// Takes `token` back out of `interest`'s slot, for a waiter that
    /// stops waiting without being handed its token (a timeout, a spurious
    /// wake-up). `true`: it was still there and nobody will hand it back;
    /// `false`: `poll` or `close` took it and hands it back, or has already.
    pub fn disarm(&self, interest: Interest, token: usize) -> bool {
        let taken = self.desc.slot(interest).unpark(token);
        if taken {
            self.poller.waiters.fetch_sub(1, SeqCst);
        }
        taken
    }

    /// Drops the readiness a `poll` left in `interest`'s slot when it took
    /// the caller's token: the caller was woken by that very readiness and
    /// is about to retry its I/O, which sees everything it announced. Left
    /// in place, it would make the caller's next `arm` return
    /// [`Armed::Ready`] for nothing, costing one I/O call that can only say
    /// `EAGAIN`. (Go's `netpollblock` ends with `gpp.Swap(pdNil)` for the
    /// same reason.) Readiness that arrives after this is recorded anew.
    pub fn consume_ready(&self, interest: Interest) {
        self.desc.slot(interest).consume_ready();
    }

    /// Hands back the token parked on `interest`'s half, if any, without
    /// making the half ready: its waiter wakes, retries its I/O (which
    /// says `WouldBlock`) and waits again. For a change the waiter must
    /// see at once, such as a new deadline (Go's `poll_runtime_pollSetDeadline`
    /// wakes a blocked reader or writer likewise). The caller unparks
    /// the token's owner, as for [`poll`](crate::Poller::poll)'s.
    pub fn interrupt(&self, interest: Interest) -> Option<usize> {
        self.desc.slot(interest).take_token()
    }

    /// Whether `interest` may be ready, as far as the poller knows: an
    /// event arrived that no `arm` or `consume_ready` has taken since, or a
    /// hang-up (which stays). A caller that knows the descriptor had
    /// nothing to offer at its last try can skip the next system call
    /// while this says no, as tokio checks readiness before a `try_read`.
    /// The answer is only as fresh as the last poll: the runtime polls
    /// while some task waits on this poller (Go's `netpollAnyWaiters`), so
    /// with no waiter there is no news, and this says yes.
    pub fn may_be_ready(&self, interest: Interest) -> bool {
        self.poller.waiters() == 0
            || matches!(self.desc.slot(interest).0.load(SeqCst), READY | HUNG_UP)
    }

    /// Has [`close`](Self::close) been called?
    pub fn is_closing(&self) -> bool {
        self.desc.closing.load(SeqCst)
    }

    /// Go's `pollUnblock` and `pollClose`: marks the registration closing
    /// (arms return [`Armed::Closed`] from now on), takes the tokens out of
    /// both slots and returns them `[read, write]` so that the caller can
    /// wake their owners with an error (and then report them
    /// [`handled`](Poller::handled)), removes the descriptor from the
    /// epoll set and bumps the desc's seq so that events already harvested
    /// are ignored. Only the first call does anything; later ones return
    /// `[None, None]`. The descriptor itself stays open: its owner closes it
    /// after this. The desc returns to the free list when the registration
    /// is dropped, so that an `arm` racing this call never reaches the desc's
    /// next user.
    pub fn close(&self) -> [Option<usize>; 2] {
        let desc = self.desc;
        if desc.closing.swap(true, SeqCst) {
            return [None, None];
        }
        let tokens = [desc.read.clear(), desc.write.clear()];
        if let Err(err) = self.poller.ctl(libc::EPOLL_CTL_DEL, self.fd, 0, 0) {
            // ENOENT/EBADF: the owner closed (and maybe reused) the fd first,
            // against the contract; the kernel dropped or keeps the entry,
            // and the seq bump below makes any event it sends stale.
            debug_assert!(
                matches!(err.raw_os_error(), Some(libc::ENOENT | libc::EBADF)),
                "EPOLL_CTL_DEL of fd {}: {err}",
                self.fd
            );
        }
        desc.seq.fetch_add(1, SeqCst);
        tokens
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let tokens = self.close();
        // Nothing else can reach this registration now, so no arm can touch
        // the desc again: it may serve someone else.
        self.desc.release();
        debug_assert_eq!(
            tokens,
            [None, None],
            "Registration dropped with parked tokens; close() it and wake their owners first"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::os::fd::AsRawFd;
    use std::sync::atomic::AtomicBool;
    use std::sync::Barrier;
    use std::thread;
    use std::time::Duration;

    use super::*;
    use crate::test_util::{drain, fill, poll_tokens, socketpair, write_byte};

    const T1: usize = 0x1000;
    const T2: usize = 0x2000;
    const SECOND: Option<Duration> = Some(Duration::from_secs(1));
    const NOW: Option<Duration> = Some(Duration::ZERO);

    fn state(reg: &Registration, interest: Interest) -> usize {
        reg.desc.slot(interest).0.load(SeqCst)
    }

    #[test]
    fn a_parked_reader_is_handed_back_when_data_arrives() {
        let poller = Arc::new(Poller::new().unwrap());
        let (ours, theirs) = socketpair();
        let reg = poller.register(ours.as_raw_fd()).unwrap();

        assert_eq!(reg.arm(Interest::Read, T1), Armed::Waiting);
        assert_eq!(poller.waiters(), 1);
        write_byte(&theirs);
        assert_eq!(poll_tokens(&poller, Duration::from_secs(5)), vec![T1]);
        // Counted until the caller says it has readied the waiter.
        assert_eq!(poller.waiters(), 1);
        poller.handled(1);
        assert_eq!(poller.waiters(), 0);
        assert_eq!(state(&reg, Interest::Read), READY);

        // The readiness is consumed once, then the reader parks again.
        assert_eq!(reg.arm(Interest::Read, T1), Armed::Ready);
        assert_eq!(reg.arm(Interest::Read, T1), Armed::Waiting);
        assert!(reg.disarm(Interest::Read, T1));
    }

    #[test]
    fn consume_ready_drops_only_readiness() {
        let poller = Arc::new(Poller::new().unwrap());
        let (ours, theirs) = socketpair();
        let reg = poller.register(ours.as_raw_fd()).unwrap();
        assert_eq!(reg.arm(Interest::Read, T1), Armed::Waiting);
        // A token is left alone.
        reg.consume_ready(Interest::Read);
        assert_eq!(state(&reg, Interest::Read), T1);
        write_byte(&theirs);
        assert_eq!(poll_tokens(&poller, Duration::from_secs(5)), vec![T1]);
        poller.handled(1);
        assert_eq!(state(&reg, Interest::Read), READY);
        // The woken reader consumes the readiness that woke it: its next
        // arm parks instead of returning Ready for nothing.
        reg.consume_ready(Interest::Read);
        assert_eq!(state(&reg, Interest::Read), EMPTY);
        assert_eq!(reg.arm(Interest::Read, T1), Armed::Waiting);
        assert!(reg.disarm(Interest::Read, T1));
    }

    #[test]
    fn readiness_before_arming_is_kept() {
        let poller = Arc::new(Poller::new().unwrap());
        let (ours, theirs) = socketpair();
        let reg = poller.register(ours.as_raw_fd()).unwrap();

        write_byte(&theirs);
        let mut ready = Vec::new();
        assert_eq!(poller.poll(SECOND, &mut ready).unwrap(), 0);
        assert!(ready.is_empty());
        assert_eq!(state(&reg, Interest::Read), READY);
        assert_eq!(reg.arm(Interest::Read, T1), Armed::Ready);
        assert_eq!(poller.waiters(), 0);
    }

    #[test]
    fn a_parked_writer_is_handed_back_when_room_appears() {
        let poller = Arc::new(Poller::new().unwrap());
        let (ours, theirs) = socketpair();
        let reg = poller.register(ours.as_raw_fd()).unwrap();

        // A fresh socket is writable: registering reports it.
        let mut ready = Vec::new();
        assert_eq!(poller.poll(SECOND, &mut ready).unwrap(), 0);
        assert_eq!(state(&reg, Interest::Write), READY);

        // The caller's loop: write until EAGAIN, arm, retry on Ready.
        let mut armed = Armed::Ready;
        for _ in 0..10 {
            fill(&ours);
            armed = reg.arm(Interest::Write, T1);
            if armed != Armed::Ready {
                break;
            }
        }
        assert_eq!(armed, Armed::Waiting);
        drain(&theirs);
        assert_eq!(poll_tokens(&poller, Duration::from_secs(5)), vec![T1]);
        poller.handled(1);
        assert_eq!(poller.waiters(), 0);
    }

    #[test]
    fn a_second_waiter_on_one_half_is_busy() {
        let poller = Arc::new(Poller::new().unwrap());
        let (ours, _theirs) = socketpair();
        let reg = poller.register(ours.as_raw_fd()).unwrap();

        assert_eq!(reg.arm(Interest::Read, T1), Armed::Waiting);
        assert_eq!(reg.arm(Interest::Read, T2), Armed::Busy);
        assert_eq!(poller.waiters(), 1);
        assert!(!reg.disarm(Interest::Read, T2));
        assert!(reg.disarm(Interest::Read, T1));
    }

    #[test]
    fn a_disarmed_token_is_not_handed_back() {
        let poller = Arc::new(Poller::new().unwrap());
        let (ours, theirs) = socketpair();
        let reg = poller.register(ours.as_raw_fd()).unwrap();

        assert_eq!(reg.arm(Interest::Read, T1), Armed::Waiting);
        assert!(reg.disarm(Interest::Read, T1));
        assert_eq!(poller.waiters(), 0);
        assert!(!reg.disarm(Interest::Read, T1), "disarmed twice");

        write_byte(&theirs);
        let mut ready = Vec::new();
        assert_eq!(poller.poll(SECOND, &mut ready).unwrap(), 0);
        assert!(ready.is_empty());
        assert_eq!(reg.arm(Interest::Read, T1), Armed::Ready);
    }

    #[test]
    fn an_interrupt_hands_back_the_token_and_keeps_readiness() {
        let poller = Arc::new(Poller::new().unwrap());
        let (ours, theirs) = socketpair();
        let reg = poller.register(ours.as_raw_fd()).unwrap();

        assert_eq!(reg.interrupt(Interest::Read), None, "nobody waits");
        assert_eq!(reg.arm(Interest::Read, T1), Armed::Waiting);
        assert_eq!(reg.interrupt(Interest::Read), Some(T1));
        assert!(!reg.disarm(Interest::Read, T1), "the interrupt took it");
        poller.handled(1);
        assert_eq!(poller.waiters(), 0);

        write_byte(&theirs);
        let mut ready = Vec::new();
        assert_eq!(poller.poll(SECOND, &mut ready).unwrap(), 0);
        assert_eq!(reg.interrupt(Interest::Read), None);
        assert_eq!(
            reg.arm(Interest::Read, T1),
            Armed::Ready,
            "an interrupt leaves readiness for the next arm"
        );
    }

    #[test]
    fn close_hands_back_both_tokens_and_refuses_arms() {
        let poller = Arc::new(Poller::new().unwrap());
        let (ours, _theirs) = socketpair();
        let reg = poller.register(ours.as_raw_fd()).unwrap();

        // Not polled yet, so the write slot is still EMPTY.
        assert_eq!(reg.arm(Interest::Read, T1), Armed::Waiting);
        assert_eq!(reg.arm(Interest::Write, T2), Armed::Waiting);
        assert_eq!(poller.waiters(), 2);
        assert!(!reg.is_closing());

        assert_eq!(reg.close(), [Some(T1), Some(T2)]);
        assert!(reg.is_closing());
        assert_eq!(poller.waiters(), 2);
        poller.handled(2);
        assert_eq!(poller.waiters(), 0);
        assert_eq!(reg.arm(Interest::Read, T1), Armed::Closed);
        assert_eq!(reg.arm(Interest::Write, T2), Armed::Closed);
        assert_eq!(poller.waiters(), 0);
        assert_eq!(reg.close(), [None, None]);

        // The descriptor left the epoll set: no event for it any more.
        let mut ready = Vec::new();
        assert_eq!(poller.poll(NOW, &mut ready).unwrap(), 0);
    }

    #[test]
    fn arm_racing_close_never_strands_a_token() {
        let poller = Arc::new(Poller::new().unwrap());
        let (ours, _theirs) = socketpair();
        for _ in 0..500 {
            let reg = poller.register(ours.as_raw_fd()).unwrap();
            let start = Barrier::new(2);
            let (armed, tokens) = thread::scope(|s| {
                let arming = s.spawn(|| {
                    start.wait();
                    reg.arm(Interest::Read, T1)
                });
                start.wait();
                let tokens = reg.close();
                (arming.join().unwrap(), tokens)
            });
            match armed {
                Armed::Waiting => assert_eq!(tokens[0], Some(T1)),
                Armed::Closed => assert_eq!(tokens[0], None),
                other => panic!("arm on a fresh registration returned {other:?}"),
            }
            poller.handled(tokens.iter().flatten().count());
        }
        assert_eq!(poller.waiters(), 0);
    }

    #[test]
    fn a_hang_up_readies_the_reader() {
        let poller = Arc::new(Poller::new().unwrap());
        let (ours, theirs) = socketpair();
        let reg = poller.register(ours.as_raw_fd()).unwrap();

        assert_eq!(reg.arm(Interest::Read, T1), Armed::Waiting);
        drop(theirs);
        assert_eq!(poll_tokens(&poller, Duration::from_secs(5)), vec![T1]);
        poller.handled(1);
        // The end is there for good: no readiness is consumed, so every
        // later reader hears of it, however many edges ago it came.
        assert_eq!(state(&reg, Interest::Read), HUNG_UP);
        reg.consume_ready(Interest::Read);
        assert_eq!(reg.arm(Interest::Read, T1), Armed::Ready);
        assert_eq!(reg.arm(Interest::Read, T1), Armed::Ready);
        assert_eq!(poller.waiters(), 0);
    }

    #[test]
    fn data_then_hang_up_in_one_poll_keeps_the_hang_up() {
        let poller = Arc::new(Poller::new().unwrap());
        let (ours, theirs) = socketpair();
        let reg = poller.register(ours.as_raw_fd()).unwrap();
        assert_eq!(reg.arm(Interest::Read, T1), Armed::Waiting);
        write_byte(&theirs);
        drop(theirs);
        let mut tokens = poll_tokens(&poller, Duration::from_secs(5));
        // One event or two, the hang-up wins over plain readiness.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while state(&reg, Interest::Read) != HUNG_UP {
            assert!(std::time::Instant::now() < deadline, "no hang-up seen");
            poller
                .poll(Some(Duration::from_millis(10)), &mut tokens)
                .unwrap();
        }
        assert_eq!(tokens, vec![T1]);
        poller.handled(1);
        // A woken reader that reads the byte (a short read) and arms again
        // is told to read again, and finds the end.
        reg.consume_ready(Interest::Read);
        assert_eq!(reg.arm(Interest::Read, T1), Armed::Ready);
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "Registration dropped with parked tokens")]
    fn dropping_with_a_parked_token_is_a_bug() {
        let poller = Arc::new(Poller::new().unwrap());
        let (ours, _theirs) = socketpair();
        let reg = poller.register(ours.as_raw_fd()).unwrap();
        assert_eq!(reg.arm(Interest::Read, T1), Armed::Waiting);
        drop(reg);
    }

    /// A stale event must not wake the desc's next user. In one thread the
    /// only way to get an event past its registration's close is to keep
    /// the kernel's entry alive: close A's fd while a dup keeps its socket
    /// open, so that EPOLL_CTL_DEL fails with EBADF and A's readiness still
    /// arrives, tagged with A's old seq, for the desc that B now holds.
    #[test]
    fn a_stale_event_does_not_wake_the_next_user_of_its_desc() {
        let poller = Arc::new(Poller::new().unwrap());
        // Other tests share the free list and may take A's desc before B;
        // retry until B gets it.
        for _ in 0..100 {
            let (a, a_peer) = socketpair();
            let reg_a = poller.register(a.as_raw_fd()).unwrap();
            let desc_a: *const PollDesc = reg_a.desc;
            let a_alive = a.try_clone().unwrap();
            drop(a);
            drop(reg_a);
            write_byte(&a_peer);
            let mut pending = libc::pollfd {
                fd: poller.epoll_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, no wait.
            assert_eq!(
                unsafe { libc::poll(&mut pending, 1, 0) },
                1,
                "no stale event queued"
            );

            let (b, _b_peer) = socketpair();
            let reg_b = poller.register(b.as_raw_fd()).unwrap();
            if !std::ptr::eq(reg_b.desc, desc_a) {
                drop(a_alive);
                continue;
            }
            assert_eq!(reg_b.arm(Interest::Read, T1), Armed::Waiting);
            let mut ready = Vec::new();
            assert_eq!(
                poller.poll(NOW, &mut ready).unwrap(),
                0,
                "woken by A's event"
            );
            assert!(ready.is_empty());
            assert_eq!(state(&reg_b, Interest::Read), T1);
            assert!(reg_b.disarm(Interest::Read, T1));
            return;
        }
        panic!("B never reused A's desc");
    }

    /// Registrations opened and closed from several threads at once, with
    /// arms, while another thread polls: every token armed comes back
    /// exactly once, from close or from poll.
    #[test]
    fn many_threads_register_arm_and_close_at_once() {
        const THREADS: usize = 4;
        const ROUNDS: usize = 1000;
        let poller = Arc::new(Poller::new().unwrap());
        let stop = AtomicBool::new(false);
        let (parked, handed_back) = thread::scope(|s| {
            let polling = s.spawn(|| {
                let mut ready = Vec::new();
                while !stop.load(SeqCst) {
                    poller.poll(NOW, &mut ready).unwrap();
                }
                ready
            });
            let workers: Vec<_> = (0..THREADS)
                .map(|t| {
                    let poller = &poller;
                    s.spawn(move || {
                        let (ours, _theirs) = socketpair();
                        let (mut parked, mut handed_back) = (Vec::new(), Vec::new());
                        for round in 0..ROUNDS {
                            let reg = poller.register(ours.as_raw_fd()).unwrap();
                            let base = (t * ROUNDS + round + 1) * 16;
                            for (interest, token) in
                                [(Interest::Read, base), (Interest::Write, base + 8)]
                            {
                                match reg.arm(interest, token) {
                                    Armed::Waiting => parked.push(token),
                                    Armed::Ready => {}
                                    other => panic!("arm returned {other:?}"),
                                }
                            }
                            handed_back.extend(reg.close().into_iter().flatten());
                        }
                        (parked, handed_back)
                    })
                })
                .collect();
            let (mut parked, mut handed_back) = (Vec::new(), Vec::new());
            for worker in workers {
                let (p, h) = worker.join().unwrap();
                parked.extend(p);
                handed_back.extend(h);
            }
            stop.store(true, SeqCst);
            handed_back.extend(polling.join().unwrap());
            (parked, handed_back)
        });
        // Reads never become ready (nothing is written), so each read token parks.
        assert!(parked.len() >= THREADS * ROUNDS);
        let unique: HashSet<usize> = handed_back.iter().copied().collect();
        assert_eq!(unique.len(), handed_back.len(), "a token came back twice");
        assert_eq!(unique, parked.into_iter().collect::<HashSet<_>>());
        assert_eq!(poller.waiters(), handed_back.len());
        poller.handled(handed_back.len());
        assert_eq!(poller.waiters(), 0);
    }
}
