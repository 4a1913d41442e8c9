//! The client side: one exchange with one backend over a pooled
//! connection (Go's `http.Transport.RoundTrip`; nginx's
//! `ngx_http_upstream` with `proxy_http_version 1.1` and `keepalive`).
//!
//! [`Upstream::round_trip`] does, in order:
//! 1. take an idle connection from the backend's [`Pool`], or connect
//!    within the connect timeout;
//! 2. write the request head and stream the body, with
//!    `Content-Length` if the body's length is known, chunked if not;
//! 3. read the response head: its first byte within the read timeout,
//!    the whole head within the read timeout from that byte (nginx's
//!    `proxy_read_timeout` bounds each read), skipping interim 1xx
//!    responses other than `101`;
//! 4. work out the response body's length (http/framing.rs) and whether
//!    the connection can be reused after it.
//!
//! The body itself is read later, by whoever writes it to the client
//! (response_body.rs), and returns the connection to the pool at its end.
//!
//! The request is written in full before the response is read, as nginx
//! does by default (`proxy_request_buffering` aside). A backend that
//! answers early and stops reading (a 413 half-way through an upload)
//! makes our write fail; we then still try to read its answer, since it
//! is usually sitting in our receive buffer.
//!
//! What went wrong matters to the caller, which decides on retrying
//! ([`Failure`]): nothing was sent (the connect failed), a reused
//! connection turned out dead before answering (the keep-alive race), or
//! the exchange failed after the backend may have acted on the request.

mod pool;
mod response_body;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use grt::net::TcpStream;

pub use pool::Pool;
pub use response_body::{OnDone, UpstreamBody};

use crate::http::{
    copy_body, read_response_head, request_head_bytes, response_body_kind, Body, BodyKind,
    BodyTooLarge, BufConn, CopyError, Decoder, HeadError, HeadLimits, RequestHead, ResponseHead,
};

/// Read buffer per upstream connection, and the largest response head we
/// accept (nginx's `proxy_buffer_size` is 4–8 KiB; Go allows 1 MiB).
const READ_BUFFER: usize = 16 * 1024;

/// Timeouts and pool size for the exchanges with one backend.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// To establish a connection (nginx's `proxy_connect_timeout` is 60 s;
    /// a backend on the same network either answers in milliseconds or is
    /// not there, so 5 s).
    pub connect_timeout: Duration,
    /// For the response's first byte after the request was sent, for the
    /// rest of its head from there, and between two reads of the body
    /// (nginx's `proxy_read_timeout`, 60 s, which bounds each read). Past
    /// it the client gets 504.
    pub read_timeout: Duration,
    /// For each write of the request (nginx's `proxy_send_timeout`, 60 s).
    pub write_timeout: Duration,
    /// Idle connections kept (nginx's `keepalive 64` in our examples).
    pub max_idle: usize,
    /// How long an idle connection is kept (nginx's
    /// `keepalive_timeout` for upstreams, 60 s).
    pub idle_timeout: Duration,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(60),
            max_idle: 64,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// How an exchange failed, as far as deciding what to do next needs.
#[derive(Debug)]
pub enum Failure {
    /// No connection could be made: nothing was sent, so any request may
    /// go to another backend.
    Connect(io::Error),
    /// A connection from the pool failed before any byte of a response
    /// came back (the backend had closed it while idle). The request may
    /// have arrived; only an idempotent one may be sent again.
    Stale(io::Error),
    /// No response head within the read timeout: 504.
    Timeout,
    /// The connection failed while the request was sent or its answer
    /// awaited: 502.
    Io(io::Error),
    /// The backend's response is not valid HTTP: 502.
    BadResponse(String),
    /// Reading the client's body failed (it stopped sending, or sent more
    /// than the route allows): the client's fault, not the backend's.
    ClientBody(io::Error),
}

impl Failure {
    /// Whether the backend is to blame (for passive health).
    pub fn blames_backend(&self) -> bool {
        !matches!(self, Failure::ClientBody(_))
    }

