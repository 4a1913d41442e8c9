//! Idle upstream connections kept for reuse, per backend (nginx's
//! `keepalive 64` in an `upstream` block; Go's `Transport.idleConn` with
//! `MaxIdleConnsPerHost`).
//!
//! Opening a TCP connection to a backend costs a round trip and, at the
//! backend, an accept and a task or thread; reusing one costs nothing, so
//! a proxy under load should send nearly every request over a connection
//! that already exists. The pool is a stack per backend: the most recently
//! used connection is handed out first (LIFO, as nginx and Go do), because
//! it is the least likely to have been closed by the backend's own idle
//! timeout, and the ones at the bottom age out.
//!
//! Bounds: at most `max_idle` connections wait here; putting one more
//! closes the oldest (nginx closes its least recently used too). A
//! connection idle longer than `idle_timeout` is closed when found.
//!
//! A backend may close an idle connection at any moment, and we learn it
//! only by using it. Two defences: [`Pool::take`] first peeks at the
//! socket without blocking: end-of-file or unexpected bytes mean it is
//! dead and is skipped. The race that remains (the backend closes just
//! after the peek) is handled by the proxy, which retries an idempotent
//! request that failed that way on another connection (proxy/mod.rs).
//!
//! A configuration reload replaces every backend, pools included
//! (gateway.rs); the old pools are *retired*: their idle connections are
//! closed at once, and a connection coming back from a request that was
//! still in flight is closed instead of kept.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use grt::net::TcpStream;
use grt::sync::Mutex;

use crate::http::BufConn;

/// An idle connection and when it became idle.
struct Idle {
    conn: BufConn<TcpStream>,
    since: Instant,
}

/// The idle connections to one backend (module doc).
pub struct Pool {
    /// Oldest at the front, newest at the back.
    idle: Mutex<VecDeque<Idle>>,
    max_idle: usize,
    idle_timeout: Duration,
    /// Set by [`Pool::retire`]: keep nothing from now on.
    retired: AtomicBool,
}

impl Pool {
    pub fn new(max_idle: usize, idle_timeout: Duration) -> Pool {
        Pool {
            idle: Mutex::new(VecDeque::with_capacity(max_idle.min(64))),
            max_idle,
            idle_timeout,
            retired: AtomicBool::new(false),
        }
    }

    /// The most recently idle connection that still looks alive, if any.
    pub fn take(&self) -> Option<BufConn<TcpStream>> {
        loop {
            let idle = self.idle.lock().pop_back()?;
            if idle.since.elapsed() < self.idle_timeout && looks_alive(idle.conn.get_ref()) {
                return Some(idle.conn);
            }
        }
    }

    /// Keeps `conn` for reuse; closes the oldest connection if the pool is
    /// full.
    pub fn put(&self, conn: BufConn<TcpStream>) {
        if self.max_idle == 0 {
            return;
        }
        let closed = {
            let mut idle = self.idle.lock();
            // Read under the lock that `retire` drains under: a connection
            // put after the drain is never kept.
            if self.retired.load(Ordering::Relaxed) {
                Some(conn)
            } else {
                let evicted = if idle.len() >= self.max_idle {
                    idle.pop_front().map(|oldest| oldest.conn)
                } else {
                    None
                };
                idle.push_back(Idle {
                    conn,
                    since: Instant::now(),
                });
                evicted
            }
        };
        drop(closed); // closed outside the lock
    }

    /// Closes every idle connection, and every one put back from now on
    /// (module doc).
    pub fn retire(&self) {
        let drained: Vec<Idle> = {
            let mut idle = self.idle.lock();
            self.retired.store(true, Ordering::Relaxed);
            idle.drain(..).collect()
        };
        drop(drained); // closed outside the lock
    }

    /// Connections waiting now.
    pub fn idle(&self) -> usize {
        self.idle.lock().len()
    }
}

/// Whether an idle connection is still open and quiet: a peek that would
/// wait means nothing happened to it. The socket is switched to
/// non-blocking mode for the peek, so it returns `WouldBlock` rather than
/// parking the task; and since the connection's last read found it empty,
/// grt answers that from the net poller's readiness, without a system
/// call, unless the poller has seen it readable or hung up since
/// (docs/src/netpoll.md, "Sockets that park their task").
fn looks_alive(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let peeked = stream.peek(&mut byte);
    if stream.set_nonblocking(false).is_err() {
        return false;
    }
    match peeked {
        Err(err) => err.kind() == io::ErrorKind::WouldBlock,
        // 0: the backend closed; more: it sent something unasked, and the
        // connection's framing can no longer be trusted.
        Ok(_) => false,
    }
}
