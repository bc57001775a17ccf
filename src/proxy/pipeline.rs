//! The request pipeline: the spec's decision list, top to bottom.
//!
//! `handle` runs `process` (phases 1-8, each a plain function returning
//! `Result<_, GatewayError>`), then `respond` (9) and `logging` (10). The numbering is the one
//! docs/architecture.md uses:
//!
//! 1. `well_formed`: 400 when the framing watch refused the request (both `Content-Length` and
//!    `Transfer-Encoding`) or its authority is missing, repeated or invalid (`proxy::host`:
//!    `Host`, the absolute-form target, HTTP/2's `:authority`), before anything else runs;
//! 2. `normalise` the path (400 on anything unsafe);
//! 3. `match_route`: the most specific route (only so that `public` routes can skip 4);
//! 4. `authenticate`: extract and verify the token, then its binding (DPoP proof, client
//!    certificate, `require_binding` / `binding:`) (401 / 400 / 503), unless public;
//! 5. `authorise`: `policy::decide` (404, 405, 403 restricted, 403 scope); the result is a
//!    `Permit`, which phases 6-8 require;
//! 6. `admit`: the per-client rate limit (429) and a declared body over `max_body` (413);
//! 7. `upstream_request_filter`: the route's pool (`upstream:`), the header rules and the
//!    upstream target (what the upstream receives, and what it never receives), whether the
//!    request is a WebSocket upgrade to tunnel (only on a route with `websocket: true`; any other
//!    upgrade is forwarded as a plain request), then the signed assertion bound to that target
//!    (with the pool's `aud`) when `[forward.assertion]` is set;
//! 8. `forward`: wait for the body's first frame (400/413 if it is malformed, without contacting
//!    the upstream), send through the pool (`max_in_flight`: 503; an endpoint per attempt, the
//!    safe retries), stream the answer back (502/504); a `101` is relayed only to the
//!    WebSocket upgrade the gateway forwarded, never to anything else (502);
//! 9. `respond`: an error becomes its response (`GatewayError::into_response`); every response
//!    carries the request id, and a 400 closes the connection;
//! 10. `logging`: the access/audit line and the request metrics, from what the phases recorded.
//!
//! Every non-public request is authenticated before the router says anything about it, so an
//! unauthenticated caller learns nothing about which paths exist.

use std::sync::Arc;
use std::time::Instant;

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;

use crate::assertion;
use crate::auth::binding::Presented;
use crate::auth::{self, AuthError, TokenSource};
use crate::identity::{Binding, Identity};
use crate::policy::{self, Decision, Route};
use crate::proxy::body::{self, Body};
use crate::proxy::error::GatewayError;
use crate::proxy::headers;
use crate::proxy::host;
use crate::proxy::upgrade::{self, UpgradeRequest};
use crate::proxy::upstream::Upstream;
use crate::proxy::{ConnInfo, Gateway, Snapshot};
use crate::telemetry::access_log::Line;
use crate::telemetry::decisions::{DecisionRecord, Decisions};
use crate::telemetry::{self, AccessRecord, RequestLabels, RequestSpan, UpstreamErrorLabels};

/// What the pipeline knows about one request as it goes: where it came from, its id, and the
/// audit record the phases fill in for `logging`.
pub struct Exchange {
    pub conn: ConnInfo,
    /// Kept if the client sent a sane one, generated otherwise; the upstream, the client and the
    /// log all see this one.
    pub request_id: HeaderValue,
    pub method: Method,
    /// The path as the client sent it (the log shows what was asked, not what was judged).
    pub raw_path: String,
    /// The request's authority as phase 1 validated it (`proxy::host`); `None` before phase 1
    /// and for an HTTP/1.0 request that named none. The only value `X-Forwarded-Host` carries.
    pub authority: Option<HeaderValue>,
    pub started: Instant,
    pub record: AccessRecord,
    /// The request's OpenTelemetry span, when tracing is on.
    pub trace: Option<RequestSpan>,
}

impl Exchange {
    pub fn new(conn: ConnInfo, request: &Request<Incoming>) -> Self {
        Self::from_head(conn, request.method(), request.uri(), request.headers())
    }

