//! Middleware, the onion: each layer gets the request and the rest of the
//! chain ([`Next`]), and may act before calling it, after it returns, or
//! instead of calling it at all (Go's `func(http.Handler) http.Handler`
//! wrappers; tower's `Layer`; Express's `(req, res, next)`).
//!
//! ```text
//!  request ─▶ request_id ─▶ rate_limit ─▶ auth ─▶ proxy
//!                                                   │
//! response ◀─ request_id ◀─ rate_limit ◀─ auth ◀────┘
//! ```
//!
//! A route's chain is built from its `middleware` list, first name
//! outermost: the before-parts run in list order, the after-parts in
//! reverse, and a layer that answers by itself (`auth`'s 401) skips
//! everything inside it, proxy included.
//!
//! Why a slice and an index rather than nested closures (Go builds
//! `mw1(mw2(mw3(h)))`): the chain is built once per route and shared by
//! every connection, and [`Next`] is two references that cost nothing to
//! make per request. Each layer sees only the layers inside it.
//!
//! A panic anywhere in a chain is caught by the server around the whole
//! handler (server/conn.rs): that request gets a 500 and its connection
//! closes; the gateway goes on.
//!
//! The built-in layers, one file each:
//!
//! | name | file | does | nginx / Go counterpart |
//! |---|---|---|---|
//! | `request_id` | `request_id.rs` | an id per request, upstream and back | `$request_id` |
//! | `access_log` | `access_log.rs` | one line per request | `access_log` |
//! | `rate_limit` | `rate_limit.rs` | token bucket per client IP, 429 | `limit_req` |
//! | `auth` | `auth.rs` | bearer tokens, 401 | `auth_request`, `auth_basic` |
//! | `cors` | `cors.rs` | preflights and `Access-Control-Allow-Origin` | rs/cors, `add_header` |
//! | `strip_prefix` | `strip_prefix.rs` | removes the route's prefix from the path | `proxy_pass http://b/;` |
//! | `headers` | `headers.rs` | sets and removes fields both ways | `proxy_set_header`, `add_header` |
//! | `ip_filter` | `ip_filter.rs` | allow and deny lists of networks, 403 | `allow`, `deny` |

mod access_log;
mod auth;
mod cors;
mod headers;
mod ip_filter;
mod rate_limit;
mod request_id;
mod strip_prefix;

use std::sync::Arc;

pub use access_log::AccessLog;
pub use auth::BearerAuth;
pub use cors::Cors;
pub use headers::HeaderRules;
pub use ip_filter::{Cidr, IpFilter};
pub use rate_limit::RateLimit;
pub use request_id::RequestId;
pub use strip_prefix::StripPrefix;

use crate::handler::Handler;
use crate::http::{Request, Response};

/// One layer of the onion (module doc).
pub trait Middleware: Send + Sync {
    /// Handles `req`: call `next.run(req)` to pass it inward, or answer
    /// without it.
    fn handle(&self, req: Request<'_>, next: Next<'_>) -> Response;
}

impl<F> Middleware for F
where
    F: for<'c, 'n> Fn(Request<'c>, Next<'n>) -> Response + Send + Sync,
{
    fn handle(&self, req: Request<'_>, next: Next<'_>) -> Response {
        self(req, next)
    }
}

/// Makes a middleware of a closure, helping type inference see that it
/// takes a request and a `Next` of any lifetime.
pub fn middleware_fn<F>(f: F) -> F
where
    F: for<'c, 'n> Fn(Request<'c>, Next<'n>) -> Response + Send + Sync,
{
    f
}

/// The rest of the chain, from some layer inward.
#[derive(Clone, Copy)]
pub struct Next<'n> {
    layers: &'n [Arc<dyn Middleware>],
    endpoint: &'n dyn Handler,
}

impl Next<'_> {
    /// Passes `req` to the next layer, or to the endpoint after the last.
    pub fn run(self, req: Request<'_>) -> Response {
        match self.layers.split_first() {
            Some((layer, inner)) => layer.handle(
                req,
                Next {
                    layers: inner,
                    endpoint: self.endpoint,
                },
            ),
            None => self.endpoint.serve(req),
        }
    }
}

/// Layers around an endpoint, outermost first: itself a [`Handler`].
pub struct Chain {
    layers: Vec<Arc<dyn Middleware>>,
    endpoint: Arc<dyn Handler>,
}

impl Chain {
    pub fn new(layers: Vec<Arc<dyn Middleware>>, endpoint: Arc<dyn Handler>) -> Chain {
        Chain { layers, endpoint }
    }

    pub fn layers(&self) -> usize {
        self.layers.len()
    }
}

impl Handler for Chain {
    fn serve(&self, req: Request<'_>) -> Response {
        Next {
            layers: &self.layers,
            endpoint: &*self.endpoint,
        }
        .run(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::handler_fn;
    use crate::http::{Body, RequestHead};
    use std::sync::Mutex;

    fn request() -> Request<'static> {
        Request::new(
            RequestHead::new("GET", "/"),
            Body::empty(),
            "127.0.0.1:1".parse().unwrap(),
        )
    }

    #[test]
    fn layers_run_outside_in_then_inside_out() {
        let trace = Arc::new(Mutex::new(Vec::new()));
        let layer = |name: &'static str| -> Arc<dyn Middleware> {
            let trace = Arc::clone(&trace);
            Arc::new(middleware_fn(move |req: Request<'_>, next: Next<'_>| {
                trace.lock().unwrap().push(format!("{name} before"));
                let response = next.run(req);
                trace.lock().unwrap().push(format!("{name} after"));
                response
            }))
        };
        let endpoint_trace = Arc::clone(&trace);
        let endpoint = Arc::new(handler_fn(move |_req: Request<'_>| {
            endpoint_trace.lock().unwrap().push("endpoint".to_string());
            Response::new(204)
        }));
        let chain = Chain::new(vec![layer("a"), layer("b")], endpoint);
        assert_eq!(chain.serve(request()).status(), 204);
        assert_eq!(
            *trace.lock().unwrap(),
            ["a before", "b before", "endpoint", "b after", "a after"]
        );
    }

    #[test]
    fn a_layer_may_answer_alone() {
        let stop: Arc<dyn Middleware> =
            Arc::new(middleware_fn(|_req: Request<'_>, _next: Next<'_>| {
                Response::new(401)
            }));
        let endpoint = Arc::new(handler_fn(|_req: Request<'_>| panic!("not reached")));
        assert_eq!(
            Chain::new(vec![stop], endpoint).serve(request()).status(),
            401
        );
    }
}
