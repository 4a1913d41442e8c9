//! `cors`: lets pages from other origins call the route (the Fetch
//! standard's CORS protocol; Go's rs/cors, nginx's `add_header` recipes).
//!
//! Two cases, told apart by the request:
//! - a **preflight** (`OPTIONS` with `Origin` and
//!   `Access-Control-Request-Method`) is answered here, 204, never
//!   forwarded: the allowed methods and headers, and how long the browser
//!   may cache the answer;
//! - any other request with an `Origin` goes through, and the response
//!   gets `Access-Control-Allow-Origin`.
//!
//! An origin not on the list gets no CORS fields at all (and a preflight
//! from it a 403): the browser then refuses the response to the page,
//! which is the whole mechanism. `Vary: Origin` is added whenever the
//! answer depends on the origin, so caches keep the answers apart.

use crate::http::{Request, Response};

use super::{Middleware, Next};

/// The `cors` layer (module doc).
pub struct Cors {
    /// Allowed origins, or `*` for any.
    origins: Vec<String>,
    /// For preflights: `Access-Control-Allow-Methods`.
    methods: String,
    /// For preflights: `Access-Control-Allow-Headers` (empty: echo what
    /// the preflight asked for).
    headers: String,
    /// For preflights: `Access-Control-Max-Age`, seconds.
    max_age: u32,
}

impl Cors {
    /// Allows `origins` (`*` for any), with common methods, the headers
    /// each preflight asks for, and a 10-minute preflight cache.
    pub fn new(origins: Vec<String>) -> Cors {
        Cors {
            origins,
            methods: "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS".to_string(),
            headers: String::new(),
            max_age: 600,
        }
    }

    fn any(&self) -> bool {
        self.origins.iter().any(|o| o == "*")
    }

    fn allows(&self, origin: &str) -> bool {
        self.any() || self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }

    /// The `Access-Control-Allow-Origin` value for an allowed `origin`.
    fn allow_origin(&self, origin: &str) -> String {
        if self.any() {
            "*".to_string()
        } else {
            origin.to_string()
        }
    }
}

impl Middleware for Cors {
    fn handle(&self, req: Request<'_>, next: Next<'_>) -> Response {
        let Some(origin) = req.head.headers.get_str("origin").map(str::to_string) else {
            return next.run(req);
        };
        let preflight = req.head.method == "OPTIONS"
            && req.head.headers.contains("access-control-request-method");
        if preflight {
            if !self.allows(&origin) {
                return Response::text(403, "origin not allowed").with_header("Vary", "Origin");
            }
            let asked = req
                .head
                .headers
                .get_str("access-control-request-headers")
                .unwrap_or("")
                .to_string();
            let headers = if self.headers.is_empty() {
                asked
            } else {
                self.headers.clone()
            };
            let mut response = Response::new(204)
                .with_header("Access-Control-Allow-Origin", self.allow_origin(&origin))
                .with_header("Access-Control-Allow-Methods", self.methods.as_str())
                .with_header("Access-Control-Max-Age", self.max_age.to_string())
                .with_header("Vary", "Origin");
            if !headers.is_empty() {
                response = response.with_header("Access-Control-Allow-Headers", headers);
            }
            return response;
        }
        let mut response = next.run(req);
        if self.allows(&origin) {
            let headers = &mut response.head.headers;
            headers.set("Access-Control-Allow-Origin", self.allow_origin(&origin));
            if !self.any() {
                headers.append("Vary", "Origin");
            }
        }
        response
    }
}
