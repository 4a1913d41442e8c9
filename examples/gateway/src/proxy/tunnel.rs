//! After a `101 Switching Protocols`, the proxy is a pipe: bytes from the
//! client go to the backend and back, unread (Go's
//! `handleUpgradeResponse` with its `switchProtocolCopier`).
//!
//! Two tasks, one per direction, each a plain read-write loop parked on
//! the net poller between messages: the one that called [`tunnel`] copies
//! backend → client, a task it starts copies client → backend.
//!
//! Ending, in the order TCP allows:
//! - a side that reaches end-of-file has finished sending: its pump shuts
//!   the *write* half of the other socket, passing the half-close on, and
//!   ends; the other direction goes on until its own end-of-file (a
//!   WebSocket closing handshake needs exactly this);
//! - a read or write that fails ends both directions at once: shutting
//!   both sockets down wakes the other pump from its read with
//!   end-of-file (grt's way to make a parked reader give up).
//!
//! Bytes already read past the heads (the client's first frames after its
//! request, the backend's after its `101`) are written first, or they
//! would be lost.
//!
//! There is no read timeout, as a WebSocket may be quiet for hours (its
//! own pings keep it honest); a write that cannot proceed for
//! [`WRITE_TIMEOUT`] means the reader is gone and ends the tunnel.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::Duration;

use grt::net::TcpStream;

use crate::http::Upgraded;

/// How long a write may wait for the far side to read (nginx's
/// `proxy_send_timeout` and `send_timeout`, 60 s).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// Copy buffer per direction.
const BUFFER: usize = 16 * 1024;

/// Pipes `client` and `backend` together until both directions end
/// (module doc). Returns whether both ended cleanly.
pub fn tunnel(client: Upgraded, backend: TcpStream, backend_leftover: Vec<u8>) -> bool {
    let Upgraded { stream, leftover } = client;
    let client = Arc::new(stream);
    let backend = Arc::new(backend);
    for side in [&client, &backend] {
        let _ = side.set_read_timeout(None);
        let _ = side.set_write_timeout(Some(WRITE_TIMEOUT));
    }
    let early = (&*backend)
        .write_all(&leftover)
        .and_then(|()| (&*client).write_all(&backend_leftover));
    if early.is_err() {
        abort(&client, &backend);
        return false;
    }
    let (from, to) = (Arc::clone(&client), Arc::clone(&backend));
    let upstream = grt::Builder::new()
        .name("gateway-tunnel")
        .spawn(move || pump(&from, &to));
    let upstream = match upstream {
        Ok(handle) => handle,
        Err(_) => {
            abort(&client, &backend);
            return false;
        }
    };
    let down_ok = pump(&backend, &client);
    let up_ok = upstream.join().unwrap_or(false);
    down_ok && up_ok
}

/// Copies `from` to `to` until end-of-file (passed on as a half-close) or
/// an error (which ends both directions). Returns whether it ended cleanly.
fn pump(from: &TcpStream, to: &TcpStream) -> bool {
    let mut buf = vec![0u8; BUFFER];
    loop {
        match (&*from).read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return true;
            }
            Ok(n) => {
                if (&*to).write_all(&buf[..n]).is_err() {
                    abort(from, to);
                    return false;
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                abort(from, to);
                return false;
            }
        }
    }
}

/// Ends both directions: each socket's reader wakes with end-of-file.
fn abort(a: &TcpStream, b: &TcpStream) {
    let _ = a.shutdown(Shutdown::Both);
    let _ = b.shutdown(Shutdown::Both);
}
