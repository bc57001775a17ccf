//! Tenant isolation through the data plane (spec, "Attribute conditions (ABAC) and tenant
//! isolation"): the shipped multi-tenant policy, real tokens from the development issuer, raw
//! request bytes where the path must arrive as written. A caller reaches its own tenant's paths,
//! never another's, whatever escapes or dot segments the path uses; a failed condition is 403
//! `access_denied` without a scope challenge, never reaches the backend, and is logged and
//! counted as `condition_failed`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::world::{Sent, World, description, error_body, header, status_of};

const TENANTS: &str = include_str!("../policies/clientco-tenants.yaml");
const TENANT: &str = "org_id";

async fn tenants_world() -> World {
    World::start_with(|options| options.policy = TENANTS.to_owned()).await
}

/// `GET path` sent byte for byte; the status and the body.
async fn raw_get(world: &World, path: &str, token: &str) -> (u16, String) {
    let answer = support::world::raw_get(world.gateway.addr, path, token, "").await;
    (status_of(&answer), answer)
}

#[tokio::test]
async fn own_tenant_is_forwarded_and_another_tenant_is_403_access_denied() {
    let world = tenants_world().await;
    let acme = world.token_with("read:forecast", json!({TENANT: "org_clientco"}));

    let response = world
        .get_with("/tenants/org_clientco/forecast", &acme)
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        world.backend.take_seen()[0].target,
        "/tenants/org_clientco/forecast"
    );

    let response = world.get_with("/tenants/org_globex/forecast", &acme).await;
    assert_eq!(response.status(), 403);
    assert!(
        response.headers().get("www-authenticate").is_none(),
        "no scope would help: no challenge"
    );
    let body = error_body(response).await;
    assert_eq!(body["error"], "access_denied");
    let description = description(&body);
    assert!(description.contains(TENANT), "{description}");
    assert!(description.contains("{org}"), "{description}");
    assert!(!description.contains("globex"), "{description}");
    assert!(
        world.backend.seen().is_empty(),
        "nothing reached the backend"
    );

    let metrics = world.gateway.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.contains("route=\"/tenants/{org}/forecast\"")
                && l.contains("reason=\"condition_failed\"")
                && l.contains("status=\"403\"")),
        "{metrics}"
    );
}

/// Regression guard for the path the policy judges: it is the normalised path, the one the
/// backend receives, so an escape or a dot segment cannot smuggle a request into another tenant.
#[tokio::test]
async fn the_tenant_is_judged_on_the_normalised_path() {
    let world = tenants_world().await;
    let acme = world.token_with("read:forecast", json!({TENANT: "org_clientco"}));

    let (status, answer) = raw_get(&world, "/tenants/org_client%63%6F/forecast", &acme).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        world.backend.take_seen()[0].target,
        "/tenants/org_clientco/forecast"
    );

    for sneaky in [
        "/tenants/org_clientco/../org_globex/forecast",
        "/tenants/org_clientco/%2e%2e/org_globex/forecast",
        "/tenants/org_clientco/./../org_globex/forecast",
    ] {
        let (status, answer) = raw_get(&world, sneaky, &acme).await;
        assert_eq!(status, 403, "{sneaky}: {answer}");
        assert!(answer.contains("access_denied"), "{sneaky}: {answer}");
    }
    let (status, answer) = raw_get(
        &world,
        "/tenants/org_globex/../org_clientco/forecast",
        &acme,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        world.backend.take_seen()[0].target,
        "/tenants/org_clientco/forecast"
    );

    // A reserved escape stays an escape, in upper-case hex, whichever case the client sent.
    let escaped = world.token_with("read:forecast", json!({TENANT: "org_client%3Aco"}));
    for path in [
        "/tenants/org_client%3aco/forecast",
        "/tenants/org_client%3Aco/forecast",
    ] {
        let (status, answer) = raw_get(&world, path, &escaped).await;
        assert_eq!(status, 200, "{path}: {answer}");
    }
    let colon = world.token_with("read:forecast", json!({TENANT: "org_client:co"}));
    let (status, _) = raw_get(&world, "/tenants/org_client%3Aco/forecast", &colon).await;
    assert_eq!(status, 403);
    assert_eq!(world.backend.seen().len(), 2);
}

