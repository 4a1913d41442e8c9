//! The HTTP/1.1 server: an accept loop and a task per connection (Go's
//! `http.Server`: `Serve`, `conn.serve`; nginx's event loop does the same
//! work as callbacks).
//!
//! This is where grt pays off. Each connection is one task written as a
//! plain loop — read a head, call the handler, write the response — and
//! every wait in it (for the client's next byte, for a backend, for a
//! lock) parks the task on the net poller or a queue, leaving its thread
//! to the thousands of others. nginx gets the same concurrency by writing
//! every step as a state machine resumed by epoll; Go, by the same means
//! as we do.
//!
//! Timeouts, and where their defaults come from:
//! - `head_timeout` 10 s: from a head's first byte to its end, and from
//!   accept to the first byte (nginx's `client_header_timeout` is 60 s; we
//!   are stricter because a slow-loris client holds a task and 16 KiB per
//!   connection for as long as we let it);
//! - `keepalive_timeout` 75 s: an idle connection between requests
//!   (nginx's default);
//! - `body_timeout` 60 s: between two reads of a request body (nginx's
//!   `client_body_timeout`);
//! - `write_timeout` 60 s: a write the client does not drain (nginx's
//!   `send_timeout`).
//!
//! Stopping, Go's `Server.Shutdown` ([`Server::graceful_shutdown`]):
//! 1. set `stopping`: every connection closes after the request it is
//!    serving (`Connection: close` on its response);
//! 2. shut the listening socket down (`TcpListener::shutdown`): the accept
//!    loop wakes and ends, and new connections are refused by the kernel;
//! 3. close the connections idle between requests, waking their parked
//!    reads (track.rs explains how without racing a request that has
//!    just begun);
//! 4. wait until every connection task has ended, or the timeout passes;
//! 5. past the timeout, shut every connection left down, both ways, and
//!    report how many were cut.
//!
//! Step 4 needs no polling: the accept loop and each connection task hold
//! a clone of one channel's `Sender`, and the wait is a `recv` on its
//! `Receiver`, which fails once the last sender is gone (the chat server's
//! trick; Go polls its connection states every 500 ms). Upgraded
//! connections (WebSocket tunnels) give their sender up as they are handed
//! over: like Go's hijacked connections, a drain does not wait for them.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`Server`], [`ServerConfig`], the accept loop, stopping |
//! | `conn.rs` | one connection's request loop, keep-alive, error answers |
//! | `request_body.rs` | the request body as the handler reads it; `100 Continue` |
//! | `track.rs` | which connections are idle, for the graceful shutdown |

mod conn;
mod request_body;
mod track;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use grt::chan::{self, Receiver, RecvTimeoutError, Sender};
use grt::net::TcpListener;

use crate::handler::Handler;
use conn::{serve_connection, ConnContext};
use track::Tracker;

/// Limits and timeouts of the server side (module doc for the defaults).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request head, in bytes: 8 KiB, nginx's
    /// `large_client_header_buffers` size. Larger is answered 431.
    pub max_head_bytes: usize,
    pub head_timeout: Duration,
    pub keepalive_timeout: Duration,
    pub body_timeout: Duration,
    pub write_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_head_bytes: 8 * 1024,
            head_timeout: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(75),
            body_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(60),
        }
    }
}

/// What the accept loop and the connection tasks share.
struct Shared {
    listener: TcpListener,
    handler: Arc<dyn Handler>,
    config: ServerConfig,
    /// Set by [`Server::shutdown`].
    stopping: AtomicBool,
    /// Connections being served now.
    open: AtomicUsize,
    /// Connections accepted since the start.
    accepted: AtomicU64,
    /// Which connections are idle (track.rs).
    tracker: Tracker,
    /// Fails to receive once the accept loop and every connection task
    /// have dropped their `Sender` (module doc, step 4).
    finished: Receiver<()>,
}

/// How a graceful shutdown ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Drained {
    /// Connections closed between requests rather than after one: idle
    /// keep-alive connections, and new ones that had sent nothing.
    pub idle_closed: usize,
    /// Connections still open when the timeout passed, and shut down:
    /// 0 for a clean drain.
    pub cut: usize,
}

