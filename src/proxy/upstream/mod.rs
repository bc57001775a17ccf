//! The upstream pools: where an authorised request goes. `Upstreams` holds every pool (`[upstream]`
//! as `default`, and each `[upstreams.NAME]`); a route picks one with `upstream:`. A pool
//! (`Upstream`) is a set of endpoints (`endpoint`, each with its own connection pool, `pool`),
//! listed or found through DNS (`discover`) and held as one swappable set (`members`),
//! balanced per request (`balance`) over those neither ejected (`eject`, passive) nor failing
//! their active health checks (`health`), with a cap on requests in flight, and safe retries
//! within a budget (`retry`); `failure` says what a failed attempt means for the client.
//!
//! Bodies stream both ways without buffering. `connect_timeout` bounds the TCP (and TLS)
//! connect, `request_timeout` bounds each attempt's wait for the response head and then each
//! wait for more of the response body (as nginx's `proxy_read_timeout`); a body that stalls
//! longer is cut off and the client sees the download aborted. Failures map to 502 (refused,
//! reset, unusable reply) and 504 (any timeout, as nginx does for `proxy_connect_timeout` and
//! `proxy_read_timeout`); they come only from real attempts: when every endpoint is ejected or
//! unhealthy the pool balances over all of them (panic routing) rather than refusing.

mod balance;
mod discover;
mod eject;
mod endpoint;
mod failure;
mod health;
mod members;
mod pool;
mod retry;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{HeaderMap, Method, Request, Response, Uri, Version, header};
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::task::JoinHandle;

use crate::config::{Config, EjectConfig, Endpoints, UpstreamConfig};
use crate::proxy::body::{self, Body};
use crate::proxy::error::GatewayError;
use balance::Balancer;
use eject::Failure;
pub use endpoint::Outcome;
use endpoint::{Endpoint, InFlight};
use failure::{classify, client_body_failed};
pub use members::EndpointState;
use members::{Member, Members};
use pool::PooledBody;
pub use retry::Reason as RetryReason;
use retry::{Budget, Reason};

/// Every pool, by the name routes use.
pub struct Upstreams {
    default: Option<Arc<Upstream>>,
    named: HashMap<String, Arc<Upstream>>,
}

#[derive(Debug, thiserror::Error)]
#[error("upstream {pool}: {problem}")]
pub struct UpstreamUrlError {
    pool: String,
    problem: String,
}

impl Upstreams {
    /// Builds every pool of `config`.
    pub fn new(config: &Config) -> Result<Upstreams, UpstreamUrlError> {
        let default = config.upstream.as_ref().map(Upstream::new).transpose()?;
        let mut named = HashMap::new();
        for pool in &config.upstreams {
            named.insert(pool.name.clone(), Upstream::new(pool)?);
        }
        Ok(Upstreams {
            default: default.map(Arc::new),
            named: named.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
        })
    }

    /// The pool a route names (`None`: the default pool), or the 502 that says why there is
    /// none (the policy was checked against the pools at load, so only a reload that named a
    /// pool this process was not started with gets here).
    pub fn pool(&self, name: Option<&str>) -> Result<&Upstream, GatewayError> {
        let found = match name {
            None | Some(crate::constants::DEFAULT_POOL_NAME) => self.default.as_deref(),
            Some(name) => self.named.get(name).map(Arc::as_ref),
        };
        found.ok_or_else(|| {
            GatewayError::UpstreamUnavailable(format!(
                "the route's pool `{}` is not running; restart the gateway after adding it to gateway.toml",
                name.unwrap_or(crate::constants::DEFAULT_POOL_NAME)
            ))
        })
    }

    /// Waits until every pool that discovers its endpoints has had its first answer, or
    /// `within` has passed (start-up serves then, whatever DNS does).
    pub async fn first_resolutions(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        for pool in self.all() {
            if let Some(discovery) = &pool.discovery {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                discovery.first(left).await;
            }
        }
    }

    /// Every pool: the default one first, then the named ones in name order.
    pub fn all(&self) -> Vec<&Upstream> {
        let mut named: Vec<&Upstream> = self.named.values().map(Arc::as_ref).collect();
        named.sort_by(|a, b| a.name.cmp(&b.name));
        self.default.as_deref().into_iter().chain(named).collect()
    }
}

