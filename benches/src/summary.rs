//! docs/benchmarks-summary.md and docs/img/summary.svg: every part of the
//! comparison in one table of grt/other ratios and one chart, from the
//! figures the parts recorded (src/results.rs). `bench-all` writes them
//! after running the parts; the parts' own pages keep the details.
//!
//! The chart puts the ratios on a log scale centred on 1, so that "half
//! the time" and "twice the rate" are bars of the same length, and colours
//! each bar by who is better, since for times, latencies and memory the
//! better ratio is the one below 1. Drawn by hand, as netbench's chart is
//! (src/net/report.rs says why).

use std::fmt::Write as _;

use crate::net::report::{esc, rate, svg_head};
use crate::results::{Figure, Part, Results};

/// Ratios within this fraction of 1 are shown as even: about the spread
/// between rounds of one point on our shared 2-core machines.
pub const EVEN: f64 = 0.05;

/// One part's run, as `bench-all` saw it.
#[derive(Clone, Debug)]
pub struct PartRun {
    pub part: Part,
    /// Wall time of the part, building included.
    pub secs: f64,
    /// Its recorded figures, or why there are none.
    pub results: Result<Results, String>,
}

/// How the whole run was made, for the page's header.
#[derive(Clone, Debug, Default)]
pub struct Context {
    pub date: String,
    pub machine: String,
    pub command: String,
    pub load_before: String,
    pub load_after: String,
    /// The chart's path relative to the page.
    pub chart: String,
}

/// Who is better in `figure`: "grt", the other side, or "≈" within [`EVEN`].
pub fn better(figure: &Figure) -> String {
    if (figure.ratio() - 1.0).abs() <= EVEN {
        "≈".into()
    } else if figure.grt_better() {
        "grt".into()
    } else {
        figure.against.clone()
    }
}

