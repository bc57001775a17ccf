//! Starts a whole gateway in-process on 127.0.0.1:0 (data plane and admin), from a real
//! gateway.toml and policy file written to a temporary folder, and waits until it is ready.

use tempfile::TempDir;

/// The ClientCo policy as shipped (policies/clientco.yaml).
pub const CLIENTCO_POLICY: &str = include_str!("../../policies/clientco.yaml");

/// Routes beside the ClientCo contract in the policy most tests use: one of each optional kind.
const EXTRA_ROUTES: &str = r#"  - path: /public/**
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
  - path: /live
    methods: [GET]
    scopes: [read:forecast]
    websocket: true
"#;

/// The policy most tests use: the shipped ClientCo contract (with a 1 MiB body limit on
/// `/ingest`, for the body-limit tests) plus `EXTRA_ROUTES` and the scope they need.
pub fn test_policy() -> String {
    let mut policy = String::new();
    for line in CLIENTCO_POLICY.lines() {
        policy.push_str(line);
        policy.push('\n');
        if line.starts_with("permissions:") {
            policy.push_str("  read:shadow: A scope being rolled out\n");
        }
        if line.trim_start().starts_with("scopes: [ingest:data]") {
            policy.push_str("    max_body: \"1MiB\"\n");
        }
    }
    policy.push_str(EXTRA_ROUTES);
    policy
}

pub struct Options {
    pub issuer: String,
    pub jwks_url: String,
    pub upstream: String,
    pub policy: String,
    /// Extra lines appended to gateway.toml's [auth] section.
    pub auth_extra: String,
    /// Replaces the whole `[auth]` section (issuer, audience, jwks_url and `auth_extra`), e.g.
    /// with `[auth.issuers.NAME]` tables from `issuer_table`.
    pub auth: Option<String>,
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
    /// The defaults for a gateway in front of `backend`, trusting the development `issuer`.
    pub fn of(
        issuer: &gateway::dev::issuer::DevIssuer,
        backend: &super::backend::Backend,
    ) -> Options {
        Options::new(&issuer.issuer_url(), &issuer.jwks_url(), &backend.url())
    }

    /// The defaults: `issuer` with its `jwks_url`, `upstream`, `test_policy()`, 2 s/1 s
    /// upstream timeouts, waiting for /readyz.
    pub fn new(issuer: &str, jwks_url: &str, upstream: &str) -> Options {
        Options {
            issuer: issuer.to_owned(),
            jwks_url: jwks_url.to_owned(),
            upstream: upstream.to_owned(),
            policy: test_policy(),
            auth_extra: String::new(),
            auth: None,
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

impl Options {
    /// The gateway.toml these options describe (policy in `policy.yaml` beside it).
    pub fn toml(&self) -> String {
        let auth = self.auth.clone().unwrap_or_else(|| {
            format!(
                "[auth]\nissuer = \"{}\"\naudience = \"https://clientco/api\"\njwks_url = \"{}\"\n{}",
                self.issuer, self.jwks_url, self.auth_extra
            )
        });
        format!(
            r#"[server]
listen = "127.0.0.1:0"
{server_extra}
[admin]
listen = "127.0.0.1:0"

[upstream]
url = "{upstream}"
{upstream_extra}
{auth}
[policy]
file = "policy.yaml"
{tail}
"#,
            server_extra = self.server_extra,
            upstream = self.upstream,
            upstream_extra = self.upstream_extra,
            tail = self.tail,
        )
    }

    /// Writes gateway.toml and policy.yaml into `dir`; returns the gateway.toml path.
    pub fn write_to(&self, dir: &std::path::Path) -> std::path::PathBuf {
        std::fs::write(dir.join("policy.yaml"), &self.policy).unwrap();
        let config_path = dir.join("gateway.toml");
        std::fs::write(&config_path, self.toml()).unwrap();
        config_path
    }
}

impl TestGateway {
    /// Writes `options`' files to a temporary folder, starts the gateway library on them and
    /// (unless `wait_ready` is off) waits for /readyz.
    pub async fn start(options: Options) -> TestGateway {
        let dir = tempfile::tempdir().unwrap();
        let config_path = options.write_to(dir.path());
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
        wait_ready(&format!("{}/readyz", self.admin)).await
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

    /// The admin /metrics text, failing the test unless it contains `sample` (a label such as
    /// `reason="binding_mismatch"`, or a whole sample line).
    pub async fn expect_metric(&self, sample: &str) -> String {
        let metrics = self.metrics().await;
        assert!(metrics.contains(sample), "no {sample} in:\n{metrics}");
        metrics
    }
}

/// Polls `readyz` (a full URL) until it answers 200, within `wait::DEADLINE`.
pub async fn wait_ready(readyz: &str) {
    let client = reqwest::Client::new();
    super::wait::poll(
        "the gateway to become ready",
        super::wait::DEADLINE,
        || async {
            let response = client.get(readyz).send().await.ok()?;
            (response.status() == 200).then_some(())
        },
    )
    .await
}

/// An `[auth.issuers.NAME]` table for a development issuer (audience `https://clientco/api`),
/// with `extra` lines such as `ready_gate = false`.
pub fn issuer_table(name: &str, issuer: &gateway::dev::issuer::DevIssuer, extra: &str) -> String {
    format!(
        "[auth.issuers.{name}]\nissuer = \"{}\"\naudience = \"https://clientco/api\"\njwks_url = \"{}\"\n{extra}\n",
        issuer.issuer_url(),
        issuer.jwks_url()
    )
}

/// Sends raw bytes on a fresh TCP connection and returns everything the gateway answered
/// until it closed the connection (or 5 s passed, which fails the test).
pub async fn raw_http(addr: std::net::SocketAddr, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut answer),
    )
    .await;
    assert!(
        read.is_ok(),
        "the gateway neither answered nor closed within 5 s"
    );
    String::from_utf8_lossy(&answer).into_owned()
}

/// Sends `request` on a fresh HTTP/2 prior-knowledge connection to `addr` and returns the
/// answer with its body collected.
pub async fn h2_send(
    addr: std::net::SocketAddr,
    request: http::Request<http_body_util::Empty<bytes::Bytes>>,
) -> http::Response<bytes::Bytes> {
    use http_body_util::BodyExt;
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap_or_else(|e| panic!("no HTTP/2 connection to {addr}: {e}"));
    tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .unwrap_or_else(|e| panic!("no HTTP/2 answer from {addr}: {e}"));
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    http::Response::from_parts(parts, body)
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
