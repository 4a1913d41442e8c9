//! [`Handler`]: what answers a request (Go's `http.Handler`).
//!
//! Go's handler writes its answer into a `ResponseWriter`; ours returns a
//! [`Response`] whose body streams. Returning the response is what makes
//! the middleware onion simple (middleware/mod.rs): a layer sees the
//! response its inner layers produced and may change it on the way out,
//! with no wrapper writer to intercept headers as Go's middleware needs.
//! The price is that a handler cannot write part of a response and then
//! fail; it returns once, and the server writes.
//!
//! A handler runs in the connection's task and may park it freely (read
//! the body, connect upstream, lock): that is the point of a green-thread
//! runtime. It must be `Send + Sync` because every connection task shares
//! it.

use crate::http::{Request, Response};

/// Answers requests.
pub trait Handler: Send + Sync {
    /// Answers `req`. The request's body borrows the client connection and
    /// must be read, if at all, before returning.
    fn serve(&self, req: Request<'_>) -> Response;
}

impl<F> Handler for F
where
    F: for<'c> Fn(Request<'c>) -> Response + Send + Sync,
{
    fn serve(&self, req: Request<'_>) -> Response {
        self(req)
    }
}

/// Makes a handler of a closure, helping type inference see that the
/// closure takes a request of any lifetime.
pub fn handler_fn<F>(f: F) -> F
where
    F: for<'c> Fn(Request<'c>) -> Response + Send + Sync,
{
    f
}