/// One pool of endpoints.
pub struct Upstream {
    name: Arc<str>,
    members: Arc<Members>,
    balancer: Balancer,
    /// The endpoints' shared URL path without its trailing `/` ("" for the root).
    prefix: String,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_in_flight: usize,
    in_flight: Arc<AtomicUsize>,
    assertion_audience: Option<String>,
    eject: EjectConfig,
    attempts: u32,
    budget: Budget,
    pub counters: Arc<PoolCounters>,
    /// Set when the pool discovers its endpoints through DNS.
    discovery: Option<Arc<discover::Discovery>>,
    /// The health checker and the discovery of this pool, ended when it is dropped.
    tasks: Vec<JoinHandle<()>>,
}

/// What a pool counts, read by the metrics and `/upstreams`.
#[derive(Default)]
pub struct PoolCounters {
    /// Retries by reason: connect, reset, timeout, status.
    pub retries: [AtomicU64; 4],
    /// Retries the budget refused.
    pub budget_exhausted: AtomicU64,
    /// Requests that found no usable endpoint and went to any of them.
    pub panic: AtomicU64,
    pub ejections: AtomicU64,
    /// DNS resolutions (`discover`) that failed or found no address, keeping the last set.
    pub resolve_failures: AtomicU64,
}

/// The outcome of sending one request through a pool: the answer, and what the access log
/// records of how it was reached.
pub struct Sent {
    pub result: Result<Response<PoolBody>, GatewayError>,
    /// The endpoint of the last attempt (`scheme://authority`); `None` when none was made.
    pub endpoint: Option<Arc<str>>,
    pub attempts: u32,
}

/// A request head kept to send again (bodyless requests only).
struct Head {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
}

impl Head {
    fn of(request: &Request<Body>) -> Head {
        Head {
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            headers: request.headers().clone(),
        }
    }

    fn request(&self) -> Request<Body> {
        let mut request = Request::new(body::empty());
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.version_mut() = self.version;
        *request.headers_mut() = self.headers.clone();
        request
    }
}

