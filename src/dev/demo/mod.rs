//! `gateway demo` in library form: the whole product on loopback, in one process.
//!
//! [`Demo::start`] starts the embedded development issuer (`crate::dev::issuer`, for development
//! only: loopback, in-memory key, mints tokens for the demo clients), the demo backend
//! (`backend`), and a real gateway (`crate::start`) configured against both from a
//! `gateway.toml` and a policy file written to a private temporary folder, exactly as an operator
//! would write them. [`Demo::sample_calls`] then makes the seven calls of the first five minutes
//! (`calls`) and reports what actually happened; nothing is hard-coded but the expectations.
//! [`Demo::tenant_calls`] then shows tenant isolation with Auth0 Organizations: ClientCo is an
//! Organization of the issuer, the clients' credentials name it (`organization`), so their
//! tokens carry its `org_id`, and the policy's `when:` condition refuses a call for another
//! Organization's path.
//!
//! Two tenants, as real Auth0 deployments have: the production issuer (`prod`) and a second
//! development issuer standing for the staging tenant (`staging`), each `[auth.issuers.NAME]`
//! in the demo's gateway.toml. The ClientCo routes accept production tokens only
//! (`issuers: [prod]`), and [`Demo::issuer_calls`] shows a staging token, valid and granting
//! every ClientCo scope, refused on one.
//! Beside the credentials it writes the httpyac environment that runs ClientCo's kit,
//! `clientco/sample_requests.http`, against this demo (`kit`).
//!
//! Everything listens on `127.0.0.1:0`, so several demos (and the test suite) can run at once.

pub mod backend;
pub mod bound;
pub mod calls;
pub mod kit;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::Diagnostics;
use crate::dev::issuer::{DevClient, DevIssuer, DevIssuerConfig, DevIssuerError, DevOrganization};
use crate::oauth::Credentials;

pub use backend::DemoBackend;
pub use calls::Outcome;

/// The API identifier the demo issues tokens for, as in the Auth0 running example.
pub const AUDIENCE: &str = "https://clientco/api";

/// The ClientCo trust boundary the demo gateway enforces: the repository's multi-tenant policy
/// file (the ClientCo routes plus per-tenant paths), compiled in so the demo runs from any folder
/// and never drifts from what ships.
pub const POLICY: &str = include_str!("../../../policies/clientco-tenants.yaml");

/// The claim the policy's tenant conditions read (Auth0 Organizations), and the demo clients'
/// Organization: its id (the token's `org_id`, the tenant in the path) and its name (what the
/// credentials files ask for; Auth0 takes either).
pub const TENANT_CLAIM: &str = "org_id";
pub const TENANT: &str = "org_clientco";
pub const TENANT_NAME: &str = "clientco";
/// Another SaaSCo customer's Organization: no demo client may use it.
pub const OTHER_TENANT: &str = "org_globex";

/// The staging tenant's machine-to-machine client: every ClientCo scope, wrong tenant.
pub const STAGING_CLIENT: &str = "clientco-staging";

/// `POLICY` with every scoped route limited to production tokens (`issuers: [prod]`): what
/// the demo gateway enforces.
pub fn demo_policy() -> String {
    let mut policy = String::new();
    for line in POLICY.lines() {
        policy.push_str(line);
        policy.push('\n');
        if line.starts_with("    scopes: [") {
            policy.push_str(
                "    issuers: [prod]                  # staging tokens never work here\n",
            );
        }
    }
    policy
}

/// A demo client: its credentials file (the shape `gateway token` reads) and what it may do.
#[derive(Debug, Clone)]
pub struct DemoClient {
    pub credentials: Credentials,
    pub scopes: Vec<&'static str>,
    /// Where its credentials file was written (mode 0600).
    pub credentials_file: PathBuf,
}

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("development issuer: {0}")]
    Issuer(#[from] DevIssuerError),
    #[error("demo backend: cannot listen on 127.0.0.1: {0}")]
    Backend(std::io::Error),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot generate a client secret: the system random source failed")]
    Random,
    #[error("the demo's generated configuration does not load (a bug, please report it):\n{0}")]
    Config(Diagnostics),
    #[error("the gateway did not start: {0}")]
    Start(#[from] crate::proxy::StartError),
    #[error(
        "the gateway did not load the development issuer's keys within {0:?}; see the log lines above"
    )]
    NotReady(Duration),
}

/// A running demo.
pub struct Demo {
    /// The production tenant's issuer (`[auth.issuers.prod]`).
    pub issuer: DevIssuer,
    /// The staging tenant's issuer (`[auth.issuers.staging]`): its own keys and clients.
    pub staging: DevIssuer,
    /// `clientco-staging`, a client of the staging tenant.
    pub staging_client: DemoClient,
    pub backend: DemoBackend,
    pub gateway: crate::Running,
    /// Private folder with gateway.toml, policy.yaml and the clients' credentials files.
    pub dir: PathBuf,
    /// `clientco` (all three ClientCo scopes) and `clientco-readonly` (read:forecast only).
    pub clients: Vec<DemoClient>,
    /// The `demo` environment of ClientCo's kit, in `dir` (see [`kit`]).
    pub httpyac_env_file: PathBuf,
}

