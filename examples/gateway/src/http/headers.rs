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
//! Why one byte buffer and not a `String` and a `Vec` per field: a proxied
//! request copies a head three times (parsed, rewritten for the backend,
//! the backend's answer), and with two allocations per field the
//! allocator was the largest user-space cost of a request
//! (docs/benchmarks.md, "Gateway"). Here a head is two allocations
//! whatever its size: the names and values back to back in `bytes`, and
//! the list of where each field lies in it. Changing or removing a field
//! leaves its old bytes behind as garbage, which a head's short life
//! makes cheaper than compacting.
//!
//! Invariant: a field whose name is not a token, or whose value holds CR,
//! LF or NUL, is never written to the wire ([`Headers::write_to`] skips it),
//! so a hook that builds a value from client input cannot split a head.
//! The check is made once, when a field is added, and kept with it; fields
//! that come from httparse pass without a scan, since httparse refuses
//! exactly those names and bytes.

use std::fmt;
use std::ops::Range;

/// Header fields in the order they were added.
#[derive(Default)]
pub struct Headers {
    /// Every name and value, back to back (module doc); names are copied
    /// only from `&str`, so a name's range is always valid UTF-8.
    bytes: Vec<u8>,
    /// The fields, in order.
    fields: Vec<Field>,
}

/// Where one field's name and value lie in [`Headers::bytes`].
#[derive(Clone, Copy)]
struct Field {
    name_start: u32,
    name_len: u32,
    value_start: u32,
    value_len: u32,
    /// Whether the field may be written (module doc, the invariant).
    writable: bool,
}

impl Field {
    fn name(self) -> Range<usize> {
        self.name_start as usize..(self.name_start + self.name_len) as usize
    }

    fn value(self) -> Range<usize> {
        self.value_start as usize..(self.value_start + self.value_len) as usize
    }
}

/// Room left for fields added to a parsed or copied head (a proxy adds
/// `X-Forwarded-*` and a framing field), so that adding them does not
/// grow the buffers again.
const SLACK_BYTES: usize = 256;
const SLACK_FIELDS: usize = 8;

impl Headers {
    pub fn new() -> Headers {
        Headers::default()
    }

    /// Empty buffers with room for `bytes` of names and values in `fields`
    /// fields, and the slack.
    fn with_room(bytes: usize, fields: usize) -> Headers {
        Headers {
            bytes: Vec::with_capacity(bytes + SLACK_BYTES),
            fields: Vec::with_capacity(fields + SLACK_FIELDS),
        }
    }

