//! Active health checks: every backend of a route that asks for them is
//! sent `GET <path>` at a fixed interval, and the verdicts go to the
//! route's balancer through [`Balancer::set_up`] (nginx Plus's
//! `health_check`, Envoy's active health checking).
//!
//! ```toml
//! [[route]]
//! prefix = "/api"
//! upstreams = [ { addr = "127.0.0.1:9001" }, { addr = "127.0.0.1:9002" } ]
//! health_check = { path = "/health", interval = "2s", timeout = "1s", fails = 2, passes = 1 }
//! ```
//!
//! A check passes when a status line arrives within `timeout` (connect,
//! send and read included) and its status is 2xx or 3xx, as in nginx
//! Plus. `fails` failed checks in a row take the backend out; `passes`
//! passed checks in a row bring it back. Defaults (config/mod.rs): path
//! `/`, interval 5 s, timeout 1 s, fails 1, passes 1.
//!
//! Passive and active health meet in the balancer (balance/health.rs): an
//! active "down" holds until an active "up", whatever requests do
//! meanwhile; an active "up" clears the passive record. The checker calls
//! `set_up` only when its own verdict changes, so a backend that passive
//! health took out while its health endpoint still answers is left to
//! passive health's probe.
//!
//! One task per backend, parked in a timer between checks: a check is a
//! plain sequence of blocking calls (connect, write, read a head) on grt
//! sockets, and a thousand backends cost a thousand parked tasks. Each
//! check uses a new connection, closed after it (`Connection: close`), so
//! it tests what a request's connect would meet, and the pool's idle
//! connections are not disturbed. The first check runs at once when a
//! gateway starts (or is reloaded); until then every backend counts as up.
//!
//! Stopping: the tasks of one gateway wait on one channel between checks;
//! [`HealthChecks`] holds its only sender, and dropping it (a reload
//! replacing the gateway, or the shutdown) closes the channel, which ends
//! every task at its next wait.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use grt::chan::{self, Receiver, Sender};
use grt::net::TcpStream;

use crate::balance::Balancer;
use crate::http::{
    read_response_head, response_body_kind, BufConn, Decoder, HeadError, HeadLimits,
};

/// Largest response head a check reads.
const MAX_HEAD: usize = 8 * 1024;

/// Most body bytes a check reads and drops before closing, so that a
/// small body is consumed and the close is a clean FIN rather than a
/// reset.
const MAX_DRAIN: usize = 64 * 1024;

/// How one route checks its backends (module doc; the config's
/// `health_check` table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheckConfig {
    /// What `GET` asks for.
    pub path: String,
    /// From the start of one check to the start of the next, per backend.
    pub interval: Duration,
    /// For a whole check.
    pub timeout: Duration,
    /// Failed checks in a row that take a backend out.
    pub fails: u32,
    /// Passed checks in a row that bring it back.
    pub passes: u32,
}

impl Default for HealthCheckConfig {
    /// nginx Plus's defaults (`uri=/ interval=5 fails=1 passes=1`); its
    /// timeout is the proxy's, 60 s, and 1 s suits a check better.
    fn default() -> Self {
        HealthCheckConfig {
            path: "/".to_string(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
            fails: 1,
            passes: 1,
        }
    }
}

/// The running checks of one gateway; dropping this stops them (module
/// doc).
pub struct HealthChecks {
    /// Never sent on: its drop closes the channel the tasks wait on.
    _stop: Sender<()>,
    /// What each task waits on between checks (a clone each).
    stopped: Receiver<()>,
}

impl HealthChecks {
    /// A set with no checks yet.
    pub fn new() -> HealthChecks {
        let (stop, stopped) = chan::bounded(0);
        HealthChecks {
            _stop: stop,
            stopped,
        }
    }

