//! Decisions 2-5 of the spec as a client sees them: each status, its challenge, its body, and
//! whether the backend was reached.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::world::{Sent, World, description, error_body, header};

#[tokio::test]
async fn no_token_is_401_without_error_code_and_says_nothing_about_paths() {
    let world = World::start().await;
    for path in ["/forecast", "/does-not-exist", "/models/train"] {
        let response = world.request("GET", path).sent().await;
        assert_eq!(response.status(), 401, "{path}");
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Bearer realm="gateway""#,
            "{path}"
        );
        error_body(response).await;
    }
    assert!(world.backend.seen().is_empty());
}

#[tokio::test]
async fn invalid_token_is_401_invalid_token_with_a_description() {
    let world = World::start().await;
    let mut forged = world.token("read:forecast");
    forged.push('x');
    let response = world.get_with("/forecast", &forged).await;
    assert_eq!(response.status(), 401);
    let challenge = header(&response, "www-authenticate");
    assert!(
        challenge
            .starts_with(r#"Bearer realm="gateway", error="invalid_token", error_description=""#),
        "{challenge}"
    );
    let body = error_body(response).await;
    assert_eq!(body["error"], "invalid_token");
    assert!(
        !body.to_string().contains(&forged),
        "the token is never echoed"
    );
    assert!(world.backend.seen().is_empty());
}

#[tokio::test]
async fn allowed_request_is_forwarded() {
    let world = World::start().await;
    let response = world.get("/forecast?horizon=7", "read:forecast").await;
    assert_eq!(response.status(), 200);
    let seen = world.backend.last();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.target, "/forecast?horizon=7");
}

#[tokio::test]
async fn head_is_allowed_wherever_get_is() {
    let world = World::start().await;
    let response = world
        .as_scope("HEAD", "/inventory", "read:inventory")
        .sent()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(world.backend.last().method, "HEAD");
}

#[tokio::test]
async fn unknown_path_with_valid_token_is_404() {
    let world = World::start().await;
    let response = world.get("/nothing/here", "read:forecast").await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_body(response).await["error"], "not_found");
    assert!(world.backend.seen().is_empty());
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let world = World::start().await;
    let response = world
        .as_scope("DELETE", "/forecast", "read:forecast")
        .sent()
        .await;
    assert_eq!(response.status(), 405);
    let allow = header(&response, "allow");
    assert!(allow.contains("GET") && allow.contains("HEAD"), "{allow}");
    assert_eq!(error_body(response).await["error"], "method_not_allowed");
    assert!(world.backend.seen().is_empty());
}

#[tokio::test]
async fn restricted_routes_are_403_whatever_the_scopes() {
    let world = World::start().await;
    let everything = "ingest:data read:forecast read:inventory no:execute_modeling";
    for (method, path) in [("POST", "/models/train"), ("GET", "/pipeline/run/7")] {
        let response = world.as_scope(method, path, everything).sent().await;
        assert_eq!(response.status(), 403, "{path}");
        assert!(response.headers().get("www-authenticate").is_none());
        let body = error_body(response).await;
        assert_eq!(body["error"], "restricted");
    }
    assert!(world.backend.seen().is_empty());
}

#[tokio::test]
async fn missing_scope_is_403_insufficient_scope_naming_the_scope() {
    let world = World::start().await;
    let response = world.get("/forecast", "read:inventory ingest:data").await;
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer error="insufficient_scope", scope="read:forecast""#
    );
    let body = error_body(response).await;
    assert_eq!(body["error"], "insufficient_scope");
    assert!(description(&body).contains("read:forecast"), "{body}");
    assert!(world.backend.seen().is_empty());
}

#[tokio::test]
async fn auth0_permissions_array_grants_scopes_too() {
    let world = World::start().await;
    let token = world.token_with("", serde_json::json!({"permissions": ["read:forecast"]}));
    let response = world.get_with("/forecast", &token).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn public_route_needs_no_token_but_identity_headers_are_still_stripped() {
    let world = World::start().await;
    let response = world
        .request("GET", "/public/status")
        .header("X-Auth-Subject", "admin")
        .sent()
        .await;
    assert_eq!(response.status(), 200);
    let seen = world.backend.last();
    assert!(seen.headers.get("x-auth-subject").is_none());
    // A public route still has its methods.
    let response = world.request("POST", "/public/status").sent().await;
    assert_eq!(response.status(), 405);
}

#[tokio::test]
async fn two_authorization_headers_are_400_invalid_request() {
    let world = World::start().await;
    let token = world.token("read:forecast");
    let response = world
        .request("GET", "/forecast")
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", format!("Bearer {token}"))
        .sent()
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_body(response).await["error"], "invalid_request");
    assert!(world.backend.seen().is_empty());
}

#[tokio::test]
async fn token_in_the_query_string_is_never_used() {
    let world = World::start().await;
    let token = world.token("read:forecast");
    let path = format!("/forecast?access_token={token}");
    let response = world.request("GET", &path).sent().await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn shadow_mode_forwards_a_denied_request_and_counts_it() {
    let world = World::start().await;
    let response = world.get("/rollout/42", "read:forecast").await;
    assert_eq!(response.status(), 200, "shadow mode forwards anyway");
    assert_eq!(world.backend.last().target, "/rollout/42");
    let metrics = world.gateway.metrics().await;
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("gateway_requests_total{") && l.contains("decision=\"shadow_deny\"")
        })
        .unwrap_or_else(|| panic!("no shadow_deny sample in:\n{metrics}"));
    assert!(line.contains("route=\"/rollout/{item}\""), "{line}");
    assert!(line.contains("reason=\"insufficient_scope\""), "{line}");
    assert!(line.ends_with(" 1"), "{line}");
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let world = World::start().await;
    let token = world.token("read:forecast");
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..3 {
        let response = world.get_with("/limited", &token).await;
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            retry_after = Some(header(&response, "retry-after"));
            assert_eq!(error_body(response).await["error"], "rate_limited");
        }
    }
    assert_eq!(statuses, [200, 200, 429]);
    let retry_after: u64 = retry_after.unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    assert_eq!(world.backend.seen().len(), 2);
}

#[tokio::test]
async fn declared_body_over_max_body_is_413_without_reaching_the_backend() {
    let world = World::start().await;
    let response = world
        .as_scope("POST", "/ingest", "ingest:data")
        .body(vec![b'x'; 1024 * 1024 + 1])
        .sent()
        .await;
    assert_eq!(response.status(), 413);
    assert_eq!(error_body(response).await["error"], "payload_too_large");
    assert!(world.backend.seen().is_empty());
}

#[tokio::test]
async fn streamed_body_over_max_body_is_cut_off() {
    let world = World::start().await;
    let response = world
        .as_scope("POST", "/ingest", "ingest:data")
        .body(reqwest::Body::wrap(support::gateway::Zeros {
            left: 3 * 1024 * 1024,
        }))
        .send()
        .await;
    // Either the gateway answers 413 before the client finished sending, or it reset the
    // stream; what must never happen is the backend receiving more than the limit.
    if let Ok(response) = response {
        assert_eq!(response.status(), 413);
    }
    for seen in world.backend.seen() {
        assert!(
            seen.body_len <= 1024 * 1024,
            "the backend got {} bytes",
            seen.body_len
        );
    }
}
