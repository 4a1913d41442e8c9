//! Helpers for the chat tests: a server on its own runtime thread, a
//! WebSocket chat client over std sockets, raw HTTP exchanges, and
//! waiting for a condition with a deadline instead of sleeping.

#![allow(dead_code)] // each test file uses its own share of these

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use grt_chat::{Config, Server, ServerStats};
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};

/// How long any single wait in a test may take before it fails: generous,
/// since a loaded 2-core CI machine can be slow, and a passing test never
/// waits this long.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Servers running in one grt runtime on a thread of their own; shut
/// down when dropped.
pub struct TestServers {
    pub servers: Vec<Server>,
    thread: Option<JoinHandle<()>>,
}

impl TestServers {
    /// One server per config, all in the same runtime (so their hubs share
    /// a process and a scheduler, as the gateway showcase's will).
    pub fn start(configs: Vec<Config>) -> TestServers {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            grt::run(move || {
                let servers: Vec<Server> = configs
                    .into_iter()
                    .map(|config| Server::start("127.0.0.1:0", config).expect("start a server"))
                    .collect();
                tx.send(servers.clone()).unwrap();
                for server in &servers {
                    server.wait();
                }
            })
        });
        let servers = rx.recv().expect("the servers started");
        TestServers {
            servers,
            thread: Some(thread),
        }
    }

    pub fn one(config: Config) -> TestServers {
        TestServers::start(vec![config])
    }

    pub fn addr(&self) -> SocketAddr {
        self.servers[0].local_addr()
    }

    pub fn server(&self) -> &Server {
        &self.servers[0]
    }

    pub fn stats(&self) -> ServerStats {
        self.server().stats()
    }

    /// Waits until the first server's stats satisfy `ok`.
    pub fn wait_for(&self, what: &str, ok: impl Fn(&ServerStats) -> bool) {
        wait_until(what, || ok(&self.stats()));
    }
}

impl Drop for TestServers {
    fn drop(&mut self) {
        for server in &self.servers {
            server.shutdown();
        }
        if let Some(thread) = self.thread.take() {
            let outcome = thread.join();
            if !std::thread::panicking() {
                outcome.expect("the runtime thread");
            }
        }
    }
}

/// Polls `done` until it holds, failing after [`PATIENCE`].
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What a chat client saw next.
#[derive(Debug, PartialEq)]
pub enum Seen {
    Line(String),
    Close(Option<CloseFrame>),
    /// The connection ended without a close frame, or failed.
    Gone(String),
}

/// A chat client: a tungstenite WebSocket over a std socket, which splits
/// the server's frames into lines (the write pump batches messages one
/// per line).
pub struct Chat {
    pub ws: WebSocket<TcpStream>,
    lines: VecDeque<String>,
}

impl Chat {
    /// Joins `room` (the default room for `None`).
    pub fn join(addr: SocketAddr, room: Option<&str>) -> Chat {
        Chat::over(TcpStream::connect(addr).expect("connect"), addr, room)
    }

    /// Joins over a socket the caller connected (to set its options).
    pub fn over(stream: TcpStream, addr: SocketAddr, room: Option<&str>) -> Chat {
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.set_write_timeout(Some(PATIENCE)).unwrap();
        let url = match room {
            Some(room) => format!("ws://{addr}/ws?room={room}"),
            None => format!("ws://{addr}/ws"),
        };
        let (ws, response) = tungstenite::client(url, stream).expect("handshake");
        assert_eq!(response.status(), 101);
        Chat {
            ws,
            lines: VecDeque::new(),
        }
    }

    pub fn say(&mut self, text: &str) {
        self.ws.send(Message::text(text)).expect("send");
    }

    /// The next line, close frame, or end.
    pub fn next(&mut self) -> Seen {
        loop {
            if let Some(line) = self.lines.pop_front() {
                return Seen::Line(line);
            }
            match self.ws.read() {
                Ok(Message::Text(text)) => self.lines.extend(text.split('\n').map(String::from)),
                Ok(Message::Close(frame)) => return Seen::Close(frame),
                Ok(_) => {}
                Err(err) => return Seen::Gone(err.to_string()),
            }
        }
    }

    /// The next line; fails on anything else.
    pub fn line(&mut self) -> String {
        match self.next() {
            Seen::Line(line) => line,
            other => panic!("expected a line, saw {other:?}"),
        }
    }

    /// Skips lines until the close frame, and returns it.
    pub fn close_frame(&mut self) -> Option<CloseFrame> {
        loop {
            match self.next() {
                Seen::Line(_) => {}
                Seen::Close(frame) => return frame,
                Seen::Gone(why) => panic!("expected a close frame, the connection ended: {why}"),
            }
        }
    }

    /// Reads until the connection ends (answering a close frame on the
    /// way, as tungstenite does); true if it ended cleanly.
    pub fn finish(&mut self) -> bool {
        loop {
            match self.ws.read() {
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed) => return true,
                Err(_) => return false,
            }
        }
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Header lines, as sent.
    pub head: String,
    pub body: String,
}

impl Reply {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (field, value) = line.split_once(':')?;
            field.eq_ignore_ascii_case(name).then_some(value.trim())
        })
    }
}

/// Sends `request` as is, and reads the response: to the end of the
/// connection, or just the head for a 101.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(request).expect("send the request");
    read_reply(&mut stream)
}

/// Reads a response from `stream` (see [`exchange`]).
pub fn read_reply(stream: &mut TcpStream) -> Reply {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).expect("read the response");
        bytes.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&bytes);
        if n == 0 || (text.starts_with("HTTP/1.1 101 ") && text.contains("\r\n\r\n")) {
            break;
        }
    }
    let text = String::from_utf8(bytes).expect("a text response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// A WebSocket handshake for `/ws` to `addr`, with `extra` header lines
/// added and the standard fields named in `omit` left out.
pub fn handshake(addr: SocketAddr, extra: &[&str], omit: &[&str]) -> Vec<u8> {
    let host = format!("Host: {addr}");
    let standard = [
        host.as_str(),
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ];
    let mut request = String::from("GET /ws HTTP/1.1\r\n");
    for line in standard.iter().chain(extra) {
        let name = line.split(':').next().unwrap();
        if !omit.iter().any(|o| o.eq_ignore_ascii_case(name)) {
            request.push_str(line);
            request.push_str("\r\n");
        }
    }
    request.push_str("\r\n");
    request.into_bytes()
}
