//! The configuration file's shape, as serde reads it: every table and key
//! the file may hold, nothing checked beyond types. Every struct denies
//! unknown keys, so a typo (`balncer = …`) is an error with its line, not
//! a setting silently ignored. Values that later checks may reject are
//! `Spanned`, to point at them.
//!
//! The keys named in issue 6 (`listen`, `admin`, `[[route]]` with
//! `prefix`, `balancer`, `hash_key`, `middleware`, `upstreams`,
//! `[route.rate_limit]`, `[route.auth]`) are as given there; the others
//! are optional extras with nginx's names where nginx has one.

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Address the gateway serves: `"127.0.0.1:8080"`.
    pub listen: Spanned<String>,
    /// Address of the admin endpoint (`/metrics`, `/healthz`), if any.
    pub admin: Option<Spanned<String>>,
    /// How long a graceful shutdown waits for requests in flight (Go's
    /// `Shutdown` context; nginx's `worker_shutdown_timeout`).
    pub shutdown_timeout: Option<Spanned<RawDuration>>,
    #[serde(default, rename = "route")]
    pub routes: Vec<Spanned<RawRoute>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// Path prefix; the longest matching prefix wins.
    pub prefix: Spanned<String>,
    /// Balancer name (default `round_robin`).
    pub balancer: Option<Spanned<String>>,
    /// What `consistent_hash` hashes.
    pub hash_key: Option<Spanned<String>>,
    /// Middleware names, outermost first.
    #[serde(default)]
    pub middleware: Vec<Spanned<String>>,
    pub upstreams: Spanned<Vec<Spanned<RawUpstream>>>,
    pub rate_limit: Option<Spanned<RawRateLimit>>,
    pub auth: Option<Spanned<RawAuth>>,
    pub cors: Option<Spanned<RawCors>>,
    pub headers: Option<Spanned<RawHeaders>>,
    pub ip_filter: Option<Spanned<RawIpFilter>>,
    /// Largest request body in bytes, else 413 (nginx's
    /// `client_max_body_size`); no limit if absent.
    pub max_body: Option<Spanned<u64>>,
    /// nginx's `proxy_connect_timeout`.
    pub connect_timeout: Option<Spanned<RawDuration>>,
    /// nginx's `proxy_read_timeout`.
    pub read_timeout: Option<Spanned<RawDuration>>,
    /// nginx's `proxy_send_timeout`.
    pub write_timeout: Option<Spanned<RawDuration>>,
    /// Idle connections kept per backend (nginx's `keepalive`).
    pub keepalive: Option<Spanned<usize>>,
    /// Passive health: failures that mark a backend down (nginx's
    /// `max_fails`).
    pub max_fails: Option<Spanned<u32>>,
    /// Passive health: nginx's `fail_timeout`.
    pub fail_timeout: Option<Spanned<RawDuration>>,
    /// Active health checks (nginx Plus's `health_check`).
    pub health_check: Option<Spanned<RawHealthCheck>>,
}

/// A duration: a number of seconds (`2`, `0.25`), or a string with a unit
/// (`"2s"`, `"250ms"`, `"1m"`, `"1h"`), checked in config/mod.rs.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawDuration {
    Seconds(f64),
    Text(String),
}

/// `health_check = { path = "/health", interval = "2s", timeout = "1s" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealthCheck {
    /// The path each check asks for (default `/`).
    pub path: Option<Spanned<String>>,
    /// From one check's start to the next's (default 5 s).
    pub interval: Option<Spanned<RawDuration>>,
    /// For the whole check: connect, send, status line (default 1 s).
    pub timeout: Option<Spanned<RawDuration>>,
    /// Failed checks in a row that take a backend out (default 1).
    pub fails: Option<Spanned<u32>>,
    /// Passed checks in a row that bring it back (default 1).
    pub passes: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    pub addr: Spanned<String>,
    #[serde(default = "one")]
    pub weight: Spanned<u32>,
}

fn one() -> Spanned<u32> {
    Spanned::new(0..0, 1)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    /// Tokens per second per client IP.
    pub rate: Spanned<f64>,
    /// Bucket size.
    pub burst: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    pub tokens: Spanned<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCors {
    pub origins: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeaders {
    #[serde(default)]
    pub request_set: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub request_remove: Vec<String>,
    #[serde(default)]
    pub response_set: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub response_remove: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIpFilter {
    #[serde(default)]
    pub allow: Vec<Spanned<String>>,
    #[serde(default)]
    pub deny: Vec<Spanned<String>>,
}
