//! bench-all: the whole comparison in one command, and one page that sums
//! it up.
//!
//!     cargo run --release -p grt-benches --bin bench-all              # everything: ~15 min
//!     cargo run --release -p grt-benches --bin bench-all -- --quick   # smoke: a couple of minutes
//!
//! It runs the parts one after the other, each as a child process (a part
//! has the machine to itself, and a crash stays in its part), in this
//! order:
//! 1. micro: the criterion groups, grt against tokio (`cargo bench -p
//!    grt-benches --bench runtimes -- --warm-up-time 1 --measurement-time
//!    2`: shorter than the groups' own 1 s + 3 s, so the part takes about
//!    two minutes);
//! 2. memory: RSS per parked task, grt against tokio and OS threads, at
//!    10,000 tasks (where threads still fit under the default
//!    `vm.max_map_count`) and 100,000 (`memory 10000 100000`);
//! 3. net: `netbench` (TCP echo, HTTP hello; writes docs/benchmarks-net.md
//!    and docs/img/netbench.svg; ~8 min on a quiet machine);
//! 4. chat: `chatbench` (the chat hub's fan-out; writes
//!    docs/benchmarks-chat.md);
//! 5. gateway: `gatewaybench` (against nginx, Go's httputil and
//!    tokio/hyper; needs nginx and wrk; writes docs/benchmarks-gateway.md;
//!    ~9 min).
//!
//! Each tool records its headline figures in target/bench-results/PART.json
//! (grt_benches::results; the micro part's come from criterion's estimates),
//! and bench-all reads them back into docs/benchmarks-summary.md, one table
//! of grt/other ratios, and docs/img/summary.svg, its chart
//! (grt_benches::summary). A part that fails does not stop the others: the
//! summary says which failed, and bench-all exits with status 1.
//!
//! Options:
//! - `--quick` (or `GRT_BENCH_QUICK=1`): every part's smoke run (the
//!   criterion groups at a tenth of their sizes for 0.1 s each, in their
//!   own criterion directory, memory at 1,000 tasks, each tool's
//!   `--quick`); writes nothing into docs/, and the summary into
//!   target/bench-results/ only. benches/smoke.sh runs it in CI. It asserts
//!   nothing about speed: it fails only if a part does.
//! - `--only net,chat`: just those parts (micro, memory, net, chat,
//!   gateway); their tools still write their pages, but the summary goes to
//!   target/bench-results/, since docs/benchmarks-summary.md is for whole
//!   runs.
//! - `--no-docs`: the tools write no pages, and the summary goes to
//!   target/bench-results/.

use std::process::{Command, ExitCode};
use std::time::Instant;

use clap::Parser;
use grt_benches::host::{command_line, date, loadavg, machine};
use grt_benches::results::{self, Part, Results};
use grt_benches::summary::{self, Context, PartRun};

/// Every part of the grt comparison, then one summary page.
#[derive(Parser, Debug)]
#[command(name = "bench-all")]
struct Args {
    /// Every part's smoke run; nothing written into docs/, speed not asserted.
    #[arg(long)]
    quick: bool,

    /// Only these parts (micro, memory, net, chat, gateway), comma-separated.
    #[arg(long, value_name = "PARTS", value_delimiter = ',')]
    only: Vec<Part>,

    /// Write no pages into docs/; the summary goes to target/bench-results/.
    #[arg(long)]
    no_docs: bool,
}

/// How one part runs.
struct Settings {
    quick: bool,
    no_docs: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let settings = Settings {
        quick: args.quick || grt_benches::quick(),
        no_docs: args.no_docs,
    };
    if settings.quick {
        // For the children, and for the sizes the micro part's per-operation
        // figures divide by; smoke estimates go where they cannot be taken
        // for a real run's.
        std::env::set_var("GRT_BENCH_QUICK", "1");
        std::env::set_var("CRITERION_HOME", results::dir().join("criterion-quick"));
    }
    let parts: Vec<Part> = Part::ALL
        .into_iter()
        .filter(|p| args.only.is_empty() || args.only.contains(p))
        .collect();
    let command = command_line("bench-all");
    // Taken before the run: the tree may move while it lasts.
    let (machine, load_before, started_at) = (machine(), loadavg(), date());
    println!("bench-all: {machine}");
    println!(
        "bench-all: parts {}",
        parts
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let started = Instant::now();
    let runs: Vec<PartRun> = match build(&parts) {
        Ok(()) => parts.iter().map(|&p| run(p, &settings)).collect(),
        Err(err) => parts
            .iter()
            .map(|&part| PartRun {
                part,
                secs: 0.0,
                results: Err(err.clone()),
            })
            .collect(),
    };
    println!("bench-all: ran in {:.0} s", started.elapsed().as_secs_f64());

    let into_docs = !settings.quick && !settings.no_docs && args.only.is_empty();
    let (page_dir, chart_dir, chart) = if into_docs {
        let docs = results::repo().join("docs");
        (docs.clone(), docs.join("img"), "img/summary.svg")
    } else {
        (results::dir(), results::dir(), "summary.svg")
    };
    let ctx = Context {
        date: started_at,
        machine,
        command,
        load_before,
        load_after: loadavg(),
        chart: chart.into(),
    };
    let page = summary::markdown(&runs, &ctx);
    let subtitle = format!(
        "{}; {}",
        ctx.date,
        ctx.machine.split(", rustc").next().unwrap_or_default()
    );
    let chart = summary::svg(&runs, &subtitle);
    let (page_path, chart_path) = (
        page_dir.join(if into_docs {
            "benchmarks-summary.md"
        } else {
            "summary.md"
        }),
        chart_dir.join("summary.svg"),
    );
    let written = std::fs::create_dir_all(&chart_dir)
        .and_then(|()| std::fs::write(&page_path, &page))
        .and_then(|()| std::fs::write(&chart_path, chart));
    match written {
        Ok(()) => println!(
            "bench-all: wrote {} and {}",
            page_path.display(),
            chart_path.display()
        ),
        Err(err) => {
            eprintln!("bench-all: cannot write the summary: {err}");
            return ExitCode::FAILURE;
        }
    }
    let table = page.find("| part |").unwrap_or(0);
    println!("\n{}", &page[table..]);

    let failed: Vec<&str> = runs
        .iter()
        .filter(|r| r.results.is_err())
        .map(|r| r.part.name())
        .collect();
    if !failed.is_empty() {
        eprintln!("bench-all: failed: {}", failed.join(", "));
        return ExitCode::FAILURE;
    }
    if settings.quick {
        println!("bench-all quick: every part ran and recorded its figures (speed not asserted)");
    }
    ExitCode::SUCCESS
}

/// The tool binary of each part that has one.
fn tool(part: Part) -> Option<&'static str> {
    match part {
        Part::Micro => None,
        Part::Memory => Some("memory"),
        Part::Net => Some("netbench"),
        Part::Chat => Some("chatbench"),
        Part::Gateway => Some("gatewaybench"),
    }
}

