//! Test support: a development issuer on 127.0.0.1:0, an `[auth]` config pointing at it, a
//! ready `Authenticator`, and helpers to forge tokens by hand for attack tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gateway::auth::Authenticator;
use gateway::config::{AuthConfig, IssuerConfig};
use gateway::dev::issuer::{DevClient, DevIssuer, DevIssuerConfig, KeyKind};
use gateway::telemetry::Metrics;
use jsonwebtoken::Algorithm;
use serde_json::Value;

pub const AUDIENCE: &str = "https://clientco/api";

/// An issuer with one RSA key and the ClientCo M2M client (`clientco` / `s3cret`).
pub async fn spawn_issuer() -> DevIssuer {
    spawn_issuer_with(KeyKind::Rsa2048).await
}

pub async fn spawn_issuer_with(key: KeyKind) -> DevIssuer {
    DevIssuer::start(DevIssuerConfig {
        key,
        audience: AUDIENCE.to_owned(),
        clients: vec![DevClient {
            client_id: "clientco".to_owned(),
            client_secret: "s3cret".to_owned(),
            scopes: vec!["read:forecast".to_owned(), "ingest:data".to_owned()],
        }],
        ..DevIssuerConfig::default()
    })
    .await
    .expect("dev issuer starts on 127.0.0.1:0")
}

/// `[auth]` for `issuer`: RS256 and ES256 allowed, no leeway (tests state their own times),
/// hour-long refresh so only the test triggers fetches, 30 s cool-down.
pub fn auth_config(issuer: &DevIssuer) -> AuthConfig {
    AuthConfig {
        cache_max_entries: 10_000,
        ..AuthConfig::single(issuer_config("default", issuer))
    }
}

/// `issuer_config` of `auth_config`: one issuer named `name` for `issuer`, with the same
/// test settings (to build several-issuer configs from).
pub fn issuer_config(name: &str, issuer: &DevIssuer) -> IssuerConfig {
    IssuerConfig {
        jwks_url: issuer.jwks_url(),
        algorithms: vec![Algorithm::RS256, Algorithm::ES256],
        leeway: Duration::ZERO,
        jwks_refresh: Duration::from_secs(3600),
        ..IssuerConfig::new(name, issuer.issuer_url(), AUDIENCE)
    }
}

/// Starts an authenticator and waits (polling, 10 s deadline) until its key set has loaded.
pub async fn ready_authenticator(config: &AuthConfig) -> (Arc<Authenticator>, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::default());
    let auth = Authenticator::start(config, Arc::clone(&metrics));
    super::wait::until("the JWKS loads", || auth.is_ready()).await;
    (auth, metrics)
}

pub fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// `header.payload.signature` from parts, for tokens the issuer would never sign.
pub fn forge(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64_json(header),
        b64_json(claims),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// HMAC-SHA256 over `header.payload` with `secret`: the RS/HS confusion attack when the secret
/// is the issuer's public key.
pub fn forge_hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let message = format!("{}.{}", b64_json(header), b64_json(claims));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, message.as_bytes());
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
