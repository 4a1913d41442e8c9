//! The configuration: `gateway --config FILE.toml`, read once at start,
//! checked completely before anything listens.
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! admin = "127.0.0.1:9901"          # optional: /healthz and /metrics
//! shutdown_timeout = "10s"          # optional: the graceful shutdown's bound
//! [[route]]
//! prefix = "/api"                   # longest prefix wins
//! balancer = "weighted_round_robin"
//! hash_key = "header:X-User"        # consistent_hash only
//! middleware = ["request_id", "rate_limit", "auth"]
//! upstreams = [ { addr = "127.0.0.1:9001", weight = 5 }, { addr = "127.0.0.1:9002" } ]
//! health_check = { path = "/health", interval = "2s", timeout = "1s" }
//! [route.rate_limit]
//! rate = 100
//! burst = 20
//! [route.auth]
//! tokens = ["s3cret"]
//! ```
//!
//! The keys beyond routing and middleware, with their defaults:
//!
//! | key | default | what |
//! |---|---|---|
//! | `admin` | none | address of the admin listener (admin.rs): `GET /healthz`, `GET /metrics` |
//! | `shutdown_timeout` | 10 s | on SIGINT/SIGTERM, how long requests in flight may take before they are cut (server/mod.rs) |
//! | route `connect_timeout`, `read_timeout`, `write_timeout` | 5 s, 60 s, 60 s | nginx's `proxy_*_timeout` (upstream/mod.rs) |
//! | route `keepalive` | 64 | idle connections kept per backend |
//! | route `max_fails`, `fail_timeout` | 1, 10 s | passive health, nginx's (balance/health.rs) |
//! | route `max_body` | none | largest request body, else 413 |
//! | route `health_check` | none | active checks of each backend (health_check.rs) |
//! | `health_check.path` | `/` | what each check asks for with `GET`; 2xx and 3xx pass |
//! | `health_check.interval` | 5 s | from one check's start to the next's, per backend |
//! | `health_check.timeout` | 1 s | for the whole check: connect, send, status line |
//! | `health_check.fails` | 1 | failed checks in a row that take a backend out |
//! | `health_check.passes` | 1 | passed checks in a row that bring it back |
//!
//! The `health_check` names and defaults are nginx Plus's (`uri`
//! becomes `path`). A duration is a number of seconds (`2`, `0.25`) or a
//! string with a unit: `"250ms"`, `"2s"`, `"1m"`, `"1h"`.
//!
//! The file is read again on SIGHUP (gateway.rs, `Running::reload`):
//! the same checks apply, and a file that fails them is refused with the
//! same message while the running configuration goes on.
//!
//! Two passes: serde reads the file into the raw shape (schema.rs), then
//! [`Config::parse`] checks every value and builds the [`Config`] the
//! gateway is made from. A bad file is refused with the file, the line
//! and what is wrong (error.rs), never a panic, and never a gateway
//! half-started: nginx's `nginx -t` discipline.
//!
//! The checks beyond types: addresses parse (or resolve); prefixes start
//! with `/` and are unique; the balancer is one of `balance::NAMES`;
//! weights are in `1..=balance::MAX_WEIGHT`; `hash_key` parses and is
//! only given to `consistent_hash`; each middleware name is known, listed
//! once, and has its table if it needs one (`rate_limit`, `auth`), and no
//! table is given for a middleware not listed; durations are positive;
//! a health check's path is a path.

mod error;
mod schema;

use std::net::{SocketAddr, ToSocketAddrs};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::ConfigError;

use crate::balance::{self, Backend, HealthConfig};
use crate::health_check::HealthCheckConfig;
use crate::middleware::{Cidr, HeaderRules, IpFilter};
use crate::proxy::HashKey;
use crate::upstream::UpstreamConfig;
use schema::{RawConfig, RawDuration, RawHealthCheck, RawRoute};

/// The graceful shutdown's default bound (Go's examples use 5–30 s;
/// systemd waits 90 s before its SIGKILL, Kubernetes 30 s).
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// The middleware names a route may list.
pub const MIDDLEWARE: &[&str] = &[
    "request_id",
    "access_log",
    "rate_limit",
    "auth",
    "cors",
    "strip_prefix",
    "headers",
    "ip_filter",
];

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from, for messages.
    pub file: PathBuf,
    pub listen: SocketAddr,
    pub admin: Option<SocketAddr>,
    /// How long a graceful shutdown waits for requests in flight.
    pub shutdown_timeout: Duration,
    pub routes: Vec<RouteConfig>,
}

