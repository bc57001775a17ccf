//! Decision 3, one token at a time: structure, header, signature, claims.
//!
//! jsonwebtoken's `decode` is not used because it cannot express every check this gateway owes
//! (RFC 8725 §2-3): `crit`, refusing embedded keys, alg-vs-JWK agreement including the curve, and
//! one error per failure. Only its signature primitive (`crypto::verify`, aws-lc-rs) is used.
//!
//! Order: length cap (before any decoding), 3 segments, strict base64url, JSON objects
//! (`decode`); the payload's `iss`, read without trusting it, picks the issuer whose rules
//! apply from here on (`Decoded::issuer`); header rules (`check_header`), key lookup in that
//! issuer's key set, key/alg agreement, signature, then claims. Apart from `iss` (which only
//! chooses the rules, and is checked again with them), claims are only judged once the
//! signature holds, so an attacker learns nothing about claim checks from an unsigned token.

use std::str::FromStr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, AlgorithmFamily};
use serde_json::{Map, Value};

use super::AuthError;
use super::error::quote;
use super::jwks::{VerifyKey, is_acceptable_kid};
use crate::config::IssuerConfig;
use crate::identity::{Identity, Scopes, is_header_safe, is_scope_token};

/// Header parameters that carry or point to a key (RFC 7515 §4.1.2-4.1.6). Keys come only from
/// the configured JWKS; a token naming one is refused rather than silently trusted or ignored,
/// since no legitimate Auth0 access token carries them (RFC 8725 §3.10).
const EMBEDDED_KEY_PARAMS: [&str; 4] = ["jku", "jwk", "x5u", "x5c"];

/// The checks a token from one issuer must pass, from its `[auth]` / `[auth.issuers.NAME]`.
#[derive(Debug, Clone)]
pub struct Rules {
    pub issuer: String,
    /// `aud` must contain one of these.
    pub audiences: Vec<String>,
    pub algorithms: Vec<Algorithm>,
    pub leeway_secs: u64,
}

impl Rules {
    pub fn from_config(config: &IssuerConfig) -> Self {
        Self {
            issuer: config.issuer.clone(),
            audiences: config.audiences.clone(),
            algorithms: config.algorithms.clone(),
            leeway_secs: round_up_secs(config.leeway),
        }
    }
}

fn round_up_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// A token whose structure decoded (three segments of strict base64url, a JSON header object,
/// a JSON payload); nothing in it is checked or trusted yet.
pub struct Decoded<'t> {
    header: Map<String, Value>,
    payload: Value,
    signing_input: &'t str,
    signature: &'t str,
}

/// A token whose structure and header passed; signature and claims not yet checked.
pub struct Parsed<'t> {
    pub alg: Algorithm,
    pub kid: String,
    signing_input: &'t str,
    signature: &'t str,
    payload: Value,
}

/// Structure: the length cap (before any decoding), then segments and JSON. No key, no issuer.
pub fn decode(token: &str, max_token_bytes: usize) -> Result<Decoded<'_>, AuthError> {
    if token.len() > max_token_bytes {
        return Err(AuthError::TooLarge {
            len: token.len(),
            max: max_token_bytes,
        });
    }
    let segments = token.split('.').count();
    if segments == 5 {
        return Err(AuthError::Malformed(
            "encrypted tokens (JWE) are not accepted".to_owned(),
        ));
    }
    if segments != 3 {
        return Err(AuthError::Malformed(format!(
            "a JWS has 3 dot-separated segments, this has {segments}"
        )));
    }
    let (signing_input, signature) = token.rsplit_once('.').unwrap_or_default();
    let (header_b64, payload_b64) = signing_input.split_once('.').unwrap_or_default();
    let header = decode_object(header_b64, "header")?;
    let payload = decode_json(payload_b64, "payload")?;
    URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| AuthError::Malformed("signature is not base64url".to_owned()))?;
    Ok(Decoded {
        header,
        payload,
        signing_input,
        signature,
    })
}

