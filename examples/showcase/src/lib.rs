//! # grt-showcase: two chat hubs behind a gateway, in one runtime
//!
//! What `cargo run --release` starts: the two showcase crates of this
//! repository working together in one process, on one grt runtime.
//!
//! ```text
//!   browser tabs ──▶ gateway 127.0.0.1:8080 ──┬──▶ chat hub A (127.0.0.1:port)
//!                    (grt-gateway)            └──▶ chat hub B (127.0.0.1:port)
//! ```
//!
//! - Two chat servers ([`grt_chat::Server`]), each with its own hub task
//!   and its own rooms, listening on ports of their own.
//! - A gateway ([`grt_gateway`]) in front of them, configured by
//!   `src/gateway.toml` through the gateway's own parser: `/ws` is hashed
//!   on the `room` query parameter onto a ring of the two hubs, so that
//!   all of a room's clients meet on one hub; `/` (the page) goes to
//!   either.
//!
//! Every connection of the three servers, and both directions of every
//! WebSocket the gateway tunnels, is a task parked on the one net poller:
//! `GRT_SCHEDTRACE=1000 cargo run --release` shows a handful of threads
//! carrying them all. The book's chapter "The gateway: one request
//! through the runtime" (docs/src/gateway.md) follows one request.
//!
//! ## The room as the hub sees it
//! The ring must hash the room the hub will put the client in, or two
//! spellings of one room (`?room=rust`, `?room=%20rust`, no room at all
//! for the default room) could land on different hubs and split it. So
//! one layer of our own sits outside the gateway's routes (`Rooms`, a
//! middleware): for `/ws` it rewrites the query to carry the room exactly
//! as the hub will name it (trimmed, the default room if none), before the
//! proxy hashes it. The same layer notes each room the first time a hub
//! accepts a client for it, and says which hub that is.
//!
//! ## Origins
//! The page comes from the gateway, so its WebSocket goes back to the
//! gateway: `Origin: http://127.0.0.1:8080`. The gateway passes the
//! request's `Host` through unchanged, so the hubs' same-origin check
//! passes by itself; each hub also lists the gateway's origin as allowed
//! ([`grt_chat::Config::allowed_origins`]), so that the showcase keeps
//! working behind a director that rewrites `Host`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use grt::net::TcpListener;
use grt::sync::Mutex;
use grt_gateway::balance::{Clock, ConsistentHash, Health, RequestKey};
use grt_gateway::config::{MiddlewareConfig, RouteConfig};
use grt_gateway::http::RequestHead;
use grt_gateway::middleware::{Chain, Middleware, Next};
use grt_gateway::{Gateway, Handler, Request, Response, ServerConfig};

/// The gateway's configuration, with `{listen}`, `{hub_a}` and `{hub_b}`
/// where the addresses go.
pub const GATEWAY_TOML: &str = include_str!("gateway.toml");

/// Where [`GATEWAY_TOML`] lives, for the parser's `file:line:` messages.
pub const GATEWAY_TOML_PATH: &str = "examples/showcase/src/gateway.toml";

/// How long [`Showcase::shutdown`] waits for the gateway's connections
/// once the hubs have hung up. A tunnel passes a hang-up on in a few
/// milliseconds at most (the tests measure it); half a second covers a
/// loaded machine, and bounds the
/// wait for the idle connections of browsers, which only end with their
/// keep-alive timeout (75 s).
pub const DRAIN: Duration = Duration::from_millis(500);

/// The hubs' names in messages, in the order of [`Options::hub_addrs`].
pub const HUB_NAMES: [&str; 2] = ["A", "B"];

/// What to start, and where.
#[derive(Clone, Debug)]
pub struct Options {
    /// The gateway's address: what browsers open.
    pub addr: String,
    /// The two hubs' addresses (port 0 picks a free port).
    pub hub_addrs: [String; 2],
    /// Keep the routes' `access_log` layers (a line per request on
    /// standard error).
    pub access_log: bool,
    /// Print a line on standard output for each new room, naming its hub.
    pub room_log: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            addr: "127.0.0.1:8080".to_string(),
            hub_addrs: ["127.0.0.1:0".to_string(), "127.0.0.1:0".to_string()],
            access_log: true,
            room_log: true,
        }
    }
}

/// The running showcase; clones are handles to the same one.
#[derive(Clone)]
pub struct Showcase {
    inner: Arc<Inner>,
}

