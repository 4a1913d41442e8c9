//! Reloading the configuration in process (`Running::reload_from`, what
//! SIGHUP calls; tests/signals.rs sends the signal to the binary): new
//! routes apply to the next request, open keep-alive connections included;
//! a bad file is refused with its file and line, and nothing changes.

mod common;

use std::path::PathBuf;

use common::*;

/// Writes `text` to a fresh file named `name` and returns its path.
fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("grt-gateway-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A config with routes `/` → `root` and `/api` → `api`.
fn two_routes(root: std::net::SocketAddr, api: std::net::SocketAddr) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\n\
         [[route]]\nprefix = \"/\"\nupstreams = [ {{ addr = \"{root}\" }} ]\n\
         [[route]]\nprefix = \"/api\"\nupstreams = [ {{ addr = \"{api}\" }} ]\n"
    )
}

#[test]
fn a_reload_moves_a_route_and_keeps_open_connections_working() {
    run(|| {
        let root = Backend::start(|_| Reply::ok("root"));
        let old = Backend::start(|_| Reply::ok("old api"));
        let new = Backend::start(|_| Reply::ok("new api"));
        let path = write("moves.toml", &two_routes(root.addr, old.addr));
        let gw = gateway(&std::fs::read_to_string(&path).unwrap());
        let mut client = Client::connect(gw.server.local_addr());
        assert_eq!(client.get("/api/x").text(), "old api");
        assert_eq!(client.get("/other").text(), "root");
        let old_upstream = std::sync::Arc::clone(
            &gw.current()
                .find("/api")
                .unwrap()
                .proxy()
                .targets()
                .upstreams()[0],
        );
        assert_eq!(old_upstream.idle(), 1, "pooled after the request");

        std::fs::write(&path, two_routes(root.addr, new.addr)).unwrap();
        gw.reload_from(&path).unwrap();

        // The same client connection, now routed by the new configuration.
        assert_eq!(client.get("/api/x").text(), "new api");
        assert_eq!(client.get("/other").text(), "root");
        assert_eq!(
            get(gw.server.local_addr(), "/api/y").text(),
            "new api",
            "and a new connection too"
        );
        assert_eq!(old.seen().len(), 1);
        assert_eq!(new.seen().len(), 2);
        assert_eq!(old_upstream.idle(), 0, "the old pool was closed");
        // Counters carry over for the pairs that stayed.
        let root_addr = root.addr.to_string();
        assert_eq!(gw.metrics().requests("/", 200, &root_addr), 2);
        assert_eq!(gw.metrics().requests("/api", 200, &old.addr.to_string()), 1);
        assert_eq!(gw.metrics().requests("/api", 200, &new.addr.to_string()), 2);
        // `gateway` is still the gateway as started.
        assert_eq!(gw.gateway.routes().len(), 2);
    });
}

#[test]
fn a_bad_file_is_refused_with_its_line_and_the_old_config_stays() {
    run(|| {
        let api = Backend::start(|_| Reply::ok("api"));
        let root = Backend::start(|_| Reply::ok("root"));
        let good = two_routes(root.addr, api.addr);
        let path = write("bad.toml", &good);
        let gw = gateway(&good);
        let mut client = Client::connect(gw.server.local_addr());
        assert_eq!(client.get("/api").text(), "api");

        let bad = good.replacen(
            "prefix = \"/api\"",
            "prefix = \"/api\"\nbalancer = \"fastest\"",
            1,
        );
        std::fs::write(&path, bad).unwrap();
        let err = gw.reload_from(&path).unwrap_err();
        assert!(
            err.starts_with(&format!(
                "{}:7:12: unknown balancer \"fastest\"",
                path.display()
            )),
            "{err}"
        );
        assert_eq!(client.get("/api").text(), "api", "the running config stays");

        std::fs::write(&path, "listen = \"127.0.0.1:0\"\n[[route]\n").unwrap();
        let err = gw.reload_from(&path).unwrap_err();
        assert!(err.starts_with(&format!("{}:2:", path.display())), "{err}");
        assert_eq!(client.get("/").text(), "root");
    });
}
