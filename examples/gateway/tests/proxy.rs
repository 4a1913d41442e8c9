//! The proxy core against real backends: bodies both ways in both
//! framings, keep-alive and the pool, hop-by-hop fields, X-Forwarded-*,
//! errors (502, 504), retries, HEAD, 100-continue, upgrades.

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use grt_gateway::gateway::{Gateway, Route};
use grt_gateway::{Handler, ReverseProxy, Server, ServerConfig};

#[test]
fn get_and_post_with_content_length() {
    run(|| {
        let backend = Backend::start(|req| {
            Reply::ok(format!("{} {} {}", req.method, req.target, req.body.len()))
        });
        let gw = gateway(&one_route(&[backend.addr], ""));
        let addr = gw.server.local_addr();
        let mut client = Client::connect(addr);
        let got = client.get("/a/b?x=1");
        assert_eq!(got.status, 200);
        assert_eq!(got.text(), "GET /a/b?x=1 0");
        let body = vec![b'z'; 100_000];
        let got = client.request(
            "POST",
            "/upload",
            &[("Content-Type", "application/octet-stream")],
            &body,
        );
        assert_eq!(got.text(), "POST /upload 100000");
        let seen = backend.seen();
        assert_eq!(seen[1].body, body);
        assert!(!seen[1].chunked);
        assert_eq!(seen[1].header("content-length"), Some("100000"));
        assert_eq!(
            seen[1].header("content-type"),
            Some("application/octet-stream")
        );
        assert_eq!(
            seen[1].header("host"),
            Some("test.local"),
            "Host is forwarded unchanged"
        );
    });
}

