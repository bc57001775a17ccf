//! Decision 3 against a real issuer over HTTP: every RFC 8725 §2 attack is refused with its own
//! error, and a good token yields the identity the upstream will see.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gateway::auth::{AuthError, Authenticator};
use gateway::dev::issuer::{DevIssuer, KeyKind};
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use support::issuer::*;

async fn setup() -> (DevIssuer, std::sync::Arc<Authenticator>) {
    let issuer = spawn_issuer().await;
    let (auth, _) = ready_authenticator(&auth_config(&issuer)).await;
    (issuer, auth)
}

/// Verifies and also checks the description never echoes the token or its signature.
async fn reject(auth: &Authenticator, token: &str) -> AuthError {
    let err = auth
        .verify(token)
        .await
        .expect_err("the token must be refused");
    let description = err.to_string();
    assert!(!description.contains(token), "{description}");
    if let Some(signature) = token.rsplit('.').next().filter(|s| s.len() > 8) {
        assert!(!description.contains(signature), "{description}");
    }
    err
}

fn header_of(issuer: &DevIssuer) -> Value {
    json!({"alg": "RS256", "typ": "JWT", "kid": issuer.current_kid()})
}

#[tokio::test]
async fn a_good_token_yields_subject_client_and_the_union_of_scope_and_permissions() {
    let (issuer, auth) = setup().await;
    let mut claims = issuer.standard_claims(&["read:forecast"]);
    claims["permissions"] = json!(["read:inventory", "read:forecast"]);
    let identity = auth.verify(&issuer.mint(&claims)).await.unwrap();
    assert_eq!(identity.subject, "dev-client@clients");
    assert_eq!(identity.client_id.as_deref(), Some("dev-client"));
    assert_eq!(identity.issuer, issuer.issuer_url());
    assert_eq!(identity.scopes.to_string(), "read:forecast read:inventory");
    assert_eq!(identity.key_id, issuer.current_kid());
    assert_eq!(identity.claims.map()["gty"], "client-credentials");
}

#[tokio::test]
async fn alg_none_in_any_casing_is_refused() {
    let (issuer, auth) = setup().await;
    let claims = issuer.standard_claims(&["read:forecast"]);
    for none in ["none", "None", "NONE", "nOnE"] {
        let mut header = header_of(&issuer);
        header["alg"] = json!(none);
        let token = forge(&header, &claims, b"");
        assert_eq!(
            reject(&auth, &token).await,
            AuthError::AlgorithmNotAllowed(none.to_owned())
        );
    }
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key_is_refused_even_if_allow_listed() {
    let issuer = spawn_issuer().await;
    let mut config = auth_config(&issuer);
    config.issuers[0].algorithms.push(Algorithm::HS256);
    let (auth, _) = ready_authenticator(&config).await;
    let der = issuer.rsa_public_key_der(&issuer.current_kid()).unwrap();
    let jwks_n = issuer.jwks()["keys"][0]["n"].as_str().unwrap().to_owned();
    let mut header = header_of(&issuer);
    header["alg"] = json!("HS256");
    let claims = issuer.standard_claims(&["read:forecast"]);
    for secret in [der.as_slice(), jwks_n.as_bytes()] {
        let token = forge_hs256(&header, &claims, secret);
        assert_eq!(
            reject(&auth, &token).await,
            AuthError::AlgorithmNotAllowed("HS256".to_owned())
        );
    }
}

#[tokio::test]
async fn stripped_foreign_and_copied_signatures_are_refused() {
    let (issuer, auth) = setup().await;
    let claims = issuer.standard_claims(&["read:forecast"]);
    let good = issuer.mint(&claims);
    let (unsigned, _) = good.rsplit_once('.').unwrap();

    let stripped = format!("{unsigned}.");
    assert_eq!(reject(&auth, &stripped).await, AuthError::BadSignature);

    // Another issuer's key, claiming our kid.
    let stranger = spawn_issuer().await;
    let foreign = stranger.mint_with(&json!({"kid": issuer.current_kid()}), &claims);
    assert_eq!(reject(&auth, &foreign).await, AuthError::BadSignature);

    // A valid signature from another token.
    let other = issuer.mint(&issuer.standard_claims(&["ingest:data"]));
    let (_, other_signature) = other.rsplit_once('.').unwrap();
    let copied = format!("{unsigned}.{other_signature}");
    assert_eq!(reject(&auth, &copied).await, AuthError::BadSignature);
}

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    let (issuer, auth) = setup().await;
    let claims = issuer.standard_claims(&["read:forecast"]);
    let good = issuer.mint(&claims);
    let parts: Vec<&str> = good.split('.').collect();
    let mut escalated = claims.clone();
    escalated["scope"] = json!("read:forecast ingest:data no:execute_modeling");
    let tampered = format!("{}.{}.{}", parts[0], b64_json(&escalated), parts[2]);
    assert_eq!(reject(&auth, &tampered).await, AuthError::BadSignature);
    // The original still works: the refusal was about the tampering.
    assert!(auth.verify(&good).await.is_ok());
}

