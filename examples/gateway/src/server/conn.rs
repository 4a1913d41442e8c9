//! One client connection, served by one task from accept to close (Go's
//! `http.conn.serve`).
//!
//! The loop, once per request on a keep-alive connection:
//! 1. Read the head (http/head.rs): the first-byte wait is the header
//!    timeout on a new connection, the keep-alive timeout on a reused one;
//!    running out of it, the client closing, or a graceful shutdown
//!    closing the idle connection (track.rs) ends the connection quietly.
//!    A head too slow, too large or malformed is answered 408, 431 or 400
//!    and the connection closed.
//! 2. Decide the body's length (http/framing.rs). A head that could be
//!    read two ways is answered 400 and the connection closed: nothing
//!    after it on the connection can be trusted (request smuggling).
//! 3. Hand the request to the handler, inside `catch_unwind`: a panic in a
//!    middleware or a hook becomes a 500 for this request alone, and the
//!    connection closes (the body's state is unknown); the gateway, and
//!    every other connection, goes on.
//! 4. Discard what the handler left of the body, or decide to close
//!    (server/request_body.rs).
//! 5. Write the response, framed from its body's length; `Connection:
//!    close` when this is the last one.
//! 6. For a `101` with an upgrade callback, hand the socket over and end.
//!
//! A connection that closes with the client possibly still sending gets a
//! *lingering close*, as in nginx and Go: shut our writing side, then read
//! and discard for a moment, so the kernel does not answer the client's
//! unread bytes with a reset that could destroy our response in flight.

use std::any::Any;
use std::io::Read;
use std::net::{Shutdown, SocketAddr};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use grt::chan::Sender;
use grt::net::TcpStream;

use super::request_body::RequestBody;
use super::track::Tracker;
use super::ServerConfig;
use crate::handler::Handler;
use crate::http::{
    copy_body, read_request_head, request_body_kind, response_head_bytes, response_head_start,
    wait_first_byte, Body, BodyKind, BufConn, CopyError, Decimal, HeadError, HeadLimits, Headers,
    Request, Response, Upgraded,
};

/// How long a lingering close waits for the client to stop sending
/// (nginx's `lingering_time` is 30 s and `lingering_timeout` 5 s; a
/// response in flight on a fast link needs far less).
const LINGER: Duration = Duration::from_secs(2);

/// Most bytes a lingering close discards.
const LINGER_BYTES: usize = 64 * 1024;

/// Read buffer per connection: room for the largest head, and for a
/// pipelined request behind it.
const READ_BUFFER: usize = 16 * 1024;

/// What the server tells each connection task.
pub(crate) struct ConnContext<'a> {
    pub handler: &'a dyn Handler,
    pub config: &'a ServerConfig,
    /// Set once the server is shutting down: finish the request in hand,
    /// then close.
    pub stopping: &'a AtomicBool,
    /// Where idle connections are listed for the shutdown (track.rs).
    pub tracker: &'a Tracker,
    /// The server's count of open connections.
    pub open: &'a AtomicUsize,
}

