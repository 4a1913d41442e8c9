//! The processes gatewaybench starts — the backends, each proxy under
//! test, wrk — and what it reads of them in `/proc`.
//!
//! Every process is held by a [`Process`], which stops it when dropped:
//! on success, on an error, on a panic. The machine is shared, so nothing
//! may outlive the run, and nothing the run did not start may be touched:
//! ports are asked of the kernel (port 0) rather than assumed free, and
//! only our own children and their children are ever signalled.

use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// What every backend answers, and so what a correct proxy relays.
pub const BODY: &str = "hello, world\n";

/// Idle connections each proxy keeps per backend: nginx's `keepalive 64`
/// of the gateway issue, the gateway's `keepalive`, Go's
/// `MaxIdleConnsPerHost` and hyperproxy's `--keepalive` set alike.
pub const KEEPALIVE: usize = 64;

/// How long a process may take to start answering, or to stop.
const START_TIMEOUT: Duration = Duration::from_secs(10);
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// A proxy under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// examples/gateway's `gateway` binary; workers are `GRT_MAXPROCS`.
    Grt,
    /// nginx's `proxy_pass` to an `upstream` block; workers are
    /// `worker_processes`.
    Nginx,
    /// benches/gateway/goproxy, Go's `httputil.ReverseProxy`; workers are
    /// `GOMAXPROCS`.
    Go,
    /// src/bin/hyperproxy.rs, hyper's server and hyper-util's pooled
    /// client on tokio; workers are tokio worker threads (`--workers`).
    Hyper,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Grt, Kind::Nginx, Kind::Go, Kind::Hyper];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Grt => "grt",
            Kind::Nginx => "nginx",
            Kind::Go => "go",
            Kind::Hyper => "hyper",
        }
    }

    /// How the pages call it.
    pub fn title(self) -> &'static str {
        match self {
            Kind::Grt => "grt gateway",
            Kind::Nginx => "nginx",
            Kind::Go => "Go httputil",
            Kind::Hyper => "tokio/hyper",
        }
    }
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Kind, String> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown proxy {s:?} (grt, nginx, go, hyper)"))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A child process, stopped when dropped: SIGTERM (every proxy shuts
/// down on it, nginx's master taking its workers along), then SIGKILL
/// after [`STOP_TIMEOUT`] for it and for the children it had (so no
/// nginx worker is left behind by a master that was killed).
pub struct Process {
    name: String,
    child: Child,
    /// Where its stdout and stderr go, if not to us.
    log: Option<PathBuf>,
}

