//! Counters the gateway keeps about the requests it answers, and their
//! rendering in the Prometheus text format (the admin listener's
//! `/metrics`, admin.rs).
//!
//! | metric | type | labels | what |
//! |---|---|---|---|
//! | `gateway_requests_total` | counter | `route`, `status`, `upstream` | responses sent |
//! | `gateway_upstream_latency_seconds` | histogram | `route`, `upstream` | request sent → response head |
//! | `gateway_open_connections` | gauge | | client connections open (admin.rs) |
//! | `gateway_backend_up` | gauge | `route`, `upstream` | 1 if the balancer counts the backend up (admin.rs) |
//!
//! `route` is the route's prefix, or `none` when no route matched (a 404);
//! `upstream` is the backend's address, or `none` when the gateway
//! answered by itself (a middleware's 401 or 429, a 413, "all backends are
//! down"). The latency is nginx's `$upstream_header_time`: from the
//! request going out to the response head coming back, for responses
//! that came; a failed exchange counts in `gateway_requests_total` only.
//!
//! ## The hot path
//! Every response is counted, from whichever worker thread serves it, so
//! counting takes no lock. The counters of one (route, upstream) pair are
//! a [`Cell`], found when the gateway is built, not per request: a
//! request's route and backend index into cells the route already holds
//! (gateway.rs). In a cell, each status has its own atomic counter in a
//! small table claimed by compare-and-swap (a backend answers with a
//! dozen statuses, not hundreds), and the histogram is one atomic per
//! bucket. Only a status beyond the table's 32 slots takes a lock.
//!
//! Cells live in the [`Metrics`] registry, keyed by (route, upstream), and
//! a configuration reload asks the registry for the cells of its routes:
//! a pair that survives the reload keeps counting where it was, as
//! Prometheus expects of a counter. Pairs that a reload removed keep
//! their last values.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The label value for "no route" and "no backend".
pub const NONE: &str = "none";

/// Upper bounds of the latency buckets, in seconds: the Prometheus client
/// libraries' defaults (5 ms to 10 s), which suit a proxy in front of web
/// services; the `+Inf` bucket is implied.
pub const LATENCY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Status slots per cell before the overflow lock (module doc).
const STATUS_SLOTS: usize = 32;

/// The counters of one (route, upstream) pair (module doc).
#[derive(Debug, Default)]
pub struct Cell {
    /// Response counts by status: slot `k` counts `codes[k]`; a zero code
    /// is a free slot.
    codes: [AtomicU16; STATUS_SLOTS],
    counts: [AtomicU64; STATUS_SLOTS],
    /// Statuses that found no free slot.
    overflow: Mutex<BTreeMap<u16, u64>>,
    /// Response-head latencies of the exchanges that got one.
    latency: Histogram,
}

impl Cell {
    /// Counts one response with `status`.
    pub fn count(&self, status: u16) {
        // 0 marks a free slot, so it goes to the overflow (no valid
        // response has it).
        let slots = if status == 0 { 0 } else { STATUS_SLOTS };
        for (code, count) in self.codes.iter().zip(&self.counts).take(slots) {
            let mut seen = code.load(Ordering::Acquire);
            if seen == 0 {
                seen = match code.compare_exchange(0, status, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => status,
                    Err(other) => other,
                };
            }
            if seen == status {
                count.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let mut overflow = self.overflow.lock().unwrap_or_else(PoisonError::into_inner);
        *overflow.entry(status).or_default() += 1;
    }

    /// Adds one latency observation.
    pub fn observe(&self, latency: Duration) {
        self.latency.observe(latency);
    }

    /// The counts by status, in status order.
    pub fn statuses(&self) -> BTreeMap<u16, u64> {
        let mut out = self
            .overflow
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for (code, count) in self.codes.iter().zip(&self.counts) {
            let code = code.load(Ordering::Acquire);
            let count = count.load(Ordering::Relaxed);
            if code != 0 && count > 0 {
                *out.entry(code).or_default() += count;
            }
        }
        out
    }

    pub fn latency(&self) -> &Histogram {
        &self.latency
    }
}

/// A latency histogram over [`LATENCY_BUCKETS`].
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations per bucket, not cumulative; the last is `+Inf`.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    /// The sum of all observations, in nanoseconds (overflows after 584
    /// years of summed latency).
    sum_nanos: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, latency: Duration) {
        let secs = latency.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|&bound| secs <= bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// Cumulative counts, one per bound of [`LATENCY_BUCKETS`] then `+Inf`.
    pub fn cumulative(&self) -> Vec<u64> {
        let mut total = 0;
        self.buckets
            .iter()
            .map(|b| {
                total += b.load(Ordering::Relaxed);
                total
            })
            .collect()
    }

    /// The sum of the observations, in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9
    }
}

/// Every cell, by (route, upstream) (module doc). Shared by the gateways
/// that reloads build one after another.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Looked up when a gateway is built, and when `/metrics` is rendered;
    /// never per request.
    cells: Mutex<BTreeMap<(String, String), Arc<Cell>>>,
}

