//! `select!`: wait on several channel operations, complete exactly one.
//!
//! Go's `selectgo` (select.go) works in three passes: (1) in a random
//! order, look for a case that can proceed now; (2) if none, enqueue a
//! sudog on every channel and park; (3) once woken, dequeue the sudogs of
//! the cases that lost. To make pass 2 atomic it first locks *every*
//! channel involved, in address order (`lockorder`) so that two selects
//! over the same channels cannot deadlock, and unlocks them only once the
//! goroutine is parked.
//!
//! We keep Go's passes and its random poll order, but lock one channel at a
//! time, as crossbeam-channel does: a select's sudogs all share one
//! [`Selector`], and a case completes only by winning its claim, so there is
//! no need to freeze all channels at once. The price is one extra rule in
//! pass 2: if, while registering, we find a case that has become ready, we
//! withdraw (`Selector::try_abort`), take our registrations back and start
//! over from pass 1 — unless a counterpart claimed us first, in which case
//! its case is our result. Each channel lock is held only briefly and never
//! together with another, so there is no lock order to keep.
//!
//! Fairness: pass 1 visits the cases in a fresh uniformly random order
//! (Fisher-Yates, as Go's `pollorder`), so when several are ready each is
//! chosen with equal probability.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Instant;

use super::sudog::{Selector, Sudog};
use super::{wake, Receiver, RecvError, SendError, Sender, TryRecvError, TrySendError};
use crate::task::WaitReason;

/// One arm of a `select!`, as the machinery in [`select_run`] sees it.
/// Public only for the macro's expansion.
#[doc(hidden)]
pub trait SelectCase {
    /// Pass 1: completes the operation if it can proceed now.
    fn try_now(&mut self) -> bool;
    /// Pass 2: enqueues a sudog for case `index` of `selector`, unless the
    /// channel is ready now, in which case it returns false and enqueues
    /// nothing.
    fn register(&mut self, selector: &Arc<Selector>, index: usize) -> bool;
    /// Pass 3: removes this case's sudog if it is still queued.
    fn unregister(&mut self);
    /// This case won while we were parked: collect its outcome.
    fn finish(&mut self);
}

/// A `recv(rx)` arm.
#[doc(hidden)]
pub struct RecvCase<'a, T> {
    rx: &'a Receiver<T>,
    sudog: Option<Arc<Sudog<T>>>,
    outcome: Option<Result<T, RecvError>>,
}

impl<'a, T> RecvCase<'a, T> {
    pub fn new(rx: &'a Receiver<T>) -> RecvCase<'a, T> {
        RecvCase {
            rx,
            sudog: None,
            outcome: None,
        }
    }

    /// The result, if this case was the one selected.
    pub fn take_outcome(&mut self) -> Option<Result<T, RecvError>> {
        self.outcome.take()
    }
}

impl<T> SelectCase for RecvCase<'_, T> {
    fn try_now(&mut self) -> bool {
        let attempt = self.rx.chan.lock().try_recv();
        match attempt {
            Ok((value, woken)) => {
                wake(woken);
                self.outcome = Some(Ok(value));
            }
            Err(TryRecvError::Closed) => self.outcome = Some(Err(RecvError)),
            Err(TryRecvError::Empty) => return false,
        }
        true
    }

    fn register(&mut self, selector: &Arc<Selector>, index: usize) -> bool {
        let mut state = self.rx.chan.lock();
        if state.recv_ready(selector) {
            return false;
        }
        let sudog = Sudog::new(selector, index, None);
        state.recvq.push_back(Arc::clone(&sudog));
        self.sudog = Some(sudog);
        true
    }

    fn unregister(&mut self) {
        if let Some(sudog) = self.sudog.take() {
            self.rx
                .chan
                .lock()
                .recvq
                .retain(|s| !Arc::ptr_eq(s, &sudog));
        }
    }

