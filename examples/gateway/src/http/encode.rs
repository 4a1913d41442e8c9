//! Writing messages: a head, then a body framed as the receiver expects
//! (Go's `transferWriter` and `chunkedWriter`).
//!
//! The body is copied through one [`COPY_BUFFER`]-sized buffer, as it is
//! read, never gathered first. A body of known length is sent with
//! `Content-Length` (the caller put that field in the head); one of
//! unknown length chunked, each read becoming one chunk, written with its
//! size line and CRLF in a single `write` (the buffer keeps room in front
//! of the data for the size line); or, to an HTTP/1.0 client that cannot
//! read chunks, raw until the connection closes.
//!
//! Small bodies of known length go out in the same `write` as the head:
//! one system call and one TCP segment for a typical API response, where
//! writing them apart would cost a second of each and, with Nagle on the
//! client's delayed ACK, sometimes 40 ms.
//!
//! [`CopyError`] keeps apart the two ends a copy can fail at: the proxy
//! answers a reader's failure (a client that stopped sending its body)
//! differently from a writer's (a backend that went away).

use std::io::{self, Read, Write};

use super::framing::BodyKind;
use super::message::{RequestHead, ResponseHead};
use super::COPY_BUFFER;

/// The last chunk and the empty trailer section that end a chunked body.
pub const CHUNKED_END: &[u8] = b"0\r\n\r\n";

/// Room kept in front of the data for a chunk-size line: 16 hex digits
/// and CRLF.
const SIZE_ROOM: usize = 18;

/// Bodies of known length up to this size share the head's write.
const COALESCE: u64 = 16 * 1024;

/// Which end of a copy failed.
#[derive(Debug)]
pub enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

/// The fields a writer adds to say how the body is framed, and so never
/// copies from the head it is given: the head's own are the sender's
/// framing, not ours.
const FRAMING_FIELDS: &[&str] = &["content-length", "transfer-encoding"];

