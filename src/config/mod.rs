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
mod choices;
mod deferred;
mod env;
mod raw;
mod redis_url;
mod upstream;
mod upstream_check;
mod upstream_raw;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::constants as C;
pub use crate::diagnostic::{Diagnostic, Diagnostics};
pub use choices::{LogFormat, OnError, OnFull};
pub use deferred::{Declared, Deferred, Loaded, Spot};
pub use redis_url::{RedisUrl, redact};
pub use upstream::{
    Balance, DiscoverConfig, EjectConfig, Endpoints, HealthConfig, RetryConfig, UpstreamConfig,
};

/// The whole checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from (absolute), for messages and reloads.
    pub source: PathBuf,
    pub server: ServerConfig,
    pub admin: AdminConfig,
    /// `[upstream]`, the default pool (named `default`): routes without `upstream:` use it.
    /// `None` only when the file has named pools and no `[upstream]`.
    pub upstream: Option<UpstreamConfig>,
    /// `[upstreams.NAME]`, in name order.
    pub upstreams: Vec<UpstreamConfig>,
    pub auth: AuthConfig,
    pub policy: PolicyConfig,
    pub forward: ForwardConfig,
    pub log: LogConfig,
    pub telemetry: TelemetryConfig,
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
    /// Extra `Host` names the console and `/policy` answer to (besides the listen address,
    /// `localhost` and loopback addresses), lower-cased, without a port.
    pub hosts: Vec<String>,
    /// The console's secret when the admin listener is not on loopback (absolute path); without
    /// it such a listener serves no console.
    pub console_token_file: Option<PathBuf>,
}

/// `[auth]`: the keys every issuer shares, and the issuers.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Every trusted issuer: the first-round `[auth] issuer` form is one issuer named
    /// `default`; `[auth.issuers.NAME]` tables are one each, in name order. Never empty.
    pub issuers: Vec<IssuerConfig>,
    /// Keep `Authorization` upstream.
    pub forward_token: bool,
    /// Also accept the token from this cookie.
    pub token_cookie: Option<String>,
    /// Tokens longer than this are refused before any decoding.
    pub max_token_bytes: usize,
    /// Verified-token cache capacity (entries), shared by every issuer.
    pub cache_max_entries: u64,
}

/// One trusted issuer: whose tokens, for which audiences, verified with which keys.
#[derive(Debug, Clone, PartialEq)]
pub struct IssuerConfig {
    /// `default` for the first-round form, else the `NAME` of `[auth.issuers.NAME]`
    /// (`[a-z][a-z0-9_]*`): the `issuer` metric label, `X-Auth-Issuer-Name`, the policy's
    /// `issuers:` entries.
    pub name: String,
    /// Exact `iss`.
    pub issuer: String,
    /// The token's `aud` must contain one of these. Never empty.
    pub audiences: Vec<String>,
    /// Default: issuer + ".well-known/jwks.json".
    pub jwks_url: String,
    /// Allow-list; default `[RS256]`.
    pub algorithms: Vec<jsonwebtoken::Algorithm>,
    pub leeway: Duration,
    pub jwks_refresh: Duration,
    /// Minimum time between two unknown-`kid` refetches.
    pub jwks_cooldown: Duration,
    /// `/readyz` waits until this issuer's keys loaded once.
    pub ready_gate: bool,
}

impl IssuerConfig {
    /// An issuer named `name` with one audience and every other key at its default
    /// (docs/configuration.md); the JWKS is at the issuer's `.well-known/jwks.json`.
    pub fn new(
        name: impl Into<String>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Self {
        let issuer = issuer.into();
        Self {
            name: name.into(),
            jwks_url: default_jwks_url(&issuer),
            issuer,
            audiences: vec![audience.into()],
            algorithms: C::ALGORITHMS.to_vec(),
            leeway: C::LEEWAY,
            jwks_refresh: C::JWKS_REFRESH,
            jwks_cooldown: C::JWKS_COOLDOWN,
            ready_gate: C::ISSUER_READY_GATE,
        }
    }
}

impl AuthConfig {
    /// The issuers' names, what a policy's `issuers:` may list.
    pub fn issuer_names(&self) -> Vec<&str> {
        self.issuers
            .iter()
            .map(|issuer| issuer.name.as_str())
            .collect()
    }

    /// The largest `leeway` of the issuers: the clock skew allowed for a DPoP proof's `iat`,
    /// which is checked once for whichever issuer's token the proof accompanies.
    pub fn max_leeway(&self) -> Duration {
        self.issuers
            .iter()
            .map(|issuer| issuer.leeway)
            .max()
            .unwrap_or(C::LEEWAY)
    }

    /// The first-round form: one issuer named `default` with one audience, every other
    /// `[auth]` key at its default (docs/configuration.md).
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self::single(IssuerConfig::new(C::DEFAULT_ISSUER_NAME, issuer, audience))
    }

    /// One issuer as given, the shared keys at their defaults.
    pub fn single(issuer: IssuerConfig) -> Self {
        Self::with_issuers(vec![issuer])
    }

