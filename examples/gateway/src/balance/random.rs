//! # `random`: uniform among the up backends
//!
//! Each request goes to a backend drawn uniformly from those that are up.
//! Envoy's `RANDOM` policy; nginx has `random` too (its two-argument form
//! is our `p2c`). Useful as the baseline the other policies are measured
//! against, and when many gateways share backends: independent random
//! choices do not synchronise, where round robins started together can all
//! hit the same backend at once.
//!
//! Weights are ignored, as in plain `round_robin`; use
//! `weighted_round_robin` when backends differ in capacity.
//!
//! ## Invariants
//! - Never returns a backend that is down (except as its one probe, see
//!   `health.rs`) or in `tried`.
//! - Each up, untried backend is equally likely: the fast path draws from
//!   `0..n`, the slow path from the candidate list.
//!
//! ## Cost per pick
//! While every backend is up and nothing is excluded: one atomic load
//! (health) and one `fetch_add` (the generator), no lock, no allocation.
//! Otherwise: up to 4 (`DRAWS` in `mod.rs`) draws from all n, rejecting
//! ineligible backends (a draw that hits a down backend takes the health
//! lock), then an O(n) scan into a candidate `Vec` if they all missed.

use super::{candidates, Balancer, Health, RequestKey, Rng, DRAWS};

/// Uniform random choice among up backends.
#[derive(Debug)]
pub struct Random {
    /// Which backends may be picked.
    health: Health,
    /// The shared generator.
    rng: Rng,
}

impl Random {
    /// A random balancer over `health.len()` backends.
    pub fn new(health: Health, rng: Rng) -> Self {
        Random { health, rng }
    }
}

impl Balancer for Random {
    fn pick(&self, key: &RequestKey<'_>) -> Option<usize> {
        self.pick_excluding(key, &[])
    }

    fn pick_excluding(&self, _key: &RequestKey<'_>, tried: &[usize]) -> Option<usize> {
        let n = self.health.len();
        if tried.is_empty() && self.health.all_up() {
            return Some(self.rng.below(n));
        }
        // Rejection sampling: a uniform draw from all n that lands on an
        // eligible backend is uniform over the eligible ones. A few draws
        // settle most picks without allocating or scanning.
        for _ in 0..DRAWS {
            let i = self.rng.below(n);
            if !tried.contains(&i) && self.health.may_pick(i) && self.health.claim(i) {
                return Some(i);
            }
        }
        // Many backends down or tried: draw from the list of the rest,
        // which also knows when nobody is left.
        let mut cands = candidates(&self.health, tried);
        while !cands.is_empty() {
            let i = cands.swap_remove(self.rng.below(cands.len()));
            if self.health.claim(i) {
                return Some(i);
            }
        }
        None
    }

    fn health(&self) -> &Health {
        &self.health
    }

    fn name(&self) -> &'static str {
        "random"
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::key;
    use super::super::{Clock, HealthConfig};
    use super::*;

    fn random(n: usize, seed: u64) -> Random {
        let h = Health::new(n, HealthConfig::default(), Clock::manual());
        Random::new(h, Rng::with_seed(seed))
    }

    #[test]
    fn spreads_uniformly() {
        let b = random(4, 1);
        let mut counts = [0u32; 4];
        for _ in 0..40_000 {
            counts[b.pick(&key()).unwrap()] += 1;
        }
        // 10,000 expected each; σ ≈ 87, so ±500 is > 5σ.
        assert!(
            counts.iter().all(|&c| (9_500..=10_500).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn skips_down_backends_and_stays_uniform_over_the_rest() {
        let b = random(3, 2);
        b.set_up(1, false);
        let mut counts = [0u32; 3];
        for _ in 0..30_000 {
            counts[b.pick(&key()).unwrap()] += 1;
        }
        assert_eq!(counts[1], 0);
        // 15,000 expected each; σ ≈ 87.
        assert!((14_500..=15_500).contains(&counts[0]), "{counts:?}");
        assert!((14_500..=15_500).contains(&counts[2]), "{counts:?}");
    }

    #[test]
    fn none_when_all_down() {
        let b = random(2, 3);
        b.set_up(0, false);
        b.set_up(1, false);
        assert_eq!(b.pick(&key()), None);
    }

    #[test]
    fn a_backend_due_a_probe_gets_exactly_one_request() {
        let b = random(2, 4);
        b.finished(0, false);
        b.health()
            .clock()
            .advance(HealthConfig::default().fail_timeout);
        let zeros = (0..1_000).filter(|_| b.pick(&key()) == Some(0)).count();
        assert_eq!(zeros, 1);
    }
}
