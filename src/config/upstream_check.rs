//! Stage two for the upstream pools: every key of `[upstream]` and each `[upstreams.NAME]`
//! checked into an `UpstreamConfig`, every problem reported at its line with the fix (both
//! `endpoints` and `discover`, a bad URL, a budget over 100 %, `attempts = 0`, ...). `[upstream]`
//! takes `GATEWAY_UPSTREAM_<KEY>` (and `GATEWAY_UPSTREAM_RETRY_<KEY>`, ...) overrides; the named
//! pools are read from the file only.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::check::{Checker, Origin, Value};
use super::env::Fields;
use super::raw::Field;
use super::upstream::{
    Balance, DiscoverConfig, EjectConfig, Endpoints, HealthConfig, RetryConfig, UpstreamConfig,
};
use super::upstream_raw::RawUpstream;
use crate::constants as C;
use crate::diagnostic::did_you_mean;

/// One pool's values, from the file or the environment.
struct PoolValues {
    url: Option<Value>,
    endpoints: Option<Value>,
    discover: Option<Value>,
    scheme: Option<Value>,
    resolve_every: Option<Value>,
    dns_server: Option<Value>,
    balance: Option<Value>,
    connect_timeout: Option<Value>,
    request_timeout: Option<Value>,
    max_in_flight: Option<Value>,
    assertion_audience: Option<Value>,
    consecutive_failures: Option<Value>,
    base_time: Option<Value>,
    max_percent: Option<Value>,
    /// `None` when there is no `health` table.
    health: Option<HealthValues>,
    attempts: Option<Value>,
    budget: Option<Value>,
}

struct HealthValues {
    path: Option<Value>,
    interval: Option<Value>,
    timeout: Option<Value>,
    healthy: Option<Value>,
    unhealthy: Option<Value>,
}

impl PoolValues {
    /// `[upstream]`, with its environment overrides.
    fn default_pool(raw: RawUpstream, checker: &mut Checker<'_>, fields: &Fields<'_>) -> Self {
        let mut get =
            |section: &str, key: &str, field: Field| fields.get(checker, section, key, field);
        let health_table = raw.health.is_some();
        let h = raw.health.unwrap_or_default();
        let health = HealthValues {
            path: get("upstream.health", "path", h.path),
            interval: get("upstream.health", "interval", h.interval),
            timeout: get("upstream.health", "timeout", h.timeout),
            healthy: get("upstream.health", "healthy", h.healthy),
            unhealthy: get("upstream.health", "unhealthy", h.unhealthy),
        };
        let health_set = [
            &health.path,
            &health.interval,
            &health.timeout,
            &health.healthy,
            &health.unhealthy,
        ]
        .iter()
        .any(|v| v.is_some());
        PoolValues {
            url: get("upstream", "url", raw.url),
            endpoints: get("upstream", "endpoints", raw.endpoints),
            discover: get("upstream", "discover", raw.discover),
            scheme: get("upstream", "scheme", raw.scheme),
            resolve_every: get("upstream", "resolve_every", raw.resolve_every),
            dns_server: get("upstream", "dns_server", raw.dns_server),
            balance: get("upstream", "balance", raw.balance),
            connect_timeout: get("upstream", "connect_timeout", raw.connect_timeout),
            request_timeout: get("upstream", "request_timeout", raw.request_timeout),
            max_in_flight: get("upstream", "max_in_flight", raw.max_in_flight),
            assertion_audience: get("upstream", "assertion_audience", raw.assertion_audience),
            consecutive_failures: get(
                "upstream.eject",
                "consecutive_failures",
                raw.eject.consecutive_failures,
            ),
            base_time: get("upstream.eject", "base_time", raw.eject.base_time),
            max_percent: get("upstream.eject", "max_percent", raw.eject.max_percent),
            health: (health_table || health_set).then_some(health),
            attempts: get("upstream.retry", "attempts", raw.retry.attempts),
            budget: get("upstream.retry", "budget", raw.retry.budget),
        }
    }

