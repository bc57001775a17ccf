//! The JWKS cache: which keys may verify one issuer's tokens right now.
//!
//! Each configured issuer has its own `KeyStore` and refresh task, so one issuer's outage,
//! cool-down or key removal never touches another's. `KeyStore` holds the last good key set (`ArcSwapOption`, one atomic load per request) and
//! serialises every fetch behind one async mutex. That mutex is the single flight: concurrent
//! requests with an unknown `kid` queue on it, and whoever gets it after a fetch has replaced the
//! set (generation changed) or within the cool-down of the last unknown-kid refetch uses what is
//! there instead of fetching again. A failed fetch never replaces the set (stale-if-error); a
//! successful one replaces it whole, so a key that left the JWKS is gone at once.
//!
//! Parsing is per key: a JWK with an unsupported `kty`, `use` other than `sig`, `key_ops`
//! without `verify` (RFC 7517 §4.3), an `alg` that contradicts its `kty`/`crv`, an RSA public
//! exponent below 65537 (e = 3 is the exponent of the signature-forgery attacks on lax
//! verifiers; RFC 8017 allows it, but current JOSE libraries and NIST SP 800-56B refuse it), or
//! broken parameters is skipped with a warning (RFC 7517 §5: "implementations SHOULD ignore JWKs
//! within a JWK Set that use kty values that are not understood"). A document that is not a JWK
//! Set, whose keys are all unusable, or that names one `kid` twice (which key would a token's
//! `kid` choose?) is a failed fetch: the last good set keeps serving.
//!
//! The document is fetched from `jwks_url` and redirects are followed only within its origin
//! (scheme, host and port; at most `MAX_JWKS_REDIRECTS`): whoever controls a redirect on the
//! issuer's host must not choose the keys, so a redirect to another origin fails the fetch.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde_json::{Map, Value};
use tracing::{info, warn};

use crate::telemetry::metrics::JwksMetrics;

/// JWKS documents are a few KiB; refuse anything beyond this while streaming.
use crate::constants::{JWKS_FIRST_RETRY, JWKS_MAX_RETRY, JWKS_MIN_REFRESH, MAX_JWKS_BYTES};

/// One verification key from the JWKS.
pub struct VerifyKey {
    pub kid: String,
    pub family: AlgorithmFamily,
    /// `crv` for EC/OKP keys.
    pub curve: Option<&'static str>,
    /// The JWK's own `alg`, when it names one: the token's `alg` must then be exactly this.
    pub alg: Option<Algorithm>,
    pub decoding: DecodingKey,
    /// SHA-256 of the key material: a cached verification is only valid while the key under
    /// its `kid` is still this one.
    pub fingerprint: [u8; 32],
}

impl VerifyKey {
    /// A short description for error messages, e.g. `RSA` or `EC P-256`.
    pub fn describe(&self) -> String {
        let kty = match self.family {
            AlgorithmFamily::Rsa => "RSA",
            AlgorithmFamily::Ec => "EC",
            AlgorithmFamily::Ed => "OKP",
            AlgorithmFamily::Hmac => "oct",
        };
        match (self.curve, self.alg) {
            (Some(crv), _) => format!("{kty} {crv}"),
            (None, Some(alg)) => format!("{kty} {alg:?}"),
            (None, None) => kty.to_owned(),
        }
    }

    /// RFC 8725 §3.1: the token's `alg` must be one this key is for.
    pub fn agrees_with(&self, alg: Algorithm) -> bool {
        if alg.family() != self.family || self.alg.is_some_and(|a| a != alg) {
            return false;
        }
        match alg {
            Algorithm::ES256 => self.curve == Some("P-256"),
            Algorithm::ES384 => self.curve == Some("P-384"),
            Algorithm::EdDSA => self.curve == Some("Ed25519"),
            _ => true,
        }
    }
}

/// A complete key set as fetched once.
pub struct KeySet {
    pub keys: HashMap<String, Arc<VerifyKey>>,
    /// Bumped on every successful fetch (single-flight bookkeeping).
    pub generation: u64,
}

