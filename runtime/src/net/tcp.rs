//! TCP listeners and connections (Go's `net.TCPListener`, `net.TCPConn`).
//!
//! Connecting is Go's `netFD.connect`: a non-blocking `connect` that says
//! `EINPROGRESS`, a wait for writability, then `SO_ERROR` for the verdict;
//! a timeout is a deadline on that wait. Accepting is `accept4` with
//! `SOCK_NONBLOCK`, so a new connection costs no extra system call to set
//! up.

use std::fmt;
use std::io;
use std::net::{self as stdnet, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use grt_netpoll::Interest;
use socket2::{Domain, SockRef, Socket, Type};

use super::pollable::Pollable;
use super::{each_addr, stream_io};
use crate::time::deadline_after;

/// Connections the kernel may queue for `accept` (capped by
/// `net.core.somaxconn`); Go asks for the kernel's maximum too.
const BACKLOG: i32 = 4096;

/// A TCP socket listening for connections.
pub struct TcpListener {
    inner: Pollable<stdnet::TcpListener>,
}

impl TcpListener {
    /// Listens on `addr` (the first of its addresses that works), with
    /// `SO_REUSEADDR` set as std does. Port 0 picks a free port; see
    /// [`local_addr`](Self::local_addr).
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        each_addr(addr, |addr| {
            let socket = Socket::new(Domain::for_address(*addr), Type::STREAM.nonblocking(), None)?;
            socket.set_reuse_address(true)?;
            socket.bind(&(*addr).into())?;
            socket.listen(BACKLOG)?;
            Ok(TcpListener {
                inner: Pollable::new(socket.into()),
            })
        })
    }

    /// Waits for a connection and returns it with the peer's address.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        self.inner.io(Interest::Read, |listener| loop {
            match SockRef::from(listener).accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) {
                Ok((socket, addr)) => {
                    let addr = addr.as_socket().ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidData, "accepted a non-IP address")
                    })?;
                    return Ok((TcpStream::wrap(socket.into()), addr));
                }
                // The peer gave up while queued; Go retries too.
                Err(err) if err.raw_os_error() == Some(libc::ECONNABORTED) => continue,
                Err(err) => return Err(err),
            }
        })
    }

    /// An endless iterator of [`accept`](Self::accept)ed connections.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().local_addr()
    }

    /// Stops accepting (Go's `Listener.Close`, as far as a shared
    /// listener can): a task blocked in [`accept`](Self::accept) wakes up
    /// with an error, and later accepts fail. The descriptor stays open
    /// until the listener is dropped.
    pub fn shutdown(&self) -> io::Result<()> {
        SockRef::from(self.inner.get()).shutdown(std::net::Shutdown::Both)
    }

    /// std's `set_nonblocking`: an accept with no connection waiting fails
    /// with `WouldBlock` instead of parking.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking);
        Ok(())
    }

    /// Adopts a std listener, switching it to non-blocking mode.
    pub fn from_std(listener: stdnet::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Ok(TcpListener {
            inner: Pollable::new(listener),
        })
    }

    pub fn try_clone(&self) -> io::Result<TcpListener> {
        Ok(TcpListener {
            inner: self.inner.try_clone_with(stdnet::TcpListener::try_clone)?,
        })
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.get().as_fd()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("addr", &self.local_addr().ok())
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}

/// Connections accepted one after another (see [`TcpListener::incoming`]).
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

/// A TCP connection. `Read` and `Write` are implemented for `&TcpStream`
/// too, so one task can read while another writes through an `Arc`.
pub struct TcpStream {
    inner: Pollable<stdnet::TcpStream>,
}

stream_io!(TcpStream);

impl TcpStream {
    fn wrap(stream: stdnet::TcpStream) -> TcpStream {
        TcpStream {
            inner: Pollable::new(stream),
        }
    }

    /// Connects to `addr`, trying each of its addresses in turn (name
    /// resolution runs as a blocking call). Waits as long as the kernel
    /// does (about two minutes for an unanswered SYN); see
    /// [`connect_timeout`](Self::connect_timeout).
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        each_addr(addr, |addr| connect(addr, None))
    }

    /// Connects to `addr`, failing with `TimedOut` if the handshake has
    /// not finished within `timeout` (a zero timeout is an error, as in
    /// std). A refused connection fails at once with `ConnectionRefused`.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        connect(addr, Some(deadline_after(timeout)))
    }

    /// Reads without removing the data from the socket's queue.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len();
        self.inner.peek_stream(len, |s| s.peek(buf))
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().peer_addr()
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().local_addr()
    }

    /// Sets `TCP_NODELAY`: send small writes at once instead of waiting to
    /// coalesce them (Nagle's algorithm). Go sets it on every connection.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.get().set_nodelay(nodelay)
    }

    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.get().nodelay()
    }

    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.get().set_ttl(ttl)
    }

    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.get().ttl()
    }

    /// Another handle to this connection, through a new descriptor, with
    /// the same timeouts.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(TcpStream {
            inner: self.inner.try_clone_with(stdnet::TcpStream::try_clone)?,
        })
    }

    /// Adopts a connected std stream, switching it to non-blocking mode.
    pub fn from_std(stream: stdnet::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        Ok(TcpStream::wrap(stream))
    }
}

/// Go's `netFD.connect`: start the handshake, wait for writability, read
/// the verdict from `SO_ERROR`.
fn connect(addr: &SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(*addr), Type::STREAM.nonblocking(), None)?;
    let in_progress = match socket.connect(&(*addr).into()) {
        Ok(()) => false,
        Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => true,
        Err(err) => return Err(err),
    };
    let stream = TcpStream::wrap(socket.into());
    if in_progress {
        loop {
            stream.inner.wait(Interest::Write, deadline)?;
            if let Some(err) = stream.take_error()? {
                return Err(err);
            }
            // Writable without an error may still be a spurious wake-up:
            // connected only once the kernel knows the peer.
            match stream.peer_addr() {
                Ok(_) => break,
                Err(err) if err.kind() == io::ErrorKind::NotConnected => continue,
                Err(err) => return Err(err),
            }
        }
    }
    Ok(stream)
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("addr", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}
