//! Authentication: from "the request carries a token" to "this is who it is and what it may do".
//!
//! `extract` finds the token (decision 2), `Authenticator::verify` checks it (decision 3)
//! through the verified-token cache. The token's `iss`, read from the payload before anything
//! is trusted, picks one configured issuer (`issuers`); from then on only that issuer's rules
//! and key set judge the token. Each issuer's JWKS cache fetches at start, refreshes in the
//! background, refetches once per cool-down for unknown key ids, and keeps the last good set
//! when that issuer is down.
//!
//! Contract for the data plane: [`locate`] and [`Located::check`] (decision 2 in two halves,
//! so a cache hit can skip the token's syntax scan; [`extract`] is both), [`Authenticator::start`]
//! (spawns one JWKS task per issuer on the current Tokio runtime; dropping the `Authenticator`
//! stops them), [`Authenticator::is_ready`], [`Authenticator::cached`] then
//! [`Authenticator::verify_fresh`] (together [`Authenticator::verify_for`], which also says which
//! issuer the token concerned), [`AuthError`] and [`AuthError::reason`].
//! `explain` uses [`explain_token`]; benches use [`Authenticator::verify_uncached`]; the fuzz
//! targets use the offline path [`verify_with_jwks`]; `gateway token` uses [`opaque`]. Each
//! path turns a token that does not decode and is Auth0's opaque access token into
//! [`AuthError::Opaque`], naming the configured audience to request it with.
//!
//! Layout: `extract` (decision 2), `issuers` (the registry and the `iss` lookup), `verify`
//! (structure, header, signature, claims), `jwks` (key set, fetch, single flight,
//! stale-if-error), `cache` (verified tokens), `error`.

pub mod binding;
mod cache;
pub mod dpop;
mod error;
mod extract;
pub mod issuers;
pub mod jwks;
mod nonce;
mod verify;

use std::sync::Arc;

use tokio::task::JoinHandle;

pub use crate::constants::MAX_JWKS_BYTES;
pub use error::AuthError;
pub use extract::{Located, Opaque, TokenSource, extract, locate, opaque};

use crate::config::{AuthConfig, IssuerConfig};
use crate::identity::Identity;
use crate::telemetry::Metrics;
use cache::TokenCache;
use issuers::{Issuer, Issuers, pick_config};
use jwks::{KeySet, KeyStore, VerifyKey, unix_now};
use verify::{Decoded, Parsed, Rules};

/// Verifies tokens against each issuer's cached JWKS. Cheap to share (`Arc`).
pub struct Authenticator {
    issuers: Issuers,
    max_token_bytes: usize,
    cache: TokenCache,
    metrics: Arc<Metrics>,
    refreshers: Vec<JoinHandle<()>>,
}

/// What one verification concluded, and which issuer it concerned.
pub struct Verification {
    /// The issuer's name once the token's `iss` picked one; `unknown` when no issuer has it
    /// (or the token has none); `None` when the token did not even decode.
    pub issuer: Option<Arc<str>>,
    pub result: Result<Arc<Identity>, AuthError>,
}

impl Authenticator {
    /// Builds the authenticator and spawns one background JWKS task per issuer. Does not wait
    /// for the first fetches: `is_ready` turns true when every `ready_gate` issuer has loaded a
    /// key set. Must run inside a Tokio runtime.
    pub fn start(config: &AuthConfig, metrics: Arc<Metrics>) -> Arc<Authenticator> {
        let issuers = Issuers::new(&config.issuers, &metrics);
        let refreshers = issuers.spawn_refresh(&config.issuers);
        Arc::new(Authenticator {
            issuers,
            max_token_bytes: config.max_token_bytes,
            cache: TokenCache::new(config.cache_max_entries),
            metrics,
            refreshers,
        })
    }

    /// True once every issuer with `ready_gate` has loaded a key set (for `/readyz`).
    pub fn is_ready(&self) -> bool {
        self.not_ready().next().is_none()
    }

    /// Every configured issuer with its key store (the console's keys page).
    pub fn issuers(&self) -> impl Iterator<Item = &Issuer> {
        self.issuers.iter()
    }

    /// The `ready_gate` issuers that have not loaded a key set yet.
    pub fn not_ready(&self) -> impl Iterator<Item = &str> {
        self.issuers
            .iter()
            .filter(|issuer| issuer.ready_gate && issuer.keys.current().is_none())
            .map(|issuer| &*issuer.name)
    }