impl Decoded<'_> {
    /// The payload's `iss`, unverified: it only picks which issuer's rules and keys judge the
    /// token (SPEC "More than one issuer"); `check_claims` compares it again once the signature
    /// holds.
    pub fn issuer(&self) -> Result<&str, AuthError> {
        let Value::Object(claims) = &self.payload else {
            return Err(AuthError::Malformed(
                "payload is not a JSON object".to_owned(),
            ));
        };
        match claims.get("iss") {
            None => Err(AuthError::MissingClaim("iss")),
            Some(Value::String(iss)) => Ok(iss),
            Some(_) => Err(invalid("iss", "is not a string")),
        }
    }
}

/// Header checks with the rules of the issuer the token names. Cheap; no key needed.
pub fn check_header<'t>(decoded: Decoded<'t>, rules: &Rules) -> Result<Parsed<'t>, AuthError> {
    let Decoded {
        header,
        payload,
        signing_input,
        signature,
    } = decoded;
    let alg = check_alg(&header, rules)?;
    for param in EMBEDDED_KEY_PARAMS {
        if header.contains_key(param) {
            return Err(AuthError::EmbeddedKey(param));
        }
    }
    // RFC 7515 §4.1.11: we understand no extension, so any `crit` entry is unknown.
    if let Some(crit) = header.get("crit") {
        let first = crit
            .as_array()
            .and_then(|list| list.first())
            .and_then(Value::as_str);
        return match first {
            Some(name) => Err(AuthError::UnknownCrit(quote(name))),
            None => Err(AuthError::Malformed(
                "crit must be a non-empty array of names".to_owned(),
            )),
        };
    }
    // RFC 8725 §3.11 / RFC 9068 §2.1: accept untyped, JWT and at+jwt; refuse other types
    // (e.g. an ID token or a logout token replayed as an access token).
    if let Some(typ) = header.get("typ") {
        let ok = typ.as_str().is_some_and(|t| {
            let t = t.to_ascii_lowercase();
            matches!(t.as_str(), "jwt" | "at+jwt" | "application/at+jwt")
        });
        if !ok {
            let shown = typ.as_str().map_or_else(|| typ.to_string(), str::to_owned);
            return Err(AuthError::WrongType(quote(&shown)));
        }
    }
    let kid = match header.get("kid") {
        None => return Err(AuthError::MissingKeyId),
        Some(Value::String(kid)) if is_acceptable_kid(kid) => kid.clone(),
        Some(_) => return Err(AuthError::InvalidKeyId),
    };
    Ok(Parsed {
        alg,
        kid,
        signing_input,
        signature,
        payload,
    })
}

fn check_alg(header: &Map<String, Value>, rules: &Rules) -> Result<Algorithm, AuthError> {
    let Some(name) = header.get("alg").and_then(Value::as_str) else {
        return Err(AuthError::Malformed("header has no alg string".to_owned()));
    };
    // RFC 8725 §3.1: "none" in any casing is never acceptable, whatever the allow-list says.
    if name.eq_ignore_ascii_case("none") {
        return Err(AuthError::AlgorithmNotAllowed(quote(name)));
    }
    let alg = Algorithm::from_str(name).map_err(|_| AuthError::AlgorithmNotAllowed(quote(name)))?;
    // The JWKS holds public keys only: an HMAC token here is the RS/HS confusion attack.
    if alg.family() == AlgorithmFamily::Hmac || !rules.algorithms.contains(&alg) {
        return Err(AuthError::AlgorithmNotAllowed(quote(name)));
    }
    Ok(alg)
}

fn decode_json(segment: &str, what: &str) -> Result<Value, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| AuthError::Malformed(format!("{what} is not base64url")))?;
    serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed(format!("{what} is not JSON")))
}

fn decode_object(segment: &str, what: &str) -> Result<Map<String, Value>, AuthError> {
    match decode_json(segment, what)? {
        Value::Object(map) => Ok(map),
        _ => Err(AuthError::Malformed(format!("{what} is not a JSON object"))),
    }
}

