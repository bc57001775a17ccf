//! Active health checks (`[upstreams.NAME.health]`, off unless the table is present). From
//! start-up, every `interval`, each endpoint of the pool gets `GET path` with the endpoint's
//! `Host`, bounded by `timeout` for the whole exchange. The path is sent as written, not under
//! the endpoints' URL path (as nginx's `health_check uri=` and Envoy's `path`). A 2xx answer
//! read to its end is a pass; any other status, a timeout, a refused or failed connection is a
//! failure. `unhealthy` failures in a row take the endpoint out of balancing, `healthy` passes in
//! a row bring it back; endpoints start healthy (SPEC). Each state change is logged once.
//!
//! The checks go over a connection pool of their own per endpoint (`Pool::twin`), so a check
//! never takes or gives back a connection a client's request would use; its connection is kept
//! alive between checks, as Envoy's health checker does. One task per pool checks every current
//! endpoint at once each round, so an endpoint that discovery adds is checked from the next
//! round; the task ends when the pool is dropped (`Upstream`'s `Drop` aborts it).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use http::{Request, header};
use http_body_util::BodyExt;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::MissedTickBehavior;

use super::members::{Member, Members};
use super::pool::Pool;
use crate::config::HealthConfig;
use crate::proxy::body;

/// `User-Agent` of the checks, so a backend can tell them from clients (Envoy sends
/// `Envoy/HC`).
const USER_AGENT: &str = "gateway-health-check";

/// One endpoint's health as the checks see it.
pub struct Health {
    /// The checks' own connections; `None` when the pool has no checks (always healthy).
    checks: Option<Arc<Pool>>,
    healthy: AtomicBool,
    streak: Mutex<Streak>,
    passed: AtomicU64,
    failed: AtomicU64,
}

#[derive(Default)]
struct Streak {
    passes: u32,
    failures: u32,
}

/// What one check result changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    None,
    Unhealthy,
    Healthy,
}

impl Health {
    pub fn new(checks: Option<Arc<Pool>>) -> Health {
        Health {
            checks,
            healthy: AtomicBool::new(true),
            streak: Mutex::new(Streak::default()),
            passed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Checks passed so far.
    pub fn passed(&self) -> u64 {
        self.passed.load(Ordering::Relaxed)
    }

    /// Checks failed so far.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Counts one check result, and says whether it changed the endpoint's state.
    fn record(&self, config: &HealthConfig, passed: bool) -> Change {
        // A few counters: consistent whatever panicked while holding the lock.
        let mut streak = self.streak.lock().unwrap_or_else(PoisonError::into_inner);
        let healthy = self.is_healthy();
        if passed {
            self.passed.fetch_add(1, Ordering::Relaxed);
            streak.failures = 0;
            streak.passes = streak.passes.saturating_add(1);
            if !healthy && streak.passes >= config.healthy {
                self.healthy.store(true, Ordering::Relaxed);
                return Change::Healthy;
            }
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
            streak.passes = 0;
            streak.failures = streak.failures.saturating_add(1);
            if healthy && streak.failures >= config.unhealthy {
                self.healthy.store(false, Ordering::Relaxed);
                return Change::Unhealthy;
            }
        }
        Change::None
    }
}

/// Starts checking the pool's endpoints (on the current Tokio runtime).
pub fn spawn(pool: Arc<str>, members: Arc<Members>, config: HealthConfig) -> JoinHandle<()> {
    let config = Arc::new(config);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(config.interval);
        // A round slower than the interval (a long `timeout`) delays the next one rather than
        // firing a burst after it.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            // Dropping the set (the task aborted mid-round) aborts its checks too.
            let mut round = JoinSet::new();
            for member in members.current().iter() {
                let (pool, member, config) = (pool.clone(), member.clone(), config.clone());
                round.spawn(async move { check(&pool, &member, &config).await });
            }
            while round.join_next().await.is_some() {}
        }
    })
}

/// Checks one endpoint once, counting the result and logging a change of state.
async fn check(pool: &str, member: &Member, config: &HealthConfig) {
    let Some(connections) = &member.health.checks else {
        return;
    };
    let result = probe(member, connections, config).await;
    let endpoint = &*member.endpoint.label;
    match (member.health.record(config, result.is_ok()), result) {
        (Change::Unhealthy, Err(cause)) => tracing::warn!(
            upstream = pool,
            endpoint,
            reason = "health_check_failed",
            failures = config.unhealthy,
            %cause,
            "endpoint unhealthy: out of balancing until it passes its health checks again"
        ),
        (Change::Healthy, _) => tracing::info!(
            upstream = pool,
            endpoint,
            passes = config.healthy,
            "endpoint healthy again: back in balancing"
        ),
        (_, Err(cause)) => {
            tracing::debug!(upstream = pool, endpoint, %cause, "health check failed")
        }
        _ => {}
    }
}

/// One `GET path`: `Ok` for a 2xx read to its end, else why not.
async fn probe(
    member: &Member,
    connections: &Arc<Pool>,
    config: &HealthConfig,
) -> Result<(), String> {
    let request = Request::get(config.path.as_str())
        .header(header::HOST, member.endpoint.host.clone())
        .header(header::USER_AGENT, USER_AGENT)
        .body(body::empty())
        .map_err(|e| format!("the check request cannot be built: {e}"))?;
    let exchange = async {
        let response = connections
            .send(request)
            .await
            .map_err(|failed| failed.error.to_string())?;
        let status = response.status();
        // Read to the end (without keeping it) so the connection serves the next check.
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            frame.map_err(|e| format!("answered {status}, then the body failed: {e}"))?;
        }
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("answered {status}"))
        }
    };
    tokio::time::timeout(config.timeout, exchange)
        .await
        .map_err(|_| format!("no answer within {:?}", config.timeout))?
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn config() -> HealthConfig {
        HealthConfig {
            path: "/healthz".to_owned(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            healthy: 2,
            unhealthy: 3,
        }
    }

    #[test]
    fn unhealthy_failures_in_a_row_take_it_out_and_healthy_passes_bring_it_back() {
        let health = Health::new(None);
        assert!(health.is_healthy(), "endpoints start healthy");
        assert_eq!(health.record(&config(), false), Change::None);
        assert_eq!(health.record(&config(), false), Change::None);
        assert_eq!(
            health.record(&config(), true),
            Change::None,
            "a pass resets the count"
        );
        assert_eq!(health.record(&config(), false), Change::None);
        assert_eq!(health.record(&config(), false), Change::None);
        assert_eq!(health.record(&config(), false), Change::Unhealthy);
        assert!(!health.is_healthy());
        assert_eq!(health.record(&config(), false), Change::None, "logged once");
        assert_eq!(health.record(&config(), true), Change::None);
        assert_eq!(health.record(&config(), false), Change::None);
        assert_eq!(health.record(&config(), true), Change::None);
        assert_eq!(health.record(&config(), true), Change::Healthy);
        assert!(health.is_healthy());
        assert_eq!((health.passed(), health.failed()), (4, 7));
    }
}
