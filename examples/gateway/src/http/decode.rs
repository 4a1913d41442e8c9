//! Reading a body off a connection in pieces (Go's `http.body` over a
//! `LimitReader` or `internal.chunkedReader`).
//!
//! A [`Decoder`] is the state of one body being read; the connection is
//! passed to each [`Decoder::read`], so one `BufConn` can carry body after
//! body on a keep-alive connection. Chunked bodies are parsed with
//! `httparse::parse_chunk_size` for the size lines and
//! `httparse::parse_headers` for the trailer section; the state machine
//! around them is ours:
//!
//! ```text
//! Size ──n>0──▶ Data(n) ──▶ DataEnd (CRLF) ──▶ Size
//!   └──n=0──▶ Trailers ──empty line──▶ Done
//! ```
//!
//! Strictness is deliberate, since a lenient chunk parser is a smuggling
//! vector: a chunk's data must be followed by exactly CRLF, a size line
//! must end within [`MAX_LINE`] bytes, trailers within [`MAX_TRAILERS`].
//! Trailer fields are read and dropped: Go's proxy forwards them, we do
//! not (nginx does not either, by default).
//!
//! A read hands back the data of as many chunks as are already buffered
//! and fit, not one chunk: a backend that flushes 7-byte chunks would
//! otherwise cost the proxy one read and one write per chunk. It never
//! waits for a second chunk once it has data, so a streaming response
//! (server-sent events) is not held back.
//!
//! Invariant: `read` returns 0 only when the body is complete (and then
//! for ever after); a connection that ends early is `UnexpectedEof`, a
//! malformed chunk `InvalidData`. Either way the connection is unusable.

use std::io::{self, Read};

use super::buf_conn::BufConn;
use super::framing::BodyKind;

/// Longest chunk-size line, extensions included (Go allows 4 KiB too).
pub const MAX_LINE: usize = 4096;

/// Largest trailer section.
pub const MAX_TRAILERS: usize = 8192;

/// Where a body being read stands (module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length { left: u64 },
    Size,
    Data { left: u64 },
    DataEnd,
    Trailers,
    UntilClose,
    Done,
}

/// The reading state of one body.
#[derive(Debug, Clone)]
pub struct Decoder {
    state: State,
}

fn invalid(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_string())
}

fn early_end() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "connection closed in the middle of a body",
    )
}

impl Decoder {
    pub fn new(kind: BodyKind) -> Decoder {
        let state = match kind {
            BodyKind::Empty | BodyKind::Length(0) => State::Done,
            BodyKind::Length(left) => State::Length { left },
            BodyKind::Chunked => State::Size,
            BodyKind::UntilClose => State::UntilClose,
        };
        Decoder { state }
    }

    /// Whether the whole body has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Reads body bytes from `conn` into `out`; 0 means the body is
    /// complete (module doc).
    pub fn read<S: Read>(&mut self, conn: &mut BufConn<S>, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        // Chunked data gathered so far in this call. Once there is some,
        // the loop only goes on with bytes already buffered, never waiting
        // for more: small chunks coalesce into one read without delaying
        // the first of them (module doc).
        let mut got = 0;
        loop {
            match self.state {
                State::Done => return Ok(got),
                State::Length { left } => {
                    let n = read_some(conn, out, left)?;
                    self.state = match left - n as u64 {
                        0 => State::Done,
                        left => State::Length { left },
                    };
                    return Ok(n);
                }
                State::UntilClose => {
                    let n = conn.read(out)?;
                    if n == 0 {
                        self.state = State::Done;
                    }
                    return Ok(n);
                }
                State::Data { left } => {
                    if got == out.len() || (got > 0 && conn.buffered().is_empty()) {
                        return Ok(got);
                    }
                    let n = read_some(conn, &mut out[got..], left)?;
                    got += n;
                    self.state = match left - n as u64 {
                        0 => State::DataEnd,
                        left => State::Data { left },
                    };
                }
                State::Size => {
                    let complete = matches!(
                        httparse::parse_chunk_size(conn.buffered()),
                        Ok(httparse::Status::Complete(_))
                    );
                    if got > 0 && !complete {
                        return Ok(got);
                    }
                    let size = self.read_size(conn)?;
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::Data { left: size }
                    };
                }
                State::DataEnd => {
                    if got > 0 && conn.buffered().len() < 2 {
                        return Ok(got);
                    }
                    while conn.buffered().len() < 2 {
                        fill_or_eof(conn)?;
                    }
                    if &conn.buffered()[..2] != b"\r\n" {
                        return Err(invalid("chunk data not followed by CRLF"));
                    }
                    conn.consume(2);
                    self.state = State::Size;
                }
                State::Trailers => {
                    // The trailers may still be on their way: let the next
                    // call, which has no data to hand back, wait for them.
                    if got > 0 {
                        return Ok(got);
                    }
                    self.skip_trailers(conn)?;
                    self.state = State::Done;
                }
            }
        }
    }

    /// Parses one chunk-size line, reading more as needed.
    fn read_size<S: Read>(&mut self, conn: &mut BufConn<S>) -> io::Result<u64> {
        loop {
            match httparse::parse_chunk_size(conn.buffered()) {
                Ok(httparse::Status::Complete((len, size))) => {
                    conn.consume(len);
                    return Ok(size);
                }
                Ok(httparse::Status::Partial) => {
                    if conn.buffered().len() >= MAX_LINE || conn.is_full() {
                        return Err(invalid("chunk-size line too long"));
                    }
                    fill_or_eof(conn)?;
                }
                Err(httparse::InvalidChunkSize) => return Err(invalid("invalid chunk size")),
            }
        }
    }

    /// Reads the trailer section up to its empty line, and drops it.
    fn skip_trailers<S: Read>(&mut self, conn: &mut BufConn<S>) -> io::Result<()> {
        loop {
            let mut fields = [httparse::EMPTY_HEADER; 32];
            match httparse::parse_headers(conn.buffered(), &mut fields) {
                Ok(httparse::Status::Complete((len, _))) => {
                    conn.consume(len);
                    return Ok(());
                }
                Ok(httparse::Status::Partial) => {
                    if conn.buffered().len() >= MAX_TRAILERS || conn.is_full() {
                        return Err(invalid("trailer section too large"));
                    }
                    fill_or_eof(conn)?;
                }
                Err(_) => return Err(invalid("malformed trailer section")),
            }
        }
    }
}

