//! One chat client: a WebSocket connection served by two tasks, a read
//! pump and a write pump (gorilla's `client.go`, `Client`, `serveWs`).
//!
//! # The problem
//! A chat connection must read and write at any moment: read what the
//! user types, write what the others say. In Go, gorilla gives each
//! connection one goroutine that only reads (`readPump`) and one that only
//! writes (`writePump`); `websocket.Conn` allows one concurrent reader and
//! one concurrent writer, and answers pings from the reading side under a
//! write lock of its own.
//!
//! tungstenite's `WebSocket` is one object that needs `&mut self` both to
//! read and to write, and its `read` writes too: it answers a ping with a
//! pong, and a close frame with a close frame, through the same stream.
//!
//! # Designs that do not work
//! 1. *One `WebSocket` behind a mutex, shared by both pumps.* The read
//!    pump holds the lock while it is parked in `read`, which is nearly
//!    always; the write pump could not deliver a message until the user
//!    typed something.
//! 2. *One task that does both, polling.* grt's `select!` waits on
//!    channels, not sockets, so one task would have to alternate short
//!    read timeouts with channel checks: latency or busy CPU, pick one.
//! 3. *Two `WebSocket`s, the reader's writes forwarded as raw bytes to the
//!    write pump.* It works (tungstenite writes whole frames from a
//!    buffer), but the write pump then has to sniff opcodes in the bytes to
//!    learn that a close reply went out, and correctness would rest on how
//!    tungstenite happens to slice its writes.
//!
//! # The design
//! Two `WebSocket`s over one `Arc<TcpStream>` (socket.rs):
//! - The read pump's `WebSocket` reads from the socket, and its writes go
//!   nowhere. tungstenite's `read` writes only its automatic replies (its
//!   documentation says so), and the read pump passes the same replies on
//!   as values: a ping's payload as [`Control::Pong`], the peer's close
//!   frame as [`Control::CloseReply`], and, when the peer breaks the
//!   protocol, [`Control::Fail`] with the close frame to send.
//! - The write pump's `WebSocket` writes to the socket, and never reads.
//!   The write pump is the only task that writes, so frames never
//!   interleave, and the closing handshake's state (have we sent our
//!   close frame?) lives in one object: its `WebSocket`, whose
//!   `can_write()` turns false once it has.
//!
//! The control channel is bounded (8): a peer that floods pings while not
//! reading our pongs stalls its own read pump, not the server's memory.
//!
//! # How a connection ends
//! Every ending goes through the same steps, whoever starts it:
//! 1. *The peer closes* (a close frame): the read pump passes
//!    `CloseReply` and stops reading; the write pump sends the reply and
//!    shuts the TCP connection down (the server closes TCP first, RFC 6455
//!    §7.1.1).
//! 2. *The hub lets the client go* (too slow, or the server is stopping):
//!    it records why in the client's [`Goodbye`] and closes the client's
//!    send channel. The write pump sees the channel closed with a goodbye,
//!    sends its close frame (1008 or 1001) and waits, up to the write wait,
//!    for the read pump to report the peer's reply, then shuts down.
//! 3. *The peer breaks the rules* (too big, not UTF-8, binary): the read
//!    pump passes `Fail`; the write pump sends that close frame (1009,
//!    1007, 1003 or 1002) and half-closes; the read pump reads and discards
//!    until the peer hangs up or the write wait passes (a lingering close:
//!    closing with unread bytes would send a reset, which can destroy our
//!    close frame before the peer reads it).
//! 4. *The peer vanishes* (no pong within the pong wait, or the connection
//!    breaks): the read pump just stops; the write pump sees the control
//!    channel closed (or its send channel closed without a goodbye, then
//!    the control channel) and shuts down without a close frame.
//!
//! In every case the read pump unregisters from the hub as it ends (so the
//! hub drops the client's send channel: the write pump learns of it) and
//! the write pump ends with `shutdown(Both)` (so a read pump still parked
//! in `read` wakes with end-of-file). Each wait is bounded by the write
//! wait or the pong wait, and the connection's descriptor closes when the
//! second of the two tasks drops its `Arc`.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use grt::chan::{self, Sender, TrySendError};
use grt::net::TcpStream;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocket, WebSocketConfig};
use tungstenite::{Bytes, Utf8Bytes};

