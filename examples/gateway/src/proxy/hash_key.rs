//! What a `consistent_hash` route hashes: the route's `hash_key`, as
//! bytes taken from the request (nginx's `hash $key consistent`, where
//! `$key` is any variable; Envoy's `hash_policy`).
//!
//! | config | bytes | nginx variable |
//! |---|---|---|
//! | `client_ip` | none: the balancer falls back to the client's address | `$remote_addr` |
//! | `path` | the path, without the query | `$uri` (undecoded) |
//! | `header:NAME` | the first `NAME` field's value | `$http_name` |
//! | `cookie:NAME` | the value of cookie `NAME` | `$cookie_name` |
//! | `query:NAME` | the first `NAME` parameter, percent-decoded | `$arg_name` |
//!
//! A request without the named part hashes by client address, so it still
//! lands somewhere stable. Decoding query values makes `room=a%20b` and
//! `room=a+b` one key, as the chat hub sees them.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use crate::http::RequestHead;

/// A route's `hash_key` (module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashKey {
    ClientIp,
    Path,
    Header(String),
    Cookie(String),
    Query(String),
}

impl FromStr for HashKey {
    type Err = String;

    fn from_str(text: &str) -> Result<HashKey, String> {
        let named = |kind: &str, name: &str, make: fn(String) -> HashKey| {
            if name.is_empty() {
                Err(format!(
                    "hash_key \"{text}\" needs a name after \"{kind}:\""
                ))
            } else {
                Ok(make(name.to_string()))
            }
        };
        match text.split_once(':') {
            None if text == "client_ip" => Ok(HashKey::ClientIp),
            None if text == "path" => Ok(HashKey::Path),
            Some(("header", name)) => named("header", name, HashKey::Header),
            Some(("cookie", name)) => named("cookie", name, HashKey::Cookie),
            Some(("query", name)) => named("query", name, HashKey::Query),
            _ => Err(format!(
                "unknown hash_key \"{text}\"; expected client_ip, path, header:NAME, cookie:NAME or query:NAME"
            )),
        }
    }
}

impl fmt::Display for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HashKey::ClientIp => write!(f, "client_ip"),
            HashKey::Path => write!(f, "path"),
            HashKey::Header(name) => write!(f, "header:{name}"),
            HashKey::Cookie(name) => write!(f, "cookie:{name}"),
            HashKey::Query(name) => write!(f, "query:{name}"),
        }
    }
}

impl HashKey {
    /// The bytes to hash for `head`; `None` means "use the client address".
    pub fn extract<'h>(&self, head: &'h RequestHead) -> Option<Cow<'h, [u8]>> {
        match self {
            HashKey::ClientIp => None,
            HashKey::Path => Some(Cow::Borrowed(head.path().as_bytes())),
            HashKey::Header(name) => head.headers.get(name).map(Cow::Borrowed),
            HashKey::Cookie(name) => head
                .headers
                .get_all("cookie")
                .filter_map(|value| std::str::from_utf8(value).ok())
                .flat_map(|value| value.split(';'))
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(cookie, _)| cookie == name)
                .map(|(_, value)| Cow::Borrowed(value.trim_matches('"').as_bytes())),
            HashKey::Query(name) => form_urlencoded::parse(head.query()?.as_bytes())
                .find(|(param, _)| param == name)
                .map(|(_, value)| match value {
                    Cow::Borrowed(text) => Cow::Borrowed(text.as_bytes()),
                    Cow::Owned(text) => Cow::Owned(text.into_bytes()),
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form_and_refuses_others() {
        assert_eq!("client_ip".parse(), Ok(HashKey::ClientIp));
        assert_eq!("path".parse(), Ok(HashKey::Path));
        assert_eq!(
            "header:X-User".parse(),
            Ok(HashKey::Header("X-User".into()))
        );
        assert_eq!("cookie:sid".parse(), Ok(HashKey::Cookie("sid".into())));
        assert_eq!("query:room".parse(), Ok(HashKey::Query("room".into())));
        assert!("header:".parse::<HashKey>().is_err());
        assert!("ip".parse::<HashKey>().is_err());
        assert_eq!(HashKey::Query("room".into()).to_string(), "query:room");
    }

    #[test]
    fn extracts_the_named_part() {
        let mut head = RequestHead::new("GET", "/ws?x=1&room=a%20b");
        head.headers.append("X-User", "ann");
        head.headers.append("Cookie", "a=1; sid=\"s42\"; b=2");
        let get = |key: &str| {
            key.parse::<HashKey>()
                .unwrap()
                .extract(&head)
                .map(|bytes| String::from_utf8(bytes.into_owned()).unwrap())
        };
        assert_eq!(get("path").as_deref(), Some("/ws"));
        assert_eq!(get("header:x-user").as_deref(), Some("ann"));
        assert_eq!(get("cookie:sid").as_deref(), Some("s42"));
        assert_eq!(get("query:room").as_deref(), Some("a b"));
        assert_eq!(get("query:nope"), None);
        assert_eq!(get("client_ip"), None);
    }
}
