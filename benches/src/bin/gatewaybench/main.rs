//! gatewaybench: examples/gateway (grt) against nginx, Go's
//! `httputil.ReverseProxy` and a tokio/hyper proxy as reverse proxies —
//! same backends, same client, one run.
//!
//!     cargo run --release -p grt-benches --bin gatewaybench            # the full comparison
//!     cargo run --release -p grt-benches --bin gatewaybench -- --quick # smoke: a few seconds
//!
//! # What runs
//! Two backends: one nginx with one worker answering `hello, world\n` on
//! two ports, started once and shared by every proxy for the whole run
//! (so every proxy is measured against the very same backends). In front
//! of them, round robin, with 64 idle connections kept per backend:
//! - **grt**: examples/gateway's `gateway` (built by this program with
//!   `cargo build --profile release-lto -p grt-gateway`: release with
//!   fat LTO, as a server is built to deploy; then copied, so that a
//!   rebuild by someone else during the run changes nothing),
//!   `GRT_MAXPROCS` = workers;
//! - **nginx**: `proxy_pass` to an `upstream` with `keepalive 64`,
//!   `proxy_http_version 1.1`, `proxy_set_header Connection ""`,
//!   `worker_processes` = workers;
//! - **go**: benches/gateway/goproxy (`go build` into the target dir),
//!   `GOMAXPROCS` = workers; skipped, with a note, when `go` is missing;
//! - **hyper**: src/bin/hyperproxy.rs, hyper's server and hyper-util's
//!   pooled client on tokio, the Rust async world's proxy (built and
//!   copied like the gateway, `cargo build --profile release-lto -p
//!   grt-benches --bin hyperproxy`), `--workers` = workers.
//!
//! The client is `wrk -t1 -cN --latency`: Debian's, so that anyone can
//! rerun it, and one thread, so that it takes one of the machine's two
//! cores. On a 2-core machine client, backends and proxy share the cores,
//! so requests/s is what the proxy gets out of that share; the proxy's
//! CPU per request (its `/proc/PID/stat` times over the run, divided by
//! the requests) is the figure that does not depend on the share.
//!
//! # One measurement
//! A fresh proxy process, checked (one GET: status 200 and the body, byte
//! for byte), an unmeasured wrk warm-up, a wait for the machine to be
//! quiet, the measured wrk run (RSS read half way through: `VmRSS`,
//! nginx's master and workers summed), the answer checked again, the
//! proxy stopped. wrk does not check bodies, hence the checks around it;
//! a run in which wrk counted socket errors or non-2xx answers is
//! reported as failed, with its numbers. The CPU used meanwhile by the
//! rest of the machine (not proxy, backends or wrk) is measured too; if
//! it exceeds `--max-other` cores the point is measured again, and the
//! least disturbed try counts (the machine is shared).
//!
//! Every point is measured in `--rounds` rounds; in each round every
//! proxy runs once per connection count, in an order that rotates from
//! round to round. The page, docs/benchmarks-gateway.md, has the medians,
//! the ranges, and the ratios the gateway issue asks for (grt against
//! nginx at the same worker count, grt against Go, and against
//! tokio/hyper, the optional column). How to read it is in
//! docs/benchmarks.md, "Gateway".
//!
//! Options (defaults in brackets):
//!     --conns 50,256        wrk connections
//!     --workers 1,2         grt Ps = nginx workers = GOMAXPROCS = tokio workers
//!     --proxies grt,nginx,go,hyper
//!     --rounds 3            repetitions of every point
//!     --secs 5              measured wrk run, whole seconds (wrk's unit)
//!     --warm-up 1           unmeasured wrk run before it, seconds (0: none)
//!     --gateway PATH        measure this gateway binary; do not build one
//!     --out DIR             where the page goes [docs/ of the repo]
//!     --no-docs             print, write nothing
//!     --max-other 0.25      measure a point again if the rest of the machine
//!     --tries 3             used more cores than this, this many times at most
//!     --patience 10         seconds to wait per point for a quiet machine
//!
//! `--quick` (or `GRT_BENCH_QUICK=1`), for benches/smoke.sh: 10
//! connections for 1 s, 1 worker, one round, no warm-up, every proxy
//! whose tools are installed; writes nothing, and fails only if a proxy
//! does not answer correctly. It asserts nothing about speed.
//!
//! Either run records its headline figures in
//! target/bench-results/gateway.json, for `bench-all`'s summary
//! (grt_benches::results).

