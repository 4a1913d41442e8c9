//! Channels with Go's semantics: `grt::chan::bounded(0)` is Go's unbuffered
//! `chan T`, `bounded(n)` its `make(chan T, n)`, plus `unbounded()`.
//!
//! Go's `hchan` (chan.go) is a lock, a ring buffer, and two queues of
//! parked goroutines (`recvq`, `sendq`) represented by `sudog`s. Ours is
//! the same. The two rules that make it fast and correct, from `chansend`
//! and `chanrecv`:
//!
//! 1. **Direct hand-off.** A sender that finds a receiver already parked
//!    gives the value straight to it (into its sudog's slot) and readies
//!    it; the buffer is not touched. A receiver that finds a parked sender
//!    on a full buffer takes the buffer's head and moves the sender's value
//!    into the tail, so FIFO order holds.
//! 2. **Decide and enqueue under one lock.** "Nothing ready, so park" is
//!    checked and the sudog enqueued while holding the channel's lock, so a
//!    counterpart arriving a moment later either sees the sudog or was
//!    seen by us. The park itself happens after unlocking; the park token
//!    (park.rs) makes a wake-up that arrives before the park count.
//!
//! Closing (Go's `closechan`) marks the channel and wakes every waiter:
//! receivers get `Err(RecvError)` once the buffer is drained, senders get
//! their value back in `Err(SendError(v))` (Go panics instead). Dropping the
//! last `Sender` closes the channel; dropping the last `Receiver` makes
//! every send fail, since nobody could ever receive.
//!
//! Every blocking operation works from a task (parking the task) and from a
//! plain OS thread (blocking the thread), so tasks can talk to code outside
//! the runtime.
//!
//! Lock order: a channel's lock is never held while taking another lock
//! except a sudog's slot (always innermost), and never while waking anyone.

mod error;
mod select;
mod sudog;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, MutexGuard};

pub use error::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
#[doc(hidden)]
pub use select::{select_run, RecvCase, SelectCase, SelectMode, SendCase};
use sudog::{Selector, Sudog};

use crate::preempt::checkpoint;
use crate::task::WaitReason;
use crate::time;

/// A channel with room for `cap` values; `cap == 0` is a rendezvous
/// channel, where every send waits for its receive (Go's unbuffered chan).
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    new_channel(cap, true)
}

/// A channel whose sends never block.
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    new_channel(usize::MAX, true)
}

/// A one-slot channel that stays open when its sender goes away: a timer's
/// channel, which in Go is never closed (so a second receive waits for
/// ever instead of reporting "closed" and firing a `select` arm again).
pub(crate) fn timer_channel<T>() -> (Sender<T>, Receiver<T>) {
    new_channel(1, false)
}

fn new_channel<T>(cap: usize, close_with_last_sender: bool) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan {
        state: Mutex::new(State {
            // Room up front for small bounded channels only.
            buf: VecDeque::with_capacity(if cap <= 1024 { cap } else { 0 }),
            cap,
            closed: false,
            recvq: VecDeque::new(),
            sendq: VecDeque::new(),
            senders: 1,
            receivers: 1,
            close_with_last_sender,
        }),
    });
    (
        Sender {
            chan: Arc::clone(&chan),
        },
        Receiver { chan },
    )
}

/// Go's `hchan`.
pub(crate) struct Chan<T> {
    state: Mutex<State<T>>,
}

pub(crate) struct State<T> {
    /// Buffered values, oldest first.
    buf: VecDeque<T>,
    /// Capacity: 0 for rendezvous, `usize::MAX` for unbounded.
    cap: usize,
    /// Closed by `close` or by the last sender's drop.
    closed: bool,
    /// Parked receivers, oldest first (Go's `recvq`).
    recvq: VecDeque<Arc<Sudog<T>>>,
    /// Parked senders, oldest first, each holding its value (Go's `sendq`).
    sendq: VecDeque<Arc<Sudog<T>>>,
    /// Live `Sender` handles.
    senders: usize,
    /// Live `Receiver` handles.
    receivers: usize,
    /// Whether dropping the last `Sender` closes the channel.
    close_with_last_sender: bool,
}

impl<T> Chan<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock()
    }

    fn is_closed(&self) -> bool {
        self.lock().closed
    }

    fn len(&self) -> usize {
        self.lock().buf.len()
    }

    fn capacity(&self) -> Option<usize> {
        let cap = self.lock().cap;
        (cap != usize::MAX).then_some(cap)
    }
}

