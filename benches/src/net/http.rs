//! The HTTP/1.1 side of the hand-rolled servers, without I/O: bytes in,
//! responses out. Both the grt and the tokio server feed it what each read
//! returned and write what it produced, so the two differ only in how they
//! read and write (net/serve.rs).
//!
//! It answers every request with [`RESPONSE`](super::RESPONSE), keeps the
//! connection open unless the request says `Connection: close` (or is
//! HTTP/1.0 without `keep-alive`), and answers pipelined requests with one
//! write for the lot. Requests with a body are refused (the benchmark sends
//! none): reading a body right is RFC 9112 §6.3's business, not this one's.

use std::io;

use super::RESPONSE;

/// Most header lines a request may have.
const MAX_HEADERS: usize = 32;

/// Bytes a request head may take; a connection whose next request does
/// not fit is closed with an error.
const BUF_LEN: usize = 4096;

/// One connection's protocol state: unparsed input and unsent output.
pub struct HttpConn {
    /// Received bytes; `input[..filled]` is not parsed yet.
    input: Vec<u8>,
    filled: usize,
    /// Responses produced by the last [`received`](Self::received).
    output: Vec<u8>,
}

impl Default for HttpConn {
    fn default() -> Self {
        HttpConn::new()
    }
}

impl HttpConn {
    pub fn new() -> HttpConn {
        HttpConn {
            input: vec![0; BUF_LEN],
            filled: 0,
            output: Vec::with_capacity(RESPONSE.len()),
        }
    }

    /// Where the next read goes. Fails if a request head is larger than
    /// the buffer.
    pub fn spare(&mut self) -> io::Result<&mut [u8]> {
        if self.filled == self.input.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head larger than 4 KiB",
            ));
        }
        Ok(&mut self.input[self.filled..])
    }

    /// Takes `n` more bytes (just read into [`spare`](Self::spare)), and
    /// answers every complete request among the unparsed ones: the
    /// responses are in [`output`](Self::output). Returns whether the
    /// connection stays open once they are sent.
    pub fn received(&mut self, n: usize) -> io::Result<bool> {
        self.filled += n;
        self.output.clear();
        let (consumed, keep) = answer(&self.input[..self.filled], &mut self.output)?;
        self.input.copy_within(consumed..self.filled, 0);
        self.filled -= consumed;
        Ok(keep)
    }

    /// What to write before the next read (empty if no request was
    /// complete).
    pub fn output(&self) -> &[u8] {
        &self.output
    }
}

/// Parses the complete requests at the front of `input` and appends a
/// response to each to `out`. Returns the bytes they took and whether the
/// connection stays open (false once a request asked to close; what comes
/// after it is ignored).
pub fn answer(input: &[u8], out: &mut Vec<u8>) -> io::Result<(usize, bool)> {
    let mut consumed = 0;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        let len = match request.parse(&input[consumed..]) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok((consumed, true)),
            Err(err) => return Err(io::Error::new(io::ErrorKind::InvalidData, err)),
        };
        consumed += len;
        // HTTP/1.1 defaults to keep-alive, 1.0 to close.
        let mut keep = request.version == Some(1);
        for header in request.headers.iter() {
            let name = header.name;
            if name.eq_ignore_ascii_case("connection") {
                if header.value.eq_ignore_ascii_case(b"close") {
                    keep = false;
                } else if header.value.eq_ignore_ascii_case(b"keep-alive") {
                    keep = true;
                }
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                || (name.eq_ignore_ascii_case("content-length") && header.value != b"0")
            {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "requests with a body are not supported",
                ));
            }
        }
        out.extend_from_slice(RESPONSE);
        if !keep {
            return Ok((consumed, false));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::REQUEST;

    #[test]
    fn answers_each_complete_request_and_keeps_the_rest() {
        let mut conn = HttpConn::new();
        let mut input = REQUEST.repeat(2);
        input.extend_from_slice(&REQUEST[..10]);
        conn.spare().unwrap()[..input.len()].copy_from_slice(&input);
        assert!(conn.received(input.len()).unwrap());
        assert_eq!(conn.output(), RESPONSE.repeat(2));

        let rest = &REQUEST[10..];
        conn.spare().unwrap()[..rest.len()].copy_from_slice(rest);
        assert!(conn.received(rest.len()).unwrap());
        assert_eq!(conn.output(), RESPONSE);
    }

    #[test]
    fn connection_close_and_bodies() {
        let mut out = Vec::new();
        let close = b"GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        assert_eq!(answer(close, &mut out).unwrap(), (37, false));
        assert_eq!(out, RESPONSE);
        let old = b"GET / HTTP/1.0\r\n\r\n";
        assert!(!answer(old, &mut Vec::new()).unwrap().1);
        let body = b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
        assert!(answer(body, &mut Vec::new()).is_err());
    }
}
