//! The upstream: where an authorised request goes, and the pooled client (`pool`) that carries it.
//!
//! Bodies stream both ways without buffering. `connect_timeout` bounds the TCP (and TLS)
//! connect, `request_timeout` bounds the wait for the response head and then each wait for more
//! of the response body (as nginx's `proxy_read_timeout`); a body that stalls longer is cut off
//! and the client sees the download aborted. Failures map to 502 (refused, reset, unusable
//! reply) and 504 (any timeout, as nginx does for `proxy_connect_timeout` and
//! `proxy_read_timeout`).

mod pool;

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use http::uri::{PathAndQuery, Scheme};
use http::{HeaderValue, Request, Response, Uri};

use crate::config::UpstreamConfig;
use crate::constants::UPSTREAM_POOL_IDLE_TIMEOUT;
use crate::proxy::body::{Body, ClientBodyError};
use crate::proxy::error::GatewayError;
use pool::{Pool, PooledBody, SendError};

/// The upstream: where to send, and the connection pool to send with.
pub struct Upstream {
    pool: Arc<Pool>,
    /// `Host` as the upstream receives it, rendered once.
    host: HeaderValue,
    /// The upstream URL's path without its trailing `/` ("" for the root).
    prefix: String,
    connect_timeout: Duration,
    request_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("upstream url {url} {problem}")]
pub struct UpstreamUrlError {
    url: String,
    problem: &'static str,
}

impl Upstream {
    pub fn new(config: &UpstreamConfig) -> Result<Self, UpstreamUrlError> {
        let bad = |problem| UpstreamUrlError {
            url: config.url.to_string(),
            problem,
        };
        let scheme = config
            .url
            .scheme()
            .cloned()
            .ok_or_else(|| bad("needs a scheme (http:// or https://)"))?;
        if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
            return Err(bad("must be http:// or https://"));
        }
        let authority = config
            .url
            .authority()
            .cloned()
            .ok_or_else(|| bad("needs a host"))?;
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|_| bad("has a host that cannot be sent in a Host header"))?;
        let prefix = config.url.path().trim_end_matches('/').to_owned();
        let origin = Uri::builder()
            .scheme(scheme)
            .authority(authority)
            .path_and_query("/")
            .build()
            .map_err(|_| bad("is not a valid URL"))?;

        let pool = Pool::new(
            origin,
            config.connect_timeout,
            config.request_timeout,
            UPSTREAM_POOL_IDLE_TIMEOUT,
        )
        .map_err(|_| bad("cannot be reached: TLS setup failed"))?;
        Ok(Self {
            pool,
            host,
            prefix,
            connect_timeout: config.connect_timeout,
            request_timeout: config.request_timeout,
        })
    }

    /// The `Host` header the upstream receives.
    pub fn host(&self) -> &HeaderValue {
        &self.host
    }

    /// The request target the upstream receives (origin form, RFC 9112 §3.2.1): its base path,
    /// the normalised path (exactly what the policy judged) and the original query.
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

    /// Sends the request and waits for the response head. `body_limit` is the route's
    /// `max_body`, which the request body was wrapped to enforce.
    pub async fn send(
        &self,
        request: Request<Body>,
        body_limit: Option<u64>,
    ) -> Result<Response<PooledBody>, GatewayError> {
        match tokio::time::timeout(self.request_timeout, self.pool.send(request)).await {
            Err(_) => Err(GatewayError::UpstreamTimeout(self.request_timeout)),
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(classify(&error, body_limit, self.connect_timeout)),
        }
    }
}

/// The client's own body failing is 400/413, a timeout 504, anything else 502.
fn classify(error: &SendError, body_limit: Option<u64>, connect_timeout: Duration) -> GatewayError {
    if let SendError::ConnectTimeout(limit) = error {
        return GatewayError::UpstreamTimeout(*limit);
    }
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(client) = cause.downcast_ref::<ClientBodyError>() {
            return GatewayError::from_client_body(client, body_limit);
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return GatewayError::UpstreamTimeout(connect_timeout);
        }
        source = cause.source();
    }
    GatewayError::UpstreamUnavailable(describe(error))
}

/// A one-line cause for the 502 body and the log: the innermost error says what happened
/// ("Connection refused", "connection reset"), the outer ones only that the request failed.
fn describe(error: &SendError) -> String {
    let mut text = match error {
        SendError::Connect(_) | SendError::ConnectTimeout(_) => "cannot connect".to_owned(),
        SendError::Send(_) => "request failed".to_owned(),
    };
    let mut innermost = None;
    let mut source = error.source();
    while let Some(cause) = source {
        innermost = Some(cause.to_string());
        source = cause.source();
    }
    if let Some(cause) = innermost {
        text.push_str(": ");
        text.push_str(&cause);
    }
    text
}
