//! # Load balancing: which backend gets this request
//!
//! A route in the gateway forwards to an *upstream*: a fixed list of
//! [`Backend`]s. For every request the proxy asks the route's [`Balancer`]
//! for one of them, tells it when the exchange starts and how it ended, and
//! answers 502 "all backends are down" when the balancer has nobody left.
//! This module holds the six policies the configuration can name, and the
//! passive health bookkeeping they all share.
//!
//! | config name            | file                 | idea                                   | counterpart |
//! |------------------------|----------------------|----------------------------------------|-------------|
//! | `random`               | `random.rs`          | uniform among the up backends          | Envoy `RANDOM` |
//! | `round_robin`          | `round_robin.rs`     | cyclic among the up backends           | nginx without weights |
//! | `weighted_round_robin` | `weighted.rs`        | smooth weighted round robin            | nginx `ngx_http_upstream_get_peer` |
//! | `consistent_hash`      | `consistent_hash.rs` | ketama ring, 160 points per weight     | nginx `hash $key consistent`, Envoy `RING_HASH` |
//! | `least_conn`           | `least_conn.rs`      | fewest in-flight requests per weight   | nginx `least_conn` |
//! | `p2c`                  | `p2c.rs`             | best of two random choices             | Envoy `LEAST_REQUEST` (P2C) |
//!
//! `health.rs` is nginx's `max_fails`/`fail_timeout` (passive health) plus
//! the verdicts of active checks.
//!
//! ## The life of a request, as the balancer sees it
//! 1. [`Balancer::pick`] returns a backend index `i` (or `None`: 502).
//! 2. [`Balancer::started`]`(i)` right away, before the task can park: the
//!    load-aware policies count in-flight requests from here.
//! 3. The proxy connects and exchanges the request.
//! 4. [`Balancer::finished`]`(i, ok)` exactly once for every `started`, with
//!    `ok = false` if the backend failed (refused, reset, timed out). That
//!    report feeds passive health.
//! 5. To retry elsewhere, [`Balancer::pick_excluding`] with the indexes
//!    already tried (nginx keeps the same per-request `tried` bitmap).
//!
//! [`Balancer::set_up`] is for the active checker, whenever it has news;
//! [`Balancer::is_up`] is for metrics and `/healthz`.
//!
//! ## The problem: one balancer, every worker thread, every request
//! nginx runs each worker as one thread, so its balancers are plain structs
//! mutated without locks. Our gateway runs its connection tasks on every
//! grt worker thread at once, and all of them pick from the same balancer,
//! once per request. Picks are the hot path; health changes are rare.
//!
//! Three designs we did not take:
//! - **One lock around each balancer.** Simplest, and what nginx does when
//!   workers share an upstream through a `zone`: a write lock on the peer
//!   list around every pick (`ngx_http_upstream_rr_peers_wlock`). But every
//!   request on every core would serialise on that lock even when nothing
//!   is failing, and a thread descheduled while holding it stalls them all.
//! - **One balancer per worker thread.** nginx's workers behave like this
//!   without a `zone`: each keeps its own round-robin position. Picks need
//!   no synchronisation, but in-flight counts (least_conn, p2c) only see
//!   that thread's requests, and a backend found dead on one thread keeps
//!   receiving requests from the others.
//! - **An immutable "up set" swapped on every change (RCU).** Reads are
//!   free, but round robin, SWRR and the in-flight counters mutate on every
//!   pick anyway, and rebuilding and reclaiming snapshots needs machinery
//!   (epochs or `Arc` swaps) out of proportion to a list of a few backends.
//!
//! What we do: split the state by how often it changes.
//! - Per-pick state is atomic: round-robin cursors, in-flight counters, the
//!   random generator ([`Rng`]). No lock is taken when every backend is up.
//! - Health is an atomic "up" flag per backend plus a count of backends
//!   down; picks read only those while nothing is down. The full record
//!   (failure count, retry time) sits behind one `Mutex` that is taken
//!   only when a request fails, a backend has failures on record, or one
//!   is down (`health.rs`).
//! - SWRR is an all-backends read-modify-write by nature, so its weights
//!   sit behind one short `Mutex` (`weighted.rs`).
//!
//! ## Pick, then claim
//! A backend that passive health marked down may take exactly one request
//! (a *probe*) once its `fail_timeout` has passed. Several threads can pick
//! at the same moment, so "is it eligible" and "take it" must be one step
//! for such a backend. Every policy picks in three steps:
//! 1. choose among the backends that [`Health::may_pick`] allows, without
//!    side effects;
//! 2. [`Health::claim`] the choice: free for an up backend; for a backend
//!    due a probe it moves the next probe `fail_timeout` into the future,
//!    under the health lock, so only one thread gets it;
//! 3. if the claim failed (another thread took the probe, or a failure
//!    report marked it down meanwhile), drop it from this pick's candidates
//!    and go back to 1; otherwise commit the policy's own state (SWRR's
//!    weights).
//!
//! While no backend is down and nothing is excluded, every backend is
//! eligible and every claim succeeds, so the fast paths skip both checks.
//!
//! ## Ordering rules
//! - Lock order: a balancer's own lock (SWRR's) before the health lock;
//!   nothing takes them in the other order. `finished` reports to health
//!   first and takes SWRR's lock after releasing the health lock.
//! - No lock is held across a call out of this module, and nothing here
//!   parks a grt task: the critical sections are a few dozen instructions
//!   under `std::sync::Mutex`, so blocking the worker thread briefly is
//!   cheaper than parking. The module does not depend on grt.
//! - Races between a pick and a concurrent health change are benign: a
//!   backend marked down a moment after a picker read its flag gets that
//!   one request, as it would have had it been picked a moment earlier.
//!
//! ## Randomness and hashing
//! No external crates. [`Rng`] is SplitMix64 over one `AtomicU64` (one
//! `fetch_add` per number, so it is shared by all threads without a lock),
//! seeded from the clock and a counter, or from a fixed seed in tests. The
//! ring hashes with [`fixed_hash`] (FNV-1a 64 and a MurmurHash3 finaliser)
//! rather than std's `DefaultHasher`, whose output may change between Rust
//! releases: a ring that moved on a compiler upgrade would remap every key.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub mod consistent_hash;
pub mod health;
pub mod least_conn;
pub mod p2c;
pub mod random;
pub mod round_robin;
pub mod weighted;

