//! chatbench's parts that are not driving (src/bin/chatbench.rs drives):
//! the workloads, reading `chat-load`'s report, and the generated page.
//!
//! # Why it reads chat-load's report instead of loading the servers itself
//! examples/chat's `chat-load` already is the load tool the chat's
//! figures in docs/benchmarks.md come from (against gorilla's Go chat
//! too): it connects, checks that every client is in its room, times every
//! delivery and reads the server's CPU and memory from `/proc`. A second
//! load generator here would be a second yardstick; running the same
//! binary against grt's `chat` and `chat-tokio` (`--server PATH`) keeps
//! one. What it prints is meant for people, so [`parse`] is strict: a
//! line it cannot read fails the run (and the smoke run) rather than
//! leaving a blank in the table.

use std::fmt::{self, Write as _};

use crate::net::report::median;

/// The server under load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    /// examples/chat's `chat`, on grt.
    Grt,
    /// `chat-tokio` (src/tokio_chat/), the same design on tokio.
    Tokio,
}

impl Server {
    pub const ALL: [Server; 2] = [Server::Grt, Server::Tokio];

    pub fn name(self) -> &'static str {
        match self {
            Server::Grt => "grt",
            Server::Tokio => "tokio",
        }
    }

    /// Its binary, in the same target directory as chatbench.
    pub fn binary(self) -> &'static str {
        match self {
            Server::Grt => "chat",
            Server::Tokio => "chat-tokio",
        }
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One load, as `chat-load` options: every client in one room, the first
/// `senders` of them sending `messages` messages of 64 bytes each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    pub clients: usize,
    pub senders: usize,
    pub messages: usize,
    /// Closed loop (`--echo`): each sender waits for its message to come
    /// back before the next; else a burst.
    pub echo: bool,
    /// The servers' send queue per client, if not the default 256.
    pub send_buffer: Option<usize>,
}

impl Workload {
    /// How it is sent, for the tables: "burst", "burst, queue 4096",
    /// "closed loop".
    pub fn mode(&self) -> String {
        let mut mode = if self.echo { "closed loop" } else { "burst" }.to_owned();
        if let Some(queue) = self.send_buffer {
            let _ = write!(mode, ", queue {queue}");
        }
        mode
    }

    /// Deliveries when nobody is cut.
    pub fn deliveries(&self) -> usize {
        self.clients * self.senders * self.messages
    }

    /// Its `chat-load` options (besides `--server`).
    pub fn load_args(&self) -> Vec<String> {
        let mut args = vec![
            format!("--clients={}", self.clients),
            format!("--senders={}", self.senders),
            format!("--messages={}", self.messages),
        ];
        if self.echo {
            args.push("--echo".into());
        }
        if let Some(queue) = self.send_buffer {
            args.push(format!("--server-arg=--send-buffer={queue}"));
        }
        args
    }
}

/// What one `chat-load` run reported, and what the machine did meanwhile.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    /// Messages delivered.
    pub delivered: f64,
    /// From the first send to the last delivery.
    pub secs: f64,
    /// How much the write pumps batched.
    pub per_frame: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// CPU seconds during delivery, the server's and chat-load's.
    pub server_cpu: f64,
    pub load_cpu: f64,
    /// Server RSS per connection with every client in the room, KiB.
    pub rss_kib: f64,
    /// Clients dismissed as too slow (or that heard nothing for 10 s).
    pub cut: usize,
    /// Cores the rest of the machine used over the whole run (set by the
    /// driver, not read from chat-load).
    pub others: f64,
}

impl Sample {
    /// Delivered messages per second (not a number for a run too short
    /// for chat-load's millisecond clock, as in the smoke run).
    pub fn per_sec(&self) -> f64 {
        if self.secs > 0.0 {
            self.delivered / self.secs
        } else {
            f64::NAN
        }
    }

    /// Server CPU per delivery, µs. chat-load reads CPU time from
    /// `/proc` in clock ticks (10 ms), so a run of 0.1 s has about one
    /// digit of it: the median of several rounds says more than one.
    pub fn server_us(&self) -> f64 {
        self.server_cpu * 1e6 / self.delivered
    }

    pub fn load_us(&self) -> f64 {
        self.load_cpu * 1e6 / self.delivered
    }
}

/// The numbers in a line of chat-load's report, in order (words such as
/// `p50` are not numbers).
fn numbers(line: &str) -> Vec<f64> {
    line.split_whitespace()
        .filter_map(|word| {
            word.trim_matches(|c: char| "(),:*".contains(c))
                .parse()
                .ok()
        })
        .collect()
}

