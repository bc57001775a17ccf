//! DPoP proofs (RFC 9449): parsing and the §4.3 checks, as pure functions of their inputs.
//!
//! [`parse`] takes the `DPoP` header's value apart and checks what needs no request: the JWS
//! structure, `typ: dpop+jwt` (§4.2), an `alg` from `[auth] dpop_algorithms` (never `none` or
//! an HMAC), a public `jwk` in the header and nothing private beside it (§4.2: no `d`, `p`, `q`,
//! `dp`, `dq`, `qi`, `oth`, `k`), the key agreeing with the `alg` (RFC 8725 §3.1), the
//! signature made with that key, and the claims' types (`jti`, `htm`, `htu`, `iat`; `ath` and
//! `nonce` when present). Its result carries the key's RFC 7638 thumbprint.
//!
//! [`check`] compares a parsed proof with the request it came on: `htm` the method, `htu` the
//! URI the client addressed (both sides through [`normalise_htu`]: RFC 3986 §6.2.2-6.2.3 and
//! the gateway's own path normalisation, no query or fragment), `iat` within
//! [now − `dpop_window`, now + leeway], and `ath` = base64url(SHA-256(access token)) (§4.3
//! step 12). The key binding (`cnf.jkt`), the nonce (§8) and the `jti` replay check (§11.1)
//! need the token and the gateway's state, and live in `auth::binding`.

use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde_json::{Map, Value};

use super::AuthError;
use super::error::quote;
use super::jwks::sha256;
use crate::constants::{DPOP_MAX_JTI_BYTES, DPOP_MAX_PROOF_BYTES};

/// JWK members that only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2, §6.4;
/// RFC 8037 §2): a proof carrying one leaks the client's key, and is refused (RFC 9449 §4.2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A proof whose structure, key and signature hold; its claims not yet compared with the
/// request.
#[derive(Debug, Clone)]
pub struct Proof {
    pub alg: Algorithm,
    /// RFC 7638 SHA-256 thumbprint of the header's `jwk`, base64url: what `cnf.jkt` names.
    pub jkt: String,
    pub jti: String,
    pub htm: String,
    pub htu: String,
    /// Seconds since the epoch (fractions allowed by RFC 7519 §2, kept whole-second here).
    pub iat: f64,
    pub ath: Option<String>,
    pub nonce: Option<String>,
}

/// What a proof must agree with: the request as the gateway received it.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub method: &'a str,
    /// The request URI as the client addressed the gateway, already through
    /// [`normalise_htu`]; `None` when it cannot be known (then `htu` is refused).
    pub htu: Option<&'a str>,
    /// The access token the proof travels with (a resource server's view; `ath` is then
    /// required); `None` at a token endpoint, which receives none.
    pub access_token: Option<&'a str>,
    pub now: u64,
    pub window_secs: u64,
    pub leeway_secs: u64,
}

fn invalid(why: impl Into<String>) -> AuthError {
    AuthError::InvalidDpopProof(why.into())
}

