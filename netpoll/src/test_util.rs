//! Helpers shared by the tests: connected non-blocking socket pairs and a
//! poll that waits for tokens.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::Poller;

/// Two connected non-blocking Unix stream sockets.
pub fn socketpair() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    let kind = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: `fds` has room for the two descriptors the call writes.
    let rc = unsafe { libc::socketpair(libc::AF_UNIX, kind, 0, fds.as_mut_ptr()) };
    assert_eq!(rc, 0, "socketpair: {}", io::Error::last_os_error());
    // SAFETY: both descriptors were just created for us and nothing else holds them.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Writes one byte; the socket must have room.
pub fn write_byte(fd: &OwnedFd) {
    // SAFETY: writes one byte from a static buffer.
    let n = unsafe { libc::write(fd.as_raw_fd(), b"x".as_ptr().cast(), 1) };
    assert_eq!(n, 1, "write: {}", io::Error::last_os_error());
}

/// Writes until the socket's buffer is full (EAGAIN).
pub fn fill(fd: &OwnedFd) {
    let chunk = [0u8; 4096];
    // SAFETY (each call): writes from a live local buffer of that length.
    while unsafe { libc::write(fd.as_raw_fd(), chunk.as_ptr().cast(), chunk.len()) } > 0 {}
    let err = io::Error::last_os_error();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "fill: {err}");
}

/// Reads until nothing is left (EAGAIN).
pub fn drain(fd: &OwnedFd) {
    let mut chunk = [0u8; 4096];
    // SAFETY (each call): reads into a live local buffer of that length.
    while unsafe { libc::read(fd.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) } > 0 {}
    let err = io::Error::last_os_error();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "drain: {err}");
}

/// Polls until some tokens come back or `timeout` has passed, and returns
/// them; polls that return none (an interrupted wait) are retried.
pub fn poll_tokens(poller: &Poller, timeout: Duration) -> Vec<usize> {
    let deadline = Instant::now() + timeout;
    let mut ready = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let n = poller.poll(Some(left), &mut ready).unwrap();
        assert_eq!(n, ready.len(), "poll miscounted the tokens it pushed");
        if n > 0 || left.is_zero() {
            return ready;
        }
    }
}
