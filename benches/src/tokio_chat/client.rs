//! One chat client on tokio: a connection served by a read pump and a
//! write pump (examples/chat's `client.rs`), each with a tungstenite
//! `WebSocket` of its own over its half of the socket (`socket.rs` there).
//!
//! examples/chat/src/client.rs gives the design and the designs it
//! rejected; in short, tungstenite's `WebSocket` needs `&mut self` to read
//! and to write, so each pump has its own: the read pump's reads the
//! socket and its writes (tungstenite's automatic pongs and close replies)
//! go nowhere, passed to the write pump as [`Control`](grt_chat::Control) values instead; the
//! write pump's writes the socket and never reads. The tokio-idiomatic
//! alternative, one `WebSocketStream` split by `futures`' `BiLock`, would
//! put a lock between the pumps that grt's chat does not have.
//!
//! How a connection ends is as in examples/chat/src/client.rs ("How a
//! connection ends"); the write pump shuts the socket down in both
//! directions as it ends, which wakes a read pump still waiting to read.
//!
//! The client's record, its id, the goodbye note and the `Control`
//! words are grt's chat's own types (the tokio module doc says which
//! pieces come from there); what is tokio's here is the send queue
//! ([`Queue`]), `serve`, and the two sides of the socket.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use grt_chat::{websocket_config, ClientId, Config, Goodbye, Refused, SendQueue, CONTROL_QUEUE};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc::{self, error::TrySendError, Sender};
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::Role;
use tungstenite::Utf8Bytes;

use super::hub::Hub;
use super::read_pump::ReadPump;
use super::write_pump::WritePump;

/// The hub's record of a client: grt's chat's, with a tokio queue.
pub(crate) type Client = grt_chat::Client<Queue>;

/// A client's send queue as the shared rooms see it (a newtype, since
/// neither `SendQueue` nor tokio's `Sender` is this crate's).
pub(crate) struct Queue(Sender<Utf8Bytes>);

impl SendQueue for Queue {
    fn try_send(&self, text: Utf8Bytes) -> Result<(), Refused> {
        self.0.try_send(text).map_err(|err| match err {
            TrySendError::Full(_) => Refused::Full,
            TrySendError::Closed(_) => Refused::Closed,
        })
    }

    /// Nothing to do: tokio's queue closes when its only sender, in the
    /// client's record, is dropped, which the rooms do right after
    /// dismissing a client.
    fn close(&self) {}
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
    let ws_config = websocket_config(config);
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
        send: Queue(send_tx),
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
