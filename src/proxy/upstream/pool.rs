//! Upstream connections: a pool of HTTP/1.1 connections to one endpoint (an upstream pool of
//! endpoints holds one of these per endpoint).
//!
//! Each holds a single origin, so it is a stack of idle connections rather than
//! a map keyed by host (hyper-util's general client hashed the upstream's scheme and authority
//! twice per request and spawned a task per request to put the connection back). A connection
//! is taken for one request and given back when its response body has been read to the end,
//! which is the only moment an HTTP/1 connection is reusable; a body dropped early (the client
//! went away) or failing closes the connection instead, so a half-read response can never be
//! read as the next request's answer. The most recently used connection is taken first (LIFO):
//! it is the one least likely to have been closed by the upstream's keep-alive timeout.
//!
//! A request sent on a reused connection that turns out to be closed before any byte of the
//! request was written (the upstream's idle timeout raced us) is retried once per idle
//! connection and then on a fresh one, as hyper-util's `retry_canceled_requests` does; a
//! request that may have reached the upstream is never sent twice. A request that certainly was
//! not sent (no connection could be made, or the fresh connection closed before one byte of it
//! was written) is handed back with the error (`Failed::unsent`), so the caller may try it on
//! another endpoint whatever its method and body.

use std::error::Error as StdError;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use tower_service::Service;

use super::endpoint::Connect;
use crate::constants::UPSTREAM_POOL_MAX_IDLE;
use crate::proxy::body::Body;

type BoxError = Box<dyn StdError + Send + Sync>;

/// Why a request got no response head.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("cannot connect: {0}")]
    Connect(#[source] BoxError),
    #[error("connecting took longer than {0:?}")]
    ConnectTimeout(Duration),
    #[error("request failed: {0}")]
    Send(#[source] hyper::Error),
}

/// A request that got no response head: why, and the request itself when not one byte of it
/// was sent.
pub struct Failed {
    pub error: SendError,
    pub unsent: Option<Request<Body>>,
}

impl std::fmt::Debug for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Failed")
            .field("error", &self.error)
            .field("unsent", &self.unsent.is_some())
            .finish()
    }
}

/// The upstream stopped sending a response body for longer than the read timeout.
#[derive(Debug, thiserror::Error)]
#[error("the upstream sent nothing for {0:?} in the middle of a response body")]
pub struct BodyStalled(pub Duration);

pub struct Pool {
    connector: HttpsConnector<HttpConnector<Connect>>,
    /// Where to connect (scheme and authority only; requests carry origin-form targets).
    origin: Uri,
    connect_timeout: Duration,
    /// The longest wait for the next piece of a response body (nginx's `proxy_read_timeout`).
    read_timeout: Duration,
    idle_timeout: Duration,
    idle: Mutex<Vec<Idle>>,
}

struct Idle {
    sender: http1::SendRequest<Body>,
    since: Instant,
}

