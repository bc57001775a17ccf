//! The admin listener: `/healthz`, `/readyz`, `/metrics`, `/policy`. Never on the data plane.
//!
//! `/readyz` is 200 once every issuer with `ready_gate` (the default) has loaded a key set;
//! its 503 body names the issuers still waiting.
//!
//! Bind it to loopback or a private interface: `/metrics` and `/policy` describe the deployment.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use http::header::CONTENT_TYPE;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::proxy::Gateway;
use crate::proxy::body::{self, Body};

/// Serves admin requests until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    registry: Arc<Registry>,
    mut shutdown: watch::Receiver<bool>,
) {
    let http = Arc::new(auto::Builder::new(TokioExecutor::new()));
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "admin accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = crate::proxy::server::stopped(&mut shutdown) => return,
        };
        let gateway = gateway.clone();
        let registry = registry.clone();
        let http = http.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let response = answer(&gateway, &registry, &request);
                async move { Ok::<_, Infallible>(response) }
            });
            if let Err(error) = http.serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(%error, "admin connection ended with an error");
            }
        });
    }
}

fn answer(gateway: &Gateway, registry: &Registry, request: &Request<Incoming>) -> Response<Body> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        );
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
            text(StatusCode::OK, "application/json", json.to_string())
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "text/plain",
            "admin endpoints: /healthz /readyz /metrics /policy\n".into(),
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