/// RFC 7515 §4.1.4 leaves `kid` free-form; we accept what issuers use and nothing that could
/// be a path or a control sequence if a key id ever reaches a file name or a log.
pub fn is_acceptable_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= 256
        && !kid.contains("..")
        && kid.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'+' | b'=')
        })
}

/// Parses a JWK Set document. `Err` when it is not a JWK Set; unusable keys are skipped.
pub fn parse_jwks(body: &[u8]) -> Result<HashMap<String, Arc<VerifyKey>>, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| format!("JWKS is not JSON: {e}"))?;
    let Some(entries) = doc.get("keys").and_then(Value::as_array) else {
        return Err("JWKS is not a JWK Set (no \"keys\" array)".to_owned());
    };
    let mut kids = std::collections::HashSet::new();
    for kid in entries
        .iter()
        .filter_map(|e| e.get("kid").and_then(Value::as_str))
    {
        if !kids.insert(kid) {
            return Err(format!(
                "JWKS names kid {} twice; refusing the whole document (a kid must choose one key)",
                super::error::quote(kid)
            ));
        }
    }
    let mut keys = HashMap::new();
    for (index, entry) in entries.iter().enumerate() {
        let parsed = entry
            .as_object()
            .ok_or_else(|| "not a JSON object".to_owned())
            .and_then(parse_jwk);
        match parsed {
            Ok(key) => {
                keys.insert(key.kid.clone(), Arc::new(key));
            }
            Err(why) => warn!(index, reason = %why, "JWKS: skipping a key"),
        }
    }
    if keys.is_empty() && !entries.is_empty() {
        return Err(format!(
            "none of the {} keys in the JWKS is usable",
            entries.len()
        ));
    }
    Ok(keys)
}

fn parse_jwk(jwk: &Map<String, Value>) -> Result<VerifyKey, String> {
    let text = |name: &str| jwk.get(name).and_then(Value::as_str);
    let kid = text("kid").ok_or("no kid")?;
    if !is_acceptable_kid(kid) {
        return Err("kid has characters outside -_.:+= and alphanumerics".to_owned());
    }
    if let Some(usage) = jwk.get("use")
        && usage.as_str() != Some("sig")
    {
        return Err(format!("kid {kid}: use is {usage}, not \"sig\""));
    }
    // RFC 7517 §4.3: a key whose permitted operations exclude verification is not for us.
    match jwk.get("key_ops") {
        None => {}
        Some(Value::Array(ops)) if ops.iter().any(|op| op.as_str() == Some("verify")) => {}
        Some(Value::Array(_)) => {
            return Err(format!("kid {kid}: key_ops does not include \"verify\""));
        }
        Some(_) => return Err(format!("kid {kid}: key_ops is not an array")),
    }
    let alg = match text("alg") {
        None => None,
        Some(name) => {
            Some(Algorithm::from_str(name).map_err(|_| format!("kid {kid}: unknown alg {name}"))?)
        }
    };
    let b64 = |name: &str| -> Result<Vec<u8>, String> {
        let value = text(name).ok_or_else(|| format!("kid {kid}: no {name}"))?;
        URL_SAFE_NO_PAD
            .decode(value)
            .map_err(|_| format!("kid {kid}: {name} is not base64url"))
    };
    let bad = |e: jsonwebtoken::errors::Error| format!("kid {kid}: {e}");
    let (family, curve, decoding, material) = match text("kty") {
        Some("RSA") => {
            let n = b64("n")?;
            let e = b64("e")?;
            let modulus = n.iter().skip_while(|&&b| b == 0).count();
            // RFC 7518 §3.3: keys of 2048 bits or larger MUST be used.
            if modulus < 256 {
                return Err(format!("kid {kid}: RSA modulus below 2048 bits"));
            }
            if e.is_empty() {
                return Err(format!("kid {kid}: empty RSA exponent"));
            }
            if let Some(small) = small_exponent(&e) {
                return Err(format!(
                    "kid {kid}: RSA exponent {small} is below 65537 (refused, as current JOSE libraries do)"
                ));
            }
            let key = DecodingKey::from_rsa_raw_components(&n, &e);
            (
                AlgorithmFamily::Rsa,
                None,
                key,
                [b"RSA".to_vec(), n, e].concat(),
            )
        }
        Some("EC") => {
            let (crv, size) = match text("crv") {
                Some("P-256") => ("P-256", 32),
                Some("P-384") => ("P-384", 48),
                other => return Err(format!("kid {kid}: unsupported EC curve {other:?}")),
            };
            let (x, y) = (b64("x")?, b64("y")?);
            if x.len() != size || y.len() != size {
                return Err(format!("kid {kid}: {crv} coordinates must be {size} bytes"));
            }
            let key = DecodingKey::from_ec_components(
                text("x").unwrap_or_default(),
                text("y").unwrap_or_default(),
            )
            .map_err(bad)?;
            let material = [crv.as_bytes(), &x, &y].concat();
            (AlgorithmFamily::Ec, Some(crv), key, material)
        }
        Some("OKP") => {
            if text("crv") != Some("Ed25519") {
                return Err(format!("kid {kid}: unsupported OKP curve"));
            }
            let x = b64("x")?;
            if x.len() != 32 {
                return Err(format!("kid {kid}: Ed25519 x must be 32 bytes"));
            }
            let key =
                DecodingKey::from_ed_components(text("x").unwrap_or_default()).map_err(bad)?;
            let material = [b"Ed25519".as_slice(), &x].concat();
            (AlgorithmFamily::Ed, Some("Ed25519"), key, material)
        }
        other => return Err(format!("kid {kid}: unsupported kty {other:?}")),
    };
    let key = VerifyKey {
        kid: kid.to_owned(),
        family,
        curve,
        alg,
        decoding,
        fingerprint: sha256(&material),
    };
    if let Some(alg) = alg
        && !key.agrees_with(alg)
    {
        return Err(format!(
            "kid {kid}: alg {alg:?} contradicts {}",
            key.describe()
        ));
    }
    Ok(key)
}

