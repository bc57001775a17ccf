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
#[derive(Clone, Debug, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub method: &'static str,
    pub decision: &'static str,
    pub reason: &'static str,
    pub status: u16,
    pub issuer: Arc<str>,
}

/// The request-count family is looked up on every request, and its map hashes with SipHash,
/// which costs per `write`: the six fields written one by one were ~750 instructions a request
/// under callgrind. They are folded into one word with foldhash first (a fixed seed: every
/// value is from the bounded vocabulary above, nothing a client chooses), so the map's SipHash
/// sees a single `write_u64`. Equal labels give equal words, as `Eq` requires.
impl std::hash::Hash for RequestLabels {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        use std::hash::BuildHasher as _;
        let mut folded =
            foldhash::fast::FixedState::with_seed(0x9e37_79b9_7f4a_7c15).build_hasher();
        self.route.hash(&mut folded);
        self.method.hash(&mut folded);
        self.decision.hash(&mut folded);
        self.reason.hash(&mut folded);
        self.status.hash(&mut folded);
        self.issuer.hash(&mut folded);
        state.write_u64(std::hash::Hasher::finish(&folded));
    }
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

// ---- Upstream pools: read from the pools at scrape time ----

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

/// One pool as `/metrics`, `/upstreams` and the console's Upstreams page show it: gathered from
/// the pool's own counters when asked (`console::pools`), never kept.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PoolView {
    /// `default` for `[upstream]`.
    pub name: String,
    /// `least_request` or `round_robin`.
    pub balance: &'static str,
    /// `list` (`url` or `endpoints`) or `discover`.
    pub source: &'static str,
    /// With `discover`: `scheme://host:port` as configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discover: Option<String>,
    pub max_in_flight: usize,
    pub in_flight: usize,
    /// The `aud` of the signed assertion for this pool (`null`: `[forward.assertion]`'s own).
    pub assertion_audience: Option<String>,
    pub endpoints: Vec<EndpointView>,
    /// Retries by reason (`connect`, `reset`, `timeout`, `status`).
    pub retries: Counts,
    /// Retries the retry budget refused.
    pub budget_exhausted: u64,
    /// Requests that found no usable endpoint and were balanced over all of them.
    pub panic: u64,
    /// With `discover`: resolutions that failed or found nothing (the last set was kept).
    pub resolve_failures: u64,
}

/// One endpoint of a pool.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EndpointView {
    /// `scheme://authority`, as the access log's `endpoint`.
    pub endpoint: String,
    pub in_flight: usize,
    pub ejected: bool,
    /// Times ejected since start.
    pub ejections: u32,
    /// `false` while active health checks have taken it out.
    pub healthy: bool,
    pub checks: Checks,
    /// Attempts by outcome (`ok`, `status`, `connect`, `reset`, `timeout`).
    pub requests: Counts,
}

/// Active health-check results so far.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Checks {
    pub passed: u64,
    pub failed: u64,
}

/// Counts by a label from a closed set, in the set's order (a JSON object in that order).
#[derive(Debug, Clone, Default)]
pub struct Counts(pub Vec<(&'static str, u64)>);

impl serde::Serialize for Counts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (label, count) in &self.0 {
            map.serialize_entry(label, count)?;
        }
        map.end()
    }
}

/// Where the pool metrics read the pools from at each scrape.
pub type PoolSource = Arc<dyn Fn() -> Vec<PoolView> + Send + Sync>;

/// The pool metrics, a collector: the values are read from the pools' atomics when `/metrics`
/// is scraped, so the request path pays nothing for them beyond the counters the pools keep
/// anyway (one relaxed add per attempt). Labels: `upstream` (a configured pool name),
/// `endpoint` (a configured or discovered `scheme://authority`), `outcome`, `reason` and
/// `result` from closed sets.
pub struct PoolMetrics {
    source: PoolSource,
}

impl PoolMetrics {
    pub fn new(source: PoolSource) -> PoolMetrics {
        PoolMetrics { source }
    }

