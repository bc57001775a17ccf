//! The in-process rate limiter: a token bucket per key (`RateKey`), in this process only.
//!
//! Without `[state] redis` it is the limiter (one replica), and with `on_error = "local"` it
//! answers while Redis is unreachable, so N replicas then allow up to N times the configured
//! rate. Its answers are the Redis GCRA script's (`redis::gcra`): a fresh client has `burst`
//! requests, one more every `1 / per_second`, and a refused request learns how long until the
//! next token. Buckets of clients that went quiet are dropped once full again, so memory follows
//! the active clients, not every client ever seen.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{Admission, RateKey, RateLimiter, StateFuture};
use crate::policy::RateLimit;

/// How many buckets trigger a sweep of idle ones.
const SWEEP_AT: usize = 10_000;

#[derive(Default)]
pub struct MemoryRateLimiter {
    buckets: Mutex<HashMap<[u8; 32], Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl MemoryRateLimiter {
    /// Takes one token from the bucket `key` (a `RateKey::digest`) at `now`, or says how long
    /// until one is available.
    pub fn check(&self, key: [u8; 32], limit: RateLimit, now: Instant) -> Admission {
        let burst = f64::from(limit.burst.max(1));
        // A panic elsewhere while holding the lock leaves counts, not invariants: go on.
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= SWEEP_AT {
            buckets.retain(|_, b| refill(b, now, limit.per_second, burst) < burst);
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let tokens = refill(bucket, now, limit.per_second, burst);
        if tokens >= 1.0 {
            bucket.tokens = tokens - 1.0;
            Admission::Allowed
        } else if limit.per_second > 0.0 {
            Admission::Limited(Duration::from_secs_f64((1.0 - tokens) / limit.per_second))
        } else {
            Admission::Limited(Duration::from_secs(60))
        }
    }
}

impl RateLimiter for MemoryRateLimiter {
    fn admit(&self, key: &RateKey<'_>, limit: RateLimit) -> StateFuture<'_, Admission> {
        let answer = self.check(key.digest(), limit, Instant::now());
        Box::pin(std::future::ready(Ok(answer)))
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

    fn key(route: &str, client: &str) -> [u8; 32] {
        RateKey {
            issuer: "https://t.auth0.com/",
            client,
            route,
            methods: "*",
        }
        .digest()
    }

    #[test]
    fn burst_then_refill_at_the_configured_rate() {
        let limiter = MemoryRateLimiter::default();
        let limit = RateLimit {
            per_second: 2.0,
            burst: 3,
        };
        let t0 = Instant::now();
        let ingest = key("/ingest", "clientco");
        for _ in 0..3 {
            assert_eq!(limiter.check(ingest, limit, t0), Admission::Allowed);
        }
        assert_eq!(
            limiter.check(ingest, limit, t0),
            Admission::Limited(Duration::from_millis(500))
        );
        // Another client and another route have their own buckets.
        assert_eq!(
            limiter.check(key("/ingest", "other"), limit, t0),
            Admission::Allowed
        );
        assert_eq!(
            limiter.check(key("/forecast", "clientco"), limit, t0),
            Admission::Allowed
        );
        // Half a second later one token is back.
        let later = t0 + Duration::from_millis(500);
        assert_eq!(limiter.check(ingest, limit, later), Admission::Allowed);
        assert!(matches!(
            limiter.check(ingest, limit, later),
            Admission::Limited(_)
        ));
    }
}
