//! How long is this body? RFC 9112 §6.3, the rules that stop request
//! smuggling (Go's `transferReader`: `parseTransferEncoding`, `fixLength`).
//!
//! Smuggling works when two parties on one connection disagree on where a
//! message ends: the front end thinks a body is 5 bytes (`Content-Length`),
//! the back end reads it as chunked and finds a second request inside.
//! A proxy forwarding many clients over shared upstream connections must
//! therefore refuse every request whose length two honest parsers could
//! read differently, and close the connection after refusing, since it
//! cannot know where the refused message ends. For requests:
//! 1. `Transfer-Encoding` and `Content-Length` together: 400 (§6.3 item 3
//!    allows going by `Transfer-Encoding`; refusing is the safe choice, and
//!    nginx's since 1.23).
//! 2. `Transfer-Encoding` whose last coding is not `chunked`: 400 (item 4).
//!    `chunked` with other codings before it (`gzip, chunked`): 501, we
//!    implement none (RFC 9112 §6.1). `chunked` twice: 400.
//! 3. `Transfer-Encoding` in an HTTP/1.0 request: 400 (§6.1: the framing
//!    is faulty by definition).
//! 4. `Content-Length` that is not all digits, or several that differ
//!    (`5, 6` or two fields): 400 (item 5; equal repeats are one value).
//! 5. Neither field: no body (item 7).
//!
//! For responses (read from a backend) the order is the RFC's: no body for
//! `HEAD` and for 1xx, 204 and 304; then chunked; then a valid length; a
//! broken length is a 502 (item 5: "a proxy MUST … send a 502"); and
//! otherwise the body runs until the backend closes.
//!
//! The syntax-level tricks (`Content-Length : 5`, folded lines) never get
//! here: httparse refuses them (head.rs).

use super::headers::Headers;
use super::message::{RequestHead, ResponseHead};

/// How a body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body at all.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Everything until the sender closes (responses only).
    UntilClose,
}

/// A request whose body length cannot be trusted: answer `status` and close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramingError {
    pub status: u16,
    pub why: String,
}

fn refuse(status: u16, why: &str) -> FramingError {
    FramingError {
        status,
        why: why.to_string(),
    }
}

/// What a `Transfer-Encoding` field says.
enum Coding {
    Absent,
    Chunked,
    /// Present, but not exactly `chunked`: the message, with a status.
    Other(u16, &'static str),
}

fn transfer_coding(headers: &Headers) -> Coding {
    if !headers.contains("transfer-encoding") {
        return Coding::Absent;
    }
    let codings: Vec<&str> = headers.tokens("transfer-encoding").collect();
    match codings.as_slice() {
        [] => Coding::Other(400, "empty Transfer-Encoding"),
        [only] if only.eq_ignore_ascii_case("chunked") => Coding::Chunked,
        [.., last] if !last.eq_ignore_ascii_case("chunked") => {
            Coding::Other(400, "Transfer-Encoding does not end in chunked")
        }
        many if many
            .iter()
            .filter(|c| c.eq_ignore_ascii_case("chunked"))
            .count()
            > 1 =>
        {
            Coding::Other(400, "chunked applied twice")
        }
        _ => Coding::Other(501, "transfer codings other than chunked"),
    }
}

/// The value of the `Content-Length` fields: `Ok(None)` if there are
/// none, an error if any is not a number or two differ.
fn content_length(headers: &Headers) -> Result<Option<u64>, &'static str> {
    let mut length = None;
    for value in headers.get_all("content-length") {
        for item in value.split(|&b| b == b',') {
            let item = item.trim_ascii();
            if item.is_empty() || item.len() > 19 || !item.iter().all(u8::is_ascii_digit) {
                return Err("invalid Content-Length");
            }
            let n = item
                .iter()
                .fold(0u64, |n, &digit| n * 10 + u64::from(digit - b'0'));
            match length {
                Some(previous) if previous != n => return Err("differing Content-Lengths"),
                _ => length = Some(n),
            }
        }
    }
    Ok(length)
}

/// The length of a request's body, or why the request must be refused
/// (module doc, rules 1–5).
pub fn request_body_kind(head: &RequestHead) -> Result<BodyKind, FramingError> {
    let coding = transfer_coding(&head.headers);
    let has_length = head.headers.contains("content-length");
    if !matches!(coding, Coding::Absent) {
        if has_length {
            return Err(refuse(400, "both Transfer-Encoding and Content-Length"));
        }
        if head.version == 0 {
            return Err(refuse(400, "Transfer-Encoding in an HTTP/1.0 request"));
        }
    }
    match coding {
        Coding::Chunked => return Ok(BodyKind::Chunked),
        Coding::Other(status, why) => return Err(refuse(status, why)),
        Coding::Absent => {}
    }
    match content_length(&head.headers) {
        Err(why) => Err(refuse(400, why)),
        Ok(None) | Ok(Some(0)) => Ok(BodyKind::Empty),
        Ok(Some(n)) => Ok(BodyKind::Length(n)),
    }
}