    fn finish(&mut self) {
        let sudog = self.sudog.take().expect("a selected case was registered");
        self.outcome = Some(sudog.slot.lock().take().ok_or(RecvError));
    }
}

/// A `send(tx, value)` arm.
#[doc(hidden)]
pub struct SendCase<'a, T> {
    tx: &'a Sender<T>,
    /// The value, while it is not queued or sent.
    value: Option<T>,
    sudog: Option<Arc<Sudog<T>>>,
    outcome: Option<Result<(), SendError<T>>>,
}

impl<'a, T> SendCase<'a, T> {
    pub fn new(tx: &'a Sender<T>, value: T) -> SendCase<'a, T> {
        SendCase {
            tx,
            value: Some(value),
            sudog: None,
            outcome: None,
        }
    }

    /// The result, if this case was the one selected.
    pub fn take_outcome(&mut self) -> Option<Result<(), SendError<T>>> {
        self.outcome.take()
    }
}

impl<T> SelectCase for SendCase<'_, T> {
    fn try_now(&mut self) -> bool {
        let value = self
            .value
            .take()
            .expect("a send case holds its value until it runs");
        let attempt = self.tx.chan.lock().try_send(value);
        match attempt {
            Ok(woken) => {
                wake(woken);
                self.outcome = Some(Ok(()));
            }
            Err(TrySendError::Closed(value)) => self.outcome = Some(Err(SendError(value))),
            Err(TrySendError::Full(value)) => {
                self.value = Some(value);
                return false;
            }
        }
        true
    }

    fn register(&mut self, selector: &Arc<Selector>, index: usize) -> bool {
        let mut state = self.tx.chan.lock();
        if state.send_ready(selector) {
            return false;
        }
        let sudog = Sudog::new(selector, index, self.value.take());
        state.sendq.push_back(Arc::clone(&sudog));
        self.sudog = Some(sudog);
        true
    }

    fn unregister(&mut self) {
        if let Some(sudog) = self.sudog.take() {
            self.tx
                .chan
                .lock()
                .sendq
                .retain(|s| !Arc::ptr_eq(s, &sudog));
            // Not taken by anyone: the value is ours again (for a retry).
            self.value = sudog.slot.lock().take();
        }
    }

    fn finish(&mut self) {
        let sudog = self.sudog.take().expect("a selected case was registered");
        self.outcome = Some(match sudog.slot.lock().take() {
            None => Ok(()),
            Some(value) => Err(SendError(value)),
        });
    }
}

thread_local! {
    /// xorshift state for poll orders; any thread may select.
    static RNG: Cell<u64> = Cell::new({
        let seed = &RNG as *const _ as u64 ^ std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.as_nanos() as u64);
        seed | 1
    });
}

fn next_random() -> u64 {
    RNG.with(|rng| {
        let mut x = rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        rng.set(x);
        x
    })
}