#[test]
fn chunked_bodies_stream_both_ways() {
    run(|| {
        let backend = Backend::start(|req| Reply::ok(req.body.clone()).chunked());
        let gw = gateway(&one_route(&[backend.addr], ""));
        let mut client = Client::connect(gw.server.local_addr());
        let mut wire =
            b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        let mut expected = Vec::new();
        for i in 0..50u8 {
            let piece = vec![b'a' + i % 26; 1000 + i as usize];
            wire.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            wire.extend_from_slice(&piece);
            wire.extend_from_slice(b"\r\n");
            expected.extend_from_slice(&piece);
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        client.send(&wire);
        let got = client.response();
        assert_eq!(got.status, 200);
        assert_eq!(got.header("transfer-encoding"), Some("chunked"));
        assert_eq!(got.body, expected);
        let seen = backend.seen();
        assert!(
            seen[0].chunked,
            "a body of unknown length goes upstream chunked"
        );
        assert_eq!(seen[0].body, expected);
        // The connection is still good.
        assert_eq!(client.get("/again").status, 200);
    });
}

#[test]
fn upstream_connections_are_kept_alive_and_reused() {
    run(|| {
        let backend = Backend::hello();
        let gw = gateway(&one_route(&[backend.addr], ""));
        let addr = gw.server.local_addr();
        let mut client = Client::connect(addr);
        for _ in 0..50 {
            assert_eq!(client.get("/").text(), "hello");
        }
        for _ in 0..20 {
            assert_eq!(get(addr, "/").text(), "hello");
        }
        assert_eq!(backend.seen().len(), 70);
        assert_eq!(
            backend.connections(),
            1,
            "sequential requests share one upstream connection"
        );
        let upstream = &gw.gateway.routes()[0].proxy().targets().upstreams()[0];
        assert_eq!(upstream.connects(), 1);
        assert_eq!(upstream.reuses(), 69);
    });
}

/// 8 clients × 25 requests at once, through a gateway keeping `keepalive`
/// idle connections; returns the backend's connection count and the
/// pool's idle count afterwards.
fn concurrent_load(keepalive: usize) -> (usize, usize) {
    let backend = Backend::hello();
    let gw = gateway(&one_route(
        &[backend.addr],
        &format!("keepalive = {keepalive}"),
    ));
    let addr = gw.server.local_addr();
    let clients: Vec<_> = (0..8)
        .map(|_| {
            grt::go(move || {
                let mut client = Client::connect(addr);
                for _ in 0..25 {
                    assert_eq!(client.get("/").status, 200);
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    assert_eq!(backend.seen().len(), 200);
    let upstream = &gw.gateway.routes()[0].proxy().targets().upstreams()[0];
    (backend.connections(), upstream.idle())
}

#[test]
fn concurrent_clients_use_a_bounded_number_of_upstream_connections() {
    run(|| {
        let (connections, idle) = concurrent_load(64);
        assert!(
            connections <= 8,
            "{connections} connections for 8 concurrent clients"
        );
        assert!(idle <= 8);
        // A pool smaller than the concurrency churns (as nginx's does), but
        // never keeps more than its bound.
        let (_, idle) = concurrent_load(2);
        assert!(idle <= 2, "{idle} idle with keepalive = 2");
    });
}

#[test]
fn hop_by_hop_fields_are_stripped_both_ways() {
    run(|| {
        let backend = Backend::start(|_| {
            Reply::ok("x")
                .header("Connection", "X-Back-Private")
                .header("X-Back-Private", "1")
                .header("Keep-Alive", "timeout=5")
                .header("Proxy-Connection", "keep-alive")
                .header("X-Back-Public", "2")
        });
        let gw = gateway(&one_route(&[backend.addr], ""));
        let mut client = Client::connect(gw.server.local_addr());
        let got = client.request(
            "GET",
            "/",
            &[
                ("Connection", "keep-alive, X-Private"),
                ("X-Private", "secret"),
                ("Keep-Alive", "timeout=9"),
                ("Proxy-Connection", "keep-alive"),
                ("TE", "trailers"),
                ("Trailer", "X-Sum"),
                ("Upgrade", "h2c"),
                ("Proxy-Authorization", "Basic eA=="),
                ("X-Public", "ok"),
            ],
            b"",
        );
        assert_eq!(got.status, 200);
        let seen = &backend.seen()[0];
        for name in [
            "X-Private",
            "Keep-Alive",
            "Proxy-Connection",
            "TE",
            "Trailer",
            "Upgrade",
            "Proxy-Authorization",
        ] {
            assert!(
                !seen.has(name),
                "{name} reached the backend: {:?}",
                seen.headers
            );
        }
        assert_ne!(seen.header("connection"), Some("keep-alive, X-Private"));
        assert_eq!(seen.header("x-public"), Some("ok"));
        for name in ["X-Back-Private", "Keep-Alive", "Proxy-Connection"] {
            assert!(
                got.header(name).is_none(),
                "{name} reached the client: {:?}",
                got.headers
            );
        }
        assert_eq!(got.header("connection"), None);
        assert_eq!(got.header("x-back-public"), Some("2"));
    });
}

#[test]
fn x_forwarded_fields_are_set() {
    run(|| {
        let backend = Backend::hello();
        let gw = gateway(&one_route(&[backend.addr], ""));
        let mut client = Client::connect(gw.server.local_addr());
        client.request(
            "GET",
            "/",
            &[
                ("X-Forwarded-For", "203.0.113.9"),
                ("X-Forwarded-Proto", "https"),
            ],
            b"",
        );
        client.get("/second");
        let seen = backend.seen();
        assert_eq!(
            seen[0].header("x-forwarded-for"),
            Some("203.0.113.9, 127.0.0.1")
        );
        assert_eq!(
            seen[0].header("x-forwarded-proto"),
            Some("http"),
            "the client cannot claim https"
        );
        assert_eq!(seen[0].header("x-forwarded-host"), Some("test.local"));
        assert_eq!(seen[1].header("x-forwarded-for"), Some("127.0.0.1"));
    });
}

#[test]
fn naming_x_forwarded_fields_in_connection_does_not_strip_them() {
    // A client may declare any field hop-by-hop; the proxy's own
    // X-Forwarded-* are set after the removal, so this cannot hide the
    // client's address from the backend.
    run(|| {
        let backend = Backend::hello();
        let gw = gateway(&one_route(&[backend.addr], ""));
        let mut client = Client::connect(gw.server.local_addr());
        client.request(
            "GET",
            "/",
            &[
                ("Connection", "X-Forwarded-For, X-Forwarded-Host"),
                ("X-Forwarded-For", "203.0.113.9"),
            ],
            b"",
        );
        let seen = backend.seen();
        assert_eq!(seen[0].header("x-forwarded-for"), Some("127.0.0.1"));
        assert_eq!(seen[0].header("x-forwarded-host"), Some("test.local"));
    });
}

#[test]
fn a_refused_backend_is_502() {
    run(|| {
        let gw = gateway(&one_route(&[dead_addr()], "max_fails = 0"));
        let got = get(gw.server.local_addr(), "/");
        assert_eq!(got.status, 502);
        assert!(got.text().contains("cannot connect"), "{}", got.text());
    });
}

#[test]
fn all_backends_down_is_502_saying_so() {
    run(|| {
        let gw = gateway(&one_route(
            &[dead_addr(), dead_addr()],
            "max_fails = 1\nfail_timeout = 60",
        ));
        let addr = gw.server.local_addr();
        assert_eq!(
            get(addr, "/").status,
            502,
            "both refuse: both are tried, both marked down"
        );
        let got = get(addr, "/");
        assert_eq!(got.status, 502);
        assert!(
            got.text().contains("all backends are down"),
            "{}",
            got.text()
        );
    });
}

#[test]
fn a_slow_backend_is_504() {
    run(|| {
        let backend = Backend::start(|_| Reply::ok("late").delay(Duration::from_secs(3)));
        let gw = gateway(&one_route(&[backend.addr], "read_timeout = 0.3"));
        let started = Instant::now();
        let got = get(gw.server.local_addr(), "/");
        assert_eq!(got.status, 504);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            backend.seen().len(),
            1,
            "a timed-out request is not retried"
        );
    });
}

#[test]
fn any_request_is_retried_when_nothing_was_sent() {
    run(|| {
        let backend = Backend::hello();
        let gw = gateway(&one_route(
            &[dead_addr(), backend.addr],
            "balancer = \"round_robin\"\nmax_fails = 0",
        ));
        let mut client = Client::connect(gw.server.local_addr());
        for _ in 0..4 {
            assert_eq!(client.get("/").status, 200);
            assert_eq!(client.request("POST", "/p", &[], b"data").status, 200);
        }
        let posts = backend.seen().iter().filter(|s| s.method == "POST").count();
        assert_eq!(posts, 4);
    });
}

#[test]
fn a_request_that_may_have_been_acted_on_is_not_retried() {
    run(|| {
        let rude = Backend::start(|_| Reply::hang_up());
        let good = Backend::hello();
        let gw = gateway(&one_route(
            &[rude.addr, good.addr],
            "balancer = \"round_robin\"\nmax_fails = 0",
        ));
        let addr = gw.server.local_addr();
        let mut statuses = Vec::new();
        for _ in 0..4 {
            statuses.push(
                Client::connect(addr)
                    .request("POST", "/p", &[], b"data")
                    .status,
            );
        }
        assert_eq!(
            statuses.iter().filter(|&&s| s == 502).count(),
            2,
            "{statuses:?}"
        );
        assert_eq!(
            good.seen().len(),
            2,
            "the POSTs that reached the rude backend went nowhere else"
        );
        assert_eq!(rude.seen().len(), 2);
    });
}

#[test]
fn a_stale_pooled_connection_is_retried_only_for_idempotent_requests() {
    run(|| {
        // Each connection's second request finds the backend hanging up
        // without an answer: to the proxy, a pooled connection that died.
        let per_conn = std::sync::Mutex::new(std::collections::HashMap::<usize, usize>::new());
        let backend = Backend::start(move |req| {
            let mut counts = per_conn.lock().unwrap();
            let n = counts.entry(req.conn).or_default();
            *n += 1;
            if *n == 2 {
                Reply::hang_up()
            } else {
                Reply::ok("fine")
            }
        });
        let gw = gateway(&one_route(&[backend.addr], "max_fails = 0"));
        let addr = gw.server.local_addr();
        assert_eq!(get(addr, "/1").status, 200);
        let got = get(addr, "/2");
        assert_eq!(
            got.status,
            200,
            "GET on a dead pooled connection is sent again: {}",
            got.text()
        );
        assert_eq!(backend.connections(), 2);
        let got = Client::connect(addr).request("POST", "/3", &[], b"once");
        assert_eq!(got.status, 502, "a POST is never sent twice");
        let posts = backend.seen().iter().filter(|s| s.method == "POST").count();
        assert_eq!(posts, 1);
    });
}

#[test]
fn head_responses_keep_their_length_and_no_body() {
    run(|| {
        let backend = Backend::start(|_| Reply::ok("0123456789"));
        let gw = gateway(&one_route(&[backend.addr], ""));
        let mut client = Client::connect(gw.server.local_addr());
        let got = client.request("HEAD", "/", &[], b"");
        assert_eq!(got.status, 200);
        assert_eq!(got.header("content-length"), Some("10"));
        assert_eq!(
            client.get("/").text(),
            "0123456789",
            "no stray body bytes on the connection"
        );
    });
}

#[test]
fn expect_100_continue_is_answered_when_the_body_is_wanted() {
    run(|| {
        let backend = Backend::start(|req| Reply::ok(req.body.clone()));
        let gw = gateway(&one_route(&[backend.addr], ""));
        let mut client = Client::connect(gw.server.local_addr());
        client.send(
            b"PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        );
        let interim = client.response();
        assert_eq!(interim.status, 100);
        client.send(b"hello");
        let got = client.response();
        assert_eq!((got.status, got.text().as_str()), (200, "hello"));
        assert!(!backend.seen()[0].has("expect"), "Expect is not forwarded");
    });
}

#[test]
fn websocket_upgrades_are_tunnelled_with_half_close() {
    run(|| {
        let backend = Backend::start(|_| Reply::echo_upgrade());
        let gw = gateway(&one_route(&[backend.addr], ""));
        let mut client = Client::connect(gw.server.local_addr());
        client.send(
            b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nearly bytes|",
        );
        let got = client.response_to(true).unwrap();
        assert_eq!(got.status, 101);
        assert_eq!(got.header("upgrade"), Some("websocket"));
        assert_eq!(got.header("connection"), Some("Upgrade"));
        let seen = &backend.seen()[0];
        assert_eq!(seen.header("upgrade"), Some("websocket"));
        assert_eq!(seen.header("connection"), Some("Upgrade"));
        client.send(b"later bytes");
        // The echo may have come in the same read as the 101's head.
        let mut echoed = client.take_buffered();
        let stream = &client.stream;
        stream.shutdown(Shutdown::Write).unwrap();
        (&*stream).read_to_end(&mut echoed).unwrap();
        assert_eq!(
            echoed, b"early bytes|later bytes",
            "echoed in full, then end-of-file passed back"
        );
    });
}

#[test]
fn single_host_joins_paths_and_queries() {
    run(|| {
        let backend = Backend::start(|req| Reply::ok(req.target.clone()));
        let proxy = ReverseProxy::single_host(&format!("http://{}/base?k=v", backend.addr))
            .unwrap()
            .director(|head| head.headers.set("X-Director", "ran"))
            .modify_response(|res| {
                res.head.headers.set("X-Modified", "yes");
                Ok(())
            });
        let server = Server::start(
            grt::net::TcpListener::bind("127.0.0.1:0").unwrap(),
            Arc::new(proxy) as Arc<dyn Handler>,
            ServerConfig::default(),
        )
        .unwrap();
        let got = get(server.local_addr(), "/dir?x=1");
        assert_eq!(got.text(), "/base/dir?k=v&x=1");
        assert_eq!(got.header("x-modified"), Some("yes"));
        assert_eq!(backend.seen()[0].header("x-director"), Some("ran"));
    });
}

#[test]
fn modify_response_can_refuse_with_502() {
    run(|| {
        let backend = Backend::hello();
        let proxy = ReverseProxy::single_host(&format!("http://{}", backend.addr))
            .unwrap()
            .modify_response(|_| Err("not today".to_string()));
        let gateway = Gateway::new(vec![Route::new("/", Vec::new(), proxy, None)]);
        let server = Server::start(
            grt::net::TcpListener::bind("127.0.0.1:0").unwrap(),
            Arc::new(gateway),
            ServerConfig::default(),
        )
        .unwrap();
        let got = get(server.local_addr(), "/");
        assert_eq!(got.status, 502);
        assert!(got.text().contains("not today"));
    });
}

#[test]
fn large_bodies_stream_without_being_held() {
    run(|| {
        let backend = Backend::start(|req| Reply::ok(format!("{}", req.body.len())));
        let gw = gateway(&one_route(&[backend.addr], ""));
        let mut client = Client::connect(gw.server.local_addr());
        let size = 8 * 1024 * 1024;
        let head = format!("POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: {size}\r\n\r\n");
        client.send(head.as_bytes());
        let chunk = vec![7u8; 64 * 1024];
        let stream = &client.stream;
        for _ in 0..size / chunk.len() {
            (&*stream).write_all(&chunk).unwrap();
        }
        let got = client.response();
        assert_eq!(got.text(), size.to_string());
    });
}
