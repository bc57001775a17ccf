//! State the data plane shares between requests beyond one snapshot: the per-client rate limits
//! and the DPoP `jti` replay store (RFC 9449 §11.1), in this process or, with `[state] redis`,
//! in Redis so that every replica enforces one limit and one replay store.
//!
//! Two interfaces, both asynchronous (a boxed future) so that a network store fits behind them:
//! - [`ReplayStore`]: `remember(key, expires_at)` answers [`Seen::New`] the first time a key is
//!   presented before it expires and [`Seen::Replayed`] afterwards;
//! - [`RateLimiter`]: `admit(key, limit)` takes one request from the bucket of a [`RateKey`]
//!   (issuer, client id, route pattern, the route's methods) and answers [`Admission::Allowed`]
//!   or [`Admission::Limited`] with the time until the next request would be allowed.
//!
//! Either may answer a [`StateError`], which the pipeline turns into 503 `state_unavailable`.
//! In process: [`MemoryReplayStore`] (`replay`) and [`MemoryRateLimiter`] (`limit`). On Redis
//! (`redis_store`): `SET key 1 NX EXAT expires_at` and one GCRA script per request on Redis's clock,
//! each call bounded by `[state] timeout`. `fallback` puts the two side by side: while Redis is
//! unreachable, `on_error = "local"` answers from the in-process ones and `"deny"` answers a
//! `StateError` (so only requests that need shared state see a 503); [`build`] picks from
//! `[state]`. The gateway holds `Arc<dyn …>` and never knows which one it has.

mod fallback;
mod limit;
pub mod metrics;
pub mod nonce_keys;
mod redis_store;
mod replay;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use limit::MemoryRateLimiter;
pub use metrics::StateMetrics;
pub use nonce_keys::NonceKeys;
pub use replay::MemoryReplayStore;

use crate::config::{Declared, StateConfig};
pub use crate::config::{OnError, RedisUrl, redact};
use crate::diagnostic::Diagnostic;
use crate::policy::RateLimit;

/// Whether a key was seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// First time: the key is now remembered until it expires.
    New,
    /// Remembered already: a replay.
    Replayed,
}

/// Why the store could not answer. Never "forget something early": a full store refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error(
        "the DPoP replay store is full ({0} proofs remembered); retry shortly, or raise [auth] dpop_replay_capacity"
    )]
    Full(usize),
    #[error("shared state is unavailable: {0}")]
    Unavailable(String),
}

/// The answer of a store, possibly from the network.
pub type StateFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StateError>> + Send + 'a>>;

/// Remembers opaque keys (a SHA-256 of what identifies one proof) until a Unix time.
pub trait ReplayStore: Send + Sync {
    /// Remembers `key` until `expires_at` (Unix seconds, inclusive) unless it is remembered
    /// already.
    fn remember(&self, key: [u8; 32], expires_at: u64) -> StateFuture<'_, Seen>;
}

/// What one request costs its client's bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Over the limit: the next request is allowed after this long (`Retry-After`).
    Limited(Duration),
}

/// Whose bucket a request draws from (SPEC: one limit per issuer, client id, route pattern and
/// the route's methods, so two routes on one pattern never share a bucket).
#[derive(Debug, Clone, Copy)]
pub struct RateKey<'a> {
    pub issuer: &'a str,
    pub client: &'a str,
    pub route: &'a str,
    /// The route's methods as written (`GET,POST`), `*` for every method.
    pub methods: &'a str,
}

impl RateKey<'_> {
    /// SHA-256 of the four parts, each length-prefixed so no two keys collide: a fixed-size
    /// bucket name whatever a client id holds.
    pub fn digest(&self) -> [u8; 32] {
        let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        for part in [self.issuer, self.client, self.route, self.methods] {
            context.update(&(part.len() as u64).to_be_bytes());
            context.update(part.as_bytes());
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(context.finish().as_ref());
        out
    }
}

/// Takes one request from a client's bucket.
pub trait RateLimiter: Send + Sync {
    /// The key is read before the future is returned; the future borrows only the limiter.
    fn admit(&self, key: &RateKey<'_>, limit: RateLimit) -> StateFuture<'_, Admission>;
}

/// The check `config` leaves to this module (run by `load`, so `gateway check` reports it
/// at `[state] redis`): the Redis client reads the URL as the gateway does (port, database,
/// credentials). The problem never shows the password.
pub fn check_url(redis: &Declared<RedisUrl>) -> Option<Diagnostic> {
    let url = &redis.value;
    ::redis::Client::open(url.secret()).err().map(|e| {
        redis.at.problem(format!(
            "`{url}` is not a Redis URL: {}",
            url.scrub(&e.to_string())
        ))
    })
}

/// The state a gateway's requests share, as `[state]` asks.
pub struct SharedState {
    pub limiter: Arc<dyn RateLimiter>,
    pub replay: Arc<dyn ReplayStore>,
    /// The shared DPoP nonce keys: with `[state] redis` and nonces on (`nonce_slot`), else
    /// `None` (each replica uses its own key).
    pub nonce_keys: Option<Arc<NonceKeys>>,
    pub metrics: Arc<StateMetrics>,
}

/// In process without `[state] redis`; on Redis (with the in-process pair as the `"local"`
/// fallback) with it. Must run on a Tokio runtime when Redis is configured: the connection
/// manager and the recovery probe are tasks. Connects lazily, so a gateway starts (and
/// `/readyz` answers) whether or not Redis is up. `nonce_slot` is the nonce slot in seconds
/// (`dpop_window`) when `[auth] dpop_nonce` is on.
pub fn build(
    config: &StateConfig,
    replay_capacity: usize,
    nonce_slot: Option<u64>,
) -> Result<SharedState, String> {
    let metrics = Arc::new(StateMetrics::default());
    let local_replay = MemoryReplayStore::new(replay_capacity);
    let local_limiter = MemoryRateLimiter::default();
    let Some(url) = &config.redis else {
        return Ok(SharedState {
            limiter: Arc::new(local_limiter),
            replay: Arc::new(local_replay),
            nonce_keys: None,
            metrics,
        });
    };
    let redis = redis_store::Redis::open(url, config.timeout, config.on_error, metrics.clone())?;
    let nonce_keys = nonce_slot.map(|slot_secs| redis_store::nonce_keys::start(&redis, slot_secs));
    Ok(SharedState {
        limiter: Arc::new(fallback::SharedLimiter::new(redis.clone(), local_limiter)),
        replay: Arc::new(fallback::SharedReplay::new(redis, local_replay)),
        nonce_keys,
        metrics,
    })
}

/// The in-process replay store, bounded by `capacity` (benches and tests).
pub fn replay_store(capacity: usize) -> Arc<dyn ReplayStore> {
    Arc::new(MemoryReplayStore::new(capacity))
}
