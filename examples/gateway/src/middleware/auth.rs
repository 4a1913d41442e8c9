//! `auth`: bearer tokens (RFC 6750). A request must carry
//! `Authorization: Bearer TOKEN` with one of the route's tokens, or it is
//! answered 401 with a `WWW-Authenticate` challenge and never reaches the
//! backend (nginx would use `auth_request` to an auth service; API
//! gateways such as Kong have this built in).
//!
//! Tokens are compared in constant time, byte by byte over the whole
//! length, so the time a refusal takes says nothing about how much of a
//! guess was right. The `Authorization` field is forwarded: the backend
//! may want to know which token was used.

use crate::http::{Request, Response};

use super::{Middleware, Next};

/// The `auth` layer (module doc).
pub struct BearerAuth {
    tokens: Vec<Vec<u8>>,
}

impl BearerAuth {
    pub fn new<T: AsRef<[u8]>>(tokens: impl IntoIterator<Item = T>) -> BearerAuth {
        BearerAuth {
            tokens: tokens.into_iter().map(|t| t.as_ref().to_vec()).collect(),
        }
    }

    /// Whether `token` is one of ours.
    fn accepts(&self, token: &[u8]) -> bool {
        // Fold over every token so the time does not say which matched.
        self.tokens
            .iter()
            .fold(false, |found, ours| found | constant_time_eq(ours, token))
    }
}

/// Equality whose time depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// The token of an `Authorization: Bearer TOKEN` value.
fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let value = value.trim_ascii();
    let (scheme, token) = value.split_at(value.iter().position(|&b| b == b' ')?);
    scheme
        .eq_ignore_ascii_case(b"bearer")
        .then(|| token.trim_ascii())
        .filter(|token| !token.is_empty())
}

impl Middleware for BearerAuth {
    fn handle(&self, req: Request<'_>, next: Next<'_>) -> Response {
        let presented = req.head.headers.get("authorization").and_then(bearer_token);
        match presented {
            Some(token) if self.accepts(token) => next.run(req),
            Some(_) => Response::text(401, "invalid token").with_header(
                "WWW-Authenticate",
                "Bearer realm=\"gateway\", error=\"invalid_token\"",
            ),
            None => Response::text(401, "a bearer token is required")
                .with_header("WWW-Authenticate", "Bearer realm=\"gateway\""),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bearer_tokens() {
        assert_eq!(bearer_token(b"Bearer s3cret"), Some(&b"s3cret"[..]));
        assert_eq!(bearer_token(b"bearer  s3cret "), Some(&b"s3cret"[..]));
        assert_eq!(bearer_token(b"Basic dXNlcg=="), None);
        assert_eq!(bearer_token(b"Bearer"), None);
    }

    #[test]
    fn accepts_only_its_tokens() {
        let auth = BearerAuth::new(["s3cret", "other"]);
        assert!(auth.accepts(b"s3cret"));
        assert!(auth.accepts(b"other"));
        assert!(!auth.accepts(b"s3cre"));
        assert!(!auth.accepts(b"s3cret!"));
    }
}