    /// Starts checking backend `index` of `balancer`, at `addr`, as
    /// `config` says; `route` names it in log lines. Must be called from
    /// a grt task.
    pub fn spawn(
        &self,
        route: &str,
        addr: SocketAddr,
        index: usize,
        balancer: Arc<dyn Balancer>,
        config: HealthCheckConfig,
    ) {
        let checker = Checker {
            route: route.to_string(),
            addr,
            index,
            balancer,
            config,
            stopped: self.stopped.clone(),
        };
        let spawned = grt::Builder::new()
            .name("gateway-health-check")
            .spawn(move || checker.run());
        if let Err(err) = spawned {
            eprintln!("gateway: cannot start the health check of {addr}: {err}");
        }
    }
}

impl Default for HealthChecks {
    fn default() -> Self {
        HealthChecks::new()
    }
}

/// One backend's checker task.
struct Checker {
    /// The route's prefix, for log lines.
    route: String,
    /// The backend's address.
    addr: SocketAddr,
    /// The backend's index in `balancer`.
    index: usize,
    /// Where verdicts go.
    balancer: Arc<dyn Balancer>,
    config: HealthCheckConfig,
    /// Closed when the checks are to stop.
    stopped: Receiver<()>,
}

impl Checker {
    /// Checks, reports changes of verdict, waits; until stopped.
    fn run(self) {
        let mut up = true;
        // Checks in a row that disagree with `up`.
        let mut streak = 0;
        loop {
            let started = Instant::now();
            let verdict = check(self.addr, &self.config.path, self.config.timeout);
            if verdict.is_ok() == up {
                streak = 0;
            } else {
                streak += 1;
                let needed = if up {
                    self.config.fails
                } else {
                    self.config.passes
                };
                if streak >= needed {
                    up = !up;
                    streak = 0;
                    self.balancer.set_up(self.index, up);
                    match &verdict {
                        Ok(status) => eprintln!(
                            "gateway: health check: backend {} of route {} is up ({} answered {status})",
                            self.addr, self.route, self.config.path
                        ),
                        Err(why) => eprintln!(
                            "gateway: health check: backend {} of route {} is down: {why}",
                            self.addr, self.route
                        ),
                    }
                }
            }
            let next = started + self.config.interval;
            let wait = next.saturating_duration_since(Instant::now());
            grt::select! {
                recv(self.stopped) -> _ => return,
                default(wait) => {}
            }
        }
    }
}

/// One check (module doc): the status, if it passed, or why not.
pub fn check(addr: SocketAddr, path: &str, timeout: Duration) -> Result<u16, String> {
    let deadline = Instant::now() + timeout;
    let stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|err| format!("cannot connect: {err}"))?;
    let _ = stream.set_write_deadline(Some(deadline));
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: grt-gateway-health-check\r\nConnection: close\r\n\r\n"
    );
    (&stream)
        .write_all(request.as_bytes())
        .map_err(|err| format!("cannot send the check: {err}"))?;
    let mut conn = BufConn::new(stream, MAX_HEAD);
    let limits = HeadLimits {
        max_bytes: MAX_HEAD,
        first_byte_timeout: None,
        head_timeout: deadline.saturating_duration_since(Instant::now()),
    };
    let head = read_response_head(&mut conn, &limits).map_err(|err| match err {
        HeadError::Idle | HeadError::TimedOut => format!("no answer within {timeout:?}"),
        HeadError::Closed => "the connection closed without an answer".to_string(),
        HeadError::TooLarge => "the response head is too large".to_string(),
        HeadError::Malformed(why) => format!("a malformed response: {why}"),
        HeadError::Io(err) => format!("the check failed: {err}"),
    })?;
    // Read a small body to its end, so that the close is not a reset.
    if let Ok((kind, _)) = response_body_kind("GET", &head) {
        let _ = conn.get_ref().set_read_deadline(Some(deadline));
        let mut decoder = Decoder::new(kind);
        let mut sink = [0u8; 4096];
        let mut drained = 0;
        while drained < MAX_DRAIN {
            match decoder.read(&mut conn, &mut sink) {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    }
    match head.status {
        200..=399 => Ok(head.status),
        status => Err(format!("{path} answered {status}")),
    }
}
