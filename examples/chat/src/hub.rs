//! The hub: one task that owns every room and is the only one to touch
//! them (gorilla's `hub.go`).
//!
//! Clients do not share a locked map of rooms; they send the hub what
//! they want done, and the hub's loop takes one request at a time with
//! `grt::select!` over its channels, as gorilla's `Hub.run` does with
//! Go's `select`:
//! - `register`: a client joins its room and gets the room's history;
//! - `unregister`: a client leaves (its read pump ended);
//! - `posts`: a message to deliver to every member of one room;
//! - `requests`: statistics, or stop.
//!
//! Since the hub alone owns the rooms, their state needs no lock, and the
//! order in which the hub takes requests *is* the order of events: a
//! message posted before a client registered is in the history it gets,
//! one posted after is in its queue, never both or neither.
//!
//! The hub never waits on a client. Delivery is `try_send` into each
//! member's bounded queue, and a member whose queue is full is dismissed
//! (room.rs); registering and unregistering are rendezvous sends from the
//! client's side (Go's unbuffered channels), so a client that is still
//! being registered when the hub stops gets its record back instead of
//! leaving it in a buffer nobody reads.
//!
//! Rooms are made on first use. A room whose last member leaves is kept
//! for its history, up to `Config::idle_rooms` of them; beyond that the
//! longest idle is forgotten.
//!
//! A hub is a value, not a global: a process may start as many as it
//! likes (the gateway showcase runs two), each with its own task, and
//! [`Hub::stop`] ends one.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use grt::chan::{self, Receiver, Sender};
use tungstenite::Utf8Bytes;

use crate::client::{Client, ClientId, Farewell};
use crate::config::Config;
use crate::room::Room;

/// Posts the hub may hold before posters wait. gorilla's broadcast
/// channel is unbuffered; a small buffer lets a read pump hand over a
/// message and go back to reading while the hub is busy delivering the
/// previous one, and still makes posters wait when the hub falls behind.
const POST_QUEUE: usize = 256;

/// A handle to a running hub; clones refer to the same hub.
#[derive(Clone)]
pub struct Hub {
    channels: Arc<Channels>,
}

/// The sending ends of the hub's channels. When the last handle goes, the
/// channels close and the hub stops.
struct Channels {
    /// Clients joining (rendezvous: see the module doc).
    register: Sender<Client>,
    /// Clients leaving: their room and id (rendezvous).
    unregister: Sender<(Arc<str>, ClientId)>,
    /// Messages to deliver ([`POST_QUEUE`] deep).
    posts: Sender<Post>,
    /// Questions and orders from the handles (rendezvous).
    requests: Sender<Request>,
    /// Closed when the hub's task ends.
    done: Receiver<()>,
}

/// A message for a room.
struct Post {
    /// The room it was said in.
    room: Arc<str>,
    /// What was said, tidied (read_pump.rs).
    text: Utf8Bytes,
}

/// What a handle may ask of the hub.
enum Request {
    /// Send the current numbers on this channel.
    Stats(Sender<HubStats>),
    /// Dismiss everyone and end.
    Stop,
}

/// What the hub holds, at the moment it was asked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HubStats {
    /// Clients registered.
    pub clients: usize,
    /// Rooms with at least one client.
    pub rooms: usize,
    /// Rooms without clients, kept for their history.
    pub idle_rooms: usize,
}

impl Hub {
    /// Starts a hub task in the current runtime (panics outside one, as
    /// `grt::go` does).
    pub fn start(config: &Config) -> Hub {
        let (register, register_rx) = chan::bounded(0);
        let (unregister, unregister_rx) = chan::bounded(0);
        let (posts, posts_rx) = chan::bounded(POST_QUEUE);
        let (requests, requests_rx) = chan::bounded(0);
        let (done_tx, done) = chan::bounded(0);
        let task = HubTask {
            register: register_rx,
            unregister: unregister_rx,
            posts: posts_rx,
            requests: requests_rx,
            rooms: HashMap::new(),
            idle: VecDeque::new(),
            clients: 0,
            history_len: config.history,
            idle_limit: config.idle_rooms,
        };
        crate::go_named("chat-hub", move || {
            task.run();
            drop(done_tx);
        });
        Hub {
            channels: Arc::new(Channels {
                register,
                unregister,
                posts,
                requests,
                done,
            }),
        }
    }

