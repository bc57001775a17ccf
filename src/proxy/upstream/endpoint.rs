//! One endpoint of a pool: its connection pool (`pool::Pool`, one per origin), the `Host` it
//! receives, and its requests in flight, which least-request balancing reads and whose guard
//! (`InFlight`) lives as long as the response body.
//!
//! A listed endpoint (`endpoints = [...]`) connects where its URL's host resolves (an IP
//! literal directly); a discovered one (`discover`) connects to the address DNS gave while its
//! `Host` and TLS server name stay the discovered name, as a client of a Kubernetes headless
//! Service would send (`Connect::Fixed`).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderValue, Uri};
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use tower_service::Service;

use super::pool::Pool;
use crate::constants::UPSTREAM_POOL_IDLE_TIMEOUT;

pub struct Endpoint {
    /// `scheme://authority` (a discovered endpoint: `scheme://address:port`), as the access
    /// log's `endpoint` and the metrics name it.
    pub label: Arc<str>,
    /// `Host` as this endpoint receives it.
    pub host: HeaderValue,
    /// The address DNS discovery found it at (`None`: a listed endpoint).
    pub address: Option<SocketAddr>,
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

/// Where the connector connects for a host name: where the system resolver says (its own
/// threads, never blocking the runtime), or one fixed address.
#[derive(Clone)]
pub enum Connect {
    System(GaiResolver),
    Fixed(SocketAddr),
}

type Resolving =
    Pin<Box<dyn Future<Output = std::io::Result<std::vec::IntoIter<SocketAddr>>> + Send>>;

impl Service<Name> for Connect {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Resolving;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self {
            Connect::System(resolver) => resolver.poll_ready(cx),
            Connect::Fixed(_) => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, name: Name) -> Resolving {
        match self {
            Connect::System(resolver) => {
                let resolving = resolver.call(name);
                Box::pin(async move { Ok(resolving.await?.collect::<Vec<_>>().into_iter()) })
            }
            Connect::Fixed(address) => Box::pin(std::future::ready(Ok(vec![*address].into_iter()))),
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
        let connect = Connect::System(GaiResolver::new());
        Endpoint::reaching(
            label,
            host,
            None,
            origin,
            connect,
            connect_timeout,
            request_timeout,
        )
    }

    /// An endpoint DNS discovery found at `address` for `origin` (`scheme://name:port`): it
    /// connects there, and receives the name as `Host` and TLS server name.
    pub fn discovered(
        origin: &Uri,
        address: SocketAddr,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Result<Endpoint, BadEndpoint> {
        let scheme = origin.scheme_str().ok_or(BadEndpoint("needs a scheme"))?;
        let authority = origin.authority().ok_or(BadEndpoint("needs a host"))?;
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|_| BadEndpoint("has a host that cannot be sent in a Host header"))?;
        let label: Arc<str> = format!("{scheme}://{address}").into();
        let connect = Connect::Fixed(address);
        Endpoint::reaching(
            label,
            host,
            Some(address),
            origin.clone(),
            connect,
            connect_timeout,
            request_timeout,
        )
    }

    fn reaching(
        label: Arc<str>,
        host: HeaderValue,
        address: Option<SocketAddr>,
        origin: Uri,
        connect: Connect,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Result<Endpoint, BadEndpoint> {
        let connections = Pool::new(
            origin,
            connect,
            connect_timeout,
            request_timeout,
            UPSTREAM_POOL_IDLE_TIMEOUT,
        )
        .map_err(|_| BadEndpoint("cannot be reached: TLS setup failed"))?;
        Ok(Endpoint {
            label,
            host,
            address,
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
