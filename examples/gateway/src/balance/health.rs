//! # Passive health: nginx's `max_fails` and `fail_timeout`
//!
//! The gateway learns that a backend is sick from the requests it sends
//! there: a refused connection, a reset, a timeout. This file turns those
//! reports into a per-backend verdict that every policy consults, so that a
//! dead backend stops getting traffic without any active checker, and gets
//! a single request now and then to find out whether it is back.
//!
//! ## The rules (nginx `ngx_http_upstream_round_robin.c`, restated)
//! 1. A failure is counted. A failure more than `fail_timeout` after the
//!    previous one starts the count again at 1, so only failures within
//!    `fail_timeout` of each other add up.
//! 2. When the count reaches `max_fails`, the backend is **down** until
//!    `fail_timeout` has passed. nginx logs "upstream server temporarily
//!    disabled" at this point.
//! 3. After that, it is *due a probe*: the next pick may choose it, and
//!    choosing it pushes the next probe another `fail_timeout` away (nginx
//!    sets `peer->checked = now` on selection), so only one request goes
//!    through per `fail_timeout`.
//! 4. The probe's success brings the backend back up with a clean record;
//!    its failure keeps it down for another `fail_timeout`.
//! 5. A success while up clears the failure count (the brief's rule; see
//!    "Where we differ" below).
//! 6. `max_fails = 0` turns all of this off: failures are not counted.
//! 7. Active checks override: [`Health::set_up`]`(i, false)` marks it down
//!    until `set_up(i, true)`, and no passive report changes that;
//!    `set_up(i, true)` clears the passive record.
//!
//! ## Where we differ from nginx, and why
//! - nginx clears the count on success only if the request was picked after
//!   the window expired (`if (peer->accessed < peer->checked) fails = 0`),
//!   so `max_fails=3` there means "3 failures within 10 s, successes or
//!   not". Ours means "3 failures within 10 s of each other with no success
//!   between", as Envoy's consecutive-5xx outlier detection does. A backend
//!   that fails every other request stays up here; it would go down in
//!   nginx. With the default `max_fails = 1` the two agree.
//! - A success reported while down, by a request that was *not* the probe
//!   (it was in flight when the backend went down), is ignored: it proves
//!   nothing about new connections. nginx's `accessed < checked` test has
//!   the same effect.
//! - nginx never marks the only server of an upstream down, and when every
//!   server is down it forgets all failure counts ("mark them as live for
//!   quick recovery"). We keep the verdicts: the gateway answers 502 "all
//!   backends are down" and probes each backend once per `fail_timeout`.
//!
//! ## Representation
//! Picks happen on every request; failures are rare. So the state every
//! pick reads is one atomic byte per backend (`mode`: up and clean, up with
//! failures on record, or down) and a count of backends down. While that
//! count is 0, a pick touches nothing else, and a success report on a clean
//! backend returns after one load. Everything else (the count of failures,
//! when the last one happened, when the next probe is due) lives in
//! `Record`s behind one `Mutex`, taken only when a request fails, a backend
//! is down, or an active check reports. `mode` and `down` are written only
//! under that lock, so they always agree with the records.
//!
//! ## Time
//! Every instant comes from a [`Clock`]: the system's monotonic clock, or a
//! manual one the tests advance by hand, so no test sleeps.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::HealthConfig;

/// `mode`: up, no failure on record; a success report needs no lock.
const CLEAN: u8 = 0;
/// `mode`: up, `0 < fails < max_fails`.
const FAILING: u8 = 1;
/// `mode`: down, by passive health (`fails >= max_fails`) or by an active
/// check; `Record` says which and when the next probe is due.
const DOWN: u8 = 2;

/// Where "now" comes from: the system's monotonic clock, or a manual clock
/// that tests move with [`Clock::advance`]. Cloning a manual clock shares
/// it.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// The manual clock's current instant; `None` for the system clock.
    manual: Option<Arc<Mutex<Instant>>>,
}

impl Clock {
    /// `Instant::now()`.
    pub fn system() -> Self {
        Clock { manual: None }
    }

    /// A clock that starts at the current instant and moves only when
    /// [`advance`](Self::advance)d.
    pub fn manual() -> Self {
        Clock {
            manual: Some(Arc::new(Mutex::new(Instant::now()))),
        }
    }

