//! Which connections are idle, so that a graceful shutdown can close
//! them without cutting a request short (Go's `Server.activeConn` with
//! each `conn`'s `StateIdle`/`StateActive`, and `closeIdleConns`).
//!
//! The problem: when the server stops, a keep-alive connection between
//! two requests is a task parked in a read, waiting for a head that may
//! never come (for up to the keep-alive timeout, 75 s). Stopping must wake
//! it; but a connection whose next request has begun must be left to
//! finish, and the two can change places at any moment.
//!
//! Designs we did not take:
//! - **A read deadline set from outside.** Go's `SetReadDeadline` wakes a
//!   goroutine blocked in `Read`; grt's deadline applies to waits that
//!   start after it is set, not to one already parked, so it cannot wake
//!   the idle task.
//! - **Shutting down every connection and letting the active ones fail.**
//!   Loses the requests in flight, which is what graceful means not to.
//! - **A `dup` of each socket kept for the shutdown.** Safe Rust and
//!   simple, but it doubles the descriptors a busy gateway holds.
//!
//! What we do: each connection has a [`Slot`] in the server's [`Tracker`]:
//! its descriptor and an atomic state, `IDLE`, `ACTIVE` or `CLOSING`.
//! 1. Before waiting for a head, the connection task stores `IDLE`, then
//!    reads the server's `stopping` flag; set, it closes at once.
//! 2. When the first byte of a head has come, it moves `IDLE → ACTIVE` by
//!    compare-and-swap; if that fails the slot is `CLOSING` and the task
//!    closes without serving (the client sees the connection close
//!    before any answer, and retries, as for any keep-alive close).
//! 3. Shutdown sets `stopping`, then moves every `IDLE` slot to `CLOSING`
//!    by compare-and-swap and shuts the read half of its socket down,
//!    which wakes its parked read with end-of-file.
//!
//! Steps 1 and 3 are a store then a load on each side, all `SeqCst`: one
//! side at least sees the other's store, so no connection can go back to
//! waiting after shutdown has passed it by. Step 2's swap decides between
//! a request that has begun and a shutdown closing the connection: one of
//! them wins, never both.
//!
//! Invariant that makes the raw descriptor safe to use: a slot is in the
//! tracker only while its connection's socket is open. The task removes
//! its slot (under the tracker's lock) before the socket can close: the
//! [`Tracked`] guard is declared after the connection, so it drops first,
//! and [`Tracked::hijack`] removes it before the socket is handed to an
//! upgrade. Shutdown touches descriptors only under that same lock.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use grt::chan::Sender;
use grt::net::TcpStream;

use super::OpenGuard;

/// Waiting for the next head (or the first one).
const IDLE: u8 = 0;
/// Reading or serving a request.
const ACTIVE: u8 = 1;
/// Shutdown has closed it, or is closing it.
const CLOSING: u8 = 2;

/// One connection's entry (module doc).
struct Slot {
    /// The connection's socket; open while the slot is in the tracker.
    fd: RawFd,
    /// `IDLE`, `ACTIVE` or `CLOSING`.
    state: AtomicU8,
}

/// The connections of one server (module doc).
#[derive(Default)]
pub(crate) struct Tracker {
    /// By connection number. A `std` lock: held for a map operation or a
    /// `shutdown(2)` per entry, never across a park.
    slots: Mutex<HashMap<u64, Arc<Slot>>>,
    /// Numbers the connections.
    next: AtomicU64,
    /// Connections closed between requests because the server stops: by
    /// [`Tracker::close_idle`], or by themselves on finding `stopping` set
    /// as they went idle.
    idle_closed: AtomicUsize,
}

