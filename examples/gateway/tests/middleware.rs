//! The onion through a real gateway: order, answering early, the built-in
//! layers from the configuration, and a panicking layer.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use grt_gateway::gateway::{Gateway, Route};
use grt_gateway::middleware::{middleware_fn, Middleware, Next};
use grt_gateway::{Request, ReverseProxy, Server, ServerConfig};

/// Serves `layers` around a single-host proxy to `backend`.
fn serve(backend: &Backend, layers: Vec<Arc<dyn Middleware>>) -> Server {
    let proxy = ReverseProxy::single_host(&format!("http://{}", backend.addr)).unwrap();
    let gateway = Gateway::new(vec![Route::new("/", layers, proxy, None)]);
    Server::start(
        grt::net::TcpListener::bind("127.0.0.1:0").unwrap(),
        Arc::new(gateway),
        ServerConfig::default(),
    )
    .unwrap()
}

#[test]
fn before_parts_run_outside_in_and_after_parts_inside_out() {
    run(|| {
        let backend =
            Backend::start(|req| Reply::ok(req.header("x-trail").unwrap_or("").to_string()));
        let log = Arc::new(Mutex::new(Vec::new()));
        let layer = |name: &'static str| -> Arc<dyn Middleware> {
            let log = Arc::clone(&log);
            Arc::new(middleware_fn(
                move |mut req: Request<'_>, next: Next<'_>| {
                    log.lock().unwrap().push(format!("{name}>"));
                    let trail = req
                        .head
                        .headers
                        .get_str("x-trail")
                        .unwrap_or("")
                        .to_string();
                    req.head.headers.set("X-Trail", format!("{trail}{name}"));
                    let mut response = next.run(req);
                    log.lock().unwrap().push(format!("<{name}"));
                    let back = response
                        .head
                        .headers
                        .get_str("x-back")
                        .unwrap_or("")
                        .to_string();
                    response.head.headers.set("X-Back", format!("{back}{name}"));
                    response
                },
            ))
        };
        let server = serve(&backend, vec![layer("a"), layer("b"), layer("c")]);
        let got = get(server.local_addr(), "/");
        assert_eq!(
            got.text(),
            "abc",
            "the backend sees the before-parts in list order"
        );
        assert_eq!(
            got.header("x-back"),
            Some("cba"),
            "the after-parts run in reverse"
        );
        assert_eq!(*log.lock().unwrap(), ["a>", "b>", "c>", "<c", "<b", "<a"]);
    });
}

#[test]
fn a_panicking_layer_is_500_and_the_gateway_goes_on() {
    run(|| {
        let backend = Backend::hello();
        let boom: Arc<dyn Middleware> =
            Arc::new(middleware_fn(|req: Request<'_>, next: Next<'_>| {
                if req.head.headers.contains("x-boom") {
                    panic!("boom, as asked");
                }
                next.run(req)
            }));
        let server = serve(&backend, vec![boom]);
        let addr = server.local_addr();
        let mut client = Client::connect(addr);
        let got = client.request("GET", "/", &[("X-Boom", "1")], b"");
        assert_eq!(got.status, 500);
        assert!(
            client.is_closed(),
            "the connection of a panicked request closes"
        );
        assert_eq!(get(addr, "/").text(), "hello", "the next request is served");
        assert_eq!(backend.seen().len(), 1);
    });
}

#[test]
fn rate_limit_answers_429_with_retry_after() {
    run(|| {
        let backend = Backend::hello();
        let config = one_route(
            &[backend.addr],
            "middleware = [\"rate_limit\"]\n[route.rate_limit]\nrate = 1\nburst = 3",
        );
        let gw = gateway(&config);
        let mut client = Client::connect(gw.server.local_addr());
        let statuses: Vec<u16> = (0..5).map(|_| client.get("/").status).collect();
        assert_eq!(statuses, [200, 200, 200, 429, 429]);
        let got = client.get("/");
        assert_eq!(got.header("retry-after"), Some("1"));
        assert_eq!(backend.seen().len(), 3);
    });
}

