//! The HTTP side: the page, routing, the handshake's checks, and the
//! limits on request heads.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{exchange, handshake, read_reply, TestServers, PATIENCE};
use grt_chat::Config;

#[test]
fn get_root_serves_the_page() {
    let server = TestServers::one(Config {
        max_message_size: 300,
        ..Config::default()
    });
    let addr = server.addr();
    let reply = exchange(
        addr,
        format!("GET /?room=x HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        reply.header("Content-Length"),
        Some(reply.body.len().to_string().as_str())
    );
    assert!(reply.body.starts_with("<!DOCTYPE html>"));
    assert!(reply.body.contains("\"/ws\""), "the page connects to /ws");
    assert!(
        reply.body.contains("Number(\"300\")"),
        "the page knows the size limit"
    );
}

#[test]
fn unknown_paths_get_404_and_other_methods_405() {
    let server = TestServers::one(Config::default());
    let addr = server.addr();
    let reply = exchange(addr, b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(reply.status, 404);
    for path in ["/", "/ws"] {
        let request = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
        let reply = exchange(addr, request.as_bytes());
        assert_eq!(reply.status, 405, "POST {path}");
        assert_eq!(reply.header("Allow"), Some("GET"));
    }
}

#[test]
fn malformed_handshakes_get_400() {
    let server = TestServers::one(Config::default());
    let addr = server.addr();
    assert_eq!(
        exchange(addr, &handshake(addr, &[], &[])).status,
        101,
        "the control case"
    );
    for field in [
        "Upgrade",
        "Connection",
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Version",
        "Host",
    ] {
        let reply = exchange(addr, &handshake(addr, &[], &[field]));
        assert_eq!(reply.status, 400, "without {field}: {}", reply.body);
    }
    let reply = exchange(
        addr,
        &handshake(
            addr,
            &["Sec-WebSocket-Version: 8"],
            &["Sec-WebSocket-Version"],
        ),
    );
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.header("Sec-WebSocket-Version"),
        Some("13"),
        "says what it speaks"
    );
    let reply = exchange(
        addr,
        &handshake(addr, &["Sec-WebSocket-Key: short"], &["Sec-WebSocket-Key"]),
    );
    assert_eq!(reply.status, 400);
    let long_room = format!("GET /ws?room={} HTTP/1.1\r\n", "r".repeat(65));
    let request = String::from_utf8(handshake(addr, &[], &[])).unwrap();
    let request = request.replacen("GET /ws HTTP/1.1\r\n", &long_room, 1);
    assert_eq!(
        exchange(addr, request.as_bytes()).status,
        400,
        "room name too long"
    );
    assert_eq!(
        exchange(addr, b"HELLO THERE\r\n\r\n").status,
        400,
        "not HTTP"
    );
}

#[test]
fn the_origin_must_be_ours_or_allowed() {
    let config = Config {
        allowed_origins: vec!["https://friend.example".into()],
        ..Config::default()
    };
    let server = TestServers::one(config);
    let addr = server.addr();
    let status = |origin: Option<&str>| {
        let line = origin.map(|o| format!("Origin: {o}"));
        let extra: Vec<&str> = line.iter().map(String::as_str).collect();
        exchange(addr, &handshake(addr, &extra, &[])).status
    };
    assert_eq!(status(Some("http://evil.example")), 403);
    assert_eq!(status(Some("null")), 403);
    assert_eq!(status(Some(&format!("http://{addr}"))), 101, "same origin");
    assert_eq!(status(Some("https://FRIEND.example")), 101, "allowed");
    assert_eq!(status(None), 101, "no origin: not a browser");
}

#[test]
fn a_head_over_the_limit_gets_431() {
    let server = TestServers::one(Config::default());
    let addr = server.addr();
    let big = format!("X-Padding: {}", "p".repeat(9 * 1024));
    let reply = exchange(addr, &handshake(addr, &[&big], &[]));
    assert_eq!(reply.status, 431);
    let many: Vec<String> = (0..100).map(|i| format!("X-Field-{i}: {i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(exchange(addr, &handshake(addr, &many, &[])).status, 431);
}

/// A client that sends its head too slowly (one byte, then nothing) gets
/// 408 once the header timeout has passed since it connected.
#[test]
fn a_slow_head_gets_408() {
    let timeout = Duration::from_millis(300);
    let server = TestServers::one(Config {
        header_timeout: timeout,
        ..Config::default()
    });
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let start = Instant::now();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let reply = read_reply(&mut stream);
    assert_eq!(reply.status, 408);
    assert!(start.elapsed() >= timeout - Duration::from_millis(50));
    // The server lingers until we hang up (http.rs).
    drop(stream);
    server.wait_for("the connection to close", |s| s.connections == 0);
}
