//! The development issuer's key ring: generated keys, their JWKs, and signing.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::{DevIssuerError, KeyKind};

pub(super) enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

pub(super) struct RingKey {
    pub(super) kid: String,
    pub(super) signer: Signer,
    pub(super) published: bool,
}

impl RingKey {
    pub(super) fn generate(kind: KeyKind, kid: String) -> Result<Self, DevIssuerError> {
        let signer = match kind {
            KeyKind::Rsa2048 => Signer::Rsa(
                RsaKeyPair::generate(KeySize::Rsa2048)
                    .map_err(|_| DevIssuerError::KeyGeneration(kind))?,
            ),
            KeyKind::EcP256 => Signer::Ec(
                EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(|_| DevIssuerError::KeyGeneration(kind))?,
            ),
        };
        Ok(Self {
            kid,
            signer,
            published: true,
        })
    }

    pub(super) fn default_alg(&self) -> &'static str {
        match self.signer {
            Signer::Rsa(_) => "RS256",
            Signer::Ec(_) => "ES256",
        }
    }

    pub(super) fn jwk(&self) -> Value {
        match &self.signer {
            Signer::Rsa(pair) => {
                let public = pair.public_key();
                json!({
                    "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
                    "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
                    "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
                })
            }
            Signer::Ec(pair) => {
                // Uncompressed SEC1 point: 0x04 || x || y (32 bytes each for P-256).
                let point = pair.public_key().as_ref();
                let (x, y) = point
                    .get(1..)
                    .unwrap_or_default()
                    .split_at(32.min(point.len()));
                json!({
                    "kty": "EC", "use": "sig", "alg": "ES256", "crv": "P-256", "kid": self.kid,
                    "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
                })
            }
        }
    }

    /// Signs with `alg` when this key can, else with its default algorithm (so a header that
    /// lies about `alg` yields a token whose signature does not match its header).
    pub(super) fn sign(&self, alg: &str, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Rsa(pair) => {
                let padding: &'static dyn signature::RsaEncoding = match alg {
                    "RS384" => &signature::RSA_PKCS1_SHA384,
                    "RS512" => &signature::RSA_PKCS1_SHA512,
                    "PS256" => &signature::RSA_PSS_SHA256,
                    "PS384" => &signature::RSA_PSS_SHA384,
                    "PS512" => &signature::RSA_PSS_SHA512,
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                let mut out = vec![0; pair.public_modulus_len()];
                match pair.sign(padding, &rng, message, &mut out) {
                    Ok(()) => out,
                    Err(_) => Vec::new(),
                }
            }
            Signer::Ec(pair) => pair
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .unwrap_or_default(),
        }
    }
}

pub(super) struct KeyRing {
    pub(super) keys: Vec<RingKey>,
    pub(super) current: String,
    pub(super) next_id: u32,
}

impl KeyRing {
    pub(super) fn new_kid(&mut self) -> String {
        let mut salt = [0u8; 4];
        // A random suffix keeps kids distinct across issuers in one test process.
        let _ = aws_lc_rs::rand::fill(&mut salt);
        self.next_id += 1;
        format!(
            "dev-{}-{:02x}{:02x}{:02x}{:02x}",
            self.next_id, salt[0], salt[1], salt[2], salt[3]
        )
    }

    pub(super) fn find(&self, kid: &str) -> Option<&RingKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}