/// The header-only and signature checks of RFC 9449 §4.3 (steps 2-8).
pub fn parse(proof: &str, algorithms: &[Algorithm]) -> Result<Proof, AuthError> {
    if proof.len() > DPOP_MAX_PROOF_BYTES {
        return Err(invalid(format!(
            "is {} bytes; the limit is {DPOP_MAX_PROOF_BYTES}",
            proof.len()
        )));
    }
    let mut segments = proof.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(invalid("is not a JWS with 3 dot-separated segments"));
    };
    let header = object(header_b64, "header")?;
    let payload = object(payload_b64, "payload")?;
    if signature.is_empty() || URL_SAFE_NO_PAD.decode(signature).is_err() {
        return Err(invalid("signature is not base64url"));
    }
    // §4.2: `typ` is `dpop+jwt` (media type names compare case-insensitively).
    match header.get("typ").and_then(Value::as_str) {
        Some(typ) if typ.eq_ignore_ascii_case("dpop+jwt") => {}
        Some(typ) => return Err(invalid(format!("typ is {}, not dpop+jwt", quote(typ)))),
        None => return Err(invalid("has no typ (it must be dpop+jwt)")),
    }
    let alg = allowed_alg(&header, algorithms)?;
    if let Some(crit) = header.get("crit") {
        let name = crit
            .as_array()
            .and_then(|l| l.first())
            .and_then(Value::as_str);
        return Err(invalid(format!(
            "critical header parameter {} is not supported",
            quote(name.unwrap_or("(malformed)"))
        )));
    }
    let Some(Value::Object(jwk)) = header.get("jwk") else {
        return Err(invalid(
            "header has no jwk object (the client's public key)",
        ));
    };
    if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| jwk.contains_key(**m)) {
        return Err(invalid(format!(
            "jwk has the private member {member}: send the public key only"
        )));
    }
    let (key, family, curve) = public_key(jwk)?;
    let agrees = match alg.family() {
        AlgorithmFamily::Rsa => family == AlgorithmFamily::Rsa,
        AlgorithmFamily::Ec => {
            let wanted = if alg == Algorithm::ES384 {
                "P-384"
            } else {
                "P-256"
            };
            family == AlgorithmFamily::Ec && curve == Some(wanted)
        }
        AlgorithmFamily::Ed => family == AlgorithmFamily::Ed,
        AlgorithmFamily::Hmac => false,
    };
    if !agrees {
        return Err(invalid(format!(
            "alg {alg:?} does not match its jwk's key type"
        )));
    }
    let signing_input_len = header_b64.len() + 1 + payload_b64.len();
    let signing_input = &proof[..signing_input_len];
    match jsonwebtoken::crypto::verify(signature, signing_input.as_bytes(), &key, alg) {
        Ok(true) => {}
        _ => return Err(invalid("signature does not verify with its jwk")),
    }
    let text = |name: &'static str| -> Result<String, AuthError> {
        match payload.get(name) {
            Some(Value::String(v)) if !v.is_empty() => Ok(v.clone()),
            Some(_) => Err(invalid(format!("claim {name} is not a non-empty string"))),
            None => Err(invalid(format!("has no {name} claim"))),
        }
    };
    let optional = |name: &'static str| -> Result<Option<String>, AuthError> {
        match payload.get(name) {
            None => Ok(None),
            Some(Value::String(v)) => Ok(Some(v.clone())),
            Some(_) => Err(invalid(format!("claim {name} is not a string"))),
        }
    };
    let jti = text("jti")?;
    if jti.len() > DPOP_MAX_JTI_BYTES {
        return Err(invalid(format!(
            "jti is longer than {DPOP_MAX_JTI_BYTES} bytes"
        )));
    }
    let iat = match payload.get("iat").and_then(Value::as_f64) {
        Some(iat) if iat.is_finite() => iat,
        Some(_) | None => return Err(invalid("has no iat number of seconds")),
    };
    Ok(Proof {
        alg,
        jkt: thumbprint(jwk)?,
        jti,
        htm: text("htm")?,
        htu: text("htu")?,
        iat,
        ath: optional("ath")?,
        nonce: optional("nonce")?,
    })
}

/// The request-dependent checks of RFC 9449 §4.3 (steps 9-12, without nonce and key binding).
pub fn check(proof: &Proof, expected: &Expected<'_>) -> Result<(), AuthError> {
    // RFC 9110 §9.1: method names are case-sensitive.
    if proof.htm != expected.method {
        return Err(invalid(format!(
            "htm {} is not the request's method {}",
            quote(&proof.htm),
            expected.method
        )));
    }
    let Some(want) = expected.htu else {
        return Err(invalid(
            "cannot be checked: the request has no single Host to build its URI from",
        ));
    };
    match normalise_htu(&proof.htu) {
        Some(got) if got == want => {}
        _ => {
            return Err(invalid(format!(
                "htu {} is not the request URI {want}",
                quote(&proof.htu)
            )));
        }
    }
    let now = expected.now as f64;
    if proof.iat > now + expected.leeway_secs as f64 {
        return Err(invalid(format!(
            "was issued {} s in the future (iat)",
            (proof.iat - now).ceil() as u64
        )));
    }
    if proof.iat < now - expected.window_secs as f64 {
        return Err(invalid(format!(
            "is {} s old; proofs are accepted for {} s (iat)",
            (now - proof.iat).floor() as u64,
            expected.window_secs
        )));
    }
    let Some(token) = expected.access_token else {
        return Ok(());
    };
    match &proof.ath {
        Some(ath) if *ath == access_token_hash(token) => Ok(()),
        Some(_) => Err(invalid("ath is not the hash of this access token")),
        None => Err(invalid(
            "has no ath claim (the hash of the access token it is sent with)",
        )),
    }
}