pub use consistent_hash::{fixed_hash, ConsistentHash, DEFAULT_POINTS_PER_WEIGHT};
pub use health::{Clock, Health};
pub use least_conn::LeastConn;
pub use p2c::PowerOfTwoChoices;
pub use random::Random;
pub use round_robin::RoundRobin;
pub use weighted::WeightedRoundRobin;

/// One upstream server as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    /// Where to connect. Also the backend's identity on the hash ring, so
    /// reordering the configured list moves no keys.
    pub addr: SocketAddr,
    /// Relative share of requests, `1..=`[`MAX_WEIGHT`]; plain
    /// `round_robin`, `random` and `p2c` sampling ignore it.
    pub weight: u32,
}

/// What a balancer may look at to choose: the client's address, and the
/// hash key bytes the route's `hash_key` selected (None if absent or not a
/// hashing route).
#[derive(Clone, Copy, Debug)]
pub struct RequestKey<'a> {
    /// The downstream peer (after any trusted `X-Forwarded-For` handling the
    /// proxy does); `consistent_hash` falls back to it.
    pub client_ip: IpAddr,
    /// The bytes `consistent_hash` hashes; `None` or empty means "use the
    /// client IP".
    pub hash_key: Option<&'a [u8]>,
}

/// Passive-health settings (nginx `max_fails`, `fail_timeout`): defaults 1
/// and 10 s. `max_fails = 0` turns passive health off, as in nginx.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthConfig {
    /// Failures within `fail_timeout` of each other, with no success in
    /// between, that mark a backend down; 0 never marks it down.
    pub max_fails: u32,
    /// How long a failure counts, and how long a backend stays down before
    /// one probe request is let through.
    pub fail_timeout: Duration,
}

