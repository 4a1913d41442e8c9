//! A run's results as docs/benchmarks-gateway.md: the gateway issue's
//! targets, ratios (grt against nginx at the same worker count, grt
//! against Go and against tokio/hyper), and the absolute figures with
//! their ranges over rounds; and the headline figures for `bench-all`'s
//! summary.

use std::fmt::Write as _;

use grt_benches::net::report::{distinct, median, rate, ratio};
use grt_benches::results::Figure;

use super::proxy::Kind;
use super::wrk::Report;

/// One measurement: a fresh proxy process, one wrk run.
pub struct Point {
    pub kind: Kind,
    pub workers: usize,
    pub conns: usize,
    pub round: usize,
    pub result: Result<Sample, String>,
}

/// What one measurement found.
pub struct Sample {
    pub report: Report,
    /// Wall seconds from wrk's start to its exit: the window the CPU
    /// figures below are over.
    pub secs: f64,
    /// CPU seconds of the proxy (nginx: master and workers), of the
    /// backends, of wrk, and of everything else on the machine.
    pub proxy_cpu: f64,
    pub backend_cpu: f64,
    pub wrk_cpu: f64,
    pub other_cpu: f64,
    /// The proxy's resident memory half way through the run (nginx:
    /// master and workers summed, shared pages counted in each).
    pub rss_kib: u64,
}

impl Sample {
    /// The proxy's CPU microseconds per request.
    pub fn proxy_us_per_req(&self) -> f64 {
        self.proxy_cpu * 1e6 / self.report.requests as f64
    }

    /// Cores the rest of the machine used during the run.
    pub fn other_cores(&self) -> f64 {
        self.other_cpu / self.secs
    }
}

/// How the run was made, for the page's header.
pub struct Context {
    pub date: String,
    pub machine: String,
    /// nginx's, wrk's and Go's (hyper's is Cargo.lock's, at the commit
    /// the machine line names).
    pub versions: String,
    pub command: String,
    pub settings: String,
    /// Why a proxy was left out.
    pub notes: Vec<String>,
    pub load_before: String,
    pub load_after: String,
}

/// Medians over the rounds of one (proxy, workers, conns).
struct Summary {
    per_sec: f64,
    min_per_sec: f64,
    max_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
    us_per_req: f64,
    proxy_cores: f64,
    rss_mib: f64,
    wrk_cores: f64,
    backend_cores: f64,
    other_cores: f64,
    rounds: usize,
}

fn summary(points: &[Point], kind: Kind, workers: usize, conns: usize) -> Option<Summary> {
    let s: Vec<&Sample> = points
        .iter()
        .filter(|p| p.kind == kind && p.workers == workers && p.conns == conns)
        .filter_map(|p| p.result.as_ref().ok())
        .collect();
    if s.is_empty() {
        return None;
    }
    let of = |f: fn(&Sample) -> f64| median(s.iter().map(|x| f(x)).collect());
    let rates: Vec<f64> = s.iter().map(|x| x.report.per_sec()).collect();
    Some(Summary {
        per_sec: median(rates.clone()),
        min_per_sec: rates.iter().copied().fold(f64::INFINITY, f64::min),
        max_per_sec: rates.iter().copied().fold(0.0, f64::max),
        p50_us: of(|x| x.report.p50_us),
        p99_us: of(|x| x.report.p99_us),
        us_per_req: of(Sample::proxy_us_per_req),
        proxy_cores: of(|x| x.proxy_cpu / x.secs),
        rss_mib: of(|x| x.rss_kib as f64 / 1024.0),
        wrk_cores: of(|x| x.wrk_cpu / x.secs),
        backend_cores: of(|x| x.backend_cpu / x.secs),
        other_cores: of(Sample::other_cores),
        rounds: s.len(),
    })
}

/// The headline figures for the summary (grt_benches::results): at every
/// point, requests/s and p99, grt against nginx, Go and hyper at the same
/// worker count.
pub fn figures(points: &[Point]) -> Vec<Figure> {
    let mut figures = Vec::new();
    for conns in distinct(points, |p| p.conns) {
        for workers in distinct(points, |p| p.workers) {
            let Some(grt) = summary(points, Kind::Grt, workers, conns) else {
                continue;
            };
            let point = format!(
                "{conns} conns, {workers} worker{}",
                if workers == 1 { "" } else { "s" }
            );
            for (kind, against) in [
                (Kind::Nginx, "nginx"),
                (Kind::Go, "Go"),
                (Kind::Hyper, "hyper"),
            ] {
                let Some(other) = summary(points, kind, workers, conns) else {
                    continue;
                };
                figures.extend(Figure::new(
                    &point,
                    "req/s",
                    grt.per_sec,
                    other.per_sec,
                    against,
                    true,
                ));
                figures.extend(Figure::new(
                    &point,
                    "p99 µs",
                    grt.p99_us,
                    other.p99_us,
                    against,
                    false,
                ));
            }
        }
    }
    figures
}

/// "yes"/"no" for a target, "-" when a side is missing.
fn met(holds: Option<bool>) -> &'static str {
    match holds {
        Some(true) => "yes",
        Some(false) => "no",
        None => "-",
    }
}

