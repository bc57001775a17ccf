//! Upstream trouble as the client sees it (502, 504), streaming without buffering, and the
//! 503 while no key set has loaded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use support::gateway::{Options, TestGateway, Zeros};
use support::world::{World, error_body};

#[tokio::test]
async fn refused_upstream_is_502() {
    // A port that was free a moment ago: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let world = World::start_with(|o| o.upstream = format!("http://{closed}")).await;
    let response = world.get("/forecast", "read:forecast").await;
    assert_eq!(response.status(), 502);
    assert_eq!(error_body(response).await["error"], "bad_gateway");
}

async fn with_behaviour(world: &World, behaviour: &str) -> reqwest::Response {
    world
        .client
        .get(world.url("/forecast"))
        .bearer_auth(world.token("read:forecast"))
        .header("x-test-behaviour", behaviour)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn reset_and_garbage_from_upstream_are_502() {
    let world = World::start().await;
    for behaviour in ["reset", "garbage"] {
        let response = with_behaviour(&world, behaviour).await;
        assert_eq!(response.status(), 502, "{behaviour}");
        error_body(response).await;
    }
    // The gateway is fine afterwards.
    assert_eq!(world.get("/forecast", "read:forecast").await.status(), 200);
}

#[tokio::test]
async fn upstream_slower_than_request_timeout_is_504() {
    let world =
        World::start_with(|o| o.upstream_extra = "request_timeout = \"300ms\"\n".into()).await;
    let response = with_behaviour(&world, "slow").await;
    assert_eq!(response.status(), 504);
    assert_eq!(error_body(response).await["error"], "gateway_timeout");
}

#[tokio::test]
async fn no_key_set_loaded_yet_is_503_with_retry_after() {
    let issuer = support::world::start_issuer().await;
    let backend = support::backend::Backend::start().await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut options = Options::new(
        &issuer.issuer_url(),
        &format!("http://{dead}/.well-known/jwks.json"),
        &backend.url(),
    );
    options.wait_ready = false;
    let gateway = TestGateway::start(options).await;
    let ready = reqwest::get(format!("{}/readyz", gateway.admin))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let token = issuer.mint(&support::gateway::claims(
        &issuer.issuer_url(),
        "read:forecast",
    ));
    let response = reqwest::Client::new()
        .get(gateway.url("/forecast"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("retry-after").is_some());
    assert_eq!(
        error_body(response).await["error"],
        "temporarily_unavailable"
    );
    assert!(backend.seen().is_empty());
}

/// Peak resident memory of this test process, in bytes.
fn vm_hwm() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[tokio::test]
async fn a_100_mib_upload_streams_through_with_flat_memory() {
    let world = World::start().await;
    // Warm up so the pools and buffers exist before measuring.
    assert_eq!(world.get("/forecast", "read:forecast").await.status(), 200);
    let before = vm_hwm();
    let size: u64 = 100 * 1024 * 1024;
    let response = world
        .client
        .post(world.url("/stream"))
        .bearer_auth(world.token("ingest:data"))
        .body(reqwest::Body::wrap(Zeros { left: size }))
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let json: serde_json::Value = response.json().await.unwrap();
    assert_eq!(json["body_len"], size);
    assert_eq!(world.backend.last().body_len, size);
    // Client, gateway and backend share this process: had any of them buffered the body, the
    // peak would have grown by at least 100 MiB.
    let grown = vm_hwm().saturating_sub(before);
    assert!(
        grown < 32 * 1024 * 1024,
        "peak RSS grew by {} MiB",
        grown / (1024 * 1024)
    );
}
