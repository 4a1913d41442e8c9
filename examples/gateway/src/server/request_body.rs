//! The body of the request being served, read from the client connection
//! as the handler asks for it (Go's `http.body` with its
//! `expectContinueReader`).
//!
//! `Expect: 100-continue` asks the server whether it wants the body
//! before the client sends it. Like Go, we answer `100 Continue` on the
//! handler's first read, not before: a request that the handler refuses
//! without reading (401 from `auth`, 413, 429) costs the client no upload.
//! The proxy does not forward `Expect` upstream (nginx does not either):
//! the gateway is the one deciding whether it wants the body.
//!
//! After the handler returns, the server looks at what is left
//! ([`RequestBody::finish`]): an unread body must be read and discarded
//! before the next request on the connection can be parsed. Go reads up
//! to 256 KiB of it (`maxPostHandlerReadBytes`) and otherwise closes the
//! connection; so do we. If `100 Continue` was never sent, the client may
//! or may not be sending the body, and only closing is safe.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use grt::net::TcpStream;

use crate::http::{BodyKind, BufConn, Decoder};

/// Most body bytes discarded after the handler to keep a connection
/// (Go's `maxPostHandlerReadBytes`).
pub const MAX_DRAIN: u64 = 256 * 1024;

/// How long discarding may take, at most.
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// The request body as the handler reads it (module doc).
pub struct RequestBody<'c> {
    conn: &'c mut BufConn<TcpStream>,
    decoder: Decoder,
    /// `100 Continue` is owed before the first read.
    continue_pending: bool,
    /// Each read waits at most this long for data (nginx's
    /// `client_body_timeout`).
    timeout: Duration,
    /// Whether `timeout` has been applied to the socket.
    timeout_set: bool,
    /// A read failed: the connection's framing is lost.
    failed: bool,
}

impl<'c> RequestBody<'c> {
    pub fn new(
        conn: &'c mut BufConn<TcpStream>,
        kind: BodyKind,
        expect_continue: bool,
        timeout: Duration,
    ) -> RequestBody<'c> {
        let decoder = Decoder::new(kind);
        RequestBody {
            continue_pending: expect_continue && !decoder.is_done(),
            conn,
            decoder,
            timeout,
            timeout_set: false,
            failed: false,
        }
    }

    /// Makes the connection ready for its next request by discarding what
    /// the handler left of the body; false if that is not possible, and the
    /// connection must close (module doc).
    pub fn finish(&mut self) -> bool {
        if self.decoder.is_done() {
            return true;
        }
        if self.failed || self.continue_pending {
            return false;
        }
        // One deadline for the whole drain (Go's `SetReadDeadline`); the
        // next head's wait replaces it (http/head.rs).
        let deadline = Instant::now() + DRAIN_TIME;
        if self
            .conn
            .get_ref()
            .set_read_deadline(Some(deadline))
            .is_err()
        {
            return false;
        }
        let mut scratch = [0u8; 8192];
        let mut drained = 0u64;
        while drained <= MAX_DRAIN && Instant::now() < deadline {
            match self.decoder.read(self.conn, &mut scratch) {
                Ok(0) => return true,
                Ok(n) => drained += n as u64,
                Err(_) => return false,
            }
        }
        false
    }
}

impl Read for RequestBody<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::other("the request body already failed"));
        }
        if self.continue_pending {
            self.continue_pending = false;
            self.conn
                .get_mut()
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        if !self.timeout_set {
            self.conn.get_ref().set_read_timeout(Some(self.timeout))?;
            self.timeout_set = true;
        }
        self.decoder.read(self.conn, buf).inspect_err(|_| {
            self.failed = true;
        })
    }
}
