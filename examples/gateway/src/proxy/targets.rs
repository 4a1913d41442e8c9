//! Where a proxy sends requests: one fixed backend, or a list and a
//! balancer that picks (Go's `NewSingleHostReverseProxy` against a
//! `Director` that chooses a host per request; nginx's `upstream` block).
//!
//! Both kinds answer the same three questions for the retry loop in
//! `mod.rs`: which backend next, given those tried ([`Targets::pick`]);
//! an exchange with backend `i` starts ([`Targets::started`]); it ended,
//! well or not ([`Targets::finished`]). A single host has no one to retry
//! on, so its second pick is `None`; a balanced list asks the balancer to
//! leave out the backends already tried (`Balancer::pick_excluding`).

use std::sync::Arc;

use crate::balance::{Balancer, RequestKey};
use crate::upstream::{OnDone, Upstream};

use super::hash_key::HashKey;

/// The backends of one proxy (module doc).
pub enum Targets {
    Single(Arc<Upstream>),
    Balanced {
        upstreams: Vec<Arc<Upstream>>,
        /// Shared with the response bodies, which report the end of their
        /// exchange after the proxy has returned.
        balancer: Arc<dyn Balancer>,
        hash_key: HashKey,
        /// Per backend, the report of an exchange's end to `balancer`
        /// (made by [`Targets::balanced`]).
        finishers: Vec<OnDone>,
    },
}

impl Targets {
    /// `upstreams` and the balancer that picks among them.
    pub fn balanced(
        upstreams: Vec<Arc<Upstream>>,
        balancer: Arc<dyn Balancer>,
        hash_key: HashKey,
    ) -> Targets {
        let finishers = (0..upstreams.len())
            .map(|i| {
                let balancer = Arc::clone(&balancer);
                Arc::new(move |ok| balancer.finished(i, ok)) as OnDone
            })
            .collect();
        Targets::Balanced {
            upstreams,
            balancer,
            hash_key,
            finishers,
        }
    }

    /// The backend to try next, `tried` being those already tried.
    pub fn pick(&self, key: &RequestKey<'_>, tried: &[usize]) -> Option<usize> {
        match self {
            Targets::Single(_) => tried.is_empty().then_some(0),
            Targets::Balanced { balancer, .. } if tried.is_empty() => balancer.pick(key),
            Targets::Balanced { balancer, .. } => balancer.pick_excluding(key, tried),
        }
    }

    pub fn upstream(&self, i: usize) -> &Arc<Upstream> {
        match self {
            Targets::Single(upstream) => upstream,
            Targets::Balanced { upstreams, .. } => &upstreams[i],
        }
    }

    pub fn upstreams(&self) -> &[Arc<Upstream>] {
        match self {
            Targets::Single(upstream) => std::slice::from_ref(upstream),
            Targets::Balanced { upstreams, .. } => upstreams,
        }
    }

    pub fn hash_key(&self) -> Option<&HashKey> {
        match self {
            Targets::Single(_) => None,
            Targets::Balanced { hash_key, .. } => Some(hash_key),
        }
    }

    pub fn balancer(&self) -> Option<&Arc<dyn Balancer>> {
        match self {
            Targets::Single(_) => None,
            Targets::Balanced { balancer, .. } => Some(balancer),
        }
    }

    /// An exchange with backend `i` starts.
    pub fn started(&self, i: usize) {
        if let Some(balancer) = self.balancer() {
            balancer.started(i);
        }
    }

    /// The report to make when the exchange with backend `i` ends, which
    /// may outlive the proxy's call (module doc of
    /// upstream/response_body.rs); `None` for a single host, which has no
    /// balancer to tell.
    pub fn finisher(&self, i: usize) -> Option<OnDone> {
        match self {
            Targets::Single(_) => None,
            Targets::Balanced { finishers, .. } => Some(Arc::clone(&finishers[i])),
        }
    }
}