    pub fn register(self, registry: &mut Registry) {
        registry.register_collector(Box::new(self));
    }
}

impl std::fmt::Debug for PoolMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PoolMetrics")
    }
}

/// One sample: its labels and value.
type Sample<'a> = (Vec<(&'static str, &'a str)>, u64);

/// `labels` with one more.
fn with<'a>(
    mut labels: Vec<(&'static str, &'a str)>,
    key: &'static str,
    value: &'a str,
) -> Vec<(&'static str, &'a str)> {
    labels.push((key, value));
    labels
}

fn family<'a>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric_type: MetricType,
    samples: impl Iterator<Item = Sample<'a>>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, metric_type)?;
    for (labels, value) in samples {
        let mut sample = metric.encode_family(&labels)?;
        match metric_type {
            MetricType::Counter => sample.encode_counter::<NoLabelSet, u64, u64>(&value, None)?,
            _ => sample.encode_gauge(&value)?,
        }
    }
    Ok(())
}

impl Collector for PoolMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let pools = (self.source)();
        fn pool(p: &PoolView) -> Vec<(&'static str, &str)> {
            vec![("upstream", p.name.as_str())]
        }
        let endpoints = || {
            pools.iter().flat_map(|p| {
                p.endpoints.iter().map(move |e| {
                    (
                        vec![
                            ("upstream", p.name.as_str()),
                            ("endpoint", e.endpoint.as_str()),
                        ],
                        e,
                    )
                })
            })
        };
        family(
            &mut encoder,
            "gateway_upstream_in_flight",
            "Requests under way to the pool (beyond max_in_flight: 503 with Retry-After)",
            MetricType::Gauge,
            pools.iter().map(|p| (pool(p), p.in_flight as u64)),
        )?;
        family(
            &mut encoder,
            "gateway_upstream_max_in_flight",
            "The pool's max_in_flight",
            MetricType::Gauge,
            pools.iter().map(|p| (pool(p), p.max_in_flight as u64)),
        )?;
        family(
            &mut encoder,
            "gateway_upstream_retries",
            "Retries on another endpoint, by pool and reason (connect, reset, timeout, status)",
            MetricType::Counter,
            pools.iter().flat_map(|p| {
                p.retries
                    .0
                    .iter()
                    .map(move |(reason, n)| (with(pool(p), "reason", reason), *n))
            }),
        )?;
        family(
            &mut encoder,
            "gateway_upstream_retry_budget_exhausted",
            "Retries the pool's retry budget refused",
            MetricType::Counter,
            pools.iter().map(|p| (pool(p), p.budget_exhausted)),
        )?;
        family(
            &mut encoder,
            "gateway_upstream_panic",
            "Requests that found no endpoint neither ejected nor unhealthy and were balanced over all of them",
            MetricType::Counter,
            pools.iter().map(|p| (pool(p), p.panic)),
        )?;
        family(
            &mut encoder,
            "gateway_upstream_resolve_failures",
            "DNS resolutions of a discover pool that failed or found no address (the last set is kept)",
            MetricType::Counter,
            pools.iter().map(|p| (pool(p), p.resolve_failures)),
        )?;
        family(
            &mut encoder,
            "gateway_upstream_endpoint_requests",
            "Attempts per endpoint by outcome (ok: any answer but 502/503/504; status: 502/503/504; connect: nothing sent; reset; timeout)",
            MetricType::Counter,
            endpoints().flat_map(|(labels, e)| {
                e.requests
                    .0
                    .iter()
                    .map(move |(outcome, n)| (with(labels.clone(), "outcome", outcome), *n))
            }),
        )?;
        family(
            &mut encoder,
            "gateway_upstream_endpoint_in_flight",
            "Requests under way to the endpoint (what least_request balances on)",
            MetricType::Gauge,
            endpoints().map(|(labels, e)| (labels, e.in_flight as u64)),
        )?;
        family(
            &mut encoder,
            "gateway_upstream_endpoint_ejected",
            "1 while the endpoint is ejected by passive outlier detection",
            MetricType::Gauge,
            endpoints().map(|(labels, e)| (labels, u64::from(e.ejected))),
        )?;
        family(
            &mut encoder,
            "gateway_upstream_endpoint_healthy",
            "1 unless active health checks have taken the endpoint out",
            MetricType::Gauge,
            endpoints().map(|(labels, e)| (labels, u64::from(e.healthy))),
        )?;
        family(
            &mut encoder,
            "gateway_upstream_endpoint_ejections",
            "Times the endpoint was ejected",
            MetricType::Counter,
            endpoints().map(|(labels, e)| (labels, u64::from(e.ejections))),
        )?;
        family(
            &mut encoder,
            "gateway_upstream_endpoint_health_checks",
            "Active health checks of the endpoint by result (passed, failed)",
            MetricType::Counter,
            endpoints().flat_map(|(labels, e)| {
                [("passed", e.checks.passed), ("failed", e.checks.failed)]
                    .into_iter()
                    .map(move |(result, n)| (with(labels.clone(), "result", result), n))
            }),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> PoolView {
        PoolView {
            name: "forecast".to_owned(),
            balance: "least_request",
            source: "list",
            discover: None,
            max_in_flight: 8,
            in_flight: 2,
            assertion_audience: None,
            endpoints: vec![EndpointView {
                endpoint: "http://10.0.1.5:8000".to_owned(),
                in_flight: 2,
                ejected: true,
                ejections: 1,
                healthy: false,
                checks: Checks {
                    passed: 4,
                    failed: 3,
                },
                requests: Counts(vec![("ok", 7), ("connect", 5)]),
            }],
            retries: Counts(vec![("connect", 5)]),
            budget_exhausted: 1,
            panic: 6,
            resolve_failures: 9,
        }
    }

    #[test]
    fn the_pool_metrics_are_read_at_scrape_time_with_their_labels() {
        let mut registry = Registry::default();
        PoolMetrics::new(Arc::new(|| vec![view()])).register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap_or_default();
        let endpoint = r#"upstream="forecast",endpoint="http://10.0.1.5:8000""#;
        for line in [
            r#"gateway_upstream_in_flight{upstream="forecast"} 2"#.to_owned(),
            r#"gateway_upstream_max_in_flight{upstream="forecast"} 8"#.to_owned(),
            r#"gateway_upstream_retries_total{upstream="forecast",reason="connect"} 5"#.to_owned(),
            r#"gateway_upstream_retry_budget_exhausted_total{upstream="forecast"} 1"#.to_owned(),
            r#"gateway_upstream_panic_total{upstream="forecast"} 6"#.to_owned(),
            r#"gateway_upstream_resolve_failures_total{upstream="forecast"} 9"#.to_owned(),
            format!(r#"gateway_upstream_endpoint_requests_total{{{endpoint},outcome="ok"}} 7"#),
            format!(
                r#"gateway_upstream_endpoint_requests_total{{{endpoint},outcome="connect"}} 5"#
            ),
            format!("gateway_upstream_endpoint_in_flight{{{endpoint}}} 2"),
            format!("gateway_upstream_endpoint_ejected{{{endpoint}}} 1"),
            format!("gateway_upstream_endpoint_healthy{{{endpoint}}} 0"),
            format!("gateway_upstream_endpoint_ejections_total{{{endpoint}}} 1"),
            format!(
                r#"gateway_upstream_endpoint_health_checks_total{{{endpoint},result="passed"}} 4"#
            ),
            format!(
                r#"gateway_upstream_endpoint_health_checks_total{{{endpoint},result="failed"}} 3"#
            ),
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}");
        }
    }

    #[test]
    fn counts_are_a_json_object_in_their_order() {
        let counts = Counts(vec![("ok", 1), ("connect", 2)]);
        assert_eq!(
            serde_json::to_string(&counts).unwrap_or_default(),
            r#"{"ok":1,"connect":2}"#
        );
    }
}