mod page;
mod proxy;
mod wrk;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use grt_benches::host::{
    command_line, date, loadavg, machine, parse_arg as parse, usage_error as usage, wait_for_quiet,
    Retry,
};
use grt_benches::net::load::{machine_busy, process_cpu, rusage_cpu};
use grt_benches::net::raise_fd_limit;
use grt_benches::results::{repo, Part, Results};

use page::{Context, Point, Sample};
use proxy::{Kind, Process, Tools};

const INSTALL: &str = "apt-get install wrk nginx golang-go";

/// The run's settings, from the command line (the module comment has
/// the flags and their defaults).
struct Settings {
    /// wrk's `-c` values.
    conns: Vec<usize>,
    /// Threads or processes each proxy gets.
    workers: Vec<usize>,
    /// The proxies asked for (Go's is dropped later if it cannot be built).
    proxies: Vec<Kind>,
    /// Times every point is measured.
    rounds: usize,
    /// wrk's `-d` for the measured run and for the warm-up, whole seconds
    /// (wrk takes no fractions); a warm-up of 0 is none.
    secs: u64,
    warm_up: u64,
    /// A gateway binary to measure instead of building one.
    gateway: Option<PathBuf>,
    /// The directory the page goes to; none: print it.
    out: Option<PathBuf>,
    /// The CI smoke: fail only on wrong answers.
    quick: bool,
    /// When a point is measured again (`--max-other`, `--tries`,
    /// `--patience`).
    retry: Retry,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let settings = settings(&args);
    let command = command_line("gatewaybench");
    // Every process this run starts is stopped when `run` returns (their
    // guards drop), so the exit comes after it, never inside.
    if let Err(err) = run(&settings, command) {
        eprintln!("gatewaybench: {err}");
        std::process::exit(1);
    }
}

fn settings(args: &[String]) -> Settings {
    let flag = |name: &str| {
        args.iter().position(|a| a == name).map(|i| {
            args.get(i + 1)
                .cloned()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        })
    };
    let quick = args.iter().any(|a| a == "--quick") || grt_benches::quick();
    let value = |name: &str, full: &str, smoke: &str| {
        flag(name).unwrap_or_else(|| if quick { smoke } else { full }.into())
    };
    let list = |name: &str, full: &str, smoke: &str| -> Vec<String> {
        value(name, full, smoke)
            .split(',')
            .map(str::to_owned)
            .collect()
    };
    Settings {
        conns: list("--conns", "50,256", "10")
            .iter()
            .map(|s| parse(s))
            .collect(),
        workers: list("--workers", "1,2", "1")
            .iter()
            .map(|s| parse(s))
            .collect(),
        proxies: list("--proxies", "grt,nginx,go,hyper", "grt,nginx,go,hyper")
            .iter()
            .map(|s| parse(s))
            .collect(),
        rounds: parse(&value("--rounds", "3", "1")),
        secs: parse(&value("--secs", "5", "1")),
        warm_up: parse(&value("--warm-up", "1", "0")),
        gateway: flag("--gateway").map(PathBuf::from),
        out: if quick || args.iter().any(|a| a == "--no-docs") {
            None
        } else {
            Some(flag("--out").map_or_else(|| repo().join("docs"), PathBuf::from))
        },
        quick,
        retry: Retry {
            max_other: parse(&value("--max-other", "0.25", "100")),
            tries: parse(&value("--tries", "3", "1")),
            patience: Duration::from_secs_f64(parse(&value("--patience", "10", "0"))),
        },
    }
}

