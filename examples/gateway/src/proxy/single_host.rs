//! `ReverseProxy::single_host("http://host:port/base?q")`: Go's
//! `NewSingleHostReverseProxy`, whose director sends every request to one
//! URL's host, below that URL's path, with its query in front.
//!
//! Go's rules, kept: the target's path and the request's are joined with
//! exactly one slash between them (`/base` + `/dir` = `/base/dir`,
//! `singleJoiningSlash`); the target's query comes first, joined with
//! `&`; the `Host` field is not rewritten (a director added after can).
//!
//! The host is resolved once, here, when the proxy is built (Go resolves
//! per connection, through its dialer); a name that resolves to several
//! addresses uses the first. Only `http://`: the gateway does not speak
//! TLS to backends.

use std::net::{SocketAddr, ToSocketAddrs};

use crate::http::RequestHead;

/// A parsed `single_host` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SingleHost {
    pub addr: SocketAddr,
    /// The path requests are forwarded below ("" for none).
    pub base_path: String,
    /// The query put in front of every request's ("" for none).
    pub query: String,
}

impl SingleHost {
    /// Parses and resolves `url` (module doc).
    pub fn parse(url: &str) -> Result<SingleHost, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("\"{url}\": only http:// backends are supported"))?;
        let (authority, path_query) = match rest.find(['/', '?']) {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(format!("\"{url}\": expected http://host[:port][/path]"));
        }
        let with_port = if authority
            .rsplit_once(':')
            .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
        {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let addr = with_port
            .to_socket_addrs()
            .map_err(|err| format!("\"{url}\": cannot resolve {authority}: {err}"))?
            .next()
            .ok_or_else(|| format!("\"{url}\": {authority} has no address"))?;
        let (path, query) = match path_query.split_once('?') {
            Some((path, query)) => (path, query),
            None => (path_query, ""),
        };
        Ok(SingleHost {
            addr,
            base_path: path.to_string(),
            query: query.to_string(),
        })
    }

    /// Rewrites an outgoing request's target (module doc).
    pub fn direct(&self, head: &mut RequestHead) {
        let path = join_paths(&self.base_path, head.path());
        let query = match (self.query.as_str(), head.query()) {
            ("", None) => String::new(),
            ("", Some(query)) => format!("?{query}"),
            (base, None) | (base, Some("")) => format!("?{base}"),
            (base, Some(query)) => format!("?{base}&{query}"),
        };
        head.target = format!("{path}{query}");
    }
}

/// Go's `singleJoiningSlash`: `a` and `b` with exactly one `/` between.
fn join_paths(a: &str, b: &str) -> String {
    match (a.ends_with('/'), b.starts_with('/')) {
        (true, true) => format!("{a}{}", &b[1..]),
        (false, false) => format!("{a}/{b}"),
        _ => format!("{a}{b}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_paths_with_one_slash() {
        assert_eq!(join_paths("/base", "/dir"), "/base/dir");
        assert_eq!(join_paths("/base/", "/dir"), "/base/dir");
        assert_eq!(join_paths("", "/dir"), "/dir");
        assert_eq!(join_paths("/base", "dir"), "/base/dir");
    }

    #[test]
    fn parses_and_directs() {
        let target = SingleHost::parse("http://127.0.0.1:9001/base?k=v").unwrap();
        assert_eq!(target.addr, "127.0.0.1:9001".parse().unwrap());
        let mut head = RequestHead::new("GET", "/dir?x=1");
        target.direct(&mut head);
        assert_eq!(head.target, "/base/dir?k=v&x=1");
        let plain = SingleHost::parse("http://127.0.0.1").unwrap();
        assert_eq!(plain.addr.port(), 80);
        let mut head = RequestHead::new("GET", "/a?b");
        plain.direct(&mut head);
        assert_eq!(head.target, "/a?b");
        assert!(SingleHost::parse("https://127.0.0.1").is_err());
        assert!(SingleHost::parse("http://").is_err());
    }
}
