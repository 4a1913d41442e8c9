//! The admin listener (`admin = "127.0.0.1:9901"`): what operators and
//! their tools ask the gateway, on an address of its own so that it can
//! stay off the public network (Envoy's admin interface; nginx's
//! `stub_status` and nginx Plus's API).
//!
//! - `GET /healthz`: the gateway's own health and every backend's, per
//!   route, as JSON. 200 while serving, even with backends down (the
//!   gateway is what this endpoint is about; `"status"` says `"degraded"`
//!   when some backend is down); 503 once a graceful shutdown has begun,
//!   so that a load balancer in front stops sending new clients
//!   (Envoy's `/healthcheck/fail` while draining).
//!
//!   ```json
//!   {"status":"ok","routes":[{"prefix":"/api","backends":[
//!     {"addr":"127.0.0.1:9001","up":true},{"addr":"127.0.0.1:9002","up":true}]}]}
//!   ```
//! - `GET /metrics`: the Prometheus text format (version 0.0.4): the
//!   request counters and latency histograms of metrics.rs, then two
//!   gauges read at the moment of the scrape: `gateway_open_connections`
//!   (client connections now) and `gateway_backend_up` (1 or 0 per route
//!   and backend, the balancer's view, which active and passive health
//!   both feed).
//!
//! Anything else is 404; other methods are 405. The listener is a
//! [`Server`] like the main one, with the same limits, and serves the
//! gateway in force after reloads.

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use grt::net::TcpListener;

use crate::gateway::{Gateway, Live};
use crate::handler::Handler;
use crate::http::{Body, Request, Response};
use crate::metrics::{self, Metrics};
use crate::server::{Server, ServerConfig};

/// The content type of the Prometheus text format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The admin endpoints (module doc).
pub struct Admin {
    live: Arc<Live>,
    metrics: Arc<Metrics>,
    /// The main server, for its open connections and whether it is
    /// stopping.
    server: Server,
}

impl Admin {
    pub fn new(live: Arc<Live>, metrics: Arc<Metrics>, server: Server) -> Admin {
        Admin {
            live,
            metrics,
            server,
        }
    }

    /// The body of `/healthz`, and whether every backend is up.
    pub fn healthz(&self) -> (String, bool) {
        let gateway = self.live.current();
        let mut all_up = true;
        let mut routes = Vec::new();
        for (prefix, backends) in backend_health(&gateway) {
            let backends: Vec<String> = backends
                .iter()
                .map(|(addr, up)| {
                    all_up &= up;
                    format!("{{\"addr\":\"{addr}\",\"up\":{up}}}")
                })
                .collect();
            routes.push(format!(
                "{{\"prefix\":{},\"backends\":[{}]}}",
                json_string(&prefix),
                backends.join(",")
            ));
        }
        let status = if self.server.is_stopping() {
            "draining"
        } else if all_up {
            "ok"
        } else {
            "degraded"
        };
        let body = format!(
            "{{\"status\":\"{status}\",\"routes\":[{}]}}\n",
            routes.join(",")
        );
        (body, all_up)
    }

    /// The body of `/metrics` (module doc).
    pub fn metrics(&self) -> String {
        let mut out = String::with_capacity(4096);
        self.metrics.render(&mut out);
        metrics::header(
            &mut out,
            "gateway_open_connections",
            "gauge",
            "Client connections open now.",
        );
        let _ = writeln!(
            out,
            "gateway_open_connections {}",
            self.server.open_connections()
        );
        metrics::header(
            &mut out,
            "gateway_backend_up",
            "gauge",
            "Whether the route's balancer counts the backend up (1) or down (0).",
        );
        for (prefix, backends) in backend_health(&self.live.current()) {
            for (addr, up) in backends {
                let _ = writeln!(
                    out,
                    "gateway_backend_up{{route=\"{}\",upstream=\"{addr}\"}} {}",
                    metrics::escape(&prefix),
                    u8::from(up)
                );
            }
        }
        out
    }
}

impl Handler for Admin {
    fn serve(&self, req: Request<'_>) -> Response {
        let method = &*req.head.method;
        let path = req.head.path();
        if !matches!(path, "/healthz" | "/metrics") {
            return Response::text(404, "the admin endpoints are /healthz and /metrics");
        }
        if method != "GET" && method != "HEAD" {
            return Response::text(405, "GET or HEAD only").with_header("Allow", "GET, HEAD");
        }
        let (status, content_type, body) = if path == "/healthz" {
            let (body, _) = self.healthz();
            let status = if self.server.is_stopping() { 503 } else { 200 };
            (status, "application/json", body)
        } else {
            (200, METRICS_CONTENT_TYPE, self.metrics())
        };
        let mut response = Response::new(status)
            .with_header("Content-Type", content_type)
            .with_header("Cache-Control", "no-store");
        response.body = Body::from_bytes(body);
        response
    }
}

/// Starts the admin listener on `addr` with `admin` (from a grt task).
pub fn start(addr: SocketAddr, admin: Admin) -> io::Result<Server> {
    let listener = TcpListener::bind(addr)?;
    Server::start(listener, Arc::new(admin), ServerConfig::default())
}

/// Per route, in routing order: its prefix, and each backend with whether
/// its balancer counts it up (a single host, having no balancer, always).
fn backend_health(gateway: &Gateway) -> Vec<(String, Vec<(SocketAddr, bool)>)> {
    gateway
        .routes()
        .iter()
        .map(|route| {
            let targets = route.proxy().targets();
            let backends = targets
                .upstreams()
                .iter()
                .enumerate()
                .map(|(i, upstream)| {
                    let up = targets.balancer().is_none_or(|b| b.is_up(i));
                    (upstream.addr(), up)
                })
                .collect();
            (route.prefix().to_string(), backends)
        })
        .collect()
}

/// `text` as a JSON string, quotes included.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("/a\"b\\c\n"), "\"/a\\\"b\\\\c\\u000a\"");
    }
}
