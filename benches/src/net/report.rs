//! A run's results as docs: a markdown page of grt/tokio ratios and
//! absolute figures, and an SVG chart of throughput (grouped bars: one
//! group per connection count, one bar per server, the whisker spanning
//! the rounds).
//!
//! The chart is drawn by hand: `plotters` is not in the offline crate
//! registry of our machines, and bars, ticks and labels are a page of
//! code.

use std::fmt::Write as _;

use super::load::Sample;
use super::{Server, Workload};
use crate::results::Figure;

/// One measurement: a fresh server process, one load run.
#[derive(Clone, Debug)]
pub struct Point {
    pub workload: Workload,
    pub workers: usize,
    pub conns: usize,
    pub server: Server,
    pub round: usize,
    pub sample: Result<Sample, String>,
}

/// How the run was made, for the page's header: netbench's page, and
/// chatbench's (src/chatbench.rs), which say the same about their runs.
#[derive(Clone, Debug, Default)]
pub struct Context {
    pub date: String,
    pub machine: String,
    pub command: String,
    pub settings: String,
    pub load_before: String,
    pub load_after: String,
}

impl Context {
    /// The header's list (date, machine, command, settings, load before
    /// and after) and the blank line that ends it.
    pub fn write_list(&self, w: &mut String) {
        let _ = writeln!(w, "- Date: {}", self.date);
        let _ = writeln!(w, "- Machine: {}", self.machine);
        let _ = writeln!(w, "- Command: `{}`", self.command);
        let _ = writeln!(w, "- Settings: {}", self.settings);
        let _ = writeln!(
            w,
            "- Load average (1, 5, 15 min) before: {}; after: {}\n",
            self.load_before, self.load_after
        );
    }
}

/// The median of the rounds of one (workload, workers, conns, server).
#[derive(Clone, Copy, Debug, Default)]
struct Summary {
    per_sec: f64,
    min_per_sec: f64,
    max_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
    server_us: f64,
    server_cores: f64,
    client_cores: f64,
    other_cores: f64,
    rounds: usize,
}