    /// Copies the fields of a parse.
    pub fn from_parsed(parsed: &[httparse::Header<'_>]) -> Headers {
        Headers::new().refilled(parsed)
    }

    /// [`from_parsed`](Self::from_parsed) into these buffers, emptied
    /// first: a keep-alive connection lends each head's memory to the
    /// next instead of allocating two buffers per head.
    pub fn refilled(mut self, parsed: &[httparse::Header<'_>]) -> Headers {
        let size: usize = parsed
            .iter()
            .map(|field| field.name.len() + field.value.len())
            .sum();
        self.bytes.clear();
        self.fields.clear();
        self.bytes.reserve(size + SLACK_BYTES);
        self.fields.reserve(parsed.len() + SLACK_FIELDS);
        for field in parsed {
            // httparse accepts only token names, and values without CR,
            // LF or NUL (tests in head.rs): writable as they are.
            self.push(field.name, field.value, true);
        }
        self
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    fn name_of(&self, field: Field) -> &str {
        let bytes = &self.bytes[field.name()];
        // SAFETY: a name's bytes were copied from a `&str` (`append`,
        // `set`), so they are valid UTF-8, and no method writes over
        // bytes already in the buffer.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    fn value_of(&self, field: Field) -> &[u8] {
        &self.bytes[field.value()]
    }

    fn is_named(&self, field: Field, name: &str) -> bool {
        self.name_of(field).eq_ignore_ascii_case(name)
    }

    /// Every field, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.fields
            .iter()
            .map(|&field| (self.name_of(field), self.value_of(field)))
    }

    /// The value of the first field named `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|&&field| self.is_named(field, name))
            .map(|&field| self.value_of(field))
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
            .filter(move |&&field| self.is_named(field, name))
            .map(|&field| self.value_of(field))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The comma-separated elements of every field named `name`, trimmed
    /// of whitespace, empty ones skipped (RFC 9110 §5.6.1 lists:
    /// `Connection: a, , b`), and any that is not UTF-8 (no token is).
    pub fn tokens<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.get_all(name)
            .flat_map(list_elements)
            .filter_map(|token| std::str::from_utf8(token).ok())
    }

    /// Whether some field named `name` lists `token`, case-insensitively
    /// (`Connection: keep-alive, Upgrade` lists `upgrade`). Asked three
    /// times of every proxied request, so it compares bytes, with no
    /// UTF-8 check and no chain of adapters around the search.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name).any(|value| {
            list_elements(value).any(|item| item.eq_ignore_ascii_case(token.as_bytes()))
        })
    }

    /// Copies `bytes` to the end of the buffer; returns where they start.
    fn store(&mut self, bytes: &[u8]) -> u32 {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        u32::try_from(self.bytes.len()).expect("a head's fields exceed 4 GiB");
        start as u32
    }

    /// Adds a field after the others, keeping any of the same name.
    pub fn append(&mut self, name: &str, value: impl AsRef<[u8]>) {
        let value = value.as_ref();
        self.push(name, value, is_writable(name, value));
    }

    /// [`append`](Self::append), the field's check already made.
    fn push(&mut self, name: &str, value: &[u8], writable: bool) {
        let field = Field {
            name_start: self.store(name.as_bytes()),
            name_len: name.len() as u32,
            value_start: self.store(value),
            value_len: value.len() as u32,
            writable,
        };
        self.fields.push(field);
    }

    /// Replaces every field named `name` with one holding `value`, where
    /// the first of them was (at the end if there was none).
    pub fn set(&mut self, name: &str, value: impl AsRef<[u8]>) {
        let Some(first) = self.fields.iter().position(|&f| self.is_named(f, name)) else {
            return self.append(name, value);
        };
        let value = value.as_ref();
        self.fields[first].value_start = self.store(value);
        self.fields[first].value_len = value.len() as u32;
        self.fields[first].writable = is_writable(name, value);
        // Usually the name was there once: nothing to take out.
        if !self.fields[first + 1..]
            .iter()
            .any(|&f| self.is_named(f, name))
        {
            return;
        }
        let mut index = 0;
        let bytes = &self.bytes;
        self.fields.retain(|field| {
            index += 1;
            index - 1 == first || !name_in(bytes, *field).eq_ignore_ascii_case(name.as_bytes())
        });
    }

    /// Removes every field named `name`; says whether there was one.
    pub fn remove(&mut self, name: &str) -> bool {
        self.remove_all(&[name])
    }

    /// Removes every field named any of `names`, in one pass; says whether
    /// there was one.
    pub fn remove_all(&mut self, names: &[&str]) -> bool {
        let before = self.fields.len();
        self.retain(|field, _| !names.iter().any(|name| field.eq_ignore_ascii_case(name)));
        self.fields.len() != before
    }

    /// Keeps the fields for which `keep(name, value)` says so.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &[u8]) -> bool) {
        let mut fields = std::mem::take(&mut self.fields);
        fields.retain(|&field| keep(self.name_of(field), self.value_of(field)));
        self.fields = fields;
    }

    /// Appends the fields as `Name: value\r\n` lines, skipping any that
    /// could not be written safely (module doc).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        self.write_except(&[], out);
    }

    /// [`write_to`](Self::write_to), leaving out the fields named in
    /// `skip` (lower case): how a head goes out with framing fields of
    /// the writer's own instead of the ones it carries.
    pub fn write_except(&self, skip: &[&str], out: &mut Vec<u8>) {
        for &field in &self.fields {
            let (name, value) = (self.name_of(field), self.value_of(field));
            if !field.writable
                || skip
                    .iter()
                    .any(|skipped| name.eq_ignore_ascii_case(skipped))
            {
                continue;
            }
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// The elements of a comma-separated list value, trimmed of ASCII
/// whitespace (RFC 9110's optional whitespace is spaces and tabs; a parsed
/// value holds no other), empty ones skipped.
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(|element| element.trim_ascii())
        .filter(|element| !element.is_empty())
}

/// A field's name as bytes, for the one loop that holds `fields` mutably.
fn name_in(bytes: &[u8], field: Field) -> &[u8] {
    &bytes[field.name()]
}

impl Clone for Headers {
    /// A copy with the slack (`SLACK_BYTES`) where a derived clone would
    /// allocate to the byte, and the garbage left behind.
    fn clone(&self) -> Headers {
        let size = self
            .iter()
            .map(|(name, value)| name.len() + value.len())
            .sum();
        let mut copy = Headers::with_room(size, self.len());
        for &field in &self.fields {
            copy.push(self.name_of(field), self.value_of(field), field.writable);
        }
        copy
    }
}

impl PartialEq for Headers {
    /// Equal when they hold the same fields in the same order, whatever
    /// garbage their buffers carry.
    fn eq(&self, other: &Headers) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

/// Whether a field may go on the wire: a token for a name, and no CR, LF
/// or NUL in the value (module doc, the invariant).
fn is_writable(name: &str, value: &[u8]) -> bool {
    is_token(name) && !value.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0))
}

/// Whether `name` is an RFC 9110 token (the grammar of field names).
pub fn is_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| TOKEN[usize::from(b)])
}

/// `TOKEN[b]`: whether byte `b` may appear in a token (RFC 9110 §5.6.2:
/// letters, digits and ``!#$%&'*+-.^_`|~``), a table since every field of
/// every head is checked on the way out.
static TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    table
};

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.iter()
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

        // The check follows a field's value: set over, and copied.
        headers.set("Good", "no\nInjected: 2");
        headers.set("Bad", "fine now");
        out.clear();
        headers.clone().write_to(&mut out);
        assert_eq!(out, b"Bad: fine now\r\n");
    }

    #[test]
    fn removes_several_names_in_one_pass() {
        let mut headers = Headers::new();
        for (name, value) in [("A", "1"), ("b", "2"), ("C", "3"), ("B", "4")] {
            headers.append(name, value);
        }
        assert!(headers.remove_all(&["b", "c"]));
        assert!(!headers.remove_all(&["b", "z"]));
        assert_eq!(headers.iter().collect::<Vec<_>>(), [("A", &b"1"[..])]);
    }
}