    /// Whether the failure was a timeout (504 rather than 502).
    pub fn is_timeout(&self) -> bool {
        match self {
            Failure::Timeout => true,
            Failure::Connect(err) | Failure::Io(err) | Failure::Stale(err) => {
                err.kind() == io::ErrorKind::TimedOut
            }
            _ => false,
        }
    }

    /// Whether the client's body was over the route's limit.
    pub fn body_too_large(&self) -> Option<BodyTooLarge> {
        match self {
            Failure::ClientBody(err) => BodyTooLarge::find(err),
            _ => None,
        }
    }
}

/// A response head, with the connection its body is to be read from.
pub struct UpstreamResponse {
    pub head: ResponseHead,
    conn: BufConn<TcpStream>,
    kind: BodyKind,
    reusable: bool,
    upstream: Arc<Upstream>,
}

impl UpstreamResponse {
    /// The body's declared length: `Some(0)` for none, `None` if unknown.
    pub fn body_len(&self) -> Option<u64> {
        match self.kind {
            BodyKind::Empty => Some(0),
            BodyKind::Length(n) => Some(n),
            BodyKind::Chunked | BodyKind::UntilClose => None,
        }
    }

    /// The body, as a reader that pools the connection at its end and
    /// calls `on_done` once (response_body.rs).
    pub fn into_body(self, on_done: Option<OnDone>) -> UpstreamBody {
        UpstreamBody::new(
            self.conn,
            Decoder::new(self.kind),
            self.upstream,
            self.reusable,
            on_done,
        )
    }

    /// The connection after a `101`, and what the backend already sent on
    /// it in the new protocol.
    pub fn into_upgraded(self) -> (TcpStream, Vec<u8>) {
        self.conn.into_parts()
    }
}

/// One backend: its address, its idle connections, its timeouts.
pub struct Upstream {
    addr: SocketAddr,
    pool: Pool,
    config: UpstreamConfig,
    /// Connections opened to this backend.
    connects: AtomicU64,
    /// Exchanges that reused a pooled connection.
    reuses: AtomicU64,
}

