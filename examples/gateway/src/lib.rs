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
//! | `gateway.rs` | routes by longest prefix, each a chain around a proxy | nginx `location` |
//! | `config/` | the TOML file, checked, with located errors | `nginx -t` |
//! | `handler.rs` | [`Handler`]: request in, response out | `http.Handler` |
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
//! ## State of this crate (issue 6)
//! Done: the proxy core, streaming both ways, keep-alive both sides and
//! the pool, the framing rules, retries, upgrades, the balancers, the
//! middleware, the configuration. To come: the admin endpoint
//! (`/metrics`, `/healthz`) and active health checks, graceful shutdown
//! on SIGINT/SIGTERM (waking idle keep-alive connections) and reload on
//! SIGHUP, the showcase in front of two chat hubs, and the comparison
//! with nginx.

pub mod balance;
pub mod config;
pub mod gateway;
pub mod handler;
pub mod http;
pub mod middleware;
pub mod proxy;
pub mod server;
pub mod upstream;

pub use config::{Config, ConfigError};
pub use gateway::{Gateway, Route};
pub use handler::{handler_fn, Handler};
pub use http::{Body, Request, Response};
pub use proxy::ReverseProxy;
pub use server::{Server, ServerConfig};
