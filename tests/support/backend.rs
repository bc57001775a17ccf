//! A recording upstream on 127.0.0.1:0: it remembers every request it receives (method, target,
//! headers, body size) so tests can assert what the gateway forwarded, and it can misbehave on
//! request (header `x-test-behaviour`: `slow`, `reset`, `garbage`) for fault tests.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// One request as the backend saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    /// Path and query, exactly as received.
    pub target: String,
    pub headers: HeaderMap,
    pub body_len: u64,
}

pub struct Backend {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    started: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Backend {
    pub async fn start() -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorder = seen.clone();
        let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let starts = started.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let recorder = recorder.clone();
                let starts = starts.clone();
                tokio::spawn(async move {
                    // `garbage` and `reset` need the raw socket: peek at the request head.
                    let mut head = [0u8; 4096];
                    let n = stream.peek(&mut head).await.unwrap_or(0);
                    let head = String::from_utf8_lossy(&head[..n]).to_ascii_lowercase();
                    if head.contains("x-test-behaviour: garbage") {
                        let _ = stream.write_all(b"this is not HTTP\r\n\r\n").await;
                        return;
                    }
                    if head.contains("x-test-behaviour: reset") {
                        // SO_LINGER 0: close with RST, the way a crashing upstream looks.
                        #[allow(deprecated)]
                        let _ = stream.set_linger(Some(Duration::ZERO));
                        drop(stream);
                        return;
                    }
                    let service = service_fn(move |request| {
                        starts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        record(recorder.clone(), request)
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Backend {
            addr,
            seen,
            started,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests whose head has arrived (their bodies may still be streaming).
    pub fn started(&self) -> usize {
        self.started.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn last(&self) -> Seen {
        self.seen()
            .last()
            .cloned()
            .expect("the backend received no request")
    }
}

async fn record(
    seen: Arc<Mutex<Vec<Seen>>>,
    mut request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request
        .headers()
        .get("upgrade")
        .is_some_and(|v| v == "echo")
    {
        return Ok(echo_upgrade(&seen, &mut request));
    }
    let (parts, mut body) = request.into_parts();
    // Count the body as it streams; never buffer it.
    let mut body_len = 0u64;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    body_len += data.len() as u64;
                }
            }
            Err(_) => break,
        }
    }
    let behaviour = parts
        .headers
        .get("x-test-behaviour")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    seen.lock().unwrap().push(Seen {
        method: parts.method.clone(),
        target: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: parts.headers.clone(),
        body_len,
    });
    if behaviour == "slow" {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    let json = serde_json::json!({
        "path": parts.uri.path(),
        "subject": parts.headers.get("x-auth-subject").and_then(|v| v.to_str().ok()),
        "body_len": body_len,
    });
    let mut response = Response::new(Full::new(Bytes::from(json.to_string())));
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    Ok(response)
}

/// Answers `Upgrade: echo` with 101 and then echoes every byte back on the upgraded connection.
fn echo_upgrade(
    seen: &Arc<Mutex<Vec<Seen>>>,
    request: &mut Request<Incoming>,
) -> Response<Full<Bytes>> {
    seen.lock().unwrap().push(Seen {
        method: request.method().clone(),
        target: request.uri().to_string(),
        headers: request.headers().clone(),
        body_len: 0,
    });
    let upgrade = hyper::upgrade::on(request);
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrade.await {
            let (mut reader, mut writer) = tokio::io::split(TokioIo::new(upgraded));
            let _ = tokio::io::copy(&mut reader, &mut writer).await;
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("connection", "upgrade")
        .header("upgrade", "echo")
        .body(Full::new(Bytes::new()))
        .unwrap()
}