struct Inner {
    /// The gateway.
    front: Front,
    /// The two chat servers, in [`HUB_NAMES`] order.
    hubs: [grt_chat::Server; 2],
}

/// The gateway's half of the showcase.
struct Front {
    /// The gateway's HTTP server.
    server: grt_gateway::Server,
    /// The routes it serves, built from `config`.
    routes: Arc<Gateway>,
    /// The configuration, addresses filled in and checked.
    config: grt_gateway::Config,
    /// The room layer: which hub owns which room.
    rooms: Arc<Rooms>,
}

/// Starts two hubs and the gateway in front of them, as tasks of the
/// current runtime (call it from a grt task), and returns at once. Fails
/// if an address cannot be bound or the configuration does not check;
/// nothing is left running then.
pub fn start(options: &Options) -> io::Result<Showcase> {
    // The gateway's socket first: its address is the origin the hubs
    // must accept, and port 0 is only known once bound.
    let listener = TcpListener::bind(&options.addr)
        .map_err(|err| cannot_listen(err, "the gateway", &options.addr))?;
    let addr = listener.local_addr()?;
    let hub_config = grt_chat::Config {
        allowed_origins: origins_of(addr),
        ..grt_chat::Config::default()
    };
    let [addr_a, addr_b] = &options.hub_addrs;
    let hub_a = grt_chat::Server::start(addr_a, hub_config.clone())
        .map_err(|err| cannot_listen(err, "hub A", addr_a))?;
    let hub_b = match grt_chat::Server::start(addr_b, hub_config) {
        Ok(hub) => hub,
        Err(err) => {
            hub_a.shutdown();
            return Err(cannot_listen(err, "hub B", addr_b));
        }
    };
    let hubs = [hub_a, hub_b];
    match Front::start(listener, addr, &hubs, options) {
        Ok(front) => Ok(Showcase {
            inner: Arc::new(Inner { front, hubs }),
        }),
        Err(err) => {
            for hub in &hubs {
                hub.shutdown();
            }
            Err(err)
        }
    }
}

impl Front {
    /// The configuration with `addr` and the hubs' addresses filled in,
    /// its routes with the room layer outside them, and the server.
    fn start(
        listener: TcpListener,
        addr: SocketAddr,
        hubs: &[grt_chat::Server; 2],
        options: &Options,
    ) -> io::Result<Front> {
        let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidInput, why);
        let source = GATEWAY_TOML
            .replace("{listen}", &addr.to_string())
            .replace("{hub_a}", &hubs[0].local_addr().to_string())
            .replace("{hub_b}", &hubs[1].local_addr().to_string());
        let mut config = grt_gateway::Config::parse(&source, Path::new(GATEWAY_TOML_PATH))
            .map_err(|err| invalid(err.to_string()))?;
        if !options.access_log {
            for route in &mut config.routes {
                route
                    .middleware
                    .retain(|layer| !matches!(layer, MiddlewareConfig::AccessLog));
            }
        }
        let routes = Arc::new(Gateway::from_config(&config).map_err(invalid)?);
        let ws = config
            .routes
            .iter()
            .find(|route| route.prefix == "/ws")
            .ok_or_else(|| invalid(format!("{GATEWAY_TOML_PATH} has no /ws route")))?;
        let rooms = Arc::new(Rooms::new(ws, hubs, options.room_log)?);
        let handler = Chain::new(
            vec![Arc::clone(&rooms) as Arc<dyn Middleware>],
            Arc::clone(&routes) as Arc<dyn Handler>,
        );
        let server =
            grt_gateway::Server::start(listener, Arc::new(handler), ServerConfig::default())?;
        Ok(Front {
            server,
            routes,
            config,
            rooms,
        })
    }
}

impl Showcase {
    /// The gateway's address: the URL to open is `http://{addr}/`.
    pub fn addr(&self) -> SocketAddr {
        self.inner.front.server.local_addr()
    }

    /// The two chat servers, in [`HUB_NAMES`] order.
    pub fn hubs(&self) -> &[grt_chat::Server; 2] {
        &self.inner.hubs
    }

    /// The gateway's server (open connections, accepted so far).
    pub fn gateway(&self) -> &grt_gateway::Server {
        &self.inner.front.server
    }

    /// The gateway's routes.
    pub fn routes(&self) -> &Gateway {
        &self.inner.front.routes
    }

    /// The gateway's configuration, as checked.
    pub fn config(&self) -> &grt_gateway::Config {
        &self.inner.front.config
    }