/// A scratch directory removed when dropped; declared before the
/// processes that write into it, so that it outlives them.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(settings: &Settings, command: String) -> Result<(), String> {
    let missing: Vec<&str> = ["wrk", "nginx"]
        .into_iter()
        .filter(|tool| !on_path(tool))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{} not found on PATH; install with `{INSTALL}` (Go is optional)",
            missing.join(" and ")
        ));
    }
    let mut notes = Vec::new();
    let scratch =
        Scratch(std::env::temp_dir().join(format!("gatewaybench-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0).map_err(|err| format!("{}: {err}", scratch.0.display()))?;
    let tools = Tools {
        gateway: match &settings.gateway {
            Some(path) => path.clone(),
            // A copy: others may rebuild target/release-lto/gateway while
            // the run goes on, and every round must measure one binary.
            None => snapshot(&build("grt-gateway", "gateway")?, &scratch.0)?,
        },
        goproxy: if settings.proxies.contains(&Kind::Go) {
            build_goproxy().map_err(|why| notes.push(why)).ok()
        } else {
            None
        },
        // A copy, for the same reason; ours, so failing to build it fails
        // the run (Go is optional, cargo is not).
        hyperproxy: if settings.proxies.contains(&Kind::Hyper) {
            Some(snapshot(&build("grt-benches", "hyperproxy")?, &scratch.0)?)
        } else {
            None
        },
        dir: scratch.0.clone(),
    };
    let proxies: Vec<Kind> = settings
        .proxies
        .iter()
        .copied()
        .filter(|&k| k != Kind::Go || tools.goproxy.is_some())
        .collect();

    let fd_limit = raise_fd_limit();
    let settings_line = format!(
        "{} round(s); per point a fresh proxy, `wrk -t1 -cN -d{}s --latency` after a {} s \
         warm-up; measured again (up to {} tries) while the rest of the machine used more \
         than {:.2} cores, after waiting up to {:.0} s per point for it to drop under that \
         (the least disturbed try counts); workers = grt Ps = nginx worker_processes = \
         GOMAXPROCS = tokio worker threads; {} idle connections kept per backend by every proxy; backends: one \
         nginx, 1 worker, two ports; open-file limit {fd_limit}",
        settings.rounds,
        settings.secs,
        settings.warm_up,
        settings.retry.tries,
        settings.retry.max_other,
        settings.retry.patience.as_secs_f64(),
        proxy::KEEPALIVE,
    );
    let versions = format!(
        "{}; {}; {}",
        tool_version("nginx", &["-v"]),
        tool_version("wrk", &["-v"]),
        if tools.goproxy.is_some() {
            tool_version("go", &["version"])
        } else {
            "no Go".into()
        }
    );
    let load_before = loadavg();
    // Taken before the run: the tree may move while it lasts.
    let machine = machine();
    println!("gatewaybench: {machine}");
    println!("gatewaybench: {versions}");
    println!("gatewaybench: {settings_line}");
    for note in &notes {
        println!("gatewaybench: {note}");
    }

    let (backends, backend_addrs) = tools.backends()?;
    println!(
        "gatewaybench: backends (nginx pid {}) on {} and {}",
        backends.pid(),
        backend_addrs[0],
        backend_addrs[1]
    );
    let started = Instant::now();
    let mut points = Vec::new();
    for round in 0..settings.rounds {
        for &conns in &settings.conns {
            let mut order: Vec<(Kind, usize)> = settings
                .workers
                .iter()
                .flat_map(|&w| proxies.iter().map(move |&k| (k, w)))
                .collect();
            // Rotate who goes first, so that no proxy always follows
            // another (caches, the CPU's clock, the machine's other users).
            let first = round % order.len().max(1);
            order.rotate_left(first);
            for (kind, workers) in order {
                let result = settings.retry.least_disturbed(
                    |quiet_by| {
                        let result = measure(
                            &tools,
                            &backends,
                            &backend_addrs,
                            kind,
                            workers,
                            conns,
                            settings,
                            quiet_by,
                        );
                        print_point(kind, workers, conns, round, &result);
                        result
                    },
                    Sample::other_cores,
                );
                points.push(Point {
                    kind,
                    workers,
                    conns,
                    round,
                    result,
                });
            }
        }
    }
    drop(backends);

    let failed: Vec<&Point> = points.iter().filter(|p| p.result.is_err()).collect();
    println!(
        "gatewaybench: {} runs in {:.0} s, {} failed",
        points.len(),
        started.elapsed().as_secs_f64(),
        failed.len()
    );
    let ctx = Context {
        date: date(),
        machine,
        versions,
        command,
        settings: settings_line,
        notes,
        load_before,
        load_after: loadavg(),
    };
    let text = page::markdown(&points, &ctx);
    match &settings.out {
        Some(out) => {
            let path = out.join("benchmarks-gateway.md");
            std::fs::write(&path, &text).map_err(|err| format!("{}: {err}", path.display()))?;
            println!("gatewaybench: wrote {}", path.display());
        }
        // The whole page, for the log.
        None => println!("\n{text}"),
    }
    Results {
        part: Part::Gateway,
        date: ctx.date,
        command: ctx.command,
        quick: settings.quick,
        figures: page::figures(&points),
    }
    .save();
    if !failed.is_empty() {
        let list: Vec<String> = failed
            .iter()
            .map(|p| {
                format!(
                    "{}-{} conns={}: {}",
                    p.kind,
                    p.workers,
                    p.conns,
                    p.result.as_ref().err().map_or("", |e| e.as_str())
                )
            })
            .collect();
        return Err(format!(
            "{} run(s) failed:\n  {}",
            failed.len(),
            list.join("\n  ")
        ));
    }
    if settings.quick {
        println!("gatewaybench quick: every proxy answered correctly (speed not asserted)");
    }
    Ok(())
}

/// One measurement of `kind` with `workers` workers under `conns`
/// connections; the module comment says what it does in order.
#[allow(clippy::too_many_arguments)]
fn measure(
    tools: &Tools,
    backends: &Process,
    backend_addrs: &[std::net::SocketAddr; 2],
    kind: Kind,
    workers: usize,
    conns: usize,
    settings: &Settings,
    quiet_by: Instant,
) -> Result<Sample, String> {
    let (proxy, addr) = tools.proxy(kind, workers, backend_addrs)?;
    if settings.warm_up > 0 {
        wrk::start(addr, conns, settings.warm_up)?.finish()?;
    }
    wait_for_quiet(settings.retry.max_other, quiet_by);

    let (proxy_pids, backend_pids) = (proxy.tree(), backends.tree());
    let cpu = |pids: &[u32]| -> Result<f64, String> { pids.iter().map(|&p| process_cpu(p)).sum() };
    let before = (
        cpu(&proxy_pids)?,
        cpu(&backend_pids)?,
        rusage_cpu(libc::RUSAGE_CHILDREN),
        machine_busy()?,
    );
    let started = Instant::now();
    let run = wrk::start(addr, conns, settings.secs)?;
    std::thread::sleep(Duration::from_secs(settings.secs) / 2);
    let rss_kib = proxy_pids.iter().filter_map(|&p| proxy::rss_kib(p)).sum();
    let out = run.finish()?;
    let secs = started.elapsed().as_secs_f64();
    // wrk has been reaped, so RUSAGE_CHILDREN now holds its time.
    let after = (
        cpu(&proxy_pids)?,
        cpu(&backend_pids)?,
        rusage_cpu(libc::RUSAGE_CHILDREN),
        machine_busy()?,
    );

    proxy::check(addr).map_err(|err| format!("after the run: {err}"))?;
    let report = wrk::parse(&out)?;
    if report.socket_errors + report.bad_status > 0 {
        return Err(format!(
            "wrk counted {} socket errors and {} non-2xx/3xx answers ({:.0} req/s)",
            report.socket_errors,
            report.bad_status,
            report.per_sec()
        ));
    }
    let (proxy_cpu, backend_cpu, wrk_cpu) =
        (after.0 - before.0, after.1 - before.1, after.2 - before.2);
    Ok(Sample {
        report,
        secs,
        proxy_cpu,
        backend_cpu,
        wrk_cpu,
        other_cpu: (after.3 - before.3) - proxy_cpu - backend_cpu - wrk_cpu,
        rss_kib,
    })
}

fn print_point(
    kind: Kind,
    workers: usize,
    conns: usize,
    round: usize,
    result: &Result<Sample, String>,
) {
    let at = format!(
        "conns={conns:<4} round {} {kind:<5} workers={workers}",
        round + 1
    );
    match result {
        Ok(s) => println!(
            "{at} {:>7.0} req/s  p50 {:>6.0} µs  p99 {:>6.0} µs  proxy {:>5.1} µs/req {:.2} cores {:>5.1} MiB  wrk {:.2}  backends {:.2}  others {:.2}",
            s.report.per_sec(),
            s.report.p50_us,
            s.report.p99_us,
            s.proxy_us_per_req(),
            s.proxy_cpu / s.secs,
            s.rss_kib as f64 / 1024.0,
            s.wrk_cpu / s.secs,
            s.backend_cpu / s.secs,
            s.other_cores(),
        ),
        Err(err) => println!("{at} FAILED: {err}"),
    }
}

/// The cargo profile the proxies are built with: release plus fat LTO
/// and one codegen unit (the workspace Cargo.toml), as one builds a
/// server to deploy. It takes the gateway from about 17,100 to 15,600
/// instructions per proxied request; hyperproxy gets it too, so that both
/// Rust proxies are built alike. Not the workspace's release profile:
/// LTO over every binary of the workspace would slow every release build.
const PROFILE: &str = "release-lto";

/// `cargo build --profile PROFILE -p PACKAGE --bin BIN`, so that the run
/// measures the gateway (and hyperproxy) the tree holds, whatever
/// `cargo run` built; the binary lands in target/PROFILE.
fn build(package: &str, bin: &str) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    println!("gatewaybench: cargo build --profile {PROFILE} -p {package} --bin {bin}");
    let status = Command::new(cargo)
        .args([
            "build",
            "--profile",
            PROFILE,
            "-q",
            "-p",
            package,
            "--bin",
            bin,
        ])
        .current_dir(repo())
        .status()
        .map_err(|err| format!("cannot run cargo: {err}"))?;
    if !status.success() {
        return Err(format!("building {bin} failed ({status})"));
    }
    let profiles = target_dir()?
        .parent()
        .map(Path::to_path_buf)
        .ok_or("the target dir has no parent")?;
    Ok(profiles.join(PROFILE).join(bin))
}

/// Copies `binary` into `dir`.
fn snapshot(binary: &Path, dir: &Path) -> Result<PathBuf, String> {
    let copy = dir.join(binary.file_name().unwrap_or_default());
    std::fs::copy(binary, &copy)
        .map(|_| copy)
        .map_err(|err| format!("copying {}: {err}", binary.display()))
}

/// `go build` of benches/gateway/goproxy into the target dir; Err is the
/// note the page and the log give for leaving Go out.
fn build_goproxy() -> Result<PathBuf, String> {
    if !on_path("go") {
        return Err(format!(
            "Go's httputil left out: `go` is not on PATH (`{INSTALL}`)"
        ));
    }
    let out = target_dir()?.join("goproxy");
    let built = Command::new("go")
        .arg("build")
        .arg("-o")
        .arg(&out)
        .arg(".")
        .current_dir(repo().join("benches/gateway/goproxy"))
        .output()
        .map_err(|err| err.to_string())
        .and_then(|o| {
            if o.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&o.stderr).trim().to_owned())
            }
        });
    built
        .map(|()| out)
        .map_err(|err| format!("Go's httputil left out: go build failed: {err}"))
}

/// Where cargo put this binary (target/release, for goproxy too); the
/// proxies built with PROFILE are in the directory beside it.
fn target_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|err| err.to_string())?;
    exe.parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("{} has no directory", exe.display()))
}

/// Whether `program` is an executable file in a directory of `PATH`.
fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// What a tool says about its version: the first line it prints, on
/// either stream, whatever its exit status (`nginx -v` writes to stderr,
/// `wrk -v` exits 1), or "?" if it cannot run.
fn tool_version(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| {
            let text = [o.stdout, o.stderr].concat();
            let text = String::from_utf8_lossy(&text);
            let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
            // wrk's line goes on with its copyright.
            Some(line.split(" Copyright").next().unwrap_or(line).to_owned())
        })
        .unwrap_or_else(|| "?".into())
}
