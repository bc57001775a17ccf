//! The checked upstream pools: `[upstream]` (the default pool) and every `[upstreams.NAME]`,
//! each a set of endpoints with its balancing, limits, passive ejection, active health checks
//! and retry policy (SPEC, third round, "Upstream pools"; docs/configuration.md lists every
//! key). `upstream_raw` reads them from the file and `upstream_check` checks them; the running
//! pools are built from these by `proxy::upstream`.

use std::net::SocketAddr;
use std::time::Duration;

/// One pool of endpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamConfig {
    /// `default` for `[upstream]`, else the `NAME` of `[upstreams.NAME]` (`[a-z][a-z0-9_-]*`):
    /// what a route's `upstream:` names, and the `upstream` of log lines and metrics.
    pub name: String,
    pub endpoints: Endpoints,
    pub balance: Balance,
    pub connect_timeout: Duration,
    /// Per attempt.
    pub request_timeout: Duration,
    /// Requests at once to this pool; beyond it 503 with `Retry-After`.
    pub max_in_flight: usize,
    /// The `aud` of `[forward.assertion]` for requests sent to this pool (`None`: the
    /// assertion's own `audience`).
    pub assertion_audience: Option<String>,
    pub eject: EjectConfig,
    /// Active checks: `None` unless the `health` table is present.
    pub health: Option<HealthConfig>,
    pub retry: RetryConfig,
}

impl UpstreamConfig {
    /// The listed endpoint URLs (none for a pool that discovers them).
    pub fn urls(&self) -> &[http::Uri] {
        match &self.endpoints {
            Endpoints::Static(urls) => urls,
            Endpoints::Discover(_) => &[],
        }
    }

    /// The endpoints as one line, for `gateway check`, the start-up line and the console:
    /// the URLs, or `discover HOST:PORT`.
    pub fn describe(&self) -> String {
        match &self.endpoints {
            Endpoints::Static(urls) => urls
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            Endpoints::Discover(discover) => format!(
                "discover {}://{}:{}",
                discover.scheme, discover.host, discover.port
            ),
        }
    }
}

/// Where a pool's endpoints come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Endpoints {
    /// `url` (one) or `endpoints` (a list): `http`/`https` URLs with a host, all with the same
    /// path (a prefix to forwarded paths), no query, no two alike.
    Static(Vec<http::Uri>),
    /// `discover = "HOST:PORT"`: DNS A/AAAA records, re-resolved every `resolve_every`.
    Discover(DiscoverConfig),
}

#[derive(Debug, Clone, PartialEq)]
pub struct DiscoverConfig {
    pub host: String,
    pub port: u16,
    /// `http` or `https`.
    pub scheme: String,
    pub resolve_every: Duration,
    /// `None`: the system resolver (/etc/resolv.conf).
    pub dns_server: Option<SocketAddr>,
}

/// How a request picks its endpoint among the usable ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Balance {
    /// Two endpoints at random, the one with fewer requests in flight (power of two choices).
    #[default]
    LeastRequest,
    RoundRobin,
}

impl Balance {
    pub const NAMES: &[&str] = &["least_request", "round_robin"];

    pub fn name(self) -> &'static str {
        match self {
            Balance::LeastRequest => "least_request",
            Balance::RoundRobin => "round_robin",
        }
    }

    pub fn from_name(name: &str) -> Option<Balance> {
        match name {
            "least_request" => Some(Balance::LeastRequest),
            "round_robin" => Some(Balance::RoundRobin),
            _ => None,
        }
    }
}

/// `eject`: passive outlier ejection, on with these values unless changed.
#[derive(Debug, Clone, PartialEq)]
pub struct EjectConfig {
    /// Connect failures, resets, timeouts and 502/503/504 answers in a row that eject.
    pub consecutive_failures: u32,
    /// The first ejection's length; it doubles each time the same endpoint is ejected again,
    /// up to `constants::EJECT_MAX_TIME`.
    pub base_time: Duration,
    /// Never more of the pool ejected than this share (at least one endpoint stays); 0 turns
    /// ejection off.
    pub max_percent: u8,
}

/// `health`: active checks.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthConfig {
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// Passes in a row to become healthy again.
    pub healthy: u32,
    /// Failures (non-2xx, timeout, refused) in a row to leave.
    pub unhealthy: u32,
}

/// `retry`.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryConfig {
    /// Tries in all; 1 = never retry.
    pub attempts: u32,
    /// Retries are at most this share (0 to 100) of the pool's requests over the budget
    /// window, plus a few per second.
    pub budget_percent: f64,
}
