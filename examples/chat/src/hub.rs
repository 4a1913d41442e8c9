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
//! The rooms themselves, made on first use and kept idle for their
//! history, are plain data (room.rs); this file is the task and its
//! channels.
//!
//! A hub is a value, not a global: a process may start as many as it
//! likes (the gateway showcase runs two), each with its own task, and
//! [`Hub::stop`] ends one.

use std::sync::Arc;

use grt::chan::{self, Receiver, Sender};
use tungstenite::Utf8Bytes;

use crate::client::{Client, ClientId, Farewell};
use crate::config::Config;
use crate::room::Rooms;

/// Posts the hub may hold before posters wait. gorilla's broadcast
/// channel is unbuffered; a small buffer lets a read pump hand over a
/// message and go back to reading while the hub is busy delivering the
/// previous one, and still makes posters wait when the hub falls behind.
/// Public so that the tokio twin in benches (`tokio_chat`) queues as many.
pub const POST_QUEUE: usize = 256;

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
            rooms: Rooms::new(config.history, config.idle_rooms),
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
    rooms: Rooms<Sender<Utf8Bytes>>,
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
                Event::Register(client) => self.rooms.join(client),
                Event::Unregister(room, id) => self.rooms.leave(&room, id),
                Event::Post(post) => self.rooms.deliver(&post.room, post.text),
                Event::Stats(reply) => {
                    let _ = reply.try_send(self.rooms.stats());
                }
                Event::Stop => break,
            }
        }
        self.rooms.dismiss_all(Farewell::ShuttingDown);
    }
}
