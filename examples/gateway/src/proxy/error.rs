//! Why a request could not be proxied, and the answer the client gets
//! (Go's `ReverseProxy.ErrorHandler`, whose default logs and answers 502).
//!
//! | error | status | nginx says |
//! |---|---|---|
//! | every backend down, or none left to retry on | 502 | "no live upstreams" |
//! | connection refused, reset, closed early, bad response | 502 | "upstream prematurely closed", "connect() failed" |
//! | connect or response timed out | 504 | "upstream timed out" |
//! | the client's body over the route's limit | 413 | "client intended to send too large body" |
//! | the client's body stopped coming | 408 if it timed out, else 400 | |
//! | `modify_response` refused the response | 502 | |
//!
//! The body of each answer says which, in one line, so that "all backends
//! are down" is told apart from one refusing backend without the logs.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use crate::http::{RequestHead, Response};
use crate::upstream::Failure;

/// Why a request could not be proxied (module doc).
#[derive(Debug)]
pub enum ProxyError {
    /// The balancer had no backend up.
    NoBackend,
    /// The exchange with `addr` failed.
    Upstream { addr: SocketAddr, failure: Failure },
    /// The backend switched protocols without being asked to, or to
    /// another protocol than asked.
    BadUpgrade(String),
    /// The `modify_response` hook refused the response.
    ModifyResponse(String),
}

/// Makes the response for a failed request, given the head as it went (or
/// would have gone) to the backend: Go's `ErrorHandler` gets the outgoing
/// request too.
pub type ErrorHandler = Box<dyn Fn(&RequestHead, &ProxyError) -> Response + Send + Sync>;

impl ProxyError {
    /// The status to answer with (module doc).
    pub fn status(&self) -> u16 {
        match self {
            ProxyError::Upstream { failure, .. } => match failure {
                Failure::ClientBody(err) => {
                    if failure.body_too_large().is_some() {
                        413
                    } else if err.kind() == io::ErrorKind::TimedOut {
                        408
                    } else {
                        400
                    }
                }
                failure if failure.is_timeout() => 504,
                _ => 502,
            },
            _ => 502,
        }
    }

    /// Whether the client's connection must close after the answer: its
    /// body was only partly read, so its framing is lost.
    pub fn breaks_client_connection(&self) -> bool {
        matches!(
            self,
            ProxyError::Upstream {
                failure: Failure::ClientBody(_),
                ..
            }
        )
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::NoBackend => write!(f, "all backends are down"),
            ProxyError::Upstream { addr, failure } => match failure {
                Failure::Connect(err) => write!(f, "cannot connect to backend {addr}: {err}"),
                Failure::Stale(err) | Failure::Io(err) => write!(f, "backend {addr} failed: {err}"),
                Failure::Timeout => write!(f, "backend {addr} did not answer in time"),
                Failure::BadResponse(why) => write!(f, "backend {addr} sent a bad response: {why}"),
                Failure::ClientBody(err) => write!(f, "reading the request body failed: {err}"),
            },
            ProxyError::BadUpgrade(why) => write!(f, "bad protocol switch: {why}"),
            ProxyError::ModifyResponse(why) => write!(f, "response refused: {why}"),
        }
    }
}

/// The default answer: log the error, and say it in a plain-text body.
pub fn default_error_response(head: &RequestHead, err: &ProxyError) -> Response {
    eprintln!(
        "gateway: proxy error: {} {}: {err}",
        head.method,
        head.path()
    );
    let mut response = Response::text(err.status(), &err.to_string());
    response.close = err.breaks_client_connection();
    response
}
