//! The gateway's assertion keys: reading a PKCS#8 PEM file (Ed25519 or P-256), signing with it,
//! and publishing its public half as a JWK whose `kid` is the RFC 7638 thumbprint.
//!
//! Signing goes straight to aws-lc-rs, the one crypto provider: Ed25519 (`EdDSA`, RFC 8037) and
//! ECDSA P-256 with SHA-256 in the fixed-width `r || s` encoding JWS requires (`ES256`,
//! RFC 7518 §3.4), never DER. A key file that is not exactly one unencrypted PKCS#8 key of one
//! of those two kinds is refused with what it is and how to convert it.

use std::path::Path;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::constants::MAX_ASSERTION_KEY_FILE_BYTES;

/// Why a key file cannot be used. The text says what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

impl KeyError {
    pub fn new(message: String) -> Self {
        KeyError(message)
    }

    /// `previous_key_file` names the key that signs: it would be published twice under one
    /// `kid`, which verifiers refuse.
    pub fn same_key() -> Self {
        KeyError(
            "`previous_key_file` holds the same key as `key_file`; during a rotation it names \
             the key that signed before (or remove it)"
                .to_owned(),
        )
    }
}

/// The JWS algorithm a key signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    EdDsa,
    Es256,
}

impl Algorithm {
    /// The JOSE `alg` name (RFC 8037 §3.1, RFC 7518 §3.1).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::EdDsa => "EdDSA",
            Algorithm::Es256 => "ES256",
        }
    }
}

/// A key's public half as published: `kid` and the JWK's JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicJwk {
    /// The RFC 7638 thumbprint (base64url SHA-256 of the canonical JWK).
    pub kid: String,
    pub algorithm: Algorithm,
    /// The JWK with `kty`, `crv`, `x` (`y`), `kid`, `alg` and `use`.
    pub jwk: serde_json::Value,
}

enum Pair {
    Ed25519(Ed25519KeyPair),
    P256(EcdsaKeyPair),
}

/// A private key the gateway signs assertions with.
pub struct SigningKey {
    pair: Pair,
    public: PublicJwk,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    /// Never the private key: only which public key this is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.public.kid)
            .field("alg", &self.public.algorithm.name())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Reads and parses a PKCS#8 PEM key file.
    pub fn load(path: &Path) -> Result<SigningKey, KeyError> {
        let shown = path.display();
        let size = std::fs::metadata(path)
            .map_err(|e| KeyError(format!("cannot read the key file {shown}: {e}")))?
            .len();
        if size > MAX_ASSERTION_KEY_FILE_BYTES {
            return Err(KeyError(format!(
                "{shown} is {size} bytes, far more than a private key; name the PEM key file"
            )));
        }
        let pem = std::fs::read(path)
            .map_err(|e| KeyError(format!("cannot read the key file {shown}: {e}")))?;
        Self::from_pem(&pem).map_err(|KeyError(e)| KeyError(format!("{shown}: {e}")))
    }

    /// Parses PEM text holding exactly one unencrypted PKCS#8 Ed25519 or P-256 private key.
    pub fn from_pem(pem: &[u8]) -> Result<SigningKey, KeyError> {
        let der = pkcs8_der(pem)?;
        let pair = if let Ok(pair) = Ed25519KeyPair::from_pkcs8(&der) {
            Pair::Ed25519(pair)
        } else if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der) {
            Pair::P256(pair)
        } else if EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &der).is_ok() {
            return Err(KeyError(
                "a P-384 key; assertions are signed with Ed25519 (EdDSA) or P-256 (ES256): \
                 `openssl genpkey -algorithm ed25519 -out assertion-key.pem`"
                    .into(),
            ));
        } else if RsaKeyPair::from_pkcs8(&der).is_ok() {
            return Err(KeyError(
                "an RSA key; assertions are signed with Ed25519 (EdDSA) or P-256 (ES256), which \
                 are small and fast: `openssl genpkey -algorithm ed25519 -out assertion-key.pem`"
                    .into(),
            ));
        } else {
            return Err(KeyError(
                "not an Ed25519 or P-256 private key (PKCS#8); create one with \
                 `openssl genpkey -algorithm ed25519 -out assertion-key.pem`"
                    .into(),
            ));
        };
        let public = public_jwk(&pair)?;
        Ok(SigningKey {
            pair,
            public,
            rng: SystemRandom::new(),
        })
    }

    pub fn public(&self) -> &PublicJwk {
        &self.public
    }

    /// The JWS signature over `input` (the `header.payload` text), raw bytes.
    pub fn sign(&self, input: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.pair {
            Pair::Ed25519(pair) => Ok(pair.sign(input).as_ref().to_vec()),
            Pair::P256(pair) => pair
                .sign(&self.rng, input)
                .map(|signature| signature.as_ref().to_vec())
                .map_err(|_| KeyError("ECDSA signing failed".into())),
        }
    }
}

