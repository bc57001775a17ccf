//! The assertion's claim set: who the caller is and which request the gateway authorised.
//!
//! Serialised straight from borrowed request state (no intermediate map): `iss`, `aud`, `iat`,
//! `exp`, `jti`, the identity (`sub`, `client_id`, `scope`, `token_iss`, `claims`), the request
//! binding (`htm`, `htp`, `route`, named after RFC 9449 §4.2's DPoP claims), and on a request
//! that shadow mode forwarded although denied, `decision` and `reason`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::identity::{Identity, Scopes};

/// What one assertion says; see the module docs for each claim.
#[derive(Serialize)]
pub struct AssertionClaims<'a> {
    pub iss: &'a str,
    pub aud: &'a str,
    pub iat: u64,
    pub exp: u64,
    pub jti: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<&'a str>,
    /// Granted scopes, sorted, space-separated; "" on a public route.
    #[serde(serialize_with = "scopes_text")]
    pub scope: Option<&'a Scopes>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_iss: Option<&'a str>,
    /// Every claim `[forward.claims]` maps, by claim name, with its JSON value.
    pub claims: ForwardedClaims<'a>,
    pub htm: &'a str,
    pub htp: &'a str,
    pub route: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
}

fn scopes_text<S: Serializer>(scopes: &Option<&Scopes>, serializer: S) -> Result<S::Ok, S::Error> {
    match scopes {
        Some(scopes) => serializer.collect_str(scopes),
        None => serializer.serialize_str(""),
    }
}

/// The `claims` object: the `[forward.claims]` claims the token has (absent and null ones left
/// out), values as the token carried them.
pub struct ForwardedClaims<'a> {
    identity: Option<&'a Identity>,
    mapped: &'a [(String, http::HeaderName)],
}

impl<'a> ForwardedClaims<'a> {
    /// `mapped` is `[forward.claims]` (claim name, header); no identity gives `{}`.
    pub fn new(identity: Option<&'a Identity>, mapped: &'a [(String, http::HeaderName)]) -> Self {
        Self { identity, mapped }
    }
}

impl Serialize for ForwardedClaims<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(identity) = self.identity {
            for (claim, _) in self.mapped {
                match identity.claims.get(claim) {
                    None | Some(serde_json::Value::Null) => {}
                    Some(value) => map.serialize_entry(claim, value)?,
                }
            }
        }
        map.end()
    }
}

/// A process-unique assertion id: a random per-process prefix and a counter, base64url. Unique
/// across restarts and replicas (96 random bits) and far cheaper than 128 fresh random bits per
/// request.
pub fn new_jti() -> String {
    use base64::Engine as _;
    static PREFIX: std::sync::OnceLock<[u8; 12]> = std::sync::OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        let mut random = [0u8; 12];
        // On RNG failure the prefix is zero: ids stay unique within the process.
        let _ = aws_lc_rs::rand::fill(&mut random);
        random
    });
    let mut id = [0u8; 20];
    id[..12].copy_from_slice(prefix);
    id[12..].copy_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id)
}