impl Upstream {
    pub fn new(config: &UpstreamConfig) -> Result<Upstream, UpstreamUrlError> {
        let bad = |problem: String| UpstreamUrlError {
            pool: config.name.clone(),
            problem,
        };
        let urls = config.urls();
        let prefix = urls
            .first()
            .map(|url| url.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        let checked = config.health.as_ref().map(|health| health.timeout);
        let mut endpoints = Vec::new();
        for url in urls {
            let endpoint = Endpoint::new(url, config.connect_timeout, config.request_timeout)
                .map_err(|e| bad(format!("endpoint {url} {}", e.0)))?;
            endpoints.push(Arc::new(Member::new(endpoint, checked)));
        }
        let name: Arc<str> = config.name.as_str().into();
        let members = Arc::new(Members::new(endpoints));
        let counters = Arc::new(PoolCounters::default());
        let mut tasks = Vec::new();
        let mut discovery = None;
        match &config.endpoints {
            Endpoints::Static(urls) if urls.is_empty() => {
                return Err(bad("has no endpoint".to_owned()));
            }
            Endpoints::Static(_) => {}
            Endpoints::Discover(discover) => {
                let (status, task) =
                    discover::start(config, discover, members.clone(), counters.clone())
                        .map_err(bad)?;
                discovery = Some(status);
                tasks.push(task);
            }
        }
        if let Some(health) = &config.health {
            tasks.push(health::spawn(name.clone(), members.clone(), health.clone()));
        }
        Ok(Upstream {
            name,
            members,
            balancer: Balancer::new(config.balance),
            prefix,
            connect_timeout: config.connect_timeout,
            request_timeout: config.request_timeout,
            max_in_flight: config.max_in_flight,
            in_flight: Arc::new(AtomicUsize::new(0)),
            assertion_audience: config.assertion_audience.clone(),
            eject: config.eject.clone(),
            attempts: config.retry.attempts.max(1),
            budget: Budget::new(config.retry.budget_percent),
            counters,
            discovery,
            tasks,
        })
    }

    /// The pool's name (`default` for `[upstream]`): the access log's `upstream`.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The `aud` of the signed assertion for requests to this pool, when it has its own.
    pub fn assertion_audience(&self) -> Option<&str> {
        self.assertion_audience.as_deref()
    }

    /// Requests under way to this pool.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// For a pool that discovers its endpoints through DNS and has found none yet, why not
    /// (for `/upstreams` and the console); `None` otherwise.
    pub fn not_found_yet(&self) -> Option<String> {
        self.discovery.as_ref().and_then(|d| d.not_found_yet())
    }

    /// Each current endpoint's state, in the pool's order.
    pub fn endpoint_states(&self) -> Vec<EndpointState> {
        self.members.current().iter().map(|m| m.state()).collect()
    }

    /// Each endpoint's label and its attempts by `Outcome` (in `Outcome::ALL` order).
    pub fn endpoint_outcomes(&self) -> Vec<(Arc<str>, [u64; Outcome::ALL.len()])> {
        self.members
            .current()
            .iter()
            .map(|m| (m.endpoint.label.clone(), m.endpoint.outcomes()))
            .collect()
    }

    /// The request target the upstream receives (origin form, RFC 9112 §3.2.1): the pool's
    /// base path, the normalised path (exactly what the policy judged) and the original query.
    pub fn target(&self, normalised_path: &str, query: Option<&str>) -> Result<Uri, GatewayError> {
        let mut path_and_query =
            String::with_capacity(self.prefix.len() + normalised_path.len() + 64);
        path_and_query.push_str(&self.prefix);
        path_and_query.push_str(normalised_path);
        if let Some(query) = query {
            path_and_query.push('?');
            path_and_query.push_str(query);
        }
        PathAndQuery::try_from(path_and_query)
            .map(Uri::from)
            .map_err(|_| GatewayError::BadRequest("the request target is not a valid URI".into()))
    }

    /// Sends the request to one endpoint after another until an attempt answers, the retry
    /// rules (`retry`) say another attempt is not safe, the attempts or the budget run out.
    /// `Host` is set per attempt to the endpoint's. `body_limit` is the route's `max_body`,
    /// which the request body was wrapped to enforce.
    pub async fn send(&self, request: Request<Body>, body_limit: Option<u64>) -> Sent {
        let Some(pool_slot) = InFlight::enter_below(&self.in_flight, self.max_in_flight) else {
            return Sent {
                result: Err(GatewayError::PoolFull {
                    pool: self.name.to_string(),
                    limit: self.max_in_flight,
                }),
                endpoint: None,
                attempts: 0,
            };
        };
        self.budget.request();
        let resendable = self.attempts > 1
            && retry::idempotent(request.method())
            && request.body().is_end_stream();
        let head = resendable.then(|| Head::of(&request));
        let members = self.members.current();
        if members.is_empty() {
            let cause = self.not_found_yet();
            return Sent {
                result: Err(GatewayError::UpstreamUnavailable(format!(
                    "pool {}: DNS discovery has found no endpoint yet: {}",
                    self.name,
                    cause.as_deref().unwrap_or("no answer yet")
                ))),
                endpoint: None,
                attempts: 0,
            };
        }
        let mut tried = vec![false; members.len()];
        let mut next = Some(request);
        let mut attempts = 0;
        loop {
            let Some(mut request) = next.take() else {
                // Every path below that continues puts a request back first.
                return Sent {
                    result: Err(GatewayError::UpstreamUnavailable(
                        "no request left to send".to_owned(),
                    )),
                    endpoint: None,
                    attempts,
                };
            };
            attempts += 1;
            let index = self.choose(&members, &tried);
            tried[index] = true;
            let member = &members[index];
            let now = Instant::now();
            member.ejection.begin(now);
            request
                .headers_mut()
                .insert(header::HOST, member.endpoint.host.clone());
            let endpoint_slot = member.endpoint.start();
            let sent = tokio::time::timeout(
                self.request_timeout,
                member.endpoint.connections.send(request),
            )
            .await;
            let label = Some(member.endpoint.label.clone());
            let last = attempts >= self.attempts;
            let (error, retry) = match sent {
                Ok(Ok(response)) => {
                    let retryable = retry::retryable_status(response.status());
                    member.endpoint.count(if retryable {
                        Outcome::Status
                    } else {
                        Outcome::Ok
                    });
                    if !retryable {
                        member.ejection.succeeded();
                    } else {
                        self.failed(&members, index, now);
                        if let Some(head) = &head
                            && !last
                            && self.take_retry(Reason::Status)
                        {
                            // The 502/503/504 is dropped unread: its connection closes.
                            next = Some(head.request());
                            continue;
                        }
                    }
                    return Sent {
                        result: Ok(response.map(|body| PoolBody {
                            body,
                            _endpoint: endpoint_slot,
                            _pool: pool_slot,
                        })),
                        endpoint: label,
                        attempts,
                    };
                }
                Ok(Err(failed)) => {
                    let error = classify(&failed.error, body_limit, self.connect_timeout);
                    if client_body_failed(&failed.error) {
                        // The client's body, not the endpoint, failed: not the endpoint's
                        // fault, and the body is gone.
                        return Sent {
                            result: Err(error),
                            endpoint: label,
                            attempts,
                        };
                    }
                    self.failed(&members, index, now);
                    member.endpoint.count(if failed.unsent.is_some() {
                        Outcome::Connect
                    } else {
                        Outcome::Reset
                    });
                    let retry = match failed.unsent {
                        Some(unsent) => Some((unsent, Reason::Connect)),
                        None => head.as_ref().map(|head| (head.request(), Reason::Reset)),
                    };
                    (error, retry)
                }
                Err(_elapsed) => {
                    self.failed(&members, index, now);
                    member.endpoint.count(Outcome::Timeout);
                    let error = GatewayError::UpstreamTimeout(self.request_timeout);
                    (
                        error,
                        head.as_ref().map(|head| (head.request(), Reason::Timeout)),
                    )
                }
            };
            match retry {
                Some((request, reason)) if !last && self.take_retry(reason) => {
                    next = Some(request);
                }
                _ => {
                    return Sent {
                        result: Err(error),
                        endpoint: label,
                        attempts,
                    };
                }
            }
        }
    }

    /// The endpoint of the next attempt: one available (healthy, not ejected) and not tried
    /// yet, else one available, else (panic routing, counted) any not tried yet, else any.
    fn choose(&self, members: &[Arc<Member>], tried: &[bool]) -> usize {
        let now = Instant::now();
        let count = members.len();
        let load = |i: usize| members[i].endpoint.in_flight();
        let available = |i: usize| members[i].available(now);
        if let Some(i) = self
            .balancer
            .pick(count, |i| available(i) && !tried[i], load)
        {
            return i;
        }
        if let Some(i) = self.balancer.pick(count, available, load) {
            return i;
        }
        self.counters.panic.fetch_add(1, Ordering::Relaxed);
        self.balancer
            .pick(count, |i| !tried[i], load)
            .or_else(|| self.balancer.pick(count, |_| true, load))
            .unwrap_or(0)
    }

    /// An attempt at endpoint `index` failed: count it towards ejection.
    fn failed(&self, members: &[Arc<Member>], index: usize, now: Instant) {
        // Counted before the endpoint's own lock is taken (the locks are not reentrant).
        let ejected = members.iter().filter(|m| m.ejection.is_ejected()).count();
        let may_eject = eject::room_for_one_more(ejected, members.len(), self.eject.max_percent);
        let member = &members[index];
        if let Failure::Ejected(time) = member.ejection.failed(&self.eject, now, may_eject) {
            self.counters.ejections.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                upstream = %self.name,
                endpoint = %member.endpoint.label,
                seconds = time.as_secs(),
                reason = "consecutive_failures",
                "endpoint ejected"
            );
        }
    }

    /// Takes a retry from the budget, counting it (or its refusal).
    fn take_retry(&self, reason: Reason) -> bool {
        if self.budget.try_retry() {
            self.counters.retries[reason as usize].fetch_add(1, Ordering::Relaxed);
            true
        } else {
            self.counters
                .budget_exhausted
                .fetch_add(1, Ordering::Relaxed);
            false
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        // No check or resolution goes on for a pool nobody sends to any more.
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A response body from a pool: the endpoint's connection body, holding the request's place
/// in the endpoint's and the pool's in-flight counts until it ends or is dropped.
pub struct PoolBody {
    body: PooledBody,
    _endpoint: InFlight,
    _pool: InFlight,
}

impl std::fmt::Debug for PoolBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.body.fmt(f)
    }
}

impl HttpBody for PoolBody {
    type Data = Bytes;
    type Error = body::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, body::BoxError>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
