//! # `round_robin`: cyclic among the up backends
//!
//! Backends take requests in turn: 0, 1, 2, 0, 1, 2, … A backend that is
//! down is skipped, and the cycle continues *after the backend chosen*, so
//! with backend 1 down the order is 0, 2, 0, 2 and each survivor gets half.
//! (The cheaper "counter modulo n, then skip forward" gives the backend
//! after a dead one a double share: 0, 2, 2, 0, 2, 2.) nginx's round robin
//! with equal weights behaves the same way; weights are ignored here, see
//! `weighted.rs` for them.
//!
//! ## Invariants
//! - `next` is where the next pick starts looking; after a pick it is one
//!   past the chosen backend (modulo n).
//! - While all backends are up, n consecutive picks return each backend
//!   exactly once, whatever the interleaving of threads: each pick owns a
//!   distinct value of `next`.
//!
//! ## Cost per pick
//! While every backend is up and nothing is excluded: one atomic load
//! (health) and one `fetch_add`, no lock. Otherwise: a scan from `next` and
//! a compare-and-swap to move `next` past the choice; a thread that loses
//! the race rescans from the new position.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Balancer, Health, RequestKey};

/// Plain round robin.
#[derive(Debug)]
pub struct RoundRobin {
    /// Which backends may be picked.
    health: Health,
    /// Where the next pick starts (taken modulo n; may wrap).
    next: AtomicUsize,
}

impl RoundRobin {
    /// A round robin over `health.len()` backends, starting at backend 0.
    pub fn new(health: Health) -> Self {
        RoundRobin {
            health,
            next: AtomicUsize::new(0),
        }
    }
}

impl Balancer for RoundRobin {
    fn pick(&self, key: &RequestKey<'_>) -> Option<usize> {
        self.pick_excluding(key, &[])
    }

    fn pick_excluding(&self, _key: &RequestKey<'_>, tried: &[usize]) -> Option<usize> {
        let n = self.health.len();
        if tried.is_empty() && self.health.all_up() {
            return Some(self.next.fetch_add(1, Ordering::Relaxed) % n);
        }
        // Backends whose claim failed during this pick (a probe taken by
        // another thread); empty, and so unallocated, almost always.
        let mut lost = Vec::new();
        loop {
            let start = self.next.load(Ordering::Relaxed);
            let i = (0..n)
                .map(|k| (start % n + k) % n)
                .find(|&i| !tried.contains(&i) && !lost.contains(&i) && self.health.may_pick(i))?;
            if self
                .next
                .compare_exchange(start, i + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
            {
                continue; // another pick moved the cursor: look again from there
            }
            if self.health.claim(i) {
                return Some(i);
            }
            lost.push(i);
        }
    }

    fn health(&self) -> &Health {
        &self.health
    }

    fn name(&self) -> &'static str {
        "round_robin"
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::key;
    use super::super::{Clock, HealthConfig};
    use super::*;

    fn rr(n: usize) -> RoundRobin {
        RoundRobin::new(Health::new(n, HealthConfig::default(), Clock::manual()))
    }

    fn picks(b: &RoundRobin, k: usize) -> Vec<usize> {
        (0..k).map(|_| b.pick(&key()).unwrap()).collect()
    }

    #[test]
    fn cycles() {
        assert_eq!(picks(&rr(3), 7), [0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn skips_a_down_backend_without_doubling_its_successor() {
        let b = rr(3);
        b.set_up(1, false);
        assert_eq!(picks(&b, 6), [0, 2, 0, 2, 0, 2]);
        let b = rr(4);
        b.set_up(1, false);
        b.set_up(2, false);
        assert_eq!(picks(&b, 4), [0, 3, 0, 3]);
    }

    #[test]
    fn resumes_the_cycle_when_a_backend_returns() {
        let b = rr(3);
        b.set_up(2, false);
        assert_eq!(picks(&b, 3), [0, 1, 0]);
        b.set_up(2, true);
        assert_eq!(picks(&b, 4), [1, 2, 0, 1]);
    }

    #[test]
    fn excluding_tried_moves_on() {
        let b = rr(3);
        assert_eq!(b.pick(&key()), Some(0));
        assert_eq!(b.pick_excluding(&key(), &[1]), Some(2));
        assert_eq!(b.pick_excluding(&key(), &[0, 1, 2]), None);
    }

    #[test]
    fn none_when_all_down() {
        let b = rr(2);
        b.set_up(0, false);
        b.set_up(1, false);
        assert_eq!(b.pick(&key()), None);
    }
}
