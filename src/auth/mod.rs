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
//! [`explain_token`]; benches use [`Authenticator::verify_uncached`]; the fuzz targets use the
//! offline path [`verify_with_jwks`].
//!
//! Layout: `extract` (decision 2), `verify` (structure, header, signature, claims), `jwks` (key
//! set, fetch, single flight, stale-if-error), `cache` (verified tokens), `error`.

pub mod binding;
mod cache;
pub mod dpop;
mod error;
mod extract;
mod jwks;
mod nonce;
mod verify;

use std::sync::Arc;

use tokio::task::JoinHandle;

pub use crate::constants::MAX_JWKS_BYTES;
pub use error::AuthError;
pub use extract::{TokenSource, extract};

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

/// For `gateway check`: fetch the JWKS once, as the data plane would; how many usable keys it
/// holds, or why it cannot be had.
pub async fn probe_jwks(config: &AuthConfig) -> Result<usize, String> {
    let store = KeyStore::new(
        &config.jwks_url,
        config.jwks_cooldown,
        Arc::new(Metrics::default()),
    );
    store.refresh().await?;
    Ok(store.current().map_or(0, |set| set.keys.len()))
}

/// The offline path: verify `token` against a JWKS document already in hand, with the same
/// checks and in the same order as the data plane (length cap, structure, header, key lookup,
/// key/alg agreement, signature, claims), but without the cache, the network or a runtime.
///
/// `jwks_json` is parsed by the same key-set parser as a fetched JWKS (unusable keys skipped,
/// a document that is not a JWK Set refused as `KeysUnavailable`). An unknown `kid` is refused
/// at once: there is nothing to refetch. Used by the fuzz targets (fuzz/) and usable by
/// `explain` when the JWKS is a file.
pub fn verify_with_jwks(
    config: &AuthConfig,
    jwks_json: &str,
    token: &str,
) -> Result<Identity, AuthError> {
    let rules = Rules::from_config(config);
    if token.len() > rules.max_token_bytes {
        return Err(AuthError::TooLarge {
            len: token.len(),
            max: rules.max_token_bytes,
        });
    }
    let keys = jwks::parse_jwks(jwks_json.as_bytes()).map_err(AuthError::KeysUnavailable)?;
    let parsed = verify::parse(token, &rules)?;
    let key = keys
        .get(&parsed.kid)
        .ok_or_else(|| AuthError::UnknownKeyId(parsed.kid.clone()))?;
    verify::check_signature(&parsed, key)?;
    verify::check_claims(parsed, &rules, unix_now())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::dev::issuer::{DevIssuer, DevIssuerConfig};

    fn config(issuer: &DevIssuer) -> AuthConfig {
        AuthConfig {
            jwks_url: issuer.jwks_url(),
            leeway: Duration::ZERO,
            cache_max_entries: 16,
            ..AuthConfig::new(issuer.issuer_url(), issuer.audience())
        }
    }

    #[tokio::test]
    async fn verify_with_jwks_accepts_a_signed_token_and_refuses_what_the_data_plane_refuses() {
        let issuer = DevIssuer::start(DevIssuerConfig::default()).await.unwrap();
        let config = config(&issuer);
        let jwks = issuer.jwks().to_string();

        let good = issuer.mint(&issuer.standard_claims(&["read:forecast"]));
        let identity = verify_with_jwks(&config, &jwks, &good).unwrap();
        assert_eq!(identity.scopes.to_string(), "read:forecast");

        // A flipped signature byte, a foreign kid, a wrong audience, an oversized token, and a
        // JWKS that is not a key set: each fails with the data plane's error.
        let (body, signature) = good.rsplit_once('.').unwrap();
        let flipped = if signature.starts_with('A') { "B" } else { "A" };
        let tampered = format!("{body}.{flipped}{}", &signature[1..]);
        assert_eq!(
            verify_with_jwks(&config, &jwks, &tampered)
                .unwrap_err()
                .reason(),
            "bad_signature"
        );
        let foreign = issuer.mint_with(
            &json!({"kid": "nobody"}),
            &issuer.standard_claims(&["read:forecast"]),
        );
        assert_eq!(
            verify_with_jwks(&config, &jwks, &foreign).unwrap_err(),
            AuthError::UnknownKeyId("nobody".into())
        );
        let mut claims = issuer.standard_claims(&[]);
        claims["aud"] = json!("https://someone-else/");
        assert!(matches!(
            verify_with_jwks(&config, &jwks, &issuer.mint(&claims)).unwrap_err(),
            AuthError::WrongAudience { .. }
        ));
        let huge = "a".repeat(config.max_token_bytes + 1);
        assert!(matches!(
            verify_with_jwks(&config, &jwks, &huge).unwrap_err(),
            AuthError::TooLarge { .. }
        ));
        assert!(matches!(
            verify_with_jwks(&config, "{}", &good).unwrap_err(),
            AuthError::KeysUnavailable(_)
        ));
    }
}
