//! Per-client rate limits: a token bucket per (route pattern, client id), in process.
//!
//! Limits are per replica: N replicas allow N times the configured rate (docs/operations.md).
//! Buckets of clients that went quiet are dropped once full again, so memory follows the active
//! clients, not every client ever seen.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::policy::RateLimit;

/// How many buckets trigger a sweep of idle ones.
const SWEEP_AT: usize = 10_000;

#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<(String, String), Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    /// Takes one token for `client` on `route`, or says how long until one is available.
    pub fn check(
        &self,
        route: &str,
        client: &str,
        limit: RateLimit,
        now: Instant,
    ) -> Result<(), Duration> {
        let burst = f64::from(limit.burst.max(1));
        let mut buckets = match self.buckets.lock() {
            Ok(guard) => guard,
            // A panic elsewhere while holding the lock leaves counts, not invariants: go on.
            Err(poisoned) => poisoned.into_inner(),
        };
        if buckets.len() >= SWEEP_AT {
            buckets.retain(|_, b| refill(b, now, limit.per_second, burst) < burst);
        }
        let bucket = buckets
            .entry((route.to_owned(), client.to_owned()))
            .or_insert(Bucket {
                tokens: burst,
                updated: now,
            });
        let tokens = refill(bucket, now, limit.per_second, burst);
        if tokens >= 1.0 {
            bucket.tokens = tokens - 1.0;
            Ok(())
        } else if limit.per_second > 0.0 {
            Err(Duration::from_secs_f64((1.0 - tokens) / limit.per_second))
        } else {
            Err(Duration::from_secs(60))
        }
    }
}

fn refill(bucket: &mut Bucket, now: Instant, per_second: f64, burst: f64) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
    bucket.tokens = (bucket.tokens + elapsed * per_second).min(burst);
    bucket.updated = now;
    bucket.tokens
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn burst_then_refill_at_the_configured_rate() {
        let limiter = RateLimiter::default();
        let limit = RateLimit {
            per_second: 2.0,
            burst: 3,
        };
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check("/ingest", "clientco", limit, t0).is_ok());
        }
        let wait = limiter.check("/ingest", "clientco", limit, t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        // Another client and another route have their own buckets.
        assert!(limiter.check("/ingest", "other", limit, t0).is_ok());
        assert!(limiter.check("/forecast", "clientco", limit, t0).is_ok());
        // Half a second later one token is back.
        let later = t0 + Duration::from_millis(500);
        assert!(limiter.check("/ingest", "clientco", limit, later).is_ok());
        assert!(limiter.check("/ingest", "clientco", limit, later).is_err());
    }
}