impl Tracker {
    /// Enters the connection on `stream`, `IDLE` (a new connection waits
    /// for its first head), and counts it in `open` until it ends.
    /// `alive` is dropped when the connection ends or is hijacked, after
    /// `open` is decremented: the server's drain waits for every such
    /// sender, and finds the count at zero.
    pub fn track<'t>(
        &'t self,
        stream: &TcpStream,
        open: &'t AtomicUsize,
        alive: Sender<()>,
    ) -> Tracked<'t> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot {
            fd: stream.as_raw_fd(),
            state: AtomicU8::new(IDLE),
        });
        self.lock().insert(id, Arc::clone(&slot));
        Tracked {
            tracker: self,
            id,
            slot,
            listed: true,
            _open: OpenGuard::new(open),
            alive: Some(alive),
        }
    }

    /// Step 3 of the module doc: closes every idle connection. `stopping`
    /// must already be set. Returns how many were closed.
    pub fn close_idle(&self) -> usize {
        let slots = self.lock();
        let mut closed = 0;
        for slot in slots.values() {
            if slot
                .state
                .compare_exchange(IDLE, CLOSING, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                shutdown(slot.fd, libc::SHUT_RD);
                closed += 1;
            }
        }
        self.idle_closed.fetch_add(closed, Ordering::Relaxed);
        closed
    }

    /// Connections closed between requests by the shutdown so far.
    pub fn idle_closed(&self) -> usize {
        self.idle_closed.load(Ordering::Relaxed)
    }

    /// Shuts every connection down, both ways, whatever it is doing: the
    /// end of a drain that ran out of time. Returns how many.
    pub fn close_all(&self) -> usize {
        let slots = self.lock();
        for slot in slots.values() {
            slot.state.store(CLOSING, Ordering::SeqCst);
            shutdown(slot.fd, libc::SHUT_RDWR);
        }
        slots.len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<Slot>>> {
        // Nothing panics while holding it; a poisoned map is still whole.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Shuts down the socket `fd`, ignoring errors (it may already be shut).
fn shutdown(fd: RawFd, how: libc::c_int) {
    // SAFETY: `shutdown(2)` touches no memory of ours. The caller holds
    // the tracker's lock and `fd` belongs to a slot in it, so the socket
    // is still open (module doc, the invariant): the call cannot reach a
    // descriptor that was closed and reused for something else.
    unsafe {
        libc::shutdown(fd, how);
    }
}

/// A connection's membership in its server's [`Tracker`], for as long as
/// it lives (module doc).
pub(crate) struct Tracked<'t> {
    tracker: &'t Tracker,
    id: u64,
    slot: Arc<Slot>,
    /// Still in the tracker (not hijacked).
    listed: bool,
    /// Counts the connection open; dropped before `alive` (fields drop in
    /// declaration order).
    _open: OpenGuard<'t>,
    /// This connection's share in the server's drain.
    alive: Option<Sender<()>>,
}

impl Tracked<'_> {
    /// Step 1: the connection is about to wait for a head. False if the
    /// server is stopping and the connection should close now.
    pub fn idle(&self, stopping: &AtomicBool) -> bool {
        self.slot.state.store(IDLE, Ordering::SeqCst);
        if stopping.load(Ordering::SeqCst) {
            self.tracker.idle_closed.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Step 2: a head has begun. False if shutdown closed the connection
    /// first.
    pub fn activate(&self) -> bool {
        match self
            .slot
            .state
            .compare_exchange(IDLE, ACTIVE, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => true,
            Err(state) => state == ACTIVE,
        }
    }

    /// The socket is being handed to an upgrade (a WebSocket tunnel):
    /// leave the tracker, and the drain, before it goes. Like Go's
    /// hijacked connections, a tunnel is neither waited for nor closed by
    /// a graceful shutdown; the process's exit ends it.
    pub fn hijack(&mut self) {
        self.unlist();
        self.alive = None;
    }

    fn unlist(&mut self) {
        if std::mem::take(&mut self.listed) {
            self.tracker.lock().remove(&self.id);
        }
    }
}

impl Drop for Tracked<'_> {
    fn drop(&mut self) {
        self.unlist();
    }
}
