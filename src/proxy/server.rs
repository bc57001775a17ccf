//! Listeners: accepting connections, TLS (with ALPN and optional mTLS), HTTP/1.1 and HTTP/2,
//! connection limits, and the graceful drain on shutdown.
//!
//! hyper-util's auto builder serves both HTTP versions on one port (h2c by prior knowledge on
//! plain TCP, ALPN under TLS). The header read timeout closes slowloris clients; it also bounds
//! how long an idle keep-alive connection may wait for its next request (hyper starts it when it
//! begins reading a request head). HTTP/2 connections are pinged after `idle_timeout` and closed
//! when the ping goes unanswered. Every connection is read through `client_stream::ClientStream`
//! (opening-bytes deadline and the HTTP/1 framing watch), whose refusals the service consults
//! for each request it is handed.

use std::fs::File;
use std::io::BufReader;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use crate::config::{ServerConfig, TlsConfig};
use crate::constants::ACCEPT_BACKLOG;
use crate::proxy::client_stream::ClientStream;
use crate::proxy::framing::{Refusals, Scanner};
use crate::proxy::{ConnInfo, Gateway, pipeline};

/// Why the data plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
}

/// A bound data-plane listener, ready to serve.
pub struct DataPlane {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    http: auto::Builder<TokioExecutor>,
    max_connections: usize,
    header_read_timeout: Duration,
    drain_timeout: Duration,
    /// The largest request head hyper buffers; the framing watch's limit.
    head_limit: usize,
}