/// A running server (module doc). Dropping the handle leaves it running;
/// clones are handles to the same server.
#[derive(Clone)]
pub struct Server {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl Server {
    /// Starts serving `listener` with `handler`: spawns the accept loop as
    /// a task of the current runtime, and returns at once. Must be called
    /// from a grt task.
    pub fn start(
        listener: TcpListener,
        handler: Arc<dyn Handler>,
        config: ServerConfig,
    ) -> io::Result<Server> {
        let addr = listener.local_addr()?;
        let (alive, finished) = chan::bounded(0);
        let shared = Arc::new(Shared {
            listener,
            handler,
            config,
            stopping: AtomicBool::new(false),
            open: AtomicUsize::new(0),
            accepted: AtomicU64::new(0),
            tracker: Tracker::default(),
            finished,
        });
        let accept = Arc::clone(&shared);
        grt::Builder::new()
            .name("gateway-accept")
            .spawn(move || accept_loop(&accept, alive))?;
        Ok(Server { shared, addr })
    }

    /// The address being served.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections being served now.
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::Relaxed)
    }

    /// Connections accepted since the start.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Whether [`shutdown`](Self::shutdown) has been called.
    pub fn is_stopping(&self) -> bool {
        self.shared.stopping.load(Ordering::SeqCst)
    }

    /// Steps 1–3 of the module doc, returning at once: stops accepting,
    /// closes the idle connections, and lets each other one close after
    /// its current request. Returns how many idle connections it closed.
    /// Calling it again closes the connections that went idle since.
    pub fn shutdown(&self) -> usize {
        let shared = &self.shared;
        shared.stopping.store(true, Ordering::SeqCst);
        let _ = shared.listener.shutdown();
        shared.tracker.close_idle()
    }

    /// Go's `Server.Shutdown` with a timeout (module doc): stops, waits up
    /// to `timeout` for every connection to end, then cuts those left.
    /// From a task or a plain thread; safe to call more than once.
    pub fn graceful_shutdown(&self, timeout: Duration) -> Drained {
        self.shutdown();
        let cut = match self.shared.finished.recv_timeout(timeout) {
            Err(RecvTimeoutError::Timeout) => self.shared.tracker.close_all(),
            _ => 0,
        };
        Drained {
            idle_closed: self.shared.tracker.idle_closed(),
            cut,
        }
    }

    /// Waits up to `timeout` for every connection to end, after a
    /// [`shutdown`](Self::shutdown); true if they all did.
    pub fn wait(&self, timeout: Duration) -> bool {
        !matches!(
            self.shared.finished.recv_timeout(timeout),
            Err(RecvTimeoutError::Timeout)
        )
    }
}

/// Go's `Server.Serve`: accept, and give each connection a task. Errors
/// that say the process is short of descriptors are waited out (Go sleeps
/// 5 ms doubling to 1 s; we sleep 10 ms) rather than spun on. `alive` is
/// the loop's share in the drain (module doc); each connection task gets
/// a clone.
fn accept_loop(shared: &Arc<Shared>, alive: Sender<()>) {
    loop {
        let (stream, peer) = match shared.listener.accept() {
            Ok(accepted) => accepted,
            Err(_) if shared.stopping.load(Ordering::SeqCst) => return,
            Err(err) => {
                eprintln!("gateway: accept failed: {err}");
                grt::time::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if shared.stopping.load(Ordering::SeqCst) {
            return; // closed unanswered: the kernel refuses the next ones
        }
        shared.accepted.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::clone(shared);
        let alive = alive.clone();
        let spawned = grt::Builder::new().name("gateway-conn").spawn(move || {
            let cx = ConnContext {
                handler: &*shared.handler,
                config: &shared.config,
                stopping: &shared.stopping,
                tracker: &shared.tracker,
                open: &shared.open,
            };
            serve_connection(stream, peer, &cx, alive);
        });
        if let Err(err) = spawned {
            eprintln!("gateway: cannot start a connection task: {err}");
        }
    }
}

/// Counts a connection as open for as long as it lives, panics included.
pub(crate) struct OpenGuard<'a>(&'a AtomicUsize);

impl<'a> OpenGuard<'a> {
    pub(crate) fn new(open: &'a AtomicUsize) -> OpenGuard<'a> {
        open.fetch_add(1, Ordering::Relaxed);
        OpenGuard(open)
    }
}

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