    /// Decision 3. A cache hit costs a map lookup keyed by the token and two cheap checks,
    /// whatever the number of issuers.
    pub async fn verify(&self, token: &str) -> Result<Arc<Identity>, AuthError> {
        self.verify_for(token).await.result
    }

    /// `verify`, also saying which issuer the token concerned (the log line and the metrics
    /// name it, refused or not).
    pub async fn verify_for(&self, token: &str) -> Verification {
        match self.cached(token.as_bytes()) {
            Some(hit) => hit,
            None => self.verify_fresh(token).await,
        }
    }

    /// The cached verification of `token`, when the cache holds one that still stands: its
    /// key still in that issuer's JWKS, unchanged, and the token unexpired, so the cache is
    /// never more lenient than a fresh verification. Only a token that passed every check,
    /// its b64token syntax included, is ever inserted, so a hit also vouches for the syntax
    /// of a token byte-equal to it (the data plane looks here before checking it:
    /// `Located::check`).
    pub fn cached(&self, token: &[u8]) -> Option<Verification> {
        if token.len() > self.max_token_bytes {
            return None;
        }
        let hit = self.cache.get(token)?;
        let issuer = self.issuers.get(hit.issuer)?;
        let identity = &hit.identity;
        let key_still_there = issuer.keys.current().is_some_and(|keys| {
            keys.keys
                .get(&identity.key_id)
                .is_some_and(|key| key.fingerprint == hit.key_fingerprint)
        });
        if key_still_there && unix_now() < identity.expires_at + issuer.rules.leeway_secs {
            self.metrics.token_cache_hits.inc();
            return Some(Verification {
                issuer: Some(Arc::clone(&issuer.name)),
                result: Ok(Arc::clone(identity)),
            });
        }
        self.cache.remove(token);
        None
    }

    /// Every check, the result cached when the token verifies (after `cached` found nothing).
    pub async fn verify_fresh(&self, token: &str) -> Verification {
        if token.len() > self.max_token_bytes {
            return refused(None, too_large(token, self.max_token_bytes));
        }
        self.metrics.token_cache_misses.inc();
        let (index, issuer, decoded) = match self.pick(token) {
            Ok(picked) => picked,
            Err((label, error)) => return refused(label, error),
        };
        let name = Some(Arc::clone(&issuer.name));
        match verify_decoded(issuer, decoded, true).await {
            Ok((identity, fingerprint)) => {
                let identity = Arc::new(identity);
                self.cache
                    .insert(token, Arc::clone(&identity), fingerprint, index);
                Verification {
                    issuer: name,
                    result: Ok(identity),
                }
            }
            Err(error) => refused(name, error),
        }
    }

    /// Every check, no cache (benchmarks; diagnosing).
    pub async fn verify_uncached(&self, token: &str) -> Result<Identity, AuthError> {
        if token.len() > self.max_token_bytes {
            return Err(too_large(token, self.max_token_bytes));
        }
        let (_, issuer, decoded) = self.pick(token).map_err(|(_, error)| error)?;
        verify_decoded(issuer, decoded, true)
            .await
            .map(|(identity, _)| identity)
    }

    /// Decodes the token and picks its issuer by `iss`, before any key is looked up. A refusal
    /// carries the `issuer` label it concerned: none when the token does not decode, `unknown`
    /// when no issuer has its `iss`.
    #[allow(clippy::type_complexity)]
    fn pick<'t>(
        &self,
        token: &'t str,
    ) -> Result<(usize, &Issuer, Decoded<'t>), (Option<Arc<str>>, AuthError)> {
        let decoded = verify::decode(token, self.max_token_bytes).map_err(|error| {
            let issuers = self.issuers.iter();
            let issuers: Vec<_> = issuers
                .map(|i| (i.rules.issuer.as_str(), &i.rules.audiences[..]))
                .collect();
            (None, name_opaque(error, token, &issuers))
        })?;
        let (index, issuer) = decoded
            .issuer()
            .and_then(|iss| self.issuers.pick(iss))
            .map_err(|error| (Some(Arc::clone(&self.issuers.unknown)), error))?;
        Ok((index, issuer, decoded))
    }
}

impl Drop for Authenticator {
    fn drop(&mut self) {
        for refresher in &self.refreshers {
            refresher.abort();
        }
    }
}

fn refused(issuer: Option<Arc<str>>, error: AuthError) -> Verification {
    Verification {
        issuer,
        result: Err(error),
    }
}

