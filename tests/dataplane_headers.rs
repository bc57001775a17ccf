//! "What the upstream receives": identity set by the gateway only, spoofing impossible,
//! credentials and hop-by-hop headers removed, X-Forwarded-* and X-Request-Id.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::world::{Sent, World};

#[tokio::test]
async fn verified_identity_replaces_every_spoofed_identity_header() {
    let world = World::start().await;
    let response = world
        .as_scope("GET", "/forecast", "read:inventory read:forecast")
        .header("X-Auth-Subject", "admin")
        .header("x-auth-subject", "root")
        .header("X-AUTH-SCOPES", "no:execute_modeling")
        .header("X-Auth-Tenant", "someone-else")
        .header("X-Auth-Client-Id", "internal")
        .sent()
        .await;
    assert_eq!(response.status(), 200);
    let seen = world.backend.last();
    let all = |name: &str| -> Vec<String> {
        seen.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(all("x-auth-subject"), ["clientco@clients"]);
    assert_eq!(all("x-auth-client-id"), ["clientco"]);
    assert_eq!(all("x-auth-scopes"), ["read:forecast read:inventory"]);
    assert_eq!(all("x-auth-issuer"), [world.issuer.issuer_url()]);
    assert!(all("x-auth-tenant").is_empty());
}

#[tokio::test]
async fn connection_header_cannot_remove_the_gateway_identity() {
    let world = World::start().await;
    let response = world
        .as_scope("GET", "/forecast", "read:forecast")
        .header("Connection", "X-Auth-Subject, X-Auth-Scopes, keep-alive")
        .header("X-Auth-Subject", "admin")
        .sent()
        .await;
    assert_eq!(response.status(), 200);
    let seen = world.backend.last();
    assert_eq!(seen.headers["x-auth-subject"], "clientco@clients");
    assert_eq!(seen.headers["x-auth-scopes"], "read:forecast");
}

#[tokio::test]
async fn authorization_is_removed_unless_forward_token() {
    let world = World::start().await;
    world.get("/forecast", "read:forecast").await;
    assert!(world.backend.last_header("authorization").is_none());

    let world = World::start_with(|o| o.auth_extra.push_str("forward_token = true\n")).await;
    let token = world.token("read:forecast");
    world.get_with("/forecast", &token).await;
    assert_eq!(
        world.backend.last().headers["authorization"],
        format!("Bearer {token}").as_str()
    );
}

#[tokio::test]
async fn token_cookie_is_accepted_and_removed_before_forwarding() {
    let world =
        World::start_with(|o| o.auth_extra.push_str("token_cookie = \"access_token\"\n")).await;
    let token = world.token("read:forecast");
    let cookie = format!("theme=dark; access_token={token}; lang=en");
    let response = world
        .request("GET", "/forecast")
        .header("cookie", cookie)
        .sent()
        .await;
    assert_eq!(response.status(), 200);
    let seen = world.backend.last();
    assert_eq!(seen.headers["cookie"], "theme=dark; lang=en");
    assert_eq!(seen.headers["x-auth-subject"], "clientco@clients");

    // Header and cookie at once: ambiguous, refused.
    let response = world
        .with_token("GET", "/forecast", &token)
        .header("cookie", format!("access_token={token}"))
        .sent()
        .await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn cookie_is_ignored_when_token_cookie_is_not_configured() {
    let world = World::start().await;
    let token = world.token("read:forecast");
    let response = world
        .request("GET", "/forecast")
        .header("cookie", format!("access_token={token}"))
        .sent()
        .await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn forwarded_headers_are_appended_and_request_id_kept_or_generated() {
    let world = World::start().await;
    let response = world
        .as_scope("GET", "/forecast", "read:forecast")
        .header("X-Forwarded-For", "203.0.113.9")
        .header("X-Request-Id", "trace-abc-123")
        .sent()
        .await;
    assert_eq!(response.headers()["x-request-id"], "trace-abc-123");
    let seen = world.backend.last();
    assert_eq!(seen.headers["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    assert_eq!(
        seen.headers["x-forwarded-host"],
        world.gateway.addr.to_string().as_str()
    );
    assert_eq!(seen.headers["x-request-id"], "trace-abc-123");

    let response = world.get("/forecast", "read:forecast").await;
    let generated = support::world::header(&response, "x-request-id");
    assert!(!generated.is_empty());
    assert_eq!(
        world.backend.last().headers["x-request-id"],
        generated.as_str()
    );
}

#[tokio::test]
async fn hop_by_hop_headers_are_not_forwarded() {
    let world = World::start().await;
    world
        .as_scope("GET", "/forecast", "read:forecast")
        .header("Connection", "X-Secret-Hop")
        .header("X-Secret-Hop", "1")
        .header("Keep-Alive", "timeout=5")
        .header("Proxy-Authorization", "Basic Zm9vOmJhcg==")
        .header("TE", "trailers")
        .sent()
        .await;
    let seen = world.backend.last();
    for name in ["x-secret-hop", "keep-alive", "proxy-authorization", "te"] {
        assert!(
            seen.headers.get(name).is_none(),
            "{name} reached the backend"
        );
    }
}

#[tokio::test]
async fn forward_claims_map_extra_claims_to_headers() {
    let world = World::start_with(|o| {
        o.tail
            .push_str("[forward.claims]\n\"https://saasco/tenant\" = \"X-Auth-Tenant\"\n")
    })
    .await;
    let tenant = serde_json::json!({"https://saasco/tenant": "clientco-eu"});
    let response = world
        .with_token(
            "GET",
            "/forecast",
            &world.token_with("read:forecast", tenant),
        )
        .header("X-Auth-Tenant", "spoofed")
        .sent()
        .await;
    assert_eq!(response.status(), 200);
    let seen = world.backend.last();
    let tenants: Vec<_> = seen.headers.get_all("x-auth-tenant").iter().collect();
    assert_eq!(tenants, ["clientco-eu"]);
}