    /// The same from a request head's parts (benches build requests without a connection).
    pub fn from_head(
        conn: ConnInfo,
        method: &Method,
        uri: &http::Uri,
        headers: &http::HeaderMap,
    ) -> Self {
        Self {
            conn,
            request_id: headers::request_id(headers),
            method: method.clone(),
            raw_path: uri.path().to_owned(),
            authority: None,
            started: Instant::now(),
            record: AccessRecord::default(),
            trace: None,
        }
    }
}

/// Proof that a request passed authorisation: phases 6-8 cannot be reached without one.
pub struct Permit<'s> {
    route: &'s Route,
    /// `None` only on public routes.
    identity: Option<(Arc<Identity>, TokenSource)>,
    /// What the policy said: `Allow`, or a shadow-mode denial forwarded anyway (the signed
    /// assertion says so).
    decision: Decision,
    /// The denial's reason code when `decision` is a shadow denial.
    shadow_reason: Option<&'static str>,
}

/// Runs one request through the whole pipeline. Never fails: every error becomes a response.
pub async fn handle(
    gateway: &Gateway,
    conn: ConnInfo,
    request: Request<Incoming>,
) -> Response<Body> {
    let snapshot = gateway.snapshot.load_full();
    let mut exchange = Exchange::new(conn, &request);
    exchange.trace = (gateway.tracing.as_ref())
        .map(|tracing| tracing.request_span(request.method(), request.headers()));
    let result = process(gateway, &snapshot, &mut exchange, request).await;
    let response = respond(result, &mut exchange);
    logging(gateway, &mut exchange, response.status());
    response
}

/// Phases 1-8, in the spec's order.
async fn process(
    gateway: &Gateway,
    snapshot: &Snapshot,
    exchange: &mut Exchange,
    mut request: Request<Incoming>,
) -> Result<Response<Body>, GatewayError> {
    well_formed(exchange, &request)?;
    let path = normalise(&request)?;
    let route = match_route(snapshot, &path, request.method(), exchange);
    let identity = match route {
        Some(route) if route.public => None,
        _ => Some(authenticate(gateway, &request, route, &path, exchange).await?),
    };
    let permit = authorise(snapshot, route, request.method(), &path, identity, exchange)?;
    admit(gateway, &permit, &request).await?;
    let client_upgrade = request.extensions_mut().remove::<OnUpgrade>();
    let (mut parts, body) = request.into_parts();
    let outbound =
        upstream_request_filter(gateway, snapshot, exchange, &permit, &path, &mut parts)?;
    let client_upgrade = client_upgrade.filter(|_| outbound.tunnel);
    forward(
        gateway,
        &permit,
        outbound.pool,
        parts,
        body,
        client_upgrade,
        exchange,
    )
    .await
}

/// Phase 1, the request is malformed: its head carried both `Content-Length` and
/// `Transfer-Encoding` (RFC 9112 §6.1), which hyper would frame by the latter and let through
/// (`proxy::framing` saw it in the bytes hyper read), or its `Host` / target authority /
/// `:authority` is missing, repeated, invalid or contradictory (RFC 9112 §3.2, RFC 9113
/// §8.3.1; `proxy::host`). Records the validated authority for `X-Forwarded-Host`.
pub fn well_formed<B>(exchange: &mut Exchange, request: &Request<B>) -> Result<(), GatewayError> {
    if let Some(refusal) = exchange.conn.framing {
        return Err(GatewayError::BadRequest(refusal.message().to_owned()));
    }
    exchange.authority =
        host::request_authority(request.version(), request.uri(), request.headers())
            .map_err(|e| GatewayError::BadRequest(e.to_string()))?;
    Ok(())
}

/// Phase 2: RFC 3986 normalisation; the upstream receives exactly this path. `OPTIONS *` and
/// authority-form targets have no path to judge and are refused.
fn normalise(request: &Request<Incoming>) -> Result<String, GatewayError> {
    Ok(policy::normalise(request.uri().path())?)
}

