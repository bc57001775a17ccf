//! Redis first, and what `[state] on_error` says while it is unreachable.
//!
//! Each request that needs shared state asks Redis unless the breaker (`redis_store`) says it
//! is down; when Redis fails or is down, `"local"` answers from this replica's in-process
//! limiter or replay store (counted in `gateway_state_fallback_answers{on_error="local"}`), and
//! `"deny"` answers `StateError::Unavailable`, which the pipeline turns into 503
//! `state_unavailable`. Requests that need no shared state never come here, so they never see
//! a 5xx from Redis; and since the policy decided before this runs, losing Redis can only make
//! an answer stricter (503) or per-replica (local), never let through a request the policy
//! denies.
//!
//! Every DPoP proof Redis accepts is remembered in this replica's store as well (write-through,
//! bounded as one replica's store is): Redis restarted empty, or an outage under `"local"`, can
//! then let a proof through at most once more per replica that had not seen it, never twice at
//! the same replica.

use std::sync::Arc;

use super::metrics::FallbackLabels;
use super::redis_store::{self, Redis};
use super::{
    Admission, MemoryRateLimiter, MemoryReplayStore, OnError, RateKey, RateLimiter, ReplayStore,
    Seen, StateError, StateFuture,
};
use crate::policy::RateLimit;

pub struct SharedLimiter {
    redis: Arc<Redis>,
    local: MemoryRateLimiter,
}

impl SharedLimiter {
    pub fn new(redis: Arc<Redis>, local: MemoryRateLimiter) -> Self {
        Self { redis, local }
    }
}

impl RateLimiter for SharedLimiter {
    fn admit(&self, key: &RateKey<'_>, limit: RateLimit) -> StateFuture<'_, Admission> {
        let key = key.digest();
        Box::pin(async move {
            // A failed call is counted and logged by `Redis::call`, then answered below.
            if !self.redis.is_down()
                && let Ok(answer) = redis_store::gcra::admit(&self.redis, key, limit).await
            {
                return Ok(answer);
            }
            without_redis(&self.redis, "rate_limit", || {
                Ok(self.local.check(key, limit, std::time::Instant::now()))
            })
        })
    }
}

pub struct SharedReplay {
    redis: Arc<Redis>,
    local: MemoryReplayStore,
}

impl SharedReplay {
    pub fn new(redis: Arc<Redis>, local: MemoryReplayStore) -> Self {
        Self { redis, local }
    }
}

impl ReplayStore for SharedReplay {
    fn remember(&self, key: [u8; 32], expires_at: u64) -> StateFuture<'_, Seen> {
        Box::pin(async move {
            if !self.redis.is_down()
                && let Ok(seen) = redis_store::replay::remember(&self.redis, key, expires_at).await
            {
                // Also remembered here, so that a proof this replica accepted is still refused
                // here once Redis has lost it (a restart, or an outage under "local"). A full
                // local store changes nothing: Redis answered.
                let here = self
                    .local
                    .remember_at(key, expires_at, super::replay::unix_now());
                return Ok(match here {
                    Ok(Seen::Replayed) => Seen::Replayed,
                    _ => seen,
                });
            }
            without_redis(&self.redis, "replay", || {
                self.local
                    .remember_at(key, expires_at, super::replay::unix_now())
            })
        })
    }
}

/// The answer while Redis cannot give one.
fn without_redis<T>(
    redis: &Redis,
    operation: &'static str,
    local: impl FnOnce() -> Result<T, StateError>,
) -> Result<T, StateError> {
    redis
        .metrics
        .fallback_answers
        .get_or_create(&FallbackLabels {
            operation,
            on_error: redis.on_error.name(),
        })
        .inc();
    match redis.on_error {
        OnError::Local => local(),
        OnError::Deny => Err(StateError::Unavailable(
            "the shared rate limit and replay store (Redis) cannot be reached; retry shortly"
                .to_owned(),
        )),
    }
}
