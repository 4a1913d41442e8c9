//! What the server refuses: smuggling shapes (400, connection closed,
//! nothing forwarded), oversized and slow heads (431, 408), garbage (400),
//! bodies over the route's limit (413), and idle keep-alive connections.

mod common;

use std::time::Duration;

use common::*;
use grt_gateway::ServerConfig;

/// Sends `raw` on a new connection; returns the answer and whether the
/// gateway closed the connection after it.
fn answer(addr: std::net::SocketAddr, raw: &str) -> (Got, bool) {
    let mut client = Client::connect(addr);
    client.send(raw.as_bytes());
    let got = client.response();
    let closed = client.is_closed();
    (got, closed)
}

#[test]
fn every_smuggling_shape_is_refused_and_closed() {
    run(|| {
        let backend = Backend::hello();
        let gw = gateway(&one_route(&[backend.addr], ""));
        let addr = gw.server.local_addr();
        let cases = [
            ("CL and TE", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
            ("TE and CL", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", 400),
            ("differing CLs", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde", 400),
            ("CL list", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4, 5\r\n\r\nabcde", 400),
            ("CL not a number", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x4\r\n\r\nabcd", 400),
            ("space before colon", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length : 4\r\n\r\nabcd", 400),
            ("space before colon in TE", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400),
            ("obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n folded\r\n\r\n", 400),
            ("TE not ending in chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400),
            ("TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
            ("unknown coding", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
            ("no Host", "GET / HTTP/1.1\r\n\r\n", 400),
            ("two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ];
        for (name, raw, status) in cases {
            let (got, closed) = answer(addr, raw);
            assert_eq!(got.status, status, "{name}: {}", got.text());
            assert!(closed, "{name}: the connection must close");
        }
        assert!(
            backend.seen().is_empty(),
            "nothing was forwarded: {:?}",
            backend.seen()
        );
    });
}

#[test]
fn a_bad_chunk_ends_the_exchange() {
    run(|| {
        let backend = Backend::hello();
        let gw = gateway(&one_route(&[backend.addr], ""));
        let raw =
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n";
        let (got, closed) = answer(gw.server.local_addr(), raw);
        assert_eq!(got.status, 400, "{}", got.text());
        assert!(closed);
    });
}

#[test]
fn garbage_is_400() {
    run(|| {
        let gw = gateway(&one_route(&[dead_addr()], ""));
        let addr = gw.server.local_addr();
        for raw in [
            "HELLO\r\n\r\n",
            "GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET / HTTP/2.0\r\nHost: h\r\n\r\n",
            "GET nopath HTTP/1.1\r\nHost: h\r\n\r\n",
        ] {
            let (got, closed) = answer(addr, raw);
            assert_eq!(got.status, 400, "{raw:?}");
            assert!(closed);
        }
    });
}

#[test]
fn a_head_over_8_kib_is_431() {
    run(|| {
        let backend = Backend::hello();
        let gw = gateway(&one_route(&[backend.addr], ""));
        let addr = gw.server.local_addr();
        let big = format!(
            "GET / HTTP/1.1\r\nHost: h\r\nX-Big: {}\r\n\r\n",
            "a".repeat(9000)
        );
        let (got, closed) = answer(addr, &big);
        assert_eq!(got.status, 431);
        assert!(closed);
        let fits = format!(
            "GET / HTTP/1.1\r\nHost: h\r\nX-Big: {}\r\n\r\n",
            "a".repeat(7000)
        );
        let mut client = Client::connect(addr);
        client.send(fits.as_bytes());
        assert_eq!(client.response().status, 200);
    });
}

#[test]
fn a_slow_head_is_408_and_an_idle_connection_just_closes() {
    run(|| {
        let backend = Backend::hello();
        let server = ServerConfig {
            head_timeout: Duration::from_millis(300),
            keepalive_timeout: Duration::from_millis(300),
            ..ServerConfig::default()
        };
        let gw = gateway_with(&one_route(&[backend.addr], ""), server);
        let addr = gw.server.local_addr();
        let mut slow = Client::connect(addr);
        slow.send(b"GET / HTTP/1.1\r\n");
        grt::time::sleep(Duration::from_millis(150));
        slow.send(b"Host: h\r\n");
        let got = slow.response();
        assert_eq!(
            got.status, 408,
            "however the bytes trickle, the head has a deadline"
        );
        assert!(slow.is_closed());

        let mut idle = Client::connect(addr);
        assert_eq!(idle.get("/").status, 200);
        let started = std::time::Instant::now();
        assert!(idle.is_closed(), "an idle keep-alive connection is closed");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(200) && waited < Duration::from_secs(3),
            "{waited:?}"
        );
    });
}

#[test]
fn bodies_over_the_routes_limit_are_413() {
    run(|| {
        let backend = Backend::start(|req| Reply::ok(req.body.len().to_string()));
        let gw = gateway(&one_route(&[backend.addr], "max_body = 1000"));
        let addr = gw.server.local_addr();
        let (got, closed) = answer(
            addr,
            &format!(
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1001\r\n\r\n{}",
                "a".repeat(1001)
            ),
        );
        assert_eq!(got.status, 413);
        assert!(closed);
        let mut client = Client::connect(addr);
        assert_eq!(
            client.request("POST", "/", &[], &[b'a'; 1000]).text(),
            "1000"
        );
        let mut chunked =
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_string();
        for _ in 0..3 {
            chunked.push_str(&format!("190\r\n{}\r\n", "b".repeat(400)));
        }
        chunked.push_str("0\r\n\r\n");
        let (got, closed) = answer(addr, &chunked);
        assert_eq!(got.status, 413, "{}", got.text());
        assert!(closed);
    });
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    run(|| {
        let backend = Backend::start(|req| Reply::ok(req.target.clone()));
        let gw = gateway(&one_route(&[backend.addr], ""));
        let mut client = Client::connect(gw.server.local_addr());
        client.send(b"GET /one HTTP/1.1\r\nHost: h\r\n\r\nPOST /two HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /three HTTP/1.1\r\nHost: h\r\n\r\n");
        for want in ["/one", "/two", "/three"] {
            assert_eq!(client.response().text(), want);
        }
    });
}

#[test]
fn http10_clients_get_close_delimited_answers() {
    run(|| {
        let backend = Backend::start(|_| Reply::ok("streamed").chunked());
        let gw = gateway(&one_route(&[backend.addr], ""));
        let mut client = Client::connect(gw.server.local_addr());
        client.send(b"GET / HTTP/1.0\r\n\r\n");
        let got = client.response();
        assert_eq!(got.text(), "streamed");
        assert_eq!(
            got.header("transfer-encoding"),
            None,
            "HTTP/1.0 cannot read chunks"
        );
        assert!(client.is_closed());
    });
}