impl Process {
    /// Starts `command`, its output into `log` if given; else its stdout
    /// piped to us (for [`Process::finish`]) and its stderr inherited.
    pub fn spawn(
        name: &str,
        mut command: Command,
        log: Option<PathBuf>,
    ) -> Result<Process, String> {
        command.stdin(Stdio::null());
        // SAFETY: the closure runs in the child between fork and exec,
        // and calls only prctl, which is async-signal-safe.
        unsafe {
            // Should this run itself be killed (no destructor runs then),
            // the kernel stops the child for it.
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        match &log {
            Some(path) => {
                let file =
                    File::create(path).map_err(|err| format!("{}: {err}", path.display()))?;
                let copy = file.try_clone().map_err(|err| err.to_string())?;
                command.stdout(file).stderr(copy);
            }
            None => {
                command.stdout(Stdio::piped()).stderr(Stdio::inherit());
            }
        }
        let child = command
            .spawn()
            .map_err(|err| format!("cannot start {name}: {err}"))?;
        Ok(Process {
            name: name.to_owned(),
            child,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its pid and its children's: what its CPU time and memory are the
    /// sum of (nginx's master and workers; the others are one process).
    pub fn tree(&self) -> Vec<u32> {
        std::iter::once(self.pid())
            .chain(children(self.pid()).into_iter().map(|(pid, _)| pid))
            .collect()
    }

    /// Whether it has exited, and if so what it said last.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(None) => None,
            Ok(Some(status)) => Some(format!(
                "{} exited ({status}){}",
                self.name,
                self.log_tail()
            )),
            Err(err) => Some(format!("{}: {err}", self.name)),
        }
    }

    /// The last lines of its log, to explain a failure.
    pub fn log_tail(&self) -> String {
        let Some(text) = self
            .log
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
        else {
            return String::new();
        };
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
        if tail.is_empty() {
            tail
        } else {
            format!("; its log says: {tail}")
        }
    }

    /// Waits for it to exit and returns what it wrote on stdout (for
    /// wrk, whose report is the output).
    pub fn finish(mut self) -> Result<String, String> {
        let mut out = String::new();
        if let Some(mut stdout) = self.child.stdout.take() {
            stdout
                .read_to_string(&mut out)
                .map_err(|err| format!("reading {}'s output: {err}", self.name))?;
        }
        let status = self.child.wait().map_err(|err| err.to_string())?;
        if status.success() {
            Ok(out)
        } else {
            Err(format!("{} failed ({status}): {out}", self.name))
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let kids = children(self.pid());
        // SAFETY: kill only sends a signal, to our own child, which has
        // not been reaped (try_wait said so), so its pid is still ours.
        unsafe { libc::kill(self.pid() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            eprintln!(
                "gatewaybench: {} did not stop on SIGTERM; killing it",
                self.name
            );
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        for (pid, started) in kids {
            // Only if the pid still names the same process (same start
            // time): an orphaned worker, not a stranger who got its pid.
            if start_time(pid) == Some(started) {
                // SAFETY: kill only sends a signal.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            }
        }
    }
}

/// The fields of `/proc/PID/stat` after the command name (which may hold
/// spaces), so that field N of proc(5) is at index N - 3.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// When `pid` started, in clock ticks since boot (proc(5) field 22).
fn start_time(pid: u32) -> Option<u64> {
    stat_fields(pid)?.get(22 - 3)?.parse().ok()
}

/// The children of `pid` (proc(5) field 4 is the parent), with their
/// start times.
fn children(pid: u32) -> Vec<(u32, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| {
            let fields = stat_fields(p)?;
            let parent: u32 = fields.get(4 - 3)?.parse().ok()?;
            (parent == pid).then_some((p, fields.get(22 - 3)?.parse().ok()?))
        })
        .collect()
}

/// Resident memory of `pid` in KiB (`VmRSS` of `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// A loopback address with a port nobody listens on now: the kernel's
/// pick for port 0, released for the process we start next.
pub fn free_addr() -> Result<SocketAddr, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|err| format!("cannot find a free port: {err}"))
}

/// One GET through `addr`, on its own connection: Ok if the answer is
/// status 200 with [`BODY`], byte for byte.
pub fn check(addr: SocketAddr) -> Result<(), String> {
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(1))
        .map_err(|err| format!("connect to {addr}: {err}"))?;
    conn.set_read_timeout(Some(Duration::from_secs(2)))
        .and_then(|()| {
            conn.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        })
        .map_err(|err| format!("send to {addr}: {err}"))?;
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer)
        .map_err(|err| format!("read from {addr}: {err}"))?;
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(&answer) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => {
            return Err(format!(
                "not an HTTP response: {:?}",
                String::from_utf8_lossy(&answer)
            ))
        }
    };
    let body = &answer[head..];
    if response.code == Some(200) && body == BODY.as_bytes() {
        Ok(())
    } else {
        Err(format!(
            "answered status {:?} with body {:?}, not 200 with {BODY:?}",
            response.code,
            String::from_utf8_lossy(body)
        ))
    }
}

