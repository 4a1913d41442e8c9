//! [`BufConn`]: a connection with a read buffer (Go's `bufio.Reader` over a
//! `net.Conn`, which `net/http` keeps per connection on both sides).
//!
//! A head has to be read in pieces of unknown size, and the last piece
//! usually carries more than the head: the start of the body, or a whole
//! pipelined request. Those bytes stay in the buffer, and everything that
//! reads the connection afterwards (body decoders, the next head, a
//! WebSocket tunnel) reads through it first. Losing them would corrupt the
//! stream, which is why a connection is only ever read through its
//! `BufConn` and why [`BufConn::into_parts`] hands the leftover out.
//!
//! The buffer starts at [`FIRST_BUFFER`] bytes, Go's `bufio` default, and
//! grows only when a head does not fit, up to the limit it was made with:
//! a keep-alive connection holds on to its buffer for its whole life, and
//! at a few hundred bytes per head, a buffer of the limit's size (16 KiB)
//! would be mostly zeroed pages held per connection.
//!
//! Large reads skip the buffer: when it is empty and the caller's buffer
//! is at least as large as ours, the socket reads straight into the
//! caller's (as `bufio.Reader.Read` does), so streaming a body costs no
//! extra copy.
//!
//! Heads written on the connection are encoded into a buffer it keeps
//! ([`BufConn::head_writer`]), as `net/http` keeps a `bufio.Writer` beside
//! the reader: a keep-alive connection writes every head from the same
//! memory instead of allocating one per message.
//!
//! Timeouts stay the socket's business ([`Socket`]): the head reader sets
//! a deadline for the whole head, the body readers a timeout per read.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use grt::net::TcpStream;

/// A byte stream with read and write timeouts: what the HTTP code needs
/// from a socket. Implemented by [`grt::net::TcpStream`].
pub trait Socket: Read + Write {
    /// Makes each later read fail with `TimedOut` after `timeout` without
    /// data (`None`: wait for ever).
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// The same for writes that cannot proceed.
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// Go's `SetReadDeadline`: every later read that has to wait fails
    /// with `TimedOut` once `deadline` has passed (`None`: no deadline);
    /// a read timeout, if also set, applies too. The default turns the
    /// deadline into a read timeout from now, for sockets without
    /// deadlines of their own.
    fn set_read_deadline(&self, deadline: Option<Instant>) -> io::Result<()> {
        self.set_read_timeout(deadline.map(|deadline| {
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_nanos(1))
        }))
    }
}

impl Socket for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }

    fn set_read_deadline(&self, deadline: Option<Instant>) -> io::Result<()> {
        TcpStream::set_read_deadline(self, deadline)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }
}

/// Room reserved for a head to be written: most fit, the rest grow it.
const HEAD_ROOM: usize = 512;

/// A head buffer larger than this (a small body was read in behind a
/// head: encode.rs) is given back rather than kept with the connection.
const HEAD_BUFFER_KEPT: usize = 4096;

/// The buffer a connection starts with (module doc).
const FIRST_BUFFER: usize = 4096;

/// A connection `S` read through a buffer (module doc).
pub struct BufConn<S> {
    io: S,
    buf: Vec<u8>,
    /// How large `buf` may grow.
    limit: usize,
    /// `buf[start..end]` holds bytes read but not yet consumed.
    start: usize,
    end: usize,
    /// Where heads to be written are encoded (module doc).
    out: Vec<u8>,
}

impl<S: Read> BufConn<S> {
    /// Wraps `io` with a buffer that may grow to `limit` bytes, which
    /// bounds how much [`fill`](Self::fill) can gather (and so the
    /// largest head).
    pub fn new(io: S, limit: usize) -> BufConn<S> {
        BufConn {
            io,
            buf: vec![0u8; limit.min(FIRST_BUFFER)],
            limit,
            start: 0,
            end: 0,
            out: Vec::new(),
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.io
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }

    /// The connection to write to, with this connection's head buffer,
    /// emptied, to encode a head into (module doc).
    pub fn head_writer(&mut self) -> (&S, &mut Vec<u8>) {
        if self.out.capacity() > HEAD_BUFFER_KEPT {
            self.out = Vec::new();
        }
        self.out.clear();
        self.out.reserve(HEAD_ROOM);
        (&self.io, &mut self.out)
    }

    /// The connection and the bytes read from it but not consumed.
    pub fn into_parts(self) -> (S, Vec<u8>) {
        let leftover = self.buf[self.start..self.end].to_vec();
        (self.io, leftover)
    }

    /// Bytes read but not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Marks the first `n` buffered bytes as used.
    pub fn consume(&mut self, n: usize) {
        assert!(n <= self.end - self.start, "consumed more than buffered");
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Whether the buffer holds as much as it can ever hold.
    pub fn is_full(&self) -> bool {
        self.end - self.start == self.limit
    }

    /// Reads more bytes after those buffered (moving those to the front
    /// first if they do not leave room, or growing the buffer if they
    /// fill it). Returns how many came: 0 means end of stream. Fails if
    /// the buffer is already full.
    pub fn fill(&mut self) -> io::Result<usize> {
        if self.is_full() {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                "read buffer is full",
            ));
        }
        if self.end == self.buf.len() {
            if self.start == 0 {
                let grown = (2 * self.buf.len()).min(self.limit);
                self.buf.resize(grown, 0);
            } else {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
        }
        loop {
            match self.io.read(&mut self.buf[self.end..]) {
                Ok(n) => {
                    self.end += n;
                    return Ok(n);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
        }
    }
}

impl<S: Read> Read for BufConn<S> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.start == self.end {
            if out.len() >= self.buf.len() {
                return self.io.read(out);
            }
            if self.fill()? == 0 {
                return Ok(0);
            }
        }
        let n = out.len().min(self.end - self.start);
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.consume(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_it_read_past_the_point_of_interest() {
        let mut conn = BufConn::new(&b"HEAD\r\n\r\nbody"[..], 64);
        conn.fill().unwrap();
        assert_eq!(conn.buffered(), b"HEAD\r\n\r\nbody");
        conn.consume(8);
        let mut rest = String::new();
        conn.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "body");
    }

    #[test]
    fn grows_to_its_limit_for_a_long_head_and_no_further() {
        let long = vec![b'x'; FIRST_BUFFER * 3];
        let mut conn = BufConn::new(&long[..], FIRST_BUFFER * 3);
        let mut gathered = 0;
        while !conn.is_full() {
            gathered += conn.fill().unwrap();
        }
        assert_eq!(gathered, FIRST_BUFFER * 3);
        assert_eq!(conn.buffered(), &long[..]);
        assert!(conn.fill().is_err());
    }

    #[test]
    fn compacts_when_the_end_is_reached() {
        let mut conn = BufConn::new(&b"abcdefgh"[..], 4);
        assert_eq!(conn.fill().unwrap(), 4);
        assert!(conn.is_full());
        assert!(conn.fill().is_err());
        conn.consume(3);
        assert_eq!(conn.fill().unwrap(), 3);
        assert_eq!(conn.buffered(), b"defg");
        let (_, leftover) = conn.into_parts();
        assert_eq!(leftover, b"defg");
    }
}