/// The median of `values`; NaN if there are none.
pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn samples<'a>(
    points: &'a [Point],
    workload: Workload,
    workers: usize,
    conns: usize,
    server: Server,
) -> impl Iterator<Item = (usize, &'a Sample)> + 'a {
    points.iter().filter_map(move |p| {
        (p.workload == workload && p.workers == workers && p.conns == conns && p.server == server)
            .then_some(())
            .and(p.sample.as_ref().ok().map(|s| (p.round, s)))
    })
}

fn summary(
    points: &[Point],
    workload: Workload,
    workers: usize,
    conns: usize,
    server: Server,
) -> Option<Summary> {
    let s: Vec<&Sample> = samples(points, workload, workers, conns, server)
        .map(|(_, s)| s)
        .collect();
    if s.is_empty() {
        return None;
    }
    let of = |f: fn(&Sample) -> f64| median(s.iter().map(|x| f(x)).collect());
    let rates: Vec<f64> = s.iter().map(|x| x.per_sec()).collect();
    Some(Summary {
        per_sec: median(rates.clone()),
        min_per_sec: rates.iter().copied().fold(f64::INFINITY, f64::min),
        max_per_sec: rates.iter().copied().fold(0.0, f64::max),
        p50_us: of(|x| x.p50_us),
        p99_us: of(|x| x.p99_us),
        server_us: of(|x| x.server_us_per_op()),
        server_cores: of(|x| x.server_cpu / x.secs),
        client_cores: of(|x| x.client_cpu / x.secs),
        other_cores: of(|x| x.other_cpu / x.secs),
        rounds: s.len(),
    })
}

/// grt/tokio throughput ratio of each round (grt and tokio ran next to
/// each other in it), in round order.
fn round_ratios(
    points: &[Point],
    workload: Workload,
    workers: usize,
    conns: usize,
    other: Server,
) -> Vec<f64> {
    let theirs: Vec<(usize, &Sample)> = samples(points, workload, workers, conns, other).collect();
    samples(points, workload, workers, conns, Server::Grt)
        .filter_map(|(round, grt)| {
            theirs
                .iter()
                .find(|(r, _)| *r == round)
                .map(|(_, t)| grt.per_sec() / t.per_sec())
        })
        .collect()
}

/// The distinct values of `f` over `points`, in first-seen order.
pub fn distinct<P, T: PartialEq + Copy>(points: &[P], f: impl Fn(&P) -> T) -> Vec<T> {
    let mut out = Vec::new();
    for p in points {
        let v = f(p);
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// A rate for a table cell: "143k", "950", "-" for none.
pub fn rate(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v >= 10_000.0 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// `a / b` for a table cell, to two decimals; "-" if either is missing.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "-".into(),
    }
}

/// The markdown page; `chart` is the chart's path relative to it.
pub fn markdown(points: &[Point], ctx: &Context, chart: &str) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "# Sockets under load: grt against tokio (generated)\n");
    let _ = writeln!(
        w,
        "Written by `netbench` (benches/src/bin/netbench.rs); rerun it rather than \
         edit. The design of the benchmark and the reading of these numbers are in \
         [benchmarks.md](benchmarks.md#sockets-tcp-echo-and-http-hello-grt-against-tokio).\n"
    );
    ctx.write_list(w);
    let _ = writeln!(w, "![throughput, grt against tokio]({chart})\n");

    let workloads = distinct(points, |p| p.workload);
    let workers = distinct(points, |p| p.workers);
    let conns = distinct(points, |p| p.conns);
    let servers = distinct(points, |p| p.server);
    let hyper = servers.contains(&Server::Hyper);

    let _ = writeln!(w, "## Ratios, grt / tokio\n");
    let _ = writeln!(
        w,
        "Medians over the rounds. Throughput above 1 means grt is faster; latency \
         and server CPU per exchange below 1 mean grt is faster or cheaper. \
         \"per round\" is each round's throughput ratio (grt and tokio measured \
         back to back).\n"
    );
    let _ = write!(
        w,
        "| workload | workers | conns | throughput | p50 | p99 | server CPU/op | per round |"
    );
    if hyper {
        let _ = write!(w, " throughput grt/hyper |");
    }
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "|---|---:|---:|---:|---:|---:|---:|---|{}",
        if hyper { "---:|" } else { "" }
    );
    for &workload in &workloads {
        for &nw in &workers {
            for &nc in &conns {
                let g = summary(points, workload, nw, nc, Server::Grt);
                let t = summary(points, workload, nw, nc, Server::Tokio);
                let per_round: Vec<String> = round_ratios(points, workload, nw, nc, Server::Tokio)
                    .iter()
                    .map(|r| format!("{r:.2}"))
                    .collect();
                let _ = write!(
                    w,
                    "| {} | {} | {} | **{}** | {} | {} | {} | {} |",
                    workload.name(),
                    nw,
                    nc,
                    ratio(g.map(|s| s.per_sec), t.map(|s| s.per_sec)),
                    ratio(g.map(|s| s.p50_us), t.map(|s| s.p50_us)),
                    ratio(g.map(|s| s.p99_us), t.map(|s| s.p99_us)),
                    ratio(g.map(|s| s.server_us), t.map(|s| s.server_us)),
                    per_round.join(", "),
                );
                if hyper {
                    let h = summary(points, workload, nw, nc, Server::Hyper);
                    let _ = write!(
                        w,
                        " {} |",
                        ratio(g.map(|s| s.per_sec), h.map(|s| s.per_sec))
                    );
                }
                let _ = writeln!(w);
            }
        }
    }

    for &workload in &workloads {
        let _ = writeln!(w, "\n## {}: absolute figures\n", workload.title());
        let _ = writeln!(
            w,
            "Medians over the rounds; \"range\" is the slowest and fastest round. \
             Server and load cores are CPU seconds per second of the window (the \
             load is one thread, so 1.00 means it was saturated); \"others\" is \
             what the rest of the machine used meanwhile.\n"
        );
        let _ = writeln!(
            w,
            "| workers | conns | server | {} | range | p50 µs | p99 µs | server CPU µs/op | server cores | load cores | others |",
            workload.unit()
        );
        let _ = writeln!(w, "|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---:|");
        for &nw in &workers {
            for &nc in &conns {
                for &server in &servers {
                    if !server.serves(workload) {
                        continue;
                    }
                    match summary(points, workload, nw, nc, server) {
                        Some(s) => {
                            let _ = writeln!(
                                w,
                                "| {nw} | {nc} | {server} | {:.0} | {}–{} | {:.1} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} |",
                                s.per_sec,
                                rate(s.min_per_sec),
                                rate(s.max_per_sec),
                                s.p50_us,
                                s.p99_us,
                                s.server_us,
                                s.server_cores,
                                s.client_cores,
                                s.other_cores,
                            );
                        }
                        None => {
                            let _ =
                                writeln!(w, "| {nw} | {nc} | {server} | failed | | | | | | | |");
                        }
                    }
                }
            }
        }
    }

    let failures: Vec<&Point> = points.iter().filter(|p| p.sample.is_err()).collect();
    if !failures.is_empty() {
        let _ = writeln!(w, "\n## Failed runs\n");
        for p in failures {
            let _ = writeln!(
                w,
                "- {} {} workers={} conns={} round {}: {}",
                p.server,
                p.workload,
                p.workers,
                p.conns,
                p.round,
                p.sample.as_ref().err().map_or("", |e| e.as_str())
            );
        }
    }
    md
}