/// Decodes `token` as `decode` does, a failure that is Auth0's opaque token naming the fix.
fn decode_named<'t>(config: &AuthConfig, token: &'t str) -> Result<Decoded<'t>, AuthError> {
    verify::decode(token, config.max_token_bytes).map_err(|error| {
        let issuers: Vec<_> = config
            .issuers
            .iter()
            .map(|i| (i.issuer.as_str(), &i.audiences[..]))
            .collect();
        name_opaque(error, token, &issuers)
    })
}

/// A decoding failure of a token that is Auth0's opaque access token becomes
/// [`AuthError::Opaque`], naming the audience to request: that of the configured issuer whose
/// `iss` the JWE header names, else of every issuer (`issuers`: each one's `iss` and
/// audiences). Any other error is returned as it is.
fn name_opaque(error: AuthError, token: &str, issuers: &[(&str, &[String])]) -> AuthError {
    let AuthError::Malformed(_) = error else {
        return error;
    };
    let Some(opaque) = extract::opaque(token) else {
        return error;
    };
    let named = opaque.issuer.as_deref();
    let matches = |iss: &str| named == Some(iss);
    let any_named = issuers.iter().any(|(iss, _)| matches(iss));
    let mut audiences: Vec<&str> = Vec::new();
    for &(iss, list) in issuers {
        if any_named && !matches(iss) {
            continue;
        }
        for audience in list {
            if !audiences.contains(&audience.as_str()) {
                audiences.push(audience);
            }
        }
    }
    AuthError::Opaque {
        shape: opaque.shape,
        audience: audiences.join(" or audience="),
    }
}

fn too_large(token: &str, max: usize) -> AuthError {
    AuthError::TooLarge {
        len: token.len(),
        max,
    }
}

/// Everything after the issuer is known, with that issuer's rules and keys only.
async fn verify_decoded(
    issuer: &Issuer,
    decoded: Decoded<'_>,
    may_refetch: bool,
) -> Result<(Identity, [u8; 32]), AuthError> {
    let parsed = verify::check_header(decoded, &issuer.rules)?;
    verify_parsed(issuer, parsed, may_refetch).await
}

/// Key lookup, signature and claims of a token whose header passed.
async fn verify_parsed(
    issuer: &Issuer,
    parsed: Parsed<'_>,
    may_refetch: bool,
) -> Result<(Identity, [u8; 32]), AuthError> {
    let keys = issuer.keys.current().ok_or(AuthError::KeysNotLoaded)?;
    let key = find_key(&issuer.keys, keys, &parsed.kid, may_refetch).await?;
    verify::check_signature(&parsed, &key)?;
    let identity = verify::check_claims(parsed, &issuer.rules, &issuer.name, unix_now())?;
    Ok((identity, key.fingerprint))
}

/// The key named `kid` in this issuer's set; an unknown one triggers at most one refetch of
/// this issuer's JWKS per cool-down.
async fn find_key(
    store: &KeyStore,
    keys: Arc<KeySet>,
    kid: &str,
    may_refetch: bool,
) -> Result<Arc<VerifyKey>, AuthError> {
    match keys.keys.get(kid) {
        Some(key) => Ok(Arc::clone(key)),
        None if may_refetch => store
            .refetch_for_unknown_kid(keys.generation)
            .await
            .and_then(|set| set.keys.get(kid).cloned())
            .ok_or_else(|| AuthError::UnknownKeyId(kid.to_owned())),
        None => Err(AuthError::UnknownKeyId(kid.to_owned())),
    }
}

/// For `gateway explain --token`: pick the token's issuer, fetch that issuer's JWKS once and
/// verify `token` with the same checks as the data plane, without starting a background
/// refresh. An `iss` no issuer has is refused without any fetch. The identity names the
/// issuer that verified it (`issuer_name`).
pub async fn explain_token(config: &AuthConfig, token: &str) -> Result<Identity, AuthError> {
    let decoded = decode_named(config, token)?;
    let chosen = pick_config(&config.issuers, decoded.issuer()?)?;
    let metrics = Metrics::default();
    let issuer = Issuers::new(std::slice::from_ref(chosen), &metrics);
    let issuer = issuer
        .get(0)
        .ok_or_else(|| AuthError::Malformed("no issuer".to_owned()))?;
    // Header problems need no keys: say them without fetching.
    let parsed = verify::check_header(decoded, &issuer.rules)?;
    issuer
        .keys
        .refresh()
        .await
        .map_err(AuthError::KeysUnavailable)?;
    verify_parsed(issuer, parsed, false)
        .await
        .map(|(identity, _)| identity)
}

