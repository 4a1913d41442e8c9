//! The write pump on tokio (examples/chat's `write_pump.rs`): moves what
//! the hub queued for a client onto its connection, pings it, and carries
//! out the closing handshake, waiting on the send queue, the control
//! channel and a ping timer with `tokio::select!`.
//!
//! Batching is grt's chat's rule, and its code (`join_queued`): a message
//! goes out with every message queued behind it at that moment (the
//! queue's `len`, then as many `try_recv`s), joined by newlines, in one
//! text frame. Each frame gets the write wait to get out (`timeout` here,
//! a write deadline there).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures_util::SinkExt;
use grt_chat::{join_queued, Config, Control, Goodbye};
use tokio::sync::mpsc::Receiver;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tungstenite::{Bytes, Message, Utf8Bytes};

use super::client::WriteSide;

/// A client's writing half.
pub(crate) struct WritePump {
    /// Writes to the socket; never reads.
    ws: WebSocketStream<WriteSide>,
    /// Messages from the hub; closed when the hub lets the client go.
    send: Receiver<Utf8Bytes>,
    /// Words from the read pump; closed when the read pump ends.
    control: Receiver<Control>,
    /// Why the hub closed `send`, if it chose to.
    goodbye: Arc<Goodbye>,
    /// Time allowed per frame, and for the peer's reply to our close.
    write_wait: Duration,
    /// How often to ping.
    ping_period: Duration,
    /// Our close frame (or our reply to the peer's) has gone out:
    /// tungstenite's `!can_write()`, which tokio-tungstenite does not show.
    closed: bool,
}

/// What woke the pump.
enum Event {
    /// A message from the hub, or `None`: the queue is closed and drained.
    Queued(Option<Utf8Bytes>),
    /// A word from the read pump, or `None`: the read pump has ended.
    Control(Option<Control>),
    /// Time to ping.
    Ping,
}

/// What to do after a word from the read pump.
enum Next {
    Continue,
    /// Wait for the read pump to finish before hanging up.
    AwaitReader,
    /// The closing handshake is complete: hang up now.
    HangUp,
}

impl WritePump {
    pub(crate) fn new(
        ws: WebSocketStream<WriteSide>,
        send: Receiver<Utf8Bytes>,
        control: Receiver<Control>,
        goodbye: Arc<Goodbye>,
        config: &Config,
    ) -> WritePump {
        WritePump {
            ws,
            send,
            control,
            goodbye,
            write_wait: config.write_wait,
            ping_period: config.ping_period,
            closed: false,
        }
    }

    /// Runs until the connection is done with, then shuts it down.
    pub(crate) async fn run(mut self) {
        // An error is a write that failed or timed out: nothing to add.
        let _ = self.pump().await;
        let _ = self.ws.get_ref().shutdown_both();
    }

    async fn pump(&mut self) -> tungstenite::Result<()> {
        let ping = tokio::time::sleep(self.ping_period);
        tokio::pin!(ping);
        loop {
            let event = tokio::select! {
                message = self.send.recv() => Event::Queued(message),
                control = self.control.recv() => Event::Control(control),
                () = &mut ping => Event::Ping,
            };
            match event {
                Event::Queued(Some(first)) if self.goodbye.get().is_none() => {
                    self.write_batch(first).await?
                }
                Event::Queued(_) => return self.queue_closed().await,
                Event::Control(Some(control)) => match self.on_control(control).await? {
                    Next::Continue => {}
                    Next::AwaitReader => return self.await_reader().await,
                    Next::HangUp => return Ok(()),
                },
                Event::Control(None) => return Ok(()),
                Event::Ping => {
                    self.write(Message::Ping(Bytes::new())).await?;
                    ping.as_mut().reset(Instant::now() + self.ping_period);
                }
            }
        }
    }

    /// Sends one frame within the write wait.
    async fn write(&mut self, message: Message) -> tungstenite::Result<()> {
        if let Message::Close(_) = message {
            self.closed = true;
        }
        match tokio::time::timeout(self.write_wait, self.ws.send(message)).await {
            Ok(sent) => sent,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "write wait passed").into()),
        }
    }

    /// Sends `first` and whatever else is queued now as one frame, one
    /// message per line.
    async fn write_batch(&mut self, first: Utf8Bytes) -> tungstenite::Result<()> {
        let text = join_queued(first, self.send.len(), || self.send.try_recv().ok());
        self.write(Message::Text(text)).await
    }

    /// The hub has let go of this client: a word the read pump left first
    /// decides, else the hub's goodbye (our close frame) if it said one.
    async fn queue_closed(&mut self) -> tungstenite::Result<()> {
        while let Ok(control) = self.control.try_recv() {
            match self.on_control(control).await? {
                Next::Continue => {}
                Next::AwaitReader => return self.await_reader().await,
                Next::HangUp => return Ok(()),
            }
        }
        if let Some(why) = self.goodbye.get() {
            self.write(Message::Close(Some(why.close_frame()))).await?;
        }
        self.await_reader().await
    }

    /// Acts on a word from the read pump.
    async fn on_control(&mut self, control: Control) -> tungstenite::Result<Next> {
        let open = !self.closed;
        match control {
            Control::Pong(payload) => {
                if open {
                    self.write(Message::Pong(payload)).await?;
                }
                Ok(Next::Continue)
            }
            Control::CloseReply(frame) => {
                if open {
                    self.write(Message::Close(frame)).await?;
                }
                Ok(Next::HangUp)
            }
            Control::Fail(frame) => {
                if open {
                    self.write(Message::Close(Some(frame))).await?;
                    let _ = self.ws.get_ref().shutdown_write();
                }
                Ok(Next::AwaitReader)
            }
        }
    }

    /// Waits, up to the write wait, for the read pump to report the peer's
    /// close frame or to end.
    async fn await_reader(&mut self) -> tungstenite::Result<()> {
        let deadline = Instant::now() + self.write_wait;
        loop {
            let Ok(Some(control)) = tokio::time::timeout_at(deadline, self.control.recv()).await
            else {
                return Ok(()); // the wait is over, or the read pump has ended
            };
            if let Next::HangUp = self.on_control(control).await? {
                return Ok(());
            }
        }
    }
}
