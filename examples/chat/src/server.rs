//! The server: an accept loop, a task per connection, two routes, and a
//! graceful shutdown (gorilla's `main.go`, `serveHome` and `serveWs`, with
//! the part of Go's `http.Server` they rely on).
//!
//! Each accepted connection gets a task, which reads the request head
//! (http.rs) and routes on the path:
//! - `/`: the chat page (`GET` only; 405 otherwise);
//! - `/ws`: the WebSocket handshake (upgrade.rs), after which the same
//!   task becomes the client's read pump and starts its write pump
//!   (client.rs);
//! - anything else: 404.
//!
//! # Shutting down
//! [`Server::shutdown`] does what Go's `http.Server.Shutdown` does for a
//! chat, in order:
//! 1. mark the server stopping, so connections accepted from now on, and
//!    handshakes not yet answered, are turned away (503);
//! 2. stop the accept loop: `TcpListener::shutdown` wakes the loop's
//!    `accept` with an error (Go's `Listener.Close`);
//! 3. cut short the connections still sending their request head (a
//!    browser opens spare connections and may never use them);
//! 4. stop the hub: every client is sent close code 1001 (going away) by
//!    its write pump, which waits up to the write wait for the reply;
//! 5. wait until the accept loop and every connection task have ended.
//!
//! Step 5 needs no counting: each of those tasks holds a clone of one
//! channel's `Sender`, dropped as the task ends; the server waits on the
//! `Receiver`, whose `recv` fails once the last sender is gone (Go would
//! use a `sync.WaitGroup`; this cannot be misused by an `Add` racing the
//! `Wait`).

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use grt::chan::{self, Receiver, Sender};
use grt::net::{Shutdown, TcpListener, TcpStream};
use grt::sync::Mutex;

use crate::client;
use crate::config::Config;
use crate::http::{self, HeadError, Request, Response};
use crate::hub::{Hub, HubStats};
use crate::upgrade;

/// The chat page (gorilla's `home.html`, in our words), before the
/// server fills in its message size limit.
pub const HOME_PAGE: &str = include_str!("home.html");

/// After a failed `accept` (out of descriptors, say), wait this long
/// before the next, doubling up to [`ACCEPT_BACKOFF_MAX`]: Go's
/// `http.Server.Serve` numbers.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// A running chat server; clones are handles to the same server.
#[derive(Clone)]
pub struct Server {
    shared: Arc<Shared>,
}

/// What the accept loop, the connection tasks and the handles share.
struct Shared {
    /// What the server was started with.
    config: Config,
    /// The server's own hub.
    hub: Hub,
    /// Where the server listens.
    addr: SocketAddr,
    /// The listening socket, until shutdown takes it (the accept loop
    /// holds the other reference, and closes it as it ends).
    listener: Mutex<Option<Arc<TcpListener>>>,
    /// Set once by `shutdown`.
    stopping: AtomicBool,
    /// The page, with this server's message size limit in it.
    page: Vec<u8>,
    /// Connections still sending their request head, so that shutdown
    /// can cut them short.
    reading: Mutex<HashMap<u64, Arc<TcpStream>>>,
    /// Numbers the entries of `reading`.
    next_connection: AtomicU64,
    /// Connection tasks running.
    connections: AtomicUsize,
    /// Fails to receive once the accept loop and every connection task
    /// have dropped their `Sender` (the module doc, step 5).
    finished: Receiver<()>,
}

/// A moment's view of a server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections being served: HTTP requests, and WebSocket clients
    /// until their read pump ends (the write pump may outlive it by up to
    /// the write wait, finishing the closing handshake).
    pub connections: usize,
    /// The hub's view (all zero once it has stopped).
    pub hub: HubStats,
}

impl Server {
    /// Listens on `addr` (port 0 picks a free port: see
    /// [`local_addr`](Self::local_addr)), starts a hub and the accept
    /// loop as tasks of the current runtime, and returns a handle. Fails
    /// if `config` does not validate or the address cannot be bound.
    pub fn start(addr: impl ToSocketAddrs, config: Config) -> io::Result<Server> {
        config
            .validate()
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err))?;
        let listener = Arc::new(TcpListener::bind(addr)?);
        let addr = listener.local_addr()?;
        let hub = Hub::start(&config);
        let (alive, finished) = chan::bounded::<()>(0);
        let page = HOME_PAGE
            .replace("{{max_message_size}}", &config.max_message_size.to_string())
            .into_bytes();
        let shared = Arc::new(Shared {
            page,
            config,
            hub,
            addr,
            listener: Mutex::new(Some(Arc::clone(&listener))),
            stopping: AtomicBool::new(false),
            reading: Mutex::new(HashMap::new()),
            next_connection: AtomicU64::new(0),
            connections: AtomicUsize::new(0),
            finished,
        });
        let server = Server {
            shared: Arc::clone(&shared),
        };
        crate::go_named("chat-accept", move || accept_loop(shared, listener, alive));
        Ok(server)
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.addr
    }

    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The server's hub.
    pub fn hub(&self) -> &Hub {
        &self.shared.hub
    }

    /// Connections and clients now.
    pub fn stats(&self) -> ServerStats {
        ServerStats {
            connections: self.shared.connections.load(Ordering::Relaxed),
            hub: self.shared.hub.stats().unwrap_or_default(),
        }
    }

    /// Stops the server gracefully (the module doc lists the steps) and
    /// returns once every connection has ended: within about the write
    /// wait. May be called from a task or a plain thread, more than once.
    pub fn shutdown(&self) {
        let shared = &self.shared;
        if !shared.stopping.swap(true, Ordering::AcqRel) {
            if let Some(listener) = shared.listener.lock().take() {
                let _ = listener.shutdown();
            }
            for conn in shared.reading.lock().values() {
                let _ = conn.shutdown(Shutdown::Both);
            }
            shared.hub.stop();
        }
        self.wait();
    }

    /// Waits until the server has shut down (after [`shutdown`], from
    /// here or elsewhere): its hub stopped and every connection ended. A
    /// program's main task that serves until shutdown should wait here,
    /// since grt ends the runtime, and the tasks still in it, as soon as
    /// the main task returns.
    ///
    /// [`shutdown`]: Self::shutdown
    pub fn wait(&self) {
        let _ = self.shared.finished.recv();
        self.shared.hub.wait();
    }
}