/// Reads at most `left` bytes (and at least one) through `conn`.
fn read_some<S: Read>(conn: &mut BufConn<S>, out: &mut [u8], left: u64) -> io::Result<usize> {
    let want = out.len().min(usize::try_from(left).unwrap_or(usize::MAX));
    match conn.read(&mut out[..want])? {
        0 => Err(early_end()),
        n => Ok(n),
    }
}

fn fill_or_eof<S: Read>(conn: &mut BufConn<S>) -> io::Result<()> {
    match conn.fill()? {
        0 => Err(early_end()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `wire` through a buffer of `cap` bytes, `step` at a time;
    /// returns the body and what is left on the connection.
    fn decode(
        kind: BodyKind,
        wire: &[u8],
        cap: usize,
        step: usize,
    ) -> io::Result<(Vec<u8>, Vec<u8>)> {
        let mut conn = BufConn::new(wire, cap);
        let mut decoder = Decoder::new(kind);
        let mut body = Vec::new();
        let mut buf = vec![0u8; step];
        loop {
            let n = decoder.read(&mut conn, &mut buf)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
        }
        assert!(decoder.is_done());
        Ok((body, conn.into_parts().1))
    }

    #[test]
    fn length_bodies_stop_at_their_length() {
        let (body, rest) = decode(BodyKind::Length(5), b"helloGET /", 64, 3).unwrap();
        assert_eq!(body, b"hello");
        assert_eq!(rest, b"GET /");
        let err = decode(BodyKind::Length(10), b"short", 64, 3).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn chunked_bodies_decode_whatever_the_buffer_sizes() {
        let wire =
            b"4\r\nWiki\r\n6;ext=1\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for cap in [16, 64] {
            for step in [1, 3, 100] {
                let (body, rest) = decode(BodyKind::Chunked, wire, cap, step).unwrap();
                assert_eq!(
                    body, b"Wikipedia in \r\n\r\nchunks.",
                    "cap {cap} step {step}"
                );
                assert_eq!(rest, b"NEXT");
            }
        }
    }

    #[test]
    fn malformed_chunks_are_errors() {
        let bad_size = decode(BodyKind::Chunked, b"zz\r\nab\r\n0\r\n\r\n", 64, 8).unwrap_err();
        assert_eq!(bad_size.kind(), io::ErrorKind::InvalidData);
        let no_crlf = decode(BodyKind::Chunked, b"2\r\nabX\r\n0\r\n\r\n", 64, 8).unwrap_err();
        assert_eq!(no_crlf.kind(), io::ErrorKind::InvalidData);
        let cut = decode(BodyKind::Chunked, b"5\r\nab", 64, 8).unwrap_err();
        assert_eq!(cut.kind(), io::ErrorKind::UnexpectedEof);
        let huge = decode(BodyKind::Chunked, b"fffffffffffffffff\r\n", 64, 8).unwrap_err();
        assert_eq!(huge.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn until_close_reads_to_the_end() {
        let (body, _) = decode(BodyKind::UntilClose, b"all of it", 4, 2).unwrap();
        assert_eq!(body, b"all of it");
    }
}
