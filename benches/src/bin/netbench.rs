//! netbench: grt against tokio on sockets — a TCP echo of 64-byte
//! messages and an HTTP/1.1 keep-alive "hello world" — at several
//! connection counts, interleaved and repeated, in one run.
//!
//!     cargo run --release -p grt-benches --bin netbench            # the full comparison
//!     cargo run --release -p grt-benches --bin netbench -- --quick # smoke: a second or two
//!
//! The full run measures every (workload, workers, connections) point in
//! `--rounds` rounds, each round running every server once (a fresh child
//! process each time, `netbench --serve ...`) in an order that rotates
//! from round to round, and writes docs/benchmarks-net.md (ratios and
//! absolute figures) and docs/img/netbench.svg (the chart). The quick run
//! (`--quick`, or `GRT_BENCH_QUICK=1`) does 10 connections for 0.3 s per
//! server and workload, writes nothing, and fails only if a server
//! answered wrongly or not at all: it asserts nothing about speed. Either
//! run records its headline figures in target/bench-results/net.json, for
//! `bench-all`'s summary (grt_benches::results).
//!
//! Options (defaults in brackets):
//!     --conns 10,100,1000   connection counts
//!     --workers 1,2         grt Ps = tokio worker threads, per point
//!     --rounds 3            repetitions of every point
//!     --secs 2              measured window per point
//!     --warm-up 0.5         unmeasured seconds before each window
//!     --servers grt,tokio,hyper
//!     --workloads echo,http
//!     --out DIR             where the page and chart go [docs/ of the repo]
//!     --no-docs             print, write nothing
//!     --max-other 0.2       measure a point again if other processes used
//!     --tries 4             more cores than this in its window, this many
//!                           times at most (the machine is shared);
//!                           the least disturbed try counts
//!     --patience 15         wait up to this many seconds per point (all its
//!                           tries) for the others to drop under --max-other
//!
//! The design (two processes, the load generator, why these worker counts)
//! is in grt_benches::net and docs/benchmarks.md.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use grt_benches::host::{
    command_line, date, loadavg, machine, parse_arg as parse, usage_error as fail, wait_for_quiet,
    Retry,
};
use grt_benches::net::load::{self, Load, Sample};
use grt_benches::net::report::{self, Context, Point};
use grt_benches::net::{raise_fd_limit, serve, Server, Workload};
use grt_benches::results::{Part, Results};

/// The run's settings, from the command line.
struct Settings {
    conns: Vec<usize>,
    workers: Vec<usize>,
    rounds: usize,
    measure: Duration,
    warm_up: Duration,
    servers: Vec<Server>,
    workloads: Vec<Workload>,
    out: Option<PathBuf>,
    quick: bool,
    /// When a point is measured again (`--max-other`, `--tries`,
    /// `--patience`).
    retry: Retry,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter().position(|a| a == name).map(|i| {
            args.get(i + 1)
                .cloned()
                .unwrap_or_else(|| fail(&format!("{name} needs a value")))
        })
    };
    let has = |name: &str| args.iter().any(|a| a == name);

    if let Some(server) = flag("--serve") {
        let server = parse::<Server>(&server);
        let workload = parse::<Workload>(&flag("--workload").unwrap_or_else(|| "echo".into()));
        let addr = parse::<SocketAddr>(&flag("--addr").unwrap_or_else(|| "127.0.0.1:0".into()));
        let workers = parse::<usize>(&flag("--workers").unwrap_or_else(|| "1".into()));
        serve::run(server, workload, addr, workers);
        return;
    }

    let quick = has("--quick") || grt_benches::quick();
    let list = |name: &str, default: &str| -> Vec<String> {
        flag(name)
            .unwrap_or_else(|| default.into())
            .split(',')
            .map(str::to_owned)
            .collect()
    };
    let secs = |name: &str, default: &str| {
        Duration::from_secs_f64(parse::<f64>(&flag(name).unwrap_or_else(|| default.into())))
    };
    let settings = Settings {
        conns: list("--conns", if quick { "10" } else { "10,100,1000" })
            .iter()
            .map(|s| parse(s))
            .collect(),
        workers: list("--workers", if quick { "1" } else { "1,2" })
            .iter()
            .map(|s| parse(s))
            .collect(),
        rounds: parse(&flag("--rounds").unwrap_or_else(|| if quick { "1" } else { "3" }.into())),
        measure: secs("--secs", if quick { "0.3" } else { "2" }),
        warm_up: secs("--warm-up", if quick { "0.05" } else { "0.5" }),
        servers: list("--servers", "grt,tokio,hyper")
            .iter()
            .map(|s| parse(s))
            .collect(),
        workloads: list("--workloads", "echo,http")
            .iter()
            .map(|s| parse(s))
            .collect(),
        out: if quick || has("--no-docs") {
            None
        } else {
            Some(flag("--out").map_or_else(
                || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs")),
                PathBuf::from,
            ))
        },
        quick,
        retry: Retry {
            max_other: parse(&flag("--max-other").unwrap_or_else(|| "0.2".into())),
            tries: parse(&flag("--tries").unwrap_or_else(|| if quick { "1" } else { "4" }.into())),
            patience: secs("--patience", if quick { "0" } else { "15" }),
        },
    };
    run(&settings, command_line("netbench"));
}

