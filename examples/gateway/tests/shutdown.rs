//! The graceful shutdown, in process (`Running::shutdown`, the server's
//! `graceful_shutdown`): a request in flight finishes, idle keep-alive
//! connections are closed at once, new connections are refused, and a
//! request that outlasts the timeout is cut. tests/signals.rs drives the
//! same through SIGTERM on the binary.

mod common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use common::*;
use grt::net::TcpStream;

#[test]
fn requests_in_flight_finish_idle_connections_close_new_ones_are_refused() {
    run(|| {
        let (backend, arrived, release) = Backend::gated();
        let gw = gateway(&one_route(&[backend.addr], ""));
        let addr = gw.server.local_addr();

        // An idle keep-alive connection, after one request.
        let mut idle = Client::connect(addr);
        assert_eq!(idle.get("/fast").text(), "fast");
        // A request in flight, held at the backend.
        let mut busy = Client::connect(addr);
        busy.send(b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
        arrived.recv().unwrap();

        let gw = std::sync::Arc::new(gw);
        let stopper = std::sync::Arc::clone(&gw);
        let shutdown = grt::go(move || stopper.shutdown(Duration::from_secs(10)));

        // The idle connection is closed without an answer: end-of-file.
        assert!(idle.is_closed(), "the idle connection was closed");
        // The listener is shut before the idle connections are closed.
        let refused = TcpStream::connect(addr).err().map(|err| err.kind());
        assert_eq!(refused, Some(ErrorKind::ConnectionRefused));
        assert!(gw.server.is_stopping());

        // The request in flight completes, and its connection closes.
        release.send(()).unwrap();
        let got = busy.response();
        assert_eq!(got.status, 200);
        assert_eq!(got.text(), "slow done");
        assert_eq!(got.header("connection"), Some("close"));
        assert!(busy.is_closed());
        // Our side of the close too, or the gateway lingers on it (for up
        // to 2 s, server/conn.rs) before its task ends.
        drop(busy);

        let drained = shutdown.join().unwrap();
        assert_eq!(drained.idle_closed, 1, "{drained:?}");
        assert_eq!(drained.cut, 0, "nothing was left to cut");
        assert_eq!(gw.server.open_connections(), 0);
    });
}

#[test]
fn a_request_that_outlasts_the_timeout_is_cut() {
    run(|| {
        let (backend, arrived, release) = Backend::gated();
        let gw = gateway(&one_route(&[backend.addr], ""));
        let mut busy = Client::connect(gw.server.local_addr());
        busy.send(b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
        arrived.recv().unwrap();

        let started = Instant::now();
        let timeout = Duration::from_millis(200);
        let drained = gw.shutdown(timeout);
        assert!(started.elapsed() >= timeout);
        assert_eq!(drained.cut, 1, "{drained:?}");
        // The client's connection was shut down under the request.
        assert!(busy.response_to(false).is_none(), "no answer came");
        release.send(()).unwrap();
    });
}

#[test]
fn a_connection_opened_but_silent_is_closed_as_idle() {
    run(|| {
        let backend = Backend::hello();
        let gw = gateway(&one_route(&[backend.addr], ""));
        let addr = gw.server.local_addr();
        let mut silent = Client::connect(addr);
        // Make sure the gateway has accepted it: a second connection's
        // request is answered after the first was accepted.
        assert_eq!(get(addr, "/").text(), "hello");
        let drained = gw.shutdown(Duration::from_secs(10));
        assert!(silent.is_closed());
        assert_eq!(drained.cut, 0);
    });
}