/// A figure for a table cell: three significant digits, or "143k".
fn value(v: f64) -> String {
    if v >= 10_000.0 {
        rate(v)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// "1m 05s" or "42 s".
fn duration(secs: f64) -> String {
    let secs = secs.round() as u64;
    if secs >= 60 {
        format!("{}m {:02}s", secs / 60, secs % 60)
    } else {
        format!("{secs} s")
    }
}

/// The page.
pub fn markdown(runs: &[PartRun], ctx: &Context) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(
        w,
        "# Benchmarks summary: grt against tokio, hyper, OS threads, nginx and Go (generated)\n"
    );
    let _ = writeln!(
        w,
        "Written by `bench-all` (benches/src/bin/bench-all.rs); rerun it rather than edit. \
         One row per headline figure of each part: grt's figure and the other side's, \
         medians over the part's rounds. Every figure, its range over rounds and how it \
         was measured are on the part's page (last column); what the numbers mean is in \
         [benchmarks.md](benchmarks.md).\n"
    );
    let _ = writeln!(w, "- Date: {}", ctx.date);
    let _ = writeln!(w, "- Machine: {}", ctx.machine);
    let _ = writeln!(w, "- Command: `{}`", ctx.command);
    let parts: Vec<String> = runs
        .iter()
        .map(|run| match &run.results {
            Ok(r) => format!("{} {} (`{}`)", run.part, duration(run.secs), r.command),
            Err(err) => format!("{} {} (**failed**: {err})", run.part, duration(run.secs)),
        })
        .collect();
    let total: f64 = runs.iter().map(|r| r.secs).sum();
    let _ = writeln!(
        w,
        "- Parts, in order, {} in all: {}",
        duration(total),
        parts.join("; ")
    );
    let _ = writeln!(
        w,
        "- Load average (1, 5, 15 min) before: {}; after: {}",
        ctx.load_before, ctx.load_after
    );
    if runs
        .iter()
        .any(|r| r.results.as_ref().is_ok_and(|r| r.quick))
    {
        let _ = writeln!(
            w,
            "- A smoke run (`--quick`): tiny sizes and windows; the figures show that \
             every part ran and recorded, not how fast anything is."
        );
    }
    let _ = writeln!(w, "\n![grt's figures over the others']({})\n", ctx.chart);
    let _ = writeln!(
        w,
        "grt/other above 1 is better for rates (per second), below 1 for times, \
         latencies and memory; \"better\" says whose figure is, and \"≈\" marks \
         ratios within {:.0}% of 1, about the spread between rounds on these \
         machines.\n",
        EVEN * 100.0
    );
    let _ = writeln!(
        w,
        "| part | point | metric | grt | other | grt/other | better | details |"
    );
    let _ = writeln!(w, "|---|---|---|---:|---:|---:|---|---|");
    for run in runs {
        let page = run.part.page();
        let link = format!("[{}]({page})", page.split('#').next().unwrap_or(page));
        match &run.results {
            Ok(r) if !r.figures.is_empty() => {
                for f in &r.figures {
                    let _ = writeln!(
                        w,
                        "| {} | {} | {} | {} | {} {} | **{:.2}** | {} | {link} |",
                        run.part,
                        f.point,
                        f.metric,
                        value(f.grt),
                        f.against,
                        value(f.other),
                        f.ratio(),
                        better(f),
                    );
                }
            }
            Ok(_) => {
                let _ = writeln!(w, "| {} | no figures | | | | | | {link} |", run.part);
            }
            Err(_) => {
                let _ = writeln!(w, "| {} | failed | | | | | | {link} |", run.part);
            }
        }
    }
    md
}

/// Colours of the bars: grt better, the other better, even.
const BETTER: &str = "#1a9850";
const WORSE: &str = "#d73027";
const EVEN_COLOUR: &str = "#9e9e9e";

/// The chart: one horizontal bar per figure, grouped by part, from 1 to
/// the ratio on a log-2 axis.
pub fn svg(runs: &[PartRun], subtitle: &str) -> String {
    const WIDTH: f64 = 900.0;
    const LABEL_W: f64 = 370.0;
    const PLOT_X: f64 = LABEL_W + 10.0;
    const PLOT_W: f64 = 420.0;
    const TOP: f64 = 96.0;
    const ROW: f64 = 18.0;
    const HEADING: f64 = 24.0;

    let parts: Vec<(Part, &[Figure])> = runs
        .iter()
        .filter_map(|run| Some((run.part, run.results.as_ref().ok()?.figures.as_slice())))
        .filter(|(_, figures)| !figures.is_empty())
        .collect();
    // Powers of two either side of 1: enough for the widest ratio, at
    // least 2 (so that an even run still has an axis), at most 32 (a
    // wider ratio's bar stops at the edge; its number says how far).
    let widest = parts
        .iter()
        .flat_map(|(_, figures)| figures.iter())
        .map(|f| f.ratio().log2().abs())
        .fold(1.0, f64::max);
    let k = widest.ceil().min(5.0) as i32;
    let x = |ratio: f64| {
        let l = ratio.log2().clamp(-k as f64, k as f64);
        PLOT_X + (l + k as f64) / (2 * k) as f64 * PLOT_W
    };
    let rows: usize = parts.iter().map(|(_, f)| f.len()).sum();
    let height = TOP + HEADING * parts.len() as f64 + ROW * rows as f64 + 16.0;

    let mut s = svg_head(
        WIDTH,
        height,
        "grt's figure over the other side's (log scale; medians of each part's rounds)",
        subtitle,
    );
    let even = format!("within {:.0}%", EVEN * 100.0);
    let legend = [
        (BETTER, "grt better"),
        (WORSE, "the other better"),
        (EVEN_COLOUR, even.as_str()),
    ];
    for (i, (colour, label)) in legend.iter().enumerate() {
        let lx = 10.0 + 150.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="48" width="12" height="12" fill="{colour}"/><text x="{}" y="58">{label}</text>"#,
            lx + 16.0
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{}" y="58" fill="#555">rates: right is better; times, latency, memory: left is better</text>"##,
        10.0 + 150.0 * legend.len() as f64
    );
    let bottom = height - 12.0;
    for i in -k..=k {
        let tx = x(2f64.powi(i));
        let label = if i < 0 {
            format!("1/{}", 1u32 << -i)
        } else {
            format!("{}", 1u32 << i)
        };
        let stroke = if i == 0 { "#333" } else { "#e3e3e3" };
        let _ = writeln!(
            s,
            r##"<line x1="{tx:.1}" x2="{tx:.1}" y1="{:.1}" y2="{bottom:.1}" stroke="{stroke}"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle" fill="#555">{label}</text>"##,
            TOP - 10.0,
            TOP - 14.0
        );
    }

    let mut y = TOP;
    for (part, figures) in &parts {
        let _ = writeln!(
            s,
            r#"<text x="10" y="{:.1}" font-size="13" font-weight="bold">{part}</text>"#,
            y + 16.0
        );
        y += HEADING;
        for f in figures.iter() {
            let r = f.ratio();
            let colour = match better(f).as_str() {
                "≈" => EVEN_COLOUR,
                "grt" => BETTER,
                _ => WORSE,
            };
            let (a, b) = (x(1.0).min(x(r)), x(1.0).max(x(r)));
            let label = format!("{} · {} vs {}", f.point, f.metric, f.against);
            let _ = writeln!(
                s,
                r##"<text x="{LABEL_W}" y="{:.1}" text-anchor="end">{}</text><rect x="{a:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{colour}"><title>{}: grt {} / {} {} = {r:.2}</title></rect><text x="{:.1}" y="{:.1}">{r:.2}</text>"##,
                y + 12.0,
                esc(&label),
                y + 3.0,
                (b - a).max(1.0),
                ROW - 5.0,
                esc(&label),
                value(f.grt),
                esc(&f.against),
                value(f.other),
                PLOT_X + PLOT_W + 12.0,
                y + 12.0,
            );
            y += ROW;
        }
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(point: &str, metric: &str, grt: f64, other: f64, against: &str, up: bool) -> Figure {
        Figure::new(point, metric, grt, other, against, up).unwrap()
    }

    /// A run as bench-all records it: two parts with figures, one failed.
    fn runs() -> Vec<PartRun> {
        let results = |part, figures| {
            Ok(Results {
                part,
                date: "2026-12-08 10:00 UTC".into(),
                command: format!("{part} --quick"),
                quick: true,
                figures,
            })
        };
        vec![
            PartRun {
                part: Part::Micro,
                secs: 95.0,
                results: results(
                    Part::Micro,
                    vec![
                        figure("spawn_many", "ns/spawn", 205.0, 410.0, "tokio", false),
                        figure("yield_many", "ns/yield", 54.0, 27.0, "tokio", false),
                    ],
                ),
            },
            PartRun {
                part: Part::Gateway,
                secs: 400.0,
                results: results(
                    Part::Gateway,
                    vec![
                        figure(
                            "50 conns, 1 worker",
                            "req/s",
                            74_600.0,
                            82_900.0,
                            "nginx",
                            true,
                        ),
                        figure(
                            "50 conns, 1 worker",
                            "req/s",
                            76_000.0,
                            20_000.0,
                            "Go",
                            true,
                        ),
                        figure(
                            "50 conns, 1 worker",
                            "p99 µs",
                            1010.0,
                            1000.0,
                            "nginx",
                            false,
                        ),
                    ],
                ),
            },
            PartRun {
                part: Part::Chat,
                secs: 3.0,
                results: Err("chatbench exited with status 1".into()),
            },
        ]
    }

    #[test]
    fn the_table_says_who_is_better_either_way() {
        let page = markdown(&runs(), &Context::default());
        let rows: Vec<&str> = page.lines().filter(|l| l.starts_with("| ")).collect();
        assert_eq!(
            rows,
            [
                "| part | point | metric | grt | other | grt/other | better | details |",
                // Half tokio's time: grt better, though the ratio is below 1.
                "| micro | spawn_many | ns/spawn | 205 | tokio 410 | **0.50** | grt | \
                 [benchmarks.md](benchmarks.md#scheduler-micro-benchmarks-grt-against-tokio) |",
                "| micro | yield_many | ns/yield | 54.0 | tokio 27.0 | **2.00** | tokio | \
                 [benchmarks.md](benchmarks.md#scheduler-micro-benchmarks-grt-against-tokio) |",
                // Fewer requests/s: the other better, though only by 10%.
                "| gateway | 50 conns, 1 worker | req/s | 75k | nginx 83k | **0.90** | nginx | \
                 [benchmarks-gateway.md](benchmarks-gateway.md) |",
                "| gateway | 50 conns, 1 worker | req/s | 76k | Go 20k | **3.80** | grt | \
                 [benchmarks-gateway.md](benchmarks-gateway.md) |",
                "| gateway | 50 conns, 1 worker | p99 µs | 1010 | nginx 1000 | **1.01** | ≈ | \
                 [benchmarks-gateway.md](benchmarks-gateway.md) |",
                "| chat | failed | | | | | | [benchmarks-chat.md](benchmarks-chat.md) |",
            ]
        );
        assert!(page.contains("**failed**: chatbench exited with status 1"));
        assert!(page.contains("8m 18s in all"));
        assert!(page.contains("A smoke run"));
    }

    #[test]
    fn the_chart_has_a_bar_per_figure_on_a_log_axis() {
        let chart = svg(&runs(), "subtitle & more");
        assert!(chart.starts_with("<svg") && chart.ends_with("</svg>\n"));
        assert!(chart.contains("subtitle &amp; more"));
        assert_eq!(chart.matches("<title>").count(), 5);
        // The widest ratio, 3.8, needs ticks out to 4 and 1/4.
        assert!(chart.contains(">1/4</text>") && chart.contains(">4</text>"));
        assert!(!chart.contains(">8</text>"));
        // 0.50 (better) and 2.00 (worse) are bars of one length, either
        // side of 1, and coloured by who is better.
        let bar = |ratio: &str| {
            let title = format!("= {ratio}</title>");
            let end = chart.find(&title).unwrap();
            let start = chart[..end].rfind("<rect").unwrap();
            chart[start..end].to_owned()
        };
        let attr = |rect: &str, name: &str| -> String {
            let from = rect.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
            rect[from..].split('"').next().unwrap().to_owned()
        };
        let (half, double) = (bar("0.50"), bar("2.00"));
        assert_eq!(attr(&half, "width"), attr(&double, "width"));
        assert_eq!(attr(&half, "fill"), BETTER);
        assert_eq!(attr(&double, "fill"), WORSE);
        assert_eq!(attr(&bar("1.01"), "fill"), EVEN_COLOUR);
    }
}