/// Phase 3: the route that judges this method on this path, if any.
fn match_route<'s>(
    snapshot: &'s Snapshot,
    path: &str,
    method: &Method,
    exchange: &mut Exchange,
) -> Option<&'s Route> {
    let route = snapshot.policy.route_for(path, method);
    exchange.record.route = route.map(|r| r.pattern.clone());
    route
}

/// Phase 4: the token, extracted and verified, then held to its binding (`auth::binding`:
/// a bound token only with its key; `[auth] require_binding` and the route's `binding:`).
/// Runs before the router says anything; `route` is read only for its `binding:`.
async fn authenticate(
    gateway: &Gateway,
    request: &Request<Incoming>,
    route: Option<&Route>,
    path: &str,
    exchange: &mut Exchange,
) -> Result<(Arc<Identity>, TokenSource), GatewayError> {
    let demand = route.map_or(Binding::None, |route| route.binding);
    // RFC 9449 §7.1: the DPoP challenge when the request used DPoP or the route accepts it.
    let refused = |error: AuthError, source: Option<TokenSource>| match gateway
        .binder
        .challenge(source, demand)
    {
        Some(challenge) => GatewayError::Dpop { error, challenge },
        None => GatewayError::Auth(error),
    };
    let located = auth::locate(request.headers(), gateway.settings.token_cookie.as_deref())
        .map_err(|error| refused(error, None))?;
    let source = located.source;
    // A token the cache holds passed every check when it was verified, its syntax included:
    // a hit skips the syntax scan, which costs more than the lookup (docs/benchmarks.md).
    let (token, verification) = match gateway.auth.cached(located.bytes()) {
        Some(hit) => (located.bytes(), hit),
        None => {
            let token = located.check().map_err(|error| refused(error, None))?;
            // Boxed, as every path few requests take: an async fn's future is as large as
            // its largest path, and the request's future is moved whole (docs/benchmarks.md).
            let verification = Box::pin(gateway.auth.verify_fresh(token)).await;
            (token.as_bytes(), verification)
        }
    };
    exchange.record.issuer = verification.issuer;
    let identity = verification
        .result
        .map_err(|error| refused(error, Some(source)))?;
    exchange.record.subject = Some(identity.subject.clone());
    exchange.record.client_id = identity.client_id.clone();
    let presented = Presented {
        source,
        token,
        headers: request.headers(),
        method: request.method(),
        uri: request.uri(),
        path,
        tls: exchange.conn.tls,
        client_cert: exchange.conn.client_cert,
    };
    gateway
        .binder
        .check(&identity, &presented, demand)
        .await
        .map_err(|error| refused(error, Some(source)))?;
    Ok((identity, source))
}

/// Phase 5: `policy::decide`, the one decision (404, 405, 403 restricted, 403 scope). A route in
/// shadow mode records the denial and lets the request through.
pub fn authorise<'s>(
    snapshot: &'s Snapshot,
    route: Option<&'s Route>,
    method: &Method,
    path: &str,
    identity: Option<(Arc<Identity>, TokenSource)>,
    exchange: &mut Exchange,
) -> Result<Permit<'s>, GatewayError> {
    let caller = identity.as_ref().map(|(identity, _)| identity.as_ref());
    let denied = |denial| GatewayError::denied(denial, method, path, route);
    let decision = policy::decide(&snapshot.policy, route, method, path, caller).map_err(denied)?;
    let Some(route) = route else {
        // `decide` never allows a request no route matches.
        return Err(GatewayError::NoRoute {
            path: path.to_owned(),
        });
    };
    let mut shadow_reason = None;
    if let Decision::ShadowDeny(denial) = &decision {
        let error = denied(denial.clone());
        exchange.record.shadow_deny(error.refusal());
        shadow_reason = Some(error.reason());
        tracing::warn!(
            route = %route.pattern,
            subject = exchange.record.subject.as_deref().unwrap_or("-"),
            decision = "shadow_deny",
            reason = error.reason(),
            "shadow mode: request would be denied ({error}); forwarding anyway"
        );
    }
    Ok(Permit {
        route,
        identity,
        decision,
        shadow_reason,
    })
}

