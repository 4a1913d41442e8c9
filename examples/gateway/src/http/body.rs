//! [`Body`]: a message body that is read, not held (Go's `Request.Body`
//! and `Response.Body`, an `io.ReadCloser` with a `ContentLength` beside
//! it).
//!
//! A body is one of: nothing; bytes in memory (an error page, a test's
//! payload); or a stream, any `Read`, with its length if the sender
//! declared one. The length is what decides how the body is framed when it
//! is written on (encode.rs): known → `Content-Length`; unknown → chunked.
//! So a chunked upload goes upstream chunked, a sized one sized, without
//! the proxy ever learning the total of the first.
//!
//! A body also counts what was read from it (the proxy retries a request
//! only if none of its body was consumed: once bytes are read from the
//! client they cannot be read again) and may carry a limit: reading past
//! it fails with [`BodyTooLarge`], which the proxy answers with 413
//! (nginx's `client_max_body_size`).
//!
//! Invariant: a stream with a declared length yields exactly that many
//! bytes or fails; a reader that ends early is an error, never a short body.

use std::error::Error;
use std::fmt;
use std::io::{self, Read};

/// A message body (module doc).
pub struct Body<'a> {
    source: Source<'a>,
    /// Declared length, if any: the total, not what remains.
    len: Option<u64>,
    /// Bytes handed out so far.
    read: u64,
    /// Most bytes this body may yield before reads fail.
    limit: Option<u64>,
}

enum Source<'a> {
    Empty,
    Bytes(Vec<u8>),
    Stream(Box<dyn Read + 'a>),
}

/// The error a [`Body`] read fails with past the body's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTooLarge {
    pub limit: u64,
}

impl fmt::Display for BodyTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "body larger than {} bytes", self.limit)
    }
}

impl Error for BodyTooLarge {}

impl BodyTooLarge {
    /// The limit, if `err` is this error.
    pub fn find(err: &io::Error) -> Option<BodyTooLarge> {
        err.get_ref()
            .and_then(|inner| inner.downcast_ref::<BodyTooLarge>())
            .copied()
    }
}

impl<'a> Body<'a> {
    /// No body.
    pub fn empty() -> Body<'a> {
        Body {
            source: Source::Empty,
            len: Some(0),
            read: 0,
            limit: None,
        }
    }

    /// A body held in memory.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Body<'a> {
        let bytes = bytes.into();
        Body {
            len: Some(bytes.len() as u64),
            source: Source::Bytes(bytes),
            read: 0,
            limit: None,
        }
    }

    /// A body read from `reader`, which must yield exactly `len` bytes if
    /// `len` is given.
    pub fn from_reader(reader: impl Read + 'a, len: Option<u64>) -> Body<'a> {
        Body {
            source: Source::Stream(Box::new(reader)),
            len,
            read: 0,
            limit: None,
        }
    }

    /// The declared length: `Some(0)` for no body, `None` if unknown.
    pub fn len(&self) -> Option<u64> {
        self.len
    }

    /// Whether the body is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len == Some(0)
    }

    /// Bytes read from the body so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// Makes reads fail with [`BodyTooLarge`] once more than `limit` bytes
    /// would have been read.
    pub fn set_limit(&mut self, limit: u64) {
        self.limit = Some(limit);
    }

    /// Reads the rest of the body into memory, failing past `max` bytes.
    /// For tests and small bodies only: the proxy never calls it.
    pub fn read_to_vec(&mut self, max: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = self.read(&mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            if out.len() + n > max {
                return Err(io::Error::other(BodyTooLarge { limit: max as u64 }));
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    fn read_source(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.source {
            Source::Empty => Ok(0),
            Source::Bytes(bytes) => {
                let start = self.read as usize;
                let n = buf.len().min(bytes.len() - start);
                buf[..n].copy_from_slice(&bytes[start..start + n]);
                Ok(n)
            }
            Source::Stream(reader) => reader.read(buf),
        }
    }
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // Ask for one byte past the limit, so that a body of exactly the
        // limit ends cleanly and a longer one is caught.
        let want = match self.limit {
            Some(limit) => {
                let allowed = (limit + 1).saturating_sub(self.read);
                buf.len()
                    .min(usize::try_from(allowed).unwrap_or(usize::MAX))
            }
            None => buf.len(),
        };
        let n = self.read_source(&mut buf[..want])?;
        if let Some(limit) = self.limit {
            if self.read + n as u64 > limit {
                return Err(io::Error::other(BodyTooLarge { limit }));
            }
        }
        self.read += n as u64;
        if n == 0 {
            if let Some(len) = self.len {
                if self.read < len {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("body ended after {} of {len} bytes", self.read),
                    ));
                }
            }
        }
        Ok(n)
    }
}

impl fmt::Debug for Body<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.source {
            Source::Empty => "empty",
            Source::Bytes(_) => "bytes",
            Source::Stream(_) => "stream",
        };
        f.debug_struct("Body")
            .field("kind", &kind)
            .field("len", &self.len)
            .field("read", &self.read)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_come_back_in_pieces() {
        let mut body = Body::from_bytes("hello world");
        let mut buf = [0u8; 4];
        assert_eq!(body.read(&mut buf).unwrap(), 4);
        assert_eq!(&buf, b"hell");
        assert_eq!(body.read_to_vec(100).unwrap(), b"o world");
        assert_eq!(body.bytes_read(), 11);
    }

    #[test]
    fn a_limit_allows_exactly_its_size() {
        let mut exact = Body::from_bytes(vec![1u8; 10]);
        exact.set_limit(10);
        assert_eq!(exact.read_to_vec(100).unwrap().len(), 10);

        let mut over = Body::from_reader(&[1u8; 11][..], None);
        over.set_limit(10);
        let err = over.read_to_vec(100).unwrap_err();
        assert_eq!(BodyTooLarge::find(&err), Some(BodyTooLarge { limit: 10 }));
    }

    #[test]
    fn a_stream_shorter_than_declared_is_an_error() {
        let mut body = Body::from_reader(&b"abc"[..], Some(5));
        let err = body.read_to_vec(100).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
