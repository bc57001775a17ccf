//! The signed identity assertion (`[forward.assertion]`): the second wall behind network
//! isolation. Every forwarded request carries a short-lived JWS, signed by the gateway, that
//! names the caller and binds itself to the request it came with (`htm`, `htp`, `route`), so a
//! backend that verifies it (integrations/fastapi) refuses a request that did not come through
//! the gateway, or that carries an assertion captured from another request.
//!
//! `keys` reads the PKCS#8 key files and signs (aws-lc-rs: Ed25519 `EdDSA` or P-256 `ES256`),
//! `claims` is the claim set, `reuse` the optional short window in which identical requests
//! share one assertion. A `Signer` lives in the reloadable `Snapshot` (`proxy::Snapshot`), so a
//! SIGHUP or a file change re-reads the key files, and a bad key keeps the old snapshot serving.
//! The public keys (current and previous) are the JWKS the admin listener serves at
//! `/.well-known/jwks.json` and `gateway assertion-jwks` prints.

pub mod claims;
pub mod keys;
mod reuse;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderName, HeaderValue, Method};

use crate::config::{AssertionConfig, Declared};
use crate::diagnostic::Diagnostic;
use crate::identity::Identity;
use claims::{AssertionClaims, ForwardedClaims};
pub use keys::{Algorithm, KeyError, PublicJwk, SigningKey};

/// The JOSE `typ` of an assertion (RFC 8725 §3.11: explicit typing, so no other JWT the
/// backend sees can pass for one).
pub const ASSERTION_TYPE: &str = "gateway-assertion+jwt";

/// The request an assertion is issued for.
pub struct Binding<'a> {
    pub method: &'a Method,
    /// Exactly the path of the upstream request line (prefix included, escapes as sent, no
    /// query).
    pub htp: &'a str,
    /// The matched route pattern.
    pub route: &'a str,
    /// The verified caller; `None` on a public route.
    pub identity: Option<&'a Arc<Identity>>,
    /// The denial's reason when shadow mode forwards a request the policy denied.
    pub shadow_deny: Option<&'static str>,
    /// The `aud` of the pool the request goes to (`assertion_audience`), so one service
    /// cannot replay another's assertion; `None`: `[forward.assertion] audience`. A route
    /// names one pool, so `route` in the reuse key already keeps audiences apart.
    pub audience: Option<&'a str>,
}

/// Signs the assertions of one `[forward.assertion]` configuration.
pub struct Signer {
    header: HeaderName,
    issuer: String,
    audience: String,
    lifetime_secs: u64,
    key: SigningKey,
    /// The base64url JOSE header (`alg`, `typ`, `kid`), the same for every assertion.
    jose: String,
    jwks: String,
    reuse: Option<reuse::Reuse>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("header", &self.header)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Reads the key files of `config` and prepares the JOSE header and the JWKS.
    pub fn load(config: &AssertionConfig) -> Result<Signer, KeyError> {
        let key = SigningKey::load(&config.key_file)?;
        let previous = match &config.previous_key_file {
            Some(path) => Some(SigningKey::load(path)?.public().clone()),
            None => None,
        };
        Self::new(config, key, previous)
    }

    /// A signer for `key`, publishing `previous` beside it.
    pub fn new(
        config: &AssertionConfig,
        key: SigningKey,
        previous: Option<PublicJwk>,
    ) -> Result<Signer, KeyError> {
        let current = key.public();
        if previous.as_ref().is_some_and(|p| p.kid == current.kid) {
            return Err(KeyError::same_key());
        }
        let mut published = vec![current.jwk.clone()];
        published.extend(previous.map(|p| p.jwk));
        let jwks = serde_json::to_string_pretty(&serde_json::json!({ "keys": published }))
            .unwrap_or_default();
        let jose = serde_json::json!({
            "alg": current.algorithm.name(),
            "typ": ASSERTION_TYPE,
            "kid": current.kid,
        });
        Ok(Signer {
            header: config.header.clone(),
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            lifetime_secs: config.lifetime.as_secs(),
            jose: URL_SAFE_NO_PAD.encode(jose.to_string()),
            jwks,
            reuse: (!config.reuse.is_zero()).then(|| reuse::Reuse::new(config.reuse)),
            key,
        })
    }

