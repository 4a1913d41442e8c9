//! The two views of one TCP connection that the pumps hold: a read side
//! with a moving deadline, and a write side with a deadline per frame.
//!
//! Go's `net.Conn` has absolute deadlines (`SetReadDeadline`,
//! `SetWriteDeadline`), and gorilla's client.go is written against them:
//! the read deadline is "now + pong wait", pushed forward by each pong,
//! and every frame written must be out by "now + write wait". grt's
//! sockets, like std's, have *timeouts* instead: each call to `read` or
//! `write` may wait that long. A peer sending one byte just before each
//! timeout would keep a timeout-based connection alive for ever, so each
//! side here turns its deadline into "the time that is left" before every
//! call (a cheap store into the socket) and fails with `TimedOut` once none
//! is left, which is Go's behaviour.
//!
//! Both sides share the connection through an `Arc<TcpStream>`, since
//! `&TcpStream` is `Read` and `Write` and grt lets one task read while
//! another writes (one waiter per direction, like Go's `pollDesc`).
//! client.rs says why the read side's `Write` goes nowhere.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use grt::net::TcpStream;

/// The time left until `deadline`, or `TimedOut` if it has passed.
fn time_left(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
    }
    Ok(left)
}

/// What the read pump's `WebSocket` reads through.
pub(crate) struct ReadSide {
    /// The connection, shared with the write pump.
    conn: Arc<TcpStream>,
    /// When the next read gives up (gorilla's read deadline).
    deadline: Instant,
}

impl ReadSide {
    /// A read side whose first deadline is `wait` from now.
    pub(crate) fn new(conn: Arc<TcpStream>, wait: Duration) -> ReadSide {
        ReadSide {
            conn,
            deadline: grt::time::deadline_after(wait),
        }
    }

    /// Moves the deadline to `wait` from now (gorilla's pong handler).
    pub(crate) fn extend(&mut self, wait: Duration) {
        self.deadline = grt::time::deadline_after(wait);
    }

    /// Reads and throws away whatever the peer still sends, until it
    /// hangs up, fails, or `wait` has passed: a lingering close (see
    /// read_pump.rs), so that our close frame is not lost to a reset.
    pub(crate) fn discard_until_eof(&mut self, wait: Duration) {
        self.extend(wait);
        let mut sink = [0u8; 4096];
        while let Ok(n) = self.read(&mut sink) {
            if n == 0 {
                return;
            }
        }
    }
}

impl Read for ReadSide {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.conn
            .set_read_timeout(Some(time_left(self.deadline)?))?;
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
    /// The connection, shared with the read pump.
    conn: Arc<TcpStream>,
    /// When the frame being written must be out (gorilla's write
    /// deadline); `None` until the first frame.
    deadline: Option<Instant>,
}

impl WriteSide {
    pub(crate) fn new(conn: Arc<TcpStream>) -> WriteSide {
        WriteSide {
            conn,
            deadline: None,
        }
    }

    /// Gives the next frame `wait` to get out (gorilla's
    /// `SetWriteDeadline(time.Now().Add(writeWait))` before each write).
    pub(crate) fn arm(&mut self, wait: Duration) {
        self.deadline = Some(grt::time::deadline_after(wait));
    }

    /// The connection, for shutting it down.
    pub(crate) fn conn(&self) -> &TcpStream {
        &self.conn
    }
}

impl Write for WriteSide {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(deadline) = self.deadline {
            self.conn.set_write_timeout(Some(time_left(deadline)?))?;
        }
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