/// One `[[route]]`, checked.
#[derive(Debug, Clone)]
pub struct RouteConfig {
    pub prefix: String,
    /// One of `balance::NAMES`.
    pub balancer: String,
    pub hash_key: HashKey,
    /// Outermost first.
    pub middleware: Vec<MiddlewareConfig>,
    pub backends: Vec<Backend>,
    pub health: HealthConfig,
    pub upstream: UpstreamConfig,
    /// Largest request body, if limited.
    pub max_body: Option<u64>,
    /// Active health checks, if asked for.
    pub health_check: Option<HealthCheckConfig>,
}

/// One middleware of a route, with its settings.
#[derive(Debug, Clone)]
pub enum MiddlewareConfig {
    RequestId,
    AccessLog,
    RateLimit { rate: f64, burst: u32 },
    Auth { tokens: Vec<String> },
    Cors { origins: Vec<String> },
    StripPrefix,
    Headers(HeaderRules),
    IpFilter(IpFilter),
}

/// Checks against one file's text, producing located errors.
struct Checker<'a> {
    file: &'a Path,
    source: &'a str,
}

impl Checker<'_> {
    fn error(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        let span = (span != (0..0)).then_some(span);
        ConfigError::at(self.file, self.source, span, message)
    }

    fn address(
        &self,
        value: &toml::Spanned<String>,
        what: &str,
    ) -> Result<SocketAddr, ConfigError> {
        let text = value.get_ref();
        if let Ok(addr) = text.parse() {
            return Ok(addr);
        }
        text.to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| {
                self.error(
                    value.span(),
                    format!("{what} \"{text}\" is not an address like 127.0.0.1:8080"),
                )
            })
    }

    fn seconds(
        &self,
        value: &Option<toml::Spanned<RawDuration>>,
        what: &str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match value {
            None => Ok(default),
            Some(value) => duration(value.get_ref()).ok_or_else(|| {
                self.error(
                    value.span(),
                    format!(
                        "{what} must be a positive duration: a number of seconds, or a string like \"2s\" or \"250ms\""
                    ),
                )
            }),
        }
    }

    fn health_check(
        &self,
        raw: &toml::Spanned<RawHealthCheck>,
    ) -> Result<HealthCheckConfig, ConfigError> {
        let raw = raw.get_ref();
        let defaults = HealthCheckConfig::default();
        let path = match &raw.path {
            None => defaults.path,
            Some(path) => {
                let text = path.get_ref();
                if !text.starts_with('/') || text.bytes().any(|b| b.is_ascii_control() || b == b' ')
                {
                    return Err(self.error(
                        path.span(),
                        format!(
                            "health_check path \"{text}\" must start with / and hold no spaces"
                        ),
                    ));
                }
                text.clone()
            }
        };
        let count = |value: &Option<toml::Spanned<u32>>, what: &str, default: u32| match value {
            None => Ok(default),
            Some(n) if *n.get_ref() >= 1 => Ok(*n.get_ref()),
            Some(n) => Err(self.error(n.span(), format!("health_check {what} must be at least 1"))),
        };
        Ok(HealthCheckConfig {
            path,
            interval: self.seconds(&raw.interval, "health_check interval", defaults.interval)?,
            timeout: self.seconds(&raw.timeout, "health_check timeout", defaults.timeout)?,
            fails: count(&raw.fails, "fails", defaults.fails)?,
            passes: count(&raw.passes, "passes", defaults.passes)?,
        })
    }

    fn route(&self, raw: &toml::Spanned<RawRoute>) -> Result<RouteConfig, ConfigError> {
        let route_span = raw.span();
        let raw = raw.get_ref();
        let prefix = raw.prefix.get_ref().clone();
        if !prefix.starts_with('/') {
            return Err(self.error(
                raw.prefix.span(),
                format!("prefix \"{prefix}\" must start with /"),
            ));
        }

        let mut backends = Vec::new();
        for upstream in raw.upstreams.get_ref() {
            let upstream = upstream.get_ref();
            let addr = self.address(&upstream.addr, "upstream addr")?;
            let weight = *upstream.weight.get_ref();
            if weight == 0 || weight > balance::MAX_WEIGHT {
                return Err(self.error(
                    upstream.weight.span(),
                    format!("weight {weight} is outside 1..={}", balance::MAX_WEIGHT),
                ));
            }
            backends.push(Backend { addr, weight });
        }
        if backends.is_empty() {
            return Err(self.error(raw.upstreams.span(), "a route needs at least one upstream"));
        }

        let (balancer, balancer_span) = match &raw.balancer {
            Some(name) => (name.get_ref().clone(), name.span()),
            None => ("round_robin".to_string(), route_span.clone()),
        };
        let health = HealthConfig {
            max_fails: raw
                .max_fails
                .as_ref()
                .map_or(HealthConfig::default().max_fails, |m| *m.get_ref()),
            fail_timeout: self.seconds(
                &raw.fail_timeout,
                "fail_timeout",
                HealthConfig::default().fail_timeout,
            )?,
        };
        balance::by_name(&balancer, &backends, health)
            .map_err(|why| self.error(balancer_span, why))?;

        let hash_key = match &raw.hash_key {
            None => HashKey::ClientIp,
            Some(key) => {
                if balancer != "consistent_hash" {
                    return Err(self.error(
                        key.span(),
                        format!(
                            "hash_key is only used by the consistent_hash balancer, not {balancer}"
                        ),
                    ));
                }
                key.get_ref()
                    .parse()
                    .map_err(|why: String| self.error(key.span(), why))?
            }
        };

        let middleware = self.middleware(raw)?;
        let defaults = UpstreamConfig::default();
        let upstream = UpstreamConfig {
            connect_timeout: self.seconds(
                &raw.connect_timeout,
                "connect_timeout",
                defaults.connect_timeout,
            )?,
            read_timeout: self.seconds(&raw.read_timeout, "read_timeout", defaults.read_timeout)?,
            write_timeout: self.seconds(
                &raw.write_timeout,
                "write_timeout",
                defaults.write_timeout,
            )?,
            max_idle: raw
                .keepalive
                .as_ref()
                .map_or(defaults.max_idle, |k| *k.get_ref()),
            idle_timeout: defaults.idle_timeout,
        };
        Ok(RouteConfig {
            prefix,
            balancer,
            hash_key,
            middleware,
            backends,
            health,
            upstream,
            max_body: raw.max_body.as_ref().map(|m| *m.get_ref()),
            health_check: raw
                .health_check
                .as_ref()
                .map(|check| self.health_check(check))
                .transpose()?,
        })
    }

    /// The route's middleware list, each with its table (module doc).
    fn middleware(&self, raw: &RawRoute) -> Result<Vec<MiddlewareConfig>, ConfigError> {
        let mut out = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for name in &raw.middleware {
            let text = name.get_ref().as_str();
            if seen.contains(&text) {
                return Err(self.error(
                    name.span(),
                    format!("middleware \"{text}\" is listed twice"),
                ));
            }
            seen.push(text);
            let needs = |table: &str| {
                self.error(
                    name.span(),
                    format!("middleware \"{text}\" needs a [route.{table}] table"),
                )
            };
            out.push(match text {
                "request_id" => MiddlewareConfig::RequestId,
                "access_log" => MiddlewareConfig::AccessLog,
                "strip_prefix" => MiddlewareConfig::StripPrefix,
                "rate_limit" => {
                    let table = raw
                        .rate_limit
                        .as_ref()
                        .ok_or_else(|| needs("rate_limit"))?
                        .get_ref();
                    let rate = *table.rate.get_ref();
                    if !(rate.is_finite() && rate > 0.0) {
                        return Err(self.error(
                            table.rate.span(),
                            "rate must be a positive number of requests per second",
                        ));
                    }
                    MiddlewareConfig::RateLimit {
                        rate,
                        burst: table.burst,
                    }
                }
                "auth" => {
                    let table = raw.auth.as_ref().ok_or_else(|| needs("auth"))?.get_ref();
                    let tokens = table.tokens.get_ref();
                    if tokens.is_empty()
                        || tokens
                            .iter()
                            .any(|t| t.is_empty() || t.contains(char::is_whitespace))
                    {
                        return Err(self.error(
                            table.tokens.span(),
                            "tokens must be a non-empty list of non-empty tokens without spaces",
                        ));
                    }
                    MiddlewareConfig::Auth {
                        tokens: tokens.clone(),
                    }
                }
                "cors" => {
                    let table = raw.cors.as_ref().ok_or_else(|| needs("cors"))?.get_ref();
                    MiddlewareConfig::Cors {
                        origins: table.origins.clone(),
                    }
                }
                "headers" => {
                    let table = raw
                        .headers
                        .as_ref()
                        .ok_or_else(|| needs("headers"))?
                        .get_ref();
                    MiddlewareConfig::Headers(HeaderRules {
                        request_set: table.request_set.clone().into_iter().collect(),
                        request_remove: table.request_remove.clone(),
                        response_set: table.response_set.clone().into_iter().collect(),
                        response_remove: table.response_remove.clone(),
                    })
                }
                "ip_filter" => {
                    let table = raw
                        .ip_filter
                        .as_ref()
                        .ok_or_else(|| needs("ip_filter"))?
                        .get_ref();
                    let nets = |list: &[toml::Spanned<String>]| -> Result<Vec<Cidr>, ConfigError> {
                        list.iter()
                            .map(|net| {
                                net.get_ref()
                                    .parse()
                                    .map_err(|why: String| self.error(net.span(), why))
                            })
                            .collect()
                    };
                    MiddlewareConfig::IpFilter(IpFilter {
                        allow: nets(&table.allow)?,
                        deny: nets(&table.deny)?,
                    })
                }
                _ => {
                    return Err(self.error(
                        name.span(),
                        format!(
                            "unknown middleware \"{text}\"; known middleware: {}",
                            MIDDLEWARE.join(", ")
                        ),
                    ))
                }
            });
        }
        let unused = [
            ("rate_limit", raw.rate_limit.as_ref().map(|t| t.span())),
            ("auth", raw.auth.as_ref().map(|t| t.span())),
            ("cors", raw.cors.as_ref().map(|t| t.span())),
            ("headers", raw.headers.as_ref().map(|t| t.span())),
            ("ip_filter", raw.ip_filter.as_ref().map(|t| t.span())),
        ];
        for (name, span) in unused {
            if let Some(span) = span {
                if !seen.contains(&name) {
                    return Err(self.error(
                        span,
                        format!("[route.{name}] is set but \"{name}\" is not in this route's middleware list"),
                    ));
                }
            }
        }
        Ok(out)
    }
}

