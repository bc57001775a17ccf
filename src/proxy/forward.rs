//! Forwarding: the pooled client that carries an authorised request to the upstream.
//!
//! Bodies stream both ways without buffering. `connect_timeout` bounds the TCP (and TLS)
//! connect, `request_timeout` bounds the wait for the response head; a streaming body after that
//! is bounded by the client. Failures map to 502 (refused, reset, unusable reply) and 504 (any
//! timeout, as nginx does for `proxy_connect_timeout` and `proxy_read_timeout`).

use std::error::Error as _;
use std::time::Duration;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::config::UpstreamConfig;
use crate::error::GatewayError;
use crate::proxy::body::{Body, ClientBodyError};

/// The upstream: where to send, and the connection pool to send with.
pub struct Upstream {
    client: Client<HttpsConnector<HttpConnector>, Body>,
    scheme: Scheme,
    authority: Authority,
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
        let prefix = config.url.path().trim_end_matches('/').to_owned();

        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.connect_timeout));
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(std::sync::Arc::new(provider))
            .map_err(|_| bad("cannot be reached: TLS setup failed"))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(https);
        Ok(Self {
            client,
            scheme,
            authority,
            prefix,
            connect_timeout: config.connect_timeout,
            request_timeout: config.request_timeout,
        })
    }

    /// The upstream's authority, for the `Host` header it receives.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// The URI the upstream receives: its base, the normalised path (exactly what the policy
    /// judged) and the original query.
    pub fn target(&self, normalised_path: &str, query: Option<&str>) -> Result<Uri, GatewayError> {
        let mut path_and_query =
            String::with_capacity(self.prefix.len() + normalised_path.len() + 64);
        path_and_query.push_str(&self.prefix);
        path_and_query.push_str(normalised_path);
        if let Some(query) = query {
            path_and_query.push('?');
            path_and_query.push_str(query);
        }
        let path_and_query = PathAndQuery::try_from(path_and_query).map_err(|_| {
            GatewayError::BadRequest("the request target is not a valid URI".into())
        })?;
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|_| GatewayError::BadRequest("the request target is not a valid URI".into()))
    }

    /// Sends the request and waits for the response head. `body_limit` is the route's
    /// `max_body`, which the request body was wrapped to enforce.
    pub async fn send(
        &self,
        request: Request<Body>,
        body_limit: Option<u64>,
    ) -> Result<Response<Incoming>, GatewayError> {
        match tokio::time::timeout(self.request_timeout, self.client.request(request)).await {
            Err(_) => Err(GatewayError::UpstreamTimeout(self.request_timeout)),
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(self.classify(&error, body_limit)),
        }
    }

    fn classify(
        &self,
        error: &hyper_util::client::legacy::Error,
        body_limit: Option<u64>,
    ) -> GatewayError {
        let mut source = error.source();
        while let Some(cause) = source {
            if let Some(ClientBodyError(inner)) = cause.downcast_ref::<ClientBodyError>() {
                return match body_limit {
                    Some(limit) if inner.is::<http_body_util::LengthLimitError>() => {
                        GatewayError::PayloadTooLarge { limit }
                    }
                    _ => GatewayError::BadRequest(cause.to_string()),
                };
            }
            if let Some(io) = cause.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::TimedOut
            {
                return GatewayError::UpstreamTimeout(self.connect_timeout);
            }
            source = cause.source();
        }
        GatewayError::UpstreamUnavailable(describe(error))
    }
}

/// A one-line cause for the 502 body and the log: the innermost error says what happened
/// ("Connection refused", "connection reset"), the outer ones only that the request failed.
fn describe(error: &hyper_util::client::legacy::Error) -> String {
    let mut text = if error.is_connect() {
        "cannot connect".to_owned()
    } else {
        "request failed".to_owned()
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
