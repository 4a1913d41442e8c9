//! A room: the clients who joined it and the last messages said in it.
//!
//! gorilla's hub has one set of clients; ours has one per room, each with
//! a bounded history that is replayed to whoever joins. A room is plain
//! data owned by the hub task (hub.rs), so nothing here locks or waits:
//! every send is a `try_send`, and a client whose queue is full is
//! dismissed on the spot, as in gorilla's hub:
//!
//! ```go
//! select {
//! case client.send <- message:
//! default:
//!     close(client.send)
//!     delete(h.clients, client)
//! }
//! ```
//!
//! so that one client that stopped reading cannot stall the room.

use std::collections::{HashMap, VecDeque};

use grt::chan::TrySendError;
use tungstenite::Utf8Bytes;

use crate::client::{Client, ClientId, Farewell};

pub(crate) struct Room {
    /// Who is in the room now.
    members: HashMap<ClientId, Client>,
    /// The last `history_len` messages, oldest first.
    history: VecDeque<Utf8Bytes>,
    /// How many messages `history` keeps.
    history_len: usize,
}

impl Room {
    pub(crate) fn new(history_len: usize) -> Room {
        Room {
            members: HashMap::new(),
            history: VecDeque::with_capacity(history_len),
            history_len,
        }
    }

    /// Number of clients in the room.
    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Whether an empty room has anything worth keeping.
    pub(crate) fn has_history(&self) -> bool {
        !self.history.is_empty()
    }

    /// Adds `client`, first queueing the history for it, oldest first. A
    /// queue too small for the history (the configuration forbids it) is
    /// treated as a slow client.
    pub(crate) fn join(&mut self, client: Client) {
        for text in &self.history {
            if client.send.try_send(text.clone()).is_err() {
                client.dismiss(Farewell::TooSlow);
                return;
            }
        }
        self.members.insert(client.id, client);
    }

    /// Removes a client that left on its own; dropping its record closes
    /// its send queue (gorilla's unregister case). False if it was not
    /// here, e.g. because it had been dismissed already.
    pub(crate) fn leave(&mut self, id: ClientId) -> bool {
        self.members.remove(&id).is_some()
    }

    /// Records `text` and queues it for every member; returns how many
    /// members were dismissed or found gone.
    pub(crate) fn post(&mut self, text: Utf8Bytes) -> usize {
        if self.history_len > 0 {
            if self.history.len() == self.history_len {
                self.history.pop_front();
            }
            self.history.push_back(text.clone());
        }
        let before = self.members.len();
        self.members
            .retain(|_, client| match client.send.try_send(text.clone()) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    client.dismiss(Farewell::TooSlow);
                    false
                }
                // Its write pump has ended; its read pump is on its way
                // to unregister.
                Err(TrySendError::Closed(_)) => false,
            });
        before - self.members.len()
    }

    /// Dismisses every member for `why`.
    pub(crate) fn dismiss_all(&mut self, why: Farewell) {
        for (_, client) in self.members.drain() {
            client.dismiss(why);
        }
    }
}