impl Default for HealthConfig {
    /// nginx's defaults: `max_fails=1 fail_timeout=10s`.
    fn default() -> Self {
        HealthConfig {
            max_fails: 1,
            fail_timeout: Duration::from_secs(10),
        }
    }
}

/// A load balancer over a fixed list of backends (indexes into it). Shared
/// by all connection tasks: `&self` methods, internally synchronized
/// (atomics; short `std::sync::Mutex` sections, never held across a park).
///
/// Every index argument must be `< backends.len()`; the methods panic
/// otherwise, as a slice index would.
pub trait Balancer: Send + Sync {
    /// Chooses a backend for this request among those currently up; None
    /// when every backend is down.
    fn pick(&self, key: &RequestKey<'_>) -> Option<usize>;

    /// Like [`pick`](Self::pick), but never returns an index in `tried`: for
    /// retrying a request on another backend. None when no untried backend
    /// is up. The balancers in this module honour `tried` in their own
    /// order (SWRR leaves tried backends out of that round, the ring walks
    /// on clockwise); the default, for balancers that cannot, gives up when
    /// its pick was already tried.
    fn pick_excluding(&self, key: &RequestKey<'_>, tried: &[usize]) -> Option<usize> {
        self.pick(key).filter(|i| !tried.contains(i))
    }

    /// The backends' shared health record, which the defaults below keep.
    fn health(&self) -> &Health;

    /// A request to backend `i` started. Call it right after `pick`, before
    /// anything that can park the task, so concurrent picks see the load.
    /// Balancers that count in-flight requests override it.
    fn started(&self, _i: usize) {}

    /// A request to backend `i` finished; `ok = false` means the backend
    /// failed (connect refused/reset/timeout, 5xx from a failed exchange)
    /// and counts toward passive health. Exactly once per `started`.
    fn finished(&self, i: usize, ok: bool) {
        self.health().report(i, ok);
    }

    /// Active health checks report here: backend `i` is up or down.
    /// "Down" holds until an active "up"; passive successes cannot undo it.
    /// "Up" clears the passive record (failure count, retry time).
    fn set_up(&self, i: usize, up: bool) {
        self.health().set_up(i, up);
    }

    /// Whether backend `i` is currently considered up (for metrics and
    /// /healthz). False from the moment it is marked down until a probe
    /// succeeds or an active check says up, even while it is due a probe.
    fn is_up(&self, i: usize) -> bool {
        self.health().is_up(i)
    }

    /// The balancer's config name, one of [`NAMES`].
    fn name(&self) -> &'static str;
}

/// The valid names, for error messages and docs.
pub const NAMES: &[&str] = &[
    "random",
    "round_robin",
    "weighted_round_robin",
    "consistent_hash",
    "least_conn",
    "p2c",
];

/// The largest accepted [`Backend::weight`]. Our choice, not nginx's: it
/// keeps a backend's hash ring share at most 160 × 1000 = 160,000 points
/// (2.5 MB) and SWRR's sums far from overflow. Raising it only costs ring
/// memory and build time.
pub const MAX_WEIGHT: u32 = 1000;

/// Builds the balancer named in the config: "random", "round_robin",
/// "weighted_round_robin", "consistent_hash", "least_conn", "p2c". Err names
/// the unknown balancer and lists the valid names; it also rejects an empty
/// backend list and weights outside `1..=`[`MAX_WEIGHT`].
pub fn by_name(
    name: &str,
    backends: &[Backend],
    health: HealthConfig,
) -> Result<Box<dyn Balancer>, String> {
    build(name, backends, health, &Options::default())
}

/// Knobs that [`by_name`] leaves at their defaults: tests (and the gateway's
/// own tests) use them to make balancers deterministic.
#[derive(Clone, Debug)]
pub struct Options {
    /// The time source for passive health; [`Clock::manual`] in tests.
    pub clock: Clock,
    /// Seed for `random` and `p2c`; `None` seeds from the clock and a
    /// process-wide counter, so two balancers never share a sequence.
    pub seed: Option<u64>,
    /// Ring points per unit of weight for `consistent_hash`.
    pub points_per_weight: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            clock: Clock::system(),
            seed: None,
            points_per_weight: DEFAULT_POINTS_PER_WEIGHT,
        }
    }
}

