//! A backend's response body, streaming to whoever reads it, that gives
//! its connection back to the pool when it is done (Go's
//! `bodyEOFSignal` in `transport.go`).
//!
//! The proxy returns a [`Response`](crate::http::Response) whose body is
//! an [`UpstreamBody`], and the server writes it to the client after the
//! handler has returned. So the end of the exchange with the backend is
//! not a point in the proxy's code but an event in this body:
//! - read to its end: the connection goes back to the pool, if its
//!   framing allows reuse, and the exchange is reported a success;
//! - a read fails (the backend reset, or went silent past the read
//!   timeout): the connection is closed and the exchange reported a
//!   failure, which feeds passive health;
//! - dropped before its end (the client went away): the connection is
//!   closed, since the rest of the body is still coming on it, and the
//!   exchange is reported a success: the backend did nothing wrong.
//!
//! Invariant: the report (`on_done`) is made exactly once, whichever of
//! these happens, so the balancer's `started`/`finished` stay paired.

use std::io::{self, Read};
use std::sync::Arc;

use grt::net::TcpStream;

use super::Upstream;
use crate::http::{BufConn, Decoder};

/// Told once when the exchange ends, with whether the backend behaved.
/// Shared, not boxed per exchange: a proxy makes one per backend and
/// hands out references (proxy/targets.rs).
pub type OnDone = Arc<dyn Fn(bool) + Send + Sync>;

/// A response body read from a backend connection (module doc).
pub struct UpstreamBody {
    /// The connection, until the body ends.
    conn: Option<BufConn<TcpStream>>,
    decoder: Decoder,
    /// Where the connection goes back to.
    upstream: Arc<Upstream>,
    /// Whether the connection may carry another exchange after this body.
    reusable: bool,
    on_done: Option<OnDone>,
}

impl UpstreamBody {
    pub(super) fn new(
        conn: BufConn<TcpStream>,
        decoder: Decoder,
        upstream: Arc<Upstream>,
        reusable: bool,
        on_done: Option<OnDone>,
    ) -> UpstreamBody {
        let mut body = UpstreamBody {
            conn: Some(conn),
            decoder,
            upstream,
            reusable,
            on_done,
        };
        if body.decoder.is_done() {
            body.release();
        }
        body
    }

    /// The body ended cleanly: pool the connection, report success.
    fn release(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Bytes past the body mean the backend sent more than it
            // framed: never reuse such a connection.
            if self.reusable && conn.buffered().is_empty() {
                self.upstream.pool.put(conn);
            }
        }
        self.report(true);
    }

    fn report(&mut self, ok: bool) {
        if let Some(on_done) = self.on_done.take() {
            on_done(ok);
        }
    }
}

impl Read for UpstreamBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(0);
        };
        match self.decoder.read(conn, buf) {
            Ok(0) => {
                self.release();
                Ok(0)
            }
            Ok(n) => {
                // A reader that stops at the declared length never asks
                // again: release as soon as the last byte is out.
                if self.decoder.is_done() {
                    self.release();
                }
                Ok(n)
            }
            Err(err) => {
                self.conn = None;
                self.report(false);
                Err(err)
            }
        }
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        self.conn = None;
        self.report(true);
    }
}
