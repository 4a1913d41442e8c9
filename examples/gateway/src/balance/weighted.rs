//! # `weighted_round_robin`: nginx's smooth weighted round robin
//!
//! Backends with weights 5, 1, 1 should get 5, 1 and 1 of every 7
//! requests. The obvious schedule, a a a a a b c, sends five requests in a
//! row to `a`: bursts are what weights were meant to spread. nginx's answer
//! (`ngx_http_upstream_get_peer` in `ngx_http_upstream_round_robin.c`,
//! 2012) interleaves them: a a b a c a a. Every pick:
//!
//! 1. every eligible backend adds its `effective` weight to its `current`,
//!    and the effective weights are summed into `total`;
//! 2. the backend with the largest `current` wins (the first one on ties);
//! 3. the winner pays: its `current -= total`.
//!
//! ## Worked example: weights a = 5, b = 1, c = 1 (total 7)
//!
//! | pick | current after step 1 | chosen | current after step 3 |
//! |-----:|----------------------|:------:|----------------------|
//! | 1    | ( 5,  1,  1)         | a      | (-2,  1,  1)         |
//! | 2    | ( 3,  2,  2)         | a      | (-4,  2,  2)         |
//! | 3    | ( 1,  3,  3)         | b      | ( 1, -4,  3)         |
//! | 4    | ( 6, -3,  4)         | a      | (-1, -3,  4)         |
//! | 5    | ( 4, -2,  5)         | c      | ( 4, -2, -2)         |
//! | 6    | ( 9, -1, -1)         | a      | ( 2, -1, -1)         |
//! | 7    | ( 7,  0,  0)         | a      | ( 0,  0,  0)         |
//!
//! After `total` picks every `current` is back to 0 and the cycle repeats.
//!
//! ## Invariants
//! - The `current`s always sum to 0: step 1 adds `total`, step 3 takes it
//!   away. So a backend's `current` measures how far ahead of (negative) or
//!   behind (positive) its share it is, and nobody drifts.
//! - Over any `total` consecutive picks with a fixed eligible set and
//!   `effective == weight`, each backend is chosen exactly `weight` times.
//! - Backends that are down or in `tried` sit the round out: no `+=`, and
//!   their weight is not in `total`.
//!
//! ## Passive health inside the weights (nginx, restated)
//! Besides `max_fails`/`fail_timeout` (`health.rs`), a failure lowers the
//! backend's `effective` weight by `weight / max_fails` (floored at 0, and
//! not at all when `max_fails` is 0), so a flaky backend gets less traffic
//! before it is marked down. Each pick in which it takes part gives one
//! point back, up to `weight`: it loses its share at once and regains it
//! gradually. With the default `max_fails = 1` a failure drops `effective`
//! to 0 (and marks the backend down).
//!
//! ## Cost per pick
//! O(n) under one `Mutex` held for the whole pick: SWRR reads and writes
//! every backend's weights, so there is no lock-free fast path. For the
//! handful of backends of an upstream that is tens of nanoseconds.

use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{Backend, Balancer, Health, RequestKey};

/// nginx's smooth weighted round robin.
#[derive(Debug)]
pub struct WeightedRoundRobin {
    /// Configured weights.
    weights: Box<[i64]>,
    /// Which backends may be picked.
    health: Health,
    /// The weights that change on every pick.
    state: Mutex<State>,
}

/// SWRR's mutable state (behind `WeightedRoundRobin::state`).
#[derive(Debug)]
struct State {
    /// nginx's `current_weight`: how far behind its share each backend is.
    current: Box<[i64]>,
    /// nginx's `effective_weight`: `weight`, lowered by failures and
    /// recovering by one per pick.
    effective: Box<[i64]>,
    /// Scratch for one pick: which backends take part. Kept here so a pick
    /// allocates nothing.
    eligible: Box<[bool]>,
}

impl WeightedRoundRobin {
    /// SWRR over `backends` (their weights) with `health` (same length).
    pub fn new(backends: &[Backend], health: Health) -> Self {
        assert_eq!(backends.len(), health.len());
        let weights: Box<[i64]> = backends.iter().map(|b| i64::from(b.weight)).collect();
        let n = weights.len();
        WeightedRoundRobin {
            state: Mutex::new(State {
                current: vec![0; n].into_boxed_slice(),
                effective: weights.clone(),
                eligible: vec![false; n].into_boxed_slice(),
            }),
            weights,
            health,
        }
    }