    /// These issuers, the shared keys at their defaults.
    pub fn with_issuers(issuers: Vec<IssuerConfig>) -> Self {
        Self {
            issuers,
            forward_token: C::FORWARD_TOKEN,
            token_cookie: None,
            max_token_bytes: C::MAX_TOKEN_BYTES as usize,
            cache_max_entries: C::CACHE_MAX_ENTRIES,
        }
    }

    /// The issuer named `name`.
    pub fn issuer(&self, name: &str) -> Option<&IssuerConfig> {
        self.issuers.iter().find(|i| i.name == name)
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
    pub redis: Option<RedisUrl>,
    pub on_error: OnError,
    /// The budget of one Redis call.
    pub timeout: Duration,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            redis: None,
            on_error: OnError::Local,
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
    /// `[forward.assertion]`, when set: the signed identity every forwarded request carries.
    pub assertion: Option<AssertionConfig>,
}

/// `[forward.assertion]` (docs/configuration.md). The key files are read by
/// `assertion::Signer::load` (and once by the checker, so `gateway check` reports a bad key).
#[derive(Debug, Clone)]
pub struct AssertionConfig {
    pub header: http::HeaderName,
    /// PKCS#8 PEM, Ed25519 or P-256: signs.
    pub key_file: PathBuf,
    /// Published in the JWKS beside the signing key, never used to sign (rotation).
    pub previous_key_file: Option<PathBuf>,
    /// The assertion's `iss`.
    pub issuer: String,
    /// The assertion's `aud`.
    pub audience: String,
    /// `exp - iat`, whole seconds, at most `ASSERTION_MAX_LIFETIME`.
    pub lifetime: Duration,
    /// How long identical requests share one assertion; zero = never.
    pub reuse: Duration,
}

/// `[log]`: the access/audit log (restart-only).
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// Write to this file (appended to, reopened on SIGUSR1) instead of stderr.
    pub file: Option<PathBuf>,
    /// `[log] format`, which `--log-format` overrides.
    pub format: LogFormat,
    pub on_full: OnFull,
    /// Bytes of lines waiting for the writer, at most.
    pub buffer: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            file: None,
            format: LogFormat::default(),
            on_full: OnFull::default(),
            buffer: C::LOG_BUFFER as usize,
        }
    }
}

/// `[telemetry]`: OpenTelemetry traces (restart-only).
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    /// The OTLP/HTTP (protobuf) traces URL; a bare origin gets `/v1/traces`. `None`: no traces.
    pub otlp_endpoint: Option<String>,
    /// Share of new traces sampled, 0.0 to 1.0 (parent-based: a caller's choice is kept).
    pub sample_ratio: f64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            sample_ratio: C::TRACE_SAMPLE_RATIO,
        }
    }
}

impl Config {
    /// Reads, parses and checks `path`, applying `GATEWAY_<SECTION>_<KEY>` overrides from the
    /// process environment. Returns every problem found, not just the first. Checks what
    /// `config` can check by itself; `load::config` adds the checks of the modules above
    /// it (the assertion key files parse, the Redis client reads the URL), which `gateway check`,
    /// start-up and a reload use.
    pub fn load(path: &Path) -> Result<Config, Diagnostics> {
        Loaded::read(path).finish(Vec::new())
    }

    /// Parses and checks configuration text as if read from `path` (relative paths in it
    /// resolve against `path`'s folder). `env` stands in for the process environment, so tests
    /// can inject overrides without mutating it. As `load`, without the deferred checks.
    pub fn from_toml_str(
        source: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, Diagnostics> {
        Loaded::from_toml_str(source, path, env).finish(Vec::new())
    }

    /// Every pool: the default one first (when there is one), then the named ones.
    pub fn pools(&self) -> impl Iterator<Item = &UpstreamConfig> {
        self.upstream.iter().chain(&self.upstreams)
    }

    /// The names a route's `upstream:` may use: the named pools (and `default` when
    /// `[upstream]` is set, though leaving `upstream:` out says the same).
    pub fn pool_names(&self) -> Vec<&str> {
        self.pools().map(|pool| pool.name.as_str()).collect()
    }

    /// The folder relative paths in the config resolve against.
    pub fn folder(&self) -> &Path {
        self.source.parent().unwrap_or(Path::new("."))
    }
}

/// `Config::load`'s reading: the file, the checker, then the `GATEWAY_*` variables that override
/// no key.
fn read(path: &Path) -> Loaded {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match std::fs::read_to_string(&absolute) {
        Ok(source) => {
            let mut loaded =
                Loaded::from_toml_str(&source, &absolute, &|name| std::env::var(name).ok());
            let names: Vec<String> = std::env::vars_os()
                .filter_map(|(name, _)| name.into_string().ok())
                .collect();
            loaded.unknown_overrides = env::unknown_overrides(
                &absolute,
                names.iter().map(String::as_str),
                &env::issuer_names(&source),
            )
            .0;
            loaded
        }
        Err(e) => Loaded {
            config: None,
            problems: vec![Diagnostic {
                file: path.to_path_buf(),
                line: 0,
                column: 0,
                message: format!(
                    "cannot read the configuration: {e}; pass the right file with --config or GATEWAY_CONFIG"
                ),
            }],
            unknown_overrides: Vec::new(),
            deferred: Deferred::default(),
        },
    }
}
