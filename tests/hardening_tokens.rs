//! Issue 21's token-side classes in detail (`hardening_second_round.rs` runs one case of each
//! through the binary): scope-tokens, claims that cannot become headers, and hostile JWKS
//! documents (small RSA exponents, `key_ops` without `verify`, a `kid` named twice, redirects).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use gateway::auth::{AuthError, Authenticator};
use gateway::config::AuthConfig;
use gateway::telemetry::Metrics;
use gateway::telemetry::metrics::IssuerLabels;
use prometheus_client::metrics::family::Family;
use serde_json::{Value, json};
use support::issuer::*;
use support::keyhost::KeyHost;

#[tokio::test]
async fn scope_is_split_on_spaces_only_and_every_entry_must_be_a_scope_token() {
    let issuer = spawn_issuer().await;
    let (auth, _) = ready_authenticator(&auth_config(&issuer)).await;
    let with = |scope: Value, permissions: Option<Value>| {
        let mut claims = issuer.standard_claims(&[]);
        claims["scope"] = scope;
        if let Some(permissions) = permissions {
            claims["permissions"] = permissions;
        }
        issuer.mint(&claims)
    };
    // Repeated and trailing spaces were always tolerated.
    let identity = auth
        .verify(&with(json!(" read:forecast  ingest:data "), None))
        .await
        .unwrap();
    assert_eq!(identity.scopes.to_string(), "ingest:data read:forecast");

    for (claim, scope, permissions) in [
        ("scope", json!("read:forecast\tno:execute_modeling"), None),
        ("scope", json!("read:forecast\u{a0}admin"), None),
        ("scope", json!("read:\"forecast\""), None),
        ("scope", json!("read:fore\\cast"), None),
        ("scope", json!("caf\u{e9}"), None),
        (
            "permissions",
            json!(""),
            Some(json!(["read:forecast admin"])),
        ),
        (
            "permissions",
            json!(""),
            Some(json!(["read:forecast\nadmin"])),
        ),
        ("permissions", json!(""), Some(json!([""]))),
    ] {
        let error = auth.verify(&with(scope, permissions)).await.unwrap_err();
        assert!(
            matches!(error, AuthError::InvalidClaim { claim: c, .. } if c == claim),
            "{claim}: {error:?}"
        );
    }
}

#[tokio::test]
async fn claims_that_would_become_headers_must_be_header_safe() {
    let issuer = spawn_issuer().await;
    let (auth, metrics) = ready_authenticator(&auth_config(&issuer)).await;
    for (claim, value) in [
        ("sub", "a\rb"),
        ("sub", "a\nb"),
        ("sub", "a\0b"),
        ("sub", "a\u{7f}b"),
        ("azp", "clientco\r\nX-Auth-Scopes: admin"),
    ] {
        let mut claims = issuer.standard_claims(&["read:forecast"]);
        claims[claim] = value.into();
        let token = issuer.mint(&claims);
        for _ in 0..2 {
            let error = auth.verify(&token).await.unwrap_err();
            assert!(
                matches!(error, AuthError::InvalidClaim { claim: c, .. } if c == claim),
                "{claim}: {error:?}"
            );
        }
    }
    // `client_id` is read when there is no `azp`, and named when it is the unusable one.
    let mut claims = issuer.standard_claims(&["read:forecast"]);
    claims.as_object_mut().unwrap().remove("azp");
    claims["client_id"] = "client\nco".into();
    let error = auth.verify(&issuer.mint(&claims)).await.unwrap_err();
    assert!(
        matches!(
            error,
            AuthError::InvalidClaim {
                claim: "client_id",
                ..
            }
        ),
        "{error:?}"
    );
    // Refused before the cache: nothing was ever cached to hit.
    assert_eq!(metrics.token_cache_hits.get(), 0);
}

/// `[auth]` for `issuer`, fetching its keys from `jwks_url` instead.
fn via(issuer: &gateway::dev::issuer::DevIssuer, jwks_url: String) -> AuthConfig {
    let mut config = auth_config(issuer);
    config.issuers[0].jwks_url = jwks_url;
    config
}

/// The value of an issuer-labelled metric for the one issuer of `auth_config` (`default`).
fn of_default<M: Clone + Default>(family: &Family<IssuerLabels, M>) -> M {
    family
        .get_or_create(&IssuerLabels {
            issuer: Arc::from("default"),
        })
        .clone()
}

