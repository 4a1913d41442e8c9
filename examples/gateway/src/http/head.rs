//! Reading one head (request line or status line, then header fields)
//! within a size limit and a deadline (Go's `readRequest` and
//! `http.ReadResponse`, nginx's `ngx_http_read_request_header`).
//!
//! Two clocks and one size:
//! - **first byte** ([`HeadLimits::first_byte_timeout`]): how long an idle
//!   keep-alive connection may sit before its next request starts
//!   (nginx's `keepalive_timeout`, Go's `IdleTimeout`). Running out is no
//!   error, just the end of the connection: [`HeadError::Idle`].
//! - **whole head** ([`HeadLimits::head_timeout`]), counted from the first
//!   byte: however slowly the bytes trickle in, the head must be complete
//!   by then (the slow-loris defence; nginx's `client_header_timeout`, Go's
//!   `ReadHeaderTimeout`): [`HeadError::TimedOut`], answered 408.
//! - **size** ([`HeadLimits::max_bytes`]): a head that has not ended within
//!   this many bytes is refused: [`HeadError::TooLarge`], answered 431
//!   (nginx's `large_client_header_buffers`, Go's `MaxHeaderBytes`).
//!
//! The whole-head clock is a read deadline on the socket
//! ([`Socket::set_read_deadline`], Go's `SetReadDeadline`): set once for
//! however many reads the head takes, not a timeout worked out again
//! before each; and cleared on the way out, so that the body readers after
//! a head start with their own timeouts only. The first-byte wait is a
//! single read, so a read timeout is the same clock, and costs no clock
//! reading unless the read has to wait.
//!
//! httparse parses whatever has arrived; `Partial` means read more. It
//! refuses on its own the request smuggling tricks that live in the head's
//! syntax: whitespace between a field name and its colon, obsolete line
//! folding, bare CR, control characters in values (tests below). What it
//! leaves to us, RFC 9112 §3.2 and §3.2.2: exactly one `Host` in an
//! HTTP/1.1 request, and the form of the request target.

use std::borrow::Cow;
use std::io;
use std::mem::MaybeUninit;
use std::time::{Duration, Instant};

use super::buf_conn::{BufConn, Socket};
use super::headers::Headers;
use super::message::{method_name, RequestHead, ResponseHead};
use super::status::reason;

/// Most header fields in one head; more is answered 431. Browsers send
/// about twenty; 100 is Go's `http2` default for the same limit. The
/// parser's array of that many fields (3.2 KiB) is left uninitialised:
/// httparse fills only what it parses, and zeroing it cost every request
/// a write of 50 cache lines, twice.
pub const MAX_FIELDS: usize = 100;

/// The limits a head is read within (module doc).
#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    /// Most bytes in a head, final empty line included.
    pub max_bytes: usize,
    /// How long to wait for the head's first byte (`None`: the whole-head
    /// deadline covers the wait too).
    pub first_byte_timeout: Option<Duration>,
    /// How long the head may take, from its first byte (or from the call,
    /// without a first-byte timeout).
    pub head_timeout: Duration,
}

/// Why no head was read.
#[derive(Debug)]
pub enum HeadError {
    /// The peer closed the connection before sending a byte: the normal
    /// end of a keep-alive connection.
    Closed,
    /// No byte came within the first-byte timeout, or, without one, within
    /// the head timeout.
    Idle,
    /// A head was started but not finished in time: 408 for a client.
    TimedOut,
    /// The head is over the size or field limit: 431 for a client.
    TooLarge,
    /// The head does not parse, or breaks RFC 9112's rules: 400.
    Malformed(String),
    /// The connection failed, or ended in the middle of a head.
    Io(io::Error),
}

/// Reads a request head from `conn` and consumes it; the body, if any,
/// is left in the buffer. The head's fields are kept in `reuse`'s memory
/// (`Headers::refilled`).
pub fn read_request_head<S: Socket>(
    conn: &mut BufConn<S>,
    limits: &HeadLimits,
    reuse: Headers,
) -> Result<RequestHead, HeadError> {
    let mut reuse = Some(reuse);
    let head = read_head(conn, limits, |bytes| {
        let mut fields = [MaybeUninit::uninit(); MAX_FIELDS];
        let mut parsed = httparse::Request::new(&mut []);
        let status = httparse::ParserConfig::default().parse_request_with_uninit_headers(
            &mut parsed,
            bytes,
            &mut fields,
        );
        Ok(match status.map_err(parse_error)? {
            httparse::Status::Partial => None,
            httparse::Status::Complete(len) => Some((
                len,
                RequestHead {
                    method: method_name(parsed.method.unwrap_or_default()),
                    target: parsed.path.unwrap_or_default().to_string(),
                    version: parsed.version.unwrap_or(1),
                    headers: reuse.take().unwrap_or_default().refilled(parsed.headers),
                },
            )),
        })
    })?;
    check_request(head).map_err(HeadError::Malformed)
}