/// Appends `head` as an HTTP/1.1 request (the only version this gateway
/// sends upstream, as Go's transport), its fields but its framing ones,
/// the framing field for `framing` (`Content-Length` for `Length`, even 0;
/// `Transfer-Encoding: chunked` for `Chunked`; none otherwise), and the
/// empty line.
pub fn request_head_bytes(head: &RequestHead, framing: BodyKind, out: &mut Vec<u8>) {
    out.extend_from_slice(head.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(head.target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    head.headers.write_except(FRAMING_FIELDS, out);
    match framing {
        BodyKind::Length(len) => {
            out.extend_from_slice(b"Content-Length: ");
            out.extend_from_slice(Decimal::new(len).as_ref());
            out.extend_from_slice(b"\r\n");
        }
        BodyKind::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        BodyKind::Empty | BodyKind::UntilClose => {}
    }
    out.extend_from_slice(b"\r\n");
}

/// `n` in decimal, on the stack: a `Content-Length` value without the
/// allocation of `to_string`.
pub struct Decimal {
    digits: [u8; 20],
    start: usize,
}

impl Decimal {
    pub fn new(n: u64) -> Decimal {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        let mut rest = n;
        loop {
            start -= 1;
            digits[start] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                return Decimal { digits, start };
            }
        }
    }
}

impl AsRef<[u8]> for Decimal {
    fn as_ref(&self) -> &[u8] {
        &self.digits[self.start..]
    }
}

/// Appends `head`'s status line and fields, and the empty line.
pub fn response_head_bytes(head: &ResponseHead, out: &mut Vec<u8>) {
    response_head_start(head, &[], out);
    out.extend_from_slice(b"\r\n");
}

/// Appends `head`'s status line and its fields but those named in `skip`
/// (lower case), and not the empty line: for a writer that adds fields of
/// its own (the server's framing, server/conn.rs).
pub fn response_head_start(head: &ResponseHead, skip: &[&str], out: &mut Vec<u8>) {
    out.extend_from_slice(if head.version == 0 {
        b"HTTP/1.0 "
    } else {
        b"HTTP/1.1 "
    });
    out.extend_from_slice(Decimal::new(u64::from(head.status)).as_ref());
    out.push(b' ');
    let reason = head.reason.as_bytes();
    if reason.iter().all(|&b| b == b'\t' || b >= b' ') {
        out.extend_from_slice(reason);
    }
    out.extend_from_slice(b"\r\n");
    head.headers.write_except(skip, out);
}

/// Appends one chunk holding `data` (which must not be empty: an empty
/// chunk ends the body).
pub fn write_chunk(data: &[u8], out: &mut Vec<u8>) {
    debug_assert!(!data.is_empty());
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Writes `head` (encoded bytes), then the body read from `src`, framed
/// as `kind` (`Empty`: no body; `Length`: exactly that many bytes;
/// `Chunked`; `UntilClose`: raw). Returns the body bytes copied. `head`
/// is borrowed so that a connection can keep one buffer for all its heads
/// (`BufConn::head_writer`); a small body may be read into it behind the
/// head.
pub fn copy_body(
    dst: &mut impl Write,
    head: &mut Vec<u8>,
    src: &mut impl Read,
    kind: BodyKind,
) -> Result<u64, CopyError> {
    match kind {
        BodyKind::Empty => {
            dst.write_all(head).map_err(CopyError::Write)?;
            Ok(0)
        }
        BodyKind::Length(len) => copy_length(dst, head, src, len),
        BodyKind::Chunked => {
            dst.write_all(head).map_err(CopyError::Write)?;
            copy_chunked(dst, src)
        }
        BodyKind::UntilClose => {
            dst.write_all(head).map_err(CopyError::Write)?;
            let mut buf = vec![0u8; COPY_BUFFER];
            let mut total = 0;
            loop {
                let n = read_retrying(src, &mut buf)?;
                if n == 0 {
                    return Ok(total);
                }
                dst.write_all(&buf[..n]).map_err(CopyError::Write)?;
                total += n as u64;
            }
        }
    }
}

fn copy_length(
    dst: &mut impl Write,
    head: &mut Vec<u8>,
    src: &mut impl Read,
    len: u64,
) -> Result<u64, CopyError> {
    let mut copied = 0u64;
    if len <= COALESCE {
        // Read straight in behind the head (COALESCE bounds the growth).
        let start = head.len();
        head.resize(start + len as usize, 0);
        while copied < len {
            let n = read_retrying(src, &mut head[start + copied as usize..])?;
            if n == 0 {
                return Err(CopyError::Read(short_body(copied, len)));
            }
            copied += n as u64;
        }
        dst.write_all(head).map_err(CopyError::Write)?;
        return Ok(copied);
    }
    dst.write_all(head).map_err(CopyError::Write)?;
    let mut buf = vec![0u8; COPY_BUFFER.min(usize::try_from(len).unwrap_or(usize::MAX))];
    while copied < len {
        let want = buf
            .len()
            .min(usize::try_from(len - copied).unwrap_or(usize::MAX));
        let n = read_retrying(src, &mut buf[..want])?;
        if n == 0 {
            return Err(CopyError::Read(short_body(copied, len)));
        }
        dst.write_all(&buf[..n]).map_err(CopyError::Write)?;
        copied += n as u64;
    }
    Ok(copied)
}

fn copy_chunked(dst: &mut impl Write, src: &mut impl Read) -> Result<u64, CopyError> {
    let mut buf = vec![0u8; SIZE_ROOM + COPY_BUFFER + 2];
    let mut total = 0;
    loop {
        let n = read_retrying(src, &mut buf[SIZE_ROOM..SIZE_ROOM + COPY_BUFFER])?;
        if n == 0 {
            dst.write_all(CHUNKED_END).map_err(CopyError::Write)?;
            return Ok(total);
        }
        let size = format!("{n:x}\r\n");
        let start = SIZE_ROOM - size.len();
        buf[start..SIZE_ROOM].copy_from_slice(size.as_bytes());
        buf[SIZE_ROOM + n..SIZE_ROOM + n + 2].copy_from_slice(b"\r\n");
        dst.write_all(&buf[start..SIZE_ROOM + n + 2])
            .map_err(CopyError::Write)?;
        total += n as u64;
    }
}

fn read_retrying(src: &mut impl Read, buf: &mut [u8]) -> Result<usize, CopyError> {
    loop {
        match src.read(buf) {
            Ok(n) => return Ok(n),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(CopyError::Read(err)),
        }
    }
}

fn short_body(copied: u64, len: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("body ended after {copied} of {len} bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{BufConn, Decoder};

    #[test]
    fn heads_are_written_as_sent() {
        let mut head = RequestHead::new("POST", "/a?b=1");
        head.headers.append("Host", "x");
        let mut out = Vec::new();
        request_head_bytes(&head, BodyKind::Empty, &mut out);
        assert_eq!(out, b"POST /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut out = Vec::new();
        response_head_bytes(&ResponseHead::new(404), &mut out);
        assert_eq!(out, b"HTTP/1.1 404 Not Found\r\n\r\n");
    }

    #[test]
    fn requests_carry_the_writers_framing_not_the_heads() {
        let mut head = RequestHead::new("PUT", "/");
        head.version = 0;
        head.headers.append("Content-Length", "999");
        head.headers.append("Transfer-Encoding", "gzip");
        head.headers.append("X-Kept", "1");
        let mut out = Vec::new();
        request_head_bytes(&head, BodyKind::Length(1_234_567_890), &mut out);
        assert_eq!(
            out,
            b"PUT / HTTP/1.1\r\nX-Kept: 1\r\nContent-Length: 1234567890\r\n\r\n"
        );
        out.clear();
        request_head_bytes(&head, BodyKind::Chunked, &mut out);
        assert!(out.ends_with(b"X-Kept: 1\r\nTransfer-Encoding: chunked\r\n\r\n"));
        out.clear();
        request_head_bytes(&head, BodyKind::Length(0), &mut out);
        assert!(out.ends_with(b"Content-Length: 0\r\n\r\n"));
        assert_eq!(Decimal::new(0).as_ref(), b"0");
        assert_eq!(
            Decimal::new(u64::MAX).as_ref(),
            u64::MAX.to_string().as_bytes()
        );
    }

    #[test]
    fn chunked_copies_decode_to_the_original() {
        let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let mut wire = Vec::new();
        let copied = copy_body(
            &mut wire,
            &mut b"H".to_vec(),
            &mut &data[..],
            BodyKind::Chunked,
        )
        .unwrap();
        assert_eq!(copied, data.len() as u64);
        assert!(wire.starts_with(b"H8000\r\n"));
        assert!(wire.ends_with(b"\r\n0\r\n\r\n"));
        let mut conn = BufConn::new(&wire[1..], 4096);
        let mut decoder = Decoder::new(BodyKind::Chunked);
        let mut back = Vec::new();
        let mut buf = [0u8; 1000];
        loop {
            let n = decoder.read(&mut conn, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            back.extend_from_slice(&buf[..n]);
        }
        assert_eq!(back, data);
    }

    #[test]
    fn small_bodies_share_the_heads_write() {
        struct Writes(Vec<Vec<u8>>);
        impl Write for Writes {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.push(buf.to_vec());
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut writes = Writes(Vec::new());
        copy_body(
            &mut writes,
            &mut b"HEAD\r\n\r\n".to_vec(),
            &mut &b"hello"[..],
            BodyKind::Length(5),
        )
        .unwrap();
        assert_eq!(writes.0, [b"HEAD\r\n\r\nhello".to_vec()]);
        let err = copy_body(
            &mut writes,
            &mut Vec::new(),
            &mut &b"hel"[..],
            BodyKind::Length(5),
        );
        assert!(matches!(err, Err(CopyError::Read(_))));
    }
}