/// Pops waiters until one can be claimed (Go's `dequeue`, which skips
/// sudogs of selects that another case already won), and runs `exchange`
/// on the winner's slot. The slot is locked *before* the claim and until
/// the exchange is done: the owner may see the claim at once (it checks
/// before parking, not only once woken) and then locks the slot to read
/// it, so it must find the exchange complete. Returns whom to wake.
fn claim_first<T, R>(
    queue: &mut VecDeque<Arc<Sudog<T>>>,
    exchange: impl FnOnce(&mut Option<T>) -> R,
) -> Option<(Arc<Selector>, R)> {
    while let Some(sudog) = queue.pop_front() {
        let mut slot = sudog.slot.lock();
        if sudog.selector.try_claim(sudog.case) {
            let result = exchange(&mut slot);
            return Some((Arc::clone(&sudog.selector), result));
        }
    }
    None
}

impl<T> State<T> {
    /// Go's `chansend` without the blocking: on success, returns the waiter
    /// to wake (after the lock is released).
    fn try_send(&mut self, value: T) -> Result<Option<Arc<Selector>>, TrySendError<T>> {
        if self.closed || self.receivers == 0 {
            return Err(TrySendError::Closed(value));
        }
        let mut value = Some(value);
        if let Some((receiver, ())) = claim_first(&mut self.recvq, |slot| *slot = value.take()) {
            return Ok(Some(receiver));
        }
        let value = value.expect("no receiver took it");
        if self.buf.len() < self.cap {
            self.buf.push_back(value);
            return Ok(None);
        }
        Err(TrySendError::Full(value))
    }

    /// Go's `chanrecv` without the blocking: the value, and the waiter to
    /// wake (after the lock is released).
    fn try_recv(&mut self) -> Result<(T, Option<Arc<Selector>>), TryRecvError> {
        if let Some(value) = self.buf.pop_front() {
            // A sender parked on the full buffer: its value joins the tail.
            let woken = claim_first(&mut self.sendq, take_parked_value).map(|(sender, queued)| {
                self.buf.push_back(queued);
                sender
            });
            return Ok((value, woken));
        }
        if let Some((sender, value)) = claim_first(&mut self.sendq, take_parked_value) {
            return Ok((value, Some(sender)));
        }
        if self.closed {
            return Err(TryRecvError::Closed);
        }
        Err(TryRecvError::Empty)
    }

    /// Would a send by select `me` complete now (possibly with an error)?
    /// Waiters counted here may turn out to belong to finished selects (the
    /// caller retries); `me`'s own receive sudogs do not count, since a
    /// select never completes with itself (in Go, by never checking again
    /// once it has started enqueueing).
    fn send_ready(&self, me: &Arc<Selector>) -> bool {
        self.closed
            || self.receivers == 0
            || self.buf.len() < self.cap
            || self.recvq.iter().any(|r| !Arc::ptr_eq(&r.selector, me))
    }

    /// Would a receive by select `me` complete now (possibly with an error)?
    fn recv_ready(&self, me: &Arc<Selector>) -> bool {
        !self.buf.is_empty()
            || self.closed
            || self.sendq.iter().any(|s| !Arc::ptr_eq(&s.selector, me))
    }

    /// Claims every waiter in `queue`, for closing; returns whom to wake.
    fn claim_all(queue: &mut VecDeque<Arc<Sudog<T>>>) -> Vec<Arc<Selector>> {
        std::iter::from_fn(|| claim_first(queue, |_| ()))
            .map(|(selector, ())| selector)
            .collect()
    }
}

/// The value a parked sender's sudog holds until a receiver claims it.
fn take_parked_value<T>(slot: &mut Option<T>) -> T {
    slot.take().expect("a parked sender holds its value")
}

fn wake(selector: Option<Arc<Selector>>) {
    if let Some(selector) = selector {
        selector.wake();
    }
}

