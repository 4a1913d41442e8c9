//! chatbench: the chat hub's fan-out, grt against tokio, in one run.
//!
//!     cargo run --release -p grt-benches --bin chatbench             # the full comparison
//!     cargo run --release -p grt-benches --bin chatbench -- --quick  # smoke: a few seconds
//!
//! examples/chat's `chat` (grt) and `chat-tokio` (the same design on
//! tokio, src/tokio_chat/) are each put under examples/chat's load tool,
//! `chat-load`, which starts the server as a child process on a free
//! port, connects its clients, sends, and reports (grt_benches::chatbench
//! says why chatbench reads its report instead of loading the servers
//! itself). Before measuring, chatbench builds the three binaries
//! (`cargo build --release -p grt-chat -p grt-benches --bin chat --bin
//! chat-load --bin chat-tokio`), so that a stale `chat` is never measured;
//! `--no-build` skips that.
//!
//! The full run measures every workload in `--rounds` rounds, each round
//! running both servers once per workload, the first of the two
//! alternating from round to round, and writes docs/benchmarks-chat.md.
//! The workloads: 200 clients in one room, 20 of them sending 50 messages
//! of 64 bytes (200,000 deliveries) as a burst with the chat's own send
//! queue of 256 (where both hubs dismiss clients as too slow: the policy
//! working, and how many is a figure too), as a burst with a queue of
//! 4096 (nobody is cut), and as a closed loop (each sender waits for its
//! message to come back); then `--large` clients (2,000) in the closed
//! loop and in the burst with room for it (2,000,000 deliveries each).
//!
//! The quick run (`--quick`, or `GRT_BENCH_QUICK=1`) does 20 clients × 4
//! senders × 5 messages, burst and closed loop, once per server, writes
//! nothing, and fails only if a client missed a message or chat-load's
//! report could not be read: it asserts nothing about speed.
//!
//! Options: `--rounds N` [5], `--large N` [2000; 0 to skip], `--out DIR`
//! [docs/ of the repo], `--no-docs`, `--no-build`, `--max-other C` and
//! `--patience S` (before each run, wait up to S seconds [5] for the rest
//! of the machine to use at most C cores [0.3]: the machine is shared).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use clap::Parser;
use grt_benches::chatbench::{self, Context, Point, Sample, Server, Workload};
use grt_benches::host::{command_output, loadavg, machine, wait_for_quiet};
use grt_benches::net::load::machine_busy;
use grt_benches::net::report::median;
use grt_benches::results::{Figure, Part, Results};

/// grt's chat against the same hub on tokio, under one load tool.
#[derive(Parser, Debug)]
#[command(name = "chatbench")]
struct Args {
    /// A smoke run: tiny loads, once, nothing written, speed not asserted.
    #[arg(long)]
    quick: bool,

    /// Repetitions of every workload.
    #[arg(long, default_value_t = 5)]
    rounds: usize,

    /// Clients in the large workloads (0: none).
    #[arg(long, default_value_t = 2000)]
    large: usize,

    /// Where docs/benchmarks-chat.md goes [default: docs/ of the repo].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// Print the tables, write nothing.
    #[arg(long)]
    no_docs: bool,

    /// Use the binaries already built.
    #[arg(long)]
    no_build: bool,

    /// Cores the rest of the machine may use before a run starts.
    #[arg(long, value_name = "CORES", default_value_t = 0.3)]
    max_other: f64,

    /// Longest wait for the machine to be that quiet, per run, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    patience: f64,
}

/// The full run's workloads (the module doc says why these).
fn workloads(large: usize) -> Vec<Workload> {
    let load = |clients, echo, send_buffer| Workload {
        clients,
        senders: 20,
        messages: 50,
        echo,
        send_buffer,
    };
    let mut workloads = vec![
        load(200, false, None),
        load(200, false, Some(4096)),
        load(200, true, None),
    ];
    if large > 0 {
        workloads.extend([load(large, true, None), load(large, false, Some(4096))]);
    }
    workloads
}

