//! The request pipeline: the spec's decision list, top to bottom.
//!
//! `handle` is the orchestrator: it loads the policy snapshot once, runs the phases in order,
//! turns any `GatewayError` into its response, and writes the access log and metrics. Each phase
//! is a plain function that returns `Result<_, GatewayError>`:
//!
//! 0. `well_framed`: 400 when the framing watch refused the request (both `Content-Length` and
//!    `Transfer-Encoding`), before anything else runs;
//! 1. `normalise` the path (400 on anything unsafe);
//! 2. look the route up (only so that `public` routes can skip authentication);
//! 3. `authenticate`: extract and verify the token (401 / 400 / 503), unless public;
//! 4. `authorise`: 404, 405, 403 restricted, 403 scope, in that order; the result is a `Permit`;
//! 5. `admit`: the per-client rate limit (429) and `max_body` (413);
//! 6. `forward`: rewrite headers, wait for the body's first frame (400/413 if it is malformed,
//!    without contacting the upstream), send, stream the answer back.
//!
//! Every non-public request is authenticated before the router says anything about it, so an
//! unauthenticated caller learns nothing about which paths exist.

use std::sync::Arc;
use std::time::Instant;

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use hyper::body::Incoming;

use crate::auth::{self, TokenSource};
use crate::error::GatewayError;
use crate::identity::Identity;
use crate::policy::{self, Denial, Mode, Route};
use crate::proxy::body::{self, Body};
use crate::proxy::headers;
use crate::proxy::{ConnInfo, Gateway, Snapshot};
use crate::telemetry::{self, AccessRecord, RequestLabels, UpstreamErrorLabels};

/// Proof that a request passed authorisation: forwarding cannot be reached without one.
pub struct Permit<'s> {
    route: &'s Route,
    /// `None` only on public routes.
    identity: Option<(Arc<Identity>, TokenSource)>,
}

