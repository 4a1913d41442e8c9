//! The read pump on tokio (examples/chat's `read_pump.rs`): moves what a
//! client says to the hub, within the same limits, with the same close
//! codes: 1009 for a message over the limit, 1007 for text that is not
//! UTF-8, 1003 for a binary message, 1002 for any other protocol error.
//!
//! The read deadline is one `Sleep` per connection, first the pong wait
//! away and pushed forward by each pong, as grt's chat moves its socket's
//! read deadline. The `select!` tries the read first (`biased`), so a
//! read that finds data queued gets it, as on grt.
//!
//! What is not about the runtime is grt's chat's own code: how a message
//! is tidied (`tidy`) and how a read error ends the connection
//! (`ending_for`, `Ending`).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use grt_chat::{close_frame, ending_for, tidy, ClientId, Config, Control, Ending};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc::Sender;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

use super::client::ReadSide;
use super::hub::Hub;

/// A client's reading half and what it needs to deliver.
pub(crate) struct ReadPump {
    /// Reads from the socket; its own replies go nowhere (client.rs).
    ws: WebSocketStream<ReadSide>,
    /// Where messages go, and whom to tell when we leave.
    hub: Hub,
    /// Who we are to the hub.
    id: ClientId,
    /// The room our messages go to.
    room: Arc<str>,
    /// To the write pump; dropped when this pump ends.
    control: Sender<Control>,
    /// How far each pong moves the read deadline.
    pong_wait: Duration,
    /// How long to linger after failing the connection.
    write_wait: Duration,
}

impl ReadPump {
    pub(crate) fn new(
        ws: WebSocketStream<ReadSide>,
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

    /// Reads until the conversation ends, then leaves the hub.
    pub(crate) async fn run(mut self) {
        match self.pump().await {
            Ending::Fail(frame) => {
                let handed_over = self.control.send(Control::Fail(frame)).await.is_ok();
                self.hub.unregister(&self.room, self.id).await;
                if handed_over {
                    self.discard_until_eof().await;
                }
            }
            Ending::Closed | Ending::Vanished => self.hub.unregister(&self.room, self.id).await,
        }
    }

    async fn pump(&mut self) -> Ending {
        let deadline = tokio::time::sleep(self.pong_wait);
        tokio::pin!(deadline);
        loop {
            let message = tokio::select! {
                biased;
                message = self.ws.next() => match message {
                    Some(Ok(message)) => message,
                    Some(Err(err)) => return ending_for(err),
                    None => return Ending::Vanished,
                },
                () = &mut deadline => return Ending::Vanished,
            };
            match message {
                Message::Text(text) => {
                    if let Some(text) = tidy(text) {
                        self.hub.post(&self.room, text).await;
                    }
                }
                Message::Binary(_) => {
                    return Ending::Fail(close_frame(CloseCode::Unsupported, "text messages only"))
                }
                Message::Ping(payload) => {
                    if self.control.send(Control::Pong(payload)).await.is_err() {
                        return Ending::Vanished;
                    }
                }
                Message::Pong(_) => deadline.as_mut().reset(Instant::now() + self.pong_wait),
                Message::Close(frame) => {
                    let _ = self.control.send(Control::CloseReply(frame)).await;
                    return Ending::Closed;
                }
                Message::Frame(_) => {}
            }
        }
    }

    /// Reads and throws away whatever the peer still sends until it hangs
    /// up, fails, or the write wait has passed (a lingering close, as in
    /// grt's chat: our close frame is not lost to a reset).
    async fn discard_until_eof(&mut self) {
        let deadline = Instant::now() + self.write_wait;
        let side = self.ws.get_mut();
        let mut sink = [0u8; 4096];
        while let Ok(Ok(read)) = tokio::time::timeout_at(deadline, side.read(&mut sink)).await {
            if read == 0 {
                return;
            }
        }
    }
}