/// [`by_name`] with explicit [`Options`].
pub fn build(
    name: &str,
    backends: &[Backend],
    health: HealthConfig,
    options: &Options,
) -> Result<Box<dyn Balancer>, String> {
    if !NAMES.contains(&name) {
        return Err(format!(
            "unknown balancer \"{name}\"; valid balancers are: {}",
            NAMES.join(", ")
        ));
    }
    validate(backends)?;
    let h = Health::new(backends.len(), health, options.clock.clone());
    let rng = || match options.seed {
        Some(seed) => Rng::with_seed(seed),
        None => Rng::from_entropy(),
    };
    Ok(match name {
        "random" => Box::new(Random::new(h, rng())),
        "round_robin" => Box::new(RoundRobin::new(h)),
        "weighted_round_robin" => Box::new(WeightedRoundRobin::new(backends, h)),
        "consistent_hash" => Box::new(ConsistentHash::with_points(
            backends,
            h,
            options.points_per_weight.max(1),
        )),
        "least_conn" => Box::new(LeastConn::new(backends, h)),
        "p2c" => Box::new(PowerOfTwoChoices::new(backends, h, rng())),
        _ => unreachable!("checked against NAMES above"),
    })
}

/// Checks what every policy assumes: at least one backend, weights in
/// `1..=MAX_WEIGHT`.
fn validate(backends: &[Backend]) -> Result<(), String> {
    if backends.is_empty() {
        return Err("an upstream needs at least one backend".to_string());
    }
    for b in backends {
        if b.weight == 0 || b.weight > MAX_WEIGHT {
            return Err(format!(
                "backend {}: weight {} is outside 1..={MAX_WEIGHT}",
                b.addr, b.weight
            ));
        }
    }
    Ok(())
}

/// How many random draws `random` and `p2c` try before falling back to a
/// candidate list when some backend is down or excluded. With a quarter of
/// the backends down, all 4 draws miss 0.25^4 ≈ 0.4 % of the time for
/// `random`, and about 4 % for `p2c` (both members of a pair must be
/// eligible: ≈ 0.44^4). Our choice, not measured against alternatives:
/// more draws only help when most backends are down, and then the
/// fallback list is short anyway.
const DRAWS: usize = 4;

/// The indexes a slow-path pick may choose from: not in `tried`, and up or
/// due a probe. Allocates; the fast paths avoid it while every backend is up.
fn candidates(health: &Health, tried: &[usize]) -> Vec<usize> {
    (0..health.len())
        .filter(|i| !tried.contains(i) && health.may_pick(*i))
        .collect()
}

/// Per-backend in-flight request counts for the load-aware policies.
/// Relaxed atomics: a count is advice for the next pick, not a fence.
#[derive(Debug)]
struct InFlight(Box<[AtomicUsize]>);

impl InFlight {
    fn new(n: usize) -> Self {
        InFlight((0..n).map(|_| AtomicUsize::new(0)).collect())
    }

    fn get(&self, i: usize) -> usize {
        self.0[i].load(Ordering::Relaxed)
    }

