//! The showcase end to end: two chat hubs and the gateway in one grt
//! runtime (`grt_showcase::start`, on a thread of its own), and WebSocket
//! clients on the test's thread (tungstenite over std sockets) that reach
//! the hubs only through the gateway.
//!
//! What must hold: a room's messages reach every client of that room and
//! no client of another; every client of a room lands on the hub the
//! gateway's ring gives it (seen in the hubs' own statistics), however
//! the room is spelled; the page and the origin check work through the
//! gateway; and shutting down says goodbye (1001) through the tunnels.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use grt_showcase::{Options, Showcase};
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

/// How long any one wait may take before the test fails: generous for a
/// loaded 2-core machine; a passing test never waits this long.
const PATIENCE: Duration = Duration::from_secs(20);

/// How long a client must hear nothing to count as "received nothing".
const QUIET: Duration = Duration::from_millis(300);

/// The showcase on its own runtime thread; stopped when dropped.
struct Running {
    showcase: Showcase,
    stop: grt::chan::Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    fn start() -> Running {
        let (started, handle) = std::sync::mpsc::channel();
        let (stop, stopped) = grt::chan::bounded::<()>(1);
        let thread = std::thread::spawn(move || {
            grt::run(move || {
                let options = Options {
                    addr: "127.0.0.1:0".to_string(),
                    access_log: false,
                    room_log: false,
                    ..Options::default()
                };
                let showcase = grt_showcase::start(&options).expect("start the showcase");
                started.send(showcase.clone()).unwrap();
                let _ = stopped.recv();
                showcase.shutdown();
            })
        });
        let showcase = handle.recv().expect("the showcase started");
        Running {
            showcase,
            stop,
            thread: Some(thread),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.showcase.addr()
    }

    /// Asks the runtime thread to shut the showcase down (without waiting).
    fn begin_shutdown(&self) {
        let _ = self.stop.try_send(());
    }

    /// Waits until the hubs' statistics satisfy `ok`.
    fn wait_for_hubs(&self, what: &str, ok: impl Fn([(usize, usize); 2]) -> bool) {
        wait_until(what, || {
            let [a, b] = self.showcase.hubs().each_ref().map(|hub| {
                let stats = hub.stats().hub;
                (stats.clients, stats.rooms)
            });
            ok([a, b])
        });
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.begin_shutdown();
        if let Some(thread) = self.thread.take() {
            let outcome = thread.join();
            if !std::thread::panicking() {
                outcome.expect("the runtime thread");
            }
        }
    }
}

/// Polls `done` until it holds, failing after [`PATIENCE`].
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A chat client connected through the gateway; the hub's frames may
/// carry several messages, one per line.
struct Client {
    ws: WebSocket<TcpStream>,
    lines: VecDeque<String>,
}

impl Client {
    /// Opens `/ws?{query}` on the gateway as a page from the gateway
    /// would: with the gateway's own origin.
    fn join(addr: SocketAddr, query: &str) -> Client {
        let origin = format!("http://{addr}");
        match Client::try_join(addr, query, &origin) {
            Ok(client) => client,
            Err(status) => panic!("/ws?{query}: refused with {status}"),
        }
    }

    /// The handshake, or the status it was refused with.
    fn try_join(addr: SocketAddr, query: &str, origin: &str) -> Result<Client, u16> {
        let stream = TcpStream::connect(addr).expect("connect to the gateway");
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.set_write_timeout(Some(PATIENCE)).unwrap();
        let mut request = format!("ws://{addr}/ws?{query}")
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
        match tungstenite::client(request, stream) {
            Ok((ws, response)) => {
                assert_eq!(response.status(), 101);
                Ok(Client {
                    ws,
                    lines: VecDeque::new(),
                })
            }
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
                Err(response.status().as_u16())
            }
            Err(err) => panic!("/ws?{query}: handshake failed: {err}"),
        }
    }

    fn say(&mut self, text: &str) {
        self.ws.send(Message::text(text)).expect("send");
    }

    /// The next line, waiting up to `wait`; `None` if none came.
    fn line_within(&mut self, wait: Duration) -> Option<String> {
        if let Some(line) = self.lines.pop_front() {
            return Some(line);
        }
        self.ws.get_ref().set_read_timeout(Some(wait)).unwrap();
        let line = loop {
            match self.ws.read() {
                Ok(Message::Text(text)) => {
                    self.lines.extend(text.split('\n').map(String::from));
                    break self.lines.pop_front();
                }
                Ok(Message::Close(frame)) => panic!("closed unexpectedly: {frame:?}"),
                Ok(_) => {}
                Err(tungstenite::Error::Io(err))
                    if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    break None
                }
                Err(err) => panic!("the connection failed: {err}"),
            }
        };
        self.ws.get_ref().set_read_timeout(Some(PATIENCE)).unwrap();
        line
    }

    /// The next line; fails if none comes within [`PATIENCE`].
    fn line(&mut self) -> String {
        self.line_within(PATIENCE)
            .expect("a line within the patience")
    }

    /// Skips lines until the close frame, answers it (as a browser
    /// does), reads on until the connection ends, and returns the frame's
    /// code.
    fn close_code(&mut self) -> CloseCode {
        let code = loop {
            match self.ws.read() {
                Ok(Message::Close(frame)) => break frame.expect("a close frame with a code").code,
                Ok(_) => {}
                Err(err) => panic!("expected a close frame, the connection failed: {err}"),
            }
        };
        loop {
            match self.ws.read() {
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed) => return code,
                Err(err) => panic!("the closing handshake failed: {err}"),
            }
        }
    }
}

