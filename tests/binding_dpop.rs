//! DPoP-bound tokens (RFC 9449) through the real gateway: every rule of SPEC "Sender-constrained
//! tokens" for DPoP, as a client sees it (status, challenge, body) and as the backend sees it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gateway::dev::dpop::{DpopAlg, DpopKey};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::dpop::{key, key_of};
use support::issuer::now;
use support::world::{Sent, World, description, error_body, header};

/// `/forecast` at an origin that is not the listener's.
const ELSEWHERE: &str = "https://api.saasco.example/forecast";

const ALGS: &str = r#"algs="ES256 EdDSA PS256 RS256""#;

/// `GET path` with `Authorization: DPoP token` and each of `proofs` as a `DPoP` header.
async fn dpop_get(world: &World, path: &str, token: &str, proofs: &[&str]) -> reqwest::Response {
    world.dpop("GET", path, token, proofs).sent().await
}

fn challenge(response: &reqwest::Response) -> String {
    header(response, "www-authenticate")
}

/// A fresh key and a read:forecast token bound to it.
fn holder(world: &World) -> (DpopKey, String) {
    let key = key();
    let token = world.dpop_token(&key, "read:forecast");
    (key, token)
}

/// `GET /forecast` with `token` and `proofs`, checked with `refused`.
async fn refused_get(world: &World, token: &str, proofs: &[&str], error: &str) -> String {
    refused(dpop_get(world, "/forecast", token, proofs).await, error).await
}