    fn inc(&self, i: usize) {
        self.0[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Saturates at 0: a `finished` without its `started` is a caller bug,
    /// but wrapping to `usize::MAX` would starve that backend forever.
    fn dec(&self, i: usize) {
        let _ = self.0[i].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }
}

/// Whether backend `a` is less loaded than `b`: `in_flight / weight`
/// compared by cross-multiplying, as nginx's least_conn does
/// (`peer->conns * best->weight < best->conns * peer->weight`).
fn lighter(in_flight: &InFlight, weights: &[u32], a: usize, b: usize) -> bool {
    let la = in_flight.get(a) as u128 * u128::from(weights[b]);
    let lb = in_flight.get(b) as u128 * u128::from(weights[a]);
    la < lb
}

/// A small, lock-free pseudo-random generator shared by all threads:
/// SplitMix64 (Steele, Lea and Flood, 2014) stepped by one atomic
/// `fetch_add`. Not cryptographic; it only spreads requests.
#[derive(Debug)]
pub struct Rng {
    /// The SplitMix64 counter; each number is `mix(state += GAMMA)`.
    state: AtomicU64,
}

/// SplitMix64's increment: 2^64 divided by the golden ratio, odd, so the
/// counter visits every `u64` before repeating.
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

impl Rng {
    /// A generator whose sequence is fixed by `seed` (for tests).
    pub fn with_seed(seed: u64) -> Self {
        Rng {
            state: AtomicU64::new(seed),
        }
    }

    /// A generator seeded from the wall clock's nanoseconds and a
    /// process-wide counter, so balancers built in the same nanosecond
    /// still differ.
    pub fn from_entropy() -> Self {
        static BUILT: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let count = BUILT.fetch_add(1, Ordering::Relaxed);
        Rng::with_seed(mix64(nanos ^ count.wrapping_mul(GAMMA)))
    }

    /// The next 64 random bits.
    pub fn next_u64(&self) -> u64 {
        let s = self
            .state
            .fetch_add(GAMMA, Ordering::Relaxed)
            .wrapping_add(GAMMA);
        mix64(s)
    }

    /// A number in `0..n` (`n > 0`), by Lemire's multiply-shift: the bias is
    /// at most `n / 2^64`, nothing for a list of backends.
    pub fn below(&self, n: usize) -> usize {
        debug_assert!(n > 0);
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// SplitMix64's output function (also a good 64-bit finaliser).
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::sync::Arc;

    pub(crate) fn backends(weights: &[u32]) -> Vec<Backend> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| Backend {
                addr: SocketAddr::from(([10, 0, 0, i as u8 + 1], 8080)),
                weight,
            })
            .collect()
    }

    pub(crate) fn key() -> RequestKey<'static> {
        RequestKey {
            client_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
            hash_key: None,
        }
    }

    fn seeded() -> Options {
        Options {
            seed: Some(7),
            ..Options::default()
        }
    }

    #[test]
    fn by_name_builds_every_name_and_reports_it() {
        for &name in NAMES {
            let b = by_name(name, &backends(&[1, 2]), HealthConfig::default()).unwrap();
            assert_eq!(b.name(), name);
        }
    }