#[tokio::test]
async fn missing_array_and_number_claims_fail_the_condition() {
    let world = tenants_world().await;
    let cases = [
        ("/tenants/org_clientco/forecast", json!({}), "has no"),
        (
            "/tenants/org_clientco/forecast",
            json!({TENANT: ["org_clientco"]}),
            "is a list",
        ),
        ("/tenants/42/forecast", json!({TENANT: 42}), "is a number"),
        (
            "/tenants/org_clientco/forecast",
            json!({TENANT: "org_clientco", "gty": "password"}),
            "`gty`",
        ),
        (
            "/tenants/org_clientco/forecast",
            json!({TENANT: "org_clientco", "azp": "globex"}),
            "`azp`",
        ),
    ];
    for (path, extra, cause) in cases {
        let token = world.token_with("read:forecast", extra.clone());
        let response = world.get_with(path, &token).await;
        assert_eq!(response.status(), 403, "{extra}");
        let body = error_body(response).await;
        assert_eq!(body["error"], "access_denied", "{extra}");
        let description = description(&body);
        assert!(description.contains(cause), "{extra}: {description}");
        assert!(!description.contains("globex"), "{description}");
    }

    // `contains` reads an array of strings; a string or a list without the value fails.
    let inventory = |regions: Value| {
        let bearer = world.token_with(
            "read:inventory",
            json!({TENANT: "org_clientco", "https://saasco/regions": regions}),
        );
        let request = world
            .client
            .get(world.url("/tenants/org_clientco/inventory"))
            .bearer_auth(bearer);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(inventory(json!(["us", "eu"])).await, 200);
    assert_eq!(inventory(json!("eu")).await, 403);
    assert_eq!(inventory(json!(["us"])).await, 403);
    assert_eq!(inventory(json!(["us", 7, "eu"])).await, 403);
    assert_eq!(world.backend.seen().len(), 1);
}

/// Decision order: 401, 404, 405 and the scope's 403 (with its challenge) come first.
#[tokio::test]
async fn earlier_decisions_come_before_the_condition() {
    let world = tenants_world().await;
    let other = world.token_with("read:inventory", json!({TENANT: "org_clientco"}));
    let response = world.get_with("/tenants/org_globex/forecast", &other).await;
    assert_eq!(response.status(), 403);
    assert!(header(&response, "www-authenticate").contains("insufficient_scope"));
    let response = world
        .request("GET", "/tenants/org_globex/forecast")
        .sent()
        .await;
    assert_eq!(response.status(), 401);
    let acme = world.token_with("read:forecast", json!({TENANT: "org_clientco"}));
    let response = world
        .with_token("DELETE", "/tenants/org_globex/forecast", &acme)
        .sent()
        .await;
    assert_eq!(response.status(), 405);
    assert!(world.backend.seen().is_empty());
}

/// A shadow route forwards what a condition would refuse, and says so in the metrics.
#[tokio::test]
async fn shadow_mode_forwards_a_failed_condition_and_counts_it() {
    let policy = "\
permissions: {read:forecast: read}
routes:
  - path: /tenants/{tenant}/forecast
    scopes: [read:forecast]
    mode: shadow
    when:
      - {claim: org_id, equals: '{tenant}'}
";
    let world = World::start_with(|options| options.policy = policy.to_owned()).await;
    let acme = world.token_with("read:forecast", json!({TENANT: "org_clientco"}));
    let response = world.get_with("/tenants/org_globex/forecast", &acme).await;
    assert_eq!(response.status(), 200);
    assert_eq!(world.backend.seen().len(), 1);
    let metrics = world.gateway.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.contains("decision=\"shadow_deny\"")
                && l.contains("reason=\"condition_failed\"")),
        "{metrics}"
    );
}
