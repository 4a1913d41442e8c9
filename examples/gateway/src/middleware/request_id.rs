//! `request_id`: gives every request an id, sends it upstream and returns
//! it to the client, so one request can be followed through the logs of
//! every hop (nginx's `$request_id` with `proxy_set_header X-Request-Id`;
//! Envoy's `x-request-id`).
//!
//! An id the client (or a proxy before us) already sent is kept, if it
//! looks like an id: 1 to 128 visible ASCII characters. Anything else is
//! replaced, so a client cannot push a megabyte or a line break into our
//! logs through it. A new id is 32 hex digits (128 random bits, as
//! nginx's), from the balancer module's lock-free generator.

use crate::balance::Rng;
use crate::http::{Request, Response};

use super::{Middleware, Next};

/// The field the id travels in.
pub const HEADER: &str = "X-Request-Id";

/// The `request_id` layer (module doc).
pub struct RequestId {
    rng: Rng,
}

impl Default for RequestId {
    fn default() -> Self {
        RequestId::new()
    }
}

impl RequestId {
    pub fn new() -> RequestId {
        RequestId {
            rng: Rng::from_entropy(),
        }
    }

    /// A fresh id: 32 hex digits.
    pub fn generate(&self) -> String {
        format!("{:016x}{:016x}", self.rng.next_u64(), self.rng.next_u64())
    }
}

/// Whether a received id may be kept (module doc).
fn acceptable(id: &[u8]) -> bool {
    (1..=128).contains(&id.len()) && id.iter().all(|b| b.is_ascii_graphic())
}

impl Middleware for RequestId {
    fn handle(&self, mut req: Request<'_>, next: Next<'_>) -> Response {
        let id = match req.head.headers.get(HEADER) {
            Some(id) if acceptable(id) => String::from_utf8_lossy(id).into_owned(),
            _ => self.generate(),
        };
        req.head.headers.set(HEADER, id.as_str());
        let mut response = next.run(req);
        response.head.headers.set(HEADER, id);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_hex_and_distinct() {
        let layer = RequestId::new();
        let (a, b) = (layer.generate(), layer.generate());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn only_sane_ids_are_kept() {
        assert!(acceptable(b"abc-123"));
        assert!(!acceptable(b""));
        assert!(!acceptable(b"has space"));
        assert!(!acceptable(&[b'a'; 129]));
    }
}
