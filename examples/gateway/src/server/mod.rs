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
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`Server`], [`ServerConfig`], the accept loop, stopping |
//! | `conn.rs` | one connection's request loop, keep-alive, error answers |
//! | `request_body.rs` | the request body as the handler reads it; `100 Continue` |
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
//! Stopping ([`Server::shutdown`]): the listening socket is shut down,
//! which wakes the accept loop (`grt::net::TcpListener` has no `close`
//! that would; `shutdown(2)` on its descriptor does, through socket2),
//! and each connection closes after the request it is serving. Waking the
//! connections idle between requests, and waiting for all of them to end,
//! is the graceful shutdown still to be done (see lib.rs).

mod conn;
mod request_body;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use grt::net::TcpListener;

use crate::handler::Handler;
use conn::{serve_connection, ConnContext};

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
}

/// A running server (module doc). Dropping the handle leaves it running.
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
        let shared = Arc::new(Shared {
            listener,
            handler,
            config,
            stopping: AtomicBool::new(false),
            open: AtomicUsize::new(0),
            accepted: AtomicU64::new(0),
        });
        let accept = Arc::clone(&shared);
        grt::Builder::new()
            .name("gateway-accept")
            .spawn(move || accept_loop(&accept))?;
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

    /// Stops accepting; each connection closes after its current request
    /// (module doc).
    pub fn shutdown(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        let _ = socket2::SockRef::from(&self.shared.listener).shutdown(std::net::Shutdown::Both);
    }
}

/// Go's `Server.Serve`: accept, and give each connection a task. Errors
/// that say the process is short of descriptors are waited out (Go sleeps
/// 5 ms doubling to 1 s; we sleep 10 ms) rather than spun on.
fn accept_loop(shared: &Arc<Shared>) {
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
            return;
        }
        shared.accepted.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::clone(shared);
        let spawned = grt::Builder::new().name("gateway-conn").spawn(move || {
            let _open = OpenGuard::new(&shared.open);
            let stopping = || shared.stopping.load(Ordering::Relaxed);
            let cx = ConnContext {
                handler: &*shared.handler,
                config: &shared.config,
                stopping: &stopping,
            };
            serve_connection(stream, peer, &cx);
        });
        if let Err(err) = spawned {
            eprintln!("gateway: cannot start a connection task: {err}");
        }
    }
}

/// Counts a connection as open for as long as it lives, panics included.
struct OpenGuard<'a>(&'a AtomicUsize);

impl<'a> OpenGuard<'a> {
    fn new(open: &'a AtomicUsize) -> OpenGuard<'a> {
        open.fetch_add(1, Ordering::Relaxed);
        OpenGuard(open)
    }
}

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
