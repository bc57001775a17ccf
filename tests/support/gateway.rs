//! Starts a whole gateway in-process on 127.0.0.1:0 (data plane and admin), from a real
//! gateway.toml and policy file written to a temporary folder, and waits until it is ready.

use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The policy most tests use: the ClientCo contract plus one route of each optional kind.
pub const TEST_POLICY: &str = r#"
permissions:
  ingest:data: ClientCo pushes data
  read:forecast: Retrieve demand forecast
  read:inventory: Retrieve inventory optimization
  read:shadow: A scope being rolled out
restrictions:
  no:execute_modeling: Modeling logic cannot be triggered manually
  no:modify_pipeline: Pipeline orchestration is internal only
routes:
  - path: /ingest
    methods: [POST]
    scopes: [ingest:data]
    max_body: "1MiB"
  - path: /forecast
    methods: [GET]
    scopes: [read:forecast]
  - path: /inventory
    methods: [GET]
    scopes: [read:inventory]
  - path: /models/**
    restricted: no:execute_modeling
  - path: /pipeline/**
    restricted: no:modify_pipeline
  - path: /public/**
    public: true
    methods: [GET]
  - path: /rollout/{item}
    methods: [GET]
    scopes: [read:shadow]
    mode: shadow
  - path: /limited
    methods: [GET]
    scopes: [read:forecast]
    rate_limit: {per_second: 1, burst: 2}
  - path: /stream
    methods: [POST]
    scopes: [ingest:data]
"#;

pub struct Options {
    pub issuer: String,
    pub jwks_url: String,
    pub upstream: String,
    pub policy: String,
    /// Extra lines appended to gateway.toml's [auth] section.
    pub auth_extra: String,
    /// Extra lines appended to gateway.toml's [server] section.
    pub server_extra: String,
    /// Extra lines appended to gateway.toml's [upstream] section.
    pub upstream_extra: String,
    /// Extra TOML sections appended at the end (e.g. `[forward.claims]`).
    pub tail: String,
    /// Wait for /readyz before returning.
    pub wait_ready: bool,
}

impl Options {
    pub fn new(issuer: &str, jwks_url: &str, upstream: &str) -> Options {
        Options {
            issuer: issuer.to_owned(),
            jwks_url: jwks_url.to_owned(),
            upstream: upstream.to_owned(),
            policy: TEST_POLICY.to_owned(),
            auth_extra: String::new(),
            server_extra: String::new(),
            upstream_extra: "request_timeout = \"2s\"\nconnect_timeout = \"1s\"\n".to_owned(),
            tail: String::new(),
            wait_ready: true,
        }
    }
}

pub struct TestGateway {
    running: Option<gateway::Running>,
    pub dir: TempDir,
    pub base: String,
    pub admin: String,
    pub addr: std::net::SocketAddr,
}

impl TestGateway {
    pub async fn start(options: Options) -> TestGateway {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("policy.yaml"), &options.policy).unwrap();
        let toml = format!(
            r#"[server]
listen = "127.0.0.1:0"
{server_extra}
[admin]
listen = "127.0.0.1:0"

[upstream]
url = "{upstream}"
{upstream_extra}
[auth]
issuer = "{issuer}"
audience = "https://clientco/api"
jwks_url = "{jwks_url}"
{auth_extra}
[policy]
file = "policy.yaml"
{tail}
"#,
            server_extra = options.server_extra,
            upstream = options.upstream,
            upstream_extra = options.upstream_extra,
            issuer = options.issuer,
            jwks_url = options.jwks_url,
            auth_extra = options.auth_extra,
            tail = options.tail,
        );
        let config_path = dir.path().join("gateway.toml");
        std::fs::write(&config_path, toml).unwrap();
        let config = gateway::config::Config::load(&config_path)
            .unwrap_or_else(|d| panic!("test config does not load:\n{d}"));
        let running = gateway::start(config).await.unwrap();
        let addr = running.data_addr();
        let gateway = TestGateway {
            base: format!("http://{}", running.data_addr()),
            admin: format!("http://{}", running.admin_addr()),
            addr,
            running: Some(running),
            dir,
        };
        if options.wait_ready {
            gateway.wait_ready().await;
        }
        gateway
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn running(&self) -> &gateway::Running {
        self.running.as_ref().unwrap()
    }

    /// Polls /readyz until 200, with a deadline.
    pub async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(response) = client.get(format!("{}/readyz", self.admin)).send().await
                && response.status() == 200
            {
                return;
            }
            assert!(Instant::now() < deadline, "gateway never became ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn shutdown(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }

    /// The admin /metrics text.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.admin))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

/// Polls `check` every 20 ms until it is true, failing after `timeout`.
pub async fn eventually<F: FnMut() -> bool>(timeout: Duration, what: &str, mut check: F) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends raw bytes on a fresh TCP connection and returns everything the gateway answered
/// until it closed the connection (or 5 s passed, which fails the test).
pub async fn raw_http(addr: std::net::SocketAddr, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    assert!(
        read.is_ok(),
        "the gateway neither answered nor closed within 5 s"
    );
    String::from_utf8_lossy(&answer).into_owned()
}

/// Claims of a normal ClientCo access token from `issuer` with `scope`.
pub fn claims(issuer: &str, scope: &str) -> serde_json::Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    serde_json::json!({
        "iss": issuer,
        "sub": "clientco@clients",
        "aud": "https://clientco/api",
        "azp": "clientco",
        "iat": now,
        "exp": now + 3600,
        "scope": scope,
        "gty": "client-credentials",
    })
}

/// A body of `len` zero bytes produced lazily in 64 KiB frames with no declared length, so it
/// travels chunked and nobody ever holds it whole.
pub struct Zeros {
    pub left: u64,
}

static ZEROS: [u8; 65536] = [0; 65536];

impl http_body::Body for Zeros {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        let n = self.left.min(ZEROS.len() as u64) as usize;
        self.left -= n as u64;
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(bytes::Bytes::from_static(
            &ZEROS[..n],
        )))))
    }
}
