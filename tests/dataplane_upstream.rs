//! Upstream trouble as the client sees it (502, 504; an aborted connection once the answer has
//! started streaming, never a silently truncated one), streaming without buffering, and the
//! 503 while no key set has loaded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use support::backend::{DECLARED_LEN, PARTIAL_LEN};
use support::gateway::{Options, TestGateway, Zeros};
use support::world::{World, error_body};

#[tokio::test]
async fn refused_upstream_is_502() {
    // Bound but never listening, and held to the end of the test: connecting is refused, and no
    // other process can take the port meanwhile (as it could a port bound and then dropped).
    let refusing_port = tokio::net::TcpSocket::new_v4().unwrap();
    refusing_port.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let closed = refusing_port.local_addr().unwrap();
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
async fn an_upstream_dying_after_the_head_aborts_the_client_download() {
    let world = World::start().await;
    for behaviour in ["head-then-close", "partial-then-close"] {
        let sent = world
            .client
            .get(world.url("/forecast"))
            .bearer_auth(world.token("read:forecast"))
            .header("x-test-behaviour", behaviour)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            // The gateway had handed the head to hyper but not flushed it when the upstream
            // died (what `head-then-close` usually sees): the client connection is closed with
            // no answer at all. Not a 502, but never a complete-looking answer either.
            Err(error) => {
                assert!(!error.is_status(), "{behaviour}: {error}");
                continue;
            }
        };
        // The head was already on its way to the client: the status can no longer change, so
        // the only honest signal left is a body that ends before its declared length.
        assert_eq!(response.status(), 200, "{behaviour}");
        assert_eq!(
            response.content_length(),
            Some(DECLARED_LEN as u64),
            "{behaviour}"
        );
        let body = response.bytes().await;
        assert!(
            body.is_err(),
            "{behaviour}: a truncated body was delivered as complete ({} bytes)",
            body.map(|b| b.len()).unwrap_or_default()
        );
    }
    assert_eq!(world.get("/forecast", "read:forecast").await.status(), 200);
}

#[tokio::test]
async fn a_truncated_answer_is_cut_short_on_the_wire_too() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let world = World::start().await;
    let request = format!(
        "GET /forecast HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {}\r\n\
         x-test-behaviour: partial-then-close\r\n\r\n",
        world.token("read:forecast")
    );
    let mut stream = tokio::net::TcpStream::connect(world.gateway.addr)
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    // Read until the gateway closes (FIN or RST); keep what arrived before a reset.
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the gateway kept the client connection open after the upstream died mid-body"
    );
    let text = String::from_utf8_lossy(&received).to_ascii_lowercase();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head: {text:?}"));
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains(&format!("content-length: {DECLARED_LEN}")),
        "{head}"
    );
    assert!(
        body.len() < DECLARED_LEN,
        "{} body bytes for a declared {DECLARED_LEN}",
        body.len()
    );
    assert!(body.len() <= PARTIAL_LEN, "{} body bytes", body.len());
}

#[tokio::test]
async fn an_upstream_reset_mid_body_aborts_the_client_download() {
    let world = World::start().await;
    let mut response = with_behaviour(&world, "partial-then-stall").await;
    assert_eq!(response.status(), 200);
    // The client holds the head: now the upstream crashes.
    world.backend.reset_stalled();
    let mut received = 0;
    let outcome = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => received += chunk.len(),
            Ok(None) => break Ok(()),
            Err(error) => break Err(error),
        }
    };
    assert!(
        outcome.is_err(),
        "a reset upstream was delivered as a complete body of {received} bytes"
    );
    assert!(received <= PARTIAL_LEN, "{received}");
    assert_eq!(world.get("/forecast", "read:forecast").await.status(), 200);
}

/// A body that stalls after the head is cut off once the upstream has sent nothing for
/// `request_timeout` (as nginx's `proxy_read_timeout`): the client sees an aborted download, and
/// neither its connection nor the upstream's is held forever.
#[tokio::test]
async fn a_body_stalled_longer_than_request_timeout_is_cut_off() {
    let world =
        World::start_with(|o| o.upstream_extra = "request_timeout = \"300ms\"\n".into()).await;
    let response = with_behaviour(&world, "partial-then-stall").await;
    assert_eq!(response.status(), 200);
    let outcome = tokio::time::timeout(Duration::from_secs(10), response.bytes())
        .await
        .expect("the stalled body was not cut off within 10 s");
    assert!(outcome.is_err(), "a stalled body was delivered as complete");
    support::wait::until("the gateway closes the stalled upstream connection", || {
        world.backend.stalls_closed_by_peer() == 1
    })
    .await;
}

/// Before the read timeout, a client giving up frees the upstream connection instead of leaving
/// it stalled behind the gateway.
#[tokio::test]
async fn a_client_giving_up_on_a_stalled_body_frees_the_upstream_connection() {
    let world = World::start().await;
    let mut response = with_behaviour(&world, "partial-then-stall").await;
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().unwrap();
    assert!(first.len() <= PARTIAL_LEN);
    support::wait::until("the upstream is stalling", || world.backend.stalling() == 1).await;
    drop(response);
    support::wait::until(
        "the gateway closes the stalled upstream connection once the client is gone",
        || world.backend.stalls_closed_by_peer() == 1,
    )
    .await;
    assert_eq!(world.backend.stalling(), 0);
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
    let issuer = support::issuer::spawn_issuer().await;
    let backend = support::backend::Backend::start().await;
    // Bound but never listening, and held to the end of the test: connecting is refused, and no
    // other process can take the port meanwhile (as it could a port bound and then dropped).
    let refusing_port = tokio::net::TcpSocket::new_v4().unwrap();
    refusing_port.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let dead = refusing_port.local_addr().unwrap();
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