/// Reads a response head from `conn` and consumes it.
pub fn read_response_head<S: Socket>(
    conn: &mut BufConn<S>,
    limits: &HeadLimits,
) -> Result<ResponseHead, HeadError> {
    read_head(conn, limits, |bytes| {
        let mut fields = [MaybeUninit::uninit(); MAX_FIELDS];
        let mut parsed = httparse::Response::new(&mut []);
        let status = httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut parsed,
            bytes,
            &mut fields,
        );
        Ok(match status.map_err(parse_error)? {
            httparse::Status::Partial => None,
            httparse::Status::Complete(len) => Some((len, {
                let status = parsed.code.unwrap_or_default();
                let standard = reason(status);
                ResponseHead {
                    version: parsed.version.unwrap_or(1),
                    status,
                    reason: match parsed.reason.unwrap_or_default() {
                        given if given == standard => Cow::Borrowed(standard),
                        given => Cow::Owned(given.to_string()),
                    },
                    headers: Headers::from_parsed(parsed.headers),
                }
            })),
        })
    })
}

fn parse_error(err: httparse::Error) -> HeadError {
    match err {
        httparse::Error::TooManyHeaders => HeadError::TooLarge,
        err => HeadError::Malformed(err.to_string()),
    }
}

/// Waits up to `timeout` for the first byte of the next head (module
/// doc: the first-byte clock) and buffers what came. `Closed` if the peer
/// closed (or the connection was shut down to wake us: a graceful
/// shutdown closing an idle connection), `Idle` if nothing came in time.
/// Returns at once if bytes are already buffered.
pub fn wait_first_byte<S: Socket>(
    conn: &mut BufConn<S>,
    timeout: Duration,
) -> Result<(), HeadError> {
    if !conn.buffered().is_empty() {
        return Ok(());
    }
    // One read, so its timeout is the whole wait: no clock reading here,
    // and the runtime takes one only if the read has to wait.
    conn.get_ref()
        .set_read_timeout(Some(timeout))
        .map_err(HeadError::Io)?;
    let filled = conn.fill();
    conn.get_ref()
        .set_read_timeout(None)
        .map_err(HeadError::Io)?;
    match filled {
        Ok(0) => Err(HeadError::Closed),
        Ok(_) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::TimedOut => Err(HeadError::Idle),
        Err(err) => Err(HeadError::Io(err)),
    }
}

/// The read loop both heads share: `parse` says `None` for "need more",
/// or the head's length and value. One read deadline covers the whole
/// head, however many reads it takes (Go's `ReadHeaderTimeout`, set with
/// `SetReadDeadline`); it is cleared on the way out, so the body readers
/// start with only their own timeouts.
fn read_head<S: Socket, T>(
    conn: &mut BufConn<S>,
    limits: &HeadLimits,
    mut parse: impl FnMut(&[u8]) -> Result<Option<(usize, T)>, HeadError>,
) -> Result<T, HeadError> {
    if let Some(wait) = limits.first_byte_timeout {
        wait_first_byte(conn, wait)?;
    }
    // Usually the whole head came in the first read: then no clock is
    // read and no deadline set.
    if let Some(head) = take_buffered_head(conn, limits, &mut parse)? {
        return Ok(head);
    }
    let socket = conn.get_ref();
    socket.set_read_timeout(None).map_err(HeadError::Io)?;
    socket
        .set_read_deadline(Some(Instant::now() + limits.head_timeout))
        .map_err(HeadError::Io)?;
    let head = read_head_until_deadline(conn, limits, parse);
    let cleared = conn.get_ref().set_read_deadline(None);
    let head = head?;
    cleared.map_err(HeadError::Io)?;
    Ok(head)
}

/// The head, if the buffer holds all of it (consumed then); `None` if
/// more must be read. Fails if what is there is already over the limit.
fn take_buffered_head<S: Socket, T>(
    conn: &mut BufConn<S>,
    limits: &HeadLimits,
    parse: &mut impl FnMut(&[u8]) -> Result<Option<(usize, T)>, HeadError>,
) -> Result<Option<T>, HeadError> {
    if conn.buffered().is_empty() {
        return Ok(None);
    }
    if let Some((len, head)) = parse(conn.buffered())? {
        if len > limits.max_bytes {
            return Err(HeadError::TooLarge);
        }
        conn.consume(len);
        return Ok(Some(head));
    }
    if conn.buffered().len() >= limits.max_bytes || conn.is_full() {
        return Err(HeadError::TooLarge);
    }
    Ok(None)
}