impl Demo {
    /// Starts issuer, backend and gateway, and waits until the gateway has the issuer's keys.
    pub async fn start() -> Result<Demo, DemoError> {
        let dir = private_dir()?;
        match Self::start_in(dir.clone()).await {
            Ok(demo) => Ok(demo),
            Err(error) => {
                // The folder holds client secrets: never leave it behind.
                let _ = std::fs::remove_dir_all(&dir);
                Err(error)
            }
        }
    }

    async fn start_in(dir: PathBuf) -> Result<Demo, DemoError> {
        let specs: [(&str, Vec<&'static str>); 2] = [
            (
                "clientco",
                vec!["ingest:data", "read:forecast", "read:inventory"],
            ),
            ("clientco-readonly", vec!["read:forecast"]),
        ];
        let mut dev_clients = Vec::new();
        let mut secrets = Vec::new();
        for (client_id, scopes) in &specs {
            let secret = random_secret()?;
            dev_clients.push(DevClient {
                client_id: (*client_id).to_owned(),
                client_secret: secret.clone(),
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            });
            secrets.push(secret);
        }
        // What an Auth0 Action (docs/getting-started.md) adds from each application's metadata:
        // the regions its data may be held in, which the inventory route's condition reads.
        let client_claims = specs
            .iter()
            .map(|(client_id, _)| {
                let mut claims = serde_json::Map::new();
                claims.insert(
                    "https://saasco/regions".to_owned(),
                    serde_json::json!(["eu"]),
                );
                ((*client_id).to_owned(), claims)
            })
            .collect();
        // ClientCo's Organization, which both ClientCo applications may use, and another
        // customer's, which none may.
        let organizations = vec![
            DevOrganization {
                id: TENANT.to_owned(),
                name: TENANT_NAME.to_owned(),
                clients: specs.iter().map(|(id, _)| (*id).to_owned()).collect(),
            },
            DevOrganization {
                id: OTHER_TENANT.to_owned(),
                name: "globex".to_owned(),
                clients: Vec::new(),
            },
        ];
        let issuer = DevIssuer::start(DevIssuerConfig {
            audience: AUDIENCE.to_owned(),
            clients: dev_clients,
            client_claims,
            organizations,
            ..DevIssuerConfig::default()
        })
        .await?;

        let mut clients = Vec::new();
        for ((client_id, scopes), secret) in specs.into_iter().zip(secrets) {
            let organization = Some(TENANT_NAME);
            clients.push(demo_client(
                &dir,
                &issuer,
                client_id,
                secret,
                scopes,
                organization,
            )?);
        }
        let staging_scopes = vec!["ingest:data", "read:forecast", "read:inventory"];
        let staging_secret = random_secret()?;
        let staging = DevIssuer::start(DevIssuerConfig {
            audience: AUDIENCE.to_owned(),
            clients: vec![DevClient {
                client_id: STAGING_CLIENT.to_owned(),
                client_secret: staging_secret.clone(),
                scopes: staging_scopes.iter().map(|s| (*s).to_owned()).collect(),
            }],
            ..DevIssuerConfig::default()
        })
        .await?;
        let staging_client = demo_client(
            &dir,
            &staging,
            STAGING_CLIENT,
            staging_secret,
            staging_scopes,
            None,
        )?;

        let backend = DemoBackend::start().await.map_err(DemoError::Backend)?;
        let config_file = dir.join("gateway.toml");
        write_private(&dir.join("policy.yaml"), &demo_policy())?;
        write_private(
            &config_file,
            &gateway_toml(&issuer, &staging, &backend.url()),
        )?;
        let config = crate::load::config(&config_file).map_err(DemoError::Config)?;
        let gateway = crate::start(config).await?;
        let api_url = format!("http://{}", gateway.data_addr());
        let httpyac_env_file = match kit::write(&dir, &api_url, &issuer.token_url(), &clients) {
            Ok(path) => path,
            Err(error) => {
                gateway.shutdown().await;
                backend.shutdown().await;
                issuer.shutdown().await;
                staging.shutdown().await;
                return Err(error);
            }
        };

        let demo = Demo {
            issuer,
            staging,
            staging_client,
            backend,
            gateway,
            dir,
            clients,
            httpyac_env_file,
        };
        if let Err(error) = demo.wait_ready(Duration::from_secs(10)).await {
            demo.shutdown().await;
            return Err(error);
        }
        Ok(demo)
    }

    /// Polls the gateway's readiness (JWKS loaded) until `timeout`.
    async fn wait_ready(&self, timeout: Duration) -> Result<(), DemoError> {
        let deadline = Instant::now() + timeout;
        while !self.gateway.gateway().auth.is_ready() {
            if Instant::now() > deadline {
                return Err(DemoError::NotReady(timeout));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// `http://127.0.0.1:PORT`: the gateway's data plane.
    pub fn gateway_url(&self) -> String {
        format!("http://{}", self.gateway.data_addr())
    }

    /// The command that runs ClientCo's kit against this demo with httpyac, from the repository
    /// root.
    pub fn httpyac_command(&self) -> String {
        kit::httpyac_command(&self.httpyac_env_file)
    }

    /// `http://127.0.0.1:PORT`: the gateway's admin listener.
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.gateway.admin_addr())
    }

    /// The demo client named `client_id`.
    pub fn client(&self, client_id: &str) -> Option<&DemoClient> {
        self.clients
            .iter()
            .find(|c| c.credentials.client_id == client_id)
    }

    /// Runs the seven sample calls and returns what happened.
    pub async fn sample_calls(&self) -> Vec<Outcome> {
        calls::run(self).await
    }

    /// The tenant-isolation calls (own tenant allowed, another tenant refused), numbered from
    /// `first`.
    pub async fn tenant_calls(&self, first: usize) -> Vec<Outcome> {
        calls::tenants(self, first).await
    }

    /// The two-issuer call: a staging token on a production route, numbered `first`.
    pub async fn issuer_calls(&self, first: usize) -> Vec<Outcome> {
        calls::issuers(self, first).await
    }

    /// Runs the DPoP-bound token calls (a bound token used with its key, then stolen), numbered
    /// from `first`.
    pub async fn bound_calls(&self, first: usize) -> Vec<Outcome> {
        bound::run(self, first).await
    }

    /// Stops the gateway, the backend and the issuer, and removes the temporary folder.
    pub async fn shutdown(self) {
        self.gateway.shutdown().await;
        self.backend.shutdown().await;
        self.issuer.shutdown().await;
        self.staging.shutdown().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Writes `client_id`'s credentials file (the shape `gateway token` reads) for `issuer`, asking
/// for tokens of `organization` when given.
fn demo_client(
    dir: &Path,
    issuer: &DevIssuer,
    client_id: &str,
    secret: String,
    scopes: Vec<&'static str>,
    organization: Option<&str>,
) -> Result<DemoClient, DemoError> {
    let credentials_file = dir.join(format!("{client_id}.json"));
    let mut json = serde_json::json!({
        "_comment": "gateway demo: a development issuer's client, valid while this demo runs",
        "token_url": issuer.token_url(),
        "client_id": client_id,
        "client_secret": secret,
        "audience": AUDIENCE,
    });
    if let Some(organization) = organization {
        json["organization"] = organization.into();
    }
    write_private(&credentials_file, &pretty(&json))?;
    let credentials =
        Credentials::parse(&credentials_file, &pretty(&json)).map_err(|e| DemoError::Write {
            path: credentials_file.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
    Ok(DemoClient {
        credentials,
        scopes,
        credentials_file,
    })
}

fn gateway_toml(prod: &DevIssuer, staging: &DevIssuer, upstream: &str) -> String {
    let (issuer, jwks_url) = (prod.issuer_url(), prod.jwks_url());
    let (staging_issuer, staging_jwks_url) = (staging.issuer_url(), staging.jwks_url());
    format!(
        r#"# Written by `gateway demo`: the same file an operator writes (see docs/getting-started.md).
[server]
listen = "127.0.0.1:0"

[admin]
listen = "127.0.0.1:0"

[upstream]
url = "{upstream}"
connect_timeout = "2s"
request_timeout = "10s"

# Two tenants: a token's `iss` picks its issuer, and keys are looked up only in that
# issuer's JWKS. The ClientCo routes take production tokens only (`issuers: [prod]`).
[auth.issuers.prod]
issuer = "{issuer}"
audience = "{AUDIENCE}"
jwks_url = "{jwks_url}"

[auth.issuers.staging]
issuer = "{staging_issuer}"
audience = "{AUDIENCE}"
jwks_url = "{staging_jwks_url}"

[policy]
file = "policy.yaml"
"#
    )
}

fn pretty(json: &serde_json::Value) -> String {
    serde_json::to_string_pretty(json).unwrap_or_else(|_| json.to_string())
}

/// A fresh folder only this user can read (it holds client secrets).
fn private_dir() -> Result<PathBuf, DemoError> {
    let base = std::env::temp_dir();
    let mut attempt = 0u32;
    loop {
        let dir = base.join(format!("gateway-demo-{}-{attempt}", std::process::id()));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        match builder.create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                attempt += 1;
            }
            Err(source) => return Err(DemoError::Write { path: dir, source }),
        }
    }
}

fn write_private(path: &Path, text: &str) -> Result<(), DemoError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(|source| DemoError::Write {
            path: path.to_owned(),
            source,
        })
}

/// 128 random bits, hex: a fresh secret per demo run, so a leaked demo secret is worthless.
fn random_secret() -> Result<String, DemoError> {
    use aws_lc_rs::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| DemoError::Random)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
