//! The WebSocket opening handshake, server side (RFC 6455 §4.2; gorilla's
//! `Upgrader.Upgrade` and `checkSameOrigin`).
//!
//! A request for `/ws` becomes a WebSocket only if it is a well-formed
//! upgrade from a page we trust. The checks, in order, and what failing
//! each one gets:
//! 1. method `GET`: else 405, with `Allow: GET`;
//! 2. HTTP/1.1 and a `Host` field: else 400;
//! 3. `Connection` lists `upgrade` and `Upgrade` lists `websocket`: else
//!    400;
//! 4. `Sec-WebSocket-Version: 13`: else 400 with `Sec-WebSocket-Version:
//!    13`, telling the client what we speak (gorilla does the same; the
//!    RFC suggests 426 as one choice);
//! 5. `Sec-WebSocket-Key` is 16 bytes in base64: else 400;
//! 6. the origin (below): else 403;
//! 7. a room name of at most `Config::max_room_name` bytes: else 400.
//!
//! # Why check the origin
//! Browsers let any page open a WebSocket to any server, sending the
//! user's cookies along; the only hint of who asked is the `Origin` field
//! the browser sets. gorilla's default accepts a request if it has no
//! `Origin` (not a browser: a browser always sends one) or if the origin's
//! host is the `Host` the request was sent to (the page came from this
//! server), compared without regard to ASCII case. We do the same, and
//! also accept the origins listed in `Config::allowed_origins` (gorilla's
//! `CheckOrigin` hook, as a list).
//!
//! On success we answer 101 with `Sec-WebSocket-Accept`, the key hashed
//! with the RFC's GUID (tungstenite's `derive_accept_key`).

use tungstenite::handshake::derive_accept_key;

use crate::config::Config;
use crate::http::{Request, Response};

/// An upgrade we accept.
#[derive(Debug)]
pub struct Accepted {
    /// The `Sec-WebSocket-Accept` value.
    pub accept_key: String,
    /// The room the client asked for, or the default room.
    pub room: String,
}

impl Accepted {
    /// The 101 response that makes the connection a WebSocket.
    pub fn response(&self) -> Vec<u8> {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            self.accept_key
        )
        .into_bytes()
    }
}

/// Checks `request` as a WebSocket upgrade (the module doc lists the
/// checks); the error is the response to send instead.
pub fn check(request: &Request, config: &Config) -> Result<Accepted, Response> {
    if request.method != "GET" {
        return Err(
            Response::error(405, "a WebSocket handshake uses GET").with_header("Allow", "GET")
        );
    }
    let host = match request.header("Host") {
        Some(host) if request.version == 1 && !host.is_empty() => host,
        _ => {
            return Err(Response::error(
                400,
                "a WebSocket handshake needs HTTP/1.1 and a Host",
            ))
        }
    };
    if !request.has_token("Connection", "upgrade") {
        return Err(Response::error(
            400,
            "'upgrade' token not found in 'Connection' header",
        ));
    }
    if !request.has_token("Upgrade", "websocket") {
        return Err(Response::error(
            400,
            "'websocket' token not found in 'Upgrade' header",
        ));
    }
    if request.header("Sec-WebSocket-Version") != Some("13") {
        return Err(
            Response::error(400, "unsupported WebSocket version: 13 is spoken here")
                .with_header("Sec-WebSocket-Version", "13"),
        );
    }
    let key = match request.header("Sec-WebSocket-Key") {
        Some(key) if is_challenge_key(key) => key,
        _ => {
            return Err(Response::error(
                400,
                "missing or malformed 'Sec-WebSocket-Key'",
            ))
        }
    };
    if let Some(origin) = request.header("Origin") {
        if !origin_allowed(origin, host, &config.allowed_origins) {
            return Err(Response::error(403, "origin not allowed"));
        }
    }
    let room = room_of(request.query.as_deref(), &config.default_room);
    if room.len() > config.max_room_name {
        return Err(Response::error(400, "room name too long"));
    }
    Ok(Accepted {
        accept_key: derive_accept_key(key.as_bytes()),
        room,
    })
}

/// Whether `key` is base64 for 16 bytes: 22 digits and `==` (gorilla's
/// `isValidChallengeKey` decodes it; the shape says the same).
fn is_challenge_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    bytes.len() == 24
        && bytes[..22]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        && &bytes[22..] == b"=="
}

/// gorilla's `checkSameOrigin`, plus the allow-list.
fn origin_allowed(origin: &str, host: &str, allowed: &[String]) -> bool {
    if allowed
        .iter()
        .any(|ok| ok == "*" || ok.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    // An origin is scheme://host[:port]; "null" (sandboxed pages, files)
    // has no host and matches nothing.
    let origin_host = match origin.split_once("://") {
        Some((_, rest)) => rest.split('/').next().unwrap_or(rest),
        None => return false,
    };
    origin_host.eq_ignore_ascii_case(host)
}

/// The `room` parameter of `query`, percent-decoded and trimmed, or
/// `default` if it is missing or blank. Public, with [`Accepted`], for the
/// tokio twin in benches (`tokio_chat`), whose handshake picks rooms and
/// answers the same way.
pub fn room_of(query: Option<&str>, default: &str) -> String {
    query
        .into_iter()
        .flat_map(|query| form_urlencoded::parse(query.as_bytes()))
        .find(|(name, _)| name == "room")
        .map(|(_, value)| value.trim().to_string())
        .filter(|room| !room.is_empty())
        .unwrap_or_else(|| default.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_keys() {
        assert!(is_challenge_key("dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!is_challenge_key("dGhlIHNhbXBsZSBub25jZQ="));
        assert!(!is_challenge_key("dGhlIHNhbXBsZSBub25jZQ!="));
        assert!(!is_challenge_key(""));
    }

    #[test]
    fn the_rfc_example_key() {
        // RFC 6455 §1.3.
        assert_eq!(
            derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn same_origin_is_host_without_case() {
        let none: &[String] = &[];
        assert!(origin_allowed(
            "http://Chat.Example:8080",
            "chat.example:8080",
            none
        ));
        assert!(!origin_allowed(
            "http://evil.example",
            "chat.example:8080",
            none
        ));
        assert!(!origin_allowed(
            "http://chat.example",
            "chat.example:8080",
            none
        ));
        assert!(!origin_allowed("null", "chat.example", none));
        let list = ["https://friend.example".to_string()];
        assert!(origin_allowed(
            "https://FRIEND.example",
            "chat.example",
            &list
        ));
        assert!(origin_allowed(
            "http://anything",
            "chat.example",
            &["*".to_string()]
        ));
    }

    #[test]
    fn rooms_come_from_the_query() {
        assert_eq!(room_of(None, "lobby"), "lobby");
        assert_eq!(room_of(Some("room=rust%20fans&x=1"), "lobby"), "rust fans");
        assert_eq!(room_of(Some("x=1&room=a+b"), "lobby"), "a b");
        assert_eq!(room_of(Some("room="), "lobby"), "lobby");
    }
}