/// A room name the gateway's ring gives to hub `hub`.
fn room_on(showcase: &Showcase, hub: usize) -> String {
    (0..1000)
        .map(|i| format!("room-{i}"))
        .find(|room| showcase.hub_of(room) == Some(hub))
        .expect("some room on each hub")
}

#[test]
fn rooms_stay_apart_and_each_lives_on_one_hub() {
    let running = Running::start();
    let showcase = &running.showcase;
    let addr = running.addr();
    let (room_a, room_b) = (room_on(showcase, 0), room_on(showcase, 1));

    // Three clients per room, the third of each spelling its room with
    // blanks around it (the hub trims them): the gateway must hash the
    // room the hub sees, or it would split the room.
    let join = |room: &str| -> Vec<Client> {
        vec![
            Client::join(addr, &format!("room={room}")),
            Client::join(addr, &format!("x=1&room={room}")),
            Client::join(addr, &format!("room=%20{room}+")),
        ]
    };
    let mut in_a = join(&room_a);
    let mut in_b = join(&room_b);

    // Each hub holds exactly one room with three clients: every client
    // of room A is on hub A, every client of room B on hub B.
    running.wait_for_hubs("three clients in one room on each hub", |hubs| {
        hubs == [(3, 1), (3, 1)]
    });
    let mut seen = showcase.rooms();
    seen.sort();
    let mut expected = vec![(room_a.clone(), 0), (room_b.clone(), 1)];
    expected.sort();
    assert_eq!(seen, expected, "the showcase's room log");

    // A message in room B reaches every client of room B...
    in_b[1].say("hello from B");
    for client in &mut in_b {
        assert_eq!(client.line(), "hello from B");
    }
    // ...and one in room A every client of room A, and nothing from B
    // comes before it (the hubs deliver in order within a room).
    in_a[0].say("hello from A");
    for client in &mut in_a {
        assert_eq!(client.line(), "hello from A");
    }
    // Nothing else arrives anywhere.
    for client in in_a.iter_mut().chain(&mut in_b) {
        assert_eq!(client.line_within(QUIET), None);
    }

    // Shutting down: the gateway stops accepting, the hubs close every
    // client with 1001 through the gateway's tunnels.
    running.begin_shutdown();
    for client in in_a.iter_mut().chain(&mut in_b) {
        assert_eq!(client.close_code(), CloseCode::Away);
    }
}

#[test]
fn no_room_means_the_default_room_on_its_hub() {
    let running = Running::start();
    let showcase = &running.showcase;
    let addr = running.addr();
    let default_room = showcase.hubs()[0].config().default_room.clone();
    let hub = showcase.hub_of(&default_room).unwrap();

    let mut bare = Client::join(addr, "x=1");
    let mut blank = Client::join(addr, "room=+");
    let mut named = Client::join(addr, &format!("room={default_room}"));
    running.wait_for_hubs("three clients in the default room", |hubs| {
        hubs[hub] == (3, 1) && hubs[1 - hub] == (0, 0)
    });
    bare.say("anyone?");
    for client in [&mut bare, &mut blank, &mut named] {
        assert_eq!(client.line(), "anyone?");
    }
    assert_eq!(showcase.rooms(), [(default_room, hub)]);
}

#[test]
fn the_page_comes_through_the_gateway_and_strangers_are_refused() {
    let running = Running::start();
    let addr = running.addr();

    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        conn,
        "GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    // The route's request_id layer answered through the gateway.
    assert!(
        reply.to_ascii_lowercase().contains("x-request-id: "),
        "{reply}"
    );
    // The page opens its WebSocket on its own origin: the gateway.
    assert!(reply.contains("location.host + \"/ws\""), "{reply}");

    // A page from elsewhere may not open a WebSocket through the gateway.
    let refused = Client::try_join(addr, "room=r", "http://evil.example").err();
    assert_eq!(refused, Some(403));
    assert!(running.showcase.rooms().is_empty());
    // The gateway's own origin may (the hubs list it as allowed).
    let _client = Client::join(addr, "room=r");
    wait_until("the client on its hub", || {
        running.showcase.rooms().len() == 1
    });
}
