//! The write pump: moves what the hub queued for a client onto its
//! connection, pings it, and carries out the closing handshake (gorilla's
//! `writePump`).
//!
//! It is the only task that writes to the connection (client.rs says
//! why), and it waits on three things at once with `grt::select!`, as
//! gorilla's `writePump` does with Go's `select`:
//! - the client's send queue, fed by the hub: each message goes out with
//!   every other message queued at that moment, joined by newlines, in one
//!   text frame (gorilla's "add queued chat messages to the current
//!   websocket message"), so a client that falls a little behind catches
//!   up in a few large writes instead of many small ones;
//! - the control channel from the read pump: pongs to send, the peer's
//!   close frame to answer, or a protocol failure to report;
//! - a timer that fires every ping period, for a ping (gorilla's ticker).
//!
//! Each frame gets the write wait to get out (socket.rs turns that into
//! a deadline); a frame that cannot ends the pump, as in gorilla. However
//! the pump ends, it shuts the connection down in both directions, which
//! wakes the read pump if it is still parked in `read`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use grt::chan::Receiver;
use grt::net::Shutdown;
use grt::time::Timer;
use tungstenite::protocol::WebSocket;
use tungstenite::{Bytes, Message, Utf8Bytes};

use crate::client::{Control, Goodbye};
use crate::config::Config;
use crate::socket::WriteSide;

/// A client's writing half.
pub(crate) struct WritePump {
    /// Writes to the socket; never reads. `can_write()` turns false once
    /// our close frame (or our reply to the peer's) has gone out.
    ws: WebSocket<WriteSide>,
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
    /// Carry on.
    Continue,
    /// Our close frame is out (or the peer is failing); wait for the read
    /// pump to finish before hanging up.
    AwaitReader,
    /// The closing handshake is complete: hang up now.
    HangUp,
}

impl WritePump {
    pub(crate) fn new(
        ws: WebSocket<WriteSide>,
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
        }
    }

    /// Runs until the connection is done with, then shuts it down.
    pub(crate) fn run(mut self) {
        // An error here is a write that failed or timed out: the peer
        // cannot be talked to any more, so there is nothing to add.
        let _ = self.pump();
        let _ = self.ws.get_ref().conn().shutdown(Shutdown::Both);
    }

    fn pump(&mut self) -> tungstenite::Result<()> {
        let ping = Timer::new(self.ping_period);
        loop {
            let event = grt::select! {
                recv(self.send) -> message => Event::Queued(message.ok()),
                recv(self.control) -> control => Event::Control(control.ok()),
                recv(ping.channel()) -> _ => Event::Ping,
            };
            match event {
                // Once the hub has said goodbye, what is still queued is
                // not worth the wait: go straight to the close frame.
                Event::Queued(Some(first)) if self.goodbye.get().is_none() => {
                    self.write_batch(first)?
                }
                Event::Queued(_) => return self.queue_closed(),
                Event::Control(Some(control)) => match self.on_control(control)? {
                    Next::Continue => {}
                    Next::AwaitReader => return self.await_reader(),
                    Next::HangUp => return Ok(()),
                },
                // The read pump ended without a close frame: the peer has
                // vanished (client.rs, step 4).
                Event::Control(None) => return Ok(()),
                Event::Ping => {
                    self.ws.get_mut().arm(self.write_wait);
                    self.ws.send(Message::Ping(Bytes::new()))?;
                    ping.reset(self.ping_period);
                }
            }
        }
    }

    /// Sends `first` and whatever else is queued now as one frame, one
    /// message per line (gorilla reads `len(c.send)` for the same purpose).
    fn write_batch(&mut self, first: Utf8Bytes) -> tungstenite::Result<()> {
        let text = join_queued(first, self.send.len(), || self.send.try_recv().ok());
        self.ws.get_mut().arm(self.write_wait);
        self.ws.send(Message::Text(text))
    }

    /// The hub has let go of this client. If the read pump left a word
    /// first (it unregisters only after handing over its last one), that
    /// decides; otherwise the hub's goodbye says whether to send our close
    /// frame (client.rs, step 2) or the read pump is on its way out.
    fn queue_closed(&mut self) -> tungstenite::Result<()> {
        while let Ok(control) = self.control.try_recv() {
            match self.on_control(control)? {
                Next::Continue => {}
                Next::AwaitReader => return self.await_reader(),
                Next::HangUp => return Ok(()),
            }
        }
        if let Some(why) = self.goodbye.get() {
            self.ws.get_mut().arm(self.write_wait);
            self.ws.close(Some(why.close_frame()))?;
        }
        self.await_reader()
    }

    /// Acts on a word from the read pump.
    fn on_control(&mut self, control: Control) -> tungstenite::Result<Next> {
        // False once our close frame or our reply has gone out.
        let open = self.ws.can_write();
        if open {
            self.ws.get_mut().arm(self.write_wait);
        }
        match control {
            Control::Pong(payload) => {
                if open {
                    self.ws.send(Message::Pong(payload))?;
                }
                Ok(Next::Continue)
            }
            // Either the peer starts the closing handshake (we answer and
            // hang up: step 1) or it answers ours (we hang up: step 2).
            Control::CloseReply(frame) => {
                if open {
                    self.ws.close(frame)?;
                }
                Ok(Next::HangUp)
            }
            // Step 3: our close frame, then end-of-file after it, and the
            // read pump drains until the peer hangs up.
            Control::Fail(frame) => {
                if open {
                    self.ws.close(Some(frame))?;
                    let _ = self.ws.get_ref().conn().shutdown(Shutdown::Write);
                }
                Ok(Next::AwaitReader)
            }
        }
    }

    /// Waits, up to the write wait, for the read pump to report the peer's
    /// close frame or to end.
    fn await_reader(&mut self) -> tungstenite::Result<()> {
        let deadline = grt::time::deadline_after(self.write_wait);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            let control = grt::select! {
                recv(self.control) -> control => control,
                default(left) => return Ok(()),
            };
            let Ok(control) = control else {
                return Ok(()); // the read pump has ended
            };
            if let Next::HangUp = self.on_control(control)? {
                return Ok(());
            }
        }
    }
}

/// The batching rule: `first` and up to `queued` more messages, as many as
/// `next` gives, one per line in one text. `queued` is how many the send
/// queue held when `first` was taken (gorilla's `len(c.send)`): what
/// arrives while the batch is being written waits for the next one. Public
/// for the tokio twin in benches (`tokio_chat`), whose write pump batches
/// the same way from its own queue.
pub fn join_queued(
    first: Utf8Bytes,
    queued: usize,
    mut next: impl FnMut() -> Option<Utf8Bytes>,
) -> Utf8Bytes {
    if queued == 0 {
        return first;
    }
    let mut batch = String::with_capacity((first.len() + 1) * (queued + 1));
    batch.push_str(&first);
    for _ in 0..queued {
        let Some(text) = next() else {
            break;
        };
        batch.push('\n');
        batch.push_str(&text);
    }
    Utf8Bytes::from(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_what_was_queued_one_per_line() {
        let mut queue = ["b", "c", "d"].into_iter().map(Utf8Bytes::from_static);
        let first = || Utf8Bytes::from_static("a");
        assert_eq!(join_queued(first(), 0, || queue.next()).as_str(), "a");
        // Two were queued when "a" was taken: "d" waits for the next batch.
        assert_eq!(join_queued(first(), 2, || queue.next()).as_str(), "a\nb\nc");
        // `next` may run dry first: the batch is what it gave.
        assert_eq!(join_queued(first(), 5, || queue.next()).as_str(), "a\nd");
    }
}