/// Phase 6, per-route admission: the client's rate limit (429; 503 `state_unavailable` when it
/// lives in Redis, Redis cannot answer and `[state] on_error = "deny"`) and a declared body
/// over `max_body` (413 without reading it). A chunked body over the limit is cut off while
/// streaming (phase 8). Only a route with `rate_limit` asks the limiter.
async fn admit(
    gateway: &Gateway,
    permit: &Permit<'_>,
    request: &Request<Incoming>,
) -> Result<(), GatewayError> {
    if let Some(limit) = permit.route.rate_limit {
        let identity = permit
            .identity
            .as_ref()
            .map(|(identity, _)| identity.as_ref());
        // Per issuer too: `clientco` at the staging tenant is not `clientco` at production.
        let key = crate::state::RateKey {
            issuer: identity.map_or("", |i| &*i.issuer_name),
            client: identity.map_or("anonymous", |i| {
                i.client_id.as_deref().unwrap_or(i.subject.as_str())
            }),
            route: &permit.route.pattern,
            methods: &permit.route.methods_key,
        };
        // Boxed: the Redis path's future would otherwise size every request's.
        match Box::pin(gateway.limiter.admit(&key, limit)).await {
            Ok(crate::state::Admission::Allowed) => {}
            Ok(crate::state::Admission::Limited(retry_after)) => {
                return Err(GatewayError::RateLimited {
                    route: permit.route.pattern.clone(),
                    retry_after,
                });
            }
            Err(error) => return Err(GatewayError::StateUnavailable(error.to_string())),
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

/// Where phase 7 aimed the request: the route's pool, and whether it is a WebSocket upgrade to
/// tunnel.
pub struct Outbound<'g> {
    pub pool: &'g Upstream,
    pub tunnel: bool,
}

/// Phase 7, what the upstream receives (proxy::headers has the rules and their order): the
/// request head is rewritten in place and aimed at the route's pool (`Host` is the endpoint's,
/// set per attempt in phase 8). Says whether the request is a WebSocket upgrade to tunnel
/// after a `101`: only on a route with `websocket: true`, for a
/// GET over HTTP/1.1 whose `Connection` asks to upgrade and whose `Upgrade` lists `websocket`
/// (RFC 6455 §4.1); it then goes upstream as `Upgrade: websocket` alone. Every other upgrade
/// (`h2c`, which RFC 9113 §3.1 deprecates, or WebSocket where the route did not opt in) loses
/// `Upgrade` and `HTTP2-Settings` with the other hop-by-hop headers and travels as a plain
/// request, as Envoy does without `upgrade_configs`.
pub fn upstream_request_filter<'g>(
    gateway: &'g Gateway,
    snapshot: &Snapshot,
    exchange: &Exchange,
    permit: &Permit<'_>,
    path: &str,
    parts: &mut http::request::Parts,
) -> Result<Outbound<'g>, GatewayError> {
    let pool = gateway.upstreams.pool(permit.route.upstream.as_deref())?;
    let tunnel = permit.route.websocket
        && parts.method == Method::GET
        && parts.version == Version::HTTP_11
        && upgrade::requested_upgrade(&parts.headers) == UpgradeRequest::WebSocket;
    let client_version = parts.version;
    let headers = &mut parts.headers;
    headers::strip_hop_by_hop(headers);
    headers::strip_identity(headers);
    if let Some(signer) = &snapshot.assertion {
        // Named like the assertion header: stripped like X-Auth-* (every copy, any case).
        headers.remove(signer.header());
    }
    if client_version >= Version::HTTP_2 {
        headers::join_cookie_crumbs(headers);
    }
    if !gateway.settings.forward_token {
        headers.remove(header::AUTHORIZATION);
    }
    // A DPoP proof is a credential for this hop only (RFC 9449 §4.3 bound it to our URI).
    headers.remove(auth::binding::DPOP);
    if let Some((identity, source)) = &permit.identity {
        if *source == TokenSource::Cookie
            && let Some(cookie) = &gateway.settings.token_cookie
        {
            headers::remove_cookie(headers, cookie);
        }
        // sub, azp and iss were checked at verification; a `[forward.claims]` value is only
        // known here. Either way the token is unusable: 401 invalid_token naming the claim.
        headers::set_identity(headers, identity, &snapshot.forward.claims)
            .map_err(|e| auth::AuthError::UnforwardableClaim(e.claim))?;
    }
    headers::append_forwarded(
        headers,
        exchange.conn.peer.ip(),
        if exchange.conn.tls { "https" } else { "http" },
        exchange.authority.clone(),
    );
    // After the hop-by-hop strip, so `Connection: X-Request-Id` cannot remove it: client, log
    // and backend always share the id.
    headers.insert(headers::X_REQUEST_ID, exchange.request_id.clone());
    if let Some(span) = &exchange.trace {
        span.propagate(headers);
    }
    if tunnel {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    }
    // The client's `Host` never reaches the upstream; each attempt sets its endpoint's.
    headers.remove(header::HOST);
    parts.uri = pool.target(path, parts.uri.query())?;
    if let Some(signer) = &snapshot.assertion {
        // `htp` is the path of the request line the upstream is about to receive.
        let binding = assertion::Binding {
            method: &parts.method,
            htp: parts.uri.path(),
            route: &permit.route.pattern,
            identity: permit.identity.as_ref().map(|(identity, _)| identity),
            shadow_deny: match permit.decision {
                Decision::ShadowDeny(_) => permit.shadow_reason,
                Decision::Allow => None,
            },
            audience: pool.assertion_audience(),
        };
        let value = signer
            .assertion(&binding, &snapshot.forward.claims)
            .map_err(|error| {
                tracing::error!(%error, "cannot sign the identity assertion; refusing to forward");
                GatewayError::AssertionFailed
            })?;
        parts.headers.insert(signer.header().clone(), value);
    }
    // The upstream connection is HTTP/1.1 whatever the client spoke.
    parts.version = Version::HTTP_11;
    Ok(Outbound { pool, tunnel })
}