/// Reads chat-load's report (its standard output).
pub fn parse(report: &str) -> Result<Sample, String> {
    let line = |prefix: &str, count: usize| -> Result<Vec<f64>, String> {
        let line = report
            .lines()
            .find(|l| l.starts_with(prefix))
            .ok_or_else(|| format!("chat-load printed no {prefix:?} line"))?;
        let numbers = numbers(line);
        if numbers.len() < count {
            return Err(format!("cannot read {line:?}"));
        }
        Ok(numbers)
    };
    // "delivered: D of E messages in S s: R M messages/s"
    let delivered = line("delivered:", 3)?;
    // "frames: F (M messages per frame)"
    let frames = line("frames:", 2)?;
    // "latency (send to delivery): p50 A ms, p99 B ms, max C ms"
    let latency = line("latency", 3)?;
    // "CPU during delivery: server S s, load tool L s (...)"
    let cpu = line("CPU during delivery:", 2)?;
    // "server RSS: I MiB idle, C MiB with N clients (K KiB per connection), ..."
    let rss = line("server RSS:", 4)?;
    let cut = match report.lines().find(|l| l.starts_with("cut short:")) {
        Some(l) => numbers(l).first().map_or(0, |&n| n as usize),
        None => 0,
    };
    Ok(Sample {
        delivered: delivered[0],
        secs: delivered[2],
        per_frame: frames[1],
        p50_ms: latency[0],
        p99_ms: latency[1],
        server_cpu: cpu[0],
        load_cpu: cpu[1],
        rss_kib: rss[3],
        cut,
        others: 0.0,
    })
}

/// One measurement: a fresh server process, one chat-load run.
#[derive(Clone, Debug)]
pub struct Point {
    /// Index into the run's workloads.
    pub workload: usize,
    pub server: Server,
    pub round: usize,
    pub sample: Result<Sample, String>,
}

/// How the run was made, for the page's header: netbench's, since the
/// header says the same.
pub use crate::net::report::Context;

/// The samples of one (workload, server), in round order.
fn samples(points: &[Point], workload: usize, server: Server) -> Vec<(usize, &Sample)> {
    points
        .iter()
        .filter(|p| p.workload == workload && p.server == server)
        .filter_map(|p| p.sample.as_ref().ok().map(|s| (p.round, s)))
        .collect()
}

/// The median over rounds of one figure.
fn med(samples: &[(usize, &Sample)], f: impl Fn(&Sample) -> f64) -> f64 {
    median(samples.iter().map(|(_, s)| f(s)).collect())
}

/// `grt / tokio`, or "-" when either is missing or zero (server CPU in a
/// burst cut short can be under chat-load's 10 ms clock tick).
fn ratio(grt: f64, tokio: f64) -> String {
    if grt.is_finite() && tokio.is_finite() && grt > 0.0 && tokio > 0.0 {
        format!("{:.2}", grt / tokio)
    } else {
        "-".into()
    }
}

