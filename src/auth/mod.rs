//! Authentication: from "the request carries a token" to "this is who it is and what it may do".
//!
//! `extract` finds the token (decision 2), `Authenticator::verify` checks it against the JWKS
//! (decision 3) through the verified-token cache. The JWKS cache fetches at start, refreshes in
//! the background, refetches once per cool-down for unknown key ids, and keeps the last good set
//! when the issuer is down.
//!
//! Contract for the data plane: [`extract`], [`Authenticator::start`] (spawns the JWKS task on
//! the current Tokio runtime; dropping the `Authenticator` stops it), [`Authenticator::is_ready`],
//! [`Authenticator::verify`], [`AuthError`] and [`AuthError::reason`]. `explain` uses
//! [`explain_token`]; benches use [`Authenticator::verify_uncached`].
//!
//! Layout: `extract` (decision 2), `verify` (structure, header, signature, claims), `jwks` (key
//! set, fetch, single flight, stale-if-error), `cache` (verified tokens), `error`.

mod cache;
mod error;
mod extract;
mod jwks;
mod verify;

use std::sync::Arc;

use tokio::task::JoinHandle;

pub use error::AuthError;
pub use extract::{TokenSource, extract};
pub use jwks::MAX_JWKS_BYTES;

use crate::config::AuthConfig;
use crate::identity::Identity;
use crate::telemetry::Metrics;
use cache::TokenCache;
use jwks::{KeySet, KeyStore, sha256, unix_now};
use verify::Rules;

/// Verifies tokens against a cached JWKS. Cheap to share (`Arc`).
pub struct Authenticator {
    rules: Rules,
    keys: Arc<KeyStore>,
    cache: TokenCache,
    metrics: Arc<Metrics>,
    refresher: JoinHandle<()>,
}

impl Authenticator {
    /// Builds the authenticator and spawns its background JWKS refresh. Does not wait for the
    /// first fetch: `is_ready` turns true when a key set has loaded. Must run inside a Tokio
    /// runtime.
    pub fn start(config: &AuthConfig, metrics: Arc<Metrics>) -> Arc<Authenticator> {
        let keys = Arc::new(KeyStore::new(
            &config.jwks_url,
            config.jwks_cooldown,
            Arc::clone(&metrics),
        ));
        let refresher = tokio::spawn(jwks::run_refresh(Arc::clone(&keys), config.jwks_refresh));
        Arc::new(Authenticator {
            rules: Rules::from_config(config),
            keys,
            cache: TokenCache::new(config.cache_max_entries),
            metrics,
            refresher,
        })
    }

    /// True once a key set has loaded (for `/readyz`).
    pub fn is_ready(&self) -> bool {
        self.keys.current().is_some()
    }

    /// Decision 3. A cache hit costs a SHA-256 of the token, a map lookup and two cheap checks.
    pub async fn verify(&self, token: &str) -> Result<Arc<Identity>, AuthError> {
        if token.len() > self.rules.max_token_bytes {
            return Err(AuthError::TooLarge {
                len: token.len(),
                max: self.rules.max_token_bytes,
            });
        }
        let keys = self.keys.current().ok_or(AuthError::KeysNotLoaded)?;
        let token_hash = sha256(token.as_bytes());
        if let Some(hit) = self.cache.get(&token_hash) {
            let identity = &hit.identity;
            // The key must still be in the JWKS, unchanged, and the token still unexpired:
            // the cache may never be more lenient than a fresh verification.
            let key_still_there = keys
                .keys
                .get(&identity.key_id)
                .is_some_and(|key| key.fingerprint == hit.key_fingerprint);
            if key_still_there && unix_now() < identity.expires_at + self.rules.leeway_secs {
                self.metrics.token_cache_hits.inc();
                return Ok(Arc::clone(identity));
            }
            self.cache.remove(&token_hash);
        }
        self.metrics.token_cache_misses.inc();
        let (identity, fingerprint) = self.verify_with(token, keys, true).await?;
        let identity = Arc::new(identity);
        self.cache
            .insert(token_hash, token.len(), Arc::clone(&identity), fingerprint);
        Ok(identity)
    }

    /// Every check, no cache (benchmarks; diagnosing).
    pub async fn verify_uncached(&self, token: &str) -> Result<Identity, AuthError> {
        let keys = self.keys.current().ok_or(AuthError::KeysNotLoaded)?;
        self.verify_with(token, keys, true)
            .await
            .map(|(identity, _)| identity)
    }

    async fn verify_with(
        &self,
        token: &str,
        keys: Arc<KeySet>,
        may_refetch: bool,
    ) -> Result<(Identity, [u8; 32]), AuthError> {
        verify_token(&self.keys, &self.rules, token, keys, may_refetch).await
    }
}

impl Drop for Authenticator {
    fn drop(&mut self) {
        self.refresher.abort();
    }
}

async fn verify_token(
    store: &KeyStore,
    rules: &Rules,
    token: &str,
    keys: Arc<KeySet>,
    may_refetch: bool,
) -> Result<(Identity, [u8; 32]), AuthError> {
    let parsed = verify::parse(token, rules)?;
    let key = match keys.keys.get(&parsed.kid) {
        Some(key) => Arc::clone(key),
        None if may_refetch => store
            .refetch_for_unknown_kid(keys.generation)
            .await
            .and_then(|set| set.keys.get(&parsed.kid).cloned())
            .ok_or_else(|| AuthError::UnknownKeyId(parsed.kid.clone()))?,
        None => return Err(AuthError::UnknownKeyId(parsed.kid.clone())),
    };
    verify::check_signature(&parsed, &key)?;
    let identity = verify::check_claims(parsed, rules, unix_now())?;
    Ok((identity, key.fingerprint))
}

/// For `gateway explain --token`: fetch the JWKS once and verify `token` with the same checks as
/// the data plane, without starting a background refresh.
pub async fn explain_token(config: &AuthConfig, token: &str) -> Result<Identity, AuthError> {
    let store = KeyStore::new(
        &config.jwks_url,
        config.jwks_cooldown,
        Arc::new(Metrics::default()),
    );
    store.refresh().await.map_err(AuthError::KeysUnavailable)?;
    let keys = store.current().ok_or(AuthError::KeysNotLoaded)?;
    verify_token(&store, &Rules::from_config(config), token, keys, false)
        .await
        .map(|(identity, _)| identity)
}
