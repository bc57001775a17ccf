//! The JWKS over time: start-up and readiness, rotation, unknown-kid storms (one fetch),
//! issuer outages (stale-if-error), key removal, and the size cap.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use gateway::auth::{AuthError, Authenticator, explain_token};
use gateway::dev::issuer::{JwksMode, KeyKind};
use gateway::telemetry::Metrics;
use serde_json::json;
use support::issuer::*;

#[tokio::test]
async fn not_ready_until_the_first_fetch_succeeds_then_retries_until_it_does() {
    let issuer = spawn_issuer().await;
    issuer.set_jwks_mode(JwksMode::Unavailable);
    let metrics = Arc::new(Metrics::default());
    let auth = Authenticator::start(&auth_config(&issuer), Arc::clone(&metrics));
    let token = issuer.mint(&issuer.standard_claims(&["read:forecast"]));

    support::wait::until("a first fetch has failed", || {
        metrics.jwks("default").fetch_failures.get() >= 1
    })
    .await;
    assert!(!auth.is_ready());
    assert_eq!(
        auth.verify(&token).await.err(),
        Some(AuthError::KeysNotLoaded)
    );

    issuer.set_jwks_mode(JwksMode::Serve);
    support::wait::until("the retry loads the JWKS", || auth.is_ready()).await;
    assert!(auth.verify(&token).await.is_ok());
    assert_eq!(metrics.jwks("default").keys.get(), 1);
}

