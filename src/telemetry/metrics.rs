//! The Prometheus metrics: what the gateway counts, registered on the admin listener's `/metrics`.
//!
//! Every counter the gateway exposes on `/metrics` is a field of `Metrics`, so what is measured is
//! visible in one place. Label values are bounded: route patterns, never raw paths or subjects.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The `issuer` label: a configured issuer's name (never the raw `iss`), `unknown` for a token
/// whose `iss` no issuer has, `none` when no issuer was involved (see `constants`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IssuerLabels {
    pub issuer: Arc<str>,
}

/// All metrics of one gateway process.
#[derive(Default)]
pub struct Metrics {
    pub jwks_fetches: Family<IssuerLabels, Counter>,
    pub jwks_fetch_failures: Family<IssuerLabels, Counter>,
    pub jwks_keys: Family<IssuerLabels, Gauge>,
    /// 1 while serving a stale key set because the last refresh failed.
    pub jwks_stale: Family<IssuerLabels, Gauge>,
    /// Unix seconds of the last successful JWKS fetch.
    pub jwks_last_success: Family<IssuerLabels, Gauge>,
    pub token_cache_hits: Counter,
    pub token_cache_misses: Counter,
}

/// One issuer's JWKS metrics: handles sharing the values of `Metrics`' families, so the key
/// store counts without a label lookup.
#[derive(Clone, Default)]
pub struct JwksMetrics {
    pub fetches: Counter,
    pub fetch_failures: Counter,
    pub keys: Gauge,
    pub stale: Gauge,
    pub last_success: Gauge,
}

impl Metrics {
    /// The JWKS metrics of the issuer named `issuer` (created on first use).
    pub fn jwks(&self, issuer: &str) -> JwksMetrics {
        let labels = IssuerLabels {
            issuer: Arc::from(issuer),
        };
        JwksMetrics {
            fetches: self.jwks_fetches.get_or_create(&labels).clone(),
            fetch_failures: self.jwks_fetch_failures.get_or_create(&labels).clone(),
            keys: self.jwks_keys.get_or_create(&labels).clone(),
            stale: self.jwks_stale.get_or_create(&labels).clone(),
            last_success: self.jwks_last_success.get_or_create(&labels).clone(),
        }
    }

    pub fn register(&self, registry: &mut Registry) {
        // Clones of prometheus-client metrics share their value, so `self` keeps counting.
        registry.register(
            "gateway_jwks_fetches",
            "JWKS fetch attempts, by issuer",
            self.jwks_fetches.clone(),
        );
        registry.register(
            "gateway_jwks_fetch_failures",
            "JWKS fetches that failed (unreachable, HTTP error, not a JWKS, too large), by issuer",
            self.jwks_fetch_failures.clone(),
        );
        registry.register(
            "gateway_jwks_keys",
            "Usable keys in the issuer's current JWKS",
            self.jwks_keys.clone(),
        );
        registry.register(
            "gateway_jwks_stale",
            "1 while serving the issuer's last good JWKS because its latest refresh failed",
            self.jwks_stale.clone(),
        );
        registry.register(
            "gateway_jwks_last_success_timestamp_seconds",
            "Unix time of the issuer's last successful JWKS fetch",
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

use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

/// Labels of one request outcome. Every value is bounded: the route pattern (or `none`), a
/// known method (or `OTHER`), a fixed decision and reason vocabulary, the status code, and the
/// issuer's configured name (or `unknown` / `none`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub method: &'static str,
    pub decision: &'static str,
    pub reason: &'static str,
    pub status: u16,
    pub issuer: Arc<str>,
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
    /// The `issuer` label of a request no token was read for (`none`), shared so that
    /// labelling it costs no allocation.
    pub no_issuer: Arc<str>,
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
            no_issuer: Arc::from(crate::constants::ISSUER_LABEL_NONE),
        }
    }
}

impl RequestMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "gateway_requests",
            "Requests by route pattern, method, decision, reason, status and issuer name",
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
