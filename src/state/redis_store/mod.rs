//! Shared state on Redis: one multiplexed connection (redis-rs `ConnectionManager`, which
//! reconnects with exponential backoff and jitter), every call bounded by `[state] timeout`,
//! and the breaker that decides when requests stop asking Redis.
//!
//! A call that fails or overruns its budget marks Redis down (logged once, `warn`, and the
//! `gateway_state_fallback_active` gauge set); from then on requests do not wait on Redis at
//! all: they are answered as `on_error` says (`fallback`). A probe task writes one short-lived
//! key (`SET gateway:probe 1 PX …`, so a Redis that answers `PING` but refuses writes, out of
//! memory or a demoted replica after a failover, stays down) every `STATE_PROBE_INTERVAL`; the
//! first success marks Redis up again (logged once, `info`). The same scheme as Envoy's outlier
//! detection and HAProxy's health checks, applied to one backend: a request never pays for
//! discovering that Redis is still down. The URL's password never reaches a log line or an
//! error (`RedisUrl`).

pub mod gcra;
pub mod nonce_keys;
pub mod replay;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::metrics::{ErrorLabels, OperationLabels};
use super::{OnError, RedisUrl, StateError, StateMetrics};
use crate::constants::{STATE_CONNECT_TIMEOUT, STATE_PROBE_INTERVAL, STATE_RECONNECT_MAX_DELAY};

/// Key prefixes: everything the gateway writes is under `gateway:`, so a shared Redis can be
/// inspected and ACL-restricted (`~gateway:*`).
pub const PROBE_KEY: &str = "gateway:probe";

pub struct Redis {
    manager: ConnectionManager,
    url: RedisUrl,
    timeout: Duration,
    pub on_error: OnError,
    down: AtomicBool,
    pub metrics: Arc<StateMetrics>,
}

impl Redis {
    /// The client for `url`, not yet connected (the probe task connects at once, requests
    /// connect on first use), and its probe task. Must run on a Tokio runtime.
    pub fn open(
        url: &RedisUrl,
        timeout: Duration,
        on_error: OnError,
        metrics: Arc<StateMetrics>,
    ) -> Result<Arc<Redis>, String> {
        let client = ::redis::Client::open(url.secret())
            .map_err(|e| format!("[state] redis `{url}`: {}", url.scrub(&e.to_string())))?;
        // No response timeout of the client's own (redis-rs defaults to 500 ms): every call is
        // bounded by the budget it is given (`call`), and only that.
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(None)
            .set_connection_timeout(Some(STATE_CONNECT_TIMEOUT))
            .set_max_delay(STATE_RECONNECT_MAX_DELAY);
        let manager = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| format!("[state] redis `{url}`: {}", url.scrub(&e.to_string())))?;
        let redis = Arc::new(Redis {
            manager,
            url: url.clone(),
            timeout,
            on_error,
            down: AtomicBool::new(false),
            metrics,
        });
        tokio::spawn(probe(Arc::downgrade(&redis)));
        Ok(redis)
    }

    /// Whether requests should skip Redis (it failed and has not answered a probe since).
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// Runs one call within the budget, counting its latency and any error; an error or a
    /// timeout marks Redis down.
    pub async fn call<T>(
        &self,
        operation: &'static str,
        budget: Duration,
        call: impl Future<Output = ::redis::RedisResult<T>>,
    ) -> Result<T, StateError> {
        let started = Instant::now();
        let outcome = tokio::time::timeout(budget, call).await;
        self.metrics
            .redis_duration
            .get_or_create(&OperationLabels { operation })
            .observe(started.elapsed().as_secs_f64());
        let (kind, why) = match outcome {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => (error_kind(&error), self.url.scrub(&error.to_string())),
            Err(_) => ("timeout", format!("no answer within {budget:?}")),
        };
        self.metrics
            .redis_errors
            .get_or_create(&ErrorLabels { operation, kind })
            .inc();
        self.mark_down(operation, &why);
        Err(StateError::Unavailable(format!("Redis {operation}: {why}")))
    }

    /// A handle on the multiplexed connection (a clone shares it).
    pub fn connection(&self) -> ConnectionManager {
        self.manager.clone()
    }

    /// The request budget (`[state] timeout`).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn mark_down(&self, operation: &str, why: &str) {
        if !self.down.swap(true, Ordering::Relaxed) {
            self.metrics.fallback_active.set(1);
            let then = match self.on_error {
                OnError::Local => {
                    "falling back to per-replica rate limits and DPoP replay checks (on_error = \"local\")"
                }
                OnError::Deny => {
                    "refusing requests that need shared state with 503 (on_error = \"deny\")"
                }
            };
            tracing::warn!(
                redis = %self.url,
                operation,
                error = why,
                on_error = self.on_error.name(),
                "shared state: Redis unavailable ({why}); {then} until it answers again"
            );
        }
    }

    fn mark_up(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            self.metrics.fallback_active.set(0);
            tracing::info!(
                redis = %self.url,
                "shared state: Redis recovered; rate limits and DPoP replay checks are shared across replicas again"
            );
        }
    }

    /// One write that needs a working, writable Redis.
    async fn check(&self, budget: Duration) -> Result<(), StateError> {
        let mut connection = self.connection();
        let set = async move {
            ::redis::cmd("SET")
                .arg(PROBE_KEY)
                .arg(1)
                .arg("PX")
                .arg(10_000)
                .query_async::<()>(&mut connection)
                .await
        };
        self.call("probe", budget, set).await
    }
}

/// Connects at start (with the connection budget, not a request's), then while Redis is down
/// probes it every `STATE_PROBE_INTERVAL` until it answers. Ends when the gateway is dropped.
async fn probe(redis: Weak<Redis>) {
    {
        let Some(redis) = redis.upgrade() else { return };
        if redis.check(STATE_CONNECT_TIMEOUT).await.is_ok() {
            tracing::info!(redis = %redis.url, "shared state on Redis: rate limits and DPoP replay checks are shared across replicas");
        }
    }
    loop {
        tokio::time::sleep(STATE_PROBE_INTERVAL).await;
        let Some(redis) = redis.upgrade() else { return };
        if redis.is_down()
            && redis
                .check(redis.timeout.max(STATE_PROBE_INTERVAL))
                .await
                .is_ok()
        {
            redis.mark_up();
        }
    }
}

fn error_kind(error: &::redis::RedisError) -> &'static str {
    if error.is_timeout() {
        "timeout"
    } else if error.is_io_error() || error.is_connection_dropped() || error.is_connection_refusal()
    {
        "connection"
    } else {
        "response"
    }
}