use crate::config::Config;
use crate::hub::Hub;
use crate::read_pump::ReadPump;
use crate::socket::{ReadSide, WriteSide};
use crate::write_pump::WritePump;

/// Control messages the read pump may queue before it waits for the write
/// pump. Pongs are tiny; eight covers a burst of pings while the write
/// pump finishes a frame. Any number ≥ 1 is correct (see the module doc).
/// Public so that the tokio twin in benches (`tokio_chat`) queues as many.
pub const CONTROL_QUEUE: usize = 8;

/// The read buffer tungstenite allocates up front for each `WebSocket`.
/// Its default, 128 KiB, is meant for bulk transfers; chat messages are at
/// most `max_message_size` (512 bytes), and the buffer grows if needed.
const READ_BUFFER: usize = 4 * 1024;

/// The read pump's `WebSocket` settings: [`READ_BUFFER`], and messages
/// and frames no larger than `config.max_message_size`, so that an
/// oversized frame is refused from its header. The write pump's are the
/// same with no read buffer, since it never reads. Public so that the
/// tokio twin in benches (`tokio_chat`) builds its `WebSocketStream`s
/// with the same settings.
pub fn websocket_config(config: &Config) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(config.max_message_size))
        .max_frame_size(Some(config.max_message_size))
}

/// Identifies a client to the hub. Public, as the types below are, for
/// the tokio twin in benches (`tokio_chat`), which keeps its clients the
/// same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientId(u64);

impl ClientId {
    /// A new id, never handed out before in this process.
    pub fn next() -> ClientId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ClientId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// Why the hub let a client go, and so which close frame its write pump
/// sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Farewell {
    /// Its send buffer was full: it cannot keep up (1008, policy
    /// violation; gorilla sends a close frame without a code).
    TooSlow = 1,
    /// The server is shutting down (1001, going away).
    ShuttingDown = 2,
}

impl Farewell {
    /// The close frame the write pump sends for this reason.
    pub fn close_frame(self) -> CloseFrame {
        match self {
            Farewell::TooSlow => close_frame(CloseCode::Policy, "too slow: send buffer full"),
            Farewell::ShuttingDown => close_frame(CloseCode::Away, "server shutting down"),
        }
    }
}

/// A close frame with a code and a reason.
pub fn close_frame(code: CloseCode, reason: &'static str) -> CloseFrame {
    CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }
}

/// The hub's note to a write pump saying why its send channel closed;
/// empty when the client left on its own (unregistered by its read pump).
#[derive(Debug, Default)]
pub struct Goodbye(AtomicU8);

impl Goodbye {
    /// Records `why`; written by the hub before it closes the channel.
    pub fn set(&self, why: Farewell) {
        self.0.store(why as u8, Ordering::Release);
    }

    /// Read by the write pump after it found the channel closed.
    pub fn get(&self) -> Option<Farewell> {
        match self.0.load(Ordering::Acquire) {
            1 => Some(Farewell::TooSlow),
            2 => Some(Farewell::ShuttingDown),
            _ => None,
        }
    }
}

/// The sending end of a client's queue of outgoing messages, as the hub
/// uses it: grt's `chan::Sender` here, tokio's `mpsc::Sender` in the
/// tokio twin in benches (`tokio_chat`), so that the hub's bookkeeping
/// (room.rs) is written once for both.
pub trait SendQueue {
    /// Queues `text` without waiting (the hub never waits for a client).
    fn try_send(&self, text: Utf8Bytes) -> Result<(), Refused>;

    /// Closes the queue, so that the write pump sees it closed once it
    /// has taken what is queued. A queue that closes only when its last
    /// sender is dropped may do nothing here: the hub drops a dismissed
    /// client's record right after.
    fn close(&self);
}