    /// The hub (an index into [`hubs`](Self::hubs)) that the gateway's
    /// ring gives `room` while both hubs are up; `None` for a name the
    /// hubs would refuse.
    pub fn hub_of(&self, room: &str) -> Option<usize> {
        let room = self.inner.front.rooms.canonical(Some(room))?;
        Some(self.inner.front.rooms.hub_of(&room))
    }

    /// The rooms whose first client a hub has accepted, in the order they
    /// appeared, each with its hub.
    pub fn rooms(&self) -> Vec<(String, usize)> {
        self.inner.front.rooms.seen.lock().clone()
    }

    /// Stops gracefully, in three steps, and returns the number of
    /// gateway connections still open at the end. Call it from a grt task.
    /// 1. The gateway stops accepting.
    /// 2. Both hubs, at once, say goodbye to their clients (close code
    ///    1001, through the gateway's tunnels), wait for the replies (up to
    ///    the hubs' write wait) and hang up.
    /// 3. The gateway's tunnels pass each hang-up on to their client and
    ///    end: we wait for its connections to end, up to [`DRAIN`]. Any
    ///    still open then (idle keep-alive connections of browsers, if the
    ///    gateway's shutdown left them open) close as the process exits.
    ///    Without this step a runtime ended right after the hubs
    ///    would take the tunnels' tasks, and their sockets, with it (grt
    ///    ends the tasks still in a runtime when its main task returns),
    ///    and a client in a process that lives on would never see its
    ///    connection end.
    pub fn shutdown(&self) -> usize {
        let inner = &self.inner;
        inner.front.server.shutdown();
        let other = inner.hubs[1].clone();
        let other = grt::go(move || other.shutdown());
        inner.hubs[0].shutdown();
        let _ = other.join();
        // Polling, as Go's `http.Server.Shutdown` waits for its
        // connections: the count is what the gateway offers that includes
        // its tunnels.
        let deadline = Instant::now() + DRAIN;
        while inner.front.server.open_connections() > 0 && Instant::now() < deadline {
            grt::time::sleep(Duration::from_millis(5));
        }
        inner.front.server.open_connections()
    }
}

/// The layer outside the gateway's routes (module doc, "The room as the
/// hub sees it"): puts the hub's spelling of the room into `/ws` requests,
/// and notes which hub each room lives on.
struct Rooms {
    /// A copy of the `/ws` route's ring: the same backends make the same
    /// ring (consistent_hash.rs: a point depends only on its backend's
    /// address), and [`ConsistentHash::owner`] answers without touching
    /// the route's health bookkeeping.
    ring: ConsistentHash,
    /// For each backend of the route, in its order, the hub it is.
    hub_of_backend: Vec<usize>,
    /// The hubs' addresses, for messages.
    hub_addrs: [SocketAddr; 2],
    /// Where clients that name no room go (the hubs' `default_room`).
    default_room: String,
    /// The longest room name the hubs accept.
    max_room_name: usize,
    /// Rooms a hub has accepted a client for, with the hub, in order.
    seen: Mutex<Vec<(String, usize)>>,
    /// Print a line per new room.
    log: bool,
}

impl Rooms {
    fn new(ws: &RouteConfig, hubs: &[grt_chat::Server; 2], log: bool) -> io::Result<Rooms> {
        let hub_addrs = [hubs[0].local_addr(), hubs[1].local_addr()];
        let hub_of_backend = ws
            .backends
            .iter()
            .map(|backend| {
                hub_addrs
                    .iter()
                    .position(|&hub| hub == backend.addr)
                    .ok_or_else(|| {
                        io::Error::new(
                            io::ErrorKind::InvalidInput,
                            format!("/ws upstream {} is not one of the hubs", backend.addr),
                        )
                    })
            })
            .collect::<io::Result<Vec<usize>>>()?;
        let health = Health::new(ws.backends.len(), ws.health, Clock::system());
        let config = hubs[0].config();
        Ok(Rooms {
            ring: ConsistentHash::new(&ws.backends, health),
            hub_of_backend,
            hub_addrs,
            default_room: config.default_room.clone(),
            max_room_name: config.max_room_name,
            seen: Mutex::new(Vec::new()),
            log,
        })
    }

