//! The hub and its rooms on tokio (examples/chat's `hub.rs` and
//! `room.rs`): one task owns every room, and takes one request at a time
//! with `tokio::select!` over its channels; delivery is `try_send` into
//! each member's bounded queue, and a member whose queue is full is
//! dismissed on the spot, so that the hub never waits for a client.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use grt_chat::Config;
use tokio::sync::mpsc::{self, error::TrySendError, Receiver, Sender};
use tungstenite::Utf8Bytes;

use super::client::{Client, ClientId, Farewell};

/// Posts the hub may hold before posters wait: grt's chat's `POST_QUEUE`.
const POST_QUEUE: usize = 256;

/// A handle to the running hub; clones refer to the same hub.
#[derive(Clone)]
pub(crate) struct Hub {
    channels: Arc<Channels>,
}

/// The sending ends of the hub's channels.
struct Channels {
    /// Clients joining (one slot: tokio has no rendezvous channel).
    register: Sender<Client>,
    /// Clients leaving: their room and id (one slot).
    unregister: Sender<(Arc<str>, ClientId)>,
    /// Messages to deliver ([`POST_QUEUE`] deep).
    posts: Sender<Post>,
}

/// A message for a room.
struct Post {
    /// The room it was said in.
    room: Arc<str>,
    /// What was said, tidied (read_pump.rs).
    text: Utf8Bytes,
}

impl Hub {
    /// Starts the hub task on the current tokio runtime.
    pub(crate) fn start(config: &Config) -> Hub {
        let (register, register_rx) = mpsc::channel(1);
        let (unregister, unregister_rx) = mpsc::channel(1);
        let (posts, posts_rx) = mpsc::channel(POST_QUEUE);
        let task = HubTask {
            register: register_rx,
            unregister: unregister_rx,
            posts: posts_rx,
            rooms: HashMap::new(),
            idle: VecDeque::new(),
            history_len: config.history,
            idle_limit: config.idle_rooms,
        };
        tokio::spawn(task.run());
        Hub {
            channels: Arc::new(Channels {
                register,
                unregister,
                posts,
            }),
        }
    }

    /// Joins `client` to its room; gives the record back if the hub has
    /// gone.
    pub(crate) async fn register(&self, client: Client) -> Result<(), Client> {
        self.channels
            .register
            .send(client)
            .await
            .map_err(|err| err.0)
    }

    /// Takes a client out of its room (a no-op if the hub has dismissed
    /// it already).
    pub(crate) async fn unregister(&self, room: &Arc<str>, id: ClientId) {
        let _ = self.channels.unregister.send((Arc::clone(room), id)).await;
    }

    /// Delivers `text` to everyone in `room`.
    pub(crate) async fn post(&self, room: &Arc<str>, text: Utf8Bytes) {
        let post = Post {
            room: Arc::clone(room),
            text,
        };
        let _ = self.channels.posts.send(post).await;
    }
}

/// The hub's own state, living on its task.
struct HubTask {
    /// The receiving ends of [`Channels`]' senders, field for field.
    register: Receiver<Client>,
    unregister: Receiver<(Arc<str>, ClientId)>,
    posts: Receiver<Post>,
    /// Every room with members or history.
    rooms: HashMap<Arc<str>, Room>,
    /// Rooms without members, longest idle first.
    idle: VecDeque<Arc<str>>,
    /// Messages of history per room (`Config::history`).
    history_len: usize,
    /// Idle rooms to keep (`Config::idle_rooms`).
    idle_limit: usize,
}

/// One turn of the hub's loop.
enum Event {
    Register(Client),
    Unregister(Arc<str>, ClientId),
    Post(Post),
    /// Every handle has gone, and with them the server.
    Stop,
}

impl HubTask {
    /// grt's `HubTask::run`, gorilla's `Hub.run`.
    async fn run(mut self) {
        loop {
            let event = tokio::select! {
                client = self.register.recv() => client.map_or(Event::Stop, Event::Register),
                leaving = self.unregister.recv() => {
                    leaving.map_or(Event::Stop, |(room, id)| Event::Unregister(room, id))
                }
                post = self.posts.recv() => post.map_or(Event::Stop, Event::Post),
            };
            match event {
                Event::Register(client) => self.join(client),
                Event::Unregister(room, id) => self.leave(&room, id),
                Event::Post(post) => self.deliver(post),
                Event::Stop => return,
            }
        }
    }

    fn join(&mut self, client: Client) {
        let history_len = self.history_len;
        let name = Arc::clone(&client.room);
        let room = self
            .rooms
            .entry(Arc::clone(&name))
            .or_insert_with(|| Room::new(history_len));
        let was_idle = room.is_empty();
        room.join(client);
        if was_idle && !room.is_empty() {
            self.idle.retain(|idle| *idle != name);
        }
    }

    fn leave(&mut self, name: &Arc<str>, id: ClientId) {
        if let Some(room) = self.rooms.get_mut(name) {
            if room.leave(id) {
                self.settle(name);
            }
        }
    }

    fn deliver(&mut self, post: Post) {
        if let Some(room) = self.rooms.get_mut(&post.room) {
            if room.post(post.text) > 0 {
                self.settle(&post.room);
            }
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
        if room.history.is_empty() {
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

/// A room: its members and its last messages (examples/chat's `room.rs`).
struct Room {
    /// Who is in the room now.
    members: HashMap<ClientId, Client>,
    /// The last `history_len` messages, oldest first.
    history: VecDeque<Utf8Bytes>,
    /// How many messages `history` keeps.
    history_len: usize,
}

impl Room {
    fn new(history_len: usize) -> Room {
        Room {
            members: HashMap::new(),
            history: VecDeque::with_capacity(history_len),
            history_len,
        }
    }

    fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Adds `client` after queueing the history for it; a queue too
    /// small for the history is a slow client.
    fn join(&mut self, client: Client) {
        for text in &self.history {
            if client.send.try_send(text.clone()).is_err() {
                client.dismiss(Farewell::TooSlow);
                return;
            }
        }
        self.members.insert(client.id, client);
    }

    /// Removes a client that left on its own; dropping its record closes
    /// its send queue. False if it was not here.
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
                Err(TrySendError::Full(_)) => {
                    client.goodbye.set(Farewell::TooSlow);
                    false // dropping the record closes the queue
                }
                // Its write pump has ended; its read pump is on its way
                // to unregister.
                Err(TrySendError::Closed(_)) => false,
            });
        before - self.members.len()
    }
}