/// Key/alg agreement and signature.
pub fn check_signature(parsed: &Parsed<'_>, key: &VerifyKey) -> Result<(), AuthError> {
    if !key.agrees_with(parsed.alg) {
        return Err(AuthError::KeyAlgorithmMismatch {
            alg: format!("{:?}", parsed.alg),
            kid: parsed.kid.clone(),
            key: key.describe(),
        });
    }
    if parsed.signature.is_empty() {
        return Err(AuthError::BadSignature);
    }
    match jsonwebtoken::crypto::verify(
        parsed.signature,
        parsed.signing_input.as_bytes(),
        &key.decoding,
        parsed.alg,
    ) {
        Ok(true) => Ok(()),
        _ => Err(AuthError::BadSignature),
    }
}

/// Claims of a token whose signature holds, at Unix time `now`; `issuer_name` is the name of
/// the issuer whose `rules` these are.
pub fn check_claims(
    parsed: Parsed<'_>,
    rules: &Rules,
    issuer_name: &std::sync::Arc<str>,
    now: u64,
) -> Result<Identity, AuthError> {
    let Value::Object(claims) = parsed.payload else {
        return Err(AuthError::Malformed(
            "payload is not a JSON object".to_owned(),
        ));
    };
    match claims.get("iss") {
        None => return Err(AuthError::MissingClaim("iss")),
        Some(Value::String(iss)) if *iss == rules.issuer => {}
        Some(Value::String(iss)) => {
            return Err(AuthError::WrongIssuer {
                got: quote(iss),
                expected: rules.issuer.clone(),
            });
        }
        Some(_) => return Err(invalid("iss", "is not a string")),
    }
    check_audience(claims.get("aud"), rules)?;

    let leeway = rules.leeway_secs as f64;
    let now_f = now as f64;
    let exp = numeric_date(&claims, "exp")?.ok_or(AuthError::MissingClaim("exp"))?;
    // RFC 7519 §4.1.4: the current time must be before exp.
    if now_f >= exp + leeway {
        return Err(AuthError::TokenExpired {
            ago: (now_f - exp).max(0.0) as u64,
        });
    }
    if let Some(nbf) = numeric_date(&claims, "nbf")?
        && nbf > now_f + leeway
    {
        return Err(AuthError::NotYetValid {
            in_secs: (nbf - now_f).ceil() as u64,
        });
    }
    if let Some(iat) = numeric_date(&claims, "iat")?
        && iat > now_f + leeway
    {
        return Err(AuthError::IssuedInFuture {
            in_secs: (iat - now_f).ceil() as u64,
        });
    }

    // What becomes a header is checked here, once, so the verified-token cache never holds an
    // identity the data plane could not forward (RFC 9110 §5.5: no CR, LF, NUL or DEL).
    let subject = match claims.get("sub") {
        None => return Err(AuthError::MissingClaim("sub")),
        Some(Value::String(sub)) if !is_header_safe(sub) => {
            return Err(invalid("sub", NOT_HEADER_SAFE));
        }
        Some(Value::String(sub)) => sub.clone(),
        Some(_) => return Err(invalid("sub", "is not a string")),
    };
    let mut scopes = Scopes::new();
    match claims.get("scope") {
        None => {}
        Some(Value::String(scope)) => scopes
            .extend_from_scope_claim(scope)
            .map_err(|_| invalid("scope", NOT_SCOPE_TOKENS))?,
        Some(_) => return Err(invalid("scope", "is not a space-separated string")),
    }
    match claims.get("permissions") {
        None => {}
        Some(Value::Array(list)) => {
            for permission in list {
                let permission = permission
                    .as_str()
                    .ok_or_else(|| invalid("permissions", "has a non-string entry"))?;
                if !is_scope_token(permission) {
                    return Err(invalid("permissions", NOT_SCOPE_TOKENS));
                }
                scopes.insert(permission);
            }
        }
        Some(_) => return Err(invalid("permissions", "is not an array")),
    }
    let client_id = match ["azp", "client_id"].into_iter().find_map(|name| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .map(|id| (name, id))
    }) {
        Some((name, id)) if !is_header_safe(id) => return Err(invalid(name, NOT_HEADER_SAFE)),
        found => found.map(|(_, id)| id.to_owned()),
    };
    let cnf = confirmation(claims.get("cnf"))?;
    Ok(Identity {
        subject,
        client_id,
        issuer: rules.issuer.clone(),
        issuer_name: std::sync::Arc::clone(issuer_name),
        scopes,
        // A fractional exp counts from its whole second: never later than the token says.
        expires_at: exp.max(0.0).floor() as u64,
        key_id: parsed.kid,
        claims: crate::identity::Claims::new(&claims),
        cnf,
        rendered: std::sync::OnceLock::new(),
    })
}