impl Metrics {
    /// The cell for `route` and `upstream` (either may be [`NONE`]),
    /// made on first asking.
    pub fn cell(&self, route: &str, upstream: &str) -> Arc<Cell> {
        let mut cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            cells
                .entry((route.to_string(), upstream.to_string()))
                .or_default(),
        )
    }

    /// The responses counted for `route`, `status` and `upstream` so far.
    pub fn requests(&self, route: &str, status: u16, upstream: &str) -> u64 {
        let cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        cells
            .get(&(route.to_string(), upstream.to_string()))
            .and_then(|cell| cell.statuses().get(&status).copied())
            .unwrap_or(0)
    }

    /// Appends `gateway_requests_total` and
    /// `gateway_upstream_latency_seconds` in the text format.
    pub fn render(&self, out: &mut String) {
        let cells: Vec<((String, String), Arc<Cell>)> = self
            .cells
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(key, cell)| (key.clone(), Arc::clone(cell)))
            .collect();
        header(
            out,
            "gateway_requests_total",
            "counter",
            "Responses sent, by route prefix, status and the backend that answered (none: the gateway answered itself).",
        );
        for ((route, upstream), cell) in &cells {
            for (status, count) in cell.statuses() {
                let _ = writeln!(
                    out,
                    "gateway_requests_total{{route=\"{}\",status=\"{status}\",upstream=\"{}\"}} {count}",
                    escape(route),
                    escape(upstream)
                );
            }
        }
        header(
            out,
            "gateway_upstream_latency_seconds",
            "histogram",
            "Time from sending a request to a backend to having its response head.",
        );
        for ((route, upstream), cell) in &cells {
            let histogram = cell.latency();
            let count = histogram.count();
            if count == 0 {
                continue;
            }
            let labels = format!(
                "route=\"{}\",upstream=\"{}\"",
                escape(route),
                escape(upstream)
            );
            let bounds = LATENCY_BUCKETS
                .iter()
                .map(|bound| bound.to_string())
                .chain(std::iter::once("+Inf".to_string()));
            for (bound, total) in bounds.zip(histogram.cumulative()) {
                let _ = writeln!(
                    out,
                    "gateway_upstream_latency_seconds_bucket{{{labels},le=\"{bound}\"}} {total}"
                );
            }
            let _ = writeln!(
                out,
                "gateway_upstream_latency_seconds_sum{{{labels}}} {}",
                histogram.sum_seconds()
            );
            let _ = writeln!(
                out,
                "gateway_upstream_latency_seconds_count{{{labels}}} {count}"
            );
        }
    }
}

/// The `# HELP` and `# TYPE` lines of a metric family.
pub fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value as the text format wants it: `\`, `"` and line feeds
/// escaped.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_counted_in_slots_then_in_the_overflow() {
        let cell = Cell::default();
        for status in 100..200u16 {
            cell.count(status);
            cell.count(status);
        }
        cell.count(150);
        let statuses = cell.statuses();
        assert_eq!(statuses.len(), 100);
        assert_eq!(statuses[&100], 2);
        assert_eq!(statuses[&150], 3, "150 is past the slots");
        assert_eq!(statuses[&131], 2);
    }

    #[test]
    fn latencies_fall_in_their_buckets() {
        let h = Histogram::default();
        h.observe(Duration::from_millis(5)); // on the bound: le="0.005"
        h.observe(Duration::from_millis(30));
        h.observe(Duration::from_secs(60));
        let cumulative = h.cumulative();
        assert_eq!(cumulative[0], 1);
        assert_eq!(cumulative[2], 1, "30 ms is over 25 ms");
        assert_eq!(cumulative[3], 2);
        assert_eq!(cumulative[LATENCY_BUCKETS.len() - 1], 2);
        assert_eq!(cumulative[LATENCY_BUCKETS.len()], 3, "+Inf holds all");
        assert!((h.sum_seconds() - 60.035).abs() < 1e-9);
    }

    #[test]
    fn renders_the_text_format() {
        let metrics = Metrics::default();
        let cell = metrics.cell("/a\"b", "127.0.0.1:1");
        cell.count(200);
        cell.observe(Duration::from_millis(2));
        metrics.cell(NONE, NONE).count(404);
        let mut out = String::new();
        metrics.render(&mut out);
        assert!(out.contains(
            "gateway_requests_total{route=\"/a\\\"b\",status=\"200\",upstream=\"127.0.0.1:1\"} 1\n"
        ));
        assert!(out.contains(
            "gateway_requests_total{route=\"none\",status=\"404\",upstream=\"none\"} 1\n"
        ));
        assert!(out.contains(
            "gateway_upstream_latency_seconds_bucket{route=\"/a\\\"b\",upstream=\"127.0.0.1:1\",le=\"+Inf\"} 1\n"
        ));
        assert!(
            !out.contains("upstream_latency_seconds_count{route=\"none\""),
            "no histogram without observations"
        );
        assert_eq!(metrics.requests("/a\"b", 200, "127.0.0.1:1"), 1);
    }
}