/// Runs one request through the whole pipeline. Never fails: every error becomes a response.
pub async fn handle(
    gateway: &Gateway,
    conn: ConnInfo,
    mut request: Request<Incoming>,
) -> Response<Body> {
    let started = Instant::now();
    // Kept if the client sent a sane one, generated otherwise; the upstream and the client both
    // see the same id.
    let request_id = headers::request_id(request.headers());
    request
        .headers_mut()
        .insert(headers::X_REQUEST_ID, request_id.clone());
    let method = request.method().clone();
    let raw_path = request.uri().path().to_owned();
    let snapshot = gateway.snapshot.load_full();
    let mut record = AccessRecord {
        decision: "allow",
        reason: "allowed",
        ..AccessRecord::default()
    };

    let mut response = match process(gateway, &snapshot, conn, request, &mut record).await {
        Ok(response) => response,
        Err(error) => {
            if matches!(
                error,
                GatewayError::UpstreamUnavailable(_) | GatewayError::UpstreamTimeout(_)
            ) {
                let kind = if matches!(error, GatewayError::UpstreamTimeout(_)) {
                    "timeout"
                } else {
                    "unavailable"
                };
                gateway
                    .requests
                    .upstream_errors
                    .get_or_create(&UpstreamErrorLabels { kind })
                    .inc();
            } else {
                record.decision = "deny";
            }
            record.reason = error.reason();
            record.detail = Some(error.to_string());
            error.into_response(request_id.to_str().unwrap_or("-"))
        }
    };
    response
        .headers_mut()
        .insert(headers::X_REQUEST_ID, request_id.clone());
    if response.status() == StatusCode::BAD_REQUEST {
        // Whatever was malformed may have left the connection's framing in doubt: close it.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }

    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    gateway
        .requests
        .requests
        .get_or_create(&RequestLabels {
            route: record.route.clone().unwrap_or_else(|| "none".to_owned()),
            method: telemetry::method_label(&method),
            decision: record.decision,
            reason: record.reason,
            status,
        })
        .inc();
    gateway.requests.duration.observe(elapsed.as_secs_f64());
    telemetry::log_access(
        request_id.to_str().unwrap_or("-"),
        &method,
        &raw_path,
        status,
        elapsed,
        &record,
    );
    response
}

async fn process(
    gateway: &Gateway,
    snapshot: &Snapshot,
    conn: ConnInfo,
    request: Request<Incoming>,
    record: &mut AccessRecord,
) -> Result<Response<Body>, GatewayError> {
    well_framed(conn)?;
    let path = normalise(&request)?;
    let route = snapshot.policy.route_for(&path, request.method());
    record.route = route.map(|r| r.pattern.clone());
    let identity = match route {
        Some(route) if route.public => None,
        _ => Some(authenticate(gateway, &request).await?),
    };
    if let Some((identity, _)) = &identity {
        record.subject = Some(identity.subject.clone());
        record.client_id = identity.client_id.clone();
    }
    let permit = authorise(route, request.method(), &path, identity, snapshot, record)?;
    admit(gateway, &permit, &request)?;
    forward(gateway, snapshot, conn, permit, &path, request).await
}

/// Decision 0, the request is malformed: its head carried both `Content-Length` and
/// `Transfer-Encoding` (RFC 9112 §6.1), which hyper would frame by the latter and let through;
/// `proxy::framing` saw it in the bytes hyper read.
fn well_framed(conn: ConnInfo) -> Result<(), GatewayError> {
    match conn.framing {
        Some(refusal) => Err(GatewayError::BadRequest(refusal.message().to_owned())),
        None => Ok(()),
    }
}

/// Decision 1: RFC 3986 normalisation; the upstream receives exactly this path.
fn normalise(request: &Request<Incoming>) -> Result<String, GatewayError> {
    let path = request.uri().path();
    if !path.starts_with('/') {
        // `OPTIONS *` and authority-form targets have no path to judge.
        return Err(GatewayError::BadRequest(
            "the request target must be an absolute path".into(),
        ));
    }
    Ok(policy::normalise(path)?)
}

/// Decisions 2-3: the bearer token, verified. Runs before the router says anything.
async fn authenticate(
    gateway: &Gateway,
    request: &Request<Incoming>,
) -> Result<(Arc<Identity>, TokenSource), GatewayError> {
    let (token, source) =
        auth::extract(request.headers(), gateway.settings.token_cookie.as_deref())?;
    let identity = gateway.auth.verify(token).await?;
    Ok((identity, source))
}

/// Decision 4, in the spec's order: no route 404, wrong method 405, restricted 403, missing
/// scope 403. A route in shadow mode records the denial and lets the request through.
fn authorise<'s>(
    route: Option<&'s Route>,
    method: &Method,
    path: &str,
    identity: Option<(Arc<Identity>, TokenSource)>,
    snapshot: &'s Snapshot,
    record: &mut AccessRecord,
) -> Result<Permit<'s>, GatewayError> {
    let Some(route) = route else {
        return Err(GatewayError::NoRoute {
            path: path.to_owned(),
        });
    };
    let verdict = match &identity {
        Some((identity, _)) => route.authorise(method, &identity.scopes),
        None if route.allows_method(method) => Ok(()),
        None => route.authorise(method, &crate::identity::Scopes::new()),
    };
    if let Err(denial) = verdict {
        let error = denial_error(denial, method, route, snapshot);
        if route.mode != Mode::Shadow {
            return Err(error);
        }
        record.decision = "shadow_deny";
        record.reason = error.reason();
        record.detail = Some(error.to_string());
        tracing::warn!(
            route = %route.pattern,
            subject = record.subject.as_deref().unwrap_or("-"),
            decision = "shadow_deny",
            reason = error.reason(),
            "shadow mode: request would be denied ({error}); forwarding anyway"
        );
    }
    Ok(Permit { route, identity })
}

fn denial_error(
    denial: Denial,
    method: &Method,
    route: &Route,
    snapshot: &Snapshot,
) -> GatewayError {
    match denial {
        Denial::MethodNotAllowed { allow } => GatewayError::MethodNotAllowed {
            method: method.to_string(),
            route: route.pattern.clone(),
            allow,
        },
        Denial::Restricted { restriction } => GatewayError::Restricted {
            route: route.pattern.clone(),
            description: snapshot
                .policy
                .restriction_description(&restriction)
                .unwrap_or("never reachable through the gateway")
                .to_owned(),
            restriction,
        },
        Denial::InsufficientScope { required, missing } => {
            GatewayError::InsufficientScope { required, missing }
        }
    }
}

/// Per-route admission: the client's rate limit (429) and a declared body over `max_body`
/// (413 without reading it). A chunked body over the limit is cut off while streaming.
fn admit(
    gateway: &Gateway,
    permit: &Permit<'_>,
    request: &Request<Incoming>,
) -> Result<(), GatewayError> {
    if let Some(limit) = permit.route.rate_limit {
        let client = permit
            .identity
            .as_ref()
            .and_then(|(identity, _)| {
                identity
                    .client_id
                    .clone()
                    .or_else(|| Some(identity.subject.clone()))
            })
            .unwrap_or_else(|| "anonymous".to_owned());
        if let Err(retry_after) =
            gateway
                .limiter
                .check(&permit.route.pattern, &client, limit, Instant::now())
        {
            return Err(GatewayError::RateLimited {
                route: permit.route.pattern.clone(),
                retry_after,
            });
        }
    }
    if let Some(limit) = permit.route.max_body {
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit) {
            return Err(GatewayError::PayloadTooLarge { limit });
        }
    }
    Ok(())
}

