//! What shared state counts on `/metrics`: Redis call latency and errors by operation, whether
//! the fallback is active, and how many requests it answered. Label values are a fixed
//! vocabulary (operations `rate_limit`, `replay`, `probe`; error kinds; `local` / `deny`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub operation: &'static str,
    /// `timeout` (over `[state] timeout`), `connection` (refused, reset, closed), `response`
    /// (an error reply: OOM, READONLY after a failover, NOAUTH…).
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FallbackLabels {
    pub operation: &'static str,
    /// `local` (answered in process) or `deny` (503).
    pub on_error: &'static str,
}

fn redis_histogram() -> Histogram {
    // 50 µs .. ~1.6 s: a healthy Redis answers in the first buckets, the budget is 50 ms.
    Histogram::new(exponential_buckets(0.00005, 2.0, 16))
}

pub struct StateMetrics {
    pub redis_duration: Family<OperationLabels, Histogram, fn() -> Histogram>,
    pub redis_errors: Family<ErrorLabels, Counter>,
    /// 1 while Redis is treated as unreachable (requests answered as `on_error` says).
    pub fallback_active: Gauge,
    pub fallback_answers: Family<FallbackLabels, Counter>,
}

impl Default for StateMetrics {
    fn default() -> Self {
        Self {
            redis_duration: Family::new_with_constructor(redis_histogram),
            redis_errors: Family::default(),
            fallback_active: Gauge::default(),
            fallback_answers: Family::default(),
        }
    }
}

impl StateMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "gateway_state_redis_duration_seconds",
            "Redis call latency by operation (rate_limit, replay, probe), errors and timeouts included",
            self.redis_duration.clone(),
        );
        registry.register(
            "gateway_state_redis_errors",
            "Redis calls that failed, by operation and kind (timeout, connection, response)",
            self.redis_errors.clone(),
        );
        registry.register(
            "gateway_state_fallback_active",
            "1 while Redis is unreachable and requests that need shared state are answered as [state] on_error says",
            self.fallback_active.clone(),
        );
        registry.register(
            "gateway_state_fallback_answers",
            "Requests answered without Redis, by operation and on_error (local: in process, deny: 503)",
            self.fallback_answers.clone(),
        );
    }
}