impl Upstream {
    pub fn new(addr: SocketAddr, config: UpstreamConfig) -> Upstream {
        Upstream {
            addr,
            pool: Pool::new(config.max_idle, config.idle_timeout),
            config,
            connects: AtomicU64::new(0),
            reuses: AtomicU64::new(0),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn config(&self) -> &UpstreamConfig {
        &self.config
    }

    /// Connections opened so far.
    pub fn connects(&self) -> u64 {
        self.connects.load(Ordering::Relaxed)
    }

    /// Exchanges that reused a pooled connection so far.
    pub fn reuses(&self) -> u64 {
        self.reuses.load(Ordering::Relaxed)
    }

    /// Idle connections in the pool now.
    pub fn idle(&self) -> usize {
        self.pool.idle()
    }

    /// Closes the pool's idle connections and keeps none from now on: this
    /// backend has been replaced by a reload (pool.rs).
    pub fn retire(&self) {
        self.pool.retire();
    }

    /// A pooled connection (if `from_pool`), or a new one; with whether
    /// it was pooled.
    fn checkout(&self, from_pool: bool) -> Result<(BufConn<TcpStream>, bool), Failure> {
        if let Some(conn) = from_pool.then(|| self.pool.take()).flatten() {
            self.reuses.fetch_add(1, Ordering::Relaxed);
            return Ok((conn, true));
        }
        let stream = TcpStream::connect_timeout(&self.addr, self.config.connect_timeout)
            .map_err(Failure::Connect)?;
        self.connects.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        Ok((BufConn::new(stream, READ_BUFFER), false))
    }

    /// Sends `head` and `body` and reads the response head (module doc).
    /// `head`'s framing fields are not sent: the framing is chosen here
    /// from the body's length.
    pub fn round_trip(
        self: &Arc<Self>,
        head: &RequestHead,
        body: &mut Body<'_>,
    ) -> Result<UpstreamResponse, Failure> {
        self.exchange(head, body, true)
    }

    /// [`round_trip`](Self::round_trip) on a new connection, never a
    /// pooled one: the retry after a [`Failure::Stale`].
    pub fn round_trip_fresh(
        self: &Arc<Self>,
        head: &RequestHead,
        body: &mut Body<'_>,
    ) -> Result<UpstreamResponse, Failure> {
        self.exchange(head, body, false)
    }

    fn exchange(
        self: &Arc<Self>,
        head: &RequestHead,
        body: &mut Body<'_>,
        from_pool: bool,
    ) -> Result<UpstreamResponse, Failure> {
        let (mut conn, reused) = self.checkout(from_pool)?;
        let stream = conn.get_ref();
        let _ = stream.set_write_timeout(Some(self.config.write_timeout));

        // The body's framing is ours to choose from its length, whatever
        // the client used (request_head_bytes leaves the head's own out).
        let (kind, framing) = match body.len() {
            // A body-carrying method says "none" explicitly (as Go does).
            Some(0) if matches!(&*head.method, "POST" | "PUT" | "PATCH") => {
                (BodyKind::Empty, BodyKind::Length(0))
            }
            Some(0) => (BodyKind::Empty, BodyKind::Empty),
            Some(len) => (BodyKind::Length(len), BodyKind::Length(len)),
            None => (BodyKind::Chunked, BodyKind::Chunked),
        };
        let (mut stream, bytes) = conn.head_writer();
        request_head_bytes(head, framing, bytes);
        let mut sent_in_full = true;
        match copy_body(&mut stream, bytes, body, kind) {
            Ok(_) => {}
            Err(CopyError::Read(err)) => return Err(Failure::ClientBody(err)),
            Err(CopyError::Write(err)) if reused && body.bytes_read() == 0 => {
                return Err(Failure::Stale(err))
            }
            // The backend may have answered before it stopped reading
            // (module doc): look for that answer before giving up.
            Err(CopyError::Write(_)) => sent_in_full = false,
        }

        // The backend's first byte is awaited as one timed read (nginx's
        // `proxy_read_timeout` is per read), which reads no clock unless it
        // waits; a head that then trickles in is bounded as a whole.
        let limits = HeadLimits {
            max_bytes: READ_BUFFER,
            first_byte_timeout: Some(self.config.read_timeout),
            head_timeout: self.config.read_timeout,
        };
        let response = loop {
            match read_response_head(&mut conn, &limits) {
                Ok(response)
                    if response.status >= 100
                        && response.status < 200
                        && response.status != 101 =>
                {
                    continue; // 100 Continue, 102, 103: interim, dropped
                }
                Ok(response) => break response,
                Err(HeadError::Idle | HeadError::TimedOut) => return Err(Failure::Timeout),
                Err(HeadError::Closed) if reused => {
                    return Err(Failure::Stale(io::ErrorKind::UnexpectedEof.into()))
                }
                Err(HeadError::Closed) => {
                    return Err(Failure::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the backend closed the connection without answering",
                    )))
                }
                Err(HeadError::Io(err)) if reused && conn.buffered().is_empty() => {
                    return Err(Failure::Stale(err))
                }
                Err(HeadError::Io(err)) => return Err(Failure::Io(err)),
                Err(HeadError::TooLarge) => {
                    return Err(Failure::BadResponse("response head too large".into()))
                }
                Err(HeadError::Malformed(why)) => {
                    return Err(Failure::BadResponse(format!(
                        "malformed response head: {why}"
                    )))
                }
            }
        };
        let (kind, no_reuse) =
            response_body_kind(&head.method, &response).map_err(Failure::BadResponse)?;
        let reusable = sent_in_full
            && !no_reuse
            && response.version >= 1
            && response.status != 101
            && !response.headers.has_token("connection", "close");
        let _ = conn
            .get_ref()
            .set_read_timeout(Some(self.config.read_timeout));
        Ok(UpstreamResponse {
            head: response,
            conn,
            kind,
            reusable,
            upstream: Arc::clone(self),
        })
    }
}