/// Accepts connections until shutdown, each served by a task of its own
/// (gorilla's `http.ListenAndServe`).
fn accept_loop(shared: Arc<Shared>, listener: Arc<TcpListener>, alive: Sender<()>) {
    let mut backoff = Duration::ZERO;
    loop {
        let accepted = listener.accept();
        if shared.stopping.load(Ordering::Acquire) {
            return; // a connection accepted now is closed unanswered
        }
        match accepted {
            Ok((conn, _)) => {
                backoff = Duration::ZERO;
                let shared = Arc::clone(&shared);
                let alive = alive.clone();
                let spawned = grt::Builder::new()
                    .name("chat-conn")
                    .spawn(move || serve_connection(&shared, conn, &alive));
                if let Err(err) = spawned {
                    // Out of memory for stacks: the connection is closed
                    // unanswered, and the next one may fare better.
                    eprintln!("chat: cannot start a connection task: {err}");
                }
            }
            Err(err) => {
                backoff = (backoff * 2).clamp(ACCEPT_BACKOFF_MIN, ACCEPT_BACKOFF_MAX);
                eprintln!("chat: accept failed: {err}; retrying in {backoff:?}");
                grt::time::sleep(backoff);
            }
        }
    }
}

/// Decrements the connection count when a connection task ends.
struct Counted<'a>(&'a AtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves one connection: reads its request and routes it. `alive` is
/// this task's token for shutdown's wait (dropped by the caller's frame).
fn serve_connection(shared: &Shared, conn: TcpStream, alive: &Sender<()>) {
    shared.connections.fetch_add(1, Ordering::Relaxed);
    let _counted = Counted(&shared.connections);
    let config = &shared.config;
    let _ = conn.set_nodelay(true);
    let conn = Arc::new(conn);

    // Listed while reading the head, so that shutdown can cut it short;
    // `stopping` is checked after listing, so one of the two sees the other.
    let id = shared.next_connection.fetch_add(1, Ordering::Relaxed);
    shared.reading.lock().insert(id, Arc::clone(&conn));
    let head = if shared.stopping.load(Ordering::Acquire) {
        Err(HeadError::Gone)
    } else {
        let deadline = grt::time::deadline_after(config.header_timeout);
        http::read_head(&conn, config.max_header_bytes, deadline)
    };
    shared.reading.lock().remove(&id);

    let (request, early) = match head {
        Ok(head) => head,
        Err(HeadError::TimedOut) => {
            let response = Response::error(408, "the request head took too long");
            return http::respond(&conn, &response, config.write_wait);
        }
        Err(HeadError::TooLarge) => {
            let response = Response::error(431, "the request head is too large");
            return http::respond(&conn, &response, config.write_wait);
        }
        Err(HeadError::Malformed(why)) => {
            let response = Response::error(400, &why);
            return http::respond(&conn, &response, config.write_wait);
        }
        Err(HeadError::Gone) => return,
    };
    match request.path.as_str() {
        "/" if request.method == "GET" => {
            http::respond(&conn, &home_page(&shared.page), config.write_wait);
        }
        "/" => {
            let response = Response::error(405, "only GET here").with_header("Allow", "GET");
            http::respond(&conn, &response, config.write_wait);
        }
        "/ws" => upgrade(shared, conn, &request, early, alive),
        _ => http::respond(
            &conn,
            &Response::error(404, "no such page"),
            config.write_wait,
        ),
    }
}

/// `GET /ws`: the handshake, then the client's life (gorilla's `serveWs`).
fn upgrade(
    shared: &Shared,
    conn: Arc<TcpStream>,
    request: &Request,
    early: Vec<u8>,
    alive: &Sender<()>,
) {
    let config = &shared.config;
    let accepted = match upgrade::check(request, config) {
        Ok(accepted) => accepted,
        Err(response) => return http::respond(&conn, &response, config.write_wait),
    };
    if shared.stopping.load(Ordering::Acquire) {
        let response = Response::error(503, "the server is shutting down");
        return http::respond(&conn, &response, config.write_wait);
    }
    if http::write_all(&conn, &accepted.response(), config.write_wait).is_err() {
        return;
    }
    let room = Arc::from(accepted.room);
    client::serve(&shared.hub, conn, early, room, config, alive);
}

/// The page's response.
fn home_page(page: &[u8]) -> Response {
    Response {
        status: 200,
        headers: vec![("Cache-Control", "no-cache".to_string())],
        content_type: "text/html; charset=utf-8",
        body: page.to_vec().into(),
    }
}