/// RFC 7800 §3.1 `cnf`: the confirmation methods this gateway can check, `jkt` (RFC 9449
/// §6.1) and `x5t#S256` (RFC 8705 §3.1). A `cnf` naming neither (a `jwk`, a `kid`) binds the
/// token to something no request here can prove, so the token is refused rather than
/// accepted as a bearer token: binding can never be stripped.
fn confirmation(cnf: Option<&Value>) -> Result<crate::identity::Confirmation, AuthError> {
    let Some(cnf) = cnf else {
        return Ok(crate::identity::Confirmation::default());
    };
    let Value::Object(cnf) = cnf else {
        return Err(invalid("cnf", "is not an object"));
    };
    let member = |name: &str| -> Result<Option<String>, AuthError> {
        match cnf.get(name) {
            None => Ok(None),
            // A SHA-256 in base64url is 43 characters; anything else can never match.
            Some(Value::String(v)) if v.len() == 43 && is_base64url(v) => Ok(Some(v.clone())),
            Some(_) => Err(invalid(
                "cnf",
                "has a jkt or x5t#S256 that is not a base64url SHA-256",
            )),
        }
    };
    let confirmation = crate::identity::Confirmation {
        jkt: member("jkt")?,
        x5t_s256: member("x5t#S256")?,
    };
    if !confirmation.is_bound() {
        return Err(invalid(
            "cnf",
            "names no confirmation method the gateway can check (jkt or x5t#S256)",
        ));
    }
    Ok(confirmation)
}

fn is_base64url(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RFC 7519 §4.1.3: `aud` is a string or an array of strings, one of which must be one of
/// the issuer's audiences.
fn check_audience(aud: Option<&Value>, rules: &Rules) -> Result<(), AuthError> {
    let wrong = |got: String| AuthError::WrongAudience {
        got,
        expected: match rules.audiences.as_slice() {
            [one] => one.clone(),
            several => format!("one of {}", several.join(", ")),
        },
    };
    let ours = |aud: &str| rules.audiences.iter().any(|a| a == aud);
    match aud {
        None => Err(AuthError::MissingClaim("aud")),
        Some(Value::String(aud)) if ours(aud) => Ok(()),
        Some(Value::String(aud)) => Err(wrong(quote(aud))),
        Some(Value::Array(list)) => {
            if list.iter().filter_map(Value::as_str).any(ours) {
                return Ok(());
            }
            let names: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
            Err(wrong(quote(&format!("[{}]", names.join(", ")))))
        }
        Some(_) => Err(invalid("aud", "is neither a string nor an array")),
    }
}

/// RFC 7519 §2 NumericDate: a JSON number of seconds (fractions allowed).
fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<f64>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => value
            .as_f64()
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or_else(|| invalid(name, "is not a number of seconds")),
    }
}

const NOT_HEADER_SAFE: &str = "contains a character that cannot travel in an HTTP header (CR, LF, NUL, DEL or another control character)";
const NOT_SCOPE_TOKENS: &str = "has an entry that is not an RFC 6749 scope-token (whitespace other than the separating spaces, a quote, a backslash, a control or a non-ASCII character)";