/// Serves `stream` until it closes (module doc). `alive` is this
/// connection's share in the server's drain.
pub(crate) fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    cx: &ConnContext<'_>,
    alive: Sender<()>,
) {
    let config = cx.config;
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(config.write_timeout));
    let mut conn = BufConn::new(stream, READ_BUFFER.max(config.max_head_bytes));
    // After `conn`, so that it drops first: the slot must leave the
    // tracker before the socket closes (track.rs, the invariant).
    let mut tracked = cx.tracker.track(conn.get_ref(), cx.open, alive);
    // The last response's fields, whose memory the next request head uses.
    let mut spare = Headers::new();
    let mut first = true;
    loop {
        if conn.buffered().is_empty() {
            // Idle between requests: a shutdown may close us here.
            if !tracked.idle(cx.stopping) {
                return;
            }
            let wait = if first {
                config.head_timeout
            } else {
                config.keepalive_timeout
            };
            if wait_first_byte(&mut conn, wait).is_err() {
                return; // closed, idle too long, shut down, or failed
            }
            if !tracked.activate() {
                return;
            }
        }
        first = false;
        let limits = HeadLimits {
            max_bytes: config.max_head_bytes,
            first_byte_timeout: None,
            head_timeout: config.head_timeout,
        };
        let head = match read_request_head(&mut conn, &limits, std::mem::take(&mut spare)) {
            Ok(head) => head,
            Err(HeadError::Closed | HeadError::Idle | HeadError::Io(_)) => return,
            Err(HeadError::TimedOut) => {
                return refuse(&mut conn, 408, "the request head took too long")
            }
            Err(HeadError::TooLarge) => {
                return refuse(&mut conn, 431, "the request head is too large")
            }
            Err(HeadError::Malformed(why)) => return refuse(&mut conn, 400, &why),
        };
        let kind = match request_body_kind(&head) {
            Ok(kind) => kind,
            Err(err) => return refuse(&mut conn, err.status, &err.why),
        };
        if head.method == "CONNECT" {
            return refuse(&mut conn, 405, "this gateway does not tunnel CONNECT");
        }
        let expect_continue = match head.headers.get("expect") {
            None => false,
            Some(value) if value.eq_ignore_ascii_case(b"100-continue") => head.version >= 1,
            Some(_) => return refuse(&mut conn, 417, "unsupported expectation"),
        };
        let is_head = head.method == "HEAD";
        let version = head.version;
        let mut close = !head.wants_keep_alive();

        let mut body = RequestBody::new(&mut conn, kind, expect_continue, config.body_timeout);
        let len = match kind {
            BodyKind::Length(n) => Some(n),
            BodyKind::Chunked => None,
            BodyKind::Empty | BodyKind::UntilClose => Some(0),
        };
        // No body (most requests): nothing to read, nor to box a reader for.
        let request_body = match len {
            Some(0) => Body::empty(),
            _ => Body::from_reader(&mut body, len),
        };
        let request = Request::new(head, request_body, peer);
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| cx.handler.serve(request)));
        let (mut response, panicked) = match outcome {
            Ok(response) => (response, false),
            Err(payload) => {
                eprintln!("gateway: a handler panicked: {}", panic_message(&*payload));
                let response =
                    Response::text(500, "the gateway failed while handling this request");
                (response, true)
            }
        };
        // After a panic the body's state is unknown: never read on.
        let body_ok = !panicked && body.finish();
        close |= !body_ok || response.close || cx.stopping.load(Ordering::SeqCst);

        if response.head.status == 101 {
            match response.upgrade.take() {
                Some(upgrade) if body_ok && version >= 1 => {
                    response.head.version = 1;
                    let (mut stream, head) = conn.head_writer();
                    response_head_bytes(&response.head, head);
                    if copy_body(&mut stream, head, &mut Body::empty(), BodyKind::Empty).is_ok() {
                        tracked.hijack();
                        let (stream, leftover) = conn.into_parts();
                        let _ = stream.set_read_timeout(None);
                        let _ = stream.set_read_deadline(None);
                        let _ = stream.set_write_timeout(None);
                        upgrade(Upgraded { stream, leftover });
                    }
                    return;
                }
                _ => {
                    response = Response::text(502, "a protocol switch nobody can take over");
                    close = true;
                }
            }
        }
        match write_response(&mut conn, &mut response, is_head, version, &mut close) {
            Ok(()) => {}
            Err(CopyError::Write(_)) => return,
            Err(CopyError::Read(err)) => {
                // The response body failed half-way (a backend went away):
                // the client's framing is broken, so the only honest signal
                // left is to cut the connection (Go panics with
                // ErrAbortHandler for the same reason).
                eprintln!("gateway: response body failed: {err}");
                return;
            }
        }
        if close {
            return linger(conn.get_ref());
        }
        spare = std::mem::take(&mut response.head.headers);
    }
}

/// The fields the server writes itself, about the connection and the
/// body's framing, in place of the sender's (`Content-Length` last: a
/// body-less answer to HEAD keeps the sender's).
const SERVER_FIELDS: [&str; 4] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
];