    /// Backend `i`'s effective weight (for metrics and tests).
    pub fn effective_weight(&self, i: usize) -> i64 {
        self.lock().effective[i]
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Balancer for WeightedRoundRobin {
    fn pick(&self, key: &RequestKey<'_>) -> Option<usize> {
        self.pick_excluding(key, &[])
    }

    fn pick_excluding(&self, _key: &RequestKey<'_>, tried: &[usize]) -> Option<usize> {
        let mut guard = self.lock();
        let State {
            current,
            effective,
            eligible,
        } = &mut *guard;
        let everyone = tried.is_empty() && self.health.all_up();
        for (i, e) in eligible.iter_mut().enumerate() {
            *e = everyone || (!tried.contains(&i) && self.health.may_pick(i));
        }
        loop {
            // Steps 1 and 2 without side effects: a failed claim must leave
            // no trace.
            let mut best: Option<(usize, i64)> = None;
            let mut total = 0;
            for i in (0..eligible.len()).filter(|&i| eligible[i]) {
                total += effective[i];
                let c = current[i] + effective[i];
                if best.is_none_or(|(_, b)| c > b) {
                    best = Some((i, c));
                }
            }
            let (chosen, _) = best?;
            if !self.health.claim(chosen) {
                eligible[chosen] = false;
                continue;
            }
            // Commit: step 1, nginx's gradual recovery, then step 3.
            for i in (0..eligible.len()).filter(|&i| eligible[i]) {
                current[i] += effective[i];
                if effective[i] < self.weights[i] {
                    effective[i] += 1;
                }
            }
            current[chosen] -= total;
            return Some(chosen);
        }
    }

    fn finished(&self, i: usize, ok: bool) {
        self.health.report(i, ok);
        let max_fails = i64::from(self.health.config().max_fails);
        if !ok && max_fails > 0 {
            let mut st = self.lock();
            st.effective[i] = (st.effective[i] - self.weights[i] / max_fails).max(0);
        }
    }

    fn health(&self) -> &Health {
        &self.health
    }

    fn name(&self) -> &'static str {
        "weighted_round_robin"
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{backends, key};
    use super::super::{Clock, HealthConfig};
    use super::*;
    use std::time::Duration;

    fn swrr(weights: &[u32], health: HealthConfig) -> WeightedRoundRobin {
        let h = Health::new(weights.len(), health, Clock::manual());
        WeightedRoundRobin::new(&backends(weights), h)
    }

    fn letters(b: &WeightedRoundRobin, k: usize) -> String {
        (0..k)
            .map(|_| (b'a' + b.pick(&key()).unwrap() as u8) as char)
            .collect()
    }

    #[test]
    fn five_one_one_is_nginx_sequence() {
        let b = swrr(&[5, 1, 1], HealthConfig::default());
        assert_eq!(letters(&b, 7), "aabacaa");
        assert_eq!(&*b.lock().current, &[0, 0, 0], "back to the start");
        assert_eq!(letters(&b, 14), "aabacaaaabacaa");
    }

    #[test]
    fn follows_the_worked_table() {
        let b = swrr(&[5, 1, 1], HealthConfig::default());
        let after: [[i64; 3]; 7] = [
            [-2, 1, 1],
            [-4, 2, 2],
            [1, -4, 3],
            [-1, -3, 4],
            [4, -2, -2],
            [2, -1, -1],
            [0, 0, 0],
        ];
        for row in after {
            b.pick(&key());
            assert_eq!(&*b.lock().current, &row);
        }
    }

    #[test]
    fn shares_match_weights_and_currents_sum_to_zero() {
        let weights = [3, 7, 1, 4];
        let b = swrr(&weights, HealthConfig::default());
        let mut counts = [0u32; 4];
        for _ in 0..15 * 100 {
            counts[b.pick(&key()).unwrap()] += 1;
            assert_eq!(b.lock().current.iter().sum::<i64>(), 0);
        }
        assert_eq!(counts, [300, 700, 100, 400]);
    }

    #[test]
    fn equal_weights_are_plain_round_robin() {
        let b = swrr(&[2, 2, 2], HealthConfig::default());
        assert_eq!(letters(&b, 6), "abcabc");
    }

    #[test]
    fn down_backends_sit_out() {
        let b = swrr(&[5, 1, 1], HealthConfig::default());
        b.set_up(0, false);
        assert_eq!(letters(&b, 4), "bcbc");
        b.set_up(0, true);
        assert!(letters(&b, 7).contains('a'));
    }

    #[test]
    fn tried_backends_sit_out() {
        let b = swrr(&[5, 1, 1], HealthConfig::default());
        assert_eq!(b.pick_excluding(&key(), &[0]), Some(1));
        assert_eq!(b.pick_excluding(&key(), &[0, 1]), Some(2));
        assert_eq!(b.pick_excluding(&key(), &[0, 1, 2]), None);
    }

    #[test]
    fn a_failure_cuts_effective_weight_which_recovers_one_per_pick() {
        let h = HealthConfig {
            max_fails: 2,
            fail_timeout: Duration::from_secs(10),
        };
        let b = swrr(&[4, 4], h);
        b.finished(0, false);
        assert!(b.is_up(0), "one failure of two allowed");
        assert_eq!(b.effective_weight(0), 2, "4 - 4/2");
        b.pick(&key());
        assert_eq!(b.effective_weight(0), 3);
        b.pick(&key());
        assert_eq!(b.effective_weight(0), 4);
        b.pick(&key());
        assert_eq!(b.effective_weight(0), 4, "never above weight");
    }

    #[test]
    fn a_weakened_backend_gets_less_until_it_recovers() {
        let h = HealthConfig {
            max_fails: 2,
            fail_timeout: Duration::from_secs(10),
        };
        let b = swrr(&[10, 10], h);
        b.finished(0, false);
        b.finished(0, true);
        b.finished(0, false); // effective 10 → 5 → 0; count reset between
        assert_eq!(b.effective_weight(0), 0);
        let first: String = letters(&b, 6);
        assert!(first.starts_with("bb"), "{first}");
        assert!(first.matches('a').count() < 3, "{first}");
    }

    #[test]
    fn default_max_fails_drops_the_backend_entirely() {
        let b = swrr(&[5, 1], HealthConfig::default());
        b.finished(0, false);
        assert_eq!(b.effective_weight(0), 0);
        assert!(!b.is_up(0));
        assert_eq!(letters(&b, 3), "bbb");
    }

    #[test]
    fn the_probe_after_fail_timeout_is_a_single_pick() {
        let b = swrr(&[5, 1], HealthConfig::default());
        b.finished(0, false);
        b.health().clock().advance(Duration::from_secs(10));
        let seq = letters(&b, 6);
        assert_eq!(seq.matches('a').count(), 1, "{seq}");
        b.finished(0, true); // the probe succeeded
        assert!(b.is_up(0));
    }
}