/// The headline figures for the summary (crate::results): throughput and
/// p99, grt against tokio, at every workload and worker count, at the two
/// largest connection counts measured (100 and 1,000 in the full run),
/// where the runtimes differ most.
pub fn figures(points: &[Point]) -> Vec<Figure> {
    let mut conns = distinct(points, |p| p.conns);
    conns.sort_unstable();
    let crowded = &conns[conns.len().saturating_sub(2)..];
    let mut figures = Vec::new();
    for workload in distinct(points, |p| p.workload) {
        for nw in distinct(points, |p| p.workers) {
            for &nc in crowded {
                let (Some(g), Some(t)) = (
                    summary(points, workload, nw, nc, Server::Grt),
                    summary(points, workload, nw, nc, Server::Tokio),
                ) else {
                    continue;
                };
                let point = format!(
                    "{workload}, {nw} worker{}, {nc} conns",
                    if nw == 1 { "" } else { "s" }
                );
                figures.extend(Figure::new(
                    &point,
                    workload.unit(),
                    g.per_sec,
                    t.per_sec,
                    "tokio",
                    true,
                ));
                figures.extend(Figure::new(
                    point, "p99 µs", g.p99_us, t.p99_us, "tokio", false,
                ));
            }
        }
    }
    figures
}

/// Colours of the servers' bars.
fn colour(server: Server) -> &'static str {
    match server {
        Server::Grt => "#d95f02",
        Server::Tokio => "#1b6ca8",
        Server::Hyper => "#8c8c8c",
    }
}

/// A round step for about `n` ticks up to `max`: 1, 2 or 5 times a power
/// of ten.
fn tick_step(max: f64, n: f64) -> f64 {
    let raw = (max / n).max(1.0);
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * power)
}

/// Escapes text for SVG.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An SVG chart's opening: the `<svg>` element, a white page, the title
/// in bold and a grey subtitle under it (the first 40 pixels).
pub fn svg_head(width: f64, height: f64, title: &str, subtitle: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        s,
        r##"<rect width="100%" height="100%" fill="white"/><text x="10" y="20" font-size="15" font-weight="bold">{}</text><text x="10" y="38" fill="#555">{}</text>"##,
        esc(title),
        esc(subtitle)
    );
    s
}