impl Config {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let source = std::fs::read_to_string(path).map_err(|err| ConfigError {
            file: path.to_path_buf(),
            line: None,
            column: None,
            message: format!("cannot read the configuration: {err}"),
        })?;
        Config::parse(&source, path)
    }

    /// Checks `source`, the text of the file at `path` (module doc).
    pub fn parse(source: &str, path: &Path) -> Result<Config, ConfigError> {
        let checker = Checker { file: path, source };
        let raw: RawConfig = toml::from_str(source).map_err(|err| {
            ConfigError::at(path, source, err.span(), err.message().trim().to_string())
        })?;
        let listen = checker.address(&raw.listen, "listen")?;
        let admin = raw
            .admin
            .as_ref()
            .map(|a| checker.address(a, "admin"))
            .transpose()?;
        let shutdown_timeout = checker.seconds(
            &raw.shutdown_timeout,
            "shutdown_timeout",
            DEFAULT_SHUTDOWN_TIMEOUT,
        )?;
        if raw.routes.is_empty() {
            return Err(ConfigError::at(
                path,
                source,
                None,
                "no [[route]]: the gateway would have nothing to do",
            ));
        }
        let mut routes: Vec<RouteConfig> = Vec::new();
        for raw_route in &raw.routes {
            let route = checker.route(raw_route)?;
            if routes.iter().any(|r| r.prefix == route.prefix) {
                return Err(checker.error(
                    raw_route.get_ref().prefix.span(),
                    format!("prefix \"{}\" is used by an earlier route", route.prefix),
                ));
            }
            routes.push(route);
        }
        Ok(Config {
            file: path.to_path_buf(),
            listen,
            admin,
            shutdown_timeout,
            routes,
        })
    }
}

