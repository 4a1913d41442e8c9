//! # grt-chat: gorilla's chat hub on grt
//!
//! gorilla/websocket's `examples/chat` is the classic demonstration of
//! Go's style for servers: a goroutine per connection (two, in fact), one
//! goroutine owning the shared state, channels between them, and `select`
//! to wait on several at once. This crate is that program on grt, written
//! as blocking code on tasks, with what a real deployment adds: rooms,
//! history for newcomers, an origin check, limits on every input, and a
//! graceful shutdown.
//!
//! ```text
//! cargo run --release -p grt-chat --bin chat -- --addr 127.0.0.1:8080
//! ```
//!
//! and open <http://127.0.0.1:8080/> in two browser tabs;
//! `/?room=NAME` for another room. `GRT_SCHEDTRACE=1000` in front shows
//! the scheduler at work: two parked tasks per client, and one hub.
//!
//! ## The pieces, and their gorilla counterparts
//! | file | what | gorilla |
//! |---|---|---|
//! | `hub.rs` | the task that owns the rooms; `select!` over register, unregister, posts | `hub.go` |
//! | `room.rs` | the rooms' members and history; dropping a client that cannot keep up | `Hub.run`'s broadcast case |
//! | `client.rs` | one connection: two pumps, how they share it, how it ends | `client.go`: `Client`, `serveWs` |
//! | `read_pump.rs` | socket → hub: limits, pong deadline, close codes | `readPump` |
//! | `write_pump.rs` | hub → socket: batching, pings, the closing handshake | `writePump` |
//! | `socket.rs` | the pumps' two views of a connection, with its deadlines | `SetReadDeadline`, `SetWriteDeadline` |
//! | `http.rs` | reading a request head within limits, writing a response | Go's `net/http` |
//! | `upgrade.rs` | the WebSocket handshake and the origin check | `Upgrader.Upgrade`, `checkSameOrigin` |
//! | `server.rs` | accept loop, routing, graceful shutdown | `main.go`, `serveHome` |
//! | `signal.rs` | Ctrl-C as a channel (through `grt::signal`), and a second one | `signal.Notify` |
//! | `config.rs` | every limit and timing, gorilla's by default | the constants in `client.go` |
//! | `home.html` | the page | `home.html` |
//!
//! ## The life of a message
//! 1. A browser sends a text frame. The sender's read pump, parked in
//!    `read` on the net poller, wakes with it, tidies it (newlines become
//!    spaces) and sends it to the hub's post channel.
//! 2. The hub, parked in `select!`, wakes with the post, adds it to the
//!    room's history and `try_send`s it into each member's send queue. A
//!    member whose queue is full is dismissed on the spot: the hub never
//!    waits for a client.
//! 3. Each member's write pump, parked in its own `select!`, wakes, takes
//!    the message and everything queued behind it, and writes them as one
//!    frame, one message per line.
//! 4. The browser splits the frame on newlines and shows the lines.
//!
//! Every step is a task parking and being readied by another: no locks
//! around shared state, because no state is shared: the hub's rooms
//! belong to the hub's task, each connection's protocol state to its
//! pumps.
//!
//! ## Trying it, measuring it
//! `tests/browser.rs` runs the page in two headless Chromium windows and
//! checks that what one types, the other shows
//! (`GRT_CHAT_BROWSER_TEST=1 cargo test -p grt-chat --test browser`).
//! `src/bin/chat-load.rs` is a load generator: thousands of WebSocket
//! clients, bursts or paced or closed-loop senders, reporting delivered
//! messages/s, broadcast latency, batching, CPU and memory per
//! connection (docs/benchmarks.md, "Chat hub", has its figures against
//! gorilla's Go chat). The book's chapter "The chat hub, task by task"
//! follows one message through the scheduler.
//!
//! ## Using it as a library
//! [`Server::start`] runs a server in the current runtime and returns a
//! handle ([`Server::stats`], [`Server::shutdown`]); a process may run
//! several, each with its own [`Hub`]. The `chat` binary (`src/main.rs`)
//! is a command line around it.
//!
//! ## Shared with the tokio twin
//! benches/src/tokio_chat is this hub written again on tokio, to measure
//! the runtime rather than the program. What does not depend on the
//! runtime it takes from here rather than copying it, so that both hubs
//! behave alike by construction: the client's record and its close
//! frames ([`Client`], [`Farewell`], [`Goodbye`], [`Control`],
//! [`websocket_config`]), the rooms ([`Rooms`], over any [`SendQueue`]),
//! how a message is tidied and a read error ends a connection ([`tidy`],
//! [`ending_for`]), the write pump's batching ([`join_queued`]), the
//! handshake's room and response ([`room_of`], [`Accepted`]), the queue
//! sizes ([`POST_QUEUE`], [`CONTROL_QUEUE`]), and how its command line
//! reads a duration ([`parse_wait`]).

mod client;
mod config;
mod http;
mod hub;
mod read_pump;
mod room;
mod server;
pub mod signal;
mod socket;
mod upgrade;
mod write_pump;

pub use client::{
    close_frame, websocket_config, Client, ClientId, Control, Farewell, Goodbye, Refused,
    SendQueue, CONTROL_QUEUE,
};
pub use config::{number_and_unit, parse_wait, Config, ConfigError};
pub use hub::{Hub, HubStats, POST_QUEUE};
pub use read_pump::{ending_for, tidy, Ending};
pub use room::Rooms;
pub use server::{Server, ServerStats, HOME_PAGE};
pub use upgrade::{room_of, Accepted};
pub use write_pump::join_queued;

/// `grt::go` with a task name. The names are what `GRT_SCHEDDETAIL`,
/// gdb's `info tasks` and a `GRT_TRACE` timeline show for each task (the
/// book's chapter "The chat hub, task by task" lists them): `chat-hub`,
/// `chat-accept`, `chat-conn` (a connection, then its read pump),
/// `chat-write` (a write pump). Panics, as `grt::go` does, if no stack can
/// be reserved.
pub(crate) fn go_named(name: &'static str, f: impl FnOnce() + Send + 'static) {
    if let Err(err) = grt::Builder::new().name(name).spawn(f) {
        panic!("cannot start task {name}: {err}");
    }
}