/// RFC 9449 §4.2 `ath`: base64url(SHA-256(the access token's ASCII)).
pub fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha256(token.as_bytes()))
}

/// RFC 7638 §3: SHA-256 over the key's required members, in lexicographic order, without
/// whitespace; base64url.
pub fn thumbprint(jwk: &Map<String, Value>) -> Result<String, AuthError> {
    let text = |name: &str| -> Result<&str, AuthError> {
        jwk.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("jwk has no {name}")))
    };
    let members: Vec<(&str, &str)> = match text("kty")? {
        "RSA" => vec![("e", text("e")?), ("kty", "RSA"), ("n", text("n")?)],
        "EC" => vec![
            ("crv", text("crv")?),
            ("kty", "EC"),
            ("x", text("x")?),
            ("y", text("y")?),
        ],
        "OKP" => vec![("crv", text("crv")?), ("kty", "OKP"), ("x", text("x")?)],
        other => {
            return Err(invalid(format!(
                "jwk kty {} is not supported",
                quote(other)
            )));
        }
    };
    let mut canonical = String::from("{");
    for (i, (name, value)) in members.iter().enumerate() {
        if i > 0 {
            canonical.push(',');
        }
        // serde_json writes a JSON string exactly as RFC 7638 §3.2 asks (no whitespace).
        canonical.push_str(&Value::String((*name).to_owned()).to_string());
        canonical.push(':');
        canonical.push_str(&Value::String((*value).to_owned()).to_string());
    }
    canonical.push('}');
    Ok(URL_SAFE_NO_PAD.encode(sha256(canonical.as_bytes())))
}

/// An `http(s)` URI in the form `htu` is compared in (RFC 9449 §4.3 step 9): query and
/// fragment dropped, scheme and host lower-cased (RFC 3986 §6.2.2.1), a default or empty port
/// removed and an empty path made `/` (§6.2.3), the path through `policy::normalise` (escapes
/// of unreserved characters decoded, other escapes upper-cased, dot segments removed, `//`
/// merged). `None` for anything that is not such a URI (a userinfo part included).
pub fn normalise_htu(uri: &str) -> Option<String> {
    let uri = uri.split(['#', '?']).next().unwrap_or_default();
    let (scheme, rest) = uri.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = match authority.rfind(':') {
        // `[::1]` without a port has its last colon inside the brackets.
        Some(at) if !authority[at..].contains(']') => (&authority[..at], &authority[at + 1..]),
        _ => (authority, ""),
    };
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_~[]:%".contains(&b))
    {
        return None;
    }
    let port = match port {
        "" => String::new(),
        digits if digits.bytes().all(|b| b.is_ascii_digit()) => {
            let number: u16 = digits.parse().ok()?;
            let number = number.to_string();
            if number == default_port {
                String::new()
            } else {
                format!(":{number}")
            }
        }
        _ => return None,
    };
    let path = crate::policy::normalise(path).ok()?;
    Some(format!(
        "{scheme}://{}{port}{path}",
        host.to_ascii_lowercase()
    ))
}

