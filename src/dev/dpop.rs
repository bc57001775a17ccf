//! A DPoP client for development and tests: a key pair in memory that signs RFC 9449 proofs.
//!
//! `gateway demo`, the development issuer's tests, the integration tests, the benchmark and
//! the fuzz corpus use it to make real proofs: [`DpopKey::generate`] (ES256, EdDSA, RS256 or
//! PS256), [`DpopKey::jkt`] (the RFC 7638 thumbprint a bound token's `cnf.jkt` names),
//! [`DpopKey::proof`] for a request, and [`DpopKey::sign`] for hand-made headers and claims
//! (to test what the gateway refuses).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::auth::dpop::{access_token_hash, thumbprint};

/// A proof signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpopAlg {
    Es256,
    EdDsa,
    Rs256,
    Ps256,
}

impl DpopAlg {
    pub fn name(self) -> &'static str {
        match self {
            DpopAlg::Es256 => "ES256",
            DpopAlg::EdDsa => "EdDSA",
            DpopAlg::Rs256 => "RS256",
            DpopAlg::Ps256 => "PS256",
        }
    }
}

enum Pair {
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

/// A DPoP key pair.
pub struct DpopKey {
    alg: DpopAlg,
    pair: Pair,
}

impl DpopKey {
    /// A fresh key for `alg`; `None` only if the crypto library cannot generate one.
    pub fn generate(alg: DpopAlg) -> Option<DpopKey> {
        let pair = match alg {
            DpopAlg::Es256 => {
                Pair::Ec(EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).ok()?)
            }
            DpopAlg::EdDsa => Pair::Ed(Ed25519KeyPair::generate().ok()?),
            DpopAlg::Rs256 | DpopAlg::Ps256 => {
                Pair::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).ok()?)
            }
        };
        Some(DpopKey { alg, pair })
    }

    pub fn alg(&self) -> DpopAlg {
        self.alg
    }

    /// The public JWK that goes in a proof's header.
    pub fn jwk(&self) -> Value {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        match &self.pair {
            Pair::Ec(pair) => {
                let point = pair.public_key().as_ref();
                let coordinates = point.get(1..).unwrap_or_default();
                let (x, y) = coordinates.split_at(coordinates.len() / 2);
                json!({"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y)})
            }
            Pair::Ed(pair) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())})
            }
            Pair::Rsa(pair) => {
                let public = pair.public_key();
                json!({
                    "kty": "RSA",
                    "n": b64(public.modulus().big_endian_without_leading_zero()),
                    "e": b64(public.exponent().big_endian_without_leading_zero()),
                })
            }
        }
    }

    /// The RFC 7638 thumbprint of the public key: a bound token's `cnf.jkt`.
    pub fn jkt(&self) -> String {
        match self.jwk() {
            Value::Object(jwk) => thumbprint(&jwk).unwrap_or_default(),
            _ => String::new(),
        }
    }

    /// A proof for `method` on `htu`, fresh `jti` and `iat` = now; with `access_token`, its
    /// `ath` (what a resource server requires); with `nonce`, the server's nonce.
    pub fn proof(
        &self,
        method: &str,
        htu: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> String {
        let mut claims = json!({
            "jti": fresh_jti(),
            "htm": method,
            "htu": htu,
            "iat": unix_now(),
        });
        if let Some(token) = access_token {
            claims["ath"] = Value::String(access_token_hash(token));
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = Value::String(nonce.to_owned());
        }
        self.sign(&self.header(), &claims)
    }

    /// The header a proof normally has: `typ`, `alg`, `jwk`.
    pub fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": self.alg.name(), "jwk": self.jwk()})
    }

    /// Signs any header and claims with this key (the header's `alg` is not consulted).
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let rng = SystemRandom::new();
        let signature = match &self.pair {
            Pair::Ec(pair) => pair
                .sign(&rng, message.as_bytes())
                .map(|s| s.as_ref().to_vec())
                .unwrap_or_default(),
            Pair::Ed(pair) => pair.sign(message.as_bytes()).as_ref().to_vec(),
            Pair::Rsa(pair) => {
                let padding: &'static dyn signature::RsaEncoding = match self.alg {
                    DpopAlg::Ps256 => &signature::RSA_PSS_SHA256,
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                let mut out = vec![0; pair.public_modulus_len()];
                match pair.sign(padding, &rng, message.as_bytes(), &mut out) {
                    Ok(()) => out,
                    Err(_) => Vec::new(),
                }
            }
        };
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// The claims of a token bound to a DPoP key or a certificate: `cnf` (RFC 7800) added to
/// `claims`.
pub fn bind(mut claims: Value, cnf: Map<String, Value>) -> Value {
    if let Value::Object(map) = &mut claims {
        map.insert("cnf".to_owned(), Value::Object(cnf));
    }
    claims
}

/// 128 random bits, base64url: RFC 9449 §4.2 asks for enough entropy to be unique.
fn fresh_jti() -> String {
    let mut bytes = [0u8; 16];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