/// [`read_head`]'s loop, the deadline being set on the socket.
fn read_head_until_deadline<S: Socket, T>(
    conn: &mut BufConn<S>,
    limits: &HeadLimits,
    mut parse: impl FnMut(&[u8]) -> Result<Option<(usize, T)>, HeadError>,
) -> Result<T, HeadError> {
    loop {
        if let Some(head) = take_buffered_head(conn, limits, &mut parse)? {
            return Ok(head);
        }
        let started = !conn.buffered().is_empty();
        match conn.fill() {
            Ok(0) if started => {
                return Err(HeadError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed in the middle of a head",
                )))
            }
            Ok(0) => return Err(HeadError::Closed),
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::TimedOut => {
                return Err(if started {
                    HeadError::TimedOut
                } else {
                    HeadError::Idle
                })
            }
            Err(err) => return Err(HeadError::Io(err)),
        }
    }
}

/// RFC 9112 §3.2 and §3.2.2: the request target's form and the `Host`
/// field. An absolute-form target (`GET http://h/p`, which a client sends
/// to a forward proxy and a server must accept) becomes origin form, its
/// authority replacing `Host`.
fn check_request(mut head: RequestHead) -> Result<RequestHead, String> {
    if head.method == "CONNECT" {
        return Ok(head); // authority form; the server refuses the method
    }
    if let Some(rest) = strip_scheme(&head.target) {
        let (authority, path) = match rest.find(['/', '?']) {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err("bad authority in the request target".into());
        }
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        head.headers.set("Host", authority);
        head.target = path;
    } else if head.target == "*" {
        if head.method != "OPTIONS" {
            return Err("the target * is for OPTIONS only".into());
        }
    } else if !head.target.starts_with('/') {
        return Err("the request target must be a path".into());
    }
    let hosts = head.headers.get_all("host").count();
    if hosts > 1 {
        return Err("more than one Host field".into());
    }
    if hosts == 0 && head.version >= 1 {
        return Err("an HTTP/1.1 request needs a Host field".into());
    }
    if let Some(host) = head.headers.get("host") {
        if host
            .iter()
            .any(|&b| b == b' ' || b == b'\t' || b == b'/' || b == b'@')
        {
            return Err("invalid Host field".into());
        }
    }
    Ok(head)
}

/// The target without `http://` or `https://` (case-insensitively), if
/// it has either.
fn strip_scheme(target: &str) -> Option<&str> {
    ["http://", "https://"].iter().find_map(|scheme| {
        target
            .get(..scheme.len())
            .filter(|start| start.eq_ignore_ascii_case(scheme))
            .map(|_| &target[scheme.len()..])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses a complete request head the way `read_request_head` does.
    fn parse(text: &str) -> Result<RequestHead, String> {
        let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
        let mut parsed = httparse::Request::new(&mut fields);
        match parsed.parse(text.as_bytes()) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return Err("partial".into()),
            Err(err) => return Err(err.to_string()),
        }
        check_request(RequestHead {
            method: method_name(parsed.method.unwrap()),
            target: parsed.path.unwrap().to_string(),
            version: parsed.version.unwrap(),
            headers: Headers::from_parsed(parsed.headers),
        })
    }

    #[test]
    fn httparse_refuses_whitespace_before_the_colon() {
        assert!(parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n").is_err());
        assert!(
            parse("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\t: chunked\r\n\r\n").is_err()
        );
    }

    #[test]
    fn httparse_refuses_obsolete_line_folding() {
        let folded = "GET / HTTP/1.1\r\nHost: a\r\nX-Long: one\r\n two\r\n\r\n";
        assert!(parse(folded).is_err());
        let folded_te = "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n";
        assert!(parse(folded_te).is_err());
    }

    #[test]
    fn httparse_refuses_control_characters_and_other_versions() {
        assert!(parse("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n").is_err());
        // What Headers::from_parsed relies on to skip its own check.
        assert!(parse("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n").is_err());
        assert!(parse("GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n").is_err());
        assert!(parse("GET / HTTP/1.1\r\nHost: a\r\nX(y): b\r\n\r\n").is_err());
        assert!(parse("GET / HTTP/2.0\r\nHost: a\r\n\r\n").is_err());
        assert!(parse("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n").is_err());
    }

    #[test]
    fn an_http11_request_needs_exactly_one_host() {
        assert!(parse("GET / HTTP/1.1\r\n\r\n").is_err());
        assert!(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").is_err());
        assert!(parse("GET / HTTP/1.0\r\n\r\n").is_ok());
        assert!(parse("GET / HTTP/1.1\r\nHost: a b\r\n\r\n").is_err());
    }

    #[test]
    fn targets_are_paths_or_absolute_urls() {
        let head =
            parse("GET http://example.com:81/x?y=1 HTTP/1.1\r\nHost: other\r\n\r\n").unwrap();
        assert_eq!(head.target, "/x?y=1");
        assert_eq!(head.headers.get_str("host"), Some("example.com:81"));
        let head = parse("GET HTTP://example.com HTTP/1.1\r\nHost: e\r\n\r\n").unwrap();
        assert_eq!(head.target, "/");
        assert!(parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").is_ok());
        assert!(parse("GET * HTTP/1.1\r\nHost: a\r\n\r\n").is_err());
        assert!(parse("GET x/y HTTP/1.1\r\nHost: a\r\n\r\n").is_err());
    }
}
