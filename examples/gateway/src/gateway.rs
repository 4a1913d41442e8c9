//! The gateway: routes by path prefix, each route a middleware chain
//! around a [`ReverseProxy`] (nginx's `location` blocks with their
//! `proxy_pass`; Go's `ServeMux` in front of proxies).
//!
//! Routing is longest prefix first, matched at a path-segment boundary:
//! `/api` takes `/api`, `/api/` and `/api/users`, but not `/apix` (nginx's
//! plain prefix `location /api` would take `/apix`; Go's `ServeMux` and
//! most gateways would not). A prefix ending in `/` matches everything
//! below it, and `/` matches every path. No match: 404. The path goes
//! upstream unchanged unless the route lists `strip_prefix`.
//!
//! A route's body limit (`max_body`, 413) is enforced here, before its
//! middleware, as nginx checks `client_max_body_size` before anything
//! else: a declared length over it is refused at once; a chunked body is
//! cut off when it passes it ([`Body::set_limit`](crate::http::Body::set_limit)),
//! and the proxy answers 413.
//!
//! Every response is counted on its way out (metrics.rs): by route, status
//! and the backend the proxy named in it ([`UpstreamInfo`]).
//!
//! # A gateway running, and reloaded
//! [`start`] builds a [`Gateway`] from the configuration and serves it
//! through [`Live`], the handler the server holds: a slot with the current
//! gateway, read once per request. [`Running::reload`] builds a whole new
//! gateway from a new configuration (routes, balancers, pools, health
//! checks) and swaps it in, nginx's reload without its new worker
//! processes:
//! 1. check and build the new gateway; on any error keep the old one and
//!    say why (the file and line, config/error.rs);
//! 2. start its health checks;
//! 3. swap it into the slot: requests that start from now on, on new
//!    connections and on open keep-alive ones alike, see the new routes;
//! 4. stop the old gateway's health checks, and retire its upstream pools
//!    (upstream/pool.rs): idle connections to the old backends close now,
//!    and those of requests still in flight close when they end.
//!
//! Requests in flight finish on the gateway they started on, since each
//! holds an `Arc` to it. Nothing listening changes: a new `listen` or
//! `admin` address needs a restart, and the reload says so. Counters
//! carry over for the (route, upstream) pairs that stay.
//!
//! Why one slot read per request rather than per connection: a keep-alive
//! connection can live for hours, and a reload should not wait for it.
//! Why a `std` `RwLock` around an `Arc` and not an atomic pointer swap: the
//! read is one uncontended atomic add and an `Arc` clone, held for no
//! longer than that, so no task ever parks on it; a lock-free swap of an
//! `Arc` needs hazard pointers or epochs (the `arc-swap` crate) to be
//! sound, for a write that happens once per SIGHUP.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use grt::net::TcpListener;

use crate::admin;
use crate::balance;
use crate::config::{Config, MiddlewareConfig, RouteConfig};
use crate::handler::Handler;
use crate::health_check::{HealthCheckConfig, HealthChecks};
use crate::http::{Request, Response, UpstreamInfo};
use crate::metrics::{self, Cell, Metrics};
use crate::middleware::{
    AccessLog, BearerAuth, Chain, Cors, Middleware, RateLimit, RequestId, StripPrefix,
};
use crate::proxy::ReverseProxy;
use crate::server::{Drained, Server, ServerConfig};

/// One route: a prefix, its chain, its proxy.
pub struct Route {
    prefix: String,
    chain: Chain,
    proxy: Arc<ReverseProxy>,
    max_body: Option<u64>,
    /// Active checks of the proxy's backends, if the route asks for them.
    health_check: Option<HealthCheckConfig>,
}

impl Route {
    /// A route to `proxy` through `layers` (outermost first).
    pub fn new(
        prefix: &str,
        layers: Vec<Arc<dyn Middleware>>,
        proxy: ReverseProxy,
        max_body: Option<u64>,
    ) -> Route {
        let proxy = Arc::new(proxy);
        Route {
            prefix: prefix.to_string(),
            chain: Chain::new(layers, Arc::clone(&proxy) as Arc<dyn Handler>),
            proxy,
            max_body,
            health_check: None,
        }
    }

    /// Checks the proxy's backends actively (health_check.rs), once the
    /// gateway's checks are started ([`Gateway::start_health_checks`]).
    /// Only a balanced proxy has a balancer to report to; a single host
    /// ignores this.
    pub fn with_health_check(mut self, config: HealthCheckConfig) -> Route {
        self.health_check = Some(config);
        self
    }