#[tokio::test]
async fn a_rotated_key_is_fetched_on_first_sight_and_old_tokens_keep_working() {
    let issuer = spawn_issuer().await;
    let (auth, _) = ready_authenticator(&auth_config(&issuer)).await;
    let old = issuer.mint(&issuer.standard_claims(&["read:forecast"]));
    assert!(auth.verify(&old).await.is_ok());

    let fetches_before = issuer.jwks_requests();
    let new_kid = issuer.rotate(KeyKind::Rsa2048).unwrap();
    let new = issuer.mint(&issuer.standard_claims(&["read:forecast"]));
    let identity = auth.verify(&new).await.unwrap();
    assert_eq!(identity.key_id, new_kid);
    assert_eq!(issuer.jwks_requests(), fetches_before + 1);
    assert!(auth.verify_uncached(&old).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_100_unknown_kids_causes_at_most_one_fetch() {
    let issuer = spawn_issuer().await;
    let (auth, metrics) = ready_authenticator(&auth_config(&issuer)).await;
    let fetches_before = issuer.jwks_requests();
    let claims = issuer.standard_claims(&[]);

    let mut storm = tokio::task::JoinSet::new();
    for i in 0..100 {
        let token = issuer.mint_with(&json!({"kid": format!("unknown-{i}")}), &claims);
        let auth = Arc::clone(&auth);
        storm.spawn(async move { auth.verify(&token).await });
    }
    while let Some(result) = storm.join_next().await {
        assert!(matches!(result.unwrap(), Err(AuthError::UnknownKeyId(_))));
    }
    let fetched = issuer.jwks_requests() - fetches_before;
    assert!(fetched <= 1, "{fetched} JWKS fetches for one storm");
    assert!(metrics.jwks("default").fetches.get() <= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_100_tokens_under_a_new_key_shares_one_fetch_and_all_pass() {
    let issuer = spawn_issuer().await;
    let (auth, _) = ready_authenticator(&auth_config(&issuer)).await;
    let fetches_before = issuer.jwks_requests();
    issuer.rotate(KeyKind::Rsa2048).unwrap();

    let mut storm = tokio::task::JoinSet::new();
    for i in 0..100 {
        let mut claims = issuer.standard_claims(&[]);
        claims["jti"] = json!(i);
        let token = issuer.mint(&claims);
        let auth = Arc::clone(&auth);
        storm.spawn(async move { auth.verify(&token).await });
    }
    while let Some(result) = storm.join_next().await {
        assert!(result.unwrap().is_ok());
    }
    assert_eq!(issuer.jwks_requests() - fetches_before, 1);
}

#[tokio::test]
async fn unknown_kids_refetch_at_most_once_per_cooldown() {
    let issuer = spawn_issuer().await;
    let (auth, _) = ready_authenticator(&auth_config(&issuer)).await;
    let fetches_before = issuer.jwks_requests();
    let claims = issuer.standard_claims(&[]);
    for i in 0..5 {
        let token = issuer.mint_with(&json!({"kid": format!("k{i}")}), &claims);
        assert!(auth.verify(&token).await.is_err());
    }
    assert_eq!(issuer.jwks_requests() - fetches_before, 1);
}

#[tokio::test]
async fn an_issuer_outage_after_start_keeps_the_last_good_keys() {
    let issuer = spawn_issuer().await;
    let mut config = auth_config(&issuer);
    config.issuers[0].jwks_refresh = Duration::from_millis(100);
    let (auth, metrics) = ready_authenticator(&config).await;

    for mode in [
        JwksMode::Unavailable,
        JwksMode::Garbage,
        JwksMode::Oversized,
    ] {
        let failures = metrics.jwks("default").fetch_failures.get();
        issuer.set_jwks_mode(mode);
        support::wait::until("a background refresh fails", || {
            metrics.jwks("default").fetch_failures.get() > failures
        })
        .await;
        assert_eq!(metrics.jwks("default").stale.get(), 1, "{mode:?}");
        assert!(auth.is_ready());
        // Fresh tokens (never cached) still verify with the stale set.
        let token = issuer.mint(&issuer.standard_claims(&["read:forecast"]));
        assert!(auth.verify(&token).await.is_ok(), "{mode:?}");
    }

    issuer.set_jwks_mode(JwksMode::Serve);
    support::wait::until("a refresh succeeds again", || {
        metrics.jwks("default").stale.get() == 0
    })
    .await;
}

#[tokio::test]
async fn a_hanging_issuer_does_not_hold_up_tokens_with_known_keys() {
    let issuer = spawn_issuer().await;
    let (auth, _) = ready_authenticator(&auth_config(&issuer)).await;
    issuer.set_jwks_mode(JwksMode::Hang);
    let requests = issuer.jwks_requests();

    let unknown = issuer.mint_with(&json!({"kid": "k-hang"}), &issuer.standard_claims(&[]));
    let stuck = tokio::spawn({
        let auth = Arc::clone(&auth);
        async move { auth.verify(&unknown).await }
    });
    support::wait::until("the refetch is hanging at the issuer", || {
        issuer.jwks_requests() > requests
    })
    .await;
    let token = issuer.mint(&issuer.standard_claims(&["read:forecast"]));
    assert!(auth.verify(&token).await.is_ok());
    assert!(!stuck.is_finished());

    issuer.set_jwks_mode(JwksMode::Serve);
    assert_eq!(
        stuck.await.unwrap().err(),
        Some(AuthError::UnknownKeyId("k-hang".to_owned()))
    );
}

#[tokio::test]
async fn a_removed_key_stops_verifying_at_once_even_from_the_cache() {
    let issuer = spawn_issuer().await;
    let (auth, metrics) = ready_authenticator(&auth_config(&issuer)).await;
    let old_kid = issuer.current_kid();
    let old = issuer.mint(&issuer.standard_claims(&["read:forecast"]));
    assert!(auth.verify(&old).await.is_ok());
    assert!(auth.verify(&old).await.is_ok());
    assert_eq!(
        metrics.token_cache_hits.get(),
        1,
        "second call is a cache hit"
    );

    // The issuer rotates and withdraws the old key (e.g. it leaked); the first token under the
    // new key makes the gateway see the new JWKS.
    issuer.rotate(KeyKind::Rsa2048).unwrap();
    issuer.remove_key(&old_kid);
    let new = issuer.mint(&issuer.standard_claims(&["read:forecast"]));
    assert!(auth.verify(&new).await.is_ok());

    assert_eq!(
        auth.verify(&old).await.err(),
        Some(AuthError::UnknownKeyId(old_kid))
    );
}

#[tokio::test]
async fn explain_fetches_once_and_applies_the_same_checks() {
    let issuer = spawn_issuer().await;
    let config = auth_config(&issuer);
    let token = issuer.mint(&issuer.standard_claims(&["read:forecast"]));
    let identity = explain_token(&config, &token).await.unwrap();
    assert_eq!(identity.scopes.to_string(), "read:forecast");
    assert_eq!(issuer.jwks_requests(), 1);

    let unknown = issuer.mint_with(&json!({"kid": "k9"}), &issuer.standard_claims(&[]));
    assert_eq!(
        explain_token(&config, &unknown)
            .await
            .unwrap_err()
            .to_string(),
        "unknown key id k9"
    );

    issuer.set_jwks_mode(JwksMode::Unavailable);
    let err = explain_token(&config, &token).await.unwrap_err();
    assert!(matches!(err, AuthError::KeysUnavailable(_)));
    assert!(err.to_string().contains("503"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_while_the_issuer_is_down_still_causes_at_most_one_fetch() {
    let issuer = spawn_issuer().await;
    let (auth, metrics) = ready_authenticator(&auth_config(&issuer)).await;
    issuer.set_jwks_mode(JwksMode::Unavailable);
    let fetches_before = issuer.jwks_requests();
    let claims = issuer.standard_claims(&[]);
    let good = issuer.mint(&claims);

    let mut storm = tokio::task::JoinSet::new();
    for i in 0..100 {
        let token = issuer.mint_with(&json!({"kid": format!("down-{i}")}), &claims);
        let auth = Arc::clone(&auth);
        storm.spawn(async move { auth.verify(&token).await });
    }
    while let Some(result) = storm.join_next().await {
        assert!(matches!(result.unwrap(), Err(AuthError::UnknownKeyId(_))));
    }
    assert_eq!(issuer.jwks_requests() - fetches_before, 1);
    assert_eq!(metrics.jwks("default").stale.get(), 1);
    assert!(auth.verify(&good).await.is_ok());
}
