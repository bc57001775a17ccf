//! Sender-constrained tokens: a verified token is accepted only from whoever holds its key.
//!
//! Runs in phase 4 (`authenticate`) right after the token verified, for every non-public
//! request. The rules, in order:
//! 1. mTLS-bound (RFC 8705 §3): a token with `cnf["x5t#S256"]` needs a TLS connection whose
//!    client certificate's SHA-256 (of its DER, base64url) is that value.
//! 2. DPoP (RFC 9449): a token sent with `Authorization: DPoP` needs exactly one `DPoP` proof
//!    that passes `auth::dpop` (structure, key, signature, `htm`, `htu`, `iat`, `ath`), the
//!    server nonce when `[auth] dpop_nonce` is on (§8), a key whose thumbprint is the token's
//!    `cnf.jkt` (§6.1), and a `jti` never seen before with that key (§11.1, the replay store in
//!    `state`; a full store is 503, never an eviction). A DPoP-bound token sent any other way
//!    (as Bearer, in the cookie) is refused: binding can never be stripped.
//! 3. Demands: `[auth] require_binding` and the route's `binding:` must both be met by what
//!    1 and 2 proved (so a route can only tighten the global demand, never loosen it).
//!
//! Failures are `AuthError`s (401, `StateUnavailable` 503); [`Binder::challenge`] says when the
//! 401 carries the `DPoP` challenge (RFC 9449 §7.1) instead of the Bearer one.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, Method, Uri};
use jsonwebtoken::Algorithm;

use super::dpop::{self, Expected, Proof};
use super::jwks::{sha256, unix_now};
use super::nonce::NonceIssuer;
use super::{AuthError, TokenSource};
use crate::config::BindingConfig;
use crate::identity::{Binding, Identity};
use crate::state::{NonceKeys, ReplayStore, Seen};

/// The request header that carries a DPoP proof (RFC 9449 §4.1).
pub const DPOP: &str = "dpop";
/// The response header that carries a server nonce (RFC 9449 §8.1).
pub const DPOP_NONCE: &str = "dpop-nonce";

/// What a 401 answered with the `DPoP` scheme carries (RFC 9449 §7.1, §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopChallenge {
    /// The accepted proof algorithms, space-separated (`algs`).
    pub algs: String,
    /// A fresh server nonce for `DPoP-Nonce`, when nonces are on.
    pub nonce: Option<String>,
}

/// The request facts the binding rules read.
pub struct Presented<'r> {
    pub source: TokenSource,
    /// The token's bytes: checked, or byte-equal to a checked token the cache holds.
    pub token: &'r [u8],
    pub headers: &'r HeaderMap,
    pub method: &'r Method,
    pub uri: &'r Uri,
    /// The normalised path (phase 2): what `htu` is compared with.
    pub path: &'r str,
    pub tls: bool,
    /// SHA-256 of the connection's client certificate (DER), when it presented one.
    pub client_cert: Option<[u8; 32]>,
}

/// The binding rules with their settings and the replay store. One per gateway.
pub struct Binder {
    algorithms: Vec<Algorithm>,
    algs: String,
    window_secs: u64,
    leeway_secs: u64,
    require: Binding,
    public_url: Option<String>,
    nonces: Option<NonceIssuer>,
    replay: Arc<dyn ReplayStore>,
}

impl Binder {
    /// `leeway` is `[auth] leeway` (a proof's `iat` may be that far in the future);
    /// `nonce_keys` the replicas' shared nonce keys (`[state] redis`), if any.
    pub fn new(
        config: &BindingConfig,
        leeway: std::time::Duration,
        replay: Arc<dyn ReplayStore>,
        nonce_keys: Option<Arc<NonceKeys>>,
    ) -> Binder {
        let window_secs = config.dpop_window.as_secs().max(1);
        Binder {
            algs: dpop::algorithm_names(&config.dpop_algorithms),
            algorithms: config.dpop_algorithms.clone(),
            window_secs,
            leeway_secs: leeway.as_secs() + u64::from(leeway.subsec_nanos() > 0),
            require: config.require_binding,
            public_url: config
                .public_url
                .as_ref()
                .map(|url| url.trim_end_matches('/').to_owned()),
            nonces: config
                .dpop_nonce
                .then(|| NonceIssuer::new(window_secs).shared(nonce_keys)),
            replay,
        }
    }