fn allowed_alg(
    header: &Map<String, Value>,
    algorithms: &[Algorithm],
) -> Result<Algorithm, AuthError> {
    let Some(name) = header.get("alg").and_then(Value::as_str) else {
        return Err(invalid("header has no alg"));
    };
    let refused = || {
        invalid(format!(
            "alg {} is not one of the accepted {}",
            quote(name),
            algorithm_names(algorithms)
        ))
    };
    let alg = Algorithm::from_str(name).map_err(|_| refused())?;
    // RFC 9449 §4.2: asymmetric only; `none` never parses as an Algorithm.
    if alg.family() == AlgorithmFamily::Hmac || !algorithms.contains(&alg) {
        return Err(refused());
    }
    Ok(alg)
}

/// The allow-list as the challenge's `algs` writes it (RFC 9449 §7.1): space-separated.
pub fn algorithm_names(algorithms: &[Algorithm]) -> String {
    algorithms
        .iter()
        .map(|alg| format!("{alg:?}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The verification key a proof's `jwk` describes: RSA of 2048 bits or more with e ≥ 65537,
/// EC P-256 / P-384, or Ed25519.
fn public_key(
    jwk: &Map<String, Value>,
) -> Result<(DecodingKey, AlgorithmFamily, Option<&'static str>), AuthError> {
    let text = |name: &str| jwk.get(name).and_then(Value::as_str);
    let bytes = |name: &str| -> Result<Vec<u8>, AuthError> {
        text(name)
            .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
            .ok_or_else(|| invalid(format!("jwk {name} is missing or not base64url")))
    };
    match text("kty") {
        Some("RSA") => {
            let (n, e) = (bytes("n")?, bytes("e")?);
            // RFC 7518 §3.3: 2048 bits or more; a small exponent is the classic weak key.
            if n.iter().skip_while(|&&b| b == 0).count() < 256 {
                return Err(invalid("jwk RSA modulus is below 2048 bits"));
            }
            let e_value = e.iter().skip_while(|&&b| b == 0).try_fold(0u64, |acc, &b| {
                acc.checked_mul(256)?.checked_add(u64::from(b))
            });
            if e_value.is_none_or(|e| e < 65537 || e % 2 == 0) {
                return Err(invalid(
                    "jwk RSA exponent is not an odd number of at least 65537",
                ));
            }
            Ok((
                DecodingKey::from_rsa_raw_components(&n, &e),
                AlgorithmFamily::Rsa,
                None,
            ))
        }
        Some("EC") => {
            let (crv, size) = match text("crv") {
                Some("P-256") => ("P-256", 32),
                Some("P-384") => ("P-384", 48),
                _ => return Err(invalid("jwk EC curve is not P-256 or P-384")),
            };
            if bytes("x")?.len() != size || bytes("y")?.len() != size {
                return Err(invalid(format!(
                    "jwk {crv} coordinates must be {size} bytes"
                )));
            }
            let key = DecodingKey::from_ec_components(
                text("x").unwrap_or_default(),
                text("y").unwrap_or_default(),
            )
            .map_err(|_| invalid("jwk is not a usable EC key"))?;
            Ok((key, AlgorithmFamily::Ec, Some(crv)))
        }
        Some("OKP") => {
            if text("crv") != Some("Ed25519") || bytes("x")?.len() != 32 {
                return Err(invalid("jwk OKP key is not a 32-byte Ed25519 key"));
            }
            let key = DecodingKey::from_ed_components(text("x").unwrap_or_default())
                .map_err(|_| invalid("jwk is not a usable Ed25519 key"))?;
            Ok((key, AlgorithmFamily::Ed, Some("Ed25519")))
        }
        Some(other) => Err(invalid(format!(
            "jwk kty {} is not supported",
            quote(other)
        ))),
        None => Err(invalid("jwk has no kty")),
    }
}

fn object(segment: &str, what: &str) -> Result<Map<String, Value>, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| invalid(format!("{what} is not base64url")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(invalid(format!("{what} is not a JSON object"))),
    }
}

#[cfg(test)]
#[path = "dpop_tests.rs"]
mod tests;