/// Writes `response` to the client, choosing its framing (module doc of
/// http/encode.rs); sets `close` if the framing needs the connection to
/// end (a body of unknown length to an HTTP/1.0 client).
pub(crate) fn write_response(
    conn: &mut BufConn<TcpStream>,
    response: &mut Response,
    is_head: bool,
    version: u8,
    close: &mut bool,
) -> Result<(), CopyError> {
    let status = response.head.status;
    let headers = &response.head.headers;
    let no_body = is_head || status < 200 || status == 204 || status == 304;
    // Our framing replaces the sender's: its fields are left out as the
    // head is written (no pass to remove them), and ours follow. A HEAD
    // or 304 answer keeps the sender's Content-Length, which describes
    // the body it would have had.
    let keeps_length = no_body && status >= 200 && status != 204;
    let (kind, length) = if no_body {
        // A HEAD answer without the sender's length gets the body's, if known.
        let length = response.body.len().filter(|&len| {
            keeps_length && is_head && len > 0 && !headers.contains("content-length")
        });
        (BodyKind::Empty, length)
    } else {
        match response.body.len() {
            Some(0) => (BodyKind::Empty, Some(0)),
            Some(len) => (BodyKind::Length(len), Some(len)),
            None if version >= 1 => (BodyKind::Chunked, None),
            None => {
                *close = true;
                (BodyKind::UntilClose, None)
            }
        }
    };
    response.head.version = 1;
    let (mut stream, head) = conn.head_writer();
    let skip = if keeps_length {
        &SERVER_FIELDS[..3]
    } else {
        &SERVER_FIELDS[..]
    };
    response_head_start(&response.head, skip, head);
    if let Some(len) = length {
        head.extend_from_slice(b"Content-Length: ");
        head.extend_from_slice(Decimal::new(len).as_ref());
        head.extend_from_slice(b"\r\n");
    }
    if kind == BodyKind::Chunked {
        head.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    if *close {
        head.extend_from_slice(b"Connection: close\r\n");
    } else if version == 0 {
        head.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    head.extend_from_slice(b"\r\n");
    let body = if kind == BodyKind::Empty {
        &mut Body::empty()
    } else {
        &mut response.body
    };
    copy_body(&mut stream, head, body, kind).map(|_| ())
}

/// Answers a request that cannot be served with `status`, then closes.
fn refuse(conn: &mut BufConn<TcpStream>, status: u16, why: &str) {
    let mut response = Response::text(status, why);
    let mut close = true;
    if write_response(conn, &mut response, false, 1, &mut close).is_ok() {
        linger(conn.get_ref());
    }
}

/// Shuts our side down and discards what the client still sends, until it
/// closes, [`LINGER`] passes or [`LINGER_BYTES`] have come (module doc).
fn linger(stream: &TcpStream) {
    if stream.shutdown(Shutdown::Write).is_err()
        || stream.set_read_timeout(None).is_err()
        || stream
            .set_read_deadline(Some(Instant::now() + LINGER))
            .is_err()
    {
        return;
    }
    let mut sink = [0u8; 4096];
    let mut total = 0;
    while total < LINGER_BYTES {
        match (&*stream).read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => total += n,
        }
    }
}

/// The text of a panic's payload, when it has one.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head `write_response` sends for the response `make` makes to a
    /// client speaking HTTP/1.`version`, and whether it asked to close.
    fn written(
        make: impl FnOnce() -> Response + Send + 'static,
        is_head: bool,
        version: u8,
    ) -> (String, bool) {
        grt::run(move || {
            let mut response = make();
            let listener = grt::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let mut conn = BufConn::new(listener.accept().unwrap().0, 1024);
            let mut close = false;
            write_response(&mut conn, &mut response, is_head, version, &mut close).unwrap();
            drop(conn);
            let mut wire = String::new();
            (&client).read_to_string(&mut wire).unwrap();
            let head = wire.split("\r\n\r\n").next().unwrap().to_string();
            (head, close)
        })
    }

    fn lines(head: &str) -> Vec<&str> {
        head.lines().skip(1).collect()
    }

    #[test]
    fn the_senders_framing_and_connection_fields_give_way_to_ours() {
        let response = || {
            Response::new(200)
                .with_header("Content-Length", "999")
                .with_header("Transfer-Encoding", "chunked")
                .with_header("Connection", "close")
                .with_header("Keep-Alive", "timeout=5")
                .with_header("X-Kept", "1")
        };
        let (head, close) = written(response, false, 1);
        assert_eq!(lines(&head), ["X-Kept: 1", "Content-Length: 0"]);
        assert!(!close);
        let (head, close) = written(|| Response::new(200), false, 0);
        assert_eq!(
            lines(&head),
            ["Content-Length: 0", "Connection: keep-alive"]
        );
        assert!(!close);
    }

    #[test]
    fn bodyless_answers_keep_or_drop_the_senders_length_as_rfc_9110_says() {
        // HEAD and 304 describe the body they would have had: kept.
        let (head, _) = written(
            || Response::new(200).with_header("Content-Length", "10"),
            true,
            1,
        );
        assert_eq!(lines(&head), ["Content-Length: 10"]);
        let (head, _) = written(
            || Response::new(304).with_header("Content-Length", "10"),
            false,
            1,
        );
        assert_eq!(lines(&head), ["Content-Length: 10"]);
        // A HEAD answer without one gets the body's, when it is known.
        let with_body = || {
            let mut response = Response::new(200);
            response.body = Body::from_bytes("abc");
            response
        };
        let (head, _) = written(with_body, true, 1);
        assert_eq!(lines(&head), ["Content-Length: 3"]);
        // 204 and 1xx have no length at all.
        let (head, _) = written(
            || Response::new(204).with_header("Content-Length", "10"),
            false,
            1,
        );
        assert!(lines(&head).is_empty(), "{head}");
    }

    #[test]
    fn a_body_of_unknown_length_is_chunked_or_ends_the_connection() {
        let streamed = || {
            let mut response = Response::new(200);
            response.body = Body::from_reader(&b"abc"[..], None);
            response
        };
        let (head, close) = written(streamed, false, 1);
        assert_eq!(lines(&head), ["Transfer-Encoding: chunked"]);
        assert!(!close);
        let (head, close) = written(streamed, false, 0);
        assert_eq!(lines(&head), ["Connection: close"]);
        assert!(close, "an HTTP/1.0 client learns the end from the close");
    }
}