fn main() -> ExitCode {
    let args = Args::parse();
    let quick = args.quick || grt_benches::quick();
    let workloads = if quick {
        let load = |echo| Workload {
            clients: 20,
            senders: 4,
            messages: 5,
            echo,
            send_buffer: None,
        };
        vec![load(false), load(true)]
    } else {
        workloads(args.large)
    };
    let rounds = if quick { 1 } else { args.rounds.max(1) };
    let patience = if quick { 0.0 } else { args.patience };

    if !args.no_build {
        if let Err(err) = build() {
            eprintln!("chatbench: {err}");
            return ExitCode::FAILURE;
        }
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(err) => {
            eprintln!("chatbench: where am I? {err}");
            return ExitCode::FAILURE;
        }
    };
    let load_tool = exe.with_file_name("chat-load");
    let settings = format!(
        "{rounds} round(s), both servers once per workload in each, the first alternating; a \
         fresh server process per run, started by `chat-load` (examples/chat/src/bin/chat-load.rs) \
         with `--pong-wait 10m`, on grt with a P per core and on tokio with a worker per core; \
         before each run, waited up to {patience:.0} s for the rest of the machine to use at most \
         {:.2} cores",
        args.max_other
    );
    println!("chatbench: {}", machine());
    println!("chatbench: {settings}");
    let load_before = loadavg();
    let started = Instant::now();

    let mut points = Vec::new();
    for round in 0..rounds {
        for (w, workload) in workloads.iter().enumerate() {
            let mut order = Server::ALL;
            order.rotate_left(round % Server::ALL.len());
            for server in order {
                wait_for_quiet(
                    args.max_other,
                    Instant::now() + Duration::from_secs_f64(patience),
                );
                let sample = measure(&load_tool, &exe, server, workload);
                print_run(workload, server, round, &sample);
                points.push(Point {
                    workload: w,
                    server,
                    round,
                    sample,
                });
            }
        }
    }
    let failed = points.iter().filter(|p| p.sample.is_err()).count();
    println!(
        "chatbench: {} runs in {:.0} s, {failed} failed",
        points.len(),
        started.elapsed().as_secs_f64()
    );

    let command = std::iter::once("cargo run --release -p grt-benches --bin chatbench".to_owned())
        .chain((std::env::args().len() > 1).then(|| {
            format!(
                "-- {}",
                std::env::args().skip(1).collect::<Vec<_>>().join(" ")
            )
        }))
        .collect::<Vec<_>>()
        .join(" ");
    let ctx = Context {
        date: command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        machine: machine(),
        command,
        settings,
        load_before,
        load_after: loadavg(),
    };
    let page = chatbench::markdown(&workloads, &points, &ctx);
    if quick || args.no_docs {
        let start = page.find("## Ratios").unwrap_or(0);
        println!("\n{}", &page[start..]);
    } else {
        let out = args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs")));
        let path = out.join("benchmarks-chat.md");
        if let Err(err) = std::fs::write(&path, &page) {
            eprintln!("chatbench: cannot write {}: {err}", path.display());
            return ExitCode::FAILURE;
        }
        println!("chatbench: wrote {}", path.display());
    }
    record(quick, &ctx, &workloads, &points);
    if failed > 0 {
        return ExitCode::FAILURE;
    }
    if quick {
        let whole = points.iter().all(|p| {
            let w = &workloads[p.workload];
            p.sample
                .as_ref()
                .is_ok_and(|s| s.cut == 0 && s.delivered as usize == w.deliveries())
        });
        if !whole {
            eprintln!("chatbench quick: a server lost messages or clients");
            return ExitCode::FAILURE;
        }
        println!("chatbench quick: both servers delivered every message (speed not asserted)");
    }
    ExitCode::SUCCESS
}

/// Builds the servers and the load tool (the module doc says why here).
fn build() -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "-q",
            "-p",
            "grt-chat",
            "-p",
            "grt-benches",
        ])
        .args(["--bin", "chat", "--bin", "chat-load", "--bin", "chat-tokio"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .map_err(|err| format!("cannot run {cargo}: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("building the chat binaries failed ({status})"))
    }
}

/// One chat-load run against `server`, with what the rest of the machine
/// used meanwhile: all cores' busy time less this process's children's
/// (chat-load, and the server it started and waited for).
fn measure(
    load_tool: &Path,
    exe: &Path,
    server: Server,
    workload: &Workload,
) -> Result<Sample, String> {
    let busy_before = machine_busy()?;
    let children_before = children_cpu();
    let start = Instant::now();
    let output = Command::new(load_tool)
        .arg(format!(
            "--server={}",
            exe.with_file_name(server.binary()).display()
        ))
        .args(workload.load_args())
        .output()
        .map_err(|err| format!("cannot run {}: {err}", load_tool.display()))?;
    let wall = start.elapsed().as_secs_f64();
    let others = (machine_busy()? - busy_before) - (children_cpu() - children_before);
    let report = String::from_utf8_lossy(&output.stdout);
    // chat-load fails when clients were cut; its report still stands.
    let mut sample = chatbench::parse(&report).map_err(|err| {
        format!(
            "{err} ({}; it said: {})",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )
    })?;
    sample.others = (others / wall).max(0.0);
    Ok(sample)
}

/// CPU seconds used by this process's children that have ended.
fn children_cpu() -> f64 {
    // SAFETY: getrusage writes one rusage, which lives across the call.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn print_run(workload: &Workload, server: Server, round: usize, sample: &Result<Sample, String>) {
    let at = format!(
        "{:>5} clients {:<18} round {} {:<5}",
        workload.clients,
        workload.mode(),
        round + 1,
        server.name()
    );
    match sample {
        Ok(s) => println!(
            "{at} {:>5.2} M msgs/s  p50 {:>7.2} ms  p99 {:>7.2} ms  {:>5.1}/frame  server {:.2} µs  \
             RSS {:.1} KiB/conn  cut {:>3}  others {:.2}",
            s.per_sec() / 1e6,
            s.p50_ms,
            s.p99_ms,
            s.per_frame,
            s.server_us(),
            s.rss_kib,
            s.cut,
            s.others
        ),
        Err(err) => println!("{at} FAILED: {err}"),
    }
}

/// Records the headline figures, delivered messages/s of every workload,
/// grt against tokio (medians of the rounds), in
/// target/bench-results/chat.json for `bench-all`'s summary
/// (grt_benches::results).
fn record(quick: bool, ctx: &Context, workloads: &[Workload], points: &[Point]) {
    let rate = |w: usize, server: Server| {
        median(
            points
                .iter()
                .filter(|p| p.workload == w && p.server == server)
                .filter_map(|p| Some(p.sample.as_ref().ok()?.per_sec()))
                .collect(),
        )
    };
    let figures = workloads.iter().enumerate().filter_map(|(w, workload)| {
        let point = format!("{} clients, {}", workload.clients, workload.mode());
        let (grt, tokio) = (rate(w, Server::Grt), rate(w, Server::Tokio));
        Figure::new(point, "msgs/s", grt, tokio, "tokio", true)
    });
    Results {
        part: Part::Chat,
        date: ctx.date.clone(),
        command: ctx.command.clone(),
        quick,
        figures: figures.collect(),
    }
    .save();
}
