//! Decision 1: path confusion never reaches a route it should not, and the backend sees exactly
//! the path the policy judged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::world::{World, status_of};

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
        let answer = world.raw_get(target, all, "").await;
        assert_eq!(status_of(&answer), 403, "{target}: {answer}");
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
        let answer = world.raw_get(target, "read:forecast", "").await;
        assert_eq!(status_of(&answer), 400, "{target}: {answer}");
    }
    assert!(world.backend.seen().is_empty());
}

#[tokio::test]
async fn raw_backslash_is_refused() {
    let world = World::start().await;
    let answer = world
        .raw_get("/forecast\\..\\models", "read:forecast", "")
        .await;
    assert_eq!(status_of(&answer), 400, "{answer}");
    assert!(world.backend.seen().is_empty());
}

#[tokio::test]
async fn backend_receives_the_normalised_path_and_the_original_query() {
    let world = World::start().await;
    let answer = world
        .raw_get("//inventory/./?sku=%2Fa&x=1", "read:inventory", "")
        .await;
    // `/inventory/` is a different path than `/inventory`; whichever way the policy judges it,
    // what reached the backend (if anything) is the normalised form.
    for seen in world.backend.seen() {
        assert!(!seen.target.starts_with("//"), "{}", seen.target);
        assert!(seen.target.ends_with("?sku=%2Fa&x=1"), "{}", seen.target);
    }
    let answer2 = world
        .raw_get("/%69nventory?sku=1", "read:inventory", "")
        .await;
    assert_eq!(status_of(&answer2), 200, "{answer2} (first: {answer})");
    assert_eq!(world.backend.last().target, "/inventory?sku=1");
}

#[tokio::test]
async fn absolute_form_targets_are_judged_by_their_path() {
    let world = World::start().await;
    let all = "read:forecast read:inventory ingest:data";
    let answer = world.raw_get("http://evil.example/models/x", all, "").await;
    assert_eq!(status_of(&answer), 403, "{answer}");
    let answer = world.raw_get("http://evil.example/forecast", all, "").await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    let seen = world.backend.last();
    assert_eq!(seen.target, "/forecast");
}
