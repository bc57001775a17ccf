//! Balancing over a pool's endpoints through the built binary, with three real replicas: each
//! gets its fair share under both algorithms, least_request keeps away from a slow one, the
//! route's `upstream:` picks the pool, and the access line names pool, endpoint and attempts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use support::pools::{Mode, PoolWorld};

async fn spread(world: &PoolWorld, requests: usize) {
    for _ in 0..requests {
        let response = world.get("/svc/forecast").await;
        assert_eq!(response.status(), 200);
    }
}

#[tokio::test]
async fn round_robin_gives_each_of_three_endpoints_a_third_of_300_requests() {
    let world = PoolWorld::start("balance = \"round_robin\"\n", "").await;
    spread(&world, 300).await;
    assert_eq!(world.counts(), [100, 100, 100]);
    assert_eq!(world.default.count(), 0, "the route names pool svc");
}

#[tokio::test]
async fn least_request_gives_each_of_three_endpoints_a_fair_share_of_300_requests() {
    let world = PoolWorld::start("", "").await;
    spread(&world, 300).await;
    let counts = world.counts();
    assert_eq!(counts.iter().sum::<usize>(), 300);
    // One at a time every endpoint has nothing in flight, so the pick is uniform: 100 each,
    // with a standard deviation of about 8; 60 is five of them away.
    for count in &counts {
        assert!((60..=140).contains(count), "{counts:?}");
    }
}

#[tokio::test]
async fn least_request_keeps_away_from_a_slow_endpoint() {
    let world = PoolWorld::start("", "").await;
    world.replicas[0].set(Mode::Slow(Duration::from_millis(400)));
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..6 {
        let client = world.client.clone();
        let url = world.gateway.url("/svc/forecast");
        let token = world.token("read:forecast");
        tasks.spawn(async move {
            for _ in 0..20 {
                let response = client.get(&url).bearer_auth(&token).send().await.unwrap();
                assert_eq!(response.status(), 200, "worker {worker}");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let counts = world.counts();
    assert_eq!(counts.iter().sum::<usize>(), 120);
    // Round robin would send it 40; while it holds a request the other two always win.
    assert!(counts[0] <= 15, "the slow endpoint got {counts:?}");
}

#[tokio::test]
async fn a_route_without_upstream_goes_to_the_default_pool_and_the_line_names_the_endpoint() {
    let world = PoolWorld::start("balance = \"round_robin\"\n", "").await;
    let response = world.get("/other/x").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "default");
    assert_eq!(world.counts(), [0, 0, 0]);
    let response = world
        .client
        .get(world.gateway.url("/svc/forecast"))
        .bearer_auth(world.token("read:forecast"))
        .header("x-request-id", "pool-line-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "a");
    let line = world.gateway.request_line("pool-line-1");
    assert_eq!(line["upstream"], "svc", "{line}");
    assert_eq!(line["endpoint"], world.replicas[0].url().as_str(), "{line}");
    assert_eq!(line["attempts"], 1, "{line}");
    // The endpoint's own Host, never the client's.
    let read = world.replicas[0].reads().pop().unwrap();
    assert_eq!(
        read.header("host"),
        Some(world.replicas[0].addr.to_string().as_str())
    );
}

#[tokio::test]
async fn max_in_flight_answers_503_with_retry_after_beyond_it() {
    let world = PoolWorld::start("max_in_flight = 2\n", "").await;
    for replica in &world.replicas {
        replica.set(Mode::Slow(Duration::from_millis(1500)));
    }
    let mut slow = tokio::task::JoinSet::new();
    for _ in 0..2 {
        let client = world.client.clone();
        let url = world.gateway.url("/svc/slow");
        let token = world.token("read:forecast");
        slow.spawn(async move {
            client
                .get(&url)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    support::wait::until("two requests in flight", || {
        world.counts().iter().sum::<usize>() == 2
    })
    .await;
    let refused = world.get("/svc/more").await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body = support::world::error_body(refused).await;
    assert_eq!(body["error"], "temporarily_unavailable");
    while let Some(status) = slow.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    for replica in &world.replicas {
        replica.set(Mode::Ok);
    }
    assert_eq!(
        world.get("/svc/after").await.status(),
        200,
        "the slots came back"
    );
}
