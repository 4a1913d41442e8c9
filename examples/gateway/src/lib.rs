//! # grt-gateway: a reverse-proxy gateway on grt
//!
//! Go's `httputil.ReverseProxy` with what nginx adds in front of real
//! services: upstream connection pools, load balancing with health,
//! limits, and a middleware chain per route. Every connection, client or
//! upstream, is driven by blocking code on a grt task; the net poller
//! parks a task on each wait, so a few threads carry thousands of
//! connections without a state machine in sight.
//!
//! ```text
//! cargo run --release -p grt-gateway --bin gateway -- --config gateway.toml
//! ```
//!
//! ## The pieces
//! | module | what | counterpart |
//! |---|---|---|
//! | `http/` | HTTP/1.1 wire format: heads (httparse), framing rules, streaming bodies | Go's `net/http` internals |
//! | `server/` | accept loop, a task per connection, keep-alive, limits | Go's `http.Server`, nginx's `ngx_http_request.c` |
//! | `upstream/` | one exchange with a backend; the idle-connection pool | Go's `http.Transport`, nginx's `keepalive` |
//! | `proxy/` | [`ReverseProxy`]: hooks, hop-by-hop, `X-Forwarded-*`, retries, tunnels | `httputil.ReverseProxy` |
//! | `balance/` | the balancer trait, six policies, passive health | nginx upstream modules, Envoy's LB |
//! | `middleware/` | the onion and the built-in layers | Go's handler wrappers |
//! | `gateway.rs` | routes by longest prefix, each a chain around a proxy; start, reload, shutdown | nginx `location`, `nginx -s reload` |
//! | `config/` | the TOML file, checked, with located errors | `nginx -t` |
//! | `handler.rs` | [`Handler`]: request in, response out | `http.Handler` |
//! | `health_check.rs` | active checks of each backend, reported to its balancer | nginx Plus `health_check` |
//! | `metrics.rs` | request counters and latency histograms, lock-free | Prometheus client libraries |
//! | `admin.rs` | the admin listener: `/healthz`, `/metrics` | Envoy's admin, nginx `stub_status` |
//! | `signal.rs` | SIGINT, SIGTERM, SIGHUP as a channel | Go's `signal.Notify` |
//!
//! ## The life of a proxied request
//! 1. The accept loop (server/mod.rs) hands the connection to a new task.
//! 2. That task reads the head (http/head.rs), parked on the net poller
//!    until bytes come; checks its framing (http/framing.rs); wraps the
//!    connection's remaining bytes in a body that decodes as it is read.
//! 3. The gateway (gateway.rs) picks the route, and its chain runs: each
//!    middleware's before-part, outside in.
//! 4. The proxy (proxy/mod.rs) builds the outgoing head, asks the
//!    balancer for a backend, takes a pooled connection to it (or
//!    connects), and streams the request: each read of the client's body
//!    is a write to the backend.
//! 5. It reads the response head, parked again, and returns a response
//!    whose body is still on the backend connection.
//! 6. The middleware after-parts run, inside out; the server writes the
//!    head and streams the body from the backend to the client; at its
//!    end the backend connection goes back to the pool and the balancer
//!    hears how it went.
//! 7. The task waits for the client's next request, or closes.
//!
//! No step holds more than a few buffers of a body, whatever its size.
//!
//! ## Operating it
//! - **Graceful shutdown** on SIGINT or SIGTERM (server/mod.rs, Go's
//!   `Server.Shutdown`): stop accepting (new connections are refused),
//!   close the keep-alive connections idle between requests (waking their
//!   parked reads, server/track.rs), let the requests in flight finish,
//!   for up to `shutdown_timeout` (default 10 s), then cut what is left
//!   and exit 0. A second signal exits at once.
//! - **Reload** on SIGHUP (gateway.rs): the file is read and checked
//!   again; a bad one is refused with its `FILE:LINE:COLUMN` message and
//!   the running configuration stays; a good one replaces routes,
//!   balancers, pools and health checks for every request from then on,
//!   open connections included, and none is dropped.
//! - **Admin listener** (`admin = "127.0.0.1:9901"`, admin.rs):
//!   `GET /healthz` (every backend's health, per route, as JSON) and
//!   `GET /metrics` (Prometheus text: `gateway_requests_total` by route,
//!   status and upstream; `gateway_upstream_latency_seconds` histograms;
//!   `gateway_open_connections`; `gateway_backend_up`).
//! - **Active health checks** per route (health_check.rs):
//!   `health_check = { path = "/health", interval = "2s", timeout = "1s",
//!   fails = 1, passes = 1 }`; a backend failing `fails` checks in a row
//!   is taken out of its balancer, and comes back after `passes` good
//!   ones. Passive health (nginx's `max_fails`/`fail_timeout`) runs beside
//!   it (balance/health.rs).
//!
//! The configuration's keys and defaults are listed in config/mod.rs.
//!
//! ## State of this crate (issue 6)
//! Done: the proxy core, streaming both ways, keep-alive both sides and
//! the pool, the framing rules, retries, upgrades, the balancers, the
//! middleware, the configuration, graceful shutdown, reload, the admin
//! listener and active health checks; the showcase (examples/showcase)
//! puts it in front of two chat hubs. To come: the load comparison with
//! nginx.

pub mod admin;
pub mod balance;
pub mod config;
pub mod gateway;
pub mod handler;
pub mod health_check;
pub mod http;
pub mod metrics;
pub mod middleware;
pub mod proxy;
pub mod server;
pub mod signal;
pub mod upstream;

pub use config::{Config, ConfigError};
pub use gateway::{Gateway, Route};
pub use handler::{handler_fn, Handler};
pub use http::{Body, Request, Response};
pub use proxy::ReverseProxy;
pub use server::{Drained, Server, ServerConfig};