async fn started(config: &AuthConfig) -> (Arc<Authenticator>, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::default());
    (Authenticator::start(config, Arc::clone(&metrics)), metrics)
}

/// The issuer's published key with another `kid` and `edit` applied: the same key material, so
/// a token signed by the issuer under that `kid` verifies if, and only if, the key is used.
fn copy_of(
    issuer: &gateway::dev::issuer::DevIssuer,
    kid: &str,
    edit: impl Fn(&mut Value),
) -> Value {
    let mut key = issuer.jwks()["keys"][0].clone();
    key["kid"] = kid.into();
    edit(&mut key);
    key
}

#[tokio::test]
async fn small_exponents_and_keys_not_for_verify_are_never_used() {
    let issuer = spawn_issuer().await;
    let sign_only = copy_of(&issuer, "sign-only", |k| k["key_ops"] = json!(["sign"]));
    let listed = copy_of(&issuer, "verify-listed", |k| {
        k["key_ops"] = json!(["verify"])
    });
    let e3 = copy_of(&issuer, "e3", |k| k["e"] = "Aw".into());
    let real = issuer.jwks()["keys"][0].clone();
    let host = KeyHost::start(json!({"keys": [real, sign_only, listed, e3]})).await;
    let (auth, _) = ready_authenticator(&via(&issuer, host.url("/keys"))).await;
    let claims = issuer.standard_claims(&["read:forecast"]);
    let under = |kid: &str| issuer.mint_with(&json!({"kid": kid}), &claims);

    assert!(auth.verify(&issuer.mint(&claims)).await.is_ok());
    assert!(auth.verify(&under("verify-listed")).await.is_ok());
    for kid in ["sign-only", "e3"] {
        assert_eq!(
            auth.verify(&under(kid)).await.unwrap_err(),
            AuthError::UnknownKeyId(kid.to_owned())
        );
    }
}

#[tokio::test]
async fn a_document_naming_a_kid_twice_is_refused_and_the_last_good_set_keeps_serving() {
    let issuer = spawn_issuer().await;
    let host = KeyHost::start(issuer.jwks()).await;
    let (auth, metrics) = ready_authenticator(&via(&issuer, host.url("/keys"))).await;
    let claims = issuer.standard_claims(&["read:forecast"]);
    let good = issuer.mint(&claims);
    assert!(auth.verify(&good).await.is_ok());

    // The issuer adds a key, but the document it publishes names the old kid twice.
    let old_kid = issuer.current_kid();
    let new_kid = issuer
        .rotate(gateway::dev::issuer::KeyKind::Rsa2048)
        .unwrap();
    let mut document = issuer.jwks();
    let twin = copy_of(&issuer, &old_kid, |_| {});
    document["keys"].as_array_mut().unwrap().push(twin);
    host.serve(document);
    let failures = of_default(&metrics.jwks_fetch_failures).get();

    let fresh = issuer.mint(&claims);
    assert_eq!(
        auth.verify(&fresh).await.unwrap_err(),
        AuthError::UnknownKeyId(new_kid)
    );
    assert_eq!(of_default(&metrics.jwks_fetch_failures).get(), failures + 1);
    assert_eq!(of_default(&metrics.jwks_stale).get(), 1);
    assert!(
        auth.verify_uncached(&good).await.is_ok(),
        "the last good set was replaced"
    );
}

#[tokio::test]
async fn jwks_redirects_are_followed_within_the_origin_only() {
    let issuer = spawn_issuer().await;
    let host = KeyHost::start(issuer.jwks()).await;
    let (auth, _) = ready_authenticator(&via(&issuer, host.url("/moved"))).await;
    assert!(
        auth.verify(&issuer.mint(&issuer.standard_claims(&[])))
            .await
            .is_ok()
    );

    // To another origin (the issuer's own JWKS, another port): not followed, never ready.
    host.redirect_to(&issuer.jwks_url());
    let (auth, metrics) = started(&via(&issuer, host.url("/elsewhere"))).await;
    support::wait::until("a fetch has failed", || {
        of_default(&metrics.jwks_fetch_failures).get() >= 1
    })
    .await;
    assert!(!auth.is_ready());
    assert_eq!(issuer.jwks_requests(), 0);
}