/// The length of a response's body, given the request's method. The
/// flag says the connection cannot be reused after it (the backend sent
/// both fields, or a body delimited by closing).
pub fn response_body_kind(method: &str, head: &ResponseHead) -> Result<(BodyKind, bool), String> {
    if method == "HEAD" || head.status < 200 || head.status == 204 || head.status == 304 {
        return Ok((BodyKind::Empty, false));
    }
    match transfer_coding(&head.headers) {
        Coding::Chunked => {
            let both = head.headers.contains("content-length");
            return Ok((BodyKind::Chunked, both));
        }
        Coding::Other(..) => return Ok((BodyKind::UntilClose, true)),
        Coding::Absent => {}
    }
    match content_length(&head.headers) {
        Err(why) => Err(format!("backend sent an {why}")),
        Ok(Some(0)) => Ok((BodyKind::Empty, false)),
        Ok(Some(n)) => Ok((BodyKind::Length(n), false)),
        Ok(None) => Ok((BodyKind::UntilClose, true)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(fields: &[(&str, &str)]) -> RequestHead {
        let mut head = RequestHead::new("POST", "/");
        for (name, value) in fields {
            head.headers.append(name, *value);
        }
        head
    }

    fn status_of(fields: &[(&str, &str)]) -> u16 {
        request_body_kind(&request(fields)).unwrap_err().status
    }

    #[test]
    fn plain_lengths_and_chunked_are_accepted() {
        assert_eq!(request_body_kind(&request(&[])), Ok(BodyKind::Empty));
        assert_eq!(
            request_body_kind(&request(&[("Content-Length", "12")])),
            Ok(BodyKind::Length(12))
        );
        assert_eq!(
            request_body_kind(&request(&[
                ("Content-Length", "5, 5"),
                ("content-length", "5")
            ])),
            Ok(BodyKind::Length(5))
        );
        assert_eq!(
            request_body_kind(&request(&[("Transfer-Encoding", "Chunked")])),
            Ok(BodyKind::Chunked)
        );
    }

    #[test]
    fn smuggling_shapes_are_refused() {
        assert_eq!(
            status_of(&[("Content-Length", "5"), ("Transfer-Encoding", "chunked")]),
            400
        );
        assert_eq!(
            status_of(&[("Content-Length", "5"), ("Content-Length", "6")]),
            400
        );
        assert_eq!(status_of(&[("Content-Length", "5, 6")]), 400);
        assert_eq!(status_of(&[("Content-Length", "+5")]), 400);
        assert_eq!(status_of(&[("Content-Length", "0x5")]), 400);
        assert_eq!(status_of(&[("Content-Length", "")]), 400);
        assert_eq!(
            status_of(&[("Transfer-Encoding", "chunked, identity")]),
            400
        );
        assert_eq!(
            status_of(&[
                ("Transfer-Encoding", "chunked"),
                ("Transfer-Encoding", "chunked")
            ]),
            400
        );
        assert_eq!(status_of(&[("Transfer-Encoding", "xchunked")]), 400);
        assert_eq!(status_of(&[("Transfer-Encoding", "gzip, chunked")]), 501);
        let mut old = request(&[("Transfer-Encoding", "chunked")]);
        old.version = 0;
        assert_eq!(request_body_kind(&old).unwrap_err().status, 400);
    }

    #[test]
    fn response_lengths_follow_the_rfc_order() {
        let mut head = ResponseHead::new(200);
        assert_eq!(
            response_body_kind("GET", &head),
            Ok((BodyKind::UntilClose, true))
        );
        head.headers.append("Content-Length", "3");
        assert_eq!(
            response_body_kind("GET", &head),
            Ok((BodyKind::Length(3), false))
        );
        assert_eq!(
            response_body_kind("HEAD", &head),
            Ok((BodyKind::Empty, false))
        );
        head.headers.append("Transfer-Encoding", "chunked");
        assert_eq!(
            response_body_kind("GET", &head),
            Ok((BodyKind::Chunked, true))
        );
        let mut not_modified = ResponseHead::new(304);
        not_modified.headers.append("Content-Length", "100");
        assert_eq!(
            response_body_kind("GET", &not_modified),
            Ok((BodyKind::Empty, false))
        );
        let mut broken = ResponseHead::new(200);
        broken.headers.append("Content-Length", "1, 2");
        assert!(response_body_kind("GET", &broken).is_err());
    }
}