    /// The room a hub makes of a `room` parameter (the chat's
    /// `upgrade.rs`: trimmed, the default room if absent or blank), or
    /// `None` if the hub would refuse the name as too long.
    fn canonical(&self, param: Option<&str>) -> Option<String> {
        let room = param
            .map(str::trim)
            .filter(|room| !room.is_empty())
            .unwrap_or(&self.default_room);
        (room.len() <= self.max_room_name).then(|| room.to_string())
    }

    /// The hub that owns `room` on the ring.
    fn hub_of(&self, room: &str) -> usize {
        let key = RequestKey {
            // Unused: a non-empty key is hashed, never the address.
            client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            hash_key: Some(room.as_bytes()),
        };
        self.hub_of_backend[self.ring.owner(&key)]
    }

    /// Records `room` if it is new, printing which hub has it.
    fn note(&self, room: &str) {
        let hub = self.hub_of(room);
        let mut seen = self.seen.lock();
        if seen.iter().any(|(known, _)| known == room) {
            return;
        }
        seen.push((room.to_string(), hub));
        drop(seen);
        if self.log {
            println!(
                "showcase: room {room:?} lives on hub {} ({})",
                HUB_NAMES[hub], self.hub_addrs[hub]
            );
        }
    }
}

impl Middleware for Rooms {
    fn handle(&self, mut req: Request<'_>, next: Next<'_>) -> Response {
        if req.head.path() != "/ws" {
            return next.run(req);
        }
        let Some(room) = self.canonical(room_param(&req.head).as_deref()) else {
            return next.run(req); // the hub answers 400
        };
        set_room(&mut req.head, &room);
        let response = next.run(req);
        if response.status() == 101 {
            self.note(&room);
        }
        response
    }
}

/// The first `room` parameter of the query, percent-decoded (the one the
/// hub and the gateway's `query:room` key both read).
fn room_param(head: &RequestHead) -> Option<String> {
    form_urlencoded::parse(head.query()?.as_bytes())
        .find(|(name, _)| name == "room")
        .map(|(_, value)| value.into_owned())
}

/// Makes `room` the query's only `room` parameter, keeping the others.
fn set_room(head: &mut RequestHead, room: &str) {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in form_urlencoded::parse(head.query().unwrap_or("").as_bytes()) {
        if name != "room" {
            query.append_pair(&name, &value);
        }
    }
    query.append_pair("room", room);
    head.target = format!("{}?{}", head.path(), query.finish());
}

/// The origins a browser sends for pages from `addr`: the address
/// itself, and `localhost` for a loopback address.
fn origins_of(addr: SocketAddr) -> Vec<String> {
    let mut origins = vec![format!("http://{addr}")];
    if addr.ip().is_loopback() {
        origins.push(format!("http://localhost:{}", addr.port()));
    }
    origins
}

/// `err`, saying who could not listen where; of the same kind.
fn cannot_listen(err: io::Error, who: &str, addr: &str) -> io::Error {
    io::Error::new(err.kind(), format!("{who} cannot listen on {addr}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_room_goes_into_the_query_once() {
        let mut head = RequestHead::new("GET", "/ws?x=1&room=%20a+b%20&room=c");
        set_room(&mut head, "a b");
        assert_eq!(head.target, "/ws?x=1&room=a+b");
        assert_eq!(room_param(&head).as_deref(), Some("a b"));
        let mut bare = RequestHead::new("GET", "/ws");
        assert_eq!(room_param(&bare), None);
        set_room(&mut bare, "lobby");
        assert_eq!(bare.target, "/ws?room=lobby");
    }

    #[test]
    fn the_template_names_every_address() {
        for hole in ["{listen}", "{hub_a}", "{hub_b}"] {
            assert!(GATEWAY_TOML.contains(hole), "{hole}");
        }
        let source = GATEWAY_TOML
            .replace("{listen}", "127.0.0.1:8080")
            .replace("{hub_a}", "127.0.0.1:8081")
            .replace("{hub_b}", "127.0.0.1:8082");
        let config = grt_gateway::Config::parse(&source, Path::new(GATEWAY_TOML_PATH)).unwrap();
        let ws = config.routes.iter().find(|r| r.prefix == "/ws").unwrap();
        assert_eq!(ws.balancer, "consistent_hash");
        assert_eq!(ws.hash_key.to_string(), "query:room");
        assert_eq!(ws.backends.len(), 2);
    }

    #[test]
    fn loopback_pages_have_two_origins() {
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(
            origins_of(addr),
            ["http://127.0.0.1:8080", "http://localhost:8080"]
        );
    }
}