    /// `[auth] require_binding`.
    pub fn required(&self) -> Binding {
        self.require
    }

    /// The 401 for a request that used the DPoP scheme, or whose route (or `require_binding`)
    /// accepts DPoP-bound tokens, carries the `DPoP` challenge (RFC 9449 §7.1).
    pub fn challenge(&self, source: Option<TokenSource>, route: Binding) -> Option<DpopChallenge> {
        let dpop = source == Some(TokenSource::DpopScheme)
            || self.require.accepts_dpop()
            || route.accepts_dpop();
        dpop.then(|| DpopChallenge {
            algs: self.algs.clone(),
            nonce: self.nonces.as_ref().map(|n| n.current(unix_now())),
        })
    }

    /// The three rules of the module doc for a verified `identity` on a route demanding
    /// `route`.
    pub async fn check(
        &self,
        identity: &Identity,
        request: &Presented<'_>,
        route: Binding,
    ) -> Result<(), AuthError> {
        let dpop_scheme = request.source == TokenSource::DpopScheme;
        if !identity.cnf.is_bound()
            && !dpop_scheme
            && self.require == Binding::None
            && route == Binding::None
        {
            return Ok(());
        }
        let mtls = certificate_binding(identity, request.client_cert)?;
        let dpop = if dpop_scheme {
            let proof = self.verified_proof(request)?;
            key_binding(identity, &proof)?;
            // Boxed: the Redis path's future would otherwise size every request's.
            Box::pin(self.remember(&proof)).await?;
            true
        } else if identity.cnf.jkt.is_some() {
            return Err(AuthError::BindingMismatch(
                "this token is DPoP-bound (cnf.jkt): send it as `Authorization: DPoP <token>` with a DPoP proof signed by its key"
                    .to_owned(),
            ));
        } else {
            false
        };
        demands_met(self.require, route, dpop, mtls)
    }

    /// The proof's own checks (RFC 9449 §4.3) and the nonce (§8).
    fn verified_proof(&self, request: &Presented<'_>) -> Result<Proof, AuthError> {
        let proof = single_proof(request.headers)?;
        let proof = dpop::parse(proof, &self.algorithms)?;
        let htu = self.expected_htu(request);
        // A checked b64token is always text; were it not, the proof is refused, never left unbound.
        let token = std::str::from_utf8(request.token)
            .map_err(|_| AuthError::UnusableCredentials(super::extract::NOT_ASCII))?;
        let now = unix_now();
        dpop::check(
            &proof,
            &Expected {
                method: request.method.as_str(),
                htu: htu.as_deref(),
                access_token: Some(token),
                now,
                window_secs: self.window_secs,
                leeway_secs: self.leeway_secs,
            },
        )?;
        if let Some(nonces) = &self.nonces
            && !proof
                .nonce
                .as_deref()
                .is_some_and(|n| nonces.accepts(n, now))
        {
            return Err(AuthError::UseDpopNonce);
        }
        Ok(proof)
    }

    /// RFC 9449 §11.1: a `jti` is single-use per key until its proof can no longer be accepted.
    async fn remember(&self, proof: &Proof) -> Result<(), AuthError> {
        let key = sha256(
            [proof.jkt.as_bytes(), b"\0", proof.jti.as_bytes()]
                .concat()
                .as_slice(),
        );
        let iat = proof.iat.max(0.0).floor() as u64;
        let expires_at = iat
            .saturating_add(self.window_secs)
            .saturating_add(self.leeway_secs);
        match self.replay.remember(key, expires_at).await {
            Ok(Seen::New) => Ok(()),
            Ok(Seen::Replayed) => Err(AuthError::DpopReplay),
            Err(error) => Err(AuthError::StateUnavailable(error.to_string())),
        }
    }

