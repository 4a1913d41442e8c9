//! What the integration tests share: a runtime with a watchdog, a
//! scripted HTTP backend, a raw HTTP client, and a gateway started from a
//! TOML string.
//!
//! The backend and the client parse HTTP with httparse directly, not with
//! the gateway's own code, so a bug there cannot hide itself by being on
//! both ends of a test.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use grt::net::{TcpListener, TcpStream};
use grt_gateway::gateway::{self, Running};
use grt_gateway::{Config, ServerConfig};

/// Runs `f` as the main task of a fresh runtime; fails the test if it
/// takes more than 30 s (rather than hanging `cargo test`).
pub fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| grt::run(f)));
        let _ = tx.send(outcome);
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("test timed out after 30 s"),
    }
}

/// A request as the backend received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the body came chunked.
    pub chunked: bool,
    /// Which connection (counted from 1) it came on.
    pub conn: usize,
    /// The body's length (for a [`Backend::sink`], which keeps no body).
    pub body_len: usize,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.header(name).is_some()
    }
}

/// What the backend answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub chunked: bool,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Close the connection without answering.
    pub hang_up: bool,
    /// Answer 101 and echo bytes until end-of-file, then half-close.
    pub echo_upgrade: bool,
}

impl Reply {
    pub fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status: 200,
            headers: Vec::new(),
            body: body.into(),
            chunked: false,
            delay: Duration::ZERO,
            hang_up: false,
            echo_upgrade: false,
        }
    }

    pub fn status(mut self, status: u16) -> Reply {
        self.status = status;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn chunked(mut self) -> Reply {
        self.chunked = true;
        self
    }

    pub fn delay(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    pub fn hang_up() -> Reply {
        Reply {
            hang_up: true,
            ..Reply::ok("")
        }
    }

    pub fn echo_upgrade() -> Reply {
        Reply {
            status: 101,
            echo_upgrade: true,
            ..Reply::ok("")
        }
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
    }
}

/// A scripted HTTP/1.1 backend on grt tasks, keep-alive included.
pub struct Backend {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    conns: Arc<AtomicUsize>,
}

type Script = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

impl Backend {
    /// Starts a backend answering each request with `script(request)`.
    pub fn start(script: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Backend {
        Backend::start_with(false, script)
    }

    /// A backend that reads bodies without keeping them and answers with
    /// their length; `GET /generate/N` answers N bytes, written in pieces.
    /// For streaming tests whose memory use must stay small.
    pub fn sink() -> Backend {
        Backend::start_with(true, |req| Reply::ok(req.body_len.to_string()))
    }

    fn start_with(sink: bool, script: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let conns = Arc::new(AtomicUsize::new(0));
        let script: Script = Arc::new(script);
        let (seen2, conns2) = (Arc::clone(&seen), Arc::clone(&conns));
        grt::go(move || loop {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let id = conns2.fetch_add(1, Ordering::SeqCst) + 1;
            let (seen, script) = (Arc::clone(&seen2), Arc::clone(&script));
            grt::go(move || serve_backend_conn(stream, id, sink, &seen, &*script));
        });
        Backend { addr, seen, conns }
    }

    /// A backend answering every request `200 hello`.
    pub fn hello() -> Backend {
        Backend::start(|_| Reply::ok("hello"))
    }

    /// A backend whose `/slow` requests say they arrived (the receiver),
    /// then wait for the test to let them go (the sender) and answer
    /// "slow done"; anything else answers "fast" at once.
    pub fn gated() -> (Backend, grt::chan::Receiver<()>, grt::chan::Sender<()>) {
        let (arrived_tx, arrived) = grt::chan::unbounded::<()>();
        let (release, released) = grt::chan::unbounded::<()>();
        let backend = Backend::start(move |req| {
            if req.target == "/slow" {
                let _ = arrived_tx.send(());
                let _ = released.recv();
                Reply::ok("slow done")
            } else {
                Reply::ok("fast")
            }
        });
        (backend, arrived, release)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn connections(&self) -> usize {
        self.conns.load(Ordering::SeqCst)
    }
}

/// An address nothing listens on, and nothing will: a socket bound to it
/// but never listening is kept for the life of the test process, so the
/// port cannot be handed to another test's listener (the gateway's own,
/// say) while connections to it are refused.
pub fn dead_addr() -> SocketAddr {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    std::mem::forget(socket);
    addr
}

fn serve_backend_conn(
    stream: TcpStream,
    id: usize,
    sink: bool,
    seen: &Mutex<Vec<Seen>>,
    script: &(dyn Fn(&Seen) -> Reply + Send + Sync),
) {
    let mut reader = Reader::new(&stream);
    loop {
        let Some((method, target, headers)) = reader.request_head() else {
            return;
        };
        let chunked = headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
        });
        let mut body_len = 0;
        let body = if chunked {
            reader.chunked_body()
        } else if sink {
            let len = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| v.parse::<usize>().unwrap());
            body_len = reader.discard(len);
            Some(Vec::new())
        } else {
            let len = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| v.parse::<usize>().unwrap());
            reader.exact(len)
        };
        let Some(body) = body else { return };
        let request = Seen {
            method,
            target,
            headers,
            body_len: body_len.max(body.len()),
            body,
            chunked,
            conn: id,
        };
        if let Some(n) = request.target.strip_prefix("/generate/") {
            let n: usize = n.parse().unwrap();
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n");
            if (&stream).write_all(head.as_bytes()).is_err() {
                return;
            }
            let piece = vec![b'g'; 64 * 1024];
            let mut left = n;
            while left > 0 {
                let k = left.min(piece.len());
                if (&stream).write_all(&piece[..k]).is_err() {
                    return;
                }
                left -= k;
            }
            continue;
        }
        seen.lock().unwrap().push(request.clone());
        let reply = script(&request);
        if !reply.delay.is_zero() {
            grt::time::sleep(reply.delay);
        }
        if reply.hang_up {
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        let mut out = format!("HTTP/1.1 {} X\r\n", reply.status);
        for (name, value) in &reply.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        let mut bytes;
        if reply.status == 101 || request.method == "HEAD" && reply.body.is_empty() {
            out.push_str("\r\n");
            bytes = out.into_bytes();
        } else if reply.chunked {
            out.push_str("Transfer-Encoding: chunked\r\n\r\n");
            bytes = out.into_bytes();
            for piece in reply.body.chunks(7) {
                bytes.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                bytes.extend_from_slice(piece);
                bytes.extend_from_slice(b"\r\n");
            }
            bytes.extend_from_slice(b"0\r\n\r\n");
        } else {
            out.push_str(&format!("Content-Length: {}\r\n\r\n", reply.body.len()));
            bytes = out.into_bytes();
            if request.method != "HEAD" {
                bytes.extend_from_slice(&reply.body);
            }
        }
        if (&stream).write_all(&bytes).is_err() {
            return;
        }
        if reply.echo_upgrade {
            let mut rest = reader.take_buffered();
            loop {
                if !rest.is_empty() && (&stream).write_all(&rest).is_err() {
                    return;
                }
                rest.resize(4096, 0);
                match (&stream).read(&mut rest) {
                    Ok(0) | Err(_) => {
                        let _ = stream.shutdown(Shutdown::Write);
                        return;
                    }
                    Ok(n) => rest.truncate(n),
                }
            }
        }
    }
}

