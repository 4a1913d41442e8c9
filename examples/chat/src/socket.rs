//! The two views of one TCP connection that the pumps hold: a read side
//! whose deadline moves with each pong, and a write side with a deadline
//! per frame.
//!
//! gorilla's client.go is written against Go's absolute deadlines
//! (`SetReadDeadline`, `SetWriteDeadline`): the read deadline is "now +
//! pong wait", pushed forward by each pong, and every frame written must be
//! out by "now + write wait". grt's sockets have the same calls
//! (`set_read_deadline`, `set_write_deadline`), so each side here is a
//! thin view that sets them. A per-call *timeout* would not do: a peer
//! sending one byte just before each timeout would keep the connection
//! alive for ever.
//!
//! One difference from Go: grt fails a call at the deadline only if the
//! call has to wait, so a read that finds data already queued still gets
//! it. For the read pump that changes little: a vanished peer sends
//! nothing, so its next read waits and fails; only a peer that never lets
//! the socket's buffer run dry (and never pongs) would outlast its pong
//! wait, until its first pause.
//!
//! Both sides share the connection through an `Arc<TcpStream>`, since
//! `&TcpStream` is `Read` and `Write` and grt lets one task read while
//! another writes (one waiter per direction, like Go's `pollDesc`).
//! client.rs says why the read side's `Write` goes nowhere.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use grt::net::TcpStream;

/// What the read pump's `WebSocket` reads through.
pub(crate) struct ReadSide {
    /// The connection, shared with the write pump; its read deadline is
    /// gorilla's.
    conn: Arc<TcpStream>,
}

impl ReadSide {
    /// A read side whose first deadline is `wait` from now.
    pub(crate) fn new(conn: Arc<TcpStream>, wait: Duration) -> ReadSide {
        let side = ReadSide { conn };
        side.extend(wait);
        side
    }

    /// Moves the deadline to `wait` from now (gorilla's pong handler).
    pub(crate) fn extend(&self, wait: Duration) {
        // Cannot fail: grt only stores the instant (the `Result` is std's
        // shape for socket options).
        let _ = self
            .conn
            .set_read_deadline(Some(grt::time::deadline_after(wait)));
    }

    /// Reads and throws away whatever the peer still sends, until it
    /// hangs up, fails, or `wait` has passed: a lingering close (see
    /// read_pump.rs), so that our close frame is not lost to a reset.
    /// The deadline is checked here too, since a read that finds data
    /// queued does not fail at it (module doc): a peer that keeps sending
    /// must not keep us here.
    pub(crate) fn discard_until_eof(&mut self, wait: Duration) {
        let deadline = grt::time::deadline_after(wait);
        let _ = self.conn.set_read_deadline(Some(deadline)); // as in `extend`
        let mut sink = [0u8; 4096];
        while Instant::now() < deadline {
            match self.read(&mut sink) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }
}

impl Read for ReadSide {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.conn).read(buf)
    }
}

/// tungstenite answers pings and close frames by writing through the
/// stream it reads from. Those writes land here and go nowhere: the read
/// pump passes the same answers to the write pump as [`Control`] values,
/// and only the write pump writes to the socket (client.rs says why).
///
/// [`Control`]: crate::client::Control
impl Write for ReadSide {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What the write pump's `WebSocket` writes through.
pub(crate) struct WriteSide {
    /// The connection, shared with the read pump; its write deadline is
    /// set before each frame.
    conn: Arc<TcpStream>,
}

impl WriteSide {
    pub(crate) fn new(conn: Arc<TcpStream>) -> WriteSide {
        WriteSide { conn }
    }

    /// Gives the next frame `wait` to get out (gorilla's
    /// `SetWriteDeadline(time.Now().Add(writeWait))` before each write).
    pub(crate) fn arm(&mut self, wait: Duration) {
        // Cannot fail, as in `ReadSide::extend`.
        let _ = self
            .conn
            .set_write_deadline(Some(grt::time::deadline_after(wait)));
    }

    /// The connection, for shutting it down.
    pub(crate) fn conn(&self) -> &TcpStream {
        &self.conn
    }
}

impl Write for WriteSide {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.conn).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// tungstenite asks for `Read + Write` even to write; its writing paths
/// never read, and neither does the write pump.
impl Read for WriteSide {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the write pump never reads",
        ))
    }
}