/// Phase 8: send the rewritten request with its body and stream the answer back. After a `101`
/// to a request that asked to upgrade, bytes are tunnelled both ways.
async fn forward(
    gateway: &Gateway,
    permit: &Permit<'_>,
    pool: &Upstream,
    parts: http::request::Parts,
    incoming: Incoming,
    client_upgrade: Option<OnUpgrade>,
    exchange: &mut Exchange,
) -> Result<Response<Body>, GatewayError> {
    let max_body = permit.route.max_body;
    let request_body = match max_body {
        Some(limit) => body::from_client(http_body_util::Limited::new(
            incoming,
            usize::try_from(limit).unwrap_or(usize::MAX),
        )),
        None => body::from_client(incoming),
    };
    // A body malformed from its first bytes is refused before the head goes upstream; one that
    // goes bad later is cut off mid-stream (docs/security.md).
    let request_body = body::with_first_frame(request_body, exchange.conn.body_start_timeout)
        .await
        .map_err(
            |error| match error.downcast_ref::<body::ClientBodyError>() {
                Some(client) => GatewayError::from_client_body(client, max_body),
                None => GatewayError::BadRequest(error.to_string()),
            },
        )?;
    let sent = Instant::now();
    let outcome = pool
        .send(Request::from_parts(parts, request_body), max_body)
        .await;
    gateway
        .requests
        .upstream_duration
        .observe(sent.elapsed().as_secs_f64());
    exchange
        .record
        .upstream(pool.name(), outcome.endpoint, outcome.attempts);
    let mut response = outcome
        .result
        .inspect_err(|error| count_upstream_failure(gateway, error))?;
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        // RFC 9110 §15.2.2: the 101 names the protocol switched to; only the WebSocket upgrade
        // this gateway forwarded may be relayed (h2c smuggling needs an unrequested 101).
        let switched_to_websocket =
            upgrade::requested_upgrade(response.headers()) == UpgradeRequest::WebSocket;
        let refused = match client_upgrade {
            Some(client_upgrade) if switched_to_websocket => {
                let upstream_upgrade = hyper::upgrade::on(&mut response);
                tokio::spawn(tunnel(client_upgrade, upstream_upgrade));
                let (parts, _) = response.into_parts();
                return Ok(Response::from_parts(parts, body::empty()));
            }
            Some(_) => {
                "the upstream answered the WebSocket upgrade with 101 Switching Protocols to another protocol; not relayed"
            }
            None => {
                "the upstream answered 101 Switching Protocols to a request the gateway did not forward as an upgrade; not relayed"
            }
        };
        // Dropping the response closes that upstream connection: a 101 never returns to the pool.
        let error = GatewayError::UpstreamUnavailable(refused.to_owned());
        count_upstream_failure(gateway, &error);
        return Err(error);
    }
    let (mut parts, incoming) = response.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers);
    Ok(Response::from_parts(parts, body::stream(incoming)))
}