/// Waits until `process` answers correctly at `addr` ([`check`]); fails
/// if it exits first or keeps answering wrongly for [`START_TIMEOUT`].
pub fn wait_ready(process: &mut Process, addr: SocketAddr) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(exit) = process.exited() {
            return Err(exit);
        }
        match check(addr) {
            Ok(()) => return Ok(()),
            Err(err) if Instant::now() >= deadline => {
                return Err(format!(
                    "{} did not answer correctly within {START_TIMEOUT:?}: {err}{}",
                    process.name,
                    process.log_tail()
                ))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// The programs and the scratch directory the proxies are started from.
pub struct Tools {
    /// examples/gateway's binary.
    pub gateway: PathBuf,
    /// goproxy's binary, if Go was there to build it.
    pub goproxy: Option<PathBuf>,
    /// hyperproxy's binary, if the run measures it.
    pub hyperproxy: Option<PathBuf>,
    /// Configurations, logs, pid files and nginx's temp paths.
    pub dir: PathBuf,
}

impl Tools {
    /// Starts the backends: one nginx, one worker, answering [`BODY`] on
    /// two ports, shared by every proxy for the whole run.
    pub fn backends(&self) -> Result<(Process, [SocketAddr; 2]), String> {
        let first = free_addr()?;
        // The kernel may hand a released port out again at once.
        let second = loop {
            let addr = free_addr()?;
            if addr != first {
                break addr;
            }
        };
        let addrs = [first, second];
        let servers: String = addrs
            .iter()
            .map(|addr| {
                format!(
                    "  server {{ listen {addr} backlog=4096; \
                     location / {{ return 200 \"{}\"; }} }}\n",
                    BODY.escape_default()
                )
            })
            .collect();
        let mut process = self.nginx("backends", 1, &servers)?;
        for addr in addrs {
            wait_ready(&mut process, addr)?;
        }
        Ok((process, addrs))
    }

    /// Starts a `kind` proxy with `workers` workers in front of
    /// `backends`, and waits until it relays their answer.
    pub fn proxy(
        &self,
        kind: Kind,
        workers: usize,
        backends: &[SocketAddr; 2],
    ) -> Result<(Process, SocketAddr), String> {
        let addr = free_addr()?;
        let name = format!("{kind}-{workers}");
        // goproxy's and hyperproxy's `--upstreams`.
        let upstream_list = || {
            backends
                .iter()
                .map(SocketAddr::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut process = match kind {
            Kind::Grt => {
                let config = self.dir.join(format!("{name}.toml"));
                let upstreams = backends
                    .iter()
                    .map(|b| format!("{{ addr = \"{b}\" }}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                write(
                    &config,
                    &format!(
                        "listen = \"{addr}\"\n\n[[route]]\nprefix = \"/\"\n\
                         balancer = \"round_robin\"\nkeepalive = {KEEPALIVE}\n\
                         upstreams = [ {upstreams} ]\n"
                    ),
                )?;
                let mut command = Command::new(&self.gateway);
                command
                    .arg("--config")
                    .arg(&config)
                    .env("GRT_MAXPROCS", workers.to_string());
                self.spawn(&name, command)?
            }
            Kind::Nginx => {
                // keepalive_requests: nginx closes an upstream connection
                // after 1,000 requests by default; the others keep theirs.
                let servers = backends
                    .iter()
                    .map(|b| format!("server {b}; "))
                    .collect::<String>();
                let http = format!(
                    "  upstream backends {{ {servers}keepalive {KEEPALIVE}; \
                     keepalive_requests 1000000; }}\n  \
                     server {{ listen {addr} backlog=4096; location / {{ \
                     proxy_pass http://backends; proxy_http_version 1.1; \
                     proxy_set_header Connection \"\"; }} }}\n"
                );
                self.nginx(&name, workers, &http)?
            }
            Kind::Go => {
                let goproxy = self
                    .goproxy
                    .as_ref()
                    .ok_or("goproxy was not built (no Go)")?;
                let mut command = Command::new(goproxy);
                command
                    .args(["-listen", &addr.to_string(), "-upstreams", &upstream_list()])
                    .args(["-keepalive", &KEEPALIVE.to_string()])
                    .env("GOMAXPROCS", workers.to_string());
                self.spawn(&name, command)?
            }
            Kind::Hyper => {
                let hyperproxy = self.hyperproxy.as_ref().ok_or("hyperproxy was not built")?;
                let mut command = Command::new(hyperproxy);
                command
                    .args([
                        "--listen",
                        &addr.to_string(),
                        "--upstreams",
                        &upstream_list(),
                    ])
                    .args(["--keepalive", &KEEPALIVE.to_string()])
                    .args(["--workers", &workers.to_string()]);
                self.spawn(&name, command)?
            }
        };
        wait_ready(&mut process, addr)?;
        Ok((process, addr))
    }

    fn spawn(&self, name: &str, command: Command) -> Result<Process, String> {
        Process::spawn(name, command, Some(self.dir.join(format!("{name}.log"))))
    }

    /// Starts an nginx whose `http` block holds `http`, with everything
    /// it writes kept in [`Tools::dir`], so that it runs as any user.
    fn nginx(&self, name: &str, workers: usize, http: &str) -> Result<Process, String> {
        let dir = self.dir.display();
        let temp: String = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
            .iter()
            .map(|t| format!("  {t}_temp_path {dir}/{name}-{t};\n"))
            .collect();
        // Client keep-alive connections last the whole run (the default
        // closes them after 1,000 requests; wrk's last as long as the run).
        let config = self.dir.join(format!("{name}.conf"));
        write(
            &config,
            &format!(
                "worker_processes {workers};\ndaemon off;\nmaster_process on;\n\
                 pid {dir}/{name}.pid;\nerror_log {dir}/{name}.log warn;\n\
                 events {{ worker_connections 4096; }}\n\
                 http {{\n  access_log off;\n  keepalive_requests 1000000;\n{temp}{http}}}\n"
            ),
        )?;
        let mut command = Command::new("nginx");
        command
            .arg("-p")
            .arg(&self.dir)
            .arg("-e")
            .arg(self.dir.join(format!("{name}.log")))
            .arg("-c")
            .arg(&config);
        self.spawn(name, command)
    }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|err| format!("{}: {err}", path.display()))
}
