//! What the macro benchmarks (netbench, chatbench, gatewaybench) say
//! about the machine they ran on, and how they wait for it to be quiet:
//! the machine is shared, and a page of numbers is worth little without
//! the load it was taken under. Also their one way to refuse a command
//! line.

use std::fmt::Display;
use std::path::Path;
use std::process::Command;
use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::net::load::machine_busy;

/// Waits until the rest of the machine has used at most `max_other`
/// cores over half a second, or until `deadline`: the machine is shared
/// with other people's builds, and a window they disturb is thrown away.
pub fn wait_for_quiet(max_other: f64, deadline: Instant) {
    while Instant::now() < deadline {
        let before = machine_busy().unwrap_or(0.0);
        std::thread::sleep(Duration::from_millis(500));
        let busy = (machine_busy().unwrap_or(0.0) - before) / 0.5;
        if busy <= max_other {
            return;
        }
    }
}

/// When a measurement is taken again because the rest of the machine was
/// busy during it (these VMs are shared): every harness's `--max-other`,
/// `--tries` and `--patience`.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    /// Cores the rest of the machine may use during a try before it is
    /// measured again.
    pub max_other: f64,
    /// Most tries of one point.
    pub tries: usize,
    /// How long all of a point's tries may wait for a quiet machine.
    pub patience: Duration,
}

impl Retry {
    /// Measures with `try_once` (given the deadline for its wait for a
    /// quiet machine) until a try saw the rest of the machine use at most
    /// `max_other` cores, by `others`, or `tries` tries were made, pausing
    /// a second between tries; of the tries, the least disturbed counts. A
    /// failed try ends it at once.
    pub fn least_disturbed<S, E>(
        &self,
        mut try_once: impl FnMut(Instant) -> Result<S, E>,
        others: impl Fn(&S) -> f64,
    ) -> Result<S, E> {
        let quiet_by = Instant::now() + self.patience;
        let mut best: Option<S> = None;
        let mut tries = 0;
        loop {
            tries += 1;
            let sample = try_once(quiet_by)?;
            let disturbed = others(&sample);
            if best.as_ref().is_none_or(|b| disturbed < others(b)) {
                best = Some(sample);
            }
            if disturbed <= self.max_other || tries >= self.tries {
                return Ok(best.expect("a try was kept"));
            }
            println!("    (others used {disturbed:.2} cores in that window: again)");
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

/// Cores, CPU model, memory, kernel, rustc, and the grt commit.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cores} cores ({model}), {mem_gib:.0} GiB, Linux {}, {}, grt at {}",
        kernel.trim(),
        command_output("rustc", &["--version"]),
        command_output("git", &["describe", "--always", "--dirty"]),
    )
}

/// Now, to the minute, for a page's header: "2026-12-08 10:00 UTC".
pub fn date() -> String {
    command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
}

/// The load averages over 1, 5 and 15 minutes.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// How a person would have typed this run of the grt-benches binary
/// `bin`: `cargo run --release -p grt-benches --bin BIN -- ARGS`, for a
/// page's header.
pub fn command_line(bin: &str) -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut line = format!("cargo run --release -p grt-benches --bin {bin}");
    if !args.is_empty() {
        line = format!("{line} -- {}", args.join(" "));
    }
    line
}

/// A command's first line of output, or "?" if it cannot run.
pub fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// A command-line value, parsed; or [`usage_error`] if it does not parse.
pub fn parse_arg<T: FromStr>(s: &str) -> T
where
    T::Err: Display,
{
    s.trim()
        .parse()
        .unwrap_or_else(|err| usage_error(&format!("cannot parse {s:?}: {err}")))
}

/// Refuses the command line: `PROGRAM: why` and exit status 2. It does
/// not return, and runs no destructor: call it before starting anything
/// that must be stopped.
pub fn usage_error(why: &str) -> ! {
    let program = std::env::args().next().unwrap_or_default();
    let name = Path::new(&program).file_name().unwrap_or_default();
    eprintln!("{}: {why}", name.to_string_lossy());
    std::process::exit(2);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `least_disturbed` over tries that saw `disturbances` (cores
    /// used by others), `Err` standing for a failed try; returns what it
    /// kept and how many tries it made.
    fn run(
        tries: usize,
        disturbances: &[Result<f64, &'static str>],
    ) -> (Result<f64, &'static str>, usize) {
        let retry = Retry {
            max_other: 0.25,
            tries,
            patience: Duration::ZERO,
        };
        let mut made = 0;
        let kept = retry.least_disturbed(
            |_| {
                made += 1;
                disturbances[made - 1]
            },
            |&others| others,
        );
        (kept, made)
    }

    #[test]
    fn a_quiet_try_ends_the_retries() {
        assert_eq!(run(4, &[Ok(0.1)]), (Ok(0.1), 1));
    }

    #[test]
    fn out_of_tries_the_least_disturbed_counts() {
        assert_eq!(run(2, &[Ok(0.9), Ok(0.5)]), (Ok(0.5), 2));
        assert_eq!(run(2, &[Ok(0.5), Ok(0.9)]), (Ok(0.5), 2));
    }

    #[test]
    fn a_failed_try_ends_them_at_once() {
        assert_eq!(run(4, &[Ok(0.9), Err("no answer")]), (Err("no answer"), 2));
    }
}
