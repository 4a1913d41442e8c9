//! `access_log`: one line per request (nginx's `access_log` in its
//! `combined`-like format; Go has no built-in one).
//!
//! ```text
//! 127.0.0.1:50312 "GET /api/users HTTP/1.1" 200 1532 3.2ms id=4f1c…
//! ```
//!
//! Client address, request line, status, body length (`-` if it is
//! streamed with no declared length), time until the response head was
//! ready, and the request id if `request_id` runs outside this layer.
//!
//! One difference from nginx, which logs when the response is finished:
//! we log when the inner layers return, before the body is streamed to
//! the client, because the server writes the body after the chain has
//! returned. So the time is the time to first byte, and a body cut short
//! is not seen here (the server logs that).
//!
//! Lines go to standard error by default, or to any sink (the tests
//! collect them).

use std::sync::Arc;
use std::time::Instant;

use crate::http::{Request, Response};

use super::request_id::HEADER;
use super::{Middleware, Next};

/// Where log lines go.
pub type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// The `access_log` layer (module doc).
pub struct AccessLog {
    sink: Sink,
}

impl Default for AccessLog {
    fn default() -> Self {
        AccessLog::to_stderr()
    }
}

impl AccessLog {
    /// Logs to standard error.
    pub fn to_stderr() -> AccessLog {
        AccessLog::to_sink(Arc::new(|line: &str| eprintln!("{line}")))
    }

    /// Logs to `sink`.
    pub fn to_sink(sink: Sink) -> AccessLog {
        AccessLog { sink }
    }
}

impl Middleware for AccessLog {
    fn handle(&self, req: Request<'_>, next: Next<'_>) -> Response {
        // Read here, not when the head arrived: only routes that log pay
        // for the clock (the handlers before this one take microseconds).
        let started = Instant::now();
        let line = format!(
            "{} \"{} {} HTTP/1.{}\"",
            req.peer, req.head.method, req.head.target, req.head.version
        );
        let id = req
            .head
            .headers
            .get_str(HEADER)
            .map(|id| format!(" id={id}"))
            .unwrap_or_default();
        let response = next.run(req);
        let len = response
            .body
            .len()
            .map_or_else(|| "-".to_string(), |len| len.to_string());
        (self.sink)(&format!(
            "{line} {} {len} {:.1}ms{id}",
            response.status(),
            started.elapsed().as_secs_f64() * 1000.0
        ));
        response
    }
}
