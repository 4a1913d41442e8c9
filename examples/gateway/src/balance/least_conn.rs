//! # `least_conn`: the backend with the fewest requests in flight
//!
//! Round robin assumes every request costs the same. When some are slow
//! (a report, an upload) they pile up on whichever backend got them, and
//! round robin keeps sending that backend its full share. Counting the
//! requests each backend is working on, and sending the next one to the
//! least busy, adapts to that without measuring anything else. nginx's
//! `least_conn` (`ngx_http_upstream_least_conn_module.c`) compares
//! `conns / weight` the same way; Envoy's `LEAST_REQUEST` with
//! `FULL_SCAN` is the unweighted version.
//!
//! ## Invariants
//! - The choice minimises `in_flight / weight` over the up, untried
//!   backends (compared by cross-multiplying, no division, no overflow).
//! - Ties are broken round robin: the scan starts at a position that
//!   advances by one per pick and keeps the first strict minimum, so idle
//!   backends of equal weight take turns instead of backend 0 taking
//!   everything. (nginx runs SWRR among the tied peers; with equal weights
//!   that is the same rotation.)
//! - `in_flight[i]` is `started(i)` minus `finished(i, _)` calls, floored
//!   at 0.
//!
//! ## Races
//! Between a pick and its `started`, a concurrent pick sees the old counts
//! and may choose the same backend: a burst of simultaneous requests can
//! briefly overshoot by the number of threads picking at once. That is the
//! price of not locking; `p2c` is less prone to it because its two random
//! samples differ between pickers.
//!
//! ## Cost per pick
//! An O(n) scan of atomic loads and one `fetch_add` for the tie cursor; no
//! lock while every backend is up.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{lighter, Backend, Balancer, Health, InFlight, RequestKey};

/// Least in-flight requests, weighted.
#[derive(Debug)]
pub struct LeastConn {
    /// Configured weights.
    weights: Box<[u32]>,
    /// Requests started and not yet finished, per backend.
    in_flight: InFlight,
    /// Which backends may be picked.
    health: Health,
    /// Where the next scan starts: rotates ties.
    cursor: AtomicUsize,
}

impl LeastConn {
    /// Least-conn over `backends` (their weights) with `health`.
    pub fn new(backends: &[Backend], health: Health) -> Self {
        assert_eq!(backends.len(), health.len());
        LeastConn {
            weights: backends.iter().map(|b| b.weight).collect(),
            in_flight: InFlight::new(backends.len()),
            health,
            cursor: AtomicUsize::new(0),
        }
    }

    /// Requests in flight to backend `i` (for metrics and tests).
    pub fn in_flight(&self, i: usize) -> usize {
        self.in_flight.get(i)
    }
}

impl Balancer for LeastConn {
    fn pick(&self, key: &RequestKey<'_>) -> Option<usize> {
        self.pick_excluding(key, &[])
    }

    fn pick_excluding(&self, _key: &RequestKey<'_>, tried: &[usize]) -> Option<usize> {
        let n = self.weights.len();
        let start = self.cursor.fetch_add(1, Ordering::Relaxed) % n;
        let fast = tried.is_empty() && self.health.all_up();
        let mut lost = Vec::new();
        loop {
            let mut best: Option<usize> = None;
            for i in (0..n).map(|k| (start + k) % n) {
                if !fast && (tried.contains(&i) || lost.contains(&i) || !self.health.may_pick(i)) {
                    continue;
                }
                if best.is_none_or(|b| lighter(&self.in_flight, &self.weights, i, b)) {
                    best = Some(i);
                }
            }
            let chosen = best?;
            if fast || self.health.claim(chosen) {
                return Some(chosen);
            }
            lost.push(chosen);
        }
    }

    fn started(&self, i: usize) {
        self.in_flight.inc(i);
    }

    fn finished(&self, i: usize, ok: bool) {
        self.in_flight.dec(i);
        self.health.report(i, ok);
    }

    fn health(&self) -> &Health {
        &self.health
    }

    fn name(&self) -> &'static str {
        "least_conn"
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{backends, key};
    use super::super::{Clock, HealthConfig};
    use super::*;

    fn lc(weights: &[u32]) -> LeastConn {
        let h = Health::new(weights.len(), HealthConfig::default(), Clock::manual());
        LeastConn::new(&backends(weights), h)
    }

    fn load(b: &LeastConn, i: usize, k: usize) {
        for _ in 0..k {
            b.started(i);
        }
    }

    #[test]
    fn prefers_the_idle_backend() {
        let b = lc(&[1, 1]);
        load(&b, 0, 5);
        for _ in 0..10 {
            assert_eq!(b.pick(&key()), Some(1));
        }
    }

    #[test]
    fn picks_the_least_loaded_of_many() {
        let b = lc(&[1, 1, 1, 1, 1]);
        for (i, k) in [4, 2, 7, 1, 3].into_iter().enumerate() {
            load(&b, i, k);
        }
        for _ in 0..10 {
            assert_eq!(b.pick(&key()), Some(3));
        }
    }

    #[test]
    fn weights_scale_the_load() {
        // 6 in flight on weight 3 (2 per unit) beats 3 on weight 1.
        let b = lc(&[3, 1]);
        load(&b, 0, 6);
        load(&b, 1, 3);
        assert_eq!(b.pick(&key()), Some(0));
        // 9 on weight 3 (3 per unit) ties with 3 on weight 1: both chosen.
        load(&b, 0, 3);
        let picks: Vec<_> = (0..4).map(|_| b.pick(&key()).unwrap()).collect();
        assert!(picks.contains(&0) && picks.contains(&1), "{picks:?}");
    }

    #[test]
    fn ties_rotate() {
        let b = lc(&[1, 1, 1]);
        let picks: Vec<_> = (0..6).map(|_| b.pick(&key()).unwrap()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn filling_up_spreads_evenly() {
        let b = lc(&[1, 1, 1]);
        for _ in 0..30 {
            let i = b.pick(&key()).unwrap();
            b.started(i);
        }
        assert_eq!(
            (0..3).map(|i| b.in_flight(i)).collect::<Vec<_>>(),
            [10, 10, 10]
        );
        for i in 0..3 {
            for _ in 0..10 {
                b.finished(i, true);
            }
        }
        assert!((0..3).all(|i| b.in_flight(i) == 0));
    }

    #[test]
    fn skips_down_and_tried() {
        let b = lc(&[1, 1, 1]);
        load(&b, 0, 3);
        load(&b, 2, 1);
        b.set_up(1, false); // the idle one
        assert_eq!(b.pick(&key()), Some(2));
        assert_eq!(b.pick_excluding(&key(), &[2]), Some(0));
        assert_eq!(b.pick_excluding(&key(), &[0, 2]), None);
    }
}
