//! HTTP/1.1 on grt sockets: the parts both sides of the proxy share.
//!
//! Go's `net/http` keeps the server (`server.go`), the client
//! (`transport.go`) and the wire format (`transfer.go`, `header.go`,
//! `internal/chunked.go`) in one package. We keep the wire format here and
//! the two sides in `server/` and `upstream/`:
//!
//! | file | what | Go |
//! |---|---|---|
//! | `headers.rs` | an ordered list of header fields, looked up case-insensitively | `http.Header` |
//! | `message.rs` | request and response heads, [`Request`] and [`Response`] | `http.Request`, `http.Response` |
//! | `body.rs` | [`Body`]: a message body that streams | `io.ReadCloser` bodies |
//! | `buf_conn.rs` | a socket with a read buffer (bytes read past a head stay there) | `bufio.Reader` |
//! | `head.rs` | reading one head within a size limit and a deadline | `readRequest`, `ReadResponse` |
//! | `framing.rs` | RFC 9112 §6.3: how long a body is, and which heads lie about it | `transferReader.parseTransferEncoding`, `fixLength` |
//! | `decode.rs` | reading a body: Content-Length, chunked, until close | `body`, `chunkedReader` |
//! | `encode.rs` | writing heads and bodies (chunked when the length is unknown) | `transferWriter`, `chunkedWriter` |
//! | `status.rs` | reason phrases | `StatusText` |
//!
//! Parsing is `httparse`'s (heads and chunk-size lines); what this module
//! adds is the I/O around it and the rules httparse leaves to its caller.
//! What httparse already refuses, and we rely on: whitespace between a
//! field name and its colon, obsolete line folding, control characters
//! in a value, a version other than 1.0 or 1.1 (tests in `head.rs`).
//!
//! Invariant for every reader here: nothing reads a whole body into memory.
//! A body is read in pieces the size of the caller's buffer, so a 100 MiB
//! upload costs a few buffers, whatever its framing.

mod body;
mod buf_conn;
mod decode;
mod encode;
mod framing;
mod head;
mod headers;
mod message;
mod status;

pub use body::{Body, BodyTooLarge};
pub use buf_conn::{BufConn, Socket};
pub use decode::Decoder;
pub use encode::{
    copy_body, request_head_bytes, response_head_bytes, response_head_start, write_chunk,
    CopyError, Decimal, CHUNKED_END,
};
pub use framing::{request_body_kind, response_body_kind, BodyKind, FramingError};
pub use head::{
    read_request_head, read_response_head, wait_first_byte, HeadError, HeadLimits, MAX_FIELDS,
};
pub use headers::Headers;
pub use message::{
    OnUpgrade, Request, RequestHead, Response, ResponseHead, Upgraded, UpstreamInfo,
};
pub use status::reason;

/// The size of the buffer bodies are copied through, on both sides: Go's
/// `io.Copy` and `ReverseProxy.copyBuffer` use 32 KiB; fewer, larger
/// reads and writes than nginx's 4–8 KiB `proxy_buffer_size`, at the cost
/// of 32 KiB per request in flight.
pub const COPY_BUFFER: usize = 32 * 1024;
