//! The verified-token cache: hits are real, and it never serves a token the clock or the key
//! set no longer allows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use gateway::auth::AuthError;
use serde_json::json;
use support::issuer::*;
use support::world::Sent as _;

#[tokio::test]
async fn a_repeated_token_is_served_from_the_cache() {
    let issuer = spawn_issuer().await;
    let (auth, metrics) = ready_authenticator(&auth_config(&issuer)).await;
    let token = issuer.mint(&issuer.standard_claims(&["read:forecast"]));
    let first = auth.verify(&token).await.unwrap();
    let second = auth.verify(&token).await.unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(metrics.token_cache_hits.get(), 1);
    assert_eq!(metrics.token_cache_misses.get(), 1);
}

#[tokio::test]
async fn a_token_differing_only_at_the_end_is_not_a_cache_hit() {
    let issuer = spawn_issuer().await;
    let (auth, _) = ready_authenticator(&auth_config(&issuer)).await;
    let token = issuer.mint(&issuer.standard_claims(&["read:forecast"]));
    assert!(auth.verify(&token).await.is_ok());
    // Flip the last signature character: a cache keyed by a prefix would accept this.
    let mut forged = token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let err = auth.verify(&forged).await.unwrap_err();
    assert!(
        matches!(err, AuthError::BadSignature | AuthError::Malformed(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_cache_never_serves_a_token_past_its_exp() {
    let issuer = spawn_issuer().await;
    let (auth, metrics) = ready_authenticator(&auth_config(&issuer)).await;
    let exp = now() + 2;
    let mut claims = issuer.standard_claims(&["read:forecast"]);
    claims["exp"] = json!(exp);
    let token = issuer.mint(&claims);

    let outcome = support::wait::poll("the token to expire", support::wait::DEADLINE, || async {
        // Read the clock before the call: an Ok can only be right if we were still before exp.
        let before = now();
        match auth.verify(&token).await {
            Ok(_) => {
                assert!(before < exp, "served at {before}, exp {exp}");
                None
            }
            Err(err) => Some(err),
        }
    })
    .await;
    assert!(
        matches!(outcome, AuthError::TokenExpired { .. }),
        "{outcome:?}"
    );
    assert!(now() >= exp);
    assert!(
        metrics.token_cache_hits.get() > 0,
        "the cache was not exercised"
    );
}

#[tokio::test]
async fn a_tight_entry_bound_still_verifies_everything() {
    let issuer = spawn_issuer().await;
    let mut config = auth_config(&issuer);
    config.cache_max_entries = 2;
    let (auth, _) = ready_authenticator(&config).await;
    let tokens: Vec<String> = (0..10)
        .map(|i| {
            let mut claims = issuer.standard_claims(&[]);
            claims["jti"] = json!(i);
            issuer.mint(&claims)
        })
        .collect();
    for _ in 0..2 {
        for token in &tokens {
            assert!(auth.verify(token).await.is_ok());
        }
    }
}

#[tokio::test]
async fn a_far_future_exp_is_cached_without_overflow() {
    let issuer = spawn_issuer().await;
    let (auth, metrics) = ready_authenticator(&auth_config(&issuer)).await;
    let mut claims = issuer.standard_claims(&[]);
    claims["exp"] = json!(1e300);
    let token = issuer.mint(&claims);
    assert!(auth.verify(&token).await.is_ok());
    assert!(auth.verify(&token).await.is_ok());
    assert_eq!(metrics.token_cache_hits.get(), 1);
}

/// The data plane looks a token up in the cache before checking its syntax (a hit was checked
/// when it was verified): the exact bytes must match, so a cached token sent with anything
/// around it that the syntax forbids is still refused for that syntax.
#[tokio::test]
async fn a_cached_token_with_bad_syntax_around_it_is_refused_for_the_syntax() {
    let world = support::world::World::start().await;
    let token = world.token("read:forecast");
    for _ in 0..2 {
        assert_eq!(world.get_with("/forecast", &token).await.status(), 200);
    }
    let authorized = |value: String| {
        world
            .request("GET", "/forecast")
            .header("authorization", value)
            .sent()
    };
    for (value, reason) in [
        (
            format!("Bearer {token} {token}"),
            "send exactly one token after Bearer",
        ),
        (
            format!("Bearer {token},"),
            "outside the RFC 6750 b64token set",
        ),
        (
            format!("Bearer ={token}"),
            "outside the RFC 6750 b64token set",
        ),
    ] {
        let answer = authorized(value).await;
        assert_eq!(answer.status(), 401);
        let body = support::world::error_body(answer).await;
        assert!(
            support::world::description(&body).contains(reason),
            "{body}"
        );
    }
    // Blanks around the token are the header's, not the token's: still the cached token.
    let answer = authorized(format!("bearer   {token}  ")).await;
    assert_eq!(answer.status(), 200);
}
