//! Each part of the comparison's headline figures as a JSON file, so that
//! `bench-all` can put every part in one summary (src/summary.rs) without
//! reading the markdown pages the tools write for people.
//!
//! Every tool (memory, netbench, chatbench, gatewaybench) writes its file
//! at the end of each run, quick or full, into `target/bench-results/`
//! ([`dir`]), whatever `--no-docs` says: the files are the machine-readable
//! record of the last run, and `target/` is nobody's documentation. The
//! criterion groups have no tool of their own, so their figures come from
//! criterion's estimate files ([`micro`]), which `report` reads too.
//!
//! A [`Figure`] is one comparison: grt's median and the other side's at
//! one point, and which way is better. The tools choose which of their
//! points are headline ones (netbench: the two largest connection counts;
//! gatewaybench: every point against nginx, Go and hyper; ...): the summary
//! shows what it is given.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Bench;

/// A part of the comparison, in the order `bench-all` runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// The criterion groups, grt against tokio (benches/runtimes.rs).
    Micro,
    /// RSS per parked task (src/bin/memory.rs).
    Memory,
    /// TCP echo and HTTP hello (src/bin/netbench.rs).
    Net,
    /// The chat hub's fan-out (src/bin/chatbench.rs).
    Chat,
    /// The gateway against nginx, Go and hyper (src/bin/gatewaybench/).
    Gateway,
}

impl Part {
    pub const ALL: [Part; 5] = [
        Part::Micro,
        Part::Memory,
        Part::Net,
        Part::Chat,
        Part::Gateway,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Part::Micro => "micro",
            Part::Memory => "memory",
            Part::Net => "net",
            Part::Chat => "chat",
            Part::Gateway => "gateway",
        }
    }

    /// The page with the part's details, relative to docs/: a generated
    /// page where the tool writes one, else the hand-written section.
    pub fn page(self) -> &'static str {
        match self {
            Part::Micro => "benchmarks.md#scheduler-micro-benchmarks-grt-against-tokio",
            Part::Memory => "benchmarks.md#memory-per-parked-task-with-tokio-2026-11-25",
            Part::Net => "benchmarks-net.md",
            Part::Chat => "benchmarks-chat.md",
            Part::Gateway => "benchmarks-gateway.md",
        }
    }
}

impl FromStr for Part {
    type Err = String;

    fn from_str(s: &str) -> Result<Part, String> {
        Part::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown part {s:?} (micro, memory, net, chat, gateway)"))
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One comparison: grt's figure and the other side's at one point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// Where: "echo, 1 worker, 1000 conns".
    pub point: String,
    /// What, with its unit: "req/s", "p99 µs", "ns/spawn".
    pub metric: String,
    pub grt: f64,
    pub other: f64,
    /// Who `other` is: "tokio", "nginx", "Go", "threads".
    pub against: String,
    /// Whether more is better (throughput) rather than less (time,
    /// latency, memory).
    pub higher_is_better: bool,
}

impl Figure {
    /// A figure, or none when either side has no positive, finite value
    /// (a failed point; chat-load's millisecond clock in a smoke run):
    /// JSON has no NaN, and a ratio of nothing is no figure.
    pub fn new(
        point: impl Into<String>,
        metric: impl Into<String>,
        grt: f64,
        other: f64,
        against: &str,
        higher_is_better: bool,
    ) -> Option<Figure> {
        let usable = |v: f64| v.is_finite() && v > 0.0;
        (usable(grt) && usable(other)).then(|| Figure {
            point: point.into(),
            metric: metric.into(),
            grt,
            other,
            against: against.to_owned(),
            higher_is_better,
        })
    }

    /// grt's figure over the other side's.
    pub fn ratio(&self) -> f64 {
        self.grt / self.other
    }

    /// Whether grt's figure is the better one.
    pub fn grt_better(&self) -> bool {
        (self.ratio() > 1.0) == self.higher_is_better
    }
}

/// One run of one part: what `bench-all` reads back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub part: Part,
    /// When it ran (UTC), and the command that ran it.
    pub date: String,
    pub command: String,
    /// A smoke run: its figures are about correctness, not speed.
    pub quick: bool,
    pub figures: Vec<Figure>,
}

impl Results {
    /// Its file: `target/bench-results/PART.json`.
    pub fn path(part: Part) -> PathBuf {
        dir().join(format!("{part}.json"))
    }

