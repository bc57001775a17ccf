//! One endpoint of a pool: its connection pool (`pool::Pool`, one per origin), the `Host` it
//! receives, and its requests in flight, which least-request balancing reads and whose guard
//! (`InFlight`) lives as long as the response body.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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
        })
    }

    /// Requests sent to this endpoint whose response has not ended yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
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
