//! The hub on tokio (examples/chat's `hub.rs`): one task owns every room,
//! and takes one request at a time with `tokio::select!` over its
//! channels. The rooms are grt's chat's own `Rooms` (examples/chat's
//! `room.rs`), over tokio's queues: delivery is `try_send` into each
//! member's bounded queue, and a member whose queue is full is dismissed
//! on the spot, so that the hub never waits for a client.

use std::sync::Arc;

use grt_chat::{ClientId, Config, Rooms, POST_QUEUE};
use tokio::sync::mpsc::{self, Receiver, Sender};
use tungstenite::Utf8Bytes;

use super::client::{Client, Queue};

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
            rooms: Rooms::new(config.history, config.idle_rooms),
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
    /// Every room with members or history: grt's chat's bookkeeping.
    rooms: Rooms<Queue>,
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
                Event::Register(client) => self.rooms.join(client),
                Event::Unregister(room, id) => self.rooms.leave(&room, id),
                Event::Post(post) => self.rooms.deliver(&post.room, post.text),
                Event::Stop => return,
            }
        }
    }
}