    /// Writes it to [`Results::path`]; the tools call this last, and say
    /// so on stdout, or why not on stderr (a missing file fails
    /// `bench-all`'s part, not the tool's run).
    pub fn save(&self) {
        let path = Results::path(self.part);
        let written = std::fs::create_dir_all(dir())
            .and_then(|()| {
                let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
                std::fs::write(&path, json + "\n")
            })
            .map(|()| println!("{}: wrote {}", self.part, path.display()));
        if let Err(err) = written {
            eprintln!("{}: cannot write {}: {err}", self.part, path.display());
        }
    }

    pub fn load(part: Part) -> Result<Results, String> {
        let path = Results::path(part);
        let text =
            std::fs::read_to_string(&path).map_err(|err| format!("{}: {err}", path.display()))?;
        serde_json::from_str(&text).map_err(|err| format!("{}: {err}", path.display()))
    }
}

/// The workspace's target directory: `$CARGO_TARGET_DIR`, else the
/// repository's `target/`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo().join("target"), PathBuf::from)
}

/// The repository's root (benches/ is one level down).
pub fn repo() -> PathBuf {
    let benches = Path::new(env!("CARGO_MANIFEST_DIR"));
    benches.parent().unwrap_or(benches).to_path_buf()
}

/// Where the results go: `target/bench-results/`.
pub fn dir() -> PathBuf {
    target_dir().join("bench-results")
}

/// Where criterion keeps its estimates: `$CRITERION_HOME` (criterion's own
/// override, which `bench-all --quick` uses to keep smoke estimates apart),
/// else `target/criterion`.
pub fn criterion_dir() -> PathBuf {
    std::env::var_os("CRITERION_HOME").map_or_else(|| target_dir().join("criterion"), PathBuf::from)
}

/// Criterion's estimate of one iteration of `bench` on `runtime` ("grt",
/// "tokio"), in nanoseconds: its headline one, the slope of a
/// linear-sampling run, else the mean.
pub fn estimate_ns(dir: &Path, bench: Bench, runtime: &str) -> Option<f64> {
    let path = dir
        .join(bench.name())
        .join(runtime)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let pick = |key: &str| json.get(key)?.get("point_estimate")?.as_f64();
    pick("slope").or_else(|| pick("mean"))
}

/// The criterion groups' figures: nanoseconds per operation, grt against
/// tokio, for every group with both estimates in `dir`. Per-operation
/// figures divide by the sizes of `GRT_BENCH_QUICK`'s setting, which must
/// be the benchmarks' one.
pub fn micro(dir: &Path) -> Vec<Figure> {
    Bench::ALL
        .into_iter()
        .filter_map(|bench| {
            let (ops, op) = bench.ops_per_iter();
            let per_op = |runtime| estimate_ns(dir, bench, runtime).map(|ns| ns / ops as f64);
            Figure::new(
                bench.name(),
                format!("ns/{op}"),
                per_op("grt")?,
                per_op("tokio")?,
                "tokio",
                false,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_needs_both_sides() {
        assert!(Figure::new("p", "req/s", f64::NAN, 1.0, "tokio", true).is_none());
        assert!(Figure::new("p", "req/s", 1.0, 0.0, "tokio", true).is_none());
        let f = Figure::new("p", "p99 µs", 50.0, 100.0, "Go", false).unwrap();
        assert_eq!(f.ratio(), 0.5);
        assert!(f.grt_better());
        let f = Figure::new("p", "req/s", 50.0, 100.0, "nginx", true).unwrap();
        assert!(!f.grt_better());
    }

    #[test]
    fn results_round_trip_through_json() {
        let results = Results {
            part: Part::Net,
            date: "2026-12-08 10:00 UTC".into(),
            command: "netbench".into(),
            quick: true,
            figures: vec![Figure::new("echo", "round trips/s", 2.0, 1.0, "tokio", true).unwrap()],
        };
        let json = serde_json::to_string(&results).unwrap();
        assert!(json.contains(r#""part":"net""#));
        assert_eq!(serde_json::from_str::<Results>(&json).unwrap(), results);
    }

    #[test]
    fn reads_criterions_estimates() {
        let dir = std::env::temp_dir().join(format!("grt-results-test-{}", std::process::id()));
        let write = |runtime: &str, json: &str| {
            let d = dir.join("ping_pong").join(runtime).join("new");
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("estimates.json"), json).unwrap();
        };
        write(
            "grt",
            r#"{"mean":{"point_estimate":900.0},"slope":{"point_estimate":300.0}}"#,
        );
        write("tokio", r#"{"mean":{"point_estimate":600.0},"slope":null}"#);
        let figures = micro(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        // ping_pong's iteration is one round trip; slope first, then mean.
        assert_eq!(
            figures,
            [Figure::new("ping_pong", "ns/round trip", 300.0, 600.0, "tokio", false).unwrap()]
        );
    }
}