/// The page.
pub fn markdown(points: &[Point], ctx: &Context) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(
        w,
        "# Gateway under load: grt against nginx, Go's httputil and tokio/hyper (generated)\n"
    );
    let _ = writeln!(
        w,
        "Written by `gatewaybench` (benches/src/bin/gatewaybench/); rerun it rather \
         than edit. What runs and how to read it: \
         [benchmarks.md](benchmarks.md#gateway-grt-against-nginx-and-gos-httputil).\n"
    );
    let _ = writeln!(w, "- Date: {}", ctx.date);
    let _ = writeln!(w, "- Machine: {}", ctx.machine);
    let _ = writeln!(w, "- Tools: {}", ctx.versions);
    let _ = writeln!(w, "- Command: `{}`", ctx.command);
    let _ = writeln!(w, "- Settings: {}", ctx.settings);
    for note in &ctx.notes {
        let _ = writeln!(w, "- Note: {note}");
    }
    let _ = writeln!(
        w,
        "- Load average (1, 5, 15 min) before: {}; after: {}\n",
        ctx.load_before, ctx.load_after
    );

    let workers = distinct(points, |p| p.workers);
    let conns = distinct(points, |p| p.conns);
    let kinds = distinct(points, |p| p.kind);
    let each = || {
        conns
            .iter()
            .flat_map(|&c| workers.iter().map(move |&w| (c, w)))
    };

    let _ = writeln!(w, "## Ratios\n");
    let _ = writeln!(
        w,
        "Medians over the rounds, grt's figure over the other's at the same worker \
         count. Requests/s above 1: grt faster; latency, CPU per request and RSS \
         below 1: grt faster or leaner. The gateway issue's targets: requests/s at \
         least nginx's, p99 below Go's.\n"
    );
    let _ = writeln!(
        w,
        "| conns | workers | req/s grt/nginx | p50 | p99 | CPU/req | RSS | req/s grt/Go | p99 grt/Go | req/s grt/hyper | p99 grt/hyper | req/s ≥ nginx | p99 < Go |"
    );
    let _ = writeln!(
        w,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
    );
    for (c, nw) in each() {
        let grt = summary(points, Kind::Grt, nw, c);
        let nginx = summary(points, Kind::Nginx, nw, c);
        let go = summary(points, Kind::Go, nw, c);
        let hyper = summary(points, Kind::Hyper, nw, c);
        let pick = |s: &Option<Summary>, f: fn(&Summary) -> f64| s.as_ref().map(f);
        let both = |a: &Option<Summary>, b: &Option<Summary>, f: fn(&Summary, &Summary) -> bool| {
            a.as_ref().zip(b.as_ref()).map(|(a, b)| f(a, b))
        };
        let _ = writeln!(
            w,
            "| {c} | {nw} | **{}** | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            ratio(pick(&grt, |s| s.per_sec), pick(&nginx, |s| s.per_sec)),
            ratio(pick(&grt, |s| s.p50_us), pick(&nginx, |s| s.p50_us)),
            ratio(pick(&grt, |s| s.p99_us), pick(&nginx, |s| s.p99_us)),
            ratio(pick(&grt, |s| s.us_per_req), pick(&nginx, |s| s.us_per_req)),
            ratio(pick(&grt, |s| s.rss_mib), pick(&nginx, |s| s.rss_mib)),
            ratio(pick(&grt, |s| s.per_sec), pick(&go, |s| s.per_sec)),
            ratio(pick(&grt, |s| s.p99_us), pick(&go, |s| s.p99_us)),
            ratio(pick(&grt, |s| s.per_sec), pick(&hyper, |s| s.per_sec)),
            ratio(pick(&grt, |s| s.p99_us), pick(&hyper, |s| s.p99_us)),
            met(both(&grt, &nginx, |g, n| g.per_sec >= n.per_sec)),
            met(both(&grt, &go, |g, o| g.p99_us < o.p99_us)),
        );
    }

    let _ = writeln!(w, "\n## Absolute figures\n");
    let _ = writeln!(
        w,
        "Medians over the rounds; \"range\" is the slowest and fastest round. CPU \
         µs/req is the proxy's CPU time over the run divided by the requests wrk \
         counted; cores are CPU seconds per second of the run, for the proxy, wrk \
         (one thread: 1.00 is saturated), the backends, and the rest of the \
         machine. RSS is the proxy's `VmRSS` half way through the run (nginx: \
         master and workers summed).\n"
    );
    let _ = writeln!(
        w,
        "| conns | workers | proxy | req/s | range | p50 µs | p99 µs | CPU µs/req | proxy cores | RSS MiB | wrk | backends | others | rounds |"
    );
    let _ = writeln!(
        w,
        "|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (c, nw) in each() {
        for &kind in &kinds {
            let title = kind.title();
            match summary(points, kind, nw, c) {
                Some(s) => {
                    let _ = writeln!(
                        w,
                        "| {c} | {nw} | {title} | {:.0} | {}–{} | {:.0} | {:.0} | {:.1} | {:.2} | {:.1} | {:.2} | {:.2} | {:.2} | {} |",
                        s.per_sec,
                        rate(s.min_per_sec),
                        rate(s.max_per_sec),
                        s.p50_us,
                        s.p99_us,
                        s.us_per_req,
                        s.proxy_cores,
                        s.rss_mib,
                        s.wrk_cores,
                        s.backend_cores,
                        s.other_cores,
                        s.rounds,
                    );
                }
                None => {
                    let _ = writeln!(w, "| {c} | {nw} | {title} | failed | | | | | | | | | | 0 |");
                }
            }
        }
    }

    let failures: Vec<&Point> = points.iter().filter(|p| p.result.is_err()).collect();
    if !failures.is_empty() {
        let _ = writeln!(w, "\n## Failed runs\n");
        let _ = writeln!(w, "| proxy | workers | conns | round | what happened |");
        let _ = writeln!(w, "|---|---:|---:|---:|---|");
        for p in failures {
            let why = p.result.as_ref().err().map_or("", |e| e.as_str());
            let (kind, nw, c, round) = (p.kind.title(), p.workers, p.conns, p.round + 1);
            let _ = writeln!(
                w,
                "| {kind} | {nw} | {c} | {round} | {} |",
                why.replace('|', "/")
            );
        }
    }
    md
}