/// Header fields as (name, value) text.
type Fields = Vec<(String, String)>;

/// A buffered reader for the test's own HTTP parsing.
struct Reader<'s> {
    stream: &'s TcpStream,
    buf: Vec<u8>,
}

impl<'s> Reader<'s> {
    fn new(stream: &'s TcpStream) -> Reader<'s> {
        Reader {
            stream,
            buf: Vec::new(),
        }
    }

    fn more(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        match (&*self.stream).read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    fn take_buffered(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    fn request_head(&mut self) -> Option<(String, String, Fields)> {
        loop {
            let mut fields = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut fields);
            if let Ok(httparse::Status::Complete(len)) = req.parse(&self.buf) {
                let head = (
                    req.method.unwrap().to_string(),
                    req.path.unwrap().to_string(),
                    owned_fields(req.headers),
                );
                self.buf.drain(..len);
                return Some(head);
            }
            if !self.more() {
                return None;
            }
        }
    }

    fn response_head(&mut self) -> Option<(u16, Vec<(String, String)>)> {
        loop {
            let mut fields = [httparse::EMPTY_HEADER; 64];
            let mut res = httparse::Response::new(&mut fields);
            if let Ok(httparse::Status::Complete(len)) = res.parse(&self.buf) {
                let head = (res.code.unwrap(), owned_fields(res.headers));
                self.buf.drain(..len);
                return Some(head);
            }
            if !self.more() {
                return None;
            }
        }
    }

    fn exact(&mut self, len: usize) -> Option<Vec<u8>> {
        while self.buf.len() < len {
            if !self.more() {
                return None;
            }
        }
        Some(self.buf.drain(..len).collect())
    }

    /// Reads and drops `len` bytes; returns how many came.
    fn discard(&mut self, len: usize) -> usize {
        let mut got = self.buf.len().min(len);
        self.buf.drain(..got);
        let mut piece = vec![0u8; 64 * 1024];
        while got < len {
            let want = piece.len().min(len - got);
            match (&*self.stream).read(&mut piece[..want]) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        got
    }

    fn chunked_body(&mut self) -> Option<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let (len, size) = loop {
                match httparse::parse_chunk_size(&self.buf) {
                    Ok(httparse::Status::Complete(done)) => break done,
                    Ok(httparse::Status::Partial) => {
                        if !self.more() {
                            return None;
                        }
                    }
                    Err(_) => return None,
                }
            };
            self.buf.drain(..len);
            if size == 0 {
                // No trailers in these tests: just the final CRLF.
                self.exact(2)?;
                return Some(body);
            }
            body.extend(self.exact(size as usize)?);
            self.exact(2)?;
        }
    }

    fn until_close(&mut self) -> Vec<u8> {
        while self.more() {}
        std::mem::take(&mut self.buf)
    }
}

fn owned_fields(fields: &[httparse::Header<'_>]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|f| {
            (
                f.name.to_string(),
                String::from_utf8_lossy(f.value).into_owned(),
            )
        })
        .collect()
}

