//! Sockets for tasks: `TcpListener`, `TcpStream`, `UdpSocket`,
//! `UnixListener`, `UnixStream` — std's types and methods, on grt's net
//! poller (Go's `net` package over `internal/poll`).
//!
//! Code written against `std::io::Read`/`Write` runs on these unchanged, so
//! synchronous crates (httparse, tungstenite, rustls) serve thousands of
//! connections from one process: a read with no data parks the task, not
//! the thread, and the poller readies it when data arrives (pollable.rs,
//! netpoll.rs).
//!
//! What differs from std:
//! - Timeouts (`set_read_timeout`, `connect_timeout`) fail with
//!   `io::ErrorKind::TimedOut`, as Go's deadlines do, not `WouldBlock`.
//! - Name resolution (`connect("example.com:80")`) runs as a
//!   [`crate::blocking`] call, so a slow DNS server stalls one task, not a P.
//! - `try_clone` gives a new descriptor (`dup`), as std does; dropping it
//!   closes only that one. To make a task blocked reading a connection
//!   give up, call `shutdown(Shutdown::Both)` on any handle to it: the
//!   kernel wakes the reader with end-of-file.
//! - Used from a plain thread they block that thread, like std sockets
//!   (via `poll(2)`); in a task they park the task.

mod pollable;
mod tcp;
mod udp;
mod unix;

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

pub use std::net::Shutdown;
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixIncoming, UnixListener, UnixStream};

/// Resolves `addr` as a blocking call (it may ask a DNS server) and runs
/// `f` on each address until one works, like std's `each_addr`: the
/// result of the first success, or the last error.
fn each_addr<A: ToSocketAddrs, T>(
    addr: A,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let addrs: Vec<SocketAddr> = crate::blocking(|| addr.to_socket_addrs())?.collect();
    let mut last = None;
    for addr in &addrs {
        match f(addr) {
            Ok(value) => return Ok(value),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}

/// The Read/Write impls and timeout methods every stream socket shares:
/// `$ty` has a field `inner: Pollable<$std>`.
macro_rules! stream_io {
    ($ty:ty) => {
        impl std::io::Read for &$ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let len = buf.len();
                self.inner.read_stream(len, |s| (&mut &*s).read(buf))
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                let len = bufs.iter().map(|b| b.len()).sum();
                self.inner
                    .read_stream(len, |s| (&mut &*s).read_vectored(bufs))
            }
        }

        impl std::io::Write for &$ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.inner
                    .io(grt_netpoll::Interest::Write, |s| (&mut &*s).write(buf))
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                self.inner.io(grt_netpoll::Interest::Write, |s| {
                    (&mut &*s).write_vectored(bufs)
                })
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl std::io::Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                (&*self).read(buf)
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                (&*self).read_vectored(bufs)
            }
        }

        impl std::io::Write for $ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                (&*self).write(buf)
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                (&*self).write_vectored(bufs)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl $ty {
            /// Makes each later read fail with `TimedOut` if no data came
            /// within `timeout` (`None`: wait for ever). A zero duration is
            /// an error, as in std.
            pub fn set_read_timeout(
                &self,
                timeout: Option<std::time::Duration>,
            ) -> std::io::Result<()> {
                self.inner.set_timeout(grt_netpoll::Interest::Read, timeout)
            }

            /// Makes each later write fail with `TimedOut` if it could not
            /// proceed within `timeout` (`None`: wait for ever).
            pub fn set_write_timeout(
                &self,
                timeout: Option<std::time::Duration>,
            ) -> std::io::Result<()> {
                self.inner
                    .set_timeout(grt_netpoll::Interest::Write, timeout)
            }

            /// Go's `SetReadDeadline`: every read that has to wait fails
            /// with `TimedOut` once `deadline` has passed, until it is
            /// changed (`None` clears it). With a read timeout too, whichever
            /// comes first applies. Lets a server bound a whole request
            /// head, however slowly it trickles in.
            pub fn set_read_deadline(
                &self,
                deadline: Option<std::time::Instant>,
            ) -> std::io::Result<()> {
                self.inner
                    .set_deadline(grt_netpoll::Interest::Read, deadline);
                Ok(())
            }

            /// Go's `SetWriteDeadline`; see
            /// [`set_read_deadline`](Self::set_read_deadline).
            pub fn set_write_deadline(
                &self,
                deadline: Option<std::time::Instant>,
            ) -> std::io::Result<()> {
                self.inner
                    .set_deadline(grt_netpoll::Interest::Write, deadline);
                Ok(())
            }

            /// std's `set_nonblocking`: in non-blocking mode an operation
            /// that would wait fails with `WouldBlock` instead (to peek at
            /// whether an idle connection is still alive, say). As with
            /// tokio's `try_read`, a read or peek after one that found
            /// nothing to read says `WouldBlock` without a system call
            /// until the net poller has seen the socket readable or hung
            /// up: so bytes or an end the kernel has but no poll has
            /// reported yet may be seen a moment late.
            pub fn set_nonblocking(&self, nonblocking: bool) -> std::io::Result<()> {
                self.inner.set_nonblocking(nonblocking);
                Ok(())
            }

            pub fn read_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                Ok(self.inner.timeout(grt_netpoll::Interest::Read))
            }

            pub fn write_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                Ok(self.inner.timeout(grt_netpoll::Interest::Write))
            }

            /// Shuts down the read half, the write half, or both. A task
            /// blocked reading this connection (through any handle) wakes
            /// up with end-of-file.
            pub fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
                self.inner.get().shutdown(how)
            }

            /// The pending socket error (`SO_ERROR`), cleared.
            pub fn take_error(&self) -> std::io::Result<Option<std::io::Error>> {
                self.inner.get().take_error()
            }
        }

        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.inner.as_raw_fd()
            }
        }

        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                std::os::fd::AsFd::as_fd(self.inner.get())
            }
        }
    };
}
use stream_io;
