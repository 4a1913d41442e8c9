//! `ip_filter`: allow and deny lists of networks, checked against the
//! client's address (nginx's `allow` and `deny`; Traefik's
//! `IPAllowList`).
//!
//! The rule: an address in a `deny` network is refused; otherwise, if
//! there is an `allow` list, an address in none of its networks is
//! refused; everything else passes. Refusal is 403. (nginx checks its
//! `allow`/`deny` lines in order, first match wins; a deny list that
//! always wins is harder to get wrong in a TOML list.)
//!
//! The address checked is the TCP peer, never `X-Forwarded-For`, which
//! the client writes. IPv4 clients reaching an IPv6 listener arrive as
//! `::ffff:a.b.c.d` and are checked as the IPv4 address they are.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::http::{Request, Response};

use super::{Middleware, Next};

/// A network: an address and a prefix length (`10.0.0.0/8`, `::1/128`);
/// a bare address is a network of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("\"{text}\" is not an IP address or network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(prefix) => prefix
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| format!("\"{text}\": prefix length must be 0..={max}"))?,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The IPv4 address inside an IPv4-mapped IPv6 one, else `ip` itself.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl Cidr {
    /// Whether `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The `ip_filter` layer (module doc).
#[derive(Debug, Clone, Default)]
pub struct IpFilter {
    pub allow: Vec<Cidr>,
    pub deny: Vec<Cidr>,
}

impl IpFilter {
    /// Whether `ip` may pass (module doc).
    pub fn permits(&self, ip: IpAddr) -> bool {
        if self.deny.iter().any(|net| net.contains(ip)) {
            return false;
        }
        self.allow.is_empty() || self.allow.iter().any(|net| net.contains(ip))
    }
}

impl Middleware for IpFilter {
    fn handle(&self, req: Request<'_>, next: Next<'_>) -> Response {
        if self.permits(req.peer.ip()) {
            next.run(req)
        } else {
            Response::text(403, "your address may not use this route")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_contain_their_addresses() {
        let net: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("192.0.2.1")));
        let one: Cidr = "::1".parse().unwrap();
        assert!(one.contains(ip("::1")) && !one.contains(ip("::2")));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nope".parse::<Cidr>().is_err());
    }

    #[test]
    fn deny_wins_then_allow_limits() {
        let filter = IpFilter {
            allow: vec!["10.0.0.0/8".parse().unwrap()],
            deny: vec!["10.9.0.0/16".parse().unwrap()],
        };
        assert!(filter.permits(ip("10.1.1.1")));
        assert!(!filter.permits(ip("10.9.1.1")));
        assert!(!filter.permits(ip("192.0.2.1")));
        assert!(IpFilter::default().permits(ip("192.0.2.1")));
    }
}
