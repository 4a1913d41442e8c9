//! The rooms: who joined each and the last messages said in it, and which
//! empty rooms are kept for their history.
//!
//! gorilla's hub has one set of clients; ours has one per room, each with
//! a bounded history that is replayed to whoever joins. The rooms are
//! plain data owned by the hub task (hub.rs), so nothing here locks or
//! waits: every send is a `try_send`, and a client whose queue is full is
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
//!
//! Rooms are made on first use. A room whose last member leaves is kept
//! for its history, up to `Config::idle_rooms` of them; beyond that the
//! longest idle is forgotten.
//!
//! Since nothing here depends on the runtime but the clients' send
//! queues ([`SendQueue`]), [`Rooms`] is public and generic over them: the
//! tokio twin in benches (`tokio_chat`) keeps its rooms with it too, so
//! that both hubs deliver, dismiss and forget rooms by the same code.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use tungstenite::Utf8Bytes;

use crate::client::{Client, ClientId, Farewell, Refused, SendQueue};
use crate::hub::HubStats;

/// Every room a hub holds, with members or with history.
pub struct Rooms<Q> {
    /// Every room with members or history.
    rooms: HashMap<Arc<str>, Room<Q>>,
    /// Rooms without members, longest idle first.
    idle: VecDeque<Arc<str>>,
    /// Clients in all rooms.
    clients: usize,
    /// Messages of history per room (`Config::history`).
    history_len: usize,
    /// Idle rooms to keep (`Config::idle_rooms`).
    idle_limit: usize,
}

impl<Q: SendQueue> Rooms<Q> {
    /// No rooms yet; each will keep `history_len` messages, and up to
    /// `idle_limit` rooms without members are kept for their history.
    pub fn new(history_len: usize, idle_limit: usize) -> Rooms<Q> {
        Rooms {
            rooms: HashMap::new(),
            idle: VecDeque::new(),
            clients: 0,
            history_len,
            idle_limit,
        }
    }

    /// Adds `client` to its room, making the room if need be, and queues
    /// the room's history for it.
    pub fn join(&mut self, client: Client<Q>) {
        let history_len = self.history_len;
        let name = Arc::clone(&client.room);
        let room = self
            .rooms
            .entry(Arc::clone(&name))
            .or_insert_with(|| Room::new(history_len));
        let was_idle = room.is_empty();
        room.join(client);
        if room.is_empty() {
            return; // dismissed at once: its queue could not take the history
        }
        self.clients += 1;
        if was_idle {
            self.idle.retain(|idle| *idle != name);
        }
    }

    /// Takes client `id` out of room `name`, if it is there (it may have
    /// been dismissed already).
    pub fn leave(&mut self, name: &Arc<str>, id: ClientId) {
        if let Some(room) = self.rooms.get_mut(name) {
            if room.leave(id) {
                self.clients -= 1;
                self.settle(name);
            }
        }
    }

    /// Records `text` in room `name` and queues it for every member.
    pub fn deliver(&mut self, name: &Arc<str>, text: Utf8Bytes) {
        // A poster whose room is gone has left it since.
        if let Some(room) = self.rooms.get_mut(name) {
            let dropped = room.post(text);
            if dropped > 0 {
                self.clients -= dropped;
                self.settle(name);
            }
        }
    }

    /// Dismisses every client in every room for `why`.
    pub fn dismiss_all(&mut self, why: Farewell) {
        for room in self.rooms.values_mut() {
            room.dismiss_all(why);
        }
        self.clients = 0;
    }

    /// How many clients and rooms there are.
    pub fn stats(&self) -> HubStats {
        let occupied = self.rooms.values().filter(|room| !room.is_empty()).count();
        debug_assert_eq!(
            self.clients,
            self.rooms.values().map(Room::len).sum::<usize>()
        );
        HubStats {
            clients: self.clients,
            rooms: occupied,
            idle_rooms: self.rooms.len() - occupied,
        }
    }

    /// After members left `name`: an emptied room is forgotten, or kept
    /// idle for its history, evicting the longest idle beyond the limit.
    fn settle(&mut self, name: &Arc<str>) {
        let Some(room) = self.rooms.get(name) else {
            return;
        };
        if !room.is_empty() {
            return;
        }
        if !room.has_history() {
            self.rooms.remove(name);
            return;
        }
        self.idle.push_back(Arc::clone(name));
        while self.idle.len() > self.idle_limit {
            if let Some(oldest) = self.idle.pop_front() {
                self.rooms.remove(&oldest);
            }
        }
    }
}

/// One room.
struct Room<Q> {
    /// Who is in the room now.
    members: HashMap<ClientId, Client<Q>>,
    /// The last `history_len` messages, oldest first.
    history: VecDeque<Utf8Bytes>,
    /// How many messages `history` keeps.
    history_len: usize,
}

impl<Q: SendQueue> Room<Q> {
    fn new(history_len: usize) -> Room<Q> {
        Room {
            members: HashMap::new(),
            history: VecDeque::with_capacity(history_len),
            history_len,
        }
    }

    /// Number of clients in the room.
    fn len(&self) -> usize {
        self.members.len()
    }

    fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Whether an empty room has anything worth keeping.
    fn has_history(&self) -> bool {
        !self.history.is_empty()
    }

    /// Adds `client`, first queueing the history for it, oldest first. A
    /// queue too small for the history (the configuration forbids it) is
    /// treated as a slow client.
    fn join(&mut self, client: Client<Q>) {
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
    fn leave(&mut self, id: ClientId) -> bool {
        self.members.remove(&id).is_some()
    }

    /// Records `text` and queues it for every member; returns how many
    /// members were dismissed or found gone.
    fn post(&mut self, text: Utf8Bytes) -> usize {
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
                Err(Refused::Full) => {
                    client.dismiss(Farewell::TooSlow);
                    false
                }
                // Its write pump has ended; its read pump is on its way
                // to unregister.
                Err(Refused::Closed) => false,
            });
        before - self.members.len()
    }

    /// Dismisses every member for `why`.
    fn dismiss_all(&mut self, why: Farewell) {
        for (_, client) in self.members.drain() {
            client.dismiss(why);
        }
    }
}
