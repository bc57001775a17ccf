//! Every way authentication can fail, with a client-facing description and a stable reason code.
//!
//! The data plane maps `InvalidRequest` to 400, `MissingToken` to 401 without `error=`,
//! `KeysNotLoaded` (the token's issuer has no key set yet) and `StateUnavailable` to 503 with
//! `Retry-After`, the DPoP proof failures to 401 `invalid_dpop_proof` / `use_dpop_nonce`
//! (RFC 9449 §7.1, §8), and every other variant, `UnknownIssuer` included, to 401
//! `invalid_token` (RFC 6750 §3.1). Display is the `error_description`: it says what was wrong and never echoes
//! the token; claim values quoted in it are sanitised by [`quote`] so they are safe inside a
//! `WWW-Authenticate` quoted-string.

/// Every way authentication can fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// 400 `invalid_request`: two Authorization headers, or a header and the cookie at once.
    #[error("{0}")]
    InvalidRequest(String),
    /// 401 without `error=` (RFC 6750 §3.1): no credentials were sent at all.
    #[error("no bearer token was sent")]
    MissingToken,
    /// 503 with `Retry-After`: the token's issuer has never loaded a key set.
    #[error("signing keys are not loaded yet; retry shortly")]
    KeysNotLoaded,
    /// 401: no configured issuer has this `iss` (decided before any key lookup or fetch).
    /// `near_miss`: a configured issuer differs only by a trailing `/`, the classic mistake.
    #[error(
        "unknown issuer {got}{}",
        if *near_miss { " (a configured issuer differs only by its trailing slash; `iss` must match exactly)" } else { "" }
    )]
    UnknownIssuer { got: String, near_miss: bool },
    /// Only from `explain_token` (the one JWKS fetch failed) and `verify_with_jwks` (the
    /// document given is not a usable JWK Set).
    #[error("cannot load the signing keys: {0}")]
    KeysUnavailable(String),
    /// Credentials were sent but are not a usable bearer token (other scheme, empty, bad charset).
    #[error("{0}")]
    UnusableCredentials(&'static str),
    #[error("token is {len} bytes; the limit is {max}")]
    TooLarge { len: usize, max: usize },
    #[error("token is malformed: {0}")]
    Malformed(String),
    /// Auth0's classic mistake: a token requested without `audience` comes back opaque (a JWE
    /// with `alg: dir`, or no JWT at all). `audience`: the configured audience(s) of the issuer
    /// it names (of every issuer when it names none), joined by ` or audience=`.
    #[error(
        "token looks like an Auth0 opaque access token ({shape}), which Auth0 issues when the token request names no API: request it with audience={audience}"
    )]
    Opaque {
        shape: &'static str,
        audience: String,
    },
    #[error("algorithm {0} is not allowed")]
    AlgorithmNotAllowed(String),
    /// RFC 8725 §3.10: keys are only ever taken from the configured JWKS.
    #[error("header parameter {0} is not accepted: keys come only from the issuer's JWKS")]
    EmbeddedKey(&'static str),
    /// RFC 7515 §4.1.11: a `crit` extension we do not understand makes the token invalid.
    #[error("critical header parameter {0} is not supported")]
    UnknownCrit(String),
    #[error("token header has no key id (kid)")]
    MissingKeyId,
    #[error("key id is not acceptable (allowed: letters, digits and -_.:+=, at most 256)")]
    InvalidKeyId,
    #[error("unknown key id {0}")]
    UnknownKeyId(String),
    /// The JWK's `kty`/`crv`/`alg` do not agree with the token's `alg` (RFC 8725 §3.1).
    #[error("algorithm {alg} does not match key {kid} ({key})")]
    KeyAlgorithmMismatch {
        alg: String,
        kid: String,
        key: String,
    },
    #[error("token type {0} is not a JWT access token")]
    WrongType(String),
    #[error("signature does not verify")]
    BadSignature,
    #[error("issuer {got} is not {expected}")]
    WrongIssuer { got: String, expected: String },
    #[error("audience {got} is not {expected}")]
    WrongAudience { got: String, expected: String },
    #[error("required claim {0} is missing")]
    MissingClaim(&'static str),
    #[error("claim {claim} {why}")]
    InvalidClaim {
        claim: &'static str,
        why: &'static str,
    },
    #[error("token expired {ago} s ago")]
    TokenExpired { ago: u64 },
    #[error("token is not valid for another {in_secs} s (nbf)")]
    NotYetValid { in_secs: u64 },
    #[error("token was issued {in_secs} s in the future (iat)")]
    IssuedInFuture { in_secs: u64 },
    /// A `[forward.claims]` claim whose value cannot travel in an HTTP header (CR, LF, NUL, DEL
    /// or another control character): only known when the headers are set. `sub`, `azp` and
    /// the scopes are checked at verification (`InvalidClaim`), so the cache never holds them.
    #[error(
        "claim {0} cannot be carried in an HTTP header (it contains a control character); ask the token issuer to fix the claim"
    )]
    UnforwardableClaim(String),
    /// RFC 9449 §4.3: the `DPoP` proof is missing, repeated or fails a check (`invalid_dpop_proof`).
    #[error("DPoP proof {0}")]
    InvalidDpopProof(String),
    /// RFC 9449 §11.1: this proof's `jti` was already used with this key.
    #[error("DPoP proof was already used (jti replayed); sign a fresh proof for every request")]
    DpopReplay,
    /// RFC 9449 §8: `[auth] dpop_nonce` is on and the proof lacks the current server nonce,
    /// which the 401 carries in `DPoP-Nonce`.
    #[error("DPoP proof must carry the server nonce from the DPoP-Nonce response header")]
    UseDpopNonce,
    /// `[auth] require_binding` or the route's `binding:` demands a bound token this request
    /// did not prove (`binding_required`).
    #[error("{0}")]
    BindingRequired(String),
    /// A bound token presented without its key: as Bearer, with another key's proof, or over
    /// a connection without its certificate (`binding_mismatch`).
    #[error("{0}")]
    BindingMismatch(String),
    /// 503: shared state (the DPoP replay store) cannot take the request; never evicts.
    #[error("{0}")]
    StateUnavailable(String),
}

