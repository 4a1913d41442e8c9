//! # `p2c`: the power of two choices
//!
//! Draw two different backends at random and send the request to the one
//! with fewer requests in flight. Mitzenmacher's thesis (1996) showed that
//! this second sample is almost all the benefit of looking at every
//! backend: with n servers the busiest one's excess load drops from about
//! `log n / log log n` (one random choice) to `log log n` (two). Envoy's
//! `LEAST_REQUEST` policy does exactly this by default (`choice_count`
//! 2); Finagle and Linkerd balance this way too.
//!
//! Why not always `least_conn`? A full scan is O(n), and when many pickers
//! act on the same stale counts they all choose the same "least loaded"
//! backend and overload it together (herding). Two random samples are O(1)
//! and differ from picker to picker, so stale counts do little harm.
//!
//! ## Invariants
//! - The two samples are distinct backends, each pair equally likely, drawn
//!   from the up, untried backends.
//! - The chosen one is never more loaded than the other; on a tie the first
//!   sample wins, which is itself random. So the most loaded backend is
//!   never chosen unless it ties, and the least loaded is chosen whenever
//!   it is sampled.
//! - Load is `in_flight / weight`, compared as in `least_conn`. Weights do
//!   not change the sampling (Envoy switches to a weighted EDF schedule for
//!   unequal weights; we keep P2C and let weights only scale the
//!   comparison, so a heavier backend wins more of its duels).
//!
//! ## Cost per pick
//! While every backend is up and nothing is excluded: two `fetch_add`s on
//! the generator and two counter loads, no lock, no allocation. Otherwise:
//! up to 4 (`DRAWS` in `mod.rs`) pairs drawn from all n, rejecting pairs
//! with an ineligible member, then an O(n) scan into a candidate `Vec` if
//! they all missed (always the case when only one backend is eligible).

use super::{candidates, lighter, Backend, Balancer, Health, InFlight, RequestKey, Rng, DRAWS};

/// Power of two random choices over in-flight requests.
#[derive(Debug)]
pub struct PowerOfTwoChoices {
    /// Configured weights.
    weights: Box<[u32]>,
    /// Requests started and not yet finished, per backend.
    in_flight: InFlight,
    /// Which backends may be picked.
    health: Health,
    /// The shared generator.
    rng: Rng,
}

impl PowerOfTwoChoices {
    /// P2C over `backends` (their weights) with `health`.
    pub fn new(backends: &[Backend], health: Health, rng: Rng) -> Self {
        assert_eq!(backends.len(), health.len());
        PowerOfTwoChoices {
            weights: backends.iter().map(|b| b.weight).collect(),
            in_flight: InFlight::new(backends.len()),
            health,
            rng,
        }
    }

    /// Requests in flight to backend `i` (for metrics and tests).
    pub fn in_flight(&self, i: usize) -> usize {
        self.in_flight.get(i)
    }

    /// Two distinct positions in `0..n` (`n >= 2`), uniformly.
    fn two(&self, n: usize) -> (usize, usize) {
        let a = self.rng.below(n);
        let mut b = self.rng.below(n - 1);
        if b >= a {
            b += 1;
        }
        (a, b)
    }

    /// The less loaded of `a` and `b`; `a` on a tie.
    fn better(&self, a: usize, b: usize) -> usize {
        if lighter(&self.in_flight, &self.weights, b, a) {
            b
        } else {
            a
        }
    }
}

impl Balancer for PowerOfTwoChoices {
    fn pick(&self, key: &RequestKey<'_>) -> Option<usize> {
        self.pick_excluding(key, &[])
    }