    /// `[upstreams.NAME]`, from the file only.
    fn named(raw: RawUpstream) -> Self {
        PoolValues {
            url: file(raw.url),
            endpoints: file(raw.endpoints),
            discover: file(raw.discover),
            scheme: file(raw.scheme),
            resolve_every: file(raw.resolve_every),
            dns_server: file(raw.dns_server),
            balance: file(raw.balance),
            connect_timeout: file(raw.connect_timeout),
            request_timeout: file(raw.request_timeout),
            max_in_flight: file(raw.max_in_flight),
            assertion_audience: file(raw.assertion_audience),
            consecutive_failures: file(raw.eject.consecutive_failures),
            base_time: file(raw.eject.base_time),
            max_percent: file(raw.eject.max_percent),
            health: raw.health.map(|h| HealthValues {
                path: file(h.path),
                interval: file(h.interval),
                timeout: file(h.timeout),
                healthy: file(h.healthy),
                unhealthy: file(h.unhealthy),
            }),
            attempts: file(raw.retry.attempts),
            budget: file(raw.retry.budget),
        }
    }

    /// Whether the table says anything at all (an absent `[upstream]` deserialises as empty).
    fn is_empty(&self) -> bool {
        [
            &self.url,
            &self.endpoints,
            &self.discover,
            &self.scheme,
            &self.resolve_every,
            &self.dns_server,
            &self.balance,
            &self.connect_timeout,
            &self.request_timeout,
            &self.max_in_flight,
            &self.assertion_audience,
            &self.consecutive_failures,
            &self.base_time,
            &self.max_percent,
            &self.attempts,
            &self.budget,
        ]
        .iter()
        .all(|v| v.is_none())
            && self.health.is_none()
    }
}

fn file(field: Field) -> Option<Value> {
    field.map(|f: Spanned<toml::Value>| Value {
        origin: Origin::File(f.span()),
        value: f.into_inner(),
    })
}

/// The checked pools: `[upstream]` (if any) and the named ones, in name order.
pub(super) struct Pools {
    pub(super) default: Option<UpstreamConfig>,
    pub(super) named: Vec<UpstreamConfig>,
    /// A pool was wrong (its problems are reported): the configuration cannot be built.
    pub(super) failed: bool,
}

