//! Token verification on arbitrary input, through `gateway::auth::verify_with_jwks` (the same
//! checks as the data plane, offline) against a key set holding one RSA key generated when the
//! fuzzer starts. Nobody, the committed corpus included, ever held that private key.
//!
//! The first byte picks a mode:
//! - even: the rest is the token. Invariant: never panics and NEVER accepts, since a valid
//!   signature cannot be produced without the key.
//! - odd: the rest is `header\nclaims` (raw bytes, not necessarily JSON); the harness signs
//!   them with the held key under RS256, as a compromised-looking but correctly signed issuer
//!   would. Invariant: never panics, and acceptance implies the header says `alg: RS256` (the
//!   only allowed algorithm) and the claims carry exactly the configured `iss`, the configured
//!   `aud` (alone or in an array) and an `exp` not yet past — so claim checks cannot be skipped.
#![no_main]

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gateway::auth::verify_with_jwks;
use gateway::config::AuthConfig;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

const KID: &str = "fuzz-key";
const ISSUER: &str = "https://fuzz-issuer/";
const AUDIENCE: &str = "https://clientco/api";

struct Fixture {
    key: RsaKeyPair,
    jwks: String,
    config: AuthConfig,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let key = RsaKeyPair::generate(KeySize::Rsa2048)
            .unwrap_or_else(|e| panic!("cannot generate the fuzzing key: {e}"));
        let public = key.public_key();
        let jwks = json!({"keys": [{
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID,
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        }]})
        .to_string();
        let config = AuthConfig {
            cache_max_entries: 16,
            ..AuthConfig::new(ISSUER, AUDIENCE)
        };
        Fixture { key, jwks, config }
    })
}

fn sign(key: &RsaKeyPair, message: &[u8]) -> Vec<u8> {
    let mut out = vec![0; key.public_modulus_len()];
    key.sign(
        &signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        message,
        &mut out,
    )
    .unwrap_or_else(|e| panic!("signing failed: {e}"));
    out
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    if mode % 2 == 0 {
        let Ok(token) = std::str::from_utf8(rest) else {
            return;
        };
        if let Ok(identity) = verify_with_jwks(&f.config, &f.jwks, token) {
            panic!("accepted a token the harness never signed: {token:?} -> {identity:?}");
        }
        return;
    }

    let (header, claims) = match rest.iter().position(|&b| b == b'\n') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &b""[..]),
    };
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let token = format!(
        "{message}.{}",
        URL_SAFE_NO_PAD.encode(sign(&f.key, message.as_bytes()))
    );
    let Ok(identity) = verify_with_jwks(&f.config, &f.jwks, &token) else {
        return;
    };

    let header: Value = serde_json::from_slice(header)
        .unwrap_or_else(|e| panic!("accepted a header that is not JSON ({e}): {token}"));
    assert_eq!(
        header.get("alg"),
        Some(&json!("RS256")),
        "accepted alg: {token}"
    );
    let claims: Value = serde_json::from_slice(claims)
        .unwrap_or_else(|e| panic!("accepted claims that are not JSON ({e}): {token}"));
    assert_eq!(
        claims.get("iss"),
        Some(&json!(ISSUER)),
        "accepted iss: {token}"
    );
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == AUDIENCE,
        Some(Value::Array(auds)) => auds.iter().any(|a| a == AUDIENCE),
        _ => false,
    };
    assert!(audience_ok, "accepted aud: {token}");
    let exp = claims.get("exp").and_then(Value::as_f64);
    assert!(
        exp.is_some_and(|exp| exp + 30.0 > now() as f64),
        "accepted exp {exp:?}: {token}"
    );
    assert_eq!(identity.key_id, KID, "identity names another key: {token}");
});
