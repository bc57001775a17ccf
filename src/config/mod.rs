//! gateway.toml: raw serde types, the checked `Config` built from them, environment overrides.
//!
//! Loading is two stages (see docs/architecture.md): `raw` mirrors the file with
//! `deny_unknown_fields` (every value kept with its position), then `check::Checker` applies the
//! `GATEWAY_<SECTION>_<KEY>` overrides (`env`), checks every value and resolves relative paths
//! against the config file's folder, collecting every problem as a `Diagnostic` with
//! file:line:column instead of stopping at the first (which is why it is a checker that
//! gathers problems rather than a `TryFrom`, which could return only one).
//! Every key, default and override is listed in docs/configuration.md.

mod check;
mod env;
mod raw;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::constants as C;
pub use crate::diagnostic::{Diagnostic, Diagnostics};

/// The whole checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from (absolute), for messages and reloads.
    pub source: PathBuf,
    pub server: ServerConfig,
    pub admin: AdminConfig,
    pub upstream: UpstreamConfig,
    pub auth: AuthConfig,
    pub policy: PolicyConfig,
    pub forward: ForwardConfig,
    /// Sender-constrained tokens (global `[auth]` keys and `[server] public_url`).
    pub binding: BindingConfig,
    /// `[state]`: where rate limits and the DPoP replay store live (in process, or Redis).
    pub state: StateConfig,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Runtime worker threads; `None` = number of CPUs.
    pub workers: Option<usize>,
    pub tls: Option<TlsConfig>,
    /// Time allowed for a client to send a complete request head (slowloris guard).
    pub header_read_timeout: Duration,
    /// Largest request head accepted, in bytes (431 beyond).
    pub max_header_bytes: usize,
    /// Idle keep-alive connections are closed after this long.
    pub idle_timeout: Duration,
    /// Open connections beyond this are refused with a log line.
    pub max_connections: usize,
    /// How long SIGTERM waits for in-flight requests before exiting.
    pub drain_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// mTLS: require client certificates signed by this CA.
    pub client_ca: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub listen: SocketAddr,
}

#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// `http` or `https` base URL; its path (if any) is prefixed to forwarded paths.
    pub url: http::Uri,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Exact `iss`.
    pub issuer: String,
    /// Must appear in `aud`.
    pub audience: String,
    /// Default: issuer + ".well-known/jwks.json".
    pub jwks_url: String,
    /// Allow-list; default `[RS256]`.
    pub algorithms: Vec<jsonwebtoken::Algorithm>,
    pub leeway: Duration,
    pub jwks_refresh: Duration,
    /// Minimum time between two unknown-`kid` refetches.
    pub jwks_cooldown: Duration,
    /// Keep `Authorization` upstream.
    pub forward_token: bool,
    /// Also accept the token from this cookie.
    pub token_cookie: Option<String>,
    /// Tokens longer than this are refused before any decoding.
    pub max_token_bytes: usize,
    /// Verified-token cache capacity (entries).
    pub cache_max_entries: u64,
}

impl AuthConfig {
    /// One issuer and audience with every other `[auth]` key at its default
    /// (docs/configuration.md); the JWKS is at the issuer's `.well-known/jwks.json`.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        let issuer = issuer.into();
        Self {
            jwks_url: default_jwks_url(&issuer),
            issuer,
            audience: audience.into(),
            algorithms: C::ALGORITHMS.to_vec(),
            leeway: C::LEEWAY,
            jwks_refresh: C::JWKS_REFRESH,
            jwks_cooldown: C::JWKS_COOLDOWN,
            forward_token: C::FORWARD_TOKEN,
            token_cookie: None,
            max_token_bytes: C::MAX_TOKEN_BYTES as usize,
            cache_max_entries: C::CACHE_MAX_ENTRIES,
        }
    }
}