/// The chart: one panel per (workers, workload), rows by workers.
pub fn svg(points: &[Point], subtitle: &str) -> String {
    const PANEL_W: f64 = 440.0;
    const PANEL_H: f64 = 270.0;
    const TOP: f64 = 62.0;
    const LEFT: f64 = 58.0;
    const PLOT_W: f64 = PANEL_W - LEFT - 16.0;
    const PLOT_H: f64 = PANEL_H - 78.0;

    let workloads = distinct(points, |p| p.workload);
    let workers = distinct(points, |p| p.workers);
    let conns = distinct(points, |p| p.conns);
    let servers = distinct(points, |p| p.server);
    let width = PANEL_W * workloads.len() as f64 + 10.0;
    let height = TOP + PANEL_H * workers.len() as f64;

    let mut s = svg_head(
        width,
        height,
        "grt against tokio: exchanges per second (median of rounds; whiskers: slowest and fastest round)",
        subtitle,
    );
    // Legend.
    let mut lx = 10.0;
    for &server in &servers {
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="46" width="12" height="12" fill="{}"/><text x="{}" y="56">{}</text>"#,
            colour(server),
            lx + 16.0,
            server.name()
        );
        lx += 70.0;
    }

    for (row, &nw) in workers.iter().enumerate() {
        for (col, &workload) in workloads.iter().enumerate() {
            let x0 = 10.0 + PANEL_W * col as f64 + LEFT;
            let y0 = TOP + PANEL_H * row as f64 + 30.0;
            let plot_bottom = y0 + PLOT_H;
            let in_panel: Vec<Server> = servers
                .iter()
                .copied()
                .filter(|server| server.serves(workload))
                .collect();
            let sums: Vec<Vec<Option<Summary>>> = conns
                .iter()
                .map(|&nc| {
                    in_panel
                        .iter()
                        .map(|&server| summary(points, workload, nw, nc, server))
                        .collect()
                })
                .collect();
            let max = sums
                .iter()
                .flatten()
                .flatten()
                .map(|s| s.max_per_sec)
                .fold(1.0, f64::max);
            let step = tick_step(max, 5.0);
            let top = (max / step).ceil() * step;
            let y = |v: f64| plot_bottom - v / top * PLOT_H;

            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" font-size="13" font-weight="bold">{}, {} worker{} ({})</text>"#,
                x0 - LEFT + 4.0,
                y0 - 12.0,
                esc(workload.title()),
                nw,
                if nw == 1 { "" } else { "s" },
                workload.unit()
            );
            let mut tick = 0.0;
            while tick <= top + 0.5 {
                let ty = y(tick);
                let _ = writeln!(
                    s,
                    r##"<line x1="{x0}" x2="{:.1}" y1="{ty:.1}" y2="{ty:.1}" stroke="#e3e3e3"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
                    x0 + PLOT_W,
                    x0 - 6.0,
                    ty + 4.0,
                    rate(tick)
                );
                tick += step;
            }
            let _ = writeln!(
                s,
                r##"<line x1="{x0}" x2="{:.1}" y1="{plot_bottom:.1}" y2="{plot_bottom:.1}" stroke="#333"/>"##,
                x0 + PLOT_W
            );

            let group_w = PLOT_W / conns.len() as f64;
            let bar_w = (group_w * 0.8 / in_panel.len() as f64).min(44.0);
            for (g, (&nc, row_sums)) in conns.iter().zip(&sums).enumerate() {
                let gx = x0 + group_w * g as f64;
                let first = gx + (group_w - bar_w * in_panel.len() as f64) / 2.0;
                for (b, (&server, sum)) in in_panel.iter().zip(row_sums).enumerate() {
                    let Some(sum) = sum else { continue };
                    let bx = first + bar_w * b as f64;
                    let by = y(sum.per_sec);
                    let cx = bx + bar_w / 2.0;
                    let _ = writeln!(
                        s,
                        r##"<rect x="{bx:.1}" y="{by:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {} conns: {:.0} {} (median of {})</title></rect>"##,
                        bar_w - 2.0,
                        plot_bottom - by,
                        colour(server),
                        server.name(),
                        nc,
                        sum.per_sec,
                        workload.unit(),
                        sum.rounds
                    );
                    let _ = writeln!(
                        s,
                        r##"<line x1="{cx:.1}" x2="{cx:.1}" y1="{:.1}" y2="{:.1}" stroke="#222"/><text x="{cx:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text>"##,
                        y(sum.min_per_sec),
                        y(sum.max_per_sec),
                        y(sum.max_per_sec) - 4.0,
                        rate(sum.per_sec)
                    );
                }
                let _ = writeln!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">{nc} conns</text>"##,
                    gx + group_w / 2.0,
                    plot_bottom + 16.0
                );
            }
        }
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_ticks() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(tick_step(143_000.0, 5.0), 50_000.0);
        assert_eq!(tick_step(90.0, 5.0), 20.0);
    }
}
