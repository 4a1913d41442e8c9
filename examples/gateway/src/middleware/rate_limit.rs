//! `rate_limit`: a token bucket per client IP; a request finding its
//! bucket empty is answered 429 with `Retry-After` (nginx's `limit_req`
//! with `nodelay`; golang.org/x/time/rate's `Limiter`).
//!
//! Each client address has a bucket of at most `burst` tokens, refilled at
//! `rate` tokens a second; a request takes one. So a client may send
//! `burst` requests at once, then `rate` a second for ever. Unlike nginx,
//! a request over the limit is refused at once rather than queued: a
//! queued request holds a connection task and its buffers while it waits.
//!
//! Refilling is lazy: a bucket remembers when it was last touched and
//! adds `elapsed × rate` on the next request, so idle clients cost no work.
//! They do cost memory, so once the table holds [`SWEEP_AT`] addresses,
//! the next request sweeps out every bucket that would be full again (its
//! client has been quiet for `burst / rate` seconds, and forgetting it
//! changes nothing).
//!
//! `Retry-After` is the time until one token is back, rounded up to whole
//! seconds (the field has no finer unit), at least 1.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use grt::sync::Mutex;

use crate::http::{Request, Response};

use super::{Middleware, Next};

/// Table size that triggers a sweep of full buckets (module doc).
pub const SWEEP_AT: usize = 16 * 1024;

/// One client's bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    /// When `tokens` was last brought up to date.
    updated: Instant,
}

/// The `rate_limit` layer (module doc).
pub struct RateLimit {
    /// Tokens added per second.
    rate: f64,
    /// Bucket capacity.
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimit {
    /// `rate` requests a second per client, bursts of `burst` (at least 1).
    pub fn new(rate: f64, burst: u32) -> RateLimit {
        RateLimit {
            rate,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `client` at `now`; `Err` holds how long until one
    /// is back.
    pub fn take(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock();
        if buckets.len() >= SWEEP_AT {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, bucket| refilled(bucket, now, rate, burst) < burst);
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        bucket.tokens = refilled(bucket, now, self.rate, self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else if self.rate > 0.0 {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        } else {
            Err(Duration::from_secs(3600))
        }
    }
}

/// `bucket`'s tokens at `now`.
fn refilled(bucket: &Bucket, now: Instant, rate: f64, burst: f64) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
    (bucket.tokens + elapsed * rate).min(burst)
}

impl Middleware for RateLimit {
    fn handle(&self, req: Request<'_>, next: Next<'_>) -> Response {
        match self.take(req.peer.ip(), Instant::now()) {
            Ok(()) => next.run(req),
            Err(wait) => {
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                Response::text(429, "rate limit exceeded")
                    .with_header("Retry-After", seconds.max(1).to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let limit = RateLimit::new(10.0, 3);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limit.take(ip, t0).is_ok());
        }
        let wait = limit.take(ip, t0).unwrap_err();
        assert!(
            wait <= Duration::from_millis(100) && wait > Duration::ZERO,
            "{wait:?}"
        );
        assert!(limit.take(other, t0).is_ok(), "buckets are per client");
        assert!(limit.take(ip, t0 + Duration::from_millis(100)).is_ok());
        assert!(limit.take(ip, t0 + Duration::from_millis(100)).is_err());
        // A long pause refills to the burst, not beyond.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limit.take(ip, later).is_ok());
        }
        assert!(limit.take(ip, later).is_err());
    }
}