/// A uniformly random permutation of `0..n` (Go's `pollorder`).
fn poll_order(n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (next_random() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

/// How long a select may wait.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub enum SelectMode {
    /// Until a case completes (no `default` arm).
    Block,
    /// Not at all (a `default` arm).
    NonBlocking,
    /// Until a case completes or the deadline passes (`default(timeout)`).
    Until(Instant),
}

/// Go's `selectgo`: completes exactly one of `cases` (leaving its outcome
/// in it), or none if `mode` lets it give up. With no cases, `Block` blocks
/// forever, like Go's `select {}`.
#[doc(hidden)]
pub fn select_run(cases: &mut [&mut dyn SelectCase], mode: SelectMode) {
    crate::preempt::checkpoint();
    loop {
        // Pass 1: anything ready, in random order?
        let order = poll_order(cases.len());
        if order.iter().any(|&i| cases[i].try_now()) {
            return;
        }
        if let SelectMode::NonBlocking = mode {
            return;
        }
        // Pass 2: register everywhere, unless something became ready.
        let selector = Selector::for_current();
        let mut registered = Vec::with_capacity(order.len());
        let mut withdrew = false;
        for &i in &order {
            if !cases[i].register(&selector, i) {
                withdrew = selector.try_abort();
                break;
            }
            registered.push(i);
        }
        if withdrew {
            for &i in &registered {
                cases[i].unregister();
            }
            continue;
        }
        // Pass 3: wait for a counterpart to complete one case (or for the
        // deadline); take the others back.
        let chosen = match mode {
            SelectMode::Until(deadline) => selector.wait_until(WaitReason::Select, deadline),
            _ => Some(selector.wait(WaitReason::Select)),
        };
        for &i in registered.iter().filter(|&&i| Some(i) != chosen) {
            cases[i].unregister();
        }
        if let Some(chosen) = chosen {
            cases[chosen].finish();
        }
        return;
    }
}

/// Waits on several channel operations and runs the arm of the one that
/// completes, like Go's `select`. The syntax follows crossbeam-channel:
///
/// ```
/// # grt::run(|| {
/// let (tx1, rx1) = grt::chan::bounded::<i32>(1);
/// let (tx2, rx2) = grt::chan::bounded::<&str>(1);
/// tx2.send("hello").unwrap();
/// grt::select! {
///     recv(rx1) -> v => println!("rx1: {v:?}"),
///     recv(rx2) -> v => assert_eq!(v, Ok("hello")),
///     send(tx1, 5) -> res => res.unwrap(),
/// }
/// # });
/// ```
///
/// - `recv(rx) -> pat => body`: `pat` binds `Result<T, RecvError>` (`Err`
///   once `rx` is closed and drained).
/// - `send(tx, value) -> pat => body`: `pat` binds `Result<(), SendError<T>>`;
///   `value` is evaluated once, before selecting, as in Go.
/// - `default => body`: runs if no other arm can proceed at once.
/// - `default(timeout) => body`: runs if no other arm completes within
///   `timeout` (a `Duration`), like Go's `case <-time.After(timeout)`.
///
/// When several arms are ready, one is chosen uniformly at random. Without
/// `default`, the calling task parks (a plain thread blocks) until an arm
/// completes; exactly one does.
#[macro_export]
macro_rules! select {
    ($($arms:tt)*) => {
        $crate::__select_parse!([] [] $($arms)*)
    };
}

/// Collects the arms of `select!` into a uniform list.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_parse {
    // recv arms
    ([$($cases:tt)*] [$($default:tt)*] recv($rx:expr) -> $pat:pat => $body:block $(,)? $($rest:tt)*) => {
        $crate::__select_parse!([$($cases)* (recv ($rx) $pat => $body)] [$($default)*] $($rest)*)
    };
    ([$($cases:tt)*] [$($default:tt)*] recv($rx:expr) -> $pat:pat => $body:expr, $($rest:tt)*) => {
        $crate::__select_parse!([$($cases)* (recv ($rx) $pat => $body)] [$($default)*] $($rest)*)
    };
    ([$($cases:tt)*] [$($default:tt)*] recv($rx:expr) -> $pat:pat => $body:expr) => {
        $crate::__select_parse!([$($cases)* (recv ($rx) $pat => $body)] [$($default)*])
    };
    // send arms
    ([$($cases:tt)*] [$($default:tt)*] send($tx:expr, $value:expr) -> $pat:pat => $body:block $(,)? $($rest:tt)*) => {
        $crate::__select_parse!([$($cases)* (send ($tx, $value) $pat => $body)] [$($default)*] $($rest)*)
    };
    ([$($cases:tt)*] [$($default:tt)*] send($tx:expr, $value:expr) -> $pat:pat => $body:expr, $($rest:tt)*) => {
        $crate::__select_parse!([$($cases)* (send ($tx, $value) $pat => $body)] [$($default)*] $($rest)*)
    };
    ([$($cases:tt)*] [$($default:tt)*] send($tx:expr, $value:expr) -> $pat:pat => $body:expr) => {
        $crate::__select_parse!([$($cases)* (send ($tx, $value) $pat => $body)] [$($default)*])
    };
    // default arm
    ([$($cases:tt)*] [] default => $body:block $(,)? $($rest:tt)*) => {
        $crate::__select_parse!([$($cases)*] [(NonBlocking) $body] $($rest)*)
    };
    ([$($cases:tt)*] [] default => $body:expr, $($rest:tt)*) => {
        $crate::__select_parse!([$($cases)*] [(NonBlocking) $body] $($rest)*)
    };
    ([$($cases:tt)*] [] default => $body:expr) => {
        $crate::__select_parse!([$($cases)*] [(NonBlocking) $body])
    };
    // timeout arm
    ([$($cases:tt)*] [] default($timeout:expr) => $body:block $(,)? $($rest:tt)*) => {
        $crate::__select_parse!([$($cases)*] [(Timeout $timeout) $body] $($rest)*)
    };
    ([$($cases:tt)*] [] default($timeout:expr) => $body:expr, $($rest:tt)*) => {
        $crate::__select_parse!([$($cases)*] [(Timeout $timeout) $body] $($rest)*)
    };
    ([$($cases:tt)*] [] default($timeout:expr) => $body:expr) => {
        $crate::__select_parse!([$($cases)*] [(Timeout $timeout) $body])
    };
    // done
    ([$($cases:tt)*] [$($default:tt)*]) => {
        $crate::__select_bind!([] [$($cases)*] [$($default)*])
    };
}