/// The sending half; clone it for more senders.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half; clone it for more receivers (each value goes to one).
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting for room (or, unbuffered, for a receiver).
    /// Fails, returning the value, if the channel is closed or every
    /// receiver is gone.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.send_until(value, None)
            .map_err(|e| SendError(e.into_inner()))
    }

    /// Like [`send`](Self::send), giving up after `timeout`.
    pub fn send_timeout(&self, value: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.send_until(value, Some(time::deadline_after(timeout)))
    }

    fn send_until(&self, value: T, deadline: Option<Instant>) -> Result<(), SendTimeoutError<T>> {
        checkpoint();
        let mut state = self.chan.lock();
        let value = match state.try_send(value) {
            Ok(woken) => {
                drop(state);
                wake(woken);
                return Ok(());
            }
            Err(TrySendError::Closed(value)) => return Err(SendTimeoutError::Closed(value)),
            Err(TrySendError::Full(value)) => value,
        };
        let selector = Selector::for_current();
        let sudog = Sudog::new(&selector, 0, Some(value));
        state.sendq.push_back(Arc::clone(&sudog));
        drop(state);
        let completed = match deadline {
            None => Some(selector.wait(WaitReason::ChanSend)),
            Some(deadline) => selector.wait_until(WaitReason::ChanSend, deadline),
        };
        if completed.is_none() {
            // The timeout won the claim, so nobody touched our sudog: take
            // it out of the queue, with the value.
            self.chan.lock().sendq.retain(|s| !Arc::ptr_eq(s, &sudog));
            let value = sudog
                .slot
                .lock()
                .take()
                .expect("an unclaimed sender keeps its value");
            return Err(SendTimeoutError::Timeout(value));
        }
        // Taken by a receiver, or handed back by close.
        let left = sudog.slot.lock().take();
        match left {
            None => Ok(()),
            Some(value) => Err(SendTimeoutError::Closed(value)),
        }
    }

    /// Sends without waiting.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let woken = self.chan.lock().try_send(value)?;
        wake(woken);
        Ok(())
    }

    /// Closes the channel (Go's `close`): receivers drain what is buffered,
    /// then get `Err`; every send fails from now on. Returns whether this
    /// call closed it (false if it already was).
    pub fn close(&self) -> bool {
        close(&self.chan)
    }

    /// Whether the channel has been closed.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// Values buffered now.
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The capacity given at creation (`None` for unbounded).
    pub fn capacity(&self) -> Option<usize> {
        self.chan.capacity()
    }
}

impl<T> Receiver<T> {
    /// Receives the oldest value, waiting for one. `Err` once the channel is
    /// closed and drained.
    pub fn recv(&self) -> Result<T, RecvError> {
        self.recv_until(None).map_err(|_| RecvError)
    }

    /// Like [`recv`](Self::recv), giving up after `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_until(Some(time::deadline_after(timeout)))
    }

    fn recv_until(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        checkpoint();
        let mut state = self.chan.lock();
        match state.try_recv() {
            Ok((value, woken)) => {
                drop(state);
                wake(woken);
                return Ok(value);
            }
            Err(TryRecvError::Closed) => return Err(RecvTimeoutError::Closed),
            Err(TryRecvError::Empty) => {}
        }
        let selector = Selector::for_current();
        let sudog = Sudog::new(&selector, 0, None);
        state.recvq.push_back(Arc::clone(&sudog));
        drop(state);
        let completed = match deadline {
            None => Some(selector.wait(WaitReason::ChanRecv)),
            Some(deadline) => selector.wait_until(WaitReason::ChanRecv, deadline),
        };
        if completed.is_none() {
            self.chan.lock().recvq.retain(|s| !Arc::ptr_eq(s, &sudog));
            return Err(RecvTimeoutError::Timeout);
        }
        // Delivered by a sender, or left empty by close.
        let delivered = sudog.slot.lock().take();
        delivered.ok_or(RecvTimeoutError::Closed)
    }

    /// Receives without waiting.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let (value, woken) = self.chan.lock().try_recv()?;
        wake(woken);
        Ok(value)
    }

    /// A blocking iterator over received values, ending when the channel is
    /// closed and drained (Go's `for v := range ch`).
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// Whether the channel has been closed (values may still be buffered).
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// Values buffered now.
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The capacity given at creation (`None` for unbounded).
    pub fn capacity(&self) -> Option<usize> {
        self.chan.capacity()
    }
}

/// Go's `closechan`: mark closed, wake every parked receiver (they find
/// their slot empty: closed) and sender (they find their value still
/// there: handed back).
fn close<T>(chan: &Chan<T>) -> bool {
    let woken = {
        let mut state = chan.lock();
        if state.closed {
            return false;
        }
        state.closed = true;
        let mut woken = State::claim_all(&mut state.recvq);
        woken.extend(State::claim_all(&mut state.sendq));
        woken
    };
    for selector in woken {
        selector.wake();
    }
    true
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.chan.lock().senders += 1;
        Sender {
            chan: Arc::clone(&self.chan),
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Receiver<T> {
        self.chan.lock().receivers += 1;
        Receiver {
            chan: Arc::clone(&self.chan),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let last = {
            let mut state = self.chan.lock();
            state.senders -= 1;
            state.senders == 0 && state.close_with_last_sender
        };
        if last {
            close(&self.chan);
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let woken = {
            let mut state = self.chan.lock();
            state.receivers -= 1;
            if state.receivers > 0 {
                return;
            }
            // Nobody can receive any more: parked senders get their values back.
            State::claim_all(&mut state.sendq)
        };
        for selector in woken {
            selector.wake();
        }
    }
}

/// Iterator returned by [`Receiver::iter`].
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sender { .. }")
    }
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Receiver { .. }")
    }
}
