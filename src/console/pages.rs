//! One gather function per console page: each reads the gateway's state into a plain struct
//! for its template in `views`. Nothing here keeps state or changes the gateway; Try only
//! evaluates, through `explain::explain` (what `gateway explain --token` prints). `pools`, the
//! Upstreams page's gather, is also what `/upstreams` and the pool metrics read, so the three
//! show the same numbers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Response, StatusCode};

use super::Form;
use crate::config::{Balance, Config, Endpoints};
use crate::explain::{Explanation, Proofs, explain};
use crate::policy::{Access, Mode};
use crate::proxy::body::{self, Body};
use crate::proxy::upstream::{Outcome, RetryReason, Upstreams};
use crate::proxy::{Gateway, ReloadOutcome};
use crate::telemetry::decisions::{DecisionRecord, MinuteCounts};
use crate::telemetry::metrics::{Checks, Counts, EndpointView, PoolView};

pub struct Overview {
    pub waiting: Vec<String>,
    pub policy_file: String,
    pub sha256: String,
    pub loaded_at: String,
    pub last_reload: Option<ReloadOutcome>,
    pub minutes: Vec<MinuteCounts>,
    pub top_reasons: Vec<(&'static str, u64)>,
}

pub fn overview(gateway: &Gateway) -> Overview {
    let snapshot = gateway.snapshot.load();
    Overview {
        waiting: gateway.auth.not_ready().map(str::to_owned).collect(),
        policy_file: snapshot.policy.source.display().to_string(),
        sha256: snapshot.policy.sha256.clone(),
        loaded_at: time(snapshot.loaded_at),
        last_reload: gateway
            .last_reload
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone(),
        minutes: gateway.decisions.per_minute(),
        top_reasons: gateway.decisions.top_reasons(10),
    }
}

pub struct RouteRow {
    pub pattern: String,
    pub methods: String,
    pub requires: String,
    pub conditions: Vec<String>,
    pub public: bool,
    pub mode: &'static str,
    pub issuers: String,
    pub binding: &'static str,
    pub limits: String,
    pub websocket: bool,
    /// The pool the route forwards to (`default`: `[upstream]`).
    pub pool: String,
    pub description: String,
}

pub struct PolicyPage {
    pub file: String,
    pub sha256: String,
    pub routes: Vec<RouteRow>,
    /// Callers (rows) × route patterns (columns): docs/trust_boundaries.md's matrix.
    pub patterns: Vec<String>,
    pub callers: Vec<(String, Vec<String>)>,
}

pub fn policy(gateway: &Gateway) -> PolicyPage {
    let snapshot = gateway.snapshot.load();
    let policy = &snapshot.policy;
    let mut routes: Vec<RouteRow> = policy
        .routes
        .iter()
        .map(|route| {
            let requires = match &route.access {
                Access::Restricted(r) => format!("restricted: {r}"),
                Access::Scopes(_) if route.public => "nothing (public)".to_owned(),
                Access::Scopes(s) if s.is_empty() => "any valid token".to_owned(),
                Access::Scopes(s) => s.join(" and "),
            };
            let mut limits = Vec::new();
            if let Some(max) = route.max_body {
                limits.push(format!("body ≤ {max} bytes"));
            }
            if let Some(rate) = &route.rate_limit {
                limits.push(format!("{}/s, burst {}", rate.per_second, rate.burst));
            }
            RouteRow {
                pattern: route.pattern.clone(),
                methods: match &route.methods {
                    None => "any".to_owned(),
                    Some(methods) => methods
                        .iter()
                        .map(Method::as_str)
                        .collect::<Vec<_>>()
                        .join(", "),
                },
                requires,
                conditions: route.conditions.iter().map(ToString::to_string).collect(),
                public: route.public,
                mode: match route.mode {
                    Mode::Enforce => "enforce",
                    Mode::Shadow => "shadow",
                },
                issuers: route
                    .issuers
                    .as_ref()
                    .map_or_else(|| "any".to_owned(), |issuers| issuers.join(", ")),
                binding: route.binding.as_str(),
                limits: limits.join("; "),
                websocket: route.websocket,
                pool: route
                    .upstream
                    .clone()
                    .unwrap_or_else(|| crate::constants::DEFAULT_POOL_NAME.to_owned()),
                description: route.description.clone().unwrap_or_default(),
            }
        })
        .collect();
    routes.sort_by(|a, b| a.pattern.cmp(&b.pattern));
    PolicyPage {
        file: policy.source.display().to_string(),
        sha256: policy.sha256.clone(),
        patterns: routes.iter().map(|r| r.pattern.clone()).collect(),
        routes,
        callers: crate::policy::caller_matrix(policy),
    }
}

pub struct DecisionsPage {
    pub records: Vec<Arc<DecisionRecord>>,
}

pub fn decisions(gateway: &Gateway) -> DecisionsPage {
    DecisionsPage {
        records: gateway.decisions.recent(),
    }
}

pub struct KeyRow {
    pub kid: String,
    pub kty: String,
    pub alg: String,
}

pub struct IssuerKeys {
    pub name: String,
    pub issuer: String,
    pub jwks_url: String,
    pub keys: Vec<KeyRow>,
    pub fetches: u64,
    pub failures: u64,
    pub stale: bool,
    pub last_fetch: String,
    pub next_refresh: String,
}

pub struct KeysPage {
    pub issuers: Vec<IssuerKeys>,
    /// `[forward.assertion]`'s public keys (kid, kty, alg), when it is configured.
    pub assertion: Option<Vec<KeyRow>>,
}

pub fn keys(gateway: &Gateway, config: &Config) -> KeysPage {
    let issuers = gateway
        .auth
        .issuers()
        .map(|issuer| {
            let configured = config.auth.issuers.iter().find(|c| *c.name == *issuer.name);
            let (fetches, failures, stale, last_success) = issuer.keys.status();
            let mut keys: Vec<KeyRow> = issuer
                .keys
                .current()
                .map(|set| {
                    set.keys
                        .values()
                        .map(|key| KeyRow {
                            kid: key.kid.clone(),
                            kty: key.describe(),
                            alg: key
                                .alg
                                .map(|a| format!("{a:?}"))
                                .unwrap_or_else(|| "(any allowed)".to_owned()),
                        })
                        .collect()
                })
                .unwrap_or_default();
            keys.sort_by(|a, b| a.kid.cmp(&b.kid));
            let refresh = configured.map(|c| c.jwks_refresh);
            IssuerKeys {
                name: issuer.name.to_string(),
                issuer: configured.map(|c| c.issuer.clone()).unwrap_or_default(),
                jwks_url: configured.map(|c| c.jwks_url.clone()).unwrap_or_default(),
                keys,
                fetches,
                failures,
                stale,
                last_fetch: if last_success == 0 {
                    "never".to_owned()
                } else {
                    time(UNIX_EPOCH + Duration::from_secs(last_success))
                },
                next_refresh: match (last_success, refresh) {
                    (0, _) | (_, None) => "retrying with backoff".to_owned(),
                    (at, Some(every)) => time(UNIX_EPOCH + Duration::from_secs(at) + every),
                },
            }
        })
        .collect();
    let assertion = gateway.snapshot.load().assertion.as_ref().map(|signer| {
        let jwks: serde_json::Value = serde_json::from_str(signer.jwks()).unwrap_or_default();
        jwks.get("keys")
            .and_then(|keys| keys.as_array())
            .map(|keys| {
                keys.iter()
                    .map(|key| {
                        let field = |name: &str| {
                            key.get(name)
                                .and_then(|v| v.as_str())
                                .unwrap_or("-")
                                .to_owned()
                        };
                        let kty = match key.get("crv").and_then(|v| v.as_str()) {
                            Some(crv) => format!("{} {crv}", field("kty")),
                            None => field("kty"),
                        };
                        KeyRow {
                            kid: field("kid"),
                            kty,
                            alg: field("alg"),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
    });
    KeysPage { issuers, assertion }
}

/// Every pool as it stands, the default one first: what the Upstreams page, `/upstreams` and
/// the pool metrics show (one gather, so the three never disagree). `config` supplies what the
/// running pool does not keep (its balance, where its endpoints come from, `max_in_flight`).
pub fn pools(upstreams: &Upstreams, config: &Config) -> Vec<PoolView> {
    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    upstreams
        .all()
        .into_iter()
        .map(|pool| {
            let configured = config.pools().find(|c| *c.name == **pool.name());
            let discover = configured.and_then(|c| match &c.endpoints {
                Endpoints::Discover(d) => Some(format!("{}://{}:{}", d.scheme, d.host, d.port)),
                Endpoints::Static(_) => None,
            });
            // Joined by label: with discovery the set may change between the two reads.
            let outcomes = pool.endpoint_outcomes();
            let endpoints = pool
                .endpoint_states()
                .into_iter()
                .map(|state| {
                    let counts = outcomes
                        .iter()
                        .find(|(label, _)| *label == state.label)
                        .map_or([0; Outcome::ALL.len()], |(_, counts)| *counts);
                    (state, counts)
                })
                .map(|(state, outcomes)| EndpointView {
                    endpoint: state.label.to_string(),
                    in_flight: state.in_flight,
                    ejected: state.ejected,
                    ejections: state.ejections,
                    healthy: state.healthy,
                    checks: Checks {
                        passed: state.checks_passed,
                        failed: state.checks_failed,
                    },
                    requests: Counts(
                        Outcome::ALL
                            .iter()
                            .zip(outcomes)
                            .map(|(outcome, n)| (outcome.label(), n))
                            .collect(),
                    ),
                })
                .collect();
            PoolView {
                name: pool.name().to_string(),
                balance: configured.map_or(Balance::default(), |c| c.balance).name(),
                source: if discover.is_some() {
                    "discover"
                } else {
                    "list"
                },
                discover,
                max_in_flight: configured.map_or(0, |c| c.max_in_flight),
                in_flight: pool.in_flight(),
                assertion_audience: pool.assertion_audience().map(str::to_owned),
                endpoints,
                retries: Counts(
                    RETRY_REASONS
                        .iter()
                        .map(|&r| (r.label(), load(&pool.counters.retries[r as usize])))
                        .collect(),
                ),
                budget_exhausted: load(&pool.counters.budget_exhausted),
                panic: load(&pool.counters.panic),
                resolve_failures: load(&pool.counters.resolve_failures),
            }
        })
        .collect()
}

/// The `reason` label of the retry counters, in the order `/upstreams` lists them.
const RETRY_REASONS: [RetryReason; 4] = [
    RetryReason::Connect,
    RetryReason::Reset,
    RetryReason::Timeout,
    RetryReason::Status,
];

/// The Upstreams page: every pool, and how long each waits (its timeouts from the config).
pub struct UpstreamsPage {
    pub pools: Vec<(PoolView, Option<(Duration, Duration)>)>,
}

pub fn upstreams(gateway: &Gateway, config: &Config) -> UpstreamsPage {
    UpstreamsPage {
        pools: pools(&gateway.upstreams, config)
            .into_iter()
            .map(|view| {
                let timeouts = config
                    .pools()
                    .find(|c| c.name == view.name)
                    .map(|c| (c.connect_timeout, c.request_timeout));
                (view, timeouts)
            })
            .collect(),
    }
}

/// The Try form's answer: what was asked (never the token) and the explanation.
pub struct TryAnswer {
    pub method: String,
    pub path: String,
    pub with_token: bool,
    pub explanation: Explanation,
}

pub async fn try_it(gateway: &Gateway, config: &Config, form: &Form) -> TryAnswer {
    let method = form
        .get("method")
        .unwrap_or("GET")
        .trim()
        .to_ascii_uppercase();
    let path = form.get("path").unwrap_or("/").trim().to_owned();
    let token = form
        .get("token")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| t.strip_prefix("Bearer ").unwrap_or(t));
    let explanation = match Method::from_bytes(method.as_bytes()) {
        Ok(parsed) => {
            let snapshot = gateway.snapshot.load();
            explain(
                config,
                &snapshot.policy,
                &parsed,
                &path,
                token,
                Proofs::default(),
            )
            .await
        }
        Err(_) => Explanation {
            lines: vec![format!(
                "`{method}` is not an HTTP method; write e.g. GET or POST"
            )],
            status: None,
            reason: None,
        },
    };
    TryAnswer {
        method,
        path,
        with_token: token.is_some(),
        explanation,
    }
}

/// The decisions page's live stream (Server-Sent Events): each new record as JSON, with the
/// same fields the page's table shows, looked for in the ring every `LIVE_POLL` (so the request
/// path never wakes anything for it); a comment every 15 s keeps proxies from closing it. Ends
/// when the page goes away or the gateway does.
pub fn events(gateway: &Arc<Gateway>) -> Response<Body> {
    const LIVE_POLL: Duration = Duration::from_millis(250);
    let gateway = Arc::downgrade(gateway);
    let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        let Some(mut last) = gateway.upgrade().map(|g| g.decisions.since(u64::MAX).1) else {
            return;
        };
        let mut poll = tokio::time::interval(LIVE_POLL);
        let mut quiet = Duration::ZERO;
        loop {
            poll.tick().await;
            let Some(live) = gateway.upgrade() else {
                return;
            };
            let (records, newest) = live.decisions.since(last);
            drop(live);
            last = newest;
            quiet = if records.is_empty() {
                quiet + LIVE_POLL
            } else {
                Duration::ZERO
            };
            let mut chunks: Vec<Bytes> = records
                .iter()
                .map(|record| {
                    Bytes::from(format!(
                        "id: {}\ndata: {}\n\n",
                        record.id,
                        record_json(record)
                    ))
                })
                .collect();
            if quiet >= Duration::from_secs(15) {
                quiet = Duration::ZERO;
                chunks.push(Bytes::from_static(b": keep-alive\n\n"));
            }
            for chunk in chunks {
                if sender.send(chunk).await.is_err() {
                    return;
                }
            }
        }
    });
    let mut response = Response::new(body::stream(ChannelBody(receiver)));
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    response
}

fn record_json(record: &DecisionRecord) -> String {
    serde_json::json!({
        "time": time(record.at),
        "method": record.method.as_str(),
        "path": record.path,
        "route": record.route.as_deref().unwrap_or("none"),
        "status": record.status,
        "reason": record.reason,
        "issuer": record.issuer.as_deref().unwrap_or("-"),
        "client_id": record.client_id.as_deref().unwrap_or("-"),
        "request_id": record.request_id,
    })
    .to_string()
}

struct ChannelBody(tokio::sync::mpsc::Receiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = body::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|bytes| Ok(http_body::Frame::data(bytes))))
    }
}

/// `2026-12-07 06:40:12 UTC`.
pub fn time(at: SystemTime) -> String {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}