fn invalid(claim: &'static str, why: &'static str) -> AuthError {
    AuthError::InvalidClaim { claim, why }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn rules() -> Rules {
        Rules {
            issuer: "https://issuer/".into(),
            audiences: vec!["https://clientco/api".into()],
            algorithms: vec![Algorithm::RS256, Algorithm::ES256],
            leeway_secs: 0,
        }
    }

    fn parse<'t>(token: &'t str, rules: &Rules) -> Result<Parsed<'t>, AuthError> {
        check_header(decode(token, 8192)?, rules)
    }

    fn check_claims(parsed: Parsed<'_>, rules: &Rules, now: u64) -> Result<Identity, AuthError> {
        super::check_claims(parsed, rules, &std::sync::Arc::from("default"), now)
    }

    fn segment(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    proptest! {
        /// Attacker input never panics the parser: arbitrary text, and well-formed base64 of
        /// arbitrary JSON-ish text in each segment.
        #[test]
        fn parse_never_panics_on_arbitrary_text(token in "\\PC{0,300}") {
            let _ = parse(&token, &rules());
        }

        #[test]
        fn parse_never_panics_on_arbitrary_json_segments(
            header in "[{}\\[\\]\":,a-z0-9 ]{0,60}",
            payload in "[{}\\[\\]\":,a-z0-9 ]{0,60}",
            signature in "[A-Za-z0-9_-]{0,40}",
        ) {
            let token = format!("{}.{}.{signature}", segment(&header), segment(&payload));
            if let Ok(parsed) = parse(&token, &rules()) {
                let _ = check_claims(parsed, &rules(), 1_700_000_000);
            }
        }
    }

    #[test]
    fn claims_are_judged_only_as_json_objects_with_typed_values() {
        let header = segment(r#"{"alg":"RS256","kid":"k1"}"#);
        let token = |claims: &str| format!("{header}.{}.c2ln", segment(claims));
        let check = |claims: &str| {
            let token = token(claims);
            check_claims(parse(&token, &rules()).unwrap(), &rules(), 1_700_000_000)
        };
        let ok = r#"{"iss":"https://issuer/","aud":"https://clientco/api","exp":1700000100,"sub":"s","scope":"a b","permissions":["c"],"client_id":"cid"}"#;
        let identity = check(ok).unwrap();
        assert_eq!(identity.scopes.to_string(), "a b c");
        assert_eq!(identity.client_id.as_deref(), Some("cid"));
        assert_eq!(identity.expires_at, 1_700_000_100);

        let with = |from: &str, to: &str| check(&ok.replace(from, to)).unwrap_err();
        assert_eq!(with(r#""sub":"s","#, ""), AuthError::MissingClaim("sub"));
        assert!(matches!(
            with(r#""scope":"a b""#, r#""scope":["a"]"#),
            AuthError::InvalidClaim { claim: "scope", .. }
        ));
        assert!(matches!(
            with(r#"["c"]"#, "[1]"),
            AuthError::InvalidClaim {
                claim: "permissions",
                ..
            }
        ));
        assert!(matches!(
            with(r#""aud":"https://clientco/api""#, r#""aud":7"#),
            AuthError::InvalidClaim { claim: "aud", .. }
        ));
        assert!(matches!(
            with("1700000100", "1700000000"),
            AuthError::TokenExpired { ago: 0 }
        ));
        assert!(matches!(
            with("1700000100", "1699999999.5"),
            AuthError::TokenExpired { ago: 0 }
        ));
    }

    #[test]
    fn wrong_type_shows_the_type_plainly() {
        let token = format!(
            "{}.{}.c2ln",
            segment(r#"{"alg":"RS256","kid":"k1","typ":"id+jwt"}"#),
            segment("{}")
        );
        assert_eq!(
            parse(&token, &rules()).err().map(|e| e.to_string()),
            Some("token type id+jwt is not a JWT access token".to_owned())
        );
    }
}
