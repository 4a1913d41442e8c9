//! One chat client on tokio: a connection served by a read pump and a
//! write pump (examples/chat's `client.rs`), each with a tungstenite
//! `WebSocket` of its own over its half of the socket (`socket.rs` there).
//!
//! examples/chat/src/client.rs gives the design and the designs it
//! rejected; in short, tungstenite's `WebSocket` needs `&mut self` to read
//! and to write, so each pump has its own: the read pump's reads the
//! socket and its writes (tungstenite's automatic pongs and close replies)
//! go nowhere, passed to the write pump as [`Control`] values instead; the
//! write pump's writes the socket and never reads. The tokio-idiomatic
//! alternative, one `WebSocketStream` split by `futures`' `BiLock`, would
//! put a lock between the pumps that grt's chat does not have.
//!
//! How a connection ends is as in examples/chat/src/client.rs ("How a
//! connection ends"); the write pump shuts the socket down in both
//! directions as it ends, which wakes a read pump still waiting to read.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use grt_chat::Config;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc::{self, Sender};
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tungstenite::{Bytes, Utf8Bytes};

use super::hub::Hub;
use super::read_pump::ReadPump;
use super::write_pump::WritePump;

/// Control messages the read pump may queue for the write pump: grt's
/// chat's `CONTROL_QUEUE`.
const CONTROL_QUEUE: usize = 8;

/// tungstenite's read buffer per `WebSocket`: grt's chat's `READ_BUFFER`
/// (the default, 128 KiB, is meant for bulk transfers).
const READ_BUFFER: usize = 4 * 1024;

/// Identifies a client to the hub.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ClientId(u64);

impl ClientId {
    fn next() -> ClientId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ClientId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// Why the hub let a client go: only for being too slow here (the hub
/// never stops, so never says "going away").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Farewell {
    /// Its send queue was full (1008, as grt's chat sends).
    TooSlow = 1,
}

impl Farewell {
    /// The close frame the write pump sends for this reason.
    pub(crate) fn close_frame(self) -> CloseFrame {
        match self {
            Farewell::TooSlow => close_frame(CloseCode::Policy, "too slow: send buffer full"),
        }
    }
}

/// A close frame with a code and a reason.
pub(crate) fn close_frame(code: CloseCode, reason: &'static str) -> CloseFrame {
    CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }
}

/// The hub's note to a write pump saying why its send queue closed;
/// empty when the client left on its own.
#[derive(Debug, Default)]
pub(crate) struct Goodbye(AtomicU8);

impl Goodbye {
    /// Records `why`; written by the hub before it drops the queue's sender.
    pub(crate) fn set(&self, why: Farewell) {
        self.0.store(why as u8, Ordering::Release);
    }

    /// Read by the write pump after it found the queue closed.
    pub(crate) fn get(&self) -> Option<Farewell> {
        match self.0.load(Ordering::Acquire) {
            1 => Some(Farewell::TooSlow),
            _ => None,
        }
    }
}

/// The hub's record of a client.
pub(crate) struct Client {
    /// Its key in its room.
    pub(crate) id: ClientId,
    /// The room it joined.
    pub(crate) room: Arc<str>,
    /// Its queue of outgoing messages; the hub holds the only sender, so
    /// dropping this record closes it.
    pub(crate) send: Sender<Utf8Bytes>,
    /// Shared with its write pump.
    pub(crate) goodbye: Arc<Goodbye>,
}

impl Client {
    /// Lets the client go for `why`: the note first, then the queue
    /// closes as the record is dropped.
    pub(crate) fn dismiss(self, why: Farewell) {
        self.goodbye.set(why);
    }
}

/// What the read pump hands the write pump.
#[derive(Debug)]
pub(crate) enum Control {
    /// The peer pinged with this payload: pong it back.
    Pong(Bytes),
    /// The peer sent a close frame: answer it (unless ours went first)
    /// and hang up.
    CloseReply(Option<CloseFrame>),
    /// The peer broke the protocol: send this close frame and hang up.
    Fail(CloseFrame),
}

/// Serves an upgraded connection until it ends: registers with the hub,
/// spawns the write pump, and runs the read pump on the calling task.
/// `early` is what the client sent after its request head.
pub(crate) async fn serve(
    hub: &Hub,
    conn: TcpStream,
    early: Vec<u8>,
    room: Arc<str>,
    config: &Config,
) {
    let (send_tx, send_rx) = mpsc::channel(config.send_buffer);
    let (control_tx, control_rx) = mpsc::channel(CONTROL_QUEUE);
    let goodbye = Arc::new(Goodbye::default());
    let id = ClientId::next();
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(config.max_message_size))
        .max_frame_size(Some(config.max_message_size));
    let (read_half, write_half) = conn.into_split();
    let writer = WebSocketStream::from_raw_socket(
        WriteSide(write_half),
        Role::Server,
        Some(ws_config.read_buffer_size(0)),
    )
    .await;

    let client = Client {
        id,
        room: Arc::clone(&room),
        send: send_tx,
        goodbye: Arc::clone(&goodbye),
    };
    if hub.register(client).await.is_err() {
        return; // the hub has gone, and with it the server
    }
    let write_pump = WritePump::new(writer, send_rx, control_rx, goodbye, config);
    tokio::spawn(write_pump.run());

    let reader = WebSocketStream::from_partially_read(
        ReadSide(read_half),
        early,
        Role::Server,
        Some(ws_config),
    )
    .await;
    ReadPump::new(reader, hub.clone(), id, room, control_tx, config)
        .run()
        .await;
}

/// What the read pump's `WebSocketStream` reads through: the socket's read
/// half; its writes go nowhere (the module doc says why).
pub(crate) struct ReadSide(OwnedReadHalf);

impl AsyncRead for ReadSide {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for ReadSide {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// What the write pump's `WebSocketStream` writes through: the socket's
/// write half. tungstenite asks for a reader too, and never reads from it.
pub(crate) struct WriteSide(OwnedWriteHalf);

impl WriteSide {
    /// Shuts the connection down in both directions (a write half alone
    /// would shut down only writing), waking the read pump with
    /// end-of-file.
    pub(crate) fn shutdown_both(&self) -> io::Result<()> {
        let stream: &TcpStream = self.0.as_ref();
        socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Both)
    }

    /// Shuts down writing only: our close frame was the last word.
    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        let stream: &TcpStream = self.0.as_ref();
        socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Write)
    }
}

impl AsyncRead for WriteSide {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the write pump never reads",
        )))
    }
}

impl AsyncWrite for WriteSide {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