/// The cargo that runs us (`cargo run` sets `CARGO`), else the one on PATH.
fn cargo() -> Command {
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.current_dir(env!("CARGO_MANIFEST_DIR"));
    cargo
}

/// Builds the parts' tools, so that every part measures the tree as it is
/// now (chatbench and gatewaybench build the servers they measure).
fn build(parts: &[Part]) -> Result<(), String> {
    let bins: Vec<&str> = parts.iter().filter_map(|&p| tool(p)).collect();
    if bins.is_empty() {
        return Ok(());
    }
    let mut command = cargo();
    command.args(["build", "--release", "-q", "-p", "grt-benches"]);
    for bin in &bins {
        command.args(["--bin", bin]);
    }
    let status = command
        .status()
        .map_err(|err| format!("cannot run cargo: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("building {} failed ({status})", bins.join(", ")))
    }
}

/// Runs one part and reads back its figures.
fn run(part: Part, settings: &Settings) -> PartRun {
    println!("\nbench-all: ==> {part}");
    let started = Instant::now();
    // A failed part must not be summed up with the last run's figures.
    let _ = std::fs::remove_file(Results::path(part));
    let results = command(part, settings).and_then(|(mut command, shown)| {
        println!("bench-all: {shown}");
        let status = command
            .status()
            .map_err(|err| format!("cannot run `{shown}`: {err}"))?;
        if !status.success() {
            return Err(format!("`{shown}` failed ({status}); its output says why"));
        }
        if part == Part::Micro {
            Results {
                part,
                date: date(),
                command: shown,
                quick: settings.quick,
                figures: results::micro(&results::criterion_dir()),
            }
            .save();
        }
        Results::load(part)
    });
    if let Err(err) = &results {
        eprintln!("bench-all: {part}: {err}");
    }
    PartRun {
        part,
        secs: started.elapsed().as_secs_f64(),
        results,
    }
}

/// The command of `part`, and how to show it (the tools' full paths are
/// where cargo put them; the shown form is what a person would type).
fn command(part: Part, settings: &Settings) -> Result<(Command, String), String> {
    let quick = settings.quick;
    let mut args: Vec<String> = match part {
        Part::Micro if quick => vec![
            "--warm-up-time".into(),
            "0.05".into(),
            "--measurement-time".into(),
            "0.1".into(),
            "--nresamples".into(),
            "1000".into(),
        ],
        Part::Micro => vec![
            "--warm-up-time".into(),
            "1".into(),
            "--measurement-time".into(),
            "2".into(),
        ],
        Part::Memory if quick => vec!["1000".into()],
        Part::Memory => vec!["10000".into(), "100000".into()],
        Part::Net | Part::Chat | Part::Gateway if quick => vec!["--quick".into()],
        Part::Net | Part::Chat | Part::Gateway if settings.no_docs => vec!["--no-docs".into()],
        Part::Net | Part::Chat | Part::Gateway => vec![],
    };
    let quick_env = if quick { "GRT_BENCH_QUICK=1 " } else { "" };
    match tool(part) {
        None => {
            let mut command = cargo();
            command.args(["bench", "-p", "grt-benches", "--bench", "runtimes", "--"]);
            command.args(&args);
            let shown = format!(
                "{quick_env}cargo bench -p grt-benches --bench runtimes -- {}",
                args.join(" ")
            );
            Ok((command, shown))
        }
        Some(bin) => {
            let exe = std::env::current_exe()
                .map_err(|err| format!("where am I? {err}"))?
                .with_file_name(bin);
            let mut command = Command::new(exe);
            command.args(&args);
            if !args.is_empty() {
                args.insert(0, "--".into());
            }
            let shown = format!(
                "{quick_env}cargo run --release -p grt-benches --bin {bin} {}",
                args.join(" ")
            );
            Ok((command, shown.trim_end().to_owned()))
        }
    }
}
