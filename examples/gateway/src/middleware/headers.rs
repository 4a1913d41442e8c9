//! `headers`: sets and removes fields on the way up and on the way back
//! (nginx's `proxy_set_header` / `proxy_hide_header` / `add_header`;
//! Traefik's `Headers`).
//!
//! Removal comes before setting in each direction, so a rule can replace
//! a field by naming it in both. Setting replaces every field of that
//! name. Values are written as configured: the writer refuses values with
//! line breaks (http/headers.rs), so a configuration cannot split a head.

use crate::http::{Headers, Request, Response};

use super::{Middleware, Next};

/// The `headers` layer (module doc).
#[derive(Debug, Clone, Default)]
pub struct HeaderRules {
    pub request_set: Vec<(String, String)>,
    pub request_remove: Vec<String>,
    pub response_set: Vec<(String, String)>,
    pub response_remove: Vec<String>,
}

fn apply(headers: &mut Headers, remove: &[String], set: &[(String, String)]) {
    for name in remove {
        headers.remove(name);
    }
    for (name, value) in set {
        headers.set(name, value.as_str());
    }
}

impl Middleware for HeaderRules {
    fn handle(&self, mut req: Request<'_>, next: Next<'_>) -> Response {
        apply(
            &mut req.head.headers,
            &self.request_remove,
            &self.request_set,
        );
        let mut response = next.run(req);
        apply(
            &mut response.head.headers,
            &self.response_remove,
            &self.response_set,
        );
        response
    }
}