#[test]
fn auth_answers_401_without_a_good_token() {
    run(|| {
        let backend = Backend::hello();
        let config = one_route(
            &[backend.addr],
            "middleware = [\"auth\"]\n[route.auth]\ntokens = [\"s3cret\"]",
        );
        let gw = gateway(&config);
        let mut client = Client::connect(gw.server.local_addr());
        let none = client.get("/");
        assert_eq!(none.status, 401);
        assert!(none
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer"));
        let wrong = client.request("GET", "/", &[("Authorization", "Bearer nope")], b"");
        assert_eq!(wrong.status, 401);
        let right = client.request("GET", "/", &[("Authorization", "Bearer s3cret")], b"");
        assert_eq!(right.status, 200);
        assert_eq!(
            backend.seen().len(),
            1,
            "only the authorised request reached the backend"
        );
    });
}

#[test]
fn a_refused_expect_continue_gets_no_100() {
    run(|| {
        let backend = Backend::hello();
        let config = one_route(
            &[backend.addr],
            "middleware = [\"auth\"]\n[route.auth]\ntokens = [\"s3cret\"]",
        );
        let gw = gateway(&config);
        let mut client = Client::connect(gw.server.local_addr());
        client.send(b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1000000\r\n\r\n");
        let got = client.response();
        assert_eq!(
            got.status, 401,
            "the final answer comes at once; the body is never asked for"
        );
        assert!(client.is_closed());
    });
}

#[test]
fn request_ids_are_generated_kept_and_returned() {
    run(|| {
        let backend = Backend::hello();
        let gw = gateway(&one_route(
            &[backend.addr],
            "middleware = [\"request_id\", \"access_log\"]",
        ));
        let mut client = Client::connect(gw.server.local_addr());
        let got = client.get("/");
        let id = got
            .header("x-request-id")
            .expect("an id comes back")
            .to_string();
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(backend.seen()[0].header("x-request-id"), Some(id.as_str()));
        let kept = client.request("GET", "/", &[("X-Request-Id", "abc-123")], b"");
        assert_eq!(kept.header("x-request-id"), Some("abc-123"));
        let other = client.get("/");
        assert_ne!(other.header("x-request-id"), Some(id.as_str()));
    });
}

#[test]
fn strip_prefix_headers_cors_and_ip_filter_from_the_config() {
    run(|| {
        let backend = Backend::start(|req| {
            Reply::ok(req.target.clone())
                .header("Server", "backend")
                .header("X-Seen-Added", req.header("x-added").unwrap_or("-"))
        });
        let config = format!(
            r#"listen = "127.0.0.1:0"
[[route]]
prefix = "/api"
middleware = ["ip_filter", "cors", "strip_prefix", "headers"]
upstreams = [ {{ addr = "{addr}" }} ]
[route.ip_filter]
allow = ["127.0.0.0/8"]
[route.cors]
origins = ["https://app.example"]
[route.headers]
request_set = {{ X-Added = "yes" }}
response_remove = ["Server"]

[[route]]
prefix = "/private"
middleware = ["ip_filter"]
upstreams = [ {{ addr = "{addr}" }} ]
[route.ip_filter]
deny = ["127.0.0.1"]
"#,
            addr = backend.addr
        );
        let gw = gateway(&config);
        let mut client = Client::connect(gw.server.local_addr());
        let got = client.request(
            "GET",
            "/api/users?id=7",
            &[("Origin", "https://app.example")],
            b"",
        );
        assert_eq!(got.text(), "/users?id=7");
        assert_eq!(
            got.header("access-control-allow-origin"),
            Some("https://app.example")
        );
        assert_eq!(got.header("server"), None);
        assert_eq!(got.header("x-seen-added"), Some("yes"));
        let preflight = client.request(
            "OPTIONS",
            "/api/users",
            &[
                ("Origin", "https://app.example"),
                ("Access-Control-Request-Method", "PUT"),
            ],
            b"",
        );
        assert_eq!(preflight.status, 204);
        assert!(preflight
            .header("access-control-allow-methods")
            .unwrap()
            .contains("PUT"));
        let stranger = client.request("GET", "/api/x", &[("Origin", "https://evil.example")], b"");
        assert_eq!(stranger.header("access-control-allow-origin"), None);
        assert_eq!(client.get("/private/x").status, 403);
        assert_eq!(
            backend.seen().len(),
            2,
            "the preflight and the denied request stayed at the gateway"
        );
    });
}
