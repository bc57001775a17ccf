//! The admin listener: `/healthz`, `/readyz`, `/metrics`, `/policy`, `/upstreams`, and with
//! `[forward.assertion]` the assertion keys at `/.well-known/jwks.json`. Never on the data plane.
//! Every path answers GET and HEAD only (405 with `Allow` otherwise), except the console's
//! forms.
//!
//! `/readyz` is 200 once every issuer with `ready_gate` (the default) has loaded a key set;
//! its 503 body names the issuers still waiting.
//!
//! `/upstreams` is every pool as JSON (`console::pools`, the gather the console's Upstreams
//! page and the pool metrics share): its balance, where its endpoints come from, in-flight and
//! `max_in_flight`, assertion audience, retries by reason, budget exhaustion, panic, and per
//! endpoint in-flight, ejected, ejections, healthy, checks and attempts by outcome.
//!
//! Bind it to loopback or a private interface: `/metrics`, `/policy` and `/upstreams` describe
//! the deployment. `GET /` and `/console/...` are the console (`crate::console`), which with
//! `/policy` and `/upstreams` answers only the admin listener's own `Host` names (421
//! otherwise, against DNS rebinding).
//!
//! It has the data plane's connection guards with smaller limits (`constants::ADMIN_*`): the
//! opening bytes and every request head must arrive within `ADMIN_HEADER_READ_TIMEOUT` (which
//! also closes idle HTTP/1 keep-alive connections), HTTP/2 connections are pinged after
//! `ADMIN_IDLE_TIMEOUT` of silence, and beyond `ADMIN_MAX_CONNECTIONS` open connections a new
//! one is closed at once with a warning, so idle or slowloris clients of the admin port cannot
//! hold the descriptors the data plane shares with it.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use http::header::{ALLOW, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::console::{self, Console};
use crate::constants::{
    ADMIN_HEADER_READ_TIMEOUT, ADMIN_IDLE_TIMEOUT, ADMIN_MAX_CONCURRENT_STREAMS,
    ADMIN_MAX_CONNECTIONS, ADMIN_MAX_HEADER_BYTES,
};
use crate::proxy::Gateway;
use crate::proxy::body::{self, Body};
use crate::proxy::client_stream::ClientStream;
use crate::proxy::framing::{Refusals, Scanner};

/// Serves admin requests until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    registry: Arc<Registry>,
    console: Arc<Console>,
    hosts: Arc<Vec<String>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let http = Arc::new(guarded_builder());
    let slots = Arc::new(Semaphore::new(ADMIN_MAX_CONNECTIONS));
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "admin accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = crate::proxy::server::stopped(&mut shutdown) => return,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(
                %peer,
                max_connections = ADMIN_MAX_CONNECTIONS,
                "admin connection refused: too many open admin connections"
            );
            drop(stream);
            continue;
        };
        let gateway = gateway.clone();
        let registry = registry.clone();
        let console = console.clone();
        let hosts = hosts.clone();
        let http = http.clone();
        // The address this connection reached (the concrete one when listening on 0.0.0.0).
        let local = stream.local_addr().unwrap_or(peer);
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let gateway = gateway.clone();
                let registry = registry.clone();
                let console = console.clone();
                let hosts = hosts.clone();
                async move {
                    let path = request.uri().path();
                    let guarded = GUARDED.contains(&path) || console::serves(path);
                    let response = if guarded && !console::host_allowed(&request, local, &hosts) {
                        console::misdirected()
                    } else if console::serves(path) {
                        console::answer(&console, &gateway, request).await
                    } else {
                        answer(&gateway, &registry, &console, &request)
                    };
                    Ok::<_, Infallible>(response)
                }
            });
            // The opening-bytes deadline: hyper-util's protocol detection has no timeout.
            let stream = ClientStream::new(
                stream,
                ADMIN_HEADER_READ_TIMEOUT,
                Scanner::off(),
                Arc::new(Refusals::default()),
            );
            if let Err(error) = http.serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(%error, "admin connection ended with an error");
            }
            drop(slot);
        });
    }
}