    /// The header the assertion travels in (inbound copies of it are stripped).
    pub fn header(&self) -> &HeaderName {
        &self.header
    }

    /// The public keys as a JWKS document (RFC 7517 §5): the signing key, then the previous.
    pub fn jwks(&self) -> &str {
        &self.jwks
    }

    /// The assertion for `binding`: a fresh one, or within the `reuse` window the one an
    /// identical request got. `mapped` is `[forward.claims]`.
    pub fn assertion(
        &self,
        binding: &Binding<'_>,
        mapped: &[(String, HeaderName)],
    ) -> Result<HeaderValue, KeyError> {
        let Some(reuse) = &self.reuse else {
            return self.sign(binding, mapped);
        };
        if let Some(value) = reuse.get(binding) {
            return Ok(value);
        }
        let value = self.sign(binding, mapped)?;
        reuse.put(binding, value.clone());
        Ok(value)
    }

    /// Signs a new assertion: `base64url(header) . base64url(claims) . base64url(signature)`
    /// (RFC 7515 §7.1).
    fn sign(
        &self,
        binding: &Binding<'_>,
        mapped: &[(String, HeaderName)],
    ) -> Result<HeaderValue, KeyError> {
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        let identity = binding.identity.map(Arc::as_ref);
        let jti = claims::new_jti();
        let claims = AssertionClaims {
            iss: &self.issuer,
            aud: binding.audience.unwrap_or(&self.audience),
            iat,
            exp: iat + self.lifetime_secs,
            jti: &jti,
            sub: identity.map(|i| i.subject.as_str()),
            client_id: identity.and_then(|i| i.client_id.as_deref()),
            scope: identity.map(|i| &i.scopes),
            token_iss: identity.map(|i| i.issuer.as_str()),
            claims: ForwardedClaims::new(identity, mapped),
            htm: binding.method.as_str(),
            htp: binding.htp,
            route: binding.route,
            decision: binding.shadow_deny.map(|_| "shadow_deny"),
            reason: binding.shadow_deny,
        };
        let payload = serde_json::to_vec(&claims)
            .map_err(|e| KeyError::new(format!("the assertion's claims: {e}")))?;
        let mut jws = String::with_capacity(self.jose.len() + payload.len() * 4 / 3 + 100);
        jws.push_str(&self.jose);
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut jws);
        let signature = self.key.sign(jws.as_bytes())?;
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut jws);
        // base64url and dots only: always a valid header value.
        HeaderValue::from_maybe_shared(bytes::Bytes::from(jws))
            .map_err(|_| KeyError::new("the assertion is not a header value".to_owned()))
    }
}

/// The check `config` leaves to this module (run by `load`, so `gateway check`, start-up
/// and a reload report it at the line that names the file): both key files parse, and
/// `previous_key_file` is not the signing key.
pub fn check_key_files(
    current: Option<&Declared<std::path::PathBuf>>,
    previous: Option<&Declared<std::path::PathBuf>>,
) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    let mut kid = |declared: &Declared<std::path::PathBuf>| match SigningKey::load(&declared.value)
    {
        Ok(key) => Some(key.public().kid.clone()),
        Err(error) => {
            problems.push(declared.at.problem(error));
            None
        }
    };
    let current_kid = current.and_then(&mut kid);
    let previous_kid = previous.and_then(&mut kid);
    if let (Some(current), Some(old), Some(previous)) = (current_kid, previous_kid, previous)
        && current == old
    {
        problems.push(previous.at.problem(KeyError::same_key()));
    }
    problems
}
