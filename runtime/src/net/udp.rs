//! UDP sockets (Go's `net.UDPConn`): datagrams, each `recv` parks the task
//! until one arrives, each `send` until the socket buffer has room.

use std::fmt;
use std::io;
use std::net::{self as stdnet, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use grt_netpoll::Interest;

use super::each_addr;
use super::pollable::Pollable;

/// A UDP socket.
pub struct UdpSocket {
    inner: Pollable<stdnet::UdpSocket>,
}

impl UdpSocket {
    /// Binds to `addr` (the first of its addresses that works).
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        each_addr(addr, |addr| {
            UdpSocket::from_std(stdnet::UdpSocket::bind(addr)?)
        })
    }

    /// Adopts a std socket, switching it to non-blocking mode.
    pub fn from_std(socket: stdnet::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        Ok(UdpSocket {
            inner: Pollable::new(socket),
        })
    }

    /// Sets the only peer `send` sends to and `recv` receives from.
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        each_addr(addr, |addr| self.inner.get().connect(addr))
    }

    /// Receives one datagram, and who sent it; a datagram longer than
    /// `buf` is truncated.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.io(Interest::Read, |s| s.recv_from(buf))
    }

    /// Like `recv_from`, leaving the datagram queued.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.io(Interest::Read, |s| s.peek_from(buf))
    }

    /// Sends one datagram to the first address of `addr`.
    pub fn send_to(&self, buf: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        let addr = crate::blocking(|| addr.to_socket_addrs())?
            .next()
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "no addresses to send data to")
            })?;
        self.inner.io(Interest::Write, |s| s.send_to(buf, addr))
    }

    /// Receives one datagram from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.io(Interest::Read, |s| s.recv(buf))
    }

    /// Sends one datagram to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.io(Interest::Write, |s| s.send(buf))
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().local_addr()
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().peer_addr()
    }

    pub fn set_broadcast(&self, broadcast: bool) -> io::Result<()> {
        self.inner.get().set_broadcast(broadcast)
    }

    pub fn broadcast(&self) -> io::Result<bool> {
        self.inner.get().broadcast()
    }

    /// Makes each later receive fail with `TimedOut` after `timeout`
    /// without a datagram (`None`: wait for ever; zero is an error).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_timeout(Interest::Read, timeout)
    }

    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_timeout(Interest::Write, timeout)
    }

    /// Go's `SetReadDeadline`: receives that have to wait fail with
    /// `TimedOut` once `deadline` has passed (`None` clears it).
    pub fn set_read_deadline(&self, deadline: Option<Instant>) -> io::Result<()> {
        self.inner.set_deadline(Interest::Read, deadline);
        Ok(())
    }

    pub fn set_write_deadline(&self, deadline: Option<Instant>) -> io::Result<()> {
        self.inner.set_deadline(Interest::Write, deadline);
        Ok(())
    }

    /// std's `set_nonblocking`: a receive or send that would wait fails
    /// with `WouldBlock` instead.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking);
        Ok(())
    }

    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.inner.timeout(Interest::Read))
    }

    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.inner.timeout(Interest::Write))
    }

    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.get().take_error()
    }

    /// Another handle to this socket, through a new descriptor.
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            inner: self.inner.try_clone_with(stdnet::UdpSocket::try_clone)?,
        })
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.get().as_fd()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("addr", &self.local_addr().ok())
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}
