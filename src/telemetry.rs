//! Telemetry: the Prometheus metrics registry and the access/audit log line.
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