#[tokio::test]
async fn expired_and_future_tokens_are_refused_with_how_far_off() {
    let (issuer, auth) = setup().await;
    let mut claims = issuer.standard_claims(&[]);
    claims["exp"] = json!(now() - 42);
    let err = reject(&auth, &issuer.mint(&claims)).await;
    assert!(
        matches!(err, AuthError::TokenExpired { ago: 42..=44 }),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("token expired 4"), "{err}");

    let mut claims = issuer.standard_claims(&[]);
    claims["nbf"] = json!(now() + 600);
    let err = reject(&auth, &issuer.mint(&claims)).await;
    assert!(
        matches!(err, AuthError::NotYetValid { in_secs: 598..=600 }),
        "{err:?}"
    );

    let mut claims = issuer.standard_claims(&[]);
    claims["iat"] = json!(now() + 600);
    let err = reject(&auth, &issuer.mint(&claims)).await;
    assert!(matches!(err, AuthError::IssuedInFuture { .. }), "{err:?}");
}

#[tokio::test]
async fn leeway_absorbs_small_clock_skew_only() {
    let issuer = spawn_issuer().await;
    let mut config = auth_config(&issuer);
    config.issuers[0].leeway = std::time::Duration::from_secs(30);
    let (auth, _) = ready_authenticator(&config).await;
    let mut claims = issuer.standard_claims(&[]);
    claims["exp"] = json!(now() - 10);
    claims["nbf"] = json!(now() + 10);
    claims["iat"] = json!(now() + 10);
    assert!(auth.verify(&issuer.mint(&claims)).await.is_ok());
    claims["exp"] = json!(now() - 60);
    assert!(matches!(
        reject(&auth, &issuer.mint(&claims)).await,
        AuthError::TokenExpired { .. }
    ));
}

#[tokio::test]
async fn wrong_or_missing_issuer_audience_and_expiry_are_refused() {
    let (issuer, auth) = setup().await;
    let base = issuer.standard_claims(&[]);
    let with = |name: &str, value: Value| {
        let mut claims = base.clone();
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value;
        }
        issuer.mint(&claims)
    };

    // SPEC "More than one issuer": an `iss` no configured issuer has is `unknown issuer`
    // (the first-round `[auth]` form is one issuer, so this is its wrong-issuer refusal).
    let err = reject(&auth, &with("iss", json!("https://evil.example/"))).await;
    assert_eq!(err.to_string(), "unknown issuer https://evil.example/");
    assert_eq!(err.reason(), "unknown_issuer");
    // Auth0 writes the trailing slash; the comparison is exact, and the refusal says so.
    let no_slash = issuer.issuer_url().trim_end_matches('/').to_owned();
    assert!(matches!(
        reject(&auth, &with("iss", json!(no_slash))).await,
        AuthError::UnknownIssuer {
            near_miss: true,
            ..
        }
    ));
    assert_eq!(
        reject(&auth, &with("iss", Value::Null)).await,
        AuthError::MissingClaim("iss")
    );

    let err = reject(&auth, &with("aud", json!("https://other/api"))).await;
    assert_eq!(
        err.to_string(),
        "audience https://other/api is not https://clientco/api"
    );
    assert!(matches!(
        reject(&auth, &with("aud", json!(["https://other/api", "x"]))).await,
        AuthError::WrongAudience { .. }
    ));
    assert!(
        auth.verify(&with("aud", json!(["https://other/api", AUDIENCE])))
            .await
            .is_ok(),
        "an aud array containing the audience is accepted"
    );
    assert_eq!(
        reject(&auth, &with("aud", Value::Null)).await,
        AuthError::MissingClaim("aud")
    );
    assert_eq!(
        reject(&auth, &with("exp", Value::Null)).await,
        AuthError::MissingClaim("exp")
    );
    assert!(matches!(
        reject(&auth, &with("exp", json!("tomorrow"))).await,
        AuthError::InvalidClaim { claim: "exp", .. }
    ));
}