    #[test]
    fn unknown_name_lists_the_valid_ones() {
        let err = by_name("fastest", &backends(&[1]), HealthConfig::default())
            .err()
            .unwrap();
        assert!(err.contains("\"fastest\""), "{err}");
        for name in NAMES {
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn rejects_empty_lists_and_bad_weights() {
        let h = HealthConfig::default();
        assert!(by_name("random", &[], h).is_err());
        assert!(by_name("random", &backends(&[1, 0]), h).is_err());
        assert!(by_name("random", &backends(&[MAX_WEIGHT + 1]), h).is_err());
        assert!(by_name("random", &backends(&[MAX_WEIGHT]), h).is_ok());
    }

    #[test]
    fn every_balancer_returns_none_when_all_are_down_and_recovers() {
        for &name in NAMES {
            let b = build(
                name,
                &backends(&[1, 1, 1]),
                HealthConfig::default(),
                &seeded(),
            )
            .unwrap();
            for i in 0..3 {
                b.set_up(i, false);
            }
            assert_eq!(b.pick(&key()), None, "{name}");
            assert!((0..3).all(|i| !b.is_up(i)), "{name}");
            b.set_up(1, true);
            for _ in 0..20 {
                assert_eq!(b.pick(&key()), Some(1), "{name}");
            }
        }
    }

    #[test]
    fn every_balancer_honours_tried() {
        for &name in NAMES {
            let b = build(
                name,
                &backends(&[1, 1, 1]),
                HealthConfig::default(),
                &seeded(),
            )
            .unwrap();
            for _ in 0..20 {
                let i = b.pick_excluding(&key(), &[0, 2]);
                assert_eq!(i, Some(1), "{name}");
            }
            assert_eq!(b.pick_excluding(&key(), &[0, 1, 2]), None, "{name}");
        }
    }

    #[test]
    fn every_balancer_marks_a_failing_backend_down_passively() {
        let h = HealthConfig::default(); // max_fails = 1
        for &name in NAMES {
            let b = build(name, &backends(&[1, 1]), h, &seeded()).unwrap();
            b.started(0);
            b.finished(0, false);
            assert!(!b.is_up(0), "{name}");
            for _ in 0..20 {
                assert_eq!(b.pick(&key()), Some(1), "{name}");
            }
        }
    }

    /// Four threads hammer each balancer; afterwards the load-aware ones
    /// must be back at zero in flight (no lost or doubled update), and every
    /// pick must have been a valid index.
    #[test]
    fn concurrent_picks_keep_counts_consistent() {
        let list = backends(&[1, 2, 3, 1]);
        for &name in NAMES {
            let b: Arc<dyn Balancer> =
                Arc::from(by_name(name, &list, HealthConfig::default()).unwrap());
            let threads: Vec<_> = (0..4)
                .map(|t| {
                    let b = Arc::clone(&b);
                    std::thread::spawn(move || {
                        for n in 0..5_000u32 {
                            let ip = IpAddr::V4(Ipv4Addr::from(n.wrapping_mul(2_654_435_761) ^ t));
                            let k = RequestKey {
                                client_ip: ip,
                                hash_key: None,
                            };
                            let i = b.pick(&k).expect("all up");
                            assert!(i < 4);
                            b.started(i);
                            b.finished(i, true);
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            assert!((0..4).all(|i| b.is_up(i)), "{name}");
        }
        // The in-flight counts themselves, through the concrete types.
        let lc = Arc::new(LeastConn::new(
            &list,
            Health::new(4, HealthConfig::default(), Clock::system()),
        ));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let lc = Arc::clone(&lc);
                std::thread::spawn(move || {
                    for _ in 0..5_000 {
                        let i = lc.pick(&key()).unwrap();
                        lc.started(i);
                        lc.finished(i, true);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!((0..4).all(|i| lc.in_flight(i) == 0));
    }

    #[test]
    fn rng_is_deterministic_per_seed_and_in_range() {
        let a = Rng::with_seed(1);
        let b = Rng::with_seed(1);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut seen = [0u32; 7];
        for _ in 0..70_000 {
            seen[a.below(7)] += 1;
        }
        // Each bucket expects 10,000; 5 % slack is > 10 standard deviations.
        assert!(
            seen.iter().all(|&c| (9_500..=10_500).contains(&c)),
            "{seen:?}"
        );
    }

    #[test]
    fn in_flight_never_wraps_below_zero() {
        let f = InFlight::new(1);
        f.dec(0);
        assert_eq!(f.get(0), 0);
        f.inc(0);
        f.dec(0);
        f.dec(0);
        assert_eq!(f.get(0), 0);
    }
}
