//! Decision 1: path confusion never reaches a route it should not, and the backend sees exactly
//! the path the policy judged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::gateway::raw_http;
use support::world::World;

/// Raw requests, because HTTP clients normalise paths themselves.
async fn raw_get(world: &World, target: &str, scope: &str) -> String {
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        world.token(scope)
    );
    raw_http(world.gateway.addr, request.as_bytes()).await
}

fn status(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

#[tokio::test]
async fn dot_segments_and_repeated_slashes_are_judged_after_normalisation() {
    let world = World::start().await;
    let all = "read:forecast read:inventory ingest:data";
    for target in [
        "/forecast/../models/x",
        "//models/x",
        "/forecast/%2e%2e/models/x",
        "/forecast/.%2E/models/x",
        "/./models/./x",
        "/public/../models/x",
    ] {
        let answer = raw_get(&world, target, all).await;
        assert_eq!(status(&answer), 403, "{target}: {answer}");
        assert!(answer.contains("restricted"), "{target}: {answer}");
    }
    assert!(world.backend.seen().is_empty());
}

#[tokio::test]
async fn encoded_separators_nul_backslash_and_escaping_the_root_are_400() {
    let world = World::start().await;
    for target in [
        "/models%2Ftrain",
        "/forecast%2f..%2fmodels",
        "/models%5Ctrain",
        "/forecast%00",
        "/../forecast",
        "/forecast/../../etc/passwd",
    ] {
        let answer = raw_get(&world, target, "read:forecast").await;
        assert_eq!(status(&answer), 400, "{target}: {answer}");
    }
    assert!(world.backend.seen().is_empty());
}

#[tokio::test]
async fn raw_backslash_is_refused() {
    let world = World::start().await;
    let answer = raw_get(&world, "/forecast\\..\\models", "read:forecast").await;
    assert_eq!(status(&answer), 400, "{answer}");
    assert!(world.backend.seen().is_empty());
}

#[tokio::test]
async fn backend_receives_the_normalised_path_and_the_original_query() {
    let world = World::start().await;
    let answer = raw_get(&world, "//inventory/./?sku=%2Fa&x=1", "read:inventory").await;
    // `/inventory/` is a different path than `/inventory`; whichever way the policy judges it,
    // what reached the backend (if anything) is the normalised form.
    for seen in world.backend.seen() {
        assert!(!seen.target.starts_with("//"), "{}", seen.target);
        assert!(seen.target.ends_with("?sku=%2Fa&x=1"), "{}", seen.target);
    }
    let answer2 = raw_get(&world, "/%69nventory?sku=1", "read:inventory").await;
    assert_eq!(status(&answer2), 200, "{answer2} (first: {answer})");
    assert_eq!(world.backend.last().target, "/inventory?sku=1");
}

#[tokio::test]
async fn absolute_form_targets_are_judged_by_their_path() {
    let world = World::start().await;
    let all = "read:forecast read:inventory ingest:data";
    let answer = raw_get(&world, "http://evil.example/models/x", all).await;
    assert_eq!(status(&answer), 403, "{answer}");
    let answer = raw_get(&world, "http://evil.example/forecast", all).await;
    assert_eq!(status(&answer), 200, "{answer}");
    let seen = world.backend.last();
    assert_eq!(seen.target, "/forecast");
}
