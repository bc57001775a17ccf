//! A recording upstream on 127.0.0.1:0: it remembers every request it receives (method, target,
//! headers, body size) so tests can assert what the gateway forwarded, and it can misbehave on
//! request (header `x-test-behaviour`: `slow`, `reset`, `garbage`, and the mid-response faults
//! `head-then-close`, `partial-then-close`, `partial-then-stall`, and `stall`: no answer at all
//! until the gateway gives up) for fault tests. `switch` answers `101 Switching Protocols` to
//! `h2c` whatever was asked and then echoes bytes (the h2c-smuggling backend), and a request
//! carrying `Upgrade: echo` or `Upgrade: websocket` is answered with a 101 for that protocol and
//! echoed.
//!
//! Every behaviour but `slow` works on the raw socket and so only on a fresh connection; each of
//! them kills its connection, so a gateway that sends only misbehaving requests always opens a
//! fresh one.

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
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the mid-response faults declare in `Content-Length`, and how much of it they send.
pub const DECLARED_LEN: usize = 1000;
pub const PARTIAL_LEN: usize = 100;

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
    stalls: Arc<Stalls>,
    task: tokio::task::JoinHandle<()>,
}

/// Book-keeping for `partial-then-stall` connections.
struct Stalls {
    /// Bumped by `reset_stalled`: every connection stalled at that moment resets.
    release: tokio::sync::watch::Sender<u64>,
    /// Connections that have sent their partial body and are now stalling.
    stalling: std::sync::atomic::AtomicUsize,
    /// Stalled connections the gateway closed (the client gave up).
    closed_by_peer: std::sync::atomic::AtomicUsize,
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
        let stalls = Arc::new(Stalls {
            release: tokio::sync::watch::channel(0u64).0,
            stalling: Default::default(),
            closed_by_peer: Default::default(),
        });
        let stalling = stalls.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let recorder = recorder.clone();
                let starts = starts.clone();
                let stalling = stalling.clone();
                tokio::spawn(async move {
                    // `garbage` and `reset` need the raw socket: peek at the request head.
                    let mut head = [0u8; 4096];
                    let n = stream.peek(&mut head).await.unwrap_or(0);
                    let head = String::from_utf8_lossy(&head[..n]).to_ascii_lowercase();
                    if head.contains("x-test-behaviour: garbage") {
                        let _ = stream.write_all(b"this is not HTTP\r\n\r\n").await;
                        return;
                    }
                    if head.contains("x-test-behaviour: switch") {
                        switch_unasked(stream).await;
                        return;
                    }
                    if head.contains("x-test-behaviour: reset") {
                        // SO_LINGER 0: close with RST, the way a crashing upstream looks.
                        #[allow(deprecated)]
                        let _ = stream.set_linger(Some(Duration::ZERO));
                        drop(stream);
                        return;
                    }
                    for fault in [
                        "head-then-close",
                        "partial-then-close",
                        "partial-then-stall",
                        "stall",
                    ] {
                        if head.contains(&format!("x-test-behaviour: {fault}")) {
                            mid_response_fault(stream, fault, &stalling).await;
                            return;
                        }
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
            stalls,
            task,
        }
    }

    /// `partial-then-stall` connections currently stalling.
    pub fn stalling(&self) -> usize {
        self.stalls
            .stalling
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stalled connections the gateway has closed.
    pub fn stalls_closed_by_peer(&self) -> usize {
        self.stalls
            .closed_by_peer
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Resets (RST) every connection stalling at this moment.
    pub fn reset_stalled(&self) {
        self.stalls
            .release
            .send_modify(|generation| *generation += 1);
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Every request received since the last call, forgotten by the backend: long load tests
    /// check and drop them as they go, so the record does not grow with the run.
    pub fn take_seen(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }

    /// Requests whose head has arrived (their bodies may still be streaming).
    pub fn started(&self) -> usize {
        self.started.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The header `name` of the last request received, if it had one.
    pub fn last_header(&self, name: &str) -> Option<String> {
        self.last_all(name).into_iter().next()
    }

    /// Every value of the header `name` on the last request received, in order.
    pub fn last_all(&self, name: &str) -> Vec<String> {
        self.last()
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
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
        .is_some_and(|v| v == "echo" || v == "websocket")
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

/// Reads from `stream` until the end of a request head; `None` if the peer closed first.
pub async fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    Some(head)
}

/// `stall`: reads the request and answers nothing, until the gateway closes the connection
/// (unlike `slow`, which holds its connection for 30 s whatever the gateway does). Otherwise a
/// response head declaring `DECLARED_LEN` bytes, then:
/// - `head-then-close`: no body, and a clean close (FIN);
/// - `partial-then-close`: `PARTIAL_LEN` bytes of body, then FIN;
/// - `partial-then-stall`: `PARTIAL_LEN` bytes, then nothing until `Backend::reset_stalled`
///   (then RST) or until the gateway closes the connection.
async fn mid_response_fault(mut stream: TcpStream, fault: &str, stalls: &Stalls) {
    // Read the whole request head first: closing a socket with unread input sends RST, not FIN.
    if read_head(&mut stream).await.is_none() {
        return;
    }
    let mut buf = [0u8; 4096];
    if fault == "stall" {
        let _ = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf)).await;
        return;
    }
    // Subscribe before answering, so a release that follows the client seeing the head is
    // never missed.
    let mut release = stalls.release.subscribe();
    let mut answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {DECLARED_LEN}\r\n\r\n"
    )
    .into_bytes();
    if fault != "head-then-close" {
        answer.extend_from_slice(&[b'x'; PARTIAL_LEN]);
    }
    if stream.write_all(&answer).await.is_err() {
        return;
    }
    if fault == "partial-then-stall" {
        use std::sync::atomic::Ordering::SeqCst;
        stalls.stalling.fetch_add(1, SeqCst);
        tokio::select! {
            _ = release.changed() => {
                // SO_LINGER 0: close with RST, the way a crashing upstream looks.
                #[allow(deprecated)]
                let _ = stream.set_linger(Some(Duration::ZERO));
            }
            _ = stream.read(&mut buf) => {
                // EOF (or a reset): the gateway gave up on this connection.
                stalls.closed_by_peer.fetch_add(1, SeqCst);
            }
        }
        stalls.stalling.fetch_sub(1, SeqCst);
        return;
    }
    // A clean close: FIN, then wait for the gateway to close its side so nothing unread is left
    // to turn our close into a reset.
    let _ = stream.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await;
}

/// `switch`: reads the request head, answers 101 to `h2c` whether or not the request asked, then
/// echoes whatever arrives (a backend that accepts h2c and would take smuggled requests).
async fn switch_unasked(mut stream: TcpStream) {
    if read_head(&mut stream).await.is_none() {
        return;
    }
    let head = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
    if stream.write_all(head).await.is_err() {
        return;
    }
    let (mut reader, mut writer) = stream.split();
    let _ = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::io::copy(&mut reader, &mut writer),
    )
    .await;
}

/// Answers `Upgrade: echo` (or `websocket`) with 101 for that protocol and then echoes every byte
/// back on the upgraded connection.
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
    let protocol = request.headers()["upgrade"].clone();
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
        .header("upgrade", protocol)
        .body(Full::new(Bytes::new()))
        .unwrap()
}
