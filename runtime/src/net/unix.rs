//! Unix-domain stream sockets (Go's `net.UnixListener`, `net.UnixConn`):
//! local connections by path, or a connected pair.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::{self as stdunix, SocketAddr};
use std::path::Path;

use grt_netpoll::Interest;

use super::pollable::Pollable;
use super::stream_io;

/// A Unix-domain socket listening for connections.
pub struct UnixListener {
    inner: Pollable<stdunix::UnixListener>,
}

impl UnixListener {
    /// Listens at `path`, which must not exist yet.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let listener = stdunix::UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        Ok(UnixListener {
            inner: Pollable::new(listener),
        })
    }

    /// Waits for a connection and returns it with the peer's address.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, addr) = self.inner.io(Interest::Read, |l| l.accept())?;
        Ok((UnixStream::from_std(stream)?, addr))
    }

    /// An endless iterator of [`accept`](Self::accept)ed connections.
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming { listener: self }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().local_addr()
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl AsFd for UnixListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.get().as_fd()
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}

/// Connections accepted one after another (see [`UnixListener::incoming`]).
pub struct UnixIncoming<'a> {
    listener: &'a UnixListener,
}

impl Iterator for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;

    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

/// A Unix-domain stream connection; like [`super::TcpStream`], `Read` and
/// `Write` work through `&UnixStream` too.
pub struct UnixStream {
    inner: Pollable<stdunix::UnixStream>,
}

stream_io!(UnixStream);

impl UnixStream {
    /// Connects to the socket at `path`. The kernel answers a local connect
    /// at once unless the listener's queue is full; it runs as a blocking
    /// call for that case.
    pub fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let stream = crate::blocking(|| stdunix::UnixStream::connect(path))?;
        UnixStream::from_std(stream)
    }

    /// Two streams connected to each other.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = stdunix::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }

    /// Adopts a connected std stream, switching it to non-blocking mode.
    pub fn from_std(stream: stdunix::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        Ok(UnixStream {
            inner: Pollable::new(stream),
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().local_addr()
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().peer_addr()
    }

    /// Another handle to this connection, through a new descriptor.
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        Ok(UnixStream {
            inner: self.inner.try_clone_with(stdunix::UnixStream::try_clone)?,
        })
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}
