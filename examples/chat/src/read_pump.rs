//! The read pump: moves what a client says to the hub (gorilla's
//! `readPump`).
//!
//! It is the only task that reads the connection. Its `WebSocket`
//! enforces the message size limit (`max_message_size` and
//! `max_frame_size`, so that an oversized frame is refused from its header,
//! before its payload is buffered) and checks that text is UTF-8; its
//! reads give up at the read deadline, which starts at the pong wait and
//! moves forward with each pong (gorilla's `SetReadDeadline` and pong
//! handler). Data frames do not move it, as in gorilla: a browser answers
//! pings by itself, so a client that sends but never pongs is not one.
//!
//! Each text message is tidied as gorilla does (newlines become spaces,
//! since the write pump joins messages with newlines; surrounding
//! whitespace goes) and posted to the client's room. Empty messages are
//! dropped.
//!
//! How it ends, and what it tells the write pump then, is in client.rs
//! ("How a connection ends"). The close codes it chooses:
//! - a message over the limit: 1009 (message too big), as gorilla's
//!   `SetReadLimit` does;
//! - text that is not UTF-8: 1007 (invalid payload data), RFC 6455 §8.1;
//! - a binary message: 1003 (unsupported data); the chat is text;
//! - any other protocol error: 1002.

use std::sync::Arc;
use std::time::Duration;

use grt::chan::Sender;
use tungstenite::error::ProtocolError;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, WebSocket};
use tungstenite::{Error, Message, Utf8Bytes};

use crate::client::{close_frame, ClientId, Control};
use crate::config::Config;
use crate::hub::Hub;
use crate::socket::ReadSide;

/// A client's reading half and what it needs to deliver.
pub(crate) struct ReadPump {
    /// Reads from the socket; its own replies go nowhere (socket.rs).
    ws: WebSocket<ReadSide>,
    /// Where messages go, and whom to tell when we leave.
    hub: Hub,
    /// Who we are to the hub.
    id: ClientId,
    /// The room our messages go to.
    room: Arc<str>,
    /// To the write pump. Dropped when this pump ends, which is how the
    /// write pump learns that no reply to its close frame will come.
    control: Sender<Control>,
    /// How far each pong moves the read deadline.
    pong_wait: Duration,
    /// How long to linger after failing the connection.
    write_wait: Duration,
}

/// Why the read pump stopped reading. Public, with [`ending_for`] and
/// [`tidy`], for the tokio twin in benches (`tokio_chat`), whose read pump
/// reads the same messages and fails connections with the same codes.
#[derive(Debug)]
pub enum Ending {
    /// The peer's close frame arrived and went to the write pump.
    Closed,
    /// The peer is gone: no pong in time, a reset, or end-of-file without
    /// a close frame (which is also how the write pump's `shutdown` wakes
    /// us).
    Vanished,
    /// The peer broke the rules: fail the connection with this frame.
    Fail(CloseFrame),
}

impl ReadPump {
    pub(crate) fn new(
        ws: WebSocket<ReadSide>,
        hub: Hub,
        id: ClientId,
        room: Arc<str>,
        control: Sender<Control>,
        config: &Config,
    ) -> ReadPump {
        ReadPump {
            ws,
            hub,
            id,
            room,
            control,
            pong_wait: config.pong_wait,
            write_wait: config.write_wait,
        }
    }

    /// Reads until the conversation ends, then leaves the hub (gorilla's
    /// deferred `c.hub.unregister <- c`).
    pub(crate) fn run(mut self) {
        match self.pump() {
            Ending::Fail(frame) => {
                let handed_over = self.control.send(Control::Fail(frame)).is_ok();
                self.hub.unregister(&self.room, self.id);
                if handed_over {
                    // The write pump sends the close frame and half-closes;
                    // we read until the peer hangs up (client.rs, step 3).
                    self.ws.get_mut().discard_until_eof(self.write_wait);
                }
            }
            Ending::Closed | Ending::Vanished => self.hub.unregister(&self.room, self.id),
        }
    }

    fn pump(&mut self) -> Ending {
        loop {
            let message = match self.ws.read() {
                Ok(message) => message,
                Err(err) => return ending_for(err),
            };
            match message {
                Message::Text(text) => {
                    if let Some(text) = tidy(text) {
                        self.hub.post(&self.room, text);
                    }
                }
                Message::Binary(_) => {
                    return Ending::Fail(close_frame(CloseCode::Unsupported, "text messages only"))
                }
                Message::Ping(payload) => {
                    if self.control.send(Control::Pong(payload)).is_err() {
                        return Ending::Vanished; // the write pump has hung up
                    }
                }
                Message::Pong(_) => self.ws.get_mut().extend(self.pong_wait),
                Message::Close(frame) => {
                    let _ = self.control.send(Control::CloseReply(frame));
                    return Ending::Closed;
                }
                // `read` never returns raw frames.
                Message::Frame(_) => {}
            }
        }
    }
}

/// Maps a read error to how the connection ends.
pub fn ending_for(err: Error) -> Ending {
    match err {
        Error::Capacity(_) => Ending::Fail(close_frame(CloseCode::Size, "message too big")),
        Error::Utf8(_) => Ending::Fail(close_frame(CloseCode::Invalid, "text is not UTF-8")),
        Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => Ending::Vanished,
        Error::Protocol(_) | Error::AttackAttempt => {
            Ending::Fail(close_frame(CloseCode::Protocol, "protocol error"))
        }
        // I/O errors (the read deadline among them), and the ends of a
        // closing handshake.
        _ => Ending::Vanished,
    }
}

/// gorilla's `bytes.TrimSpace(bytes.Replace(message, newline, space, -1))`;
/// `None` if nothing is left. Keeps the original bytes when there is
/// nothing to change.
pub fn tidy(text: Utf8Bytes) -> Option<Utf8Bytes> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return None;
    }
    if trimmed.len() == text.len() && !text.contains('\n') {
        return Some(text);
    }
    Some(Utf8Bytes::from(trimmed.replace('\n', " ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_is_gorillas_trim_and_replace() {
        let tidy = |s: &'static str| tidy(Utf8Bytes::from_static(s)).map(|t| t.to_string());
        assert_eq!(tidy("hello"), Some("hello".to_string()));
        assert_eq!(tidy("  two\nlines \n"), Some("two lines".to_string()));
        assert_eq!(tidy(" \n\t "), None);
    }

    #[test]
    fn errors_map_to_close_codes() {
        let code = |err| match ending_for(err) {
            Ending::Fail(frame) => Some(frame.code),
            _ => None,
        };
        let too_long = tungstenite::error::CapacityError::MessageTooLong {
            size: 600,
            max_size: 512,
        };
        assert_eq!(code(Error::Capacity(too_long)), Some(CloseCode::Size));
        assert_eq!(code(Error::Utf8("bad".into())), Some(CloseCode::Invalid));
        assert_eq!(
            code(Error::Protocol(ProtocolError::UnmaskedFrameFromClient)),
            Some(CloseCode::Protocol)
        );
        let timed_out = std::io::Error::new(std::io::ErrorKind::TimedOut, "deadline");
        assert_eq!(code(Error::Io(timed_out)), None);
    }
}