    /// Stops the hub: every client is dismissed with "going away" (its
    /// write pump sends close code 1001), and the hub's task ends. Returns
    /// once it has; the clients' closing handshakes go on in their own
    /// tasks. Later calls, and calls on a stopped hub, return at once.
    pub fn stop(&self) {
        let _ = self.channels.requests.send(Request::Stop);
        self.wait();
    }

    /// Waits until the hub has stopped (by [`stop`](Self::stop), here or
    /// elsewhere). A program's main task should not return before: the
    /// runtime would end with the hub's task in mid-stop.
    pub fn wait(&self) {
        let _ = self.channels.done.recv();
    }

    /// How many clients and rooms the hub holds, or `None` if it has
    /// stopped.
    pub fn stats(&self) -> Option<HubStats> {
        let (reply, answer) = chan::bounded(1);
        self.channels.requests.send(Request::Stats(reply)).ok()?;
        answer.recv().ok()
    }

    /// Joins `client` to its room; gives the record back if the hub has
    /// stopped.
    pub(crate) fn register(&self, client: Client) -> Result<(), Client> {
        self.channels.register.send(client).map_err(|err| err.0)
    }

    /// Takes a client out of its room (a no-op if the hub has dismissed
    /// it already, or has stopped).
    pub(crate) fn unregister(&self, room: &Arc<str>, id: ClientId) {
        let _ = self.channels.unregister.send((Arc::clone(room), id));
    }

    /// Delivers `text` to everyone in `room` (dropped if the hub has
    /// stopped).
    pub(crate) fn post(&self, room: &Arc<str>, text: Utf8Bytes) {
        let _ = self.channels.posts.send(Post {
            room: Arc::clone(room),
            text,
        });
    }
}

/// The hub's own state, living on its task.
struct HubTask {
    /// The receiving ends of [`Channels`]' senders, field for field.
    register: Receiver<Client>,
    unregister: Receiver<(Arc<str>, ClientId)>,
    posts: Receiver<Post>,
    requests: Receiver<Request>,
    /// Every room with members or history.
    rooms: HashMap<Arc<str>, Room>,
    /// Rooms without members, longest idle first.
    idle: VecDeque<Arc<str>>,
    /// Clients in all rooms.
    clients: usize,
    /// Messages of history per room (`Config::history`).
    history_len: usize,
    /// Idle rooms to keep (`Config::idle_rooms`).
    idle_limit: usize,
}

/// One turn of the hub's loop.
enum Event {
    /// A client joins.
    Register(Client),
    /// A client leaves its room.
    Unregister(Arc<str>, ClientId),
    /// A message for a room.
    Post(Post),
    /// Numbers, please.
    Stats(Sender<HubStats>),
    /// `stop`, or every handle dropped (all channels close together).
    Stop,
}

impl HubTask {
    /// gorilla's `Hub.run`.
    fn run(mut self) {
        loop {
            let event = grt::select! {
                recv(self.register) -> client => client.map_or(Event::Stop, Event::Register),
                recv(self.unregister) -> leaving => {
                    leaving.map_or(Event::Stop, |(room, id)| Event::Unregister(room, id))
                }
                recv(self.posts) -> post => post.map_or(Event::Stop, Event::Post),
                recv(self.requests) -> request => match request {
                    Ok(Request::Stats(reply)) => Event::Stats(reply),
                    Ok(Request::Stop) | Err(_) => Event::Stop,
                },
            };
            match event {
                Event::Register(client) => self.join(client),
                Event::Unregister(room, id) => self.leave(&room, id),
                Event::Post(post) => self.deliver(post),
                Event::Stats(reply) => {
                    let _ = reply.try_send(self.stats());
                }
                Event::Stop => break,
            }
        }
        for room in self.rooms.values_mut() {
            room.dismiss_all(Farewell::ShuttingDown);
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
        if room.is_empty() {
            return; // dismissed at once: its queue could not take the history
        }
        self.clients += 1;
        if was_idle {
            self.idle.retain(|idle| *idle != name);
        }
    }

    fn leave(&mut self, name: &Arc<str>, id: ClientId) {
        if let Some(room) = self.rooms.get_mut(name) {
            if room.leave(id) {
                self.clients -= 1;
                self.settle(name);
            }
        }
    }

    fn deliver(&mut self, post: Post) {
        // A poster whose room is gone has left it since.
        if let Some(room) = self.rooms.get_mut(&post.room) {
            let dropped = room.post(post.text);
            if dropped > 0 {
                self.clients -= dropped;
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

    fn stats(&self) -> HubStats {
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
}