    /// The URI the client addressed: `[server] public_url` and the path, else the listener's
    /// scheme, the request's authority (HTTP/2 `:authority` or an absolute-form target, else
    /// the one `Host`) and the path; never `X-Forwarded-*`.
    fn expected_htu(&self, request: &Presented<'_>) -> Option<String> {
        let base = match &self.public_url {
            Some(url) => url.clone(),
            None => {
                let mut hosts = request.headers.get_all(http::header::HOST).iter();
                let host = match hosts.next() {
                    Some(host) => Some(host.to_str().ok()?),
                    None => None,
                };
                if hosts.next().is_some() {
                    return None;
                }
                // A target authority (HTTP/2 `:authority`, absolute-form) and a `Host` that
                // disagree name two origins; neither is trusted (RFC 9113 §8.3.1).
                let authority = match (request.uri.authority(), host) {
                    (Some(authority), Some(host))
                        if !authority.as_str().eq_ignore_ascii_case(host) =>
                    {
                        return None;
                    }
                    (Some(authority), _) => authority.as_str().to_owned(),
                    (None, Some(host)) => host.to_owned(),
                    (None, None) => return None,
                };
                let scheme = if request.tls { "https" } else { "http" };
                format!("{scheme}://{authority}")
            }
        };
        dpop::normalise_htu(&format!("{base}{}", request.path))
    }
}

/// RFC 9449 §4.3 step 1: exactly one `DPoP` header, of visible ASCII.
fn single_proof(headers: &HeaderMap) -> Result<&str, AuthError> {
    let mut proofs = headers.get_all(DPOP).iter();
    let (Some(proof), None) = (proofs.next(), proofs.next()) else {
        return Err(AuthError::InvalidDpopProof(
            "header: the DPoP scheme needs exactly one DPoP header carrying a proof".to_owned(),
        ));
    };
    proof
        .to_str()
        .map(str::trim)
        .map_err(|_| AuthError::InvalidDpopProof("header is not ASCII".to_owned()))
}

/// RFC 9449 §6.1: the proof's key is the one the token is bound to.
pub fn key_binding(identity: &Identity, proof: &Proof) -> Result<(), AuthError> {
    match &identity.cnf.jkt {
        None => Err(AuthError::BindingMismatch(
            "the token is not DPoP-bound (no cnf.jkt), so a DPoP proof cannot be checked against it; send it as Bearer or request a DPoP-bound token"
                .to_owned(),
        )),
        Some(jkt) if constant_time_eq(jkt, &proof.jkt) => Ok(()),
        Some(_) => Err(AuthError::BindingMismatch(
            "the DPoP proof is signed by another key than the one the token is bound to (cnf.jkt)"
                .to_owned(),
        )),
    }
}

/// RFC 8705 §3: a certificate-bound token needs its certificate on this connection. `Ok(true)`
/// when the token is certificate-bound and the certificate matches.
pub fn certificate_binding(
    identity: &Identity,
    client_cert: Option<[u8; 32]>,
) -> Result<bool, AuthError> {
    let Some(bound) = &identity.cnf.x5t_s256 else {
        return Ok(false);
    };
    match client_cert {
        None => Err(AuthError::BindingMismatch(
            "this token is bound to a client certificate (cnf x5t#S256): present that certificate over TLS"
                .to_owned(),
        )),
        Some(thumbprint) if constant_time_eq(bound, &URL_SAFE_NO_PAD.encode(thumbprint)) => Ok(true),
        Some(_) => Err(AuthError::BindingMismatch(
            "the token is bound to another client certificate than this connection's (cnf x5t#S256)"
                .to_owned(),
        )),
    }
}

/// Rule 3: `[auth] require_binding`, then the route's `binding:`, against what was proved.
pub fn demands_met(
    global: Binding,
    route: Binding,
    dpop: bool,
    mtls: bool,
) -> Result<(), AuthError> {
    for (demand, by) in [(global, "[auth] require_binding"), (route, "this route")] {
        if !demand.is_met(dpop, mtls) {
            let what = match demand {
                Binding::Dpop => "a DPoP-bound token sent with `Authorization: DPoP` and its proof",
                Binding::Mtls => {
                    "a certificate-bound token on a connection with its client certificate"
                }
                _ => {
                    "a sender-constrained token (DPoP-bound with its proof, or certificate-bound with its certificate)"
                }
            };
            return Err(AuthError::BindingRequired(format!("{by} requires {what}")));
        }
    }
    Ok(())
}

/// The SHA-256 of a certificate's DER: what `cnf["x5t#S256"]` names, before base64url.
pub fn certificate_thumbprint(der: &[u8]) -> [u8; 32] {
    sha256(der)
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}