/// The page: ratios first, then absolute figures.
pub fn markdown(workloads: &[Workload], points: &[Point], ctx: &Context) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Chat hub fan-out: grt against tokio (generated)\n\n\
         Written by `chatbench` (benches/src/bin/chatbench.rs); rerun it rather than edit. \
         The design of the benchmark and the reading of these numbers are in \
         [benchmarks.md](benchmarks.md#against-the-same-hub-on-tokio).\n"
    );
    ctx.write_list(&mut md);
    let _ = writeln!(
        md,
        "## Ratios, grt / tokio\n\n\
         Medians over the rounds. Delivered messages/s above 1 means grt delivered faster; \
         latency, server CPU per delivery and RSS per connection below 1 mean grt is faster \
         or cheaper. \"per round\" is each round's messages/s ratio (grt and tokio run back to \
         back), and \"paired\" their median, which cancels what changes slowly on a shared \
         machine (other tenants' load over minutes) but not what changes within a run; where \
         the two summaries disagree, the per-round list shows which rounds were disturbed. A \
         rate marked \\* is of a run in which clients were cut (dismissed as too slow): it \
         counts what was delivered before, and the cuts are in the next table.\n\n\
         | clients | sending | msgs/s | paired | p50 | p99 | server CPU/delivery | RSS/connection | per round |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|---|"
    );
    for (w, workload) in workloads.iter().enumerate() {
        let grt = samples(points, w, Server::Grt);
        let tokio = samples(points, w, Server::Tokio);
        let any_cut = grt.iter().chain(&tokio).any(|(_, s)| s.cut > 0);
        let per_round: Vec<f64> = grt
            .iter()
            .filter_map(|(round, g)| {
                let (_, t) = tokio.iter().find(|(r, _)| r == round)?;
                Some(g.per_sec() / t.per_sec())
            })
            .collect();
        let rounds: Vec<String> = per_round.iter().map(|&r| ratio(r, 1.0)).collect();
        let both = |f: fn(&Sample) -> f64| ratio(med(&grt, f), med(&tokio, f));
        let _ = writeln!(
            md,
            "| {} | {} | {}{cut} | **{}**{cut} | {} | {} | {} | {} | {} |",
            workload.clients,
            workload.mode(),
            both(Sample::per_sec),
            ratio(median(per_round), 1.0),
            both(|s| s.p50_ms),
            both(|s| s.p99_ms),
            both(Sample::server_us),
            both(|s| s.rss_kib),
            rounds.join(", "),
            cut = if any_cut { "\\*" } else { "" },
        );
    }
    let _ = writeln!(
        md,
        "\n## Absolute figures\n\n\
         Medians over the rounds; \"range\" is the slowest and fastest round. \"cut\" lists \
         each round's clients dismissed as too slow. CPU is per delivered message, the \
         server's and the load tool's (`chat-load` runs on grt, on the same two cores); \
         \"others\" is what the rest of the machine used during the run, in cores.\n\n\
         | clients | sending | server | M msgs/s | range | p50 ms | p99 ms | msgs/frame | \
         server µs | load µs | RSS KiB/conn | cut | others |\n\
         |---:|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|---:|"
    );
    for (w, workload) in workloads.iter().enumerate() {
        for server in Server::ALL {
            let s = samples(points, w, server);
            if s.is_empty() {
                continue;
            }
            let rates: Vec<f64> = s.iter().map(|(_, s)| s.per_sec() / 1e6).collect();
            let (lo, hi) = rates.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &r| {
                (lo.min(r), hi.max(r))
            });
            let cuts: Vec<String> = s.iter().map(|(_, s)| s.cut.to_string()).collect();
            let _ = writeln!(
                md,
                "| {} | {} | {server} | {:.2} | {lo:.2}–{hi:.2} | {:.2} | {:.2} | {:.1} | {:.2} | \
                 {:.2} | {:.1} | {} | {:.2} |",
                workload.clients,
                workload.mode(),
                median(rates.clone()),
                med(&s, |s| s.p50_ms),
                med(&s, |s| s.p99_ms),
                med(&s, |s| s.per_frame),
                med(&s, Sample::server_us),
                med(&s, Sample::load_us),
                med(&s, |s| s.rss_kib),
                cuts.join(", "),
                med(&s, |s| s.others),
            );
        }
    }
    let failed: Vec<&Point> = points.iter().filter(|p| p.sample.is_err()).collect();
    if !failed.is_empty() {
        let _ = writeln!(md, "\n## Failed runs\n");
        for p in failed {
            let _ = writeln!(
                md,
                "- {} clients, {}, {}, round {}: {}",
                workloads[p.workload].clients,
                workloads[p.workload].mode(),
                p.server,
                p.round + 1,
                p.sample.as_ref().err().map_or("", String::as_str)
            );
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report as chat-load prints it (a burst in which clients were cut).
    const REPORT: &str = "\
chat-load: 200 clients in 1 rooms, 20 senders × 50 messages of 64 bytes, server pid 7 at 127.0.0.1:1
connected: 200 clients in 0.01 s
delivered: 144253 of 200000 messages in 0.035 s: 4.14 M messages/s
frames: 1410 (102.3 messages per frame)
latency (send to delivery): p50 21.82 ms, p99 33.61 ms, max 34.02 ms
CPU during delivery: server 0.03 s, load tool 0.02 s (0.2 µs and 0.1 µs per delivery)
server RSS: 3.6 MiB idle, 7.0 MiB with 200 clients (17.2 KiB per connection), 11.6 MiB after the burst (40.7 KiB per connection)
load tool RSS: 3.1 MiB idle, 7.3 MiB connected (21.3 KiB per client)
cut short: 118 clients, e.g. \"closed: 1008 too slow: send buffer full\"
";

    #[test]
    fn reads_chat_loads_report() {
        let s = parse(REPORT).unwrap();
        assert_eq!(s.delivered, 144253.0);
        assert_eq!(s.secs, 0.035);
        assert_eq!(s.per_frame, 102.3);
        assert_eq!((s.p50_ms, s.p99_ms), (21.82, 33.61));
        assert_eq!((s.server_cpu, s.load_cpu), (0.03, 0.02));
        assert_eq!(s.rss_kib, 17.2);
        assert_eq!(s.cut, 118);
    }

    #[test]
    fn a_missing_line_fails() {
        let without_latency: String = REPORT
            .lines()
            .filter(|l| !l.starts_with("latency"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(parse(&without_latency).is_err());
    }

    #[test]
    fn workloads_become_options() {
        let w = Workload {
            clients: 200,
            senders: 20,
            messages: 50,
            echo: false,
            send_buffer: Some(4096),
        };
        assert_eq!(w.mode(), "burst, queue 4096");
        assert_eq!(w.deliveries(), 200_000);
        assert_eq!(
            w.load_args(),
            [
                "--clients=200",
                "--senders=20",
                "--messages=50",
                "--server-arg=--send-buffer=4096"
            ]
        );
    }
}