/// Asserts a 401 with the DPoP challenge's `error` and the body's `error`, returning the
/// description.
async fn refused(response: reqwest::Response, error: &str) -> String {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = challenge(&response);
    assert!(
        challenge.starts_with(&format!(r#"DPoP error="{error}""#)),
        "{challenge}"
    );
    assert!(challenge.ends_with(ALGS), "{challenge}");
    let body = error_body(response).await;
    assert_eq!(body["error"], error, "{body}");
    description(&body).to_owned()
}

#[tokio::test]
async fn a_dpop_bound_token_with_its_proof_is_forwarded_without_the_proof() {
    let world = World::start().await;
    let (key, token) = holder(&world);
    let response = world.dpop_get(&key, &token, "/forecast").await;
    assert_eq!(response.status(), 200);
    let seen = world.backend.last();
    assert!(seen.headers.get("dpop").is_none(), "{:?}", seen.headers);
    assert!(seen.headers.get("authorization").is_none());
    assert_eq!(seen.headers["x-auth-subject"], "clientco@clients");
}

#[tokio::test]
async fn every_default_algorithm_is_accepted() {
    let world = World::start().await;
    for alg in [
        DpopAlg::Es256,
        DpopAlg::EdDsa,
        DpopAlg::Ps256,
        DpopAlg::Rs256,
    ] {
        let key = key_of(alg);
        let token = world.dpop_token(&key, "read:forecast");
        let response = world.dpop_get(&key, &token, "/forecast").await;
        assert_eq!(response.status(), 200, "{alg:?}");
    }
}

#[tokio::test]
async fn a_stolen_dpop_bound_token_is_refused_as_bearer_and_with_another_key() {
    let world = World::start().await;
    let (_key, token) = holder(&world);
    // As Bearer, on a route that demands nothing: binding can never be stripped.
    let response = world.get_with("/forecast", &token).await;
    assert_eq!(response.status(), 401);
    assert!(challenge(&response).starts_with(r#"Bearer realm="gateway", error="invalid_token""#));
    let body = error_body(response).await;
    assert!(description(&body).contains("DPoP-bound"), "{body}");
    // With the thief's own key: the proof is valid, the key is not the token's.
    let thief = key();
    let response = world.dpop_get(&thief, &token, "/forecast").await;
    let description = refused(response, "invalid_token").await;
    assert!(description.contains("another key"), "{description}");
    assert_eq!(world.backend.started(), 0);
    world.expect_metric(r#"reason="binding_mismatch""#).await;
}

#[tokio::test]
async fn a_replayed_proof_is_refused() {
    let world = World::start().await;
    let (key, token) = holder(&world);
    let proof = key.proof("GET", &world.url("/forecast"), Some(&token), None);
    let response = dpop_get(&world, "/forecast", &token, &[&proof]).await;
    assert_eq!(response.status(), 200);
    let description = refused_get(&world, &token, &[&proof], "invalid_dpop_proof").await;
    assert!(description.contains("already used"), "{description}");
    world.expect_metric(r#"reason="dpop_replay""#).await;
    assert_eq!(
        world.backend.started(),
        1,
        "the replay never reached the backend"
    );
}

#[tokio::test]
async fn the_proof_must_be_one_and_match_method_uri_time_and_token() {
    let world = World::start().await;
    let (key, token) = holder(&world);
    let url = world.url("/forecast");
    let sign = |change: &dyn Fn(&mut Value)| {
        let mut claims = json!({
            "jti": rand_jti(), "htm": "GET", "htu": url, "iat": now(),
            "ath": gateway::auth::dpop::access_token_hash(&token),
        });
        change(&mut claims);
        key.sign(&key.header(), &claims)
    };
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        ("no proof", vec![], "exactly one DPoP header"),
        (
            "two proofs",
            vec![sign(&|_| {}), sign(&|_| {})],
            "exactly one DPoP header",
        ),
        ("not a JWT", vec!["garbage".into()], "3 dot-separated"),
        (
            "wrong method",
            vec![sign(&|c| c["htm"] = json!("POST"))],
            "htm POST",
        ),
        (
            "another URI",
            vec![sign(&|c| c["htu"] = json!(world.url("/inventory")))],
            "htu",
        ),
        (
            "another host",
            vec![sign(&|c| {
                c["htu"] = json!("http://api.saasco.example/forecast")
            })],
            "htu",
        ),
        (
            "too old",
            vec![sign(&|c| c["iat"] = json!(now() - 120))],
            "old",
        ),
        (
            "from the future",
            vec![sign(&|c| c["iat"] = json!(now() + 120))],
            "future",
        ),
        (
            "for another token",
            vec![sign(&|c| {
                c["ath"] = json!(gateway::auth::dpop::access_token_hash("another"))
            })],
            "ath",
        ),
        (
            "without ath",
            vec![sign(&|c| {
                c.as_object_mut().unwrap().remove("ath");
            })],
            "no ath",
        ),
    ];
    for (what, proofs, says) in cases {
        let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let description = refused_get(&world, &token, &proofs, "invalid_dpop_proof").await;
        assert!(description.contains(says), "{what}: {description}");
    }
    // Equivalent URIs (RFC 3986 §6.2.2-6.2.3) and a query are fine.
    let equivalent = url
        .replace("http://", "HTTP://")
        .replace("/forecast", "//./forecast?x=1");
    let proof = sign(&|c| c["htu"] = json!(equivalent));
    assert_eq!(
        dpop_get(&world, "/forecast", &token, &[&proof])
            .await
            .status(),
        200
    );
    assert_eq!(world.backend.started(), 1);
}

fn rand_jti() -> String {
    let mut bytes = [0u8; 12];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn htu_is_the_uri_the_client_addressed_never_x_forwarded() {
    let world = World::start().await;
    let (key, token) = holder(&world);
    // A client may not talk the gateway into another origin with X-Forwarded-*.
    let proof = key.proof("GET", ELSEWHERE, Some(&token), None);
    let response = world
        .dpop("GET", "/forecast", &token, &[&proof])
        .header("x-forwarded-host", "api.saasco.example")
        .header("x-forwarded-proto", "https")
        .sent()
        .await;
    refused(response, "invalid_dpop_proof").await;
}

/// An absolute-form target naming another origin than `Host` is two origins: neither is used.
#[tokio::test]
async fn a_target_authority_that_disagrees_with_host_fails_the_htu_check() {
    let world = World::start().await;
    let (key, token) = holder(&world);
    let request = |target: &str, proof: &str| {
        format!(
            "GET {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: DPoP {token}\r\nDPoP: {proof}\r\nConnection: close\r\n\r\n",
            world.gateway.addr
        )
    };
    let evil = "http://evil.example/forecast";
    let proof = key.proof("GET", evil, Some(&token), None);
    let answer =
        support::gateway::raw_http(world.gateway.addr, request(evil, &proof).as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("invalid_dpop_proof"), "{answer}");
    // The same request in origin form, with a proof for the Host it names, passes.
    let proof = key.proof("GET", &world.url("/forecast"), Some(&token), None);
    let answer =
        support::gateway::raw_http(world.gateway.addr, request("/forecast", &proof).as_bytes())
            .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn with_public_url_htu_is_that_origin_plus_the_path() {
    let world = World::start_with(|o| {
        o.server_extra = "public_url = \"https://api.saasco.example/\"\n".into();
    })
    .await;
    let (key, token) = holder(&world);
    let proof = key.proof("GET", ELSEWHERE, Some(&token), None);
    assert_eq!(
        dpop_get(&world, "/forecast", &token, &[&proof])
            .await
            .status(),
        200
    );
    // The listener's own address is no longer what clients address.
    refused(
        world.dpop_get(&key, &token, "/forecast").await,
        "invalid_dpop_proof",
    )
    .await;
}

#[tokio::test]
async fn an_unbound_token_sent_with_the_dpop_scheme_is_refused() {
    let world = World::start().await;
    let key = key();
    let token = world.token("read:forecast");
    let description = refused(
        world.dpop_get(&key, &token, "/forecast").await,
        "invalid_token",
    )
    .await;
    assert!(description.contains("not DPoP-bound"), "{description}");
}

#[tokio::test]
async fn require_binding_dpop_refuses_bearer_tokens_with_the_dpop_challenge() {
    let world = World::start_with(|o| o.auth_extra = "require_binding = \"dpop\"\n".into()).await;
    let response = world.get("/forecast", "read:forecast").await;
    let description = refused(response, "invalid_token").await;
    assert!(description.contains("require_binding"), "{description}");
    // No credentials at all: the DPoP challenge without an error (RFC 9449 §7.1).
    let response = world.request("GET", "/forecast").sent().await;
    assert_eq!(response.status(), 401);
    assert_eq!(challenge(&response), format!("DPoP {ALGS}"));
    // A bound token with its proof passes.
    let (key, token) = holder(&world);
    assert_eq!(
        world.dpop_get(&key, &token, "/forecast").await.status(),
        200
    );
    world.expect_metric(r#"reason="binding_required""#).await;
}

#[tokio::test]
async fn a_route_binding_demands_dpop_there_only_and_public_routes_never_read_the_token() {
    let mut policy = support::gateway::test_policy();
    policy.push_str(
        "  - path: /bound\n    methods: [GET]\n    scopes: [read:forecast]\n    binding: dpop\n",
    );
    let world = World::start_with(|o| o.policy = policy).await;
    let response = world.get("/bound", "read:forecast").await;
    refused(response, "invalid_token").await;
    assert_eq!(world.get("/forecast", "read:forecast").await.status(), 200);
    let (key, token) = holder(&world);
    assert_eq!(world.dpop_get(&key, &token, "/bound").await.status(), 200);
    // A public route: the bound token is simply unused, a broken proof too; both are stripped.
    let response = dpop_get(&world, "/public/x", &token, &["garbage"]).await;
    assert_eq!(response.status(), 200);
    let seen = world.backend.last();
    assert!(seen.headers.get("dpop").is_none());
    assert!(seen.headers.get("authorization").is_none());
}

#[tokio::test]
async fn with_nonces_on_the_first_proof_gets_a_nonce_and_the_retry_passes() {
    let world = World::start_with(|o| o.auth_extra = "dpop_nonce = true\n".into()).await;
    let (key, token) = holder(&world);
    let url = world.url("/forecast");
    let response = dpop_get(
        &world,
        "/forecast",
        &token,
        &[&key.proof("GET", &url, Some(&token), None)],
    )
    .await;
    let nonce = response
        .headers()
        .get("dpop-nonce")
        .expect("a use_dpop_nonce 401 carries DPoP-Nonce")
        .to_str()
        .unwrap()
        .to_owned();
    refused(response, "use_dpop_nonce").await;
    let forged = key.proof(
        "GET",
        &url,
        Some(&token),
        Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    );
    refused_get(&world, &token, &[&forged], "use_dpop_nonce").await;
    let proof = key.proof("GET", &url, Some(&token), Some(&nonce));
    assert_eq!(
        dpop_get(&world, "/forecast", &token, &[&proof])
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_full_replay_store_answers_503_rather_than_forgetting() {
    let world = World::start_with(|o| o.auth_extra = "dpop_replay_capacity = 1\n".into()).await;
    let (key, token) = holder(&world);
    let url = world.url("/forecast");
    let first = key.proof("GET", &url, Some(&token), None);
    assert_eq!(
        dpop_get(&world, "/forecast", &token, &[&first])
            .await
            .status(),
        200
    );
    let second = key.proof("GET", &url, Some(&token), None);
    let response = dpop_get(&world, "/forecast", &token, &[&second]).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let body = error_body(response).await;
    assert!(description(&body).contains("full"), "{body}");
    // The first proof is still remembered: its replay is still refused.
    refused_get(&world, &token, &[&first], "invalid_dpop_proof").await;
    world.expect_metric(r#"reason="state_unavailable""#).await;
}

#[tokio::test]
async fn dpop_algorithms_is_the_allow_list_and_the_challenge_advertises_it() {
    let world =
        World::start_with(|o| o.auth_extra = "dpop_algorithms = [\"EdDSA\"]\n".into()).await;
    let (key, token) = holder(&world);
    let response = world.dpop_get(&key, &token, "/forecast").await;
    assert_eq!(response.status(), 401);
    assert!(
        challenge(&response).ends_with(r#"algs="EdDSA""#),
        "{}",
        challenge(&response)
    );
    let ed = key_of(DpopAlg::EdDsa);
    let token = world.dpop_token(&ed, "read:forecast");
    assert_eq!(world.dpop_get(&ed, &token, "/forecast").await.status(), 200);
}

#[tokio::test]
async fn a_token_requested_with_a_dpop_proof_is_bound_to_that_key_end_to_end() {
    let world = World::start().await;
    let key = key();
    let token_request = |proof: String| {
        world
            .client
            .post(world.issuer.token_url())
            .header("dpop", proof)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&client_id=clientco&client_secret=s3cret&audience=https%3A%2F%2Fclientco%2Fapi")
            .send()
    };
    let answer: Value = token_request(key.proof("POST", &world.issuer.token_url(), None, None))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["token_type"], "DPoP", "{answer}");
    let token = answer["access_token"].as_str().unwrap();
    assert_eq!(world.dpop_get(&key, token, "/forecast").await.status(), 200);
    let response = world.get_with("/forecast", token).await;
    assert_eq!(response.status(), 401);
    // A proof for another endpoint is refused by the issuer.
    let bad = token_request(key.proof("GET", &world.issuer.token_url(), None, None))
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"], "invalid_dpop_proof");
}
