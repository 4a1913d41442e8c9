//! # The chat hub on tokio, for comparison
//!
//! docs/benchmarks.md measures grt's chat (examples/chat) against
//! gorilla's Go chat, which compares two programs as much as two
//! runtimes: gorilla has no rooms, an unbuffered broadcast channel, its
//! own WebSocket code. To see what the *runtime* costs, this module is
//! grt's chat written again on tokio, part for part, with the nearest
//! tokio primitive at each step, and `chatbench` (src/bin/chatbench.rs)
//! puts both under the same load tool (examples/chat's `chat-load`) in
//! one run. `chat-tokio` (src/bin/chat-tokio.rs) is the binary, with the
//! command line `chat-load` gives the `chat` binary.
//!
//! | file | what | examples/chat |
//! |---|---|---|
//! | `hub.rs` | the task owning the rooms; `tokio::select!` over register, unregister, posts | `hub.rs` |
//! | `client.rs` | one connection: its two `WebSocketStream`s over the two halves of the socket, starting the pumps; the send queue | `client.rs`, `socket.rs` |
//! | `read_pump.rs` | socket → hub: the pong deadline, handing words to the write pump | `read_pump.rs` |
//! | `write_pump.rs` | hub → socket: pings, the closing handshake | `write_pump.rs` |
//! | `server.rs` | accept loop, the request head, the handshake | `server.rs`, `http.rs`, `upgrade.rs` |
//!
//! Only what is about the runtime is written again here: the tasks, the
//! channels, `tokio::select!`, async I/O and tokio's timers. The rest is
//! grt_chat's own code, made public for this module, so that both hubs
//! behave alike by construction rather than by care:
//!
//! | from grt_chat | what | examples/chat |
//! |---|---|---|
//! | `Rooms` | a room's members and history, dismissing a client whose queue is full, idle rooms kept for their history (over tokio's queues, through `SendQueue`) | `room.rs` |
//! | `Client`, `ClientId`, `Farewell`, `Goodbye`, `Control`, `close_frame`, `websocket_config` | the hub's record of a client, why it was let go and with which close frame, the words between the pumps, the `WebSocket` limits | `client.rs` |
//! | `tidy`, `ending_for`, `Ending` | tidying a message; which close code a read error gets | `read_pump.rs` |
//! | `join_queued` | the batching rule | `write_pump.rs` |
//! | `room_of`, `Accepted` | the room asked for, the 101 response | `upgrade.rs` |
//! | `POST_QUEUE`, `CONTROL_QUEUE` | the hub's and the control queue's sizes | `hub.rs`, `client.rs` |
//!
//! # What is the same
//! The settings are grt's chat's own [`Config`](grt_chat::Config) (the
//! same struct, so the same defaults: send queue 256, 512-byte messages,
//! history 50), and so are the constants grt's chat keeps in its files
//! (taken from there, above): a post queue of 256, a control queue of 8,
//! a 4 KiB tungstenite read buffer. A message takes the same path: the sender's read pump posts it
//! to the hub, the hub `try_send`s it into each member's bounded queue and
//! dismisses a member whose queue is full (close code 1008), each write
//! pump sends the message and everything queued behind it at that moment
//! as one frame, one message per line. Each connection has two tasks and
//! two tungstenite `WebSocket`s (tokio-tungstenite's `WebSocketStream`),
//! one reading the socket's read half and one writing its write half,
//! the reader's automatic replies passed to the writer as values
//! (examples/chat/src/client.rs says why). Both runtimes' `select!` pick
//! among ready branches at random, as Go's does. Same number of workers:
//! grt's chat gets a P per core, this one a tokio worker per core.
//!
//! # What differs, and why
//! - tokio has no rendezvous channel, so register and unregister are
//!   one-slot `mpsc` channels (grt's are unbuffered). The hub never stops
//!   here (below), which is what the rendezvous was for.
//! - Deadlines are tokio timers. The read deadline is one `Sleep` per
//!   connection, reset by each pong (grt moves the socket's read deadline);
//!   each frame written is wrapped in `timeout` (grt arms a write
//!   deadline). Either registers a timer only if the call has to wait.
//! - tokio-tungstenite does not expose `WebSocket::can_write`, so the
//!   write pump notes itself that its close frame has gone out.
//! - Left out, since `chat-load` never exercises them and none is on the
//!   path of a message: the page at `/`, the origin check (`chat-load`
//!   sends no `Origin`, which grt's chat accepts too), graceful shutdown
//!   (SIGTERM or SIGINT just ends the process, which is all `chat-load`
//!   waits for), statistics, and the accept key's format check
//!   (tungstenite hashes whatever it is given).

mod client;
mod hub;
mod read_pump;
mod server;
mod write_pump;

pub use server::serve;