/// Decision 5: rewrite headers and forward, streaming both bodies.
async fn forward(
    gateway: &Gateway,
    snapshot: &Snapshot,
    conn: ConnInfo,
    permit: Permit<'_>,
    path: &str,
    mut request: Request<Incoming>,
) -> Result<Response<Body>, GatewayError> {
    let upgrade = upgrade_protocol(request.headers());
    let client_upgrade = upgrade.as_ref().map(|_| hyper::upgrade::on(&mut request));
    let (mut parts, incoming) = request.into_parts();

    // Only a visible-ASCII Host travels on as `X-Forwarded-Host`.
    let host = parts
        .headers
        .get(header::HOST)
        .filter(|v| v.to_str().is_ok())
        .cloned()
        .or_else(|| {
            parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });
    let headers = &mut parts.headers;
    headers::strip_hop_by_hop(headers);
    headers::strip_identity(headers);
    if !gateway.settings.forward_token {
        headers.remove(header::AUTHORIZATION);
    }
    if let Some((identity, source)) = &permit.identity {
        if *source == TokenSource::Cookie
            && let Some(cookie) = &gateway.settings.token_cookie
        {
            headers::remove_cookie(headers, cookie);
        }
        headers::set_identity(headers, identity, &snapshot.forward.claims).map_err(|e| {
            GatewayError::BadRequest(format!("{e}; ask the token issuer to fix the claim"))
        })?;
    }
    headers::append_forwarded(
        headers,
        conn.peer.ip(),
        if conn.tls { "https" } else { "http" },
        host,
    );
    if let Some(protocol) = &upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol.clone());
    }
    headers.insert(header::HOST, gateway.upstream.host().clone());
    parts.uri = gateway.upstream.target(path, parts.uri.query())?;
    // The upstream connection is HTTP/1.1 whatever the client spoke.
    parts.version = Version::HTTP_11;

    let request_body = match permit.route.max_body {
        Some(limit) => body::from_client(http_body_util::Limited::new(
            incoming,
            usize::try_from(limit).unwrap_or(usize::MAX),
        )),
        None => body::from_client(incoming),
    };
    // A body malformed from its first bytes is refused before the head goes upstream; one that
    // goes bad later is cut off mid-stream (docs/security.md).
    let request_body = body::with_first_frame(request_body, conn.body_start_timeout)
        .await
        .map_err(
            |error| match error.downcast_ref::<body::ClientBodyError>() {
                Some(client) => client.gateway_error(permit.route.max_body),
                None => GatewayError::BadRequest(error.to_string()),
            },
        )?;
    let sent = Instant::now();
    let result = gateway
        .upstream
        .send(
            Request::from_parts(parts, request_body),
            permit.route.max_body,
        )
        .await;
    gateway
        .requests
        .upstream_duration
        .observe(sent.elapsed().as_secs_f64());
    let mut response = result?;
    if response.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(client_upgrade) = client_upgrade
    {
        let upstream_upgrade = hyper::upgrade::on(&mut response);
        tokio::spawn(tunnel(client_upgrade, upstream_upgrade));
        let (parts, _) = response.into_parts();
        return Ok(Response::from_parts(parts, body::empty()));
    }
    let (mut parts, incoming) = response.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers);
    Ok(Response::from_parts(parts, body::stream(incoming)))
}

/// The `Upgrade` protocol of a request that asks for one (`Connection: upgrade`), e.g. WebSocket.
fn upgrade_protocol(headers: &http::HeaderMap) -> Option<HeaderValue> {
    let asks = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    if asks {
        headers.get(header::UPGRADE).cloned()
    } else {
        None
    }
}

/// After a 101, bytes flow both ways until either side closes.
async fn tunnel(client: hyper::upgrade::OnUpgrade, upstream: hyper::upgrade::OnUpgrade) {
    let (Ok(client), Ok(upstream)) = (client.await, upstream.await) else {
        tracing::debug!("upgrade abandoned by one side before it completed");
        return;
    };
    let mut client = hyper_util::rt::TokioIo::new(client);
    let mut upstream = hyper_util::rt::TokioIo::new(upstream);
    if let Err(error) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        tracing::debug!(%error, "upgraded connection closed with an error");
    }
}
