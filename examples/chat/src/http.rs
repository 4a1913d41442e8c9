//! Just enough HTTP/1.1 for a chat server: read one request head within a
//! size limit and a deadline, and write one response.
//!
//! gorilla leaves this to Go's `net/http`. We parse the head ourselves
//! with `httparse` (a parser, no I/O) so that every rejection is ours to
//! choose and to test:
//! - a head over `Config::max_header_bytes`, or with more than
//!   [`MAX_HEADERS`] fields: 431 (Request Header Fields Too Large);
//! - a head not complete within `Config::header_timeout` of the
//!   connection's start, however slowly its bytes trickle in (the
//!   slow-loris attack): 408 (Request Timeout);
//! - a head that does not parse: 400 (Bad Request).
//!
//! Every response closes the connection (`Connection: close`): a chat
//! page is one request, then the WebSocket is a connection of its own, so
//! keep-alive would buy nothing here. After an error response we close
//! gently (a *lingering close*, as nginx and Go's `net/http` do): shut our
//! side, then read and discard what the client is still sending, for a
//! short while. Closing a socket with unread bytes makes the kernel send a
//! reset, and a reset can reach the client before it has read our
//! response, which it would then never see.

use std::borrow::Cow;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use grt::net::{Shutdown, TcpStream};

/// Header fields parsed per request. A WebSocket handshake from a browser
/// has about fifteen; more than 64 is not a browser.
pub const MAX_HEADERS: usize = 64;

/// How long a lingering close waits for the client to finish sending
/// (nginx's `lingering_time` is 30 s, its `lingering_timeout` 5 s; ours
/// only has to cover a request still in flight on a fast link).
const LINGER: Duration = Duration::from_secs(2);

/// Most bytes a lingering close reads before giving up.
const LINGER_BYTES: usize = 64 * 1024;

/// A parsed request head.
#[derive(Debug)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// What follows `?` in the target, if anything does.
    pub query: Option<String>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// Header fields in the order sent; names as sent.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Request {
    /// Values of every field named `name` (compared case-insensitively).
    pub fn header_values<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + 'n
    where
        'a: 'n,
    {
        self.headers
            .iter()
            .filter(move |(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_slice())
    }

    /// The value of the first field named `name`, if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name)
            .next()
            .and_then(|value| std::str::from_utf8(value).ok())
            .map(str::trim)
    }

    /// Whether some field named `name` lists `token` (comma-separated,
    /// case-insensitive), as `Connection: keep-alive, Upgrade` lists
    /// `upgrade` (gorilla's `tokenListContainsValue`).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.header_values(name)
            .filter_map(|value| std::str::from_utf8(value).ok())
            .flat_map(|value| value.split(','))
            .any(|item| item.trim().eq_ignore_ascii_case(token))
    }
}

/// Why no request could be read.
#[derive(Debug)]
pub enum HeadError {
    /// The head did not arrive in time: answer 408.
    TimedOut,
    /// The head is over the size or field-count limit: answer 431.
    TooLarge,
    /// The head does not parse: answer 400.
    Malformed(String),
    /// The client hung up first, or the connection failed: no answer.
    Gone,
}

/// Reads one request head from `conn`, which must be complete by
/// `deadline` and at most `limit` bytes long. Returns it with whatever the
/// client sent after it (for a WebSocket, possibly its first frames).
pub fn read_head(
    conn: &TcpStream,
    limit: usize,
    deadline: Instant,
) -> Result<(Request, Vec<u8>), HeadError> {
    let mut buf = vec![0u8; limit];
    let mut len = 0;
    conn.set_read_deadline(Some(deadline))
        .map_err(|_| HeadError::Gone)?;
    loop {
        if len == limit {
            return Err(HeadError::TooLarge);
        }
        // A read that finds bytes queued does not fail at the deadline
        // (grt, unlike Go, only fails a call that has to wait).
        if Instant::now() >= deadline {
            return Err(HeadError::TimedOut);
        }
        let n = match (&*conn).read(&mut buf[len..]) {
            Ok(0) => return Err(HeadError::Gone),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::TimedOut => return Err(HeadError::TimedOut),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(HeadError::Gone),
        };
        len += n;
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut fields);
        match parsed.parse(&buf[..len]) {
            Ok(httparse::Status::Complete(head_len)) => {
                let request = to_owned(&parsed);
                return Ok((request, buf[head_len..len].to_vec()));
            }
            Ok(httparse::Status::Partial) => {}
            Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
            Err(err) => return Err(HeadError::Malformed(err.to_string())),
        }
    }
}