fn run(settings: &Settings, command: String) {
    let fd_limit = raise_fd_limit();
    let max_conns = settings.conns.iter().copied().max().unwrap_or(0);
    if (fd_limit as usize) < max_conns + 64 {
        fail(&format!(
            "the open-file limit is {fd_limit}, too low for {max_conns} connections"
        ));
    }
    let settings_line = format!(
        "{} round(s); per point {:.2} s warm-up, {:.2} s measured, measured again (up to {} \
         tries) while other processes used more than {:.2} cores in the window, after \
         waiting up to {:.0} s per point for them to drop under that (the least disturbed \
         try counts); workers = grt Ps = tokio \
         worker threads; load: one tokio current-thread thread in the parent; servers: {}; \
         open-file limit {fd_limit}",
        settings.rounds,
        settings.warm_up.as_secs_f64(),
        settings.measure.as_secs_f64(),
        settings.retry.tries,
        settings.retry.max_other,
        settings.retry.patience.as_secs_f64(),
        settings
            .servers
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let load_before = loadavg();
    println!("netbench: {}", machine());
    println!("netbench: {settings_line}");
    let started = Instant::now();

    let mut points = Vec::new();
    for &workload in &settings.workloads {
        let servers: Vec<Server> = settings
            .servers
            .iter()
            .copied()
            .filter(|s| s.serves(workload))
            .collect();
        for &workers in &settings.workers {
            for &conns in &settings.conns {
                for round in 0..settings.rounds {
                    // Rotate who goes first, so that neither runtime always
                    // follows the other (caches, the CPU's clock, the other
                    // tenants of the machine).
                    let mut order = servers.clone();
                    order.rotate_left(round % servers.len().max(1));
                    for server in order {
                        let load = Load {
                            workload,
                            conns,
                            warm_up: settings.warm_up,
                            measure: settings.measure,
                            exact: server.exact_response(),
                        };
                        let sample = settings.retry.least_disturbed(
                            |quiet_by| {
                                wait_for_quiet(settings.retry.max_other, quiet_by);
                                let sample = measure(server, workers, &load);
                                print_point(server, workers, &load, round, &sample);
                                sample
                            },
                            |s| s.other_cpu / s.secs,
                        );
                        points.push(Point {
                            workload,
                            workers,
                            conns,
                            server,
                            round,
                            sample,
                        });
                    }
                }
            }
        }
    }

    let failed = points.iter().filter(|p| p.sample.is_err()).count();
    println!(
        "netbench: {} runs in {:.0} s, {failed} failed",
        points.len(),
        started.elapsed().as_secs_f64()
    );
    let ctx = Context {
        date: date(),
        machine: machine(),
        command,
        settings: settings_line,
        load_before,
        load_after: loadavg(),
    };
    let page = report::markdown(&points, &ctx, "img/netbench.svg");
    if let Some(out) = &settings.out {
        // The chart's subtitle: the machine without rustc and the commit.
        let machine = ctx.machine.split(", rustc").next().unwrap_or_default();
        let chart = report::svg(
            &points,
            &format!(
                "{}; {machine}; load: one tokio current-thread thread",
                ctx.date
            ),
        );
        std::fs::create_dir_all(out.join("img")).expect("create the docs' img/");
        let md_path = out.join("benchmarks-net.md");
        let svg_path = out.join("img/netbench.svg");
        std::fs::write(&md_path, &page).expect("write benchmarks-net.md");
        std::fs::write(&svg_path, chart).expect("write netbench.svg");
        println!(
            "netbench: wrote {} and {}",
            md_path.display(),
            svg_path.display()
        );
    } else {
        // The ratio table, for the log.
        let start = page.find("## Ratios").unwrap_or(0);
        let end = page[start..]
            .find("\n## ")
            .map_or(page.len(), |i| start + i + 1);
        println!("\n{}", &page[start..end]);
    }
    Results {
        part: Part::Net,
        date: ctx.date,
        command: ctx.command,
        quick: settings.quick,
        figures: report::figures(&points),
    }
    .save();
    if failed > 0 {
        for p in points.iter().filter(|p| p.sample.is_err()) {
            eprintln!(
                "netbench: {} {} conns={} workers={}: {}",
                p.server,
                p.workload,
                p.conns,
                p.workers,
                p.sample.as_ref().err().map_or("", |e| e.as_str())
            );
        }
        std::process::exit(1);
    }
    if settings.quick {
        println!(
            "netbench quick: every server answered every exchange correctly (speed not asserted)"
        );
    }
}

/// Starts `server` in a child process, runs `load` against it, stops it.
fn measure(server: Server, workers: usize, load: &Load) -> Result<Sample, String> {
    let exe = std::env::current_exe().map_err(|err| err.to_string())?;
    let mut child = Command::new(exe)
        .args(["--serve", server.name(), "--workload", load.workload.name()])
        .args(["--addr", "127.0.0.1:0", "--workers", &workers.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|err| format!("cannot start the {server} server: {err}"))?;
    let mut line = String::new();
    let addr = BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut line)
        .ok()
        .and_then(|_| line.trim().strip_prefix("listening ")?.parse().ok());
    let result = match addr {
        Some(addr) => load::run(addr, child.id(), load),
        None => Err(format!("the {server} server did not start: said {line:?}")),
    };
    // Closing its standard input stops the server; give it a moment.
    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                eprintln!("netbench: the {server} server did not stop; killing it");
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
        }
    }
    result
}

fn print_point(
    server: Server,
    workers: usize,
    load: &Load,
    round: usize,
    sample: &Result<Sample, String>,
) {
    let at = format!(
        "{:<5} workers={workers} conns={:<4} round {} {:<5}",
        load.workload.name(),
        load.conns,
        round + 1,
        server.name()
    );
    match sample {
        Ok(s) => println!(
            "{at} {:>8.0} {:<13} p50 {:>7.1} µs  p99 {:>8.1} µs  server {:>5.2} µs/op {:.2} cores  load {:.2}  others {:.2}",
            s.per_sec(),
            load.workload.unit(),
            s.p50_us,
            s.p99_us,
            s.server_us_per_op(),
            s.server_cpu / s.secs,
            s.client_cpu / s.secs,
            s.other_cpu / s.secs,
        ),
        Err(err) => println!("{at} FAILED: {err}"),
    }
}
