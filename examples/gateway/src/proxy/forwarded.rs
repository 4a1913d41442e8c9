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

use std::io::Write;
use std::net::IpAddr;

use crate::http::{Decimal, Headers};

/// Sets the three fields on an outgoing request (module doc); `host` is
/// the client's `Host`.
pub fn set_forwarded(headers: &mut Headers, client: IpAddr, host: Option<&[u8]>, proto: &str) {
    let mut text = [0u8; 48];
    let client = format_ip(client, &mut text);
    if headers.contains("x-forwarded-for") {
        let mut list: Vec<u8> = Vec::new();
        for prior in headers.get_all("x-forwarded-for") {
            let prior = prior.trim_ascii();
            if !prior.is_empty() {
                list.extend_from_slice(prior);
                list.extend_from_slice(b", ");
            }
        }
        list.extend_from_slice(client);
        headers.set("X-Forwarded-For", list);
    } else {
        headers.set("X-Forwarded-For", client);
    }
    match host {
        Some(host) => headers.set("X-Forwarded-Host", host),
        None => {
            headers.remove("x-forwarded-host");
        }
    }
    headers.set("X-Forwarded-Proto", proto);
}

/// `ip` as text, in `out`: on the stack, and for IPv4 without the
/// formatting machinery, since every request pays for it. The longest
/// address (an IPv4-mapped IPv6 one) is 45 characters.
fn format_ip(ip: IpAddr, out: &mut [u8; 48]) -> &[u8] {
    let len = match ip {
        IpAddr::V4(v4) => {
            let mut len = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out[len] = b'.';
                    len += 1;
                }
                let digits = Decimal::new(u64::from(octet));
                out[len..len + digits.as_ref().len()].copy_from_slice(digits.as_ref());
                len += digits.as_ref().len();
            }
            len
        }
        IpAddr::V6(v6) => {
            let mut cursor = &mut out[..];
            write!(cursor, "{v6}").expect("an IPv6 address fits in 48 bytes");
            48 - cursor.len()
        }
    };
    &out[..len]
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
            Some(b"ex.com"),
            "http",
        );
        assert_eq!(
            headers.get_str("x-forwarded-for"),
            Some("203.0.113.1, 198.51.100.2, 192.0.2.3, 10.0.0.9")
        );
        assert_eq!(headers.get_all("x-forwarded-for").count(), 1);
        for ip in [
            "0.0.0.0",
            "255.255.255.255",
            "10.20.3.4",
            "::1",
            "::ffff:255.255.255.255",
        ] {
            assert_eq!(format_ip(ip.parse().unwrap(), &mut [0; 48]), ip.as_bytes());
        }
        assert_eq!(headers.get_str("x-forwarded-proto"), Some("http"));
        assert_eq!(headers.get_str("x-forwarded-host"), Some("ex.com"));
    }
}