impl DataPlane {
    pub async fn bind(config: &ServerConfig) -> Result<DataPlane, ListenError> {
        let listener = listen(config.listen).map_err(|source| ListenError::Bind {
            addr: config.listen,
            source,
        })?;
        let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
        let head_limit = config.max_header_bytes.max(8192);
        let mut http = auto::Builder::new(TokioExecutor::new());
        http.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout)
            .max_buf_size(head_limit);
        http.http2()
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX))
            .keep_alive_interval(config.idle_timeout)
            .keep_alive_timeout(Duration::from_secs(20))
            .max_concurrent_streams(256);
        Ok(DataPlane {
            listener,
            tls,
            http,
            max_connections: config.max_connections,
            header_read_timeout: config.header_read_timeout,
            drain_timeout: config.drain_timeout,
            head_limit,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts until `shutdown` turns true, then stops accepting and lets in-flight requests
    /// finish for at most `drain_timeout`.
    pub async fn serve(self, gateway: Arc<Gateway>, mut shutdown: watch::Receiver<bool>) {
        let graceful = GracefulShutdown::new();
        let slots = Arc::new(Semaphore::new(self.max_connections));
        let http = Arc::new(self.http);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = stopped(&mut shutdown) => break,
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                gateway.requests.refused_connections.inc();
                tracing::warn!(
                    %peer,
                    max_connections = self.max_connections,
                    "connection refused: max_connections reached; raise [server] max_connections or add replicas"
                );
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let gateway = gateway.clone();
            let http = http.clone();
            let tls = self.tls.clone();
            let watcher = graceful.watcher();
            let handshake_timeout = self.header_read_timeout;
            let head_limit = self.head_limit;
            let requests = gateway.requests.clone();
            tokio::spawn(async move {
                requests.open_connections.inc();
                let conn = ConnInfo {
                    peer,
                    tls: tls.is_some(),
                    framing: None,
                    body_start_timeout: handshake_timeout,
                    client_cert: None,
                };
                let refusals = Arc::new(Refusals::default());
                let watched = refusals.clone();
                // hyper calls the service once per request, in order on HTTP/1.
                let service = move |conn: ConnInfo| {
                    service_fn(move |request| {
                        let gateway = gateway.clone();
                        let conn = ConnInfo {
                            framing: refusals.next_request(),
                            ..conn
                        };
                        async move {
                            Ok::<_, std::convert::Infallible>(
                                pipeline::handle(&gateway, conn, request).await,
                            )
                        }
                    })
                };
                let result = match tls {
                    None => {
                        let stream = ClientStream::new(
                            stream,
                            handshake_timeout,
                            Scanner::behind_hyper(head_limit),
                            watched,
                        );
                        let connection = http
                            .serve_connection_with_upgrades(TokioIo::new(stream), service(conn))
                            .into_owned();
                        watcher.watch(connection).await
                    }
                    Some(acceptor) => {
                        match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await
                        {
                            Ok(Ok(tls_stream)) => {
                                let session = tls_stream.get_ref().1;
                                let h2 = session.alpn_protocol() == Some(b"h2");
                                // RFC 8705 §3: certificate-bound tokens are checked against
                                // the SHA-256 of the client's end-entity certificate, computed
                                // once per connection.
                                let conn = ConnInfo {
                                    client_cert: session
                                        .peer_certificates()
                                        .and_then(|chain| chain.first())
                                        .map(|cert| {
                                            crate::auth::binding::certificate_thumbprint(
                                                cert.as_ref(),
                                            )
                                        }),
                                    ..conn
                                };
                                let scanner = if h2 {
                                    Scanner::off()
                                } else {
                                    Scanner::behind_hyper(head_limit)
                                };
                                let tls_stream = ClientStream::new(
                                    tls_stream,
                                    handshake_timeout,
                                    scanner,
                                    watched,
                                );
                                let connection = http
                                    .serve_connection_with_upgrades(
                                        TokioIo::new(tls_stream),
                                        service(conn),
                                    )
                                    .into_owned();
                                watcher.watch(connection).await
                            }
                            Ok(Err(error)) => Err(error.into()),
                            Err(_) => Err("TLS handshake timed out".into()),
                        }
                    }
                };
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
                drop(slot);
                requests.open_connections.dec();
            });
        }
        drop(self.listener);
        tracing::info!(
            open = graceful.count(),
            "stopped accepting; draining in-flight requests"
        );
        if tokio::time::timeout(self.drain_timeout, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                drain_timeout = ?self.drain_timeout,
                "drain timeout reached; closing the remaining connections"
            );
        }
    }
}

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does: a restart can bind while old connections sit in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// Builds the rustls acceptor: the configured certificate chain and key, ALPN h2 + http/1.1,
/// and with `client_ca` a verifier that requires client certificates signed by it.
fn tls_acceptor(config: &TlsConfig) -> Result<TlsAcceptor, ListenError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let certs = read_certs(&config.cert)?;
    let key = read_key(&config.key)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ListenError::Tls(e.to_string()))?;
    let builder = match &config.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in read_certs(ca)? {
                roots
                    .add(cert)
                    .map_err(|e| ListenError::Tls(format!("client_ca {}: {e}", ca.display())))?;
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .map_err(|e| ListenError::Tls(format!("client_ca {}: {e}", ca.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut server = builder.with_single_cert(certs, key).map_err(|e| {
        ListenError::Tls(format!(
            "tls_cert {} and tls_key {} do not form a usable pair: {e}",
            config.cert.display(),
            config.key.display()
        ))
    })?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(server)))
}

fn read_certs(path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, ListenError> {
    let file = File::open(path)
        .map_err(|e| ListenError::Tls(format!("cannot read {}: {e}", path.display())))?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut BufReader::new(file))
        .collect::<Result<_, _>>()
        .map_err(|e| ListenError::Tls(format!("{}: not PEM certificates: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(ListenError::Tls(format!(
            "{}: no PEM certificate found (expected -----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<rustls::pki_types::PrivateKeyDer<'static>, ListenError> {
    let file = File::open(path)
        .map_err(|e| ListenError::Tls(format!("cannot read {}: {e}", path.display())))?;
    rustls_pemfile::private_key(&mut BufReader::new(file))
        .map_err(|e| ListenError::Tls(format!("{}: not a PEM key: {e}", path.display())))?
        .ok_or_else(|| {
            ListenError::Tls(format!(
                "{}: no PEM private key found (PKCS#8, PKCS#1 or SEC1)",
                path.display()
            ))
        })
}

/// Resolves once `shutdown` is true (or its sender is gone).
pub async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow_and_update() {
            return;
        }
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}
