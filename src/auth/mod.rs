//! Authentication: from "the request carries a token" to "this is who it is and what it may do".
//!
//! `extract` finds the token (decision 2), `Authenticator::verify` checks it against the JWKS
//! (decision 3) through the verified-token cache. The JWKS cache fetches at start, refreshes in
//! the background, refetches once per cool-down for unknown key ids, and keeps the last good set
//! when the issuer is down.
//!
//! OWNER: auth helper. The public items below are the contract the data plane builds against;
//! add freely, rename none without updating the callers.

use std::sync::Arc;

use http::HeaderMap;

use crate::config::AuthConfig;
use crate::identity::Identity;
use crate::telemetry::Metrics;

/// Every way authentication can fail. Display is the client-facing `error_description`: it says
/// what was wrong and never echoes the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// 400 `invalid_request`: two Authorization headers, or a header and the cookie at once.
    #[error("{0}")]
    InvalidRequest(String),
    /// 401 without `error=` (RFC 6750 §3.1): no credentials were sent at all.
    #[error("no bearer token was sent")]
    MissingToken,
    /// 503 with `Retry-After`: no key set has ever loaded.
    #[error("signing keys are not loaded yet; retry shortly")]
    KeysNotLoaded,
    /// 401 `invalid_token`. The auth helper replaces this with one variant per failure.
    #[error("{0}")]
    InvalidToken(String),
}

/// Where the token came from (the cookie must then be removed before forwarding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    AuthorizationHeader,
    Cookie,
}

/// Decision 2: the bearer token of a request, or `MissingToken` / `InvalidRequest`.
pub fn extract<'h>(
    headers: &'h HeaderMap,
    token_cookie: Option<&str>,
) -> Result<(&'h str, TokenSource), AuthError> {
    let _ = (headers, token_cookie);
    todo!("extract")
}

/// Verifies tokens against a cached JWKS. Cheap to share (`Arc`).
pub struct Authenticator {
    _private: (),
}

impl Authenticator {
    /// Builds the authenticator and spawns its background JWKS refresh. Does not wait for the
    /// first fetch: `is_ready` turns true when a key set has loaded.
    pub fn start(config: &AuthConfig, metrics: Arc<Metrics>) -> Arc<Authenticator> {
        let _ = (config, metrics);
        todo!("start")
    }

    /// True once a key set has loaded (for `/readyz`).
    pub fn is_ready(&self) -> bool {
        todo!("is_ready")
    }

    /// Decision 3. A cache hit costs a hash and a map lookup.
    pub async fn verify(&self, token: &str) -> Result<Arc<Identity>, AuthError> {
        let _ = token;
        todo!("verify")
    }
}

/// For `gateway explain --token`: fetch the JWKS once and verify `token` with the same checks as
/// the data plane, without starting a background refresh.
pub async fn explain_token(config: &AuthConfig, token: &str) -> Result<Identity, AuthError> {
    let _ = (config, token);
    todo!("explain_token")
}

impl AuthError {
    /// A short stable snake_case code for logs and metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::MissingToken => "missing_token",
            Self::KeysNotLoaded => "keys_not_loaded",
            Self::InvalidToken(_) => "invalid_token",
        }
    }
}