    fn pick_excluding(&self, _key: &RequestKey<'_>, tried: &[usize]) -> Option<usize> {
        let n = self.weights.len();
        if tried.is_empty() && self.health.all_up() {
            if n == 1 {
                return Some(0);
            }
            let (a, b) = self.two(n);
            return Some(self.better(a, b));
        }
        // Rejection sampling: a uniform pair from all n whose two members
        // are both eligible is a uniform pair of eligible backends. A few
        // draws settle most picks without allocating or scanning.
        if n >= 2 {
            let eligible = |i: usize| !tried.contains(&i) && self.health.may_pick(i);
            for _ in 0..DRAWS {
                let (a, b) = self.two(n);
                if eligible(a) && eligible(b) {
                    let chosen = self.better(a, b);
                    if self.health.claim(chosen) {
                        return Some(chosen);
                    }
                }
            }
        }
        // Many backends down or tried: sample from the list of the rest.
        let mut cands = candidates(&self.health, tried);
        loop {
            let pos = match cands.len() {
                0 => return None,
                1 => 0,
                len => {
                    let (a, b) = self.two(len);
                    if self.better(cands[a], cands[b]) == cands[a] {
                        a
                    } else {
                        b
                    }
                }
            };
            let chosen = cands.swap_remove(pos);
            if self.health.claim(chosen) {
                return Some(chosen);
            }
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
        "p2c"
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{backends, key};
    use super::super::{Clock, HealthConfig};
    use super::*;

    fn p2c(weights: &[u32], seed: u64) -> PowerOfTwoChoices {
        let h = Health::new(weights.len(), HealthConfig::default(), Clock::manual());
        PowerOfTwoChoices::new(&backends(weights), h, Rng::with_seed(seed))
    }

    fn load(b: &PowerOfTwoChoices, i: usize, k: usize) {
        for _ in 0..k {
            b.started(i);
        }
    }

    /// With two backends the two samples are both of them, so the less
    /// loaded always wins. Fails if the samples may repeat (then backend 0
    /// would duel itself and win about a quarter of the time).
    #[test]
    fn two_backends_always_pick_the_less_loaded() {
        let b = p2c(&[1, 1], 1);
        load(&b, 0, 5);
        for _ in 0..10_000 {
            assert_eq!(b.pick(&key()), Some(1));
        }
    }

    /// Ten backends loaded 0..=9. Backend k wins exactly when it is sampled
    /// with a more loaded one: probability (9 - k) / 45. So the most loaded
    /// never wins, and the shares follow 9:8:…:1:0. Fails for a random
    /// pick (all 10 %), for "take the more loaded" (reversed), and for
    /// "least of all" (backend 0 only).
    #[test]
    fn many_backends_follow_the_two_choice_law() {
        let b = p2c(&[1; 10], 2);
        for i in 0..10 {
            load(&b, i, i);
        }
        let picks = 90_000;
        let mut counts = [0u32; 10];
        for _ in 0..picks {
            counts[b.pick(&key()).unwrap()] += 1;
        }
        println!("p2c wins by load 0..9 over {picks} picks: {counts:?}");
        assert_eq!(counts[9], 0, "the most loaded was chosen");
        for (k, &c) in counts.iter().enumerate() {
            let expected = picks as f64 * (9 - k) as f64 / 45.0;
            // σ ≤ 120 for these counts; 600 is 5σ.
            assert!(
                (c as f64 - expected).abs() <= 600.0,
                "backend {k}: {c} vs {expected}"
            );
        }
    }

    #[test]
    fn equal_loads_spread_uniformly() {
        let b = p2c(&[1, 1, 1, 1], 3);
        let mut counts = [0u32; 4];
        for _ in 0..40_000 {
            counts[b.pick(&key()).unwrap()] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_500..=10_500).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn keeps_loads_level_when_requests_stay_open() {
        let b = p2c(&[1; 8], 4);
        for _ in 0..8_000 {
            let i = b.pick(&key()).unwrap();
            b.started(i);
        }
        let loads: Vec<_> = (0..8).map(|i| b.in_flight(i)).collect();
        let spread = loads.iter().max().unwrap() - loads.iter().min().unwrap();
        println!("p2c, 8,000 open requests on 8 backends: {loads:?}");
        // One random choice would spread by ~±3σ ≈ ±90 here.
        assert!(spread <= 3, "{loads:?}");
    }

    #[test]
    fn skips_down_and_tried() {
        let b = p2c(&[1, 1, 1], 5);
        load(&b, 0, 9);
        b.set_up(1, false);
        for _ in 0..100 {
            assert_eq!(b.pick(&key()), Some(2));
        }
        assert_eq!(b.pick_excluding(&key(), &[2]), Some(0));
        assert_eq!(b.pick_excluding(&key(), &[0, 2]), None);
    }

    #[test]
    fn one_backend() {
        let b = p2c(&[1], 6);
        assert_eq!(b.pick(&key()), Some(0));
        b.set_up(0, false);
        assert_eq!(b.pick(&key()), None);
    }
}
