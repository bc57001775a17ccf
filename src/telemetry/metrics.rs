//! The Prometheus metrics: what the gateway counts, registered on the admin listener's `/metrics`.
//!
//! Every counter the gateway exposes on `/metrics` is a field of `Metrics`, so what is measured is
//! visible in one place. Label values are bounded: route patterns, never raw paths or subjects.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// All metrics of one gateway process.
#[derive(Default)]
pub struct Metrics {
    pub jwks_fetches: Counter,
    pub jwks_fetch_failures: Counter,
    pub jwks_keys: Gauge,
    /// 1 while serving a stale key set because the last refresh failed.
    pub jwks_stale: Gauge,
    /// Unix seconds of the last successful JWKS fetch.
    pub jwks_last_success: Gauge,
    pub token_cache_hits: Counter,
    pub token_cache_misses: Counter,
}

impl Metrics {
    pub fn register(&self, registry: &mut Registry) {
        // Clones of prometheus-client metrics share their value, so `self` keeps counting.
        registry.register(
            "gateway_jwks_fetches",
            "JWKS fetch attempts",
            self.jwks_fetches.clone(),
        );
        registry.register(
            "gateway_jwks_fetch_failures",
            "JWKS fetches that failed (unreachable, HTTP error, not a JWKS, too large)",
            self.jwks_fetch_failures.clone(),
        );
        registry.register(
            "gateway_jwks_keys",
            "Usable keys in the current JWKS",
            self.jwks_keys.clone(),
        );
        registry.register(
            "gateway_jwks_stale",
            "1 while serving the last good JWKS because the latest refresh failed",
            self.jwks_stale.clone(),
        );
        registry.register(
            "gateway_jwks_last_success_timestamp_seconds",
            "Unix time of the last successful JWKS fetch",
            self.jwks_last_success.clone(),
        );
        registry.register(
            "gateway_token_cache_hits",
            "Verifications answered from the verified-token cache",
            self.token_cache_hits.clone(),
        );
        registry.register(
            "gateway_token_cache_misses",
            "Verifications that ran the full signature check",
            self.token_cache_misses.clone(),
        );
    }
}

// ---- Data-plane request metrics (owned by the proxy) ----

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

/// Labels of one request outcome. Every value is bounded: the route pattern (or `none`), a
/// known method (or `OTHER`), a fixed decision and reason vocabulary, the status code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub method: &'static str,
    pub decision: &'static str,
    pub reason: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamErrorLabels {
    pub kind: &'static str,
}

fn latency_histogram() -> Histogram {
    // 100 µs .. ~13 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

/// What the data plane counts.
pub struct RequestMetrics {
    pub requests: Family<RequestLabels, Counter>,
    pub duration: Histogram,
    pub upstream_duration: Histogram,
    pub upstream_errors: Family<UpstreamErrorLabels, Counter>,
    pub open_connections: Gauge,
    pub refused_connections: Counter,
    pub policy_reloads: Counter,
    pub policy_reload_failures: Counter,
    /// Access lines lost: the buffer was full (`[log] on_full = "drop"`) or the write failed.
    pub access_log_dropped: Counter,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            duration: latency_histogram(),
            upstream_duration: latency_histogram(),
            upstream_errors: Family::default(),
            open_connections: Gauge::default(),
            refused_connections: Counter::default(),
            policy_reloads: Counter::default(),
            policy_reload_failures: Counter::default(),
            access_log_dropped: Counter::default(),
        }
    }
}

impl RequestMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "gateway_requests",
            "Requests by route pattern, method, decision, reason and status",
            self.requests.clone(),
        );
        registry.register(
            "gateway_request_duration_seconds",
            "Whole-request latency as the gateway sees it",
            self.duration.clone(),
        );
        registry.register(
            "gateway_upstream_duration_seconds",
            "Time from forwarding to the upstream's response head",
            self.upstream_duration.clone(),
        );
        registry.register(
            "gateway_upstream_errors",
            "Upstream failures by kind (unavailable, timeout)",
            self.upstream_errors.clone(),
        );
        registry.register(
            "gateway_open_connections",
            "Client connections currently open on the data plane",
            self.open_connections.clone(),
        );
        registry.register(
            "gateway_refused_connections",
            "Connections refused because max_connections was reached",
            self.refused_connections.clone(),
        );
        registry.register(
            "gateway_policy_reloads",
            "Successful policy reloads",
            self.policy_reloads.clone(),
        );
        registry.register(
            "gateway_policy_reload_failures",
            "Policy reloads rejected because the new file had errors",
            self.policy_reload_failures.clone(),
        );
        registry.register(
            "gateway_access_log_dropped",
            "Access log lines lost because the log buffer was full or the write failed",
            self.access_log_dropped.clone(),
        );
    }
}

/// Bounded method label: the methods of RFC 9110 §9 and PATCH, everything else `OTHER`.
pub fn method_label(method: &http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "OTHER",
    }
}
