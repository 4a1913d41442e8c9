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

use std::io;
use std::sync::Arc;

use grt::net::TcpListener;

use crate::balance;
use crate::config::{Config, MiddlewareConfig, RouteConfig};
use crate::handler::Handler;
use crate::http::{Request, Response};
use crate::middleware::{
    AccessLog, BearerAuth, Chain, Cors, Middleware, RateLimit, RequestId, StripPrefix,
};
use crate::proxy::ReverseProxy;
use crate::server::{Server, ServerConfig};

/// One route: a prefix, its chain, its proxy.
pub struct Route {
    prefix: String,
    chain: Chain,
    proxy: Arc<ReverseProxy>,
    max_body: Option<u64>,
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
        }
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
        Ok(Route::new(&config.prefix, layers, proxy, config.max_body))
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
}

impl Gateway {
    pub fn new(mut routes: Vec<Route>) -> Gateway {
        routes.sort_by_key(|route| std::cmp::Reverse(route.prefix.len()));
        Gateway { routes }
    }

    /// Builds every route of `config`.
    pub fn from_config(config: &Config) -> Result<Gateway, String> {
        let routes = config
            .routes
            .iter()
            .map(Route::from_config)
            .collect::<Result<_, _>>()?;
        Ok(Gateway::new(routes))
    }

    /// The route for `path`: the longest matching prefix.
    pub fn find(&self, path: &str) -> Option<&Route> {
        self.routes.iter().find(|route| route.matches(path))
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

impl Handler for Gateway {
    fn serve(&self, mut req: Request<'_>) -> Response {
        let Some(route) = self.find(req.head.path()) else {
            return Response::text(404, "no route for this path");
        };
        if let Some(max) = route.max_body {
            if req.body.len().is_some_and(|len| len > max) {
                let mut response = Response::text(413, &format!("the body is over {max} bytes"));
                response.close = true;
                return response;
            }
            req.body.set_limit(max);
        }
        route.chain.serve(req)
    }
}

/// A gateway serving: the server and the routes it serves.
pub struct Running {
    pub server: Server,
    pub gateway: Arc<Gateway>,
}

/// Starts the gateway `config` describes on its `listen` address, in the
/// current grt runtime.
pub fn start(config: &Config, server_config: ServerConfig) -> io::Result<Running> {
    let gateway = Arc::new(
        Gateway::from_config(config)
            .map_err(|why| io::Error::new(io::ErrorKind::InvalidInput, why))?,
    );
    let listener = TcpListener::bind(config.listen)?;
    let server = Server::start(
        listener,
        Arc::clone(&gateway) as Arc<dyn Handler>,
        server_config,
    )?;
    Ok(Running { server, gateway })
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
