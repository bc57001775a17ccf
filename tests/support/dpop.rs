//! DPoP for tests: a key, the token bound to it, and a GET carrying a fresh proof for the URI
//! the client addresses, so a test says only which key, token and path.

use gateway::dev::dpop::{DpopAlg, DpopKey};

use super::world::{Sent, World};

/// A fresh ES256 key.
pub fn key() -> DpopKey {
    key_of(DpopAlg::Es256)
}

/// A fresh key for `alg`.
pub fn key_of(alg: DpopAlg) -> DpopKey {
    DpopKey::generate(alg).unwrap_or_else(|| panic!("cannot generate a {alg:?} DPoP key"))
}

/// `{"jkt": <thumbprint of key>}`: the confirmation binding a token to `key`.
pub fn jkt(key: &DpopKey) -> serde_json::Value {
    serde_json::json!({ "jkt": key.jkt() })
}

impl World {
    /// A ClientCo token with `scope` bound to `key`.
    pub fn dpop_token(&self, key: &DpopKey, scope: &str) -> String {
        self.bound_token(scope, jkt(key))
    }

    /// `GET path` with `Authorization: DPoP token` and a fresh proof by `key` for this world's
    /// URL of `path`.
    pub async fn dpop_get(&self, key: &DpopKey, token: &str, path: &str) -> reqwest::Response {
        let proof = key.proof("GET", &self.url(path), Some(token), None);
        self.dpop("GET", path, token, &[&proof]).sent().await
    }
}