impl Checker<'_> {
    /// Every pool, checked. `assertion` says whether `[forward.assertion]` is set, which a
    /// pool's `assertion_audience` needs.
    pub(super) fn pools(
        &mut self,
        default: RawUpstream,
        named: BTreeMap<Spanned<String>, RawUpstream>,
        fields: &Fields<'_>,
        assertion: bool,
    ) -> Pools {
        let mut failed = false;
        let default = PoolValues::default_pool(default, self, fields);
        let default = if default.is_empty() && !named.is_empty() {
            None
        } else {
            let pool = self.pool(C::DEFAULT_POOL_NAME, "upstream", None, default, assertion);
            failed |= pool.is_none();
            pool
        };
        let mut pools = Vec::new();
        for (name, raw) in named {
            let span = name.span();
            let name = name.into_inner();
            let section = format!("upstreams.{name}");
            if !valid_pool_name(&name) {
                self.at_span(
                    Some(span.clone()),
                    format!(
                        "[{section}]: a pool name is lower-case letters, digits, `_` and `-`, \
                         starting with a letter, e.g. `forecast`"
                    ),
                );
                failed = true;
            }
            if name == C::DEFAULT_POOL_NAME {
                self.at_span(
                    Some(span.clone()),
                    format!(
                        "[{section}]: `default` is the pool [upstream] configures; move these \
                         keys to [upstream] or give this pool another name"
                    ),
                );
                failed = true;
            }
            match self.pool(
                &name,
                &section,
                Some(span),
                PoolValues::named(raw),
                assertion,
            ) {
                Some(pool) => pools.push(pool),
                None => failed = true,
            }
        }
        Pools {
            default,
            named: pools,
            failed,
        }
    }

    /// One pool; `None` when any of its keys was wrong (each is reported).
    fn pool(
        &mut self,
        name: &str,
        section: &str,
        place: Option<Range<usize>>,
        v: PoolValues,
        assertion: bool,
    ) -> Option<UpstreamConfig> {
        let before = self.problem_count();
        let key = |k: &str| format!("{section}.{k}");
        let endpoints = self.endpoints(section, place, &v);
        let balance = v.balance.as_ref().and_then(|b| {
            let text = self.text(b, &key("balance"))?;
            let balance = Balance::from_name(&text);
            if balance.is_none() {
                self.at(
                    b,
                    &key("balance"),
                    format!(
                        "`{text}` is not a way to balance{}; use \"least_request\" (two random \
                         endpoints, the one with fewer requests in flight) or \"round_robin\"",
                        did_you_mean(&text, Balance::NAMES.iter().copied())
                    ),
                );
            }
            balance
        });
        let connect_timeout = self.duration(
            v.connect_timeout,
            &key("connect_timeout"),
            C::CONNECT_TIMEOUT,
        );
        let request_timeout = self.duration(
            v.request_timeout,
            &key("request_timeout"),
            C::REQUEST_TIMEOUT,
        );
        let max_in_flight = self
            .count(
                v.max_in_flight,
                &key("max_in_flight"),
                C::POOL_MAX_IN_FLIGHT,
            )
            .unwrap_or(C::POOL_MAX_IN_FLIGHT);
        let assertion_audience = v.assertion_audience.and_then(|a| {
            let audience = self.text(&a, &key("assertion_audience"))?;
            if audience.trim().is_empty() {
                self.at(
                    &a,
                    &key("assertion_audience"),
                    "must not be empty; name the service, e.g. \"forecast-service\"",
                );
                return None;
            }
            if !assertion {
                self.at(
                    &a,
                    &key("assertion_audience"),
                    "is the `aud` of the signed assertion, which is off: set [forward.assertion] \
                     or remove this key",
                );
                return None;
            }
            Some(audience)
        });
        let eject = EjectConfig {
            consecutive_failures: self.small_count(
                v.consecutive_failures,
                &key("eject.consecutive_failures"),
                C::EJECT_CONSECUTIVE_FAILURES,
            ),
            base_time: self.positive_duration(
                v.base_time,
                &key("eject.base_time"),
                C::EJECT_BASE_TIME,
            ),
            max_percent: self.percent_integer(
                v.max_percent,
                &key("eject.max_percent"),
                C::EJECT_MAX_PERCENT,
            ),
        };
        let health = v.health.map(|h| self.health(section, h));
        let retry = RetryConfig {
            attempts: self.attempts(v.attempts, &key("retry.attempts")),
            budget_percent: self.budget(v.budget, &key("retry.budget")),
        };
        if self.problem_count() != before {
            return None;
        }
        Some(UpstreamConfig {
            name: name.to_owned(),
            endpoints: endpoints?,
            balance: balance.unwrap_or_default(),
            connect_timeout,
            request_timeout,
            max_in_flight: usize::try_from(max_in_flight).unwrap_or(usize::MAX),
            assertion_audience,
            eject,
            health,
            retry,
        })
    }

    /// `url`, `endpoints` or `discover` (exactly one), and the keys only `discover` takes.
    fn endpoints(
        &mut self,
        section: &str,
        place: Option<Range<usize>>,
        v: &PoolValues,
    ) -> Option<Endpoints> {
        let key = |k: &str| format!("{section}.{k}");
        if v.discover.is_none() {
            for (value, name) in [
                (&v.scheme, "scheme"),
                (&v.resolve_every, "resolve_every"),
                (&v.dns_server, "dns_server"),
            ] {
                if let Some(value) = value {
                    self.at(
                        value,
                        &key(name),
                        "is read only with `discover`; remove it (an endpoint URL names its own \
                         scheme)",
                    );
                }
            }
        }
        match (&v.url, &v.endpoints, &v.discover) {
            (Some(_), Some(endpoints), _) => {
                self.at(
                    endpoints,
                    &key("endpoints"),
                    "`url` is shorthand for one endpoint; keep `endpoints` alone, with that URL \
                     in the list",
                );
                None
            }
            (Some(other), None, Some(discover)) | (None, Some(other), Some(discover)) => {
                let _ = other;
                self.at(
                    discover,
                    &key("discover"),
                    "a pool's endpoints are either listed (`endpoints`, `url`) or discovered \
                     through DNS (`discover`), not both; keep one",
                );
                None
            }
            (Some(url), None, None) => Some(Endpoints::Static(vec![self.endpoint_url(
                url,
                &key("url"),
                None,
            )?])),
            (None, Some(list), None) => self.endpoint_list(list, &key("endpoints")),
            (None, None, Some(discover)) => self.discover(section, discover, v),
            (None, None, None) => {
                match place {
                    None => self.missing("upstream.url", "\"http://127.0.0.1:8000\""),
                    Some(span) => self.at_span(
                        Some(span),
                        format!(
                            "[{section}] names no endpoint; add `endpoints = \
                             [\"http://10.0.1.5:8000\", \"http://10.0.1.6:8000\"]` (or `url` for \
                             one, or `discover = \"HOST:PORT\"` for DNS)"
                        ),
                    ),
                }
                None
            }
        }
    }

    /// An `http://` or `https://` URL with a host and no query; `item` names its place in a
    /// list for messages.
    fn endpoint_url(&mut self, v: &Value, key: &str, item: Option<usize>) -> Option<http::Uri> {
        let text = self.text(v, key)?;
        let which = item.map_or(String::new(), |i| format!("entry {} ", i + 1));
        let uri = match text.parse::<http::Uri>() {
            Ok(uri)
                if matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some() =>
            {
                uri
            }
            _ => {
                self.at(
                    v,
                    key,
                    format!(
                        "{which}`{text}` is not an http:// or https:// URL with a host; write \
                         e.g. \"http://10.0.1.5:8000\""
                    ),
                );
                return None;
            }
        };
        if uri.query().is_some() {
            self.at(
                v,
                key,
                format!(
                    "{which}`{text}` must not have a query string; the request's own query is \
                     forwarded"
                ),
            );
            return None;
        }
        Some(uri)
    }

    fn endpoint_list(&mut self, v: &Value, key: &str) -> Option<Endpoints> {
        let example = "[\"http://10.0.1.5:8000\", \"http://10.0.1.6:8000\"]";
        let toml::Value::Array(items) = &v.value else {
            self.at(v, key, format!("expected a list of URLs such as {example}"));
            return None;
        };
        if items.is_empty() {
            self.at(
                v,
                key,
                format!("an empty list leaves the pool with nowhere to send; list its endpoints, e.g. {example}"),
            );
            return None;
        }
        let mut urls: Vec<http::Uri> = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let one = Value {
                value: item.clone(),
                origin: v.origin.clone(),
            };
            match self.endpoint_url(&one, key, Some(i)) {
                Some(url) if urls.iter().any(|u| same_endpoint(u, &url)) => {
                    self.at(
                        v,
                        key,
                        format!("`{url}` is listed twice; list each endpoint once"),
                    );
                    ok = false;
                }
                Some(url) => urls.push(url),
                None => ok = false,
            }
        }
        if let Some(first) = urls.first() {
            let path = base_path(first);
            if let Some(other) = urls.iter().find(|u| base_path(u) != path) {
                self.at(
                    v,
                    key,
                    format!(
                        "`{first}` and `{other}` have different paths; the endpoints of a pool are \
                         replicas of one service, so they share the path prefixed to forwarded \
                         paths"
                    ),
                );
                ok = false;
            }
        }
        ok.then_some(Endpoints::Static(urls))
    }

    fn discover(&mut self, section: &str, v: &Value, values: &PoolValues) -> Option<Endpoints> {
        let key = |k: &str| format!("{section}.{k}");
        let text = self.text(v, &key("discover"))?;
        let hint = "write `HOST:PORT`, e.g. \"forecast.saasco.svc.cluster.local:8000\"";
        let parsed = text
            .rsplit_once(':')
            .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)));
        let (host, port) = match parsed {
            _ if text.contains("://") => {
                self.at(
                    v,
                    &key("discover"),
                    format!("`{text}` is a URL; {hint} and set `scheme` for https"),
                );
                return None;
            }
            Some((host, port)) if !host.is_empty() && port > 0 => (host.to_owned(), port),
            _ => {
                self.at(
                    v,
                    &key("discover"),
                    format!("`{text}` is not a host and port; {hint}"),
                );
                return None;
            }
        };
        let scheme = match &values.scheme {
            None => "http".to_owned(),
            Some(s) => {
                let text = self.text(s, &key("scheme"))?;
                if text != "http" && text != "https" {
                    self.at(
                        s,
                        &key("scheme"),
                        format!("`{text}` is not \"http\" or \"https\""),
                    );
                    return None;
                }
                text
            }
        };
        let resolve_every = self.positive_duration(
            values.resolve_every.clone(),
            &key("resolve_every"),
            C::POOL_RESOLVE_EVERY,
        );
        let dns_server = match &values.dns_server {
            None => None,
            Some(d) => {
                let text = self.text(d, &key("dns_server"))?;
                match text.parse() {
                    Ok(addr) => Some(addr),
                    Err(_) => {
                        self.at(
                            d,
                            &key("dns_server"),
                            format!(
                                "`{text}` is not an IP address and port; write e.g. \
                                 \"127.0.0.1:8600\" (leave it out for the system resolver)"
                            ),
                        );
                        return None;
                    }
                }
            }
        };
        Some(Endpoints::Discover(DiscoverConfig {
            host,
            port,
            scheme,
            resolve_every,
            dns_server,
        }))
    }

    fn health(&mut self, section: &str, h: HealthValues) -> HealthConfig {
        let key = |k: &str| format!("{section}.health.{k}");
        let path = match h.path {
            None => C::HEALTH_PATH.to_owned(),
            Some(p) => match self.text(&p, &key("path")) {
                Some(path) if path.starts_with('/') && !path.contains(char::is_whitespace) => path,
                Some(path) => {
                    self.at(
                        &p,
                        &key("path"),
                        format!(
                            "`{path}` is not a path; write one starting with `/`, e.g. \"/healthz\""
                        ),
                    );
                    C::HEALTH_PATH.to_owned()
                }
                None => C::HEALTH_PATH.to_owned(),
            },
        };
        let timeout_value = h.timeout.clone();
        let interval = self.positive_duration(h.interval, &key("interval"), C::HEALTH_INTERVAL);
        let timeout = self.positive_duration(h.timeout, &key("timeout"), C::HEALTH_TIMEOUT);
        if timeout > interval {
            let message = format!(
                "a check may take {timeout:?} but a new one starts every {interval:?}; make \
                 `timeout` at most `interval`"
            );
            match &timeout_value {
                Some(t) => self.at(t, &key("timeout"), message),
                None => self.at_span(None, format!("[{section}.health]: {message}")),
            }
        }
        HealthConfig {
            path,
            interval,
            timeout,
            healthy: self.small_count(h.healthy, &key("healthy"), C::HEALTH_HEALTHY),
            unhealthy: self.small_count(h.unhealthy, &key("unhealthy"), C::HEALTH_UNHEALTHY),
        }
    }

    /// `retry.attempts`: tries in all, at least 1.
    fn attempts(&mut self, v: Option<Value>, key: &str) -> u32 {
        let default = C::RETRY_ATTEMPTS as u32;
        let Some(v) = v else { return default };
        match &v.value {
            toml::Value::Integer(n) if (1..=10).contains(n) => *n as u32,
            toml::Value::Integer(n) if *n < 1 => {
                self.at(
                    &v,
                    key,
                    format!(
                        "`{n}` would never send the request: `attempts` counts tries in all, the \
                         first included; 1 never retries, 2 retries once"
                    ),
                );
                default
            }
            toml::Value::Integer(n) => {
                self.at(
                    &v,
                    key,
                    format!("`{n}` tries per request would multiply an outage; at most 10"),
                );
                default
            }
            _ => {
                self.at(&v, key, "expected a whole number of tries such as 2");
                default
            }
        }
    }

    /// `retry.budget`: `"20%"`, a share from 0 to 100 %.
    fn budget(&mut self, v: Option<Value>, key: &str) -> f64 {
        let default = C::RETRY_BUDGET_PERCENT;
        let Some(v) = v else { return default };
        let hint = "write a share of requests such as \"20%\"";
        let text = match &v.value {
            toml::Value::String(s) => s.trim().to_owned(),
            _ => {
                self.at(&v, key, format!("expected text; {hint}"));
                return default;
            }
        };
        let Some(number) = text.strip_suffix('%') else {
            self.at(&v, key, format!("`{text}` has no `%`; {hint}"));
            return default;
        };
        match number.trim().parse::<f64>() {
            Ok(share) if (0.0..=100.0).contains(&share) => share,
            Ok(share) if share > 100.0 => {
                self.at(
                    &v,
                    key,
                    format!(
                        "`{text}` would let retries outnumber requests and multiply an outage; \
                         at most \"100%\" (\"20%\" is the default)"
                    ),
                );
                default
            }
            _ => {
                self.at(
                    &v,
                    key,
                    format!("`{text}` is not a share from 0% to 100%; {hint}"),
                );
                default
            }
        }
    }

    /// A whole number from 0 to 100.
    fn percent_integer(&mut self, v: Option<Value>, key: &str, default: u64) -> u8 {
        let fallback = default as u8;
        let Some(v) = v else { return fallback };
        match &v.value {
            toml::Value::Integer(n) if (0..=100).contains(n) => *n as u8,
            _ => {
                self.at(
                    &v,
                    key,
                    "expected a whole number from 0 to 100 (a percentage)",
                );
                fallback
            }
        }
    }

    /// A positive whole number that fits in 32 bits.
    fn small_count(&mut self, v: Option<Value>, key: &str, default: u64) -> u32 {
        let fallback = default as u32;
        match &v {
            Some(value) if matches!(value.value, toml::Value::Integer(n) if n > i64::from(u32::MAX)) =>
            {
                self.at(value, key, "is too large");
                fallback
            }
            _ => self
                .count(v, key, default)
                .map_or(fallback, |n| u32::try_from(n).unwrap_or(fallback)),
        }
    }

    /// A duration above zero.
    fn positive_duration(&mut self, v: Option<Value>, key: &str, default: Duration) -> Duration {
        let kept = v.clone();
        let duration = self.duration(v, key, default);
        if duration.is_zero() {
            if let Some(v) = &kept {
                self.at(
                    v,
                    key,
                    format!("must be more than 0s; the default is {default:?}"),
                );
            }
            return default;
        }
        duration
    }
}

/// `[a-z][a-z0-9_-]*`: a name that reads the same in a policy, a metric label and a log field.
fn valid_pool_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The path an endpoint URL prefixes to forwarded paths, without its trailing `/`.
fn base_path(uri: &http::Uri) -> &str {
    uri.path().trim_end_matches('/')
}

fn same_endpoint(a: &http::Uri, b: &http::Uri) -> bool {
    a.scheme() == b.scheme() && a.authority() == b.authority()
}