/// A positive duration of under a billion seconds, from a number of
/// seconds or a string with a unit (module doc); `None` otherwise.
fn duration(raw: &RawDuration) -> Option<Duration> {
    let secs = match raw {
        RawDuration::Seconds(secs) => *secs,
        RawDuration::Text(text) => {
            let text = text.trim();
            let at = text
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(text.len());
            let (number, unit) = text.split_at(at);
            let scale = match unit.trim() {
                "ms" => 0.001,
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                _ => return None,
            };
            number.parse::<f64>().ok()? * scale
        }
    };
    (secs.is_finite() && secs > 0.0 && secs < 1e9).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("gw.toml"))
    }

    const GOOD: &str = r#"
listen = "127.0.0.1:8080"
admin = "127.0.0.1:9901"
[[route]]
prefix = "/api"
balancer = "weighted_round_robin"
middleware = ["request_id", "rate_limit", "auth"]
upstreams = [ { addr = "127.0.0.1:9001", weight = 5 }, { addr = "127.0.0.1:9002" } ]
[route.rate_limit]
rate = 100
burst = 20
[route.auth]
tokens = ["s3cret"]

[[route]]
prefix = "/ws"
balancer = "consistent_hash"
hash_key = "query:room"
upstreams = [ { addr = "127.0.0.1:9003" } ]
"#;

    #[test]
    fn the_issues_example_is_accepted() {
        let config = parse(GOOD).unwrap();
        assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.admin, Some("127.0.0.1:9901".parse().unwrap()));
        let api = &config.routes[0];
        assert_eq!(api.backends[0].weight, 5);
        assert_eq!(api.backends[1].weight, 1);
        assert_eq!(api.middleware.len(), 3);
        assert!(
            matches!(api.middleware[1], MiddlewareConfig::RateLimit { rate, burst: 20 } if rate == 100.0)
        );
        assert_eq!(config.routes[1].hash_key, HashKey::Query("room".into()));
    }

    /// The error for `text` with `from` replaced by `to`.
    fn error_with(from: &str, to: &str) -> String {
        assert!(GOOD.contains(from), "{from}");
        parse(&GOOD.replacen(from, to, 1)).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_file_line_and_problem() {
        let err = error_with(
            "balancer = \"weighted_round_robin\"",
            "balancer = \"fastest\"",
        );
        assert!(
            err.starts_with("gw.toml:6:12: unknown balancer \"fastest\""),
            "{err}"
        );
        let err = error_with("\"auth\"]", "\"auht\"]");
        assert!(
            err.starts_with("gw.toml:7:") && err.contains("unknown middleware \"auht\""),
            "{err}"
        );
        let err = error_with("weight = 5", "weight = 0");
        assert!(
            err.starts_with("gw.toml:8:") && err.contains("weight 0"),
            "{err}"
        );
        let err = error_with("addr = \"127.0.0.1:9002\"", "addr = \"nowhere\"");
        assert!(
            err.starts_with("gw.toml:8:") && err.contains("\"nowhere\""),
            "{err}"
        );
        let err = error_with("prefix = \"/api\"", "prefix = \"api\"");
        assert!(err.starts_with("gw.toml:5:"), "{err}");
        let err = error_with("hash_key = \"query:room\"", "hash_key = \"room\"");
        assert!(
            err.starts_with("gw.toml:18:") && err.contains("unknown hash_key"),
            "{err}"
        );
        let err = error_with("prefix = \"/ws\"", "prefix = \"/api\"");
        assert!(
            err.starts_with("gw.toml:16:") && err.contains("earlier route"),
            "{err}"
        );
    }

    #[test]
    fn syntax_errors_and_unknown_keys_have_lines_too() {
        let err = error_with("burst = 20", "burst = ");
        assert!(err.starts_with("gw.toml:11:"), "{err}");
        let err = error_with("burst = 20", "burts = 20");
        assert!(
            err.starts_with("gw.toml:11:") && err.contains("burts"),
            "{err}"
        );
        let err = error_with("tokens = [\"s3cret\"]", "tokens = []");
        assert!(err.starts_with("gw.toml:13:"), "{err}");
    }

    #[test]
    fn tables_and_lists_must_agree() {
        let err = error_with(
            "middleware = [\"request_id\", \"rate_limit\", \"auth\"]",
            "middleware = [\"request_id\", \"auth\"]",
        );
        assert!(err.contains("[route.rate_limit] is set"), "{err}");
        let err = error_with("[route.auth]\ntokens = [\"s3cret\"]\n", "");
        assert!(err.contains("needs a [route.auth] table"), "{err}");
        let err = error_with("balancer = \"consistent_hash\"", "balancer = \"random\"");
        assert!(err.contains("only used by the consistent_hash"), "{err}");
    }

    #[test]
    fn a_file_without_routes_is_refused() {
        let err = parse("listen = \"127.0.0.1:1\"\n").unwrap_err();
        assert_eq!(err.line, None);
        assert!(err.to_string().starts_with("gw.toml: no [[route]]"));
    }

    #[test]
    fn durations_are_seconds_or_strings_with_units() {
        let secs = |raw: RawDuration| duration(&raw);
        assert_eq!(
            secs(RawDuration::Seconds(2.0)),
            Some(Duration::from_secs(2))
        );
        let text = |t: &str| duration(&RawDuration::Text(t.into()));
        assert_eq!(text("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(text("2s"), Some(Duration::from_secs(2)));
        assert_eq!(text("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(text("1m"), Some(Duration::from_secs(60)));
        assert_eq!(text("1h"), Some(Duration::from_secs(3600)));
        for bad in ["2", "s", "0s", "-1s", "2 days", "2x"] {
            assert_eq!(text(bad), None, "{bad}");
        }
        assert_eq!(secs(RawDuration::Seconds(0.0)), None);
        let config = parse(&GOOD.replacen(
            "admin = \"127.0.0.1:9901\"",
            "admin = \"127.0.0.1:9901\"\nshutdown_timeout = 3",
            1,
        ))
        .unwrap();
        assert_eq!(config.shutdown_timeout, Duration::from_secs(3));
        assert_eq!(
            parse(GOOD).unwrap().shutdown_timeout,
            DEFAULT_SHUTDOWN_TIMEOUT
        );
        let err = error_with("burst = 20", "burst = 20\n[route.x]");
        assert!(err.contains("unknown field"), "{err}");
        let err = parse(&GOOD.replacen(
            "admin = \"127.0.0.1:9901\"",
            "shutdown_timeout = \"soon\"",
            1,
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("gw.toml:3:") && err.contains("shutdown_timeout"),
            "{err}"
        );
    }

    #[test]
    fn health_checks_have_nginx_plus_defaults_and_checked_values() {
        let with = |check: &str| {
            parse(&GOOD.replacen(
                "upstreams = [ { addr = \"127.0.0.1:9003\" } ]",
                &format!("upstreams = [ {{ addr = \"127.0.0.1:9003\" }} ]\nhealth_check = {check}"),
                1,
            ))
        };
        let config = with("{ path = \"/health\", interval = \"2s\", timeout = 0.5 }").unwrap();
        assert!(config.routes[0].health_check.is_none());
        let check = config.routes[1].health_check.clone().unwrap();
        assert_eq!(check.path, "/health");
        assert_eq!(check.interval, Duration::from_secs(2));
        assert_eq!(check.timeout, Duration::from_millis(500));
        assert_eq!((check.fails, check.passes), (1, 1));
        let check = with("{}").unwrap().routes[1].health_check.clone().unwrap();
        assert_eq!(check, HealthCheckConfig::default());
        assert_eq!(check.path, "/");
        assert_eq!(check.interval, Duration::from_secs(5));
        for (bad, says) in [
            ("{ path = \"health\" }", "must start with /"),
            ("{ interval = \"0s\" }", "health_check interval"),
            ("{ fails = 0 }", "at least 1"),
            ("{ every = 1 }", "unknown field"),
        ] {
            let err = with(bad).unwrap_err().to_string();
            assert!(
                err.starts_with("gw.toml:20:") && err.contains(says),
                "{bad}: {err}"
            );
        }
    }
}