/// The RSA public exponent (big-endian bytes) when it is below 65537, `None` otherwise.
fn small_exponent(e: &[u8]) -> Option<u64> {
    let significant: Vec<u8> = e.iter().copied().skip_while(|&b| b == 0).collect();
    if significant.len() > 8 {
        return None;
    }
    let value = significant
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    (value < 65537).then_some(value)
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Downloads the JWKS with bounded time and size.
struct Fetcher {
    url: String,
    /// Built once; `Err` keeps the reason if the TLS backend could not initialise.
    client: Result<reqwest::Client, String>,
}

impl Fetcher {
    fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            client: crate::fetch::client("jwks", crate::fetch::Redirects::SameOrigin),
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<VerifyKey>>, String> {
        let client = self.client.as_ref().map_err(Clone::clone)?;
        let body = crate::fetch::get_bounded(
            client,
            &self.url,
            "application/json",
            MAX_JWKS_BYTES,
            "JWKS",
        )
        .await?;
        parse_jwks(&body)
    }
}

struct FetchState {
    /// When the last unknown-kid refetch ran (the cool-down clock).
    last_refetch: Option<Instant>,
    next_generation: u64,
}

/// The last good key set of one issuer, plus the machinery that replaces it.
pub struct KeyStore {
    /// The issuer's name, for logs.
    issuer: Arc<str>,
    fetcher: Fetcher,
    current: ArcSwapOption<KeySet>,
    fetch: tokio::sync::Mutex<FetchState>,
    cooldown: Duration,
    metrics: JwksMetrics,
}

impl KeyStore {
    pub fn new(issuer: Arc<str>, jwks_url: &str, cooldown: Duration, metrics: JwksMetrics) -> Self {
        Self {
            issuer,
            fetcher: Fetcher::new(jwks_url),
            current: ArcSwapOption::const_empty(),
            fetch: tokio::sync::Mutex::new(FetchState {
                last_refetch: None,
                next_generation: 1,
            }),
            cooldown,
            metrics,
        }
    }

    /// Fetches so far, failed fetches, whether the set in force is stale (the last refresh
    /// failed), and the Unix time of the last successful fetch (0: none yet), from its metrics.
    pub fn status(&self) -> (u64, u64, bool, u64) {
        (
            self.metrics.fetches.get(),
            self.metrics.fetch_failures.get(),
            self.metrics.stale.get() != 0,
            u64::try_from(self.metrics.last_success.get()).unwrap_or(0),
        )
    }

    /// The key set in force, `None` until the first successful fetch.
    pub fn current(&self) -> Option<Arc<KeySet>> {
        self.current.load_full()
    }

    /// Fetches now (background refresh, start-up, `explain`). Waits for a fetch in flight.
    pub async fn refresh(&self) -> Result<(), String> {
        let mut state = self.fetch.lock().await;
        self.fetch_locked(&mut state).await
    }

    /// An unknown `kid` was seen with key set `seen_generation`: refetch unless someone already
    /// did since, or the last refetch is within the cool-down. Returns the set to retry with.
    pub async fn refetch_for_unknown_kid(&self, seen_generation: u64) -> Option<Arc<KeySet>> {
        let mut state = self.fetch.lock().await;
        let current = self.current();
        if current
            .as_ref()
            .is_some_and(|set| set.generation != seen_generation)
        {
            return current;
        }
        if state
            .last_refetch
            .is_some_and(|at| at.elapsed() < self.cooldown)
        {
            return current;
        }
        state.last_refetch = Some(Instant::now());
        let _ = self.fetch_locked(&mut state).await;
        self.current()
    }

    async fn fetch_locked(&self, state: &mut FetchState) -> Result<(), String> {
        self.metrics.fetches.inc();
        let issuer = &*self.issuer;
        match self.fetcher.fetch().await {
            Ok(keys) => {
                let previous = self.current();
                if let Some(previous) = &previous {
                    for kid in previous.keys.keys().filter(|k| !keys.contains_key(*k)) {
                        info!(issuer, kid = %kid, "JWKS: key removed; tokens signed with it now fail");
                    }
                }
                let count = keys.len();
                self.current.store(Some(Arc::new(KeySet {
                    keys,
                    generation: state.next_generation,
                })));
                state.next_generation += 1;
                self.metrics.keys.set(count as i64);
                self.metrics.stale.set(0);
                self.metrics.last_success.set(unix_now() as i64);
                info!(issuer, keys = count, url = %self.fetcher.url, "JWKS loaded");
                Ok(())
            }
            Err(why) => {
                self.metrics.fetch_failures.inc();
                if self.current().is_some() {
                    self.metrics.stale.set(1);
                    warn!(issuer, reason = %why, "JWKS refresh failed; keeping the last good key set (stale-if-error)");
                } else {
                    warn!(issuer, reason = %why, "JWKS fetch failed; no key set loaded yet");
                }
                Err(why)
            }
        }
    }
}

/// The background task: load with backoff until the first success, then refresh every
/// `period`; after a failure retry sooner (backoff, capped at `period`).
pub async fn run_refresh(store: Arc<KeyStore>, period: Duration) {
    // A zero period would hammer the issuer in a tight loop.
    let period = period.max(JWKS_MIN_REFRESH);
    let mut retry = JWKS_FIRST_RETRY;
    let mut loaded = false;
    loop {
        match store.refresh().await {
            Ok(()) => {
                loaded = true;
                retry = JWKS_FIRST_RETRY;
                tokio::time::sleep(period).await;
            }
            Err(_) => {
                let wait = if loaded { retry.min(period) } else { retry };
                tokio::time::sleep(wait).await;
                retry = (retry * 2).min(JWKS_MAX_RETRY);
            }
        }
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn kid_with_path_characters_is_refused() {
        for kid in ["../../etc/passwd", "a/b", "a\\b", "", "k\0", "a..b", "k y"] {
            assert!(!is_acceptable_kid(kid), "{kid:?}");
        }
        for kid in [
            "dev-1-abcd",
            "NjVBRjY5MDlCMUIwNzU4RTA2QzZFMDQ4QzQ2MDAyQjVDNjk1RTM2Qg",
            "a.b:c==",
        ] {
            assert!(is_acceptable_kid(kid), "{kid:?}");
        }
    }

    #[test]
    fn not_a_jwk_set_is_a_failed_fetch() {
        assert!(parse_jwks(b"<html>").is_err());
        assert!(parse_jwks(b"[1,2]").is_err());
        assert!(parse_jwks(br#"{"keys": {}}"#).is_err());
        assert!(parse_jwks(br#"{"keys": [{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}"#).is_err());
        assert!(parse_jwks(br#"{"keys": []}"#).is_ok_and(|k| k.is_empty()));
    }

    #[test]
    fn unusable_keys_are_skipped_not_fatal() {
        let x = URL_SAFE_NO_PAD.encode([1u8; 32]);
        let doc = serde_json::json!({"keys": [
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "small", "n": URL_SAFE_NO_PAD.encode([0xc1u8; 128]), "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": URL_SAFE_NO_PAD.encode([0xc1u8; 256]), "e": "AQAB"},
            {"kty": "RSA", "kid": "liar", "alg": "ES256", "n": URL_SAFE_NO_PAD.encode([0xc1u8; 256]), "e": "AQAB"},
            {"kty": "EC", "kid": "short", "crv": "P-256", "x": x, "y": "AQAB"},
            {"kty": "RSA", "kid": "good", "alg": "RS256", "n": URL_SAFE_NO_PAD.encode([0xc1u8; 256]), "e": "AQAB"},
        ]});
        let keys = parse_jwks(doc.to_string().as_bytes()).unwrap();
        assert_eq!(keys.keys().collect::<Vec<_>>(), vec!["good"]);
        let good = &keys["good"];
        assert!(good.agrees_with(Algorithm::RS256));
        assert!(!good.agrees_with(Algorithm::RS384));
        assert!(!good.agrees_with(Algorithm::HS256));
        assert!(!good.agrees_with(Algorithm::ES256));
    }

    fn rsa(kid: &str, e: &[u8]) -> Value {
        serde_json::json!({"kty": "RSA", "kid": kid, "n": URL_SAFE_NO_PAD.encode([0xc1u8; 256]), "e": URL_SAFE_NO_PAD.encode(e)})
    }

    #[test]
    fn rsa_exponents_below_65537_are_skipped() {
        let doc = serde_json::json!({"keys": [
            rsa("e3", &[3]),
            rsa("e3-padded", &[0, 0, 3]),
            rsa("e65535", &[0xff, 0xff]),
            rsa("e65537", &[1, 0, 1]),
            rsa("big", &[1, 0, 0, 0, 0, 0, 0, 0, 1]),
        ]});
        let keys = parse_jwks(doc.to_string().as_bytes()).unwrap();
        let mut kids: Vec<_> = keys.keys().map(String::as_str).collect();
        kids.sort_unstable();
        assert_eq!(kids, ["big", "e65537"]);
    }

    #[test]
    fn keys_whose_key_ops_exclude_verify_are_skipped() {
        let with_ops = |kid: &str, ops: Value| {
            let mut key = rsa(kid, &[1, 0, 1]);
            key["key_ops"] = ops;
            key
        };
        let doc = serde_json::json!({"keys": [
            with_ops("sign-only", serde_json::json!(["sign"])),
            with_ops("encrypt", serde_json::json!(["encrypt", "wrapKey"])),
            with_ops("empty", serde_json::json!([])),
            with_ops("not-a-list", serde_json::json!("verify")),
            with_ops("verify", serde_json::json!(["sign", "verify"])),
            rsa("no-ops", &[1, 0, 1]),
        ]});
        let keys = parse_jwks(doc.to_string().as_bytes()).unwrap();
        let mut kids: Vec<_> = keys.keys().map(String::as_str).collect();
        kids.sort_unstable();
        assert_eq!(kids, ["no-ops", "verify"]);
    }

    #[test]
    fn a_document_naming_one_kid_twice_is_refused_whole() {
        let doc = serde_json::json!({"keys": [
            rsa("k1", &[1, 0, 1]),
            rsa("k2", &[1, 0, 1]),
            rsa("k1", &[1, 0, 1]),
        ]});
        let error = parse_jwks(doc.to_string().as_bytes()).err().unwrap();
        assert!(error.contains("kid k1 twice"), "{error}");
        // Even when one of the two could not be used anyway.
        let doc = serde_json::json!({"keys": [
            {"kty": "oct", "kid": "k1", "k": "c2VjcmV0"},
            rsa("k1", &[1, 0, 1]),
        ]});
        assert!(parse_jwks(doc.to_string().as_bytes()).is_err());
    }
}