/// A response as the client received it.
#[derive(Debug, Clone)]
pub struct Got {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Got {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A raw HTTP/1.1 client: writes whatever bytes it is given, reads
/// responses as they come.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        (&self.stream).write_all(bytes).unwrap();
    }

    /// Reads one response; `head_request` for the answer to a HEAD.
    pub fn response_to(&mut self, head_request: bool) -> Option<Got> {
        let mut reader = Reader {
            stream: &self.stream,
            buf: std::mem::take(&mut self.buf),
        };
        let (status, headers) = reader.response_head()?;
        let field = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let body = if head_request || status == 204 || status == 304 || status < 200 {
            Vec::new()
        } else if field("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            reader.chunked_body()?
        } else if let Some(len) = field("content-length") {
            reader.exact(len.parse().unwrap())?
        } else {
            reader.until_close()
        };
        self.buf = reader.take_buffered();
        Some(Got {
            status,
            headers,
            body,
        })
    }

    /// Reads one response with a Content-Length body, dropping the body
    /// as it comes; returns the status and the body's length.
    pub fn response_discarding(&mut self) -> (u16, usize) {
        let mut reader = Reader {
            stream: &self.stream,
            buf: std::mem::take(&mut self.buf),
        };
        let (status, headers) = reader.response_head().expect("a response");
        let len: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .expect("a Content-Length");
        let got = reader.discard(len);
        self.buf = reader.take_buffered();
        (status, got)
    }

    /// Reads one response to a request that was not HEAD.
    pub fn response(&mut self) -> Got {
        self.response_to(false).expect("a response")
    }

    /// Sends a request with `fields` and a Content-Length body, and reads
    /// the response.
    pub fn request(
        &mut self,
        method: &str,
        target: &str,
        fields: &[(&str, &str)],
        body: &[u8],
    ) -> Got {
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: test.local\r\n");
        for (name, value) in fields {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        self.send(&bytes);
        self.response_to(method == "HEAD").expect("a response")
    }

    pub fn get(&mut self, target: &str) -> Got {
        self.request("GET", target, &[], b"")
    }

    /// Bytes read past the last response (after a 101: the start of the
    /// new protocol).
    pub fn take_buffered(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Whether the server has closed the connection (reads until
    /// end-of-file or an error, failing on data).
    pub fn is_closed(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut byte = [0u8; 1];
        match (&self.stream).read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(err) => err.kind() != std::io::ErrorKind::TimedOut,
        }
    }
}

/// One request on a new connection.
pub fn get(addr: SocketAddr, target: &str) -> Got {
    Client::connect(addr).get(target)
}

/// A gateway started from `toml` (whose `listen` should be
/// `127.0.0.1:0`), with the default server limits.
pub fn gateway(toml: &str) -> Running {
    gateway_with(toml, ServerConfig::default())
}

pub fn gateway_with(toml: &str, server: ServerConfig) -> Running {
    let config = Config::parse(toml, Path::new("test.toml")).unwrap_or_else(|err| panic!("{err}"));
    gateway::start(&config, server).unwrap()
}

/// A one-route config to `backends` with `extra` lines in the route.
pub fn one_route(backends: &[SocketAddr], extra: &str) -> String {
    let upstreams: Vec<String> = backends
        .iter()
        .map(|addr| format!("{{ addr = \"{addr}\" }}"))
        .collect();
    format!(
        "listen = \"127.0.0.1:0\"\n[[route]]\nprefix = \"/\"\nupstreams = [ {} ]\n{extra}\n",
        upstreams.join(", ")
    )
}
