//! The signed assertion under test: key files in their own folder (`Keys`, with the
//! `[forward.assertion]` section naming them), and verification of an assertion against a
//! published JWKS with aws-lc-rs, independently of the gateway's signing code (`verify`).

use std::path::PathBuf;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ED25519, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gateway::assertion::Algorithm;
use gateway::assertion::keys::generate_pem;
use serde_json::Value;

pub const ISSUER: &str = "https://gateway.saasco.internal/";
pub const AUDIENCE: &str = "saasco-backend";

/// Key files in their own folder (absolute paths in the config).
pub struct Keys {
    dir: tempfile::TempDir,
}

impl Keys {
    #[allow(clippy::new_without_default)] // a new folder each time, not a default value
    pub fn new() -> Keys {
        let keys = Keys {
            dir: tempfile::tempdir().unwrap(),
        };
        keys.write("key.pem", Algorithm::EdDsa);
        keys
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, algorithm: Algorithm) {
        std::fs::write(self.path(name), generate_pem(algorithm).unwrap()).unwrap();
    }

    /// `[forward.assertion]` with `key_file` and `extra` lines.
    pub fn section(&self, extra: &str) -> String {
        format!(
            "[forward.assertion]\nkey_file = \"{}\"\nissuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"\n{extra}",
            self.path("key.pem").display()
        )
    }
}

/// RFC 7638 §3: SHA-256 over the required members in lexicographic order.
pub fn thumbprint(jwk: &Value) -> String {
    let canonical = match jwk["kty"].as_str().unwrap() {
        "OKP" => format!(
            r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
            jwk["crv"].as_str().unwrap(),
            jwk["x"].as_str().unwrap()
        ),
        _ => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["crv"].as_str().unwrap(),
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap()
        ),
    };
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// The verified JOSE header and claims of `jws`, checked against `jwks`.
pub fn verify(jws: &str, jwks: &Value) -> (Value, Value) {
    let parts: Vec<&str> = jws.split('.').collect();
    assert_eq!(parts.len(), 3, "{jws}");
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).unwrap();
    let header: Value = serde_json::from_slice(&decode(parts[0])).unwrap();
    let claims: Value = serde_json::from_slice(&decode(parts[1])).unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .unwrap_or_else(|| panic!("kid {} not in {jwks}", header["kid"]));
    assert_eq!(jwk["kid"].as_str().unwrap(), thumbprint(jwk));
    assert_eq!(jwk["use"], "sig");
    let input = format!("{}.{}", parts[0], parts[1]);
    let signature = decode(parts[2]);
    let result = match header["alg"].as_str().unwrap() {
        "EdDSA" => UnparsedPublicKey::new(&ED25519, decode(jwk["x"].as_str().unwrap()))
            .verify(input.as_bytes(), &signature),
        "ES256" => {
            let mut point = vec![4u8];
            point.extend(decode(jwk["x"].as_str().unwrap()));
            point.extend(decode(jwk["y"].as_str().unwrap()));
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .verify(input.as_bytes(), &signature)
        }
        other => panic!("unexpected alg {other}"),
    };
    assert!(result.is_ok(), "the signature does not verify: {jws}");
    assert_eq!(jwk["alg"], header["alg"]);
    (header, claims)
}
