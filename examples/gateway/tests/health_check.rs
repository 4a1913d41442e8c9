//! Active health checks: a backend whose health endpoint starts failing
//! is taken out of its balancer (requests go to the other), and comes
//! back when it recovers; `/healthz` and `/metrics` say so meanwhile.
//!
//! No sleeps: the flaky backend reports every check it answers on a
//! channel, with the verdict it gave. A checker sends its next check only
//! after it has acted on the last one's answer, so once a failing answer
//! has been given, the arrival of the next check proves the balancer has
//! heard about it.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use grt::chan;

/// Waits for a check answered `healthy`, then for the check after it
/// (module doc).
fn await_verdict(checks: &chan::Receiver<bool>, healthy: bool) {
    while checks.recv().unwrap() != healthy {}
    checks.recv().unwrap();
}

/// The requests (checks left out) `backend` has answered.
fn served(backend: &Backend) -> usize {
    backend
        .seen()
        .iter()
        .filter(|seen| seen.target != "/health")
        .count()
}

#[test]
fn a_failing_backend_is_taken_out_and_comes_back() {
    run(|| {
        let healthy = Arc::new(AtomicBool::new(true));
        let (report, checks) = chan::unbounded::<bool>();
        let flag = Arc::clone(&healthy);
        let flaky = Backend::start(move |req| {
            if req.target == "/health" {
                let ok = flag.load(Ordering::SeqCst);
                let _ = report.send(ok);
                return if ok {
                    Reply::ok("fine")
                } else {
                    Reply::ok("ill").status(503)
                };
            }
            Reply::ok("flaky")
        });
        let steady = Backend::start(|_| Reply::ok("steady"));
        let config = format!(
            "listen = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n\
             [[route]]\nprefix = \"/\"\nbalancer = \"round_robin\"\nmax_fails = 0\n\
             upstreams = [ {{ addr = \"{}\" }}, {{ addr = \"{}\" }} ]\n\
             health_check = {{ path = \"/health\", interval = \"10ms\", timeout = \"1s\" }}\n",
            flaky.addr, steady.addr
        );
        let gw = gateway(&config);
        let addr = gw.server.local_addr();
        let admin = gw.admin_addr().unwrap();
        let mut client = Client::connect(addr);

        await_verdict(&checks, true);
        for _ in 0..4 {
            assert_eq!(client.get("/").status, 200);
        }
        assert_eq!(served(&flaky), 2, "round robin shares while both are up");

        healthy.store(false, Ordering::SeqCst);
        await_verdict(&checks, false);
        for _ in 0..6 {
            assert_eq!(client.get("/").text(), "steady");
        }
        assert_eq!(served(&flaky), 2, "nothing more went to the failing one");
        let healthz = get(admin, "/healthz").text();
        assert!(
            healthz.contains(&format!("{{\"addr\":\"{}\",\"up\":false}}", flaky.addr)),
            "{healthz}"
        );
        let metrics = get(admin, "/metrics").text();
        assert!(
            metrics.contains(&format!(
                "gateway_backend_up{{route=\"/\",upstream=\"{}\"}} 0\n",
                flaky.addr
            )),
            "{metrics}"
        );

        healthy.store(true, Ordering::SeqCst);
        await_verdict(&checks, true);
        for _ in 0..4 {
            assert_eq!(client.get("/").status, 200);
        }
        assert_eq!(served(&flaky), 4, "back in the rotation");
        assert!(get(admin, "/healthz")
            .text()
            .starts_with("{\"status\":\"ok\""));
    });
}

#[test]
fn it_takes_fails_failures_in_a_row() {
    run(|| {
        // Each check reports its verdict, then waits for the test to let
        // it answer: when the test holds check k, exactly the checks
        // before it have been acted on.
        let healthy = Arc::new(AtomicBool::new(true));
        let (report, checks) = chan::unbounded::<bool>();
        let (answer, gate) = chan::unbounded::<()>();
        let flag = Arc::clone(&healthy);
        let flaky = Backend::start(move |req| {
            let ok = flag.load(Ordering::SeqCst);
            if req.target == "/ready" {
                let _ = report.send(ok);
                let _ = gate.recv();
            }
            Reply::ok("flaky").status(if ok { 204 } else { 500 })
        });
        let steady = Backend::hello();
        let config = format!(
            "listen = \"127.0.0.1:0\"\n\
             [[route]]\nprefix = \"/\"\nmax_fails = 0\n\
             upstreams = [ {{ addr = \"{}\" }}, {{ addr = \"{}\" }} ]\n\
             [route.health_check]\npath = \"/ready\"\ninterval = 0.01\nfails = 3\n",
            flaky.addr, steady.addr
        );
        let gw = gateway(&config);
        let gateway = gw.current();
        let balancer = gateway.routes()[0].proxy().targets().balancer().unwrap();
        // Holds the next check: its verdict.
        let next_check = || checks.recv().unwrap();
        // Lets the held check answer.
        let release = || answer.send(()).unwrap();

        assert!(next_check());
        healthy.store(false, Ordering::SeqCst);
        release();
        for failures_seen in 0..3 {
            assert!(!next_check());
            assert!(
                balancer.is_up(0),
                "{failures_seen} failure(s) of 3 acted on"
            );
            release();
        }
        next_check();
        assert!(!balancer.is_up(0), "the third failure in a row took it out");
        release();
        for _ in 0..3 {
            assert_eq!(get(gw.server.local_addr(), "/").text(), "hello");
        }
    });
}