    /// Builds a configured route: its balancer, its proxy, its layers.
    pub fn from_config(config: &RouteConfig) -> Result<Route, String> {
        let balancer = balance::by_name(&config.balancer, &config.backends, config.health)?;
        let proxy = ReverseProxy::balanced(
            &config.backends,
            balancer,
            config.hash_key.clone(),
            config.upstream.clone(),
        );
        let layers = config
            .middleware
            .iter()
            .map(|m| middleware(m, &config.prefix))
            .collect();
        let route = Route::new(&config.prefix, layers, proxy, config.max_body);
        Ok(match &config.health_check {
            Some(check) => route.with_health_check(check.clone()),
            None => route,
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn proxy(&self) -> &ReverseProxy {
        &self.proxy
    }

    /// Whether this route takes `path` (module doc).
    pub fn matches(&self, path: &str) -> bool {
        let prefix = self.prefix.as_str();
        match path.strip_prefix(prefix) {
            None => false,
            Some(rest) => rest.is_empty() || prefix.ends_with('/') || rest.starts_with('/'),
        }
    }
}

/// The layer a middleware entry of the configuration names.
fn middleware(config: &MiddlewareConfig, prefix: &str) -> Arc<dyn Middleware> {
    match config {
        MiddlewareConfig::RequestId => Arc::new(RequestId::new()),
        MiddlewareConfig::AccessLog => Arc::new(AccessLog::to_stderr()),
        MiddlewareConfig::RateLimit { rate, burst } => Arc::new(RateLimit::new(*rate, *burst)),
        MiddlewareConfig::Auth { tokens } => Arc::new(BearerAuth::new(tokens)),
        MiddlewareConfig::Cors { origins } => Arc::new(Cors::new(origins.clone())),
        MiddlewareConfig::StripPrefix => Arc::new(StripPrefix::new(prefix)),
        MiddlewareConfig::Headers(rules) => Arc::new(rules.clone()),
        MiddlewareConfig::IpFilter(filter) => Arc::new(filter.clone()),
    }
}

/// Routes, longest prefix first (module doc).
pub struct Gateway {
    routes: Vec<Route>,
    /// Where the counters live; shared with the gateways reloads replace.
    metrics: Arc<Metrics>,
    /// Per route, in `routes`' order: its counters (metrics.rs).
    cells: Vec<RouteCells>,
    /// Requests no route took.
    unrouted: Arc<Cell>,
}

/// The counters of one route: one cell per backend, and one for answers
/// no backend gave.
struct RouteCells {
    /// By backend, in the proxy's order, with the backend's address.
    backends: Vec<(SocketAddr, Arc<Cell>)>,
    none: Arc<Cell>,
}

impl RouteCells {
    /// The cell for a response that `upstream` says came from where.
    fn cell(&self, upstream: Option<&UpstreamInfo>) -> &Cell {
        upstream
            .and_then(|info| self.backends.iter().find(|(addr, _)| *addr == info.addr))
            .map_or(&*self.none, |(_, cell)| cell)
    }
}

impl Gateway {
    pub fn new(routes: Vec<Route>) -> Gateway {
        Gateway::with_metrics(routes, Arc::new(Metrics::default()))
    }

    /// A gateway counting into `metrics`.
    pub fn with_metrics(mut routes: Vec<Route>, metrics: Arc<Metrics>) -> Gateway {
        routes.sort_by_key(|route| std::cmp::Reverse(route.prefix.len()));
        let cells = routes
            .iter()
            .map(|route| RouteCells {
                backends: route
                    .proxy
                    .targets()
                    .upstreams()
                    .iter()
                    .map(|upstream| {
                        let addr = upstream.addr();
                        (addr, metrics.cell(&route.prefix, &addr.to_string()))
                    })
                    .collect(),
                none: metrics.cell(&route.prefix, metrics::NONE),
            })
            .collect();
        let unrouted = metrics.cell(metrics::NONE, metrics::NONE);
        Gateway {
            routes,
            metrics,
            cells,
            unrouted,
        }
    }

    /// Builds every route of `config`.
    pub fn from_config(config: &Config) -> Result<Gateway, String> {
        Gateway::from_config_with(config, Arc::new(Metrics::default()))
    }

    /// Builds every route of `config`, counting into `metrics`.
    pub fn from_config_with(config: &Config, metrics: Arc<Metrics>) -> Result<Gateway, String> {
        let routes = config
            .routes
            .iter()
            .map(Route::from_config)
            .collect::<Result<_, _>>()?;
        Ok(Gateway::with_metrics(routes, metrics))
    }

    /// The route for `path`: the longest matching prefix.
    pub fn find(&self, path: &str) -> Option<&Route> {
        self.routes.iter().find(|route| route.matches(path))
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Starts the active checks of every route that asks for them; they
    /// run until the returned handle is dropped. Must be called from a
    /// grt task.
    pub fn start_health_checks(&self) -> HealthChecks {
        let checks = HealthChecks::new();
        for route in &self.routes {
            let (Some(config), Some(balancer)) =
                (&route.health_check, route.proxy.targets().balancer())
            else {
                continue;
            };
            for (i, upstream) in route.proxy.targets().upstreams().iter().enumerate() {
                checks.spawn(
                    &route.prefix,
                    upstream.addr(),
                    i,
                    Arc::clone(balancer),
                    config.clone(),
                );
            }
        }
        checks
    }

    /// Closes the idle upstream connections of every route, and keeps none
    /// from now on: this gateway has been replaced (module doc, step 4).
    pub fn retire(&self) {
        for route in &self.routes {
            for upstream in route.proxy.targets().upstreams() {
                upstream.retire();
            }
        }
    }

    /// Routes and answers `req` (module doc), without counting it.
    fn route(&self, mut req: Request<'_>) -> (Option<usize>, Response) {
        let path = req.head.path();
        let Some(k) = self.routes.iter().position(|route| route.matches(path)) else {
            return (None, Response::text(404, "no route for this path"));
        };
        let route = &self.routes[k];
        if let Some(max) = route.max_body {
            if req.body.len().is_some_and(|len| len > max) {
                let mut response = Response::text(413, &format!("the body is over {max} bytes"));
                response.close = true;
                return (Some(k), response);
            }
            req.body.set_limit(max);
        }
        (Some(k), route.chain.serve(req))
    }
}

impl Handler for Gateway {
    fn serve(&self, req: Request<'_>) -> Response {
        let (route, response) = self.route(req);
        let cell = match route {
            Some(k) => self.cells[k].cell(response.upstream.as_ref()),
            None => &self.unrouted,
        };
        cell.count(response.status());
        if let Some(latency) = response.upstream.and_then(|info| info.header_time) {
            cell.observe(latency);
        }
        response
    }
}

/// The gateway being served now, swapped whole by a reload (module doc);
/// the handler the server holds.
pub struct Live {
    /// The gateway new requests go to.
    current: RwLock<Arc<Gateway>>,
    /// The current gateway's health checks; replacing them stops the old.
    checks: Mutex<Option<HealthChecks>>,
}

impl Live {
    /// Serves `gateway`, starting its health checks (from a grt task).
    pub fn new(gateway: Arc<Gateway>) -> Live {
        let checks = gateway.start_health_checks();
        Live {
            current: RwLock::new(gateway),
            checks: Mutex::new(Some(checks)),
        }
    }

    /// The gateway requests go to now.
    pub fn current(&self) -> Arc<Gateway> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Steps 2–4 of the module doc: serves `gateway` from now on, and
    /// returns the one it replaces, retired.
    pub fn replace(&self, gateway: Arc<Gateway>) -> Arc<Gateway> {
        let checks = gateway.start_health_checks();
        let old = std::mem::replace(
            &mut *self.current.write().unwrap_or_else(PoisonError::into_inner),
            gateway,
        );
        let old_checks = self
            .checks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(checks);
        drop(old_checks);
        old.retire();
        old
    }

    /// Stops the health checks (at shutdown).
    pub fn stop_health_checks(&self) {
        let checks = self
            .checks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(checks);
    }
}

impl Handler for Live {
    fn serve(&self, req: Request<'_>) -> Response {
        self.current().serve(req)
    }
}

/// A gateway serving: the server, the routes it serves, the admin
/// listener if configured.
pub struct Running {
    pub server: Server,
    /// The gateway as started; after a reload, [`Running::current`].
    pub gateway: Arc<Gateway>,
    /// The admin listener (admin.rs), if the configuration has `admin`.
    pub admin: Option<Server>,
    /// The main server's handler: the slot a reload swaps.
    live: Arc<Live>,
    /// The counters, shared by every gateway a reload builds.
    metrics: Arc<Metrics>,
    /// The configuration in force: the last one loaded.
    config: Mutex<Config>,
}

/// Starts the gateway `config` describes on its `listen` address, in the
/// current grt runtime: its health checks, and its admin listener if it
/// has one.
pub fn start(config: &Config, server_config: ServerConfig) -> io::Result<Running> {
    let metrics = Arc::new(Metrics::default());
    let gateway = Arc::new(
        Gateway::from_config_with(config, Arc::clone(&metrics))
            .map_err(|why| io::Error::new(io::ErrorKind::InvalidInput, why))?,
    );
    let live = Arc::new(Live::new(Arc::clone(&gateway)));
    let listener = TcpListener::bind(config.listen)?;
    let server = Server::start(
        listener,
        Arc::clone(&live) as Arc<dyn Handler>,
        server_config,
    )?;
    let admin = match config.admin {
        None => None,
        Some(addr) => {
            let handler =
                admin::Admin::new(Arc::clone(&live), Arc::clone(&metrics), server.clone());
            match admin::start(addr, handler) {
                Ok(admin) => Some(admin),
                Err(err) => {
                    server.shutdown();
                    live.stop_health_checks();
                    return Err(io::Error::new(
                        err.kind(),
                        format!("admin listener on {addr}: {err}"),
                    ));
                }
            }
        }
    };
    Ok(Running {
        server,
        gateway,
        admin,
        live,
        metrics,
        config: Mutex::new(config.clone()),
    })
}

impl Running {
    /// The gateway requests go to now.
    pub fn current(&self) -> Arc<Gateway> {
        self.live.current()
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The admin listener's address, if there is one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(Server::local_addr)
    }

    /// The configuration's `shutdown_timeout`, as last loaded.
    pub fn shutdown_timeout(&self) -> Duration {
        self.config().shutdown_timeout
    }

    /// The configuration in force.
    pub fn config(&self) -> Config {
        self.config
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Serves `config` from now on (module doc, steps 1–4), or says why
    /// not and changes nothing. A new `listen` or `admin` address is not
    /// applied (a warning says so); everything else is. Call from a grt
    /// task.
    pub fn reload(&self, config: &Config) -> Result<(), String> {
        let gateway = Gateway::from_config_with(config, Arc::clone(&self.metrics))?;
        let mut current = self.config.lock().unwrap_or_else(PoisonError::into_inner);
        if config.listen != current.listen {
            eprintln!(
                "gateway: reload: listen {} is not applied: a restart is needed to move from {}",
                config.listen, current.listen
            );
        }
        if config.admin != current.admin {
            eprintln!(
                "gateway: reload: admin {:?} is not applied: a restart is needed to move from {:?}",
                config.admin, current.admin
            );
        }
        self.live.replace(Arc::new(gateway));
        *current = Config {
            listen: current.listen,
            admin: current.admin,
            ..config.clone()
        };
        Ok(())
    }

    /// Reads and checks the file at `path`, and [`reload`](Self::reload)s
    /// it. A file that does not pass is refused with its
    /// `FILE:LINE:COLUMN: what` message, and the running configuration
    /// stays.
    pub fn reload_from(&self, path: &Path) -> Result<(), String> {
        let config = Config::load(path).map_err(|err| err.to_string())?;
        self.reload(&config)
    }

    /// The graceful shutdown (server/mod.rs): stops accepting, closes idle
    /// connections, waits up to `timeout` for requests in flight, cuts
    /// what is left; then stops the health checks and the admin listener.
    pub fn shutdown(&self, timeout: Duration) -> Drained {
        let drained = self.server.graceful_shutdown(timeout);
        self.live.stop_health_checks();
        if let Some(admin) = &self.admin {
            admin.graceful_shutdown(Duration::from_secs(1));
        }
        drained
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::Targets;
    use crate::upstream::{Upstream, UpstreamConfig};

    fn route(prefix: &str) -> Route {
        let upstream = Arc::new(Upstream::new(
            "127.0.0.1:9".parse().unwrap(),
            UpstreamConfig::default(),
        ));
        Route::new(
            prefix,
            Vec::new(),
            ReverseProxy::new(Targets::Single(upstream)),
            None,
        )
    }

    #[test]
    fn the_longest_prefix_wins_at_segment_boundaries() {
        let gateway = Gateway::new(vec![
            route("/"),
            route("/api"),
            route("/api/v2"),
            route("/static/"),
        ]);
        let found = |path: &str| gateway.find(path).map(Route::prefix);
        assert_eq!(found("/api/v2/x"), Some("/api/v2"));
        assert_eq!(found("/api/v2"), Some("/api/v2"));
        assert_eq!(found("/api/v23"), Some("/api"));
        assert_eq!(found("/api"), Some("/api"));
        assert_eq!(found("/apix"), Some("/"));
        assert_eq!(found("/static/a.css"), Some("/static/"));
        assert_eq!(found("/static"), Some("/"));
        let no_root = Gateway::new(vec![route("/api")]);
        assert!(no_root.find("/other").is_none());
    }
}