/// HTTP/1.1 and HTTP/2 with the admin limits: the request head within the header timeout (which
/// also bounds keep-alive idleness), HTTP/2 keep-alive pings, small head and stream limits.
fn guarded_builder() -> auto::Builder<TokioExecutor> {
    let mut http = auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(ADMIN_HEADER_READ_TIMEOUT)
        .max_buf_size(ADMIN_MAX_HEADER_BYTES);
    http.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(ADMIN_MAX_HEADER_BYTES).unwrap_or(u32::MAX))
        .keep_alive_interval(ADMIN_IDLE_TIMEOUT)
        .keep_alive_timeout(ADMIN_HEADER_READ_TIMEOUT)
        .max_concurrent_streams(ADMIN_MAX_CONCURRENT_STREAMS);
    http
}

/// Paths outside the console that answer only the admin listener's own `Host` names, as the
/// console does: they describe the deployment to whoever can make a browser ask for them.
const GUARDED: [&str; 2] = ["/policy", "/upstreams"];

fn answer(
    gateway: &Gateway,
    registry: &Registry,
    console: &Console,
    request: &Request<Incoming>,
) -> Response<Body> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        // RFC 9110 §15.5.6: a 405 lists the methods the resource supports.
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET or HEAD only: the admin endpoints are read-only\n".into(),
        );
        response
            .headers_mut()
            .insert(ALLOW, http::HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match request.uri().path() {
        "/healthz" => text(StatusCode::OK, "text/plain", "ok\n".into()),
        "/readyz" => {
            let waiting: Vec<&str> = gateway.auth.not_ready().collect();
            if waiting.is_empty() {
                text(StatusCode::OK, "text/plain", "ready\n".into())
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    format!(
                        "not ready: no JWKS key set has loaded yet for issuer {} (see the logs for the fetch error)\n",
                        waiting.join(", ")
                    ),
                )
            }
        }
        "/metrics" => {
            let mut out = String::new();
            match prometheus_client::encoding::text::encode(&mut out, registry) {
                Ok(()) => text(
                    StatusCode::OK,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    out,
                ),
                Err(_) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    "metrics encoding failed\n".into(),
                ),
            }
        }
        "/policy" => {
            let snapshot = gateway.snapshot.load();
            let loaded_at = snapshot
                .loaded_at
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let json = serde_json::json!({
                "file": snapshot.policy.source.display().to_string(),
                "sha256": snapshot.policy.sha256,
                "loaded_at_unix": loaded_at,
            });
            console::secured(text(StatusCode::OK, "application/json", json.to_string()))
        }
        "/upstreams" => {
            /// `{"upstreams": [...]}`, serialised straight from the views so their fields keep
            /// their documented order.
            #[derive(serde::Serialize)]
            struct Answer {
                upstreams: Vec<crate::telemetry::metrics::PoolView>,
            }
            let upstreams = console::pools(&gateway.upstreams, console.config());
            let json = serde_json::to_string(&Answer { upstreams })
                .unwrap_or_else(|_| "{\"upstreams\": []}".to_owned());
            console::secured(text(StatusCode::OK, "application/json", json))
        }
        "/.well-known/jwks.json" => match &gateway.snapshot.load().assertion {
            // RFC 7517 §8.5's media type; the current snapshot's keys, so a reload that
            // rotated them shows at once.
            Some(signer) => text(
                StatusCode::OK,
                "application/jwk-set+json",
                signer.jwks().to_owned(),
            ),
            None => text(
                StatusCode::NOT_FOUND,
                "text/plain",
                "no [forward.assertion] is configured, so the gateway signs nothing\n".into(),
            ),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            "text/plain",
            "admin endpoints: /healthz /readyz /metrics /policy /upstreams /.well-known/jwks.json, and the console at /\n".into(),
        ),
    }
}

fn text(status: StatusCode, content_type: &'static str, body_text: String) -> Response<Body> {
    let mut response = Response::new(body::full(body_text));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    response
}