    /// The current instant.
    pub fn now(&self) -> Instant {
        match &self.manual {
            None => Instant::now(),
            Some(t) => *t.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// Moves a manual clock forward. Panics on the system clock, which
    /// cannot be moved.
    pub fn advance(&self, by: Duration) {
        let t = self
            .manual
            .as_ref()
            .expect("Clock::advance needs a Clock::manual()");
        let mut t = t.lock().unwrap_or_else(PoisonError::into_inner);
        *t += by;
    }
}

/// Passive (and active) health of a fixed list of backends, shared by all
/// threads. See the module doc for the rules.
#[derive(Debug)]
pub struct Health {
    /// `max_fails` and `fail_timeout` as configured.
    config: HealthConfig,
    /// Where instants come from; read only on the slow paths.
    clock: Clock,
    /// Per backend: `CLEAN`, `FAILING` or `DOWN`, read lock-free by every
    /// pick; written only under `records`' lock.
    mode: Box<[AtomicU8]>,
    /// How many backends are `DOWN`; 0 lets picks skip per-backend checks.
    /// Written only under `records`' lock.
    down: AtomicUsize,
    /// The full per-backend state, for failures, probes and active reports.
    records: Mutex<Box<[Record]>>,
}

/// One backend's passive-health record (behind `Health::records`).
#[derive(Debug, Default, Clone)]
struct Record {
    /// Failures counted in the current window (rule 1).
    fails: u32,
    /// When the last counted failure happened; a failure more than
    /// `fail_timeout` later starts a new count.
    last_failure: Option<Instant>,
    /// While down by passive health: when the next probe may go out.
    /// `None` while down means never (an active "down", or a `fail_timeout`
    /// so large that the instant overflows).
    retry_at: Option<Instant>,
    /// A probe was handed out and has not reported; only its success (or
    /// any success racing it) revives the backend.
    probing: bool,
    /// An active check said down; only an active "up" clears it.
    forced_down: bool,
}

impl Health {
    /// `n` backends, all up with clean records.
    pub fn new(n: usize, config: HealthConfig, clock: Clock) -> Self {
        Health {
            config,
            clock,
            mode: (0..n).map(|_| AtomicU8::new(CLEAN)).collect(),
            down: AtomicUsize::new(0),
            records: Mutex::new(vec![Record::default(); n].into_boxed_slice()),
        }
    }

    /// Number of backends.
    pub fn len(&self) -> usize {
        self.mode.len()
    }

    /// Whether there are no backends at all.
    pub fn is_empty(&self) -> bool {
        self.mode.is_empty()
    }

    /// The settings this was built with.
    pub fn config(&self) -> HealthConfig {
        self.config
    }

    /// The clock this reads (shared with tests that advance it).
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Whether no backend is down: the picks' fast path. One atomic load.
    pub fn all_up(&self) -> bool {
        self.down.load(Ordering::Acquire) == 0
    }

    /// Whether backend `i` is up (not marked down). One atomic load.
    pub fn is_up(&self, i: usize) -> bool {
        self.mode[i].load(Ordering::Acquire) != DOWN
    }

    /// Whether a pick may choose backend `i` now: it is up, or it is down by
    /// passive health and due a probe. No side effects; lock-free when up.
    pub fn may_pick(&self, i: usize) -> bool {
        if self.is_up(i) {
            return true;
        }
        let records = self.lock();
        self.probe_due(&records[i])
    }

    /// Takes backend `i` for one request. Always true (and lock-free) for an
    /// up backend. For a backend due a probe, the first caller gets true and
    /// moves the next probe `fail_timeout` away; everyone else gets false
    /// until then.
    pub fn claim(&self, i: usize) -> bool {
        if self.is_up(i) {
            return true;
        }
        let mut records = self.lock();
        // Re-read under the lock: it may have come back up meanwhile.
        if self.mode[i].load(Ordering::Acquire) != DOWN {
            return true;
        }
        if !self.probe_due(&records[i]) {
            return false;
        }
        let now = self.clock.now();
        let r = &mut records[i];
        r.retry_at = now.checked_add(self.config.fail_timeout);
        r.probing = true;
        true
    }

    /// A request to backend `i` finished; `ok = false` counts a failure.
    pub fn report(&self, i: usize, ok: bool) {
        if ok {
            self.report_success(i);
        } else {
            self.report_failure(i);
        }
    }

    /// Rule 5 (success while up clears the count) and rule 4 (the probe's
    /// success revives). Lock-free when the record is already clean.
    fn report_success(&self, i: usize) {
        if self.mode[i].load(Ordering::Acquire) == CLEAN {
            return;
        }
        let mut records = self.lock();
        let r = &mut records[i];
        match self.mode[i].load(Ordering::Acquire) {
            FAILING => {
                *r = Record::default();
                self.set_mode(i, CLEAN);
            }
            DOWN if r.probing && !r.forced_down => {
                *r = Record::default();
                self.set_mode(i, CLEAN);
            }
            // Clean already, forced down, or a stale success while down.
            _ => {}
        }
    }

    /// Rules 1–4 for a failure.
    fn report_failure(&self, i: usize) {
        let max_fails = self.config.max_fails;
        if max_fails == 0 {
            return;
        }
        let mut records = self.lock();
        let now = self.clock.now();
        let timeout = self.config.fail_timeout;
        let r = &mut records[i];
        if r.forced_down {
            return;
        }
        if self.mode[i].load(Ordering::Acquire) == DOWN {
            // The probe failed, or a request from before the fall did:
            // either way, wait a whole fail_timeout from now.
            r.fails = r.fails.saturating_add(1);
            r.last_failure = Some(now);
            r.retry_at = now.checked_add(timeout);
            r.probing = false;
            return;
        }
        if r.last_failure
            .is_some_and(|t| now.saturating_duration_since(t) > timeout)
        {
            r.fails = 0;
        }
        r.fails += 1;
        r.last_failure = Some(now);
        if r.fails >= max_fails {
            r.retry_at = now.checked_add(timeout);
            r.probing = false;
            self.set_mode(i, DOWN);
        } else {
            self.set_mode(i, FAILING);
        }
    }

    /// An active check's verdict (rule 7).
    pub fn set_up(&self, i: usize, up: bool) {
        let mut records = self.lock();
        if up {
            records[i] = Record::default();
            self.set_mode(i, CLEAN);
        } else {
            let r = &mut records[i];
            r.forced_down = true;
            r.probing = false;
            r.retry_at = None;
            self.set_mode(i, DOWN);
        }
    }

    /// Failures currently counted against backend `i` (for metrics/tests).
    pub fn fails(&self, i: usize) -> u32 {
        self.lock()[i].fails
    }

    /// Whether a down backend may take a probe now (rule 3).
    fn probe_due(&self, r: &Record) -> bool {
        !r.forced_down && r.retry_at.is_some_and(|t| self.clock.now() >= t)
    }

    /// Stores backend `i`'s mode and keeps `down` in step. Call only with
    /// `records` locked (the `MutexGuard` the callers hold).
    fn set_mode(&self, i: usize, new: u8) {
        let old = self.mode[i].swap(new, Ordering::AcqRel);
        match (old == DOWN, new == DOWN) {
            (false, true) => {
                self.down.fetch_add(1, Ordering::AcqRel);
            }
            (true, false) => {
                self.down.fetch_sub(1, Ordering::AcqRel);
            }
            _ => {}
        }
    }

    /// The records. Poisoning is ignored: no code panics while holding the
    /// lock, and a half-written record is still a valid one.
    fn lock(&self) -> MutexGuard<'_, Box<[Record]>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn health(n: usize, max_fails: u32, secs: u64) -> Health {
        let config = HealthConfig {
            max_fails,
            fail_timeout: Duration::from_secs(secs),
        };
        Health::new(n, config, Clock::manual())
    }

    #[test]
    fn default_config_is_nginx() {
        let c = HealthConfig::default();
        assert_eq!(c.max_fails, 1);
        assert_eq!(c.fail_timeout, Duration::from_secs(10));
    }

    #[test]
    fn max_fails_within_the_window_marks_down() {
        let h = health(2, 3, 10);
        h.report(0, false);
        h.clock().advance(SEC);
        h.report(0, false);
        assert!(h.is_up(0) && h.all_up());
        assert_eq!(h.fails(0), 2);
        h.clock().advance(SEC);
        h.report(0, false);
        assert!(!h.is_up(0));
        assert!(!h.all_up());
        assert!(h.is_up(1));
        assert!(!h.may_pick(0));
        assert!(!h.claim(0));
    }

    #[test]
    fn failures_further_apart_than_fail_timeout_do_not_add_up() {
        let h = health(1, 2, 10);
        h.report(0, false);
        h.clock().advance(11 * SEC);
        h.report(0, false);
        assert!(h.is_up(0), "the first failure had expired");
        assert_eq!(h.fails(0), 1);
        h.clock().advance(10 * SEC); // exactly fail_timeout: still counts
        h.report(0, false);
        assert!(!h.is_up(0));
    }

    #[test]
    fn a_success_clears_the_count() {
        let h = health(1, 2, 10);
        h.report(0, false);
        h.report(0, true);
        assert_eq!(h.fails(0), 0);
        h.report(0, false);
        assert!(h.is_up(0), "one failure after a success is not two");
    }

    #[test]
    fn down_until_fail_timeout_then_exactly_one_probe() {
        let h = health(1, 1, 10);
        h.report(0, false);
        h.clock().advance(10 * SEC - Duration::from_millis(1));
        assert!(!h.may_pick(0) && !h.claim(0));
        h.clock().advance(Duration::from_millis(1));
        assert!(h.may_pick(0));
        assert!(h.claim(0), "the probe");
        assert!(!h.may_pick(0) && !h.claim(0), "only one probe");
        assert!(!h.is_up(0), "still down while the probe is out");
        h.report(0, true);
        assert!(h.is_up(0) && h.all_up());
        assert_eq!(h.fails(0), 0);
    }

    #[test]
    fn a_failed_probe_keeps_it_down_another_fail_timeout() {
        let h = health(1, 1, 10);
        h.report(0, false);
        h.clock().advance(10 * SEC);
        assert!(h.claim(0));
        h.clock().advance(2 * SEC);
        h.report(0, false);
        h.clock().advance(9 * SEC);
        assert!(!h.claim(0), "10 s from the probe's failure, not its start");
        h.clock().advance(SEC);
        assert!(h.claim(0));
    }

    #[test]
    fn a_probe_that_never_reports_does_not_block_the_next() {
        let h = health(1, 1, 10);
        h.report(0, false);
        h.clock().advance(10 * SEC);
        assert!(h.claim(0));
        h.clock().advance(10 * SEC);
        assert!(h.claim(0), "the lost probe's slot expired");
    }

    #[test]
    fn a_stale_success_while_down_does_not_revive() {
        let h = health(1, 1, 10);
        h.report(0, false);
        h.report(0, true); // a request from before the fall
        assert!(!h.is_up(0));
    }

    #[test]
    fn max_fails_zero_never_marks_down() {
        let h = health(1, 0, 10);
        for _ in 0..100 {
            h.report(0, false);
        }
        assert!(h.is_up(0));
        assert_eq!(h.fails(0), 0);
    }

    #[test]
    fn active_down_overrides_passive_and_active_up_clears() {
        let h = health(1, 3, 10);
        h.report(0, false);
        h.set_up(0, false);
        assert!(!h.is_up(0));
        h.clock().advance(100 * SEC);
        assert!(!h.may_pick(0), "no probes while actively down");
        h.report(0, true);
        assert!(!h.is_up(0), "passive success cannot undo an active down");
        h.set_up(0, true);
        assert!(h.is_up(0) && h.all_up());
        assert_eq!(h.fails(0), 0);
        // Passive health works again after an active up.
        for _ in 0..3 {
            h.report(0, false);
        }
        assert!(!h.is_up(0));
        h.set_up(0, true);
        assert!(h.is_up(0));
    }

    #[test]
    fn down_count_follows_every_transition() {
        let h = health(3, 1, 10);
        h.report(0, false);
        h.report(0, false); // already down: not counted twice
        h.set_up(1, false);
        h.set_up(1, false);
        assert_eq!(h.down.load(Ordering::Relaxed), 2);
        h.set_up(0, true);
        assert_eq!(h.down.load(Ordering::Relaxed), 1);
        h.set_up(1, true);
        h.set_up(2, true);
        assert!(h.all_up());
    }

    #[test]
    fn huge_fail_timeout_means_down_for_good() {
        let config = HealthConfig {
            max_fails: 1,
            fail_timeout: Duration::MAX,
        };
        let h = Health::new(1, config, Clock::manual());
        h.report(0, false);
        h.clock().advance(1_000_000 * SEC);
        assert!(!h.may_pick(0));
        h.set_up(0, true);
        assert!(h.is_up(0));
    }

    #[test]
    #[should_panic(expected = "Clock::manual")]
    fn the_system_clock_cannot_be_advanced() {
        Clock::system().advance(SEC);
    }
}