impl AuthError {
    /// A short stable snake_case code for log `reason=` and metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::InvalidRequest(_) => "invalid_request",
            AuthError::MissingToken => "missing_token",
            AuthError::KeysNotLoaded => "keys_not_loaded",
            AuthError::UnknownIssuer { .. } => "unknown_issuer",
            AuthError::KeysUnavailable(_) => "keys_unavailable",
            AuthError::UnusableCredentials(_) => "unusable_credentials",
            AuthError::TooLarge { .. } => "token_too_large",
            // Still malformed for this gateway: dashboards keep one reason for undecodable tokens.
            AuthError::Malformed(_) | AuthError::Opaque { .. } => "malformed",
            AuthError::AlgorithmNotAllowed(_) => "algorithm_not_allowed",
            AuthError::EmbeddedKey(_) => "embedded_key",
            AuthError::UnknownCrit(_) => "unknown_crit",
            AuthError::MissingKeyId => "missing_kid",
            AuthError::InvalidKeyId => "invalid_kid",
            AuthError::UnknownKeyId(_) => "unknown_kid",
            AuthError::KeyAlgorithmMismatch { .. } => "key_algorithm_mismatch",
            AuthError::WrongType(_) => "wrong_type",
            AuthError::BadSignature => "bad_signature",
            AuthError::WrongIssuer { .. } => "wrong_issuer",
            AuthError::WrongAudience { .. } => "wrong_audience",
            AuthError::MissingClaim(_) => "missing_claim",
            AuthError::InvalidClaim { .. } => "invalid_claim",
            AuthError::TokenExpired { .. } => "token_expired",
            AuthError::NotYetValid { .. } => "not_yet_valid",
            AuthError::IssuedInFuture { .. } => "issued_in_future",
            AuthError::UnforwardableClaim(_) => "invalid_claim",
            AuthError::InvalidDpopProof(_) => "invalid_dpop_proof",
            AuthError::DpopReplay => "dpop_replay",
            AuthError::UseDpopNonce => "use_dpop_nonce",
            AuthError::BindingRequired(_) => "binding_required",
            AuthError::BindingMismatch(_) => "binding_mismatch",
            AuthError::StateUnavailable(_) => "state_unavailable",
        }
    }
}

/// Makes an attacker-controlled value safe to show: printable ASCII without `"` or `\` (so it
/// fits an RFC 9110 §5.6.4 quoted-string unescaped), at most 64 characters.
pub(crate) fn quote(value: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = value
        .chars()
        .take(MAX)
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if value.chars().count() > MAX {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_say_what_was_wrong() {
        assert_eq!(
            AuthError::TokenExpired { ago: 42 }.to_string(),
            "token expired 42 s ago"
        );
        assert_eq!(
            AuthError::WrongAudience {
                got: "https://other/api".into(),
                expected: "https://clientco/api".into()
            }
            .to_string(),
            "audience https://other/api is not https://clientco/api"
        );
        assert_eq!(
            AuthError::UnknownKeyId("k9".into()).to_string(),
            "unknown key id k9"
        );
    }

    #[test]
    fn quoted_values_cannot_break_a_header() {
        assert_eq!(quote("a\"b\\c\r\né"), "a?b?c???");
        assert_eq!(quote(&"x".repeat(100)).len(), 67);
    }
}
