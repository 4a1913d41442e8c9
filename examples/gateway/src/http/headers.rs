//! Header fields: an ordered list of (name, value), looked up without
//! regard to case (Go's `http.Header`, which is a map of canonicalised
//! names instead).
//!
//! Why a list and not a map: a proxy should forward fields in the order it
//! received them and with the names spelled as sent, and a head has a few
//! dozen fields at most, so a linear scan is as fast as hashing. Values are
//! bytes, not strings: RFC 9110 §5.5 allows obs-text (bytes 0x80–0xFF),
//! which a proxy passes on untouched.
//!
//! Invariant: a field whose name is not a token, or whose value holds CR,
//! LF or NUL, is never written to the wire ([`Headers::write_to`] skips it),
//! so a hook that builds a value from client input cannot split a head.

use std::fmt;

/// Header fields in the order they were added.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    /// (name as spelled, value without surrounding whitespace).
    fields: Vec<(String, Vec<u8>)>,
}

impl Headers {
    pub fn new() -> Headers {
        Headers::default()
    }

    /// Copies the fields of a parse.
    pub fn from_parsed(parsed: &[httparse::Header<'_>]) -> Headers {
        Headers {
            fields: parsed
                .iter()
                .map(|field| (field.name.to_string(), field.value.to_vec()))
                .collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Every field, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.fields
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_slice()))
    }

    /// The value of the first field named `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_slice())
    }

    /// The value of the first field named `name`, if it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name)
            .and_then(|value| std::str::from_utf8(value).ok())
    }

    /// The values of every field named `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.fields
            .iter()
            .filter(move |(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_slice())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The comma-separated elements of every field named `name`, trimmed,
    /// empty ones skipped (RFC 9110 §5.6.1 lists: `Connection: a, , b`).
    pub fn tokens<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.get_all(name)
            .filter_map(|value| std::str::from_utf8(value).ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .filter(|token| !token.is_empty())
    }

    /// Whether some field named `name` lists `token`, case-insensitively
    /// (`Connection: keep-alive, Upgrade` lists `upgrade`).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.tokens(name)
            .any(|item| item.eq_ignore_ascii_case(token))
    }

    /// Adds a field after the others, keeping any of the same name.
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) {
        self.fields.push((name.into(), value.into()));
    }

    /// Replaces every field named `name` with one holding `value`, where
    /// the first of them was (at the end if there was none).
    pub fn set(&mut self, name: &str, value: impl Into<Vec<u8>>) {
        let value = value.into();
        match self
            .fields
            .iter()
            .position(|(field, _)| field.eq_ignore_ascii_case(name))
        {
            Some(first) => {
                self.fields[first].1 = value;
                let mut index = 0;
                self.fields.retain(|(field, _)| {
                    index += 1;
                    index - 1 == first || !field.eq_ignore_ascii_case(name)
                });
            }
            None => self.fields.push((name.to_string(), value)),
        }
    }

    /// Removes every field named `name`; says whether there was one.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.fields.len();
        self.fields
            .retain(|(field, _)| !field.eq_ignore_ascii_case(name));
        self.fields.len() != before
    }

    /// Keeps the fields for which `keep(name, value)` says so.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &[u8]) -> bool) {
        self.fields.retain(|(name, value)| keep(name, value));
    }

    /// Appends the fields as `Name: value\r\n` lines, skipping any that
    /// could not be written safely (module doc).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        for (name, value) in &self.fields {
            if !is_token(name) || value.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
                continue;
            }
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Whether `name` is an RFC 9110 token (the grammar of field names).
pub fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.fields
                    .iter()
                    .map(|(name, value)| (name, String::from_utf8_lossy(value))),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_up_without_case_and_keeps_order() {
        let mut headers = Headers::new();
        headers.append("Host", "a");
        headers.append("X-One", "1");
        headers.append("x-one", "2");
        assert_eq!(headers.get_str("HOST"), Some("a"));
        assert_eq!(headers.get_all("X-ONE").collect::<Vec<_>>(), [b"1", b"2"]);
        headers.set("X-One", "3");
        assert_eq!(headers.get_all("x-one").collect::<Vec<_>>(), [b"3"]);
        assert_eq!(
            headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            ["Host", "X-One"]
        );
        assert!(headers.remove("host"));
        assert!(!headers.contains("Host"));
    }

    #[test]
    fn finds_tokens_in_lists() {
        let mut headers = Headers::new();
        headers.append("Connection", "keep-alive, , Upgrade");
        headers.append("Connection", "X-Private");
        assert!(headers.has_token("connection", "upgrade"));
        assert!(headers.has_token("connection", "x-private"));
        assert_eq!(headers.tokens("connection").count(), 3);
    }

    #[test]
    fn never_writes_a_field_that_would_split_the_head() {
        let mut headers = Headers::new();
        headers.append("Good", "yes");
        headers.append("Bad", "a\r\nInjected: 1");
        headers.append("Bad Name", "x");
        let mut out = Vec::new();
        headers.write_to(&mut out);
        assert_eq!(out, b"Good: yes\r\n");
    }
}