#[tokio::test]
async fn unknown_missing_and_path_like_key_ids_are_refused() {
    let (issuer, auth) = setup().await;
    let claims = issuer.standard_claims(&[]);
    let err = reject(&auth, &issuer.mint_with(&json!({"kid": "k9"}), &claims)).await;
    assert_eq!(err.to_string(), "unknown key id k9");
    assert_eq!(
        reject(&auth, &issuer.mint_with(&json!({"kid": null}), &claims)).await,
        AuthError::MissingKeyId
    );
    for kid in [
        json!("../../../../dev/null"),
        json!("keys/k1"),
        json!("k1\\..\\k2"),
        json!("k\u{0}1"),
        json!(42),
    ] {
        assert_eq!(
            reject(&auth, &issuer.mint_with(&json!({"kid": kid}), &claims)).await,
            AuthError::InvalidKeyId,
            "{kid}"
        );
    }
}

#[tokio::test]
async fn embedded_key_headers_are_refused_and_never_fetched() {
    let (issuer, auth) = setup().await;
    // An attacker-run "issuer" whose JWKS would verify the token if the gateway followed jku.
    let attacker = spawn_issuer().await;
    let claims = issuer.standard_claims(&[]);
    let cases = [
        ("jku", json!(attacker.jwks_url())),
        ("x5u", json!(format!("{}cert.pem", attacker.issuer_url()))),
        ("jwk", attacker.jwks()["keys"][0].clone()),
        (
            "x5c",
            json!(["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]),
        ),
    ];
    for (param, value) in cases {
        let token = attacker.mint_with(
            &json!({"kid": attacker.current_kid(), param: value}),
            &claims,
        );
        let err = reject(&auth, &token).await;
        assert!(
            matches!(err, AuthError::EmbeddedKey(p) if p == param),
            "{err:?}"
        );
    }
    assert_eq!(attacker.jwks_requests(), 0, "the gateway followed jku");
}

#[tokio::test]
async fn unknown_crit_is_refused() {
    let (issuer, auth) = setup().await;
    let claims = issuer.standard_claims(&[]);
    let token = issuer.mint_with(&json!({"crit": ["exp-policy"], "exp-policy": 1}), &claims);
    assert_eq!(
        reject(&auth, &token).await,
        AuthError::UnknownCrit("exp-policy".to_owned())
    );
    let token = issuer.mint_with(&json!({"crit": []}), &claims);
    assert!(matches!(
        reject(&auth, &token).await,
        AuthError::Malformed(_)
    ));
}

#[tokio::test]
async fn structurally_broken_tokens_are_malformed() {
    let (issuer, auth) = setup().await;
    let good = issuer.mint(&issuer.standard_claims(&[]));
    let parts: Vec<&str> = good.split('.').collect();
    let cases = [
        format!("{}.{}", parts[0], parts[1]),
        format!("{}.{}.{}.{}", parts[0], parts[1], parts[2], parts[2]),
        format!(
            "{}.{}.{}.{}.{}",
            parts[0], parts[1], parts[2], parts[2], parts[2]
        ),
        format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        format!("{}.{}*.{}", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}+/", parts[0], parts[1], parts[2]),
        forge(&json!(["RS256"]), &json!({}), b"sig"),
        format!("{}.{}.{}", b64_json(&json!("RS256")), parts[1], parts[2]),
        "...".to_owned(),
    ];
    for token in cases {
        let err = reject(&auth, &token).await;
        assert!(matches!(err, AuthError::Malformed(_)), "{token}: {err:?}");
    }
    // Signed, but the payload is not a JSON object.
    for payload in [json!(["sub", "x"]), json!("a string"), json!(42)] {
        let err = reject(&auth, &issuer.mint(&payload)).await;
        assert_eq!(
            err,
            AuthError::Malformed("payload is not a JSON object".to_owned())
        );
    }
}

#[tokio::test]
async fn oversized_tokens_are_refused_before_decoding() {
    let (issuer, auth) = setup().await;
    let mut claims = issuer.standard_claims(&[]);
    claims["padding"] = json!("x".repeat(9 * 1024));
    let big = issuer.mint(&claims);
    assert!(matches!(
        reject(&auth, &big).await,
        AuthError::TooLarge { max: 8192, .. }
    ));
    // Not even valid base64: refused by size, not by parsing.
    let junk = "*".repeat(100_000);
    assert!(matches!(
        reject(&auth, &junk).await,
        AuthError::TooLarge { .. }
    ));
}

#[tokio::test]
async fn the_token_alg_must_agree_with_the_key() {
    let issuer = spawn_issuer_with(KeyKind::EcP256).await;
    let rsa_kid = issuer.add_key(KeyKind::Rsa2048).unwrap();
    let mut config = auth_config(&issuer);
    config.issuers[0].algorithms = vec![Algorithm::RS256, Algorithm::ES256, Algorithm::RS384];
    let (auth, _) = ready_authenticator(&config).await;
    let claims = issuer.standard_claims(&[]);

    assert!(auth.verify(&issuer.mint(&claims)).await.is_ok(), "ES256");
    let es_kid = issuer.current_kid();
    // An RS256 header naming the EC key.
    let token = issuer.mint_with(&json!({"alg": "RS256"}), &claims);
    assert!(matches!(
        reject(&auth, &token).await,
        AuthError::KeyAlgorithmMismatch { kid, .. } if kid == es_kid
    ));
    // An ES256 header naming the RSA key.
    let token = issuer.mint_with(&json!({"alg": "ES256", "kid": rsa_kid}), &claims);
    assert!(matches!(
        reject(&auth, &token).await,
        AuthError::KeyAlgorithmMismatch { .. }
    ));
    // The JWK says RS256: an RS384 token under it is refused even though RS384 is allowed.
    let token = issuer.mint_with(&json!({"alg": "RS384", "kid": rsa_kid}), &claims);
    assert!(matches!(
        reject(&auth, &token).await,
        AuthError::KeyAlgorithmMismatch { .. }
    ));
    // Not on the allow-list at all.
    let token = issuer.mint_with(&json!({"alg": "PS256", "kid": rsa_kid}), &claims);
    assert_eq!(
        reject(&auth, &token).await,
        AuthError::AlgorithmNotAllowed("PS256".to_owned())
    );
    let token = issuer.mint_with(&json!({"alg": "rs256", "kid": rsa_kid}), &claims);
    assert!(matches!(
        reject(&auth, &token).await,
        AuthError::AlgorithmNotAllowed(_)
    ));
}

#[tokio::test]
async fn tokens_typed_as_something_else_are_refused() {
    let (issuer, auth) = setup().await;
    let claims = issuer.standard_claims(&[]);
    assert!(
        auth.verify(&issuer.mint_with(&json!({"typ": "at+jwt"}), &claims))
            .await
            .is_ok()
    );
    let token = issuer.mint_with(&json!({"typ": "logout+jwt"}), &claims);
    assert!(matches!(
        reject(&auth, &token).await,
        AuthError::WrongType(_)
    ));
}

#[tokio::test]
async fn every_variant_has_a_distinct_stable_reason() {
    let (issuer, auth) = setup().await;
    let mut claims = issuer.standard_claims(&[]);
    claims["exp"] = json!(now() - 5);
    let err = reject(&auth, &issuer.mint(&claims)).await;
    assert_eq!(err.reason(), "token_expired");
    assert_eq!(AuthError::BadSignature.reason(), "bad_signature");
    assert_eq!(AuthError::UnknownKeyId("k".into()).reason(), "unknown_kid");
}
