//! The demo backend: a stand-in for SaaSCo's FastAPI app that answers `/ingest`, `/forecast`,
//! `/inventory`, their per-tenant forms `/tenants/{tenant}/...`, and the internal `/models/train`
//! by echoing the identity the gateway forwarded in
//! `X-Auth-*` headers, so the demo can show what reached the backend and what never did.
//!
//! It trusts those headers blindly, exactly like the real backend does, which is only sound
//! because it listens on loopback and the gateway strips any client-sent `X-Auth-*` header.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The largest request body the demo backend reads (the gateway's policy caps /ingest anyway).
const MAX_BODY: usize = 1 << 20;

/// One request the backend received: method, path, and the identity headers it carried.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: Method,
    pub path: String,
    /// Every `x-auth-*` header, lower-cased name and value, in arrival order.
    pub identity: Vec<(String, String)>,
}

/// A running demo backend.
pub struct DemoBackend {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl DemoBackend {
    /// Binds `127.0.0.1:0` and serves until `shutdown`.
    pub async fn start() -> std::io::Result<DemoBackend> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(serve(listener, received.clone(), stopped));
        Ok(DemoBackend {
            addr,
            received,
            stop,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What the backend has received so far.
    pub fn received(&self) -> Vec<Received> {
        match self.received.lock() {
            Ok(list) => list.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn serve(
    listener: TcpListener,
    received: Arc<Mutex<Vec<Received>>>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let received = received.clone();
                connections.spawn(async move {
                    let service = service_fn(move |request| answer(request, received.clone()));
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
    connections.shutdown().await;
}

fn identity_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-auth-"))
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

async fn answer(
    request: Request<Incoming>,
    received: Arc<Mutex<Vec<Received>>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let identity = identity_headers(request.headers());
    let header = |name: &str| {
        identity
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let saw = json!({
        "subject": header("x-auth-subject"),
        "client_id": header("x-auth-client-id"),
        "scopes": header("x-auth-scopes"),
        "issuer": header("x-auth-issuer"),
    });
    let body_bytes = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes().len(),
        Err(_) => 0,
    };
    let record = Received {
        method: method.clone(),
        path: path.clone(),
        identity,
    };
    match received.lock() {
        Ok(mut list) => list.push(record),
        Err(poisoned) => poisoned.into_inner().push(record),
    }
    // `/tenants/{tenant}/forecast` is the forecast of that tenant (the gateway checked the caller
    // belongs to it); the rest of the match reads the endpoint.
    let (tenant, endpoint) = match path
        .strip_prefix("/tenants/")
        .and_then(|p| p.split_once('/'))
    {
        Some((tenant, endpoint)) => (Some(tenant.to_owned()), format!("/{endpoint}")),
        None => (None, path.clone()),
    };
    if let Some(tenant) = tenant {
        let known = matches!(endpoint.as_str(), "/ingest" | "/forecast" | "/inventory");
        let (status, body) = if known {
            (
                StatusCode::OK,
                json!({"endpoint": endpoint, "tenant": tenant, "saw": saw}),
            )
        } else {
            (
                StatusCode::NOT_FOUND,
                json!({"error": "not_found", "path": path}),
            )
        };
        let response = Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())));
        return Ok(response.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))));
    }
    let (status, body) = match (method.as_str(), path.as_str()) {
        ("POST", "/ingest") => (
            StatusCode::OK,
            json!({"endpoint": "/ingest", "accepted_bytes": body_bytes, "saw": saw}),
        ),
        ("GET" | "HEAD", "/forecast") => (
            StatusCode::OK,
            json!({"endpoint": "/forecast", "forecast": [{"week": 1, "units": 107}, {"week": 2, "units": 114}], "saw": saw}),
        ),
        ("GET" | "HEAD", "/inventory") => (
            StatusCode::OK,
            json!({"endpoint": "/inventory", "reorder": [{"sku": "SKU-1", "quantity": 40}], "saw": saw}),
        ),
        (_, "/models/train") => (
            // Reaching this through the gateway would be a policy failure; the demo checks it
            // never happens.
            StatusCode::OK,
            json!({"endpoint": "/models/train", "training": "started", "saw": saw}),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            json!({"error": "not_found", "path": path}),
        ),
    };
    let response = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())));
    Ok(response.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn echoes_and_records_the_identity_headers_it_receives() {
        let backend = DemoBackend::start().await.unwrap();
        let response = reqwest::Client::new()
            .get(format!("{}/forecast", backend.url()))
            .header("X-Auth-Client-Id", "clientco")
            .header("X-Auth-Scopes", "read:forecast")
            .header("Authorization", "Bearer not-recorded")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["saw"]["client_id"], "clientco");
        assert_eq!(body["saw"]["scopes"], "read:forecast");
        assert_eq!(body["saw"]["subject"], serde_json::Value::Null);

        let missing = reqwest::get(format!("{}/nowhere", backend.url()))
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);

        let received = backend.received();
        assert_eq!(received.len(), 2);
        assert_eq!(received[0].path, "/forecast");
        assert_eq!(
            received[0].identity,
            [
                ("x-auth-client-id".to_owned(), "clientco".to_owned()),
                ("x-auth-scopes".to_owned(), "read:forecast".to_owned())
            ]
        );
        backend.shutdown().await;
    }
}