/// Binds each arm's case object to a local of its own (each recursion
/// level's `__case` is a distinct identifier, by macro hygiene), then runs
/// the selection and dispatches to the arm whose case completed.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_bind {
    ([$($bound:tt)*] [(recv ($rx:expr) $pat:pat => $body:expr) $($rest:tt)*] [$($default:tt)*]) => {{
        let mut __case = $crate::chan::RecvCase::new(&$rx);
        $crate::__select_bind!([$($bound)* (__case $pat => $body)] [$($rest)*] [$($default)*])
    }};
    ([$($bound:tt)*] [(send ($tx:expr, $value:expr) $pat:pat => $body:expr) $($rest:tt)*] [$($default:tt)*]) => {{
        let mut __case = $crate::chan::SendCase::new(&$tx, $value);
        $crate::__select_bind!([$($bound)* (__case $pat => $body)] [$($rest)*] [$($default)*])
    }};
    ([$(($case:ident $pat:pat => $body:expr))*] [] []) => {{
        $crate::chan::select_run(
            &mut [$(&mut $case as &mut dyn $crate::chan::SelectCase),*],
            $crate::chan::SelectMode::Block,
        );
        $( if let Some(__outcome) = $case.take_outcome() { let $pat = __outcome; $body } else )*
        { unreachable!("select completed no case") }
    }};
    ([$(($case:ident $pat:pat => $body:expr))*] [] [(NonBlocking) $default:expr]) => {{
        $crate::chan::select_run(
            &mut [$(&mut $case as &mut dyn $crate::chan::SelectCase),*],
            $crate::chan::SelectMode::NonBlocking,
        );
        $( if let Some(__outcome) = $case.take_outcome() { let $pat = __outcome; $body } else )*
        { $default }
    }};
    ([$(($case:ident $pat:pat => $body:expr))*] [] [(Timeout $timeout:expr) $default:expr]) => {{
        let __deadline = $crate::time::deadline_after($timeout);
        $crate::chan::select_run(
            &mut [$(&mut $case as &mut dyn $crate::chan::SelectCase),*],
            $crate::chan::SelectMode::Until(__deadline),
        );
        $( if let Some(__outcome) = $case.take_outcome() { let $pat = __outcome; $body } else )*
        { $default }
    }};
}