impl Pool {
    /// A pool for `origin` (scheme and authority), connecting where `connect` says.
    /// `connect_timeout` bounds TCP and TLS
    /// together, `read_timeout` each wait for more of a response body; idle connections older
    /// than `idle_timeout` are closed rather than reused.
    pub fn new(
        origin: Uri,
        connect: Connect,
        connect_timeout: Duration,
        read_timeout: Duration,
        idle_timeout: Duration,
    ) -> Result<Arc<Self>, rustls::Error> {
        let mut http = HttpConnector::new_with_resolver(connect);
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(Arc::new(provider))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Arc::new(Self {
            connector,
            origin,
            connect_timeout,
            read_timeout,
            idle_timeout,
            idle: Mutex::new(Vec::new()),
        }))
    }

    /// A second, empty pool to the same origin, with `read_timeout` for its bodies: the
    /// health checks' own connections, so a check never takes or gives back a connection a
    /// client's request would use (as Envoy's health checker keeps its own).
    pub fn twin(&self, read_timeout: Duration) -> Arc<Pool> {
        Arc::new(Self {
            connector: self.connector.clone(),
            origin: self.origin.clone(),
            connect_timeout: self.connect_timeout,
            read_timeout,
            idle_timeout: self.idle_timeout,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Sends `request` (origin-form target, `Host` set) and waits for the response head. The
    /// response body gives the connection back to the pool when it has been read to the end.
    pub async fn send(
        self: &Arc<Self>,
        mut request: Request<Body>,
    ) -> Result<Response<PooledBody>, Failed> {
        loop {
            let (mut sender, reused) = match self.checkout().await {
                Some(sender) => (sender, true),
                // Boxed: a new connection's future (TCP, TLS, handshake) is most of this
                // one's size, and the pooled path is the usual one.
                None => match Box::pin(self.connect()).await {
                    Ok(sender) => (sender, false),
                    Err(error) => {
                        return Err(Failed {
                            error,
                            unsent: Some(request),
                        });
                    }
                },
            };
            match sender.try_send_request(request).await {
                Ok(response) => return Ok(self.attach(response, sender)),
                Err(mut error) => match error.take_message() {
                    // Not one byte was written: the connection was already closing.
                    Some(unsent) if reused => request = unsent,
                    unsent => {
                        return Err(Failed {
                            error: SendError::Send(error.into_error()),
                            unsent,
                        });
                    }
                },
            }
        }
    }

    /// The most recently returned connection that is still open, ready for a request.
    async fn checkout(&self) -> Option<http1::SendRequest<Body>> {
        loop {
            let idle = self.lock().pop()?;
            if idle.since.elapsed() > self.idle_timeout || idle.sender.is_closed() {
                continue;
            }
            let mut sender = idle.sender;
            // A returned connection becomes ready once its task has seen the end of the last
            // response, which happens at its next poll; a closed one fails here at once.
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    async fn connect(&self) -> Result<http1::SendRequest<Body>, SendError> {
        let connecting = async {
            let mut connector = self.connector.clone();
            std::future::poll_fn(|cx| connector.poll_ready(cx))
                .await
                .map_err(SendError::Connect)?;
            let io = connector
                .call(self.origin.clone())
                .await
                .map_err(SendError::Connect)?;
            http1::handshake(io).await.map_err(SendError::Send)
        };
        let (sender, connection) = tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| SendError::ConnectTimeout(self.connect_timeout))??;
        tokio::spawn(async move {
            if let Err(error) = connection.with_upgrades().await {
                tracing::debug!(%error, "upstream connection closed with an error");
            }
        });
        Ok(sender)
    }

    fn attach(
        self: &Arc<Self>,
        response: Response<Incoming>,
        sender: http1::SendRequest<Body>,
    ) -> Response<PooledBody> {
        // After a 101 the connection belongs to the upgraded stream, never to the pool.
        let sender = (response.status() != StatusCode::SWITCHING_PROTOCOLS).then_some(sender);
        response.map(|body| PooledBody {
            body,
            sender,
            pool: self.clone(),
            stall: None,
        })
    }

    fn put(&self, sender: http1::SendRequest<Body>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.lock();
        if idle.len() < UPSTREAM_POOL_MAX_IDLE {
            idle.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        // The vector stays consistent whatever panicked while holding the lock.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Idle connections held now.
    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.lock().len()
    }
}

/// A response body that gives its connection back to the pool once read to the end, and fails
/// when the upstream stops sending it for longer than the read timeout (a stalled upstream must
/// not hold the client's connection, and its own, forever).
pub struct PooledBody {
    body: Incoming,
    /// `None` once given back, or when the connection must not be reused.
    sender: Option<http1::SendRequest<Body>>,
    pool: Arc<Pool>,
    /// Armed the first time the body has to wait (most bodies arrive with their head and never
    /// do), re-armed after every frame.
    stall: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl std::fmt::Debug for PooledBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledBody")
            .field("body", &self.body)
            .field("returns_connection", &self.sender.is_some())
            .finish_non_exhaustive()
    }
}

impl PooledBody {
    /// A response that has nothing left to read frees its connection (hyper may drop a body it
    /// knows to be empty without polling it: HEAD, 204, 304, `Content-Length: 0`).
    fn release_if_done(&mut self) {
        if self.body.is_end_stream()
            && let Some(sender) = self.sender.take()
        {
            self.pool.put(sender);
        }
    }
}

impl HttpBody for PooledBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => {
                if let Some(sender) = this.sender.take() {
                    this.pool.put(sender);
                }
            }
            Poll::Ready(Some(Err(_))) => this.sender = None,
            Poll::Ready(Some(Ok(_))) => {
                if let Some(stall) = &mut this.stall {
                    let deadline = tokio::time::Instant::now() + this.pool.read_timeout;
                    stall.as_mut().reset(deadline);
                }
                this.release_if_done();
            }
            Poll::Pending => {
                let limit = this.pool.read_timeout;
                let stall = this
                    .stall
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                if stall.as_mut().poll(cx).is_ready() {
                    // The connection is mid-response: it goes with this body, never back.
                    this.sender = None;
                    return Poll::Ready(Some(Err(Box::new(BodyStalled(limit)))));
                }
            }
        }
        polled.map(|frame| frame.map(|result| result.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        // Dropped before the end: the sender goes with it and hyper closes the connection.
        self.release_if_done();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A raw HTTP/1.1 upstream that counts the connections it accepts and answers by path:
    /// `/ok` keep-alive, `/empty` 204, `/partial` half a body then silence, `/close` an answer
    /// and then a close without `Connection: close` (what an idle timeout looks like).
    async fn upstream() -> (Uri, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}/", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    loop {
                        let mut chunk = [0u8; 1024];
                        let Ok(n) = stream.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buffer.extend_from_slice(&chunk[..n]);
                        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
                        buffer.drain(..end + 4);
                        let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        match path.as_str() {
                            "/empty" => {
                                stream
                                    .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                                    .await
                                    .unwrap();
                            }
                            "/partial" => {
                                stream
                                    .write_all(
                                        b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789",
                                    )
                                    .await
                                    .unwrap();
                            }
                            "/close" => {
                                stream.write_all(ok).await.unwrap();
                                return;
                            }
                            _ => stream.write_all(ok).await.unwrap(),
                        }
                    }
                });
            }
        });
        (origin, accepted)
    }

    fn pool(origin: Uri) -> Arc<Pool> {
        Pool::new(
            origin,
            Connect::System(hyper_util::client::legacy::connect::dns::GaiResolver::new()),
            Duration::from_secs(5),
            Duration::from_millis(300),
            Duration::from_secs(90),
        )
        .unwrap()
    }

    fn get(path: &str) -> Request<Body> {
        Request::get(path)
            .header(http::header::HOST, "upstream")
            .body(crate::proxy::body::empty())
            .unwrap()
    }

    async fn text(response: Response<PooledBody>) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_connection_is_reused_once_its_response_was_read() {
        let (origin, accepted) = upstream().await;
        let pool = pool(origin);
        for _ in 0..5 {
            assert_eq!(text(pool.send(get("/ok")).await.unwrap()).await, "ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(pool.idle_count(), 1);
    }

    #[tokio::test]
    async fn a_response_without_a_body_frees_its_connection_unpolled() {
        let (origin, accepted) = upstream().await;
        let pool = pool(origin);
        for _ in 0..3 {
            let response = pool.send(get("/empty")).await.unwrap();
            assert_eq!(response.status(), StatusCode::NO_CONTENT);
            drop(response);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_body_dropped_half_read_closes_its_connection() {
        let (origin, accepted) = upstream().await;
        let pool = pool(origin);
        let mut body = pool.send(get("/partial")).await.unwrap().into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&first[..], b"0123456789");
        drop(body);
        assert_eq!(pool.idle_count(), 0);
        // The next request must not be answered by the rest of the old response.
        assert_eq!(text(pool.send(get("/ok")).await.unwrap()).await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_upstream_closing_idle_connections_costs_no_request() {
        let (origin, accepted) = upstream().await;
        let pool = pool(origin);
        for _ in 0..20 {
            assert_eq!(text(pool.send(get("/close")).await.unwrap()).await, "ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 20);
    }

    #[tokio::test]
    async fn a_body_that_stalls_fails_after_the_read_timeout_and_is_not_reused() {
        let (origin, accepted) = upstream().await;
        let pool = pool(origin);
        let mut body = pool.send(get("/partial")).await.unwrap().into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&first[..], b"0123456789");
        let stalled = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("a stalled body must fail, not wait forever")
            .unwrap()
            .unwrap_err();
        assert!(stalled.is::<BodyStalled>(), "{stalled}");
        drop(body);
        assert_eq!(text(pool.send(get("/ok")).await.unwrap()).await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn refused_and_unreachable_are_connect_errors() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin: Uri = format!("http://{}/", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        drop(listener);
        let failed = pool(origin).send(get("/ok")).await.unwrap_err();
        assert!(matches!(failed.error, SendError::Connect(_)), "{failed:?}");
        assert!(
            failed.unsent.is_some(),
            "nothing was sent, so the request comes back"
        );
    }
}
