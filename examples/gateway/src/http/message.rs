//! Requests and responses as handlers see them (Go's `http.Request` and
//! `http.Response`).
//!
//! A [`Request`] is a head and a body that streams from the client's
//! connection: `Request<'c>` borrows that connection for `'c`, the time
//! the handler runs, so a handler can read the body but cannot keep it.
//! A [`Response`] owns its body (`Body<'static>`): the proxy's streams
//! from an upstream connection it carries along, and is written to the
//! client after the handler has returned.
//!
//! Protocol switches (WebSocket) take a connection out of HTTP. Go does it
//! with `http.Hijacker`: the handler takes the client's socket. We do it
//! the other way round, as hyper does: the response carries an
//! [`OnUpgrade`] callback, and the server, once it has written the `101`
//! head, hands the callback the client's socket and whatever the client
//! sent after its request head ([`Upgraded`]). The server stays the only
//! code that writes a head to the client.

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use grt::net::TcpStream;

use super::body::Body;
use super::headers::Headers;
use super::status::reason;

/// A request line and its header fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// `GET`, `POST`, … as sent (methods are case-sensitive); the
    /// standard ones borrowed ([`method_name`]).
    pub method: Cow<'static, str>,
    /// The request target in origin form: path and query, as sent.
    pub target: String,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    pub headers: Headers,
}

/// A request method's name, borrowed from a static string if it is one
/// of RFC 9110's (§9), so that reading a request allocates nothing for it.
pub fn method_name(method: &str) -> Cow<'static, str> {
    const STANDARD: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    match STANDARD.into_iter().find(|&standard| standard == method) {
        Some(standard) => Cow::Borrowed(standard),
        None => Cow::Owned(method.to_string()),
    }
}

impl RequestHead {
    /// A head for `method target HTTP/1.1` with no fields.
    pub fn new(method: &str, target: &str) -> RequestHead {
        RequestHead {
            method: method_name(method),
            target: target.to_string(),
            version: 1,
            headers: Headers::new(),
        }
    }

    /// The target up to any `?`.
    pub fn path(&self) -> &str {
        self.target
            .split_once('?')
            .map_or(self.target.as_str(), |(path, _)| path)
    }

    /// What follows the first `?` of the target, if there is one.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, query)| query)
    }

    /// Replaces the path, keeping the query.
    pub fn set_path(&mut self, path: &str) {
        self.target = match self.query() {
            Some(query) => format!("{path}?{query}"),
            None => path.to_string(),
        };
    }

    /// Whether the client asked to keep the connection open afterwards
    /// (RFC 9112 §9.3: HTTP/1.1 unless `Connection: close`; HTTP/1.0 only
    /// with `Connection: keep-alive`).
    pub fn wants_keep_alive(&self) -> bool {
        if self.headers.has_token("connection", "close") {
            return false;
        }
        self.version >= 1 || self.headers.has_token("connection", "keep-alive")
    }

    /// Whether the method is idempotent (RFC 9110 §9.2.2): repeating it
    /// has the effect of doing it once, so a failed attempt may be retried.
    pub fn is_idempotent(&self) -> bool {
        matches!(
            &*self.method,
            "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
        )
    }
}

/// A status line and its header fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    pub status: u16,
    /// The reason phrase to send; the standard one unless set otherwise
    /// (borrowed then, so that the usual head costs no allocation for it).
    pub reason: Cow<'static, str>,
    pub headers: Headers,
}

impl ResponseHead {
    /// An HTTP/1.1 head with `status`'s standard reason and no fields.
    pub fn new(status: u16) -> ResponseHead {
        ResponseHead {
            version: 1,
            status,
            reason: Cow::Borrowed(reason(status)),
            headers: Headers::new(),
        }
    }
}

/// A request being handled: its head, its body, and where it came from.
pub struct Request<'c> {
    pub head: RequestHead,
    /// The body, streaming from the client as it is read.
    pub body: Body<'c>,
    /// The client's address (the TCP peer, not anything it claims).
    pub peer: SocketAddr,
}

impl<'c> Request<'c> {
    /// A request from `peer` with `head` and `body`.
    pub fn new(head: RequestHead, body: Body<'c>, peer: SocketAddr) -> Request<'c> {
        Request { head, body, peer }
    }
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("head", &self.head)
            .field("body", &self.body)
            .field("peer", &self.peer)
            .finish()
    }
}

/// The client's connection after a `101 Switching Protocols` head went out.
pub struct Upgraded {
    pub stream: TcpStream,
    /// Bytes the client sent after its request head, already read: they
    /// belong to the new protocol and must be passed on first.
    pub leftover: Vec<u8>,
}

/// What takes over a connection after a `101` (module doc).
pub type OnUpgrade = Box<dyn FnOnce(Upgraded) + Send>;

/// Which backend a response came from (nginx's `$upstream_addr` and
/// `$upstream_header_time`): set by the proxy, read by the gateway's
/// metrics on the way out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpstreamInfo {
    /// The backend that answered, or failed to.
    pub addr: SocketAddr,
    /// From sending the request to having the response head; `None` when
    /// no head came (the answer is the proxy's 502 or 504).
    pub header_time: Option<Duration>,
}

/// A response to send.
pub struct Response {
    pub head: ResponseHead,
    /// The body. Its length, if known, becomes `Content-Length`; if not,
    /// the server sends it chunked (module `encode.rs`).
    pub body: Body<'static>,
    /// Set for a `101` whose connection something takes over.
    pub upgrade: Option<OnUpgrade>,
    /// Set to close the client connection after this response.
    pub close: bool,
    /// The backend behind this response, if a proxy produced it.
    pub upstream: Option<UpstreamInfo>,
}

impl Response {
    /// A response with `status`, no fields and no body.
    pub fn new(status: u16) -> Response {
        Response {
            head: ResponseHead::new(status),
            body: Body::empty(),
            upgrade: None,
            close: false,
            upstream: None,
        }
    }

    /// A plain-text response: the status line's words, then `why`, as Go's
    /// `http.Error` writes them.
    pub fn text(status: u16, why: &str) -> Response {
        let mut response = Response::new(status);
        response
            .head
            .headers
            .append("Content-Type", "text/plain; charset=utf-8");
        response.body = Body::from_bytes(format!("{status} {}: {why}\n", reason(status)));
        response
    }

    /// Adds a header field.
    pub fn with_header(mut self, name: &str, value: impl AsRef<[u8]>) -> Response {
        self.head.headers.append(name, value);
        self
    }

    pub fn status(&self) -> u16 {
        self.head.status
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("head", &self.head)
            .field("body", &self.body)
            .field("upgrade", &self.upgrade.is_some())
            .field("close", &self.close)
            .field("upstream", &self.upstream)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_path_and_query() {
        let mut head = RequestHead::new("GET", "/a/b?x=1&y=2");
        assert_eq!(head.path(), "/a/b");
        assert_eq!(head.query(), Some("x=1&y=2"));
        head.set_path("/b");
        assert_eq!(head.target, "/b?x=1&y=2");
        assert_eq!(RequestHead::new("GET", "/").query(), None);
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection() {
        let mut head = RequestHead::new("GET", "/");
        assert!(head.wants_keep_alive());
        head.headers.append("Connection", "Close");
        assert!(!head.wants_keep_alive());
        let mut old = RequestHead::new("GET", "/");
        old.version = 0;
        assert!(!old.wants_keep_alive());
        old.headers.append("Connection", "keep-alive");
        assert!(old.wants_keep_alive());
    }
}
