//! `strip_prefix`: forwards `/api/users` on route `/api` as `/users`
//! (Traefik's `StripPrefix`; nginx's `location /api/ { proxy_pass
//! http://b/; }`). Without it the path goes upstream unchanged.
//!
//! The prefix is removed only where the route matched it, at a segment
//! boundary; what remains always starts with `/` (`/api` alone becomes
//! `/`). The query is kept. The original prefix goes upstream in
//! `X-Forwarded-Prefix`, for backends that build absolute links.

use crate::http::{Request, Response};

use super::{Middleware, Next};

/// The `strip_prefix` layer (module doc).
pub struct StripPrefix {
    prefix: String,
}

impl StripPrefix {
    /// Strips `prefix` (a route prefix: starts with `/`; a trailing `/`
    /// is ignored).
    pub fn new(prefix: &str) -> StripPrefix {
        StripPrefix {
            prefix: prefix.trim_end_matches('/').to_string(),
        }
    }

    /// `path` without the prefix, if it has it at a segment boundary.
    pub fn strip<'p>(&self, path: &'p str) -> Option<&'p str> {
        let rest = path.strip_prefix(self.prefix.as_str())?;
        if rest.is_empty() {
            Some("/")
        } else if rest.starts_with('/') {
            Some(rest)
        } else {
            None
        }
    }
}

impl Middleware for StripPrefix {
    fn handle(&self, mut req: Request<'_>, next: Next<'_>) -> Response {
        if !self.prefix.is_empty() {
            if let Some(rest) = self.strip(req.head.path()).map(str::to_string) {
                req.head.set_path(&rest);
                req.head
                    .headers
                    .set("X-Forwarded-Prefix", self.prefix.as_str());
            }
        }
        next.run(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_at_segment_boundaries_only() {
        let strip = StripPrefix::new("/api/");
        assert_eq!(strip.strip("/api/users"), Some("/users"));
        assert_eq!(strip.strip("/api"), Some("/"));
        assert_eq!(strip.strip("/apix"), None);
        assert_eq!(strip.strip("/other"), None);
    }
}