/// The one PKCS#8 document in `pem`, or what the file holds instead.
fn pkcs8_der(pem: &[u8]) -> Result<Vec<u8>, KeyError> {
    use rustls_pemfile::Item;
    let mut keys = Vec::new();
    let mut other = None;
    let mut reader = pem;
    for item in rustls_pemfile::read_all(&mut reader) {
        match item {
            Ok(Item::Pkcs8Key(key)) => keys.push(key.secret_pkcs8_der().to_vec()),
            Ok(Item::Sec1Key(_)) => {
                other = Some(
                    "an `EC PRIVATE KEY` (SEC1); convert it to PKCS#8 with \
                 `openssl pkcs8 -topk8 -nocrypt -in old.pem -out assertion-key.pem`",
                )
            }
            Ok(Item::Pkcs1Key(_)) => {
                other = Some(
                    "an `RSA PRIVATE KEY`; assertions are signed with Ed25519 (EdDSA) or P-256 \
                 (ES256): `openssl genpkey -algorithm ed25519 -out assertion-key.pem`",
                )
            }
            Ok(Item::X509Certificate(_) | Item::SubjectPublicKeyInfo(_)) => {
                other = Some("a certificate or public key; the gateway needs the private key");
            }
            Ok(_) => {}
            Err(_) => return Err(KeyError("not valid PEM".into())),
        }
    }
    match keys.len() {
        1 => Ok(keys.remove(0)),
        0 => {
            let text = String::from_utf8_lossy(pem);
            Err(KeyError(
                if text.contains("ENCRYPTED PRIVATE KEY") {
                    "an encrypted key; the gateway reads an unencrypted PKCS#8 key (keep the \
                     file readable only by the gateway, e.g. a Kubernetes Secret): \
                     `openssl pkcs8 -in old.pem -out assertion-key.pem`"
                } else {
                    other.unwrap_or(
                        "no `PRIVATE KEY` PEM block; create one with \
                         `openssl genpkey -algorithm ed25519 -out assertion-key.pem`",
                    )
                }
                .into(),
            ))
        }
        n => Err(KeyError(format!(
            "{n} private keys in one file; put one key per file (the previous one in \
             `previous_key_file`)"
        ))),
    }
}

fn public_jwk(pair: &Pair) -> Result<PublicJwk, KeyError> {
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    match pair {
        Pair::Ed25519(pair) => {
            let x = b64(pair.public_key().as_ref());
            // RFC 7638 §3.2: the required members in lexicographic order, no whitespace.
            let kid = thumbprint(&format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#));
            Ok(PublicJwk {
                jwk: serde_json::json!({
                    "kty": "OKP", "crv": "Ed25519", "x": x,
                    "kid": kid, "alg": "EdDSA", "use": "sig",
                }),
                kid,
                algorithm: Algorithm::EdDsa,
            })
        }
        Pair::P256(pair) => {
            // Uncompressed SEC1 point: 0x04 || X || Y, 32 bytes each.
            let point = pair.public_key().as_ref();
            if point.len() != 65 || point[0] != 4 {
                return Err(KeyError(
                    "the P-256 public key has an unexpected form".into(),
                ));
            }
            let (x, y) = (b64(&point[1..33]), b64(&point[33..]));
            let kid = thumbprint(&format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#
            ));
            Ok(PublicJwk {
                jwk: serde_json::json!({
                    "kty": "EC", "crv": "P-256", "x": x, "y": y,
                    "kid": kid, "alg": "ES256", "use": "sig",
                }),
                kid,
                algorithm: Algorithm::Es256,
            })
        }
    }
}

/// RFC 7638 §3.1: base64url(SHA-256(canonical JWK)).
fn thumbprint(canonical: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// A fresh key as PKCS#8 PEM, for tests and `gateway demo`-style set-ups.
pub fn generate_pem(algorithm: Algorithm) -> Result<String, KeyError> {
    let rng = SystemRandom::new();
    let der = match algorithm {
        Algorithm::EdDsa => Ed25519KeyPair::generate_pkcs8(&rng).map(|d| d.as_ref().to_vec()),
        Algorithm::Es256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map(|d| d.as_ref().to_vec()),
    }
    .map_err(|_| KeyError("key generation failed".into()))?;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    Ok(pem)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// RFC 8037 Appendix A.1 (the Ed25519 private key) as PKCS#8, and A.3's thumbprint.
    const RFC8037_PEM: &str = "-----BEGIN PRIVATE KEY-----\n\
        MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n\
        -----END PRIVATE KEY-----\n";

    #[test]
    fn the_kid_is_the_rfc_7638_thumbprint_from_rfc_8037() {
        let key = SigningKey::from_pem(RFC8037_PEM.as_bytes()).unwrap();
        assert_eq!(key.public().algorithm, Algorithm::EdDsa);
        assert_eq!(
            key.public().jwk["x"],
            "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        );
        assert_eq!(
            key.public().kid,
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn ed25519_and_p256_keys_sign_with_their_own_algorithms() {
        for algorithm in [Algorithm::EdDsa, Algorithm::Es256] {
            let key = SigningKey::from_pem(generate_pem(algorithm).unwrap().as_bytes()).unwrap();
            assert_eq!(key.public().algorithm, algorithm);
            assert_eq!(key.public().jwk["alg"], algorithm.name());
            // Both raw signatures are 64 bytes: Ed25519's, and ES256's fixed r || s.
            assert_eq!(key.sign(b"header.payload").unwrap().len(), 64);
        }
    }

    #[test]
    fn files_that_are_not_one_usable_key_say_what_they_are() {
        let sec1 = "-----BEGIN EC PRIVATE KEY-----\nMAA=\n-----END EC PRIVATE KEY-----\n";
        let encrypted =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let two = format!(
            "{}{}",
            generate_pem(Algorithm::EdDsa).unwrap(),
            generate_pem(Algorithm::EdDsa).unwrap()
        );
        let garbage = "-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n";
        for (pem, expected) in [
            (sec1, "SEC1"),
            (encrypted, "encrypted"),
            (two.as_str(), "2 private keys"),
            ("hello", "no `PRIVATE KEY`"),
            (garbage, "not an Ed25519 or P-256"),
        ] {
            let error = SigningKey::from_pem(pem.as_bytes()).unwrap_err();
            assert!(error.to_string().contains(expected), "{pem}: {error}");
        }
    }
}
