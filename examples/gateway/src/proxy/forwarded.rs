//! `X-Forwarded-For`, `-Host` and `-Proto`: telling the backend who the
//! client was, since the backend's TCP peer is now the proxy (Go's
//! `ProxyRequest.SetXForwarded`; nginx's `$proxy_add_x_forwarded_for`).
//!
//! - `X-Forwarded-For` is a list, one address per proxy crossed: the
//!   client's address is appended to whatever earlier proxies wrote, and
//!   several fields are folded into one (Go and nginx do both). Only the
//!   last entry is known to be true; the others are the client's word.
//! - `X-Forwarded-Host` is the `Host` the client asked for (the backend
//!   may see another if a director rewrites `Host`).
//! - `X-Forwarded-Proto` is the scheme the client used with us: `http`,
//!   since this gateway does not terminate TLS.
//!
//! The last two replace anything the client sent: a client could
//! otherwise claim to have come over https.

use std::net::IpAddr;

use crate::http::Headers;

/// Sets the three fields on an outgoing request (module doc).
pub fn set_forwarded(headers: &mut Headers, client: IpAddr, host: Option<Vec<u8>>, proto: &str) {
    let prior: Vec<String> = headers
        .get_all("x-forwarded-for")
        .map(|value| String::from_utf8_lossy(value).trim().to_string())
        .filter(|value| !value.is_empty())
        .collect();
    let client = client.to_string();
    let list = if prior.is_empty() {
        client
    } else {
        format!("{}, {client}", prior.join(", "))
    };
    headers.set("X-Forwarded-For", list);
    match host {
        Some(host) => headers.set("X-Forwarded-Host", host),
        None => {
            headers.remove("x-forwarded-host");
        }
    }
    headers.set("X-Forwarded-Proto", proto);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_the_client_and_folds_earlier_proxies() {
        let mut headers = Headers::new();
        headers.append("X-Forwarded-For", "203.0.113.1");
        headers.append("X-Forwarded-For", "198.51.100.2, 192.0.2.3");
        headers.append("X-Forwarded-Proto", "https");
        set_forwarded(
            &mut headers,
            "10.0.0.9".parse().unwrap(),
            Some(b"ex.com".to_vec()),
            "http",
        );
        assert_eq!(
            headers.get_str("x-forwarded-for"),
            Some("203.0.113.1, 198.51.100.2, 192.0.2.3, 10.0.0.9")
        );
        assert_eq!(headers.get_all("x-forwarded-for").count(), 1);
        assert_eq!(headers.get_str("x-forwarded-proto"), Some("http"));
        assert_eq!(headers.get_str("x-forwarded-host"), Some("ex.com"));
    }
}
