//! The data plane: listeners (`server`), the stream each client connection is read through
//! (`client_stream`: opening-bytes deadline and the HTTP/1 framing watch, `framing`), the
//! request pipeline (`pipeline`), the request's authority (`host`: `Host` and `:authority`,
//! checked in phase 1), the header rules (`headers`), which upgrade a request asks for
//! (`upgrade`), request and response bodies (`body`), the one error type a request can end in and
//! its response (`error`), and the upstream and its connection pool
//! (`upstream`). Per-client limits and the DPoP replay store are shared state (`crate::state`,
//! in process or on Redis).
//!
//! `Gateway` is the state every request reads. What may change at run time (the policy, the
//! `[forward]` rules and the assertion signer with its keys) lives in one `Snapshot` behind an
//! `ArcSwap`: a request loads it once, so a reload is a single swap and no request ever sees half
//! of one.

pub mod body;
pub mod client_stream;
pub mod error;
pub mod framing;
pub mod headers;
pub mod host;
pub mod pipeline;
pub mod server;
mod start_error;
pub mod upgrade;
pub mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use crate::assertion::Signer;
use crate::auth::Authenticator;
use crate::auth::binding::Binder;
use crate::config::{Config, Diagnostic, Diagnostics, ForwardConfig};
use crate::policy::Policy;
use crate::telemetry::{AccessLog, Metrics, RequestMetrics, Tracing};
pub use start_error::StartError;

/// What a reload replaces, all at once.
pub struct Snapshot {
    pub policy: Policy,
    pub forward: ForwardConfig,
    /// `[forward.assertion]`'s signer, its key files read when this snapshot was loaded.
    pub assertion: Option<Signer>,
    /// When it was loaded (for `GET /policy` on admin; the file and hash are the policy's).
    pub loaded_at: SystemTime,
}

impl Snapshot {
    /// Loads the policy named by `config`, takes `config`'s `[forward]` rules and reads the
    /// assertion key files. A route's `issuers:` must name issuers `config` has (checked here,
    /// so a reload keeps the check).
    pub fn load(config: &Config) -> Result<Snapshot, Diagnostics> {
        let policy = Policy::load_for(&config.policy.file, &config.auth.issuer_names())?;
        let unknown = policy.unknown_pools(&config.pool_names(), config.upstream.is_some());
        if !unknown.0.is_empty() {
            return Err(unknown);
        }
        let assertion = match &config.forward.assertion {
            Some(assertion) => Some(Signer::load(assertion).map_err(|error| {
                Diagnostics(vec![Diagnostic {
                    file: config.source.clone(),
                    line: 0,
                    column: 0,
                    message: format!("[forward.assertion]: {error}"),
                }])
            })?),
            None => None,
        };
        Ok(Snapshot {
            policy,
            assertion,
            forward: config.forward.clone(),
            loaded_at: SystemTime::now(),
        })
    }
}

/// The last reload's result, for the console's overview.
#[derive(Debug, Clone)]
pub struct ReloadOutcome {
    pub at: SystemTime,
    /// The new policy's sha256, or the problems (file:line:column) that kept the old one.
    pub result: Result<String, Vec<String>>,
}

/// Settings a request reads that never change without a restart.
pub struct Settings {
    pub forward_token: bool,
    pub token_cookie: Option<String>,
}

/// The state shared by every request.
pub struct Gateway {
    pub snapshot: ArcSwap<Snapshot>,
    pub settings: Settings,
    pub auth: Arc<Authenticator>,
    /// Sender-constrained token rules and the DPoP replay store.
    pub binder: Binder,
    /// Every upstream pool (restart-only: a reload that changes them says so).
    pub upstreams: upstream::Upstreams,
    /// Per-client rate limits (`[state]`: in process, or one limit across replicas on Redis).
    pub limiter: Arc<dyn crate::state::RateLimiter>,
    pub state_metrics: Arc<crate::state::StateMetrics>,
    pub metrics: Arc<Metrics>,
    pub requests: Arc<RequestMetrics>,
    /// The access/audit log's writer; `None` when there is nowhere to write (telemetry).
    pub access_log: Option<AccessLog>,
    /// OpenTelemetry spans; `None` without `[telemetry] otlp_endpoint`.
    pub tracing: Option<Tracing>,
    /// Recent refusals and per-minute outcome counts (the console reads them).
    pub decisions: crate::telemetry::decisions::Decisions,
    /// The last reload's result; `None` until the first reload.
    pub last_reload: std::sync::Mutex<Option<ReloadOutcome>>,
}

impl Gateway {
    /// The shared state for `config`: loads the policy, builds the upstream client, and starts
    /// fetching keys (the JWKS task is spawned on the current Tokio runtime).
    pub fn new(config: &Config) -> Result<Gateway, StartError> {
        let snapshot = Snapshot::load(config)?;
        let metrics = Arc::new(Metrics::default());
        let requests = Arc::new(RequestMetrics::default());
        let access_log =
            crate::telemetry::start_access_log(&config.log, requests.access_log_dropped.clone())
                .map_err(|source| StartError::AccessLog {
                    file: config.log.file.clone(),
                    source,
                })?;
        let state = crate::state::build(
            &config.state,
            usize::try_from(config.binding.dpop_replay_capacity).unwrap_or(usize::MAX),
            config
                .binding
                .dpop_nonce
                .then(|| config.binding.dpop_window.as_secs().max(1)),
        )
        .map_err(StartError::State)?;
        Ok(Gateway {
            snapshot: ArcSwap::from_pointee(snapshot),
            settings: Settings {
                forward_token: config.auth.forward_token,
                token_cookie: config.auth.token_cookie.clone(),
            },
            auth: Authenticator::start(&config.auth, metrics.clone()),
            binder: Binder::new(
                &config.binding,
                config.auth.max_leeway(),
                state.replay,
                state.nonce_keys,
            ),
            upstreams: upstream::Upstreams::new(config)?,
            limiter: state.limiter,
            state_metrics: state.metrics,
            metrics,
            requests,
            access_log,
            tracing: Tracing::start(&config.telemetry)?,
            decisions: crate::telemetry::decisions::Decisions::start(),
            last_reload: std::sync::Mutex::new(None),
        })
    }
}

/// What the pipeline knows about the connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub tls: bool,
    /// Set when the framing watch refuses this request (both `Content-Length` and
    /// `Transfer-Encoding`, or framing it could not follow): the pipeline answers 400 first.
    pub framing: Option<framing::Refusal>,
    /// How long forwarding waits for the first bytes of a request body before sending the head
    /// upstream anyway (the server's `header_read_timeout`).
    pub body_start_timeout: Duration,
    /// SHA-256 of the client certificate's DER (mTLS), for certificate-bound tokens (RFC 8705).
    pub client_cert: Option<[u8; 32]>,
}
