//! Sockets under load: grt against tokio on a TCP echo and an HTTP/1.1
//! keep-alive "hello world", the last two rows of the `shared/` reference
//! figures. The `netbench` binary drives it (`src/bin/netbench.rs`; how to
//! run it and what the numbers were are in docs/benchmarks.md).
//!
//! # What is compared
//! The same server written twice, once per runtime, in each runtime's own
//! style, one task per connection:
//! - **grt**: blocking code on `grt::net::TcpStream` (`read`, `write_all`),
//!   as a Go server is written;
//! - **tokio**: the same loop, `async`, on `tokio::net::TcpStream`.
//!
//! The HTTP server is hand-rolled on both (an `httparse` request parser and
//! a fixed response, [`http::answer`], shared by both), so the comparison
//! is runtime against runtime, not parser against parser. hyper on tokio
//! runs as a third column for scale: what a production HTTP stack costs on
//! the same runtime (it adds a `date` header, so its responses are checked
//! by parsing, not byte for byte).
//!
//! # Why two processes
//! Each server runs in a child process (`netbench --serve ...`, [`serve`]),
//! started fresh for every measurement; the load generator ([`load`]) runs
//! in the parent. So server and load never share a runtime, a heap or a
//! scheduler, and the load is the very same code whichever server it
//! measures. The parent also reads the child's CPU time
//! (`/proc/PID/stat`), which gives a figure the throughput cannot: server
//! CPU per request, true even when the load generator is the bottleneck.
//!
//! # Why the load is a tokio current-thread runtime
//! One OS thread, so it takes one core and no more; `epoll`-driven, so one
//! thread can keep 1,000 connections busy; not grt, so no change to grt
//! can move the yardstick. Rejected: a grt client (grt would measure
//! itself on both sides), a multi-thread client (it would compete with the
//! server for the second core), `wrk` (not installed on the CI machines,
//! and it reports no per-request check of the body).

pub mod http;
pub mod load;
pub mod report;
pub mod serve;

use std::fmt;
use std::str::FromStr;

/// Bytes in each echo message (the `shared/` reference figure's size).
pub const ECHO_LEN: usize = 64;

/// The request the load sends: a keep-alive GET with nothing else.
pub const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// The body every server answers with.
pub const BODY: &[u8] = b"Hello, world!";

/// The hand-rolled servers' whole response, which the load compares byte
/// for byte.
pub const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, world!";

/// The server under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    /// Blocking style on grt, one task per connection.
    Grt,
    /// `async` on tokio, one task per connection.
    Tokio,
    /// hyper's HTTP/1.1 server on tokio (HTTP only).
    Hyper,
}

impl Server {
    pub const ALL: [Server; 3] = [Server::Grt, Server::Tokio, Server::Hyper];

    pub fn name(self) -> &'static str {
        match self {
            Server::Grt => "grt",
            Server::Tokio => "tokio",
            Server::Hyper => "hyper",
        }
    }

    /// Whether this server implements `workload`.
    pub fn serves(self, workload: Workload) -> bool {
        self != Server::Hyper || workload == Workload::Http
    }

    /// Whether its responses are [`RESPONSE`] exactly (hyper's carry a date).
    pub fn exact_response(self) -> bool {
        self != Server::Hyper
    }
}

impl FromStr for Server {
    type Err = String;

    fn from_str(s: &str) -> Result<Server, String> {
        Server::ALL
            .into_iter()
            .find(|server| server.name() == s)
            .ok_or_else(|| format!("unknown server {s:?} (grt, tokio, hyper)"))
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What each connection does, one exchange at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Write [`ECHO_LEN`] bytes, read them back.
    Echo,
    /// Send [`REQUEST`], read a whole response.
    Http,
}

impl Workload {
    pub const ALL: [Workload; 2] = [Workload::Echo, Workload::Http];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Echo => "echo",
            Workload::Http => "http",
        }
    }

    /// What one exchange is called in reports.
    pub fn unit(self) -> &'static str {
        match self {
            Workload::Echo => "round trips/s",
            Workload::Http => "req/s",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Workload::Echo => "TCP echo, 64 B",
            Workload::Http => "HTTP/1.1 keep-alive hello",
        }
    }
}

impl FromStr for Workload {
    type Err = String;

    fn from_str(s: &str) -> Result<Workload, String> {
        Workload::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| format!("unknown workload {s:?} (echo, http)"))
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Raises this process's open-file limit to its hard limit (1,000
/// connections need 1,000 descriptors on each side; children inherit it).
/// Returns the soft limit in force afterwards.
pub fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write only `limit`.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}