fn count_upstream_failure(gateway: &Gateway, error: &GatewayError) {
    let kind = match error {
        GatewayError::UpstreamTimeout(_) => "timeout",
        GatewayError::UpstreamUnavailable(_) => "unavailable",
        _ => return,
    };
    gateway
        .requests
        .upstream_errors
        .get_or_create(&UpstreamErrorLabels { kind })
        .inc();
}

/// Phase 9: the response the client gets. An error is recorded as the request's outcome and
/// turned into its response; every response carries the request id; whatever made a request
/// malformed may have left the connection's framing in doubt, so a 400 closes it.
fn respond(
    result: Result<Response<Body>, GatewayError>,
    exchange: &mut Exchange,
) -> Response<Body> {
    let mut response = match result {
        Ok(response) => response,
        Err(error) => {
            exchange.record.refused(error.refusal());
            error.into_response(exchange.request_id.to_str().unwrap_or("-"))
        }
    };
    response
        .headers_mut()
        .insert(headers::X_REQUEST_ID, exchange.request_id.clone());
    if response.status() == StatusCode::BAD_REQUEST {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Phase 10: the access/audit line, the request metrics and the span's end, written from the
/// record the phases filled in. Runs for every request, whatever its outcome. The line is only
/// queued here: `telemetry::log_writer` writes it off the request path.
fn logging(gateway: &Gateway, exchange: &mut Exchange, status: StatusCode) {
    let elapsed = exchange.started.elapsed();
    let span = exchange.trace.take();
    let record = &exchange.record;
    let status = status.as_u16();
    gateway
        .requests
        .requests
        .get_or_create(&RequestLabels {
            route: record.route.clone().unwrap_or_else(|| "none".to_owned()),
            method: telemetry::method_label(&exchange.method),
            decision: record.decision,
            reason: record.reason,
            status,
            issuer: record
                .issuer
                .clone()
                .unwrap_or_else(|| Arc::clone(&gateway.requests.no_issuer)),
        })
        .inc();
    gateway.requests.duration.observe(elapsed.as_secs_f64());
    let request_id = exchange.request_id.to_str().unwrap_or("-");
    gateway.decisions.count(record.decision);
    if let Some(log) = &gateway.access_log {
        log.log(&Line {
            request_id,
            method: exchange.method.as_str(),
            path: &exchange.raw_path,
            record,
            status,
            elapsed,
            trace_id: span.as_ref().map(RequestSpan::trace_id),
        });
    }
    if let Some(span) = span {
        span.finish(request_id, &exchange.raw_path, record, status);
    }
    if Decisions::kept(record.decision) {
        // Off the critical path: a bounded try_send to the collector (telemetry::decisions).
        // Last, so the path, route and client id move into the record rather than being copied.
        let request_id = request_id.to_owned();
        let record = &mut exchange.record;
        gateway.decisions.record(DecisionRecord {
            id: 0,
            at: std::time::SystemTime::now(),
            method: exchange.method.clone(),
            path: std::mem::take(&mut exchange.raw_path),
            route: record.route.take(),
            status,
            decision: record.decision,
            reason: record.reason,
            issuer: record.issuer.clone(),
            client_id: record.client_id.take(),
            request_id,
        });
    }
}

/// After a 101, bytes flow both ways until either side closes.
async fn tunnel(client: OnUpgrade, upstream: OnUpgrade) {
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