/// Auth0's JWKS lives at `<issuer>.well-known/jwks.json`; Auth0 issuers end with `/`.
pub fn default_jwks_url(issuer: &str) -> String {
    if issuer.ends_with('/') {
        format!("{issuer}.well-known/jwks.json")
    } else {
        format!("{issuer}/.well-known/jwks.json")
    }
}

/// Sender-constrained tokens (docs/configuration.md): `[auth] dpop_algorithms`,
/// `dpop_window`, `dpop_nonce`, `require_binding`, `dpop_replay_capacity` (global, whatever the
/// issuer), and `[server] public_url`, the origin DPoP proofs' `htu` is compared with.
#[derive(Debug, Clone)]
pub struct BindingConfig {
    pub dpop_algorithms: Vec<jsonwebtoken::Algorithm>,
    pub dpop_window: Duration,
    pub dpop_nonce: bool,
    pub require_binding: crate::identity::Binding,
    pub dpop_replay_capacity: u64,
    /// `https://api.saasco.example` (a path prefix allowed); `None`: the listener's scheme and
    /// the request's `Host`.
    pub public_url: Option<String>,
}

impl Default for BindingConfig {
    fn default() -> Self {
        Self {
            dpop_algorithms: C::DPOP_ALGORITHMS.to_vec(),
            dpop_window: C::DPOP_WINDOW,
            dpop_nonce: C::DPOP_NONCE,
            require_binding: crate::identity::Binding::None,
            dpop_replay_capacity: C::DPOP_REPLAY_CAPACITY,
            public_url: None,
        }
    }
}

/// `[state]`: shared state across replicas (docs/configuration.md).
#[derive(Debug, Clone, PartialEq)]
pub struct StateConfig {
    /// `None`: in-process state (one replica).
    pub redis: Option<crate::state::RedisUrl>,
    pub on_error: crate::state::OnError,
    /// The budget of one Redis call.
    pub timeout: Duration,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            redis: None,
            on_error: crate::state::OnError::Local,
            timeout: C::STATE_TIMEOUT,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PolicyConfig {
    pub file: PathBuf,
}

/// `[forward]`: reloadable with the policy.
#[derive(Debug, Clone, Default)]
pub struct ForwardConfig {
    /// claim name -> header name, e.g. `"https://saasco/tenant" = "X-Auth-Tenant"`.
    pub claims: Vec<(String, http::HeaderName)>,
}

impl Config {
    /// Reads, parses and checks `path`, applying `GATEWAY_<SECTION>_<KEY>` overrides from the
    /// process environment. Returns every problem found, not just the first.
    pub fn load(path: &Path) -> Result<Config, Diagnostics> {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        match std::fs::read_to_string(&absolute) {
            Ok(source) => {
                let loaded =
                    Self::from_toml_str(&source, &absolute, &|name| std::env::var(name).ok());
                let names: Vec<String> = std::env::vars_os()
                    .filter_map(|(name, _)| name.into_string().ok())
                    .collect();
                let unknown = env::unknown_overrides(&absolute, names.iter().map(String::as_str));
                match (loaded, unknown.0.is_empty()) {
                    (loaded, true) => loaded,
                    (Ok(_), false) => Err(unknown),
                    (Err(mut problems), false) => {
                        problems.0.extend(unknown.0);
                        Err(problems)
                    }
                }
            }
            Err(e) => Err(Diagnostics(vec![Diagnostic {
                file: path.to_path_buf(),
                line: 0,
                column: 0,
                message: format!(
                    "cannot read the configuration: {e}; pass the right file with --config or GATEWAY_CONFIG"
                ),
            }])),
        }
    }

    /// Parses and checks configuration text as if read from `path` (relative paths in it
    /// resolve against `path`'s folder). `env` stands in for the process environment, so tests
    /// can inject overrides without mutating it.
    pub fn from_toml_str(
        source: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, Diagnostics> {
        check::load(source, path, env)
    }

    /// The folder relative paths in the config resolve against.
    pub fn folder(&self) -> &Path {
        self.source.parent().unwrap_or(Path::new("."))
    }
}