/// For `gateway check`: fetch the JWKS once, as the data plane would; how many usable keys it
/// holds, or why it cannot be had.
pub async fn probe_jwks(config: &IssuerConfig) -> Result<usize, String> {
    let store = KeyStore::new(
        Arc::from(config.name.as_str()),
        &config.jwks_url,
        config.jwks_cooldown,
        Metrics::default().jwks(&config.name),
    );
    store.refresh().await?;
    Ok(store.current().map_or(0, |set| set.keys.len()))
}

/// The offline path: verify `token` against a JWKS document already in hand, with the same
/// checks and in the same order as the data plane (length cap, structure, issuer by `iss`,
/// header, key lookup, key/alg agreement, signature, claims), but without the cache, the
/// network or a runtime.
///
/// `jwks_json` is parsed by the same key-set parser as a fetched JWKS (unusable keys skipped,
/// a document that is not a JWK Set refused as `KeysUnavailable`) and stands for the key set
/// of whichever configured issuer the token names. An unknown `kid` is refused at once: there
/// is nothing to refetch. Used by the fuzz targets (fuzz/) and usable by `explain` when the
/// JWKS is a file.
pub fn verify_with_jwks(
    config: &AuthConfig,
    jwks_json: &str,
    token: &str,
) -> Result<Identity, AuthError> {
    if token.len() > config.max_token_bytes {
        return Err(too_large(token, config.max_token_bytes));
    }
    let keys = jwks::parse_jwks(jwks_json.as_bytes()).map_err(AuthError::KeysUnavailable)?;
    let decoded = decode_named(config, token)?;
    let issuer = pick_config(&config.issuers, decoded.issuer()?)?;
    let rules = Rules::from_config(issuer);
    let parsed = verify::check_header(decoded, &rules)?;
    let key = keys
        .get(&parsed.kid)
        .ok_or_else(|| AuthError::UnknownKeyId(parsed.kid.clone()))?;
    verify::check_signature(&parsed, key)?;
    verify::check_claims(parsed, &rules, &Arc::from(issuer.name.as_str()), unix_now())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::config::IssuerConfig;
    use crate::dev::issuer::{DevIssuer, DevIssuerConfig};

    fn config(issuer: &DevIssuer) -> AuthConfig {
        AuthConfig {
            cache_max_entries: 16,
            ..AuthConfig::single(IssuerConfig {
                jwks_url: issuer.jwks_url(),
                leeway: Duration::ZERO,
                ..IssuerConfig::new("default", issuer.issuer_url(), issuer.audience())
            })
        }
    }

    #[test]
    fn an_opaque_token_names_the_audience_of_its_issuer_or_of_every_issuer() {
        use base64::Engine as _;
        let a = ["https://api-a".to_owned()];
        let b = ["https://api-b".to_owned(), "https://api-a".to_owned()];
        let issuers = [("https://a/", &a[..]), ("https://b/", &b[..])];
        let malformed = || AuthError::Malformed("whatever decode said".to_owned());
        let jwe = |iss: &str| {
            let header = json!({"alg": "dir", "enc": "A256GCM", "iss": iss}).to_string();
            let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(header);
            format!("{header}..aXY.Y3Q.dGFn")
        };
        let named = |token: &str| match name_opaque(malformed(), token, &issuers) {
            AuthError::Opaque { shape, audience } => (shape, audience),
            other => panic!("not named opaque: {other:?}"),
        };
        assert_eq!(
            named(&jwe("https://b/")),
            (
                "a JWE with alg dir",
                "https://api-b or audience=https://api-a".to_owned()
            )
        );
        assert_eq!(named(&jwe("https://a/")).1, "https://api-a");
        // An `iss` no issuer has, or none at all: every configured audience, once each.
        assert_eq!(
            named(&jwe("https://elsewhere/")).1,
            "https://api-a or audience=https://api-b"
        );
        assert_eq!(
            named("0pAqu3t0k3n"),
            (
                "no JWT at all",
                "https://api-a or audience=https://api-b".to_owned()
            )
        );
        // Other failures, and other malformed tokens, keep their own description.
        assert_eq!(
            name_opaque(AuthError::BadSignature, "0pAqu3", &issuers),
            AuthError::BadSignature
        );
        assert_eq!(name_opaque(malformed(), "a.b", &issuers), malformed());
        let text = AuthError::Opaque {
            shape: "no JWT at all",
            audience: "https://clientco/api".to_owned(),
        }
        .to_string();
        assert!(
            text.ends_with(": request it with audience=https://clientco/api"),
            "{text}"
        );
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