/// Copies a complete parse out of the read buffer.
fn to_owned(parsed: &httparse::Request<'_, '_>) -> Request {
    let target = parsed.path.unwrap_or("/");
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query.to_string())),
        None => (target, None),
    };
    Request {
        method: parsed.method.unwrap_or_default().to_string(),
        path: path.to_string(),
        query,
        version: parsed.version.unwrap_or(1),
        headers: parsed
            .headers
            .iter()
            .map(|field| (field.name.to_string(), field.value.to_vec()))
            .collect(),
    }
}

/// A response to write.
#[derive(Debug)]
pub struct Response {
    /// The status code; [`reason`] gives its words.
    pub status: u16,
    /// Extra header fields.
    pub headers: Vec<(&'static str, String)>,
    /// The `Content-Type` of `body`.
    pub content_type: &'static str,
    pub body: Cow<'static, [u8]>,
}

impl Response {
    /// A plain-text error: the status line's words, then `why`.
    pub fn error(status: u16, why: &str) -> Response {
        Response {
            status,
            headers: Vec::new(),
            content_type: "text/plain; charset=utf-8",
            body: Cow::Owned(format!("{status} {}: {why}\n", reason(status)).into_bytes()),
        }
    }

    /// Adds a header field.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    /// The response as bytes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!(
            "Content-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.content_type,
            self.body.len()
        ));
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// The reason phrase of the statuses we send.
pub fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Writes `bytes` within `wait`.
pub fn write_all(conn: &TcpStream, bytes: &[u8], wait: Duration) -> io::Result<()> {
    conn.set_write_deadline(Some(grt::time::deadline_after(wait)))?;
    (&*conn).write_all(bytes)
}

/// Writes `response`, then closes the connection gently (module doc).
pub fn respond(conn: &TcpStream, response: &Response, wait: Duration) {
    if write_all(conn, &response.to_bytes(), wait).is_ok() {
        linger(conn);
    }
}

/// Shuts our side down and discards what the client still sends, until
/// it hangs up, [`LINGER`] passes, or [`LINGER_BYTES`] have been read.
fn linger(conn: &TcpStream) {
    if conn.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = grt::time::deadline_after(LINGER);
    if conn.set_read_deadline(Some(deadline)).is_err() {
        return;
    }
    let mut sink = [0u8; 4096];
    let mut total = 0;
    while total < LINGER_BYTES && Instant::now() < deadline {
        match (&*conn).read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => total += n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(head: &str) -> Request {
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut fields);
        assert!(parsed.parse(head.as_bytes()).unwrap().is_complete());
        to_owned(&parsed)
    }

    #[test]
    fn splits_the_query_and_finds_tokens() {
        let request = parse(
            "GET /ws?room=a%20b HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\n\r\n",
        );
        assert_eq!(request.path, "/ws");
        assert_eq!(request.query.as_deref(), Some("room=a%20b"));
        assert!(request.has_token("connection", "upgrade"));
        assert!(!request.has_token("connection", "close"));
        assert_eq!(request.header("HOST"), Some("x"));
    }

    #[test]
    fn responses_say_close_and_their_length() {
        let text = String::from_utf8(Response::error(404, "no such page").to_bytes()).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"), "{text}");
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.ends_with("\r\n\r\n404 Not Found: no such page\n"));
        let body_len = "404 Not Found: no such page\n".len();
        assert!(text.contains(&format!("Content-Length: {body_len}\r\n")));
    }
}