/// Why a [`SendQueue`] did not take a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The queue is full: the client cannot keep up.
    Full,
    /// The queue is closed: its write pump has ended.
    Closed,
}

impl SendQueue for Sender<Utf8Bytes> {
    fn try_send(&self, text: Utf8Bytes) -> Result<(), Refused> {
        Sender::try_send(self, text).map_err(|err| match err {
            TrySendError::Full(_) => Refused::Full,
            TrySendError::Closed(_) => Refused::Closed,
        })
    }

    fn close(&self) {
        Sender::close(self);
    }
}

/// The hub's record of a client (gorilla's `*Client` in `Hub.clients`).
/// `Q` is the client's send queue: grt's channel by default, tokio's in
/// the tokio twin in benches.
pub struct Client<Q = Sender<Utf8Bytes>> {
    /// Its key in its room.
    pub id: ClientId,
    /// The room it joined, for good.
    pub room: Arc<str>,
    /// Its queue of outgoing messages (gorilla's `send chan []byte`); the
    /// hub holds the only sender, so dropping this record closes it.
    pub send: Q,
    /// Shared with its write pump.
    pub goodbye: Arc<Goodbye>,
}

impl<Q: SendQueue> Client<Q> {
    /// Lets the client go for `why`: its write pump will send the close
    /// frame (gorilla's `close(client.send)`). The goodbye is recorded
    /// before the close, so the write pump finds it when it sees the close.
    pub fn dismiss(&self, why: Farewell) {
        self.goodbye.set(why);
        self.send.close();
    }
}

/// What the read pump hands the write pump (see the module doc).
#[derive(Debug)]
pub enum Control {
    /// The peer pinged with this payload: pong it back.
    Pong(Bytes),
    /// The peer sent a close frame: answer it (unless ours went first, in
    /// which case this *is* the answer) and hang up.
    CloseReply(Option<CloseFrame>),
    /// The peer broke the protocol: send this close frame and hang up.
    Fail(CloseFrame),
}

/// Serves an upgraded connection until it ends: registers with the hub,
/// starts the write pump as a task, and runs the read pump on the calling
/// task (gorilla's `serveWs`, which starts both as goroutines). `early` is
/// what the client sent after its request head, already read. The write
/// pump holds a clone of `alive` while it runs (the server waits for every
/// holder at shutdown); the caller's own counts for the read pump.
pub(crate) fn serve(
    hub: &Hub,
    conn: Arc<TcpStream>,
    early: Vec<u8>,
    room: Arc<str>,
    config: &Config,
    alive: &Sender<()>,
) {
    let (send_tx, send_rx) = chan::bounded(config.send_buffer);
    let (control_tx, control_rx) = chan::bounded(CONTROL_QUEUE);
    let goodbye = Arc::new(Goodbye::default());
    let id = ClientId::next();
    let ws_config = websocket_config(config);
    let mut writer = WebSocket::from_raw_socket(
        WriteSide::new(Arc::clone(&conn)),
        Role::Server,
        Some(ws_config.read_buffer_size(0)),
    );

    let client = Client {
        id,
        room: Arc::clone(&room),
        send: send_tx,
        goodbye: Arc::clone(&goodbye),
    };
    if hub.register(client).is_err() {
        // The hub has stopped: the server is shutting down.
        writer.get_mut().arm(config.write_wait);
        let _ = writer.close(Some(Farewell::ShuttingDown.close_frame()));
        let _ = conn.shutdown(grt::net::Shutdown::Both);
        return;
    }

    let write_pump = WritePump::new(writer, send_rx, control_rx, goodbye, config);
    let writer_alive = alive.clone();
    crate::go_named("chat-write", move || {
        write_pump.run();
        drop(writer_alive);
    });

    let reader = WebSocket::from_partially_read(
        ReadSide::new(conn, config.pong_wait),
        early,
        Role::Server,
        Some(ws_config),
    );
    ReadPump::new(reader, hub.clone(), id, room, control_tx, config).run();
}
