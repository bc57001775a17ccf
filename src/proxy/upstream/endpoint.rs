//! One endpoint of a pool: its connection pool (`pool::Pool`, one per origin), the `Host` it
//! receives, and its requests in flight, which least-request balancing reads and whose guard
//! (`InFlight`) lives as long as the response body.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use http::{HeaderValue, Uri};

use super::pool::Pool;
use crate::constants::UPSTREAM_POOL_IDLE_TIMEOUT;

pub struct Endpoint {
    /// `scheme://authority`, as the access log's `endpoint` and the metrics name it.
    pub label: Arc<str>,
    /// `Host` as this endpoint receives it.
    pub host: HeaderValue,
    pub connections: Arc<Pool>,
    in_flight: Arc<AtomicUsize>,
    /// Attempts by `Outcome`, read by `/metrics` and `/upstreams` (one relaxed add each).
    outcomes: [AtomicU64; Outcome::ALL.len()],
}

/// How one attempt at an endpoint ended: the `outcome` label of the per-endpoint request
/// metric. A closed set, as Envoy's `upstream_rq_*` / `upstream_cx_connect_fail` split it:
/// `ok` is any answer but 502/503/504 (a 404 or a 500 is the service's answer, not a failure
/// of the endpoint), `status` a 502/503/504, `connect` nothing was sent (refused, connect
/// timeout, TLS), `reset` the connection failed after the request went out, `timeout` no
/// response head within `request_timeout`. An attempt whose client body failed is not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Status,
    Connect,
    Reset,
    Timeout,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Ok,
        Outcome::Status,
        Outcome::Connect,
        Outcome::Reset,
        Outcome::Timeout,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Status => "status",
            Outcome::Connect => "connect",
            Outcome::Reset => "reset",
            Outcome::Timeout => "timeout",
        }
    }
}

/// Why an endpoint URL cannot be used (the checker refuses these first; this is the backstop
/// for configurations built in code).
#[derive(Debug)]
pub struct BadEndpoint(pub &'static str);

impl Endpoint {
    /// An endpoint for `url` (its scheme and authority; the path is the pool's).
    pub fn new(
        url: &Uri,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Result<Endpoint, BadEndpoint> {
        let scheme = url
            .scheme()
            .cloned()
            .ok_or(BadEndpoint("needs a scheme (http:// or https://)"))?;
        if scheme != http::uri::Scheme::HTTP && scheme != http::uri::Scheme::HTTPS {
            return Err(BadEndpoint("must be http:// or https://"));
        }
        let authority = url
            .authority()
            .cloned()
            .ok_or(BadEndpoint("needs a host"))?;
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|_| BadEndpoint("has a host that cannot be sent in a Host header"))?;
        let label: Arc<str> = format!("{scheme}://{authority}").into();
        let origin = Uri::builder()
            .scheme(scheme)
            .authority(authority)
            .path_and_query("/")
            .build()
            .map_err(|_| BadEndpoint("is not a valid URL"))?;
        let connections = Pool::new(
            origin,
            connect_timeout,
            request_timeout,
            UPSTREAM_POOL_IDLE_TIMEOUT,
        )
        .map_err(|_| BadEndpoint("cannot be reached: TLS setup failed"))?;
        Ok(Endpoint {
            label,
            host,
            connections,
            in_flight: Arc::new(AtomicUsize::new(0)),
            outcomes: Default::default(),
        })
    }

    /// Requests sent to this endpoint whose response has not ended yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Counts one attempt's outcome.
    pub fn count(&self, outcome: Outcome) {
        self.outcomes[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Attempts so far, by outcome in `Outcome::ALL` order.
    pub fn outcomes(&self) -> [u64; Outcome::ALL.len()] {
        std::array::from_fn(|i| self.outcomes[i].load(Ordering::Relaxed))
    }

    /// Counts one more request in flight until the guard drops.
    pub fn start(&self) -> InFlight {
        InFlight::enter(&self.in_flight)
    }
}

/// One request counted in flight (an endpoint's or a pool's) until dropped.
pub struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    pub fn enter(counter: &Arc<AtomicUsize>) -> InFlight {
        counter.fetch_add(1, Ordering::Relaxed);
        InFlight(counter.clone())
    }

    /// Enters unless `limit` requests are already counted.
    pub fn enter_below(counter: &Arc<AtomicUsize>, limit: usize) -> Option<InFlight> {
        let before = counter.fetch_add(1, Ordering::AcqRel);
        if before >= limit {
            counter.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(InFlight(counter.clone()))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
