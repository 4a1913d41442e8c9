//! Hop-by-hop header fields: the ones that describe one connection, not
//! the message, and so must not cross a proxy (RFC 9110 §7.6.1; Go's
//! `hopHeaders` and `removeHopByHopHeaders`).
//!
//! Two kinds: the fixed list below (fields defined as per-connection, plus
//! two de-facto ones), and whatever a `Connection` field names: a sender
//! may declare any field hop-by-hop by listing it there (`Connection:
//! close, X-Trace` makes `X-Trace` private to this hop). Both are removed
//! in both directions: from the request before it goes upstream, from the
//! response before it goes back.
//!
//! Order matters: the fields named in `Connection` are removed before
//! `Connection` itself, or the list would be lost. And a protocol upgrade
//! is read before the removal and written back after it: `Connection:
//! Upgrade` and `Upgrade: websocket` are hop-by-hop, but a proxy that
//! tunnels the upgrade must ask its own next hop for the same switch.

use crate::http::Headers;

/// Always hop-by-hop. Go's list: RFC 9110's `Connection`, `Keep-Alive`,
/// `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`; the proxy
/// credentials (`Proxy-Authenticate`, `Proxy-Authorization`), which are
/// addressed to a proxy and would leak past it; and `Proxy-Connection`,
/// never standard but still sent by some clients.
pub const HOP_BY_HOP: &[&str] = &[
    "Connection",
    "Proxy-Connection",
    "Keep-Alive",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "TE",
    "Trailer",
    "Transfer-Encoding",
    "Upgrade",
];

/// Removes every hop-by-hop field from `headers` (module doc).
pub fn remove_hop_by_hop(headers: &mut Headers) {
    // The usual `Connection: keep-alive` names only a field of the fixed
    // list, so the copy of the names (needed because removing borrows the
    // headers mutably) is made only when some other field is named.
    if headers.tokens("connection").any(|name| !is_fixed(name)) {
        let named: Vec<String> = headers.tokens("connection").map(str::to_string).collect();
        for name in named {
            headers.remove(&name);
        }
    }
    headers.retain(|name, _| !is_fixed(name));
}

/// Whether `name` is on the fixed list, [`HOP_BY_HOP`]. Every field of
/// both heads of every request is asked, and most are turned away by
/// their length alone ([`FIXED_LENGTHS`]).
fn is_fixed(name: &str) -> bool {
    name.len() < 32
        && FIXED_LENGTHS & (1 << name.len()) != 0
        && HOP_BY_HOP
            .iter()
            .any(|fixed| fixed.eq_ignore_ascii_case(name))
}

/// Bit `n` is set if some name on [`HOP_BY_HOP`] is `n` bytes long.
const FIXED_LENGTHS: u32 = {
    let mut lengths = 0u32;
    let mut i = 0;
    while i < HOP_BY_HOP.len() {
        assert!(HOP_BY_HOP[i].len() < 32);
        lengths |= 1 << HOP_BY_HOP[i].len();
        i += 1;
    }
    lengths
};

/// The protocol asked for, lower-cased, if `headers` ask to upgrade:
/// `Connection` lists `upgrade` and an `Upgrade` field is present (Go's
/// `upgradeType`).
pub fn upgrade_type(headers: &Headers) -> Option<String> {
    if !headers.has_token("connection", "upgrade") {
        return None;
    }
    headers
        .get_str("upgrade")
        .map(|protocol| protocol.trim().to_ascii_lowercase())
        .filter(|protocol| !protocol.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_the_fixed_list_and_what_connection_names() {
        let mut headers = Headers::new();
        for (name, value) in [
            ("Host", "a"),
            ("Connection", "keep-alive, X-Private"),
            ("X-Private", "secret"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Connection", "keep-alive"),
            ("TE", "trailers"),
            ("Trailer", "X-Sum"),
            ("Transfer-Encoding", "chunked"),
            ("Upgrade", "websocket"),
            ("X-Kept", "yes"),
        ] {
            headers.append(name, value);
        }
        remove_hop_by_hop(&mut headers);
        let left: Vec<&str> = headers.iter().map(|(name, _)| name).collect();
        assert_eq!(left, ["Host", "X-Kept"]);
    }

    #[test]
    fn sees_an_upgrade_only_when_connection_says_so() {
        let mut headers = Headers::new();
        headers.append("Upgrade", "WebSocket");
        assert_eq!(upgrade_type(&headers), None);
        headers.append("Connection", "keep-alive, Upgrade");
        assert_eq!(upgrade_type(&headers).as_deref(), Some("websocket"));
    }
}
