//! 100 MiB through the gateway each way, with the process's resident
//! memory watched: streaming means a few buffers per request, whatever
//! the body's size. Alone in its test binary, so that no other test's
//! allocations blur the measurement.

mod common;

use std::io::Write;

use common::*;

const SIZE: usize = 100 * 1024 * 1024;

/// Most the process may grow while 100 MiB pass: buffers, not bodies.
const ALLOWED_GROWTH: usize = 24 * 1024 * 1024;

/// The process's resident set size, in bytes (Linux).
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[test]
fn a_100_mib_upload_and_download_cost_a_few_buffers() {
    run(|| {
        let backend = Backend::sink();
        let gw = gateway(&one_route(&[backend.addr], ""));
        let addr = gw.server.local_addr();
        // Warm up: one small exchange each way, so that the buffers every
        // request needs exist before the measurement starts.
        let mut client = Client::connect(addr);
        assert_eq!(client.request("POST", "/warm", &[], b"x").text(), "1");
        assert_eq!(
            client.request("GET", "/generate/10", &[], b"").body.len(),
            10
        );
        let before = rss();

        let head = format!("POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: {SIZE}\r\n\r\n");
        client.send(head.as_bytes());
        let piece = vec![b'u'; 64 * 1024];
        for _ in 0..SIZE / piece.len() {
            (&client.stream).write_all(&piece).unwrap();
        }
        let got = client.response();
        assert_eq!(got.text(), SIZE.to_string(), "every byte arrived");
        let after_upload = rss();

        client.send(format!("GET /generate/{SIZE} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes());
        let (status, len) = client.response_discarding();
        assert_eq!((status, len), (200, SIZE));
        let after_download = rss();

        let grown = after_upload.max(after_download).saturating_sub(before);
        eprintln!(
            "stream: RSS {} KiB before, {} KiB after the upload, {} KiB after the download",
            before / 1024,
            after_upload / 1024,
            after_download / 1024
        );
        assert!(
            grown < ALLOWED_GROWTH,
            "RSS grew by {} KiB while 2 x 100 MiB passed",
            grown / 1024
        );
    });
}
