//! Safe retries through the built binary, three real replicas per pool: a killed endpoint
//! costs no GET, a POST to a dead endpoint is retried (nothing was sent), a POST whose endpoint
//! resets after reading it is a 502 seen once, a GET reset is tried on another endpoint, and
//! the budget holds retries to its share during a full outage.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::pools::{Mode, PoolWorld};

#[tokio::test]
async fn an_endpoint_killed_mid_run_costs_no_failed_get() {
    let world = PoolWorld::start("", "").await;
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..3 {
        let client = world.client.clone();
        let url = world.gateway.url("/svc/forecast");
        let token = world.token("read:forecast");
        tasks.spawn(async move {
            for i in 0..50 {
                let response = client.get(&url).bearer_auth(&token).send().await.unwrap();
                assert_eq!(response.status(), 200, "worker {worker}, request {i}");
            }
        });
    }
    support::wait::until("a third of the run", || {
        world.counts().iter().sum::<usize>() >= 50
    })
    .await;
    world.replicas[1].kill();
    let killed_at = world.replicas[1].count();
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    assert_eq!(world.replicas[1].count(), killed_at);
    assert!(world.counts().iter().sum::<usize>() >= 150);
}

#[tokio::test]
async fn a_post_with_a_body_to_a_dead_endpoint_is_retried_on_another() {
    let world = PoolWorld::start("balance = \"round_robin\"\n", "").await;
    world.replicas[0].kill();
    let mut retried = 0;
    for i in 0..6 {
        let id = format!("post-dead-{i}");
        let response = world
            .client
            .post(world.gateway.url("/svc/ingest"))
            .bearer_auth(world.token("ingest:data"))
            .header("x-request-id", &id)
            .body("{\"reading\": 42}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{id}");
        let line = world.gateway.request_line(&id);
        if line["attempts"] == 2 {
            retried += 1;
            assert_ne!(line["endpoint"], world.replicas[0].url().as_str(), "{line}");
        }
    }
    assert!(
        retried >= 1,
        "round robin sent some POSTs to the dead endpoint first"
    );
    let reads: Vec<_> = world.replicas[1..].iter().flat_map(|r| r.reads()).collect();
    assert_eq!(
        reads.len(),
        6,
        "each POST reached a live endpoint exactly once"
    );
    assert!(reads.iter().all(|r| r.method == "POST" && r.body_len == 15));
}

#[tokio::test]
async fn a_post_whose_endpoint_resets_after_reading_it_is_a_502_seen_once() {
    let world = PoolWorld::start("", "").await;
    for replica in &world.replicas {
        replica.set(Mode::ResetAfterRead);
    }
    let response = world.post("/svc/ingest", "{\"reading\": 42}").await;
    assert_eq!(response.status(), 502);
    assert_eq!(
        support::world::error_body(response).await["error"],
        "bad_gateway"
    );
    assert_eq!(
        world.counts().iter().sum::<usize>(),
        1,
        "a request that reached an upstream with a body is never sent twice"
    );
}

#[tokio::test]
async fn a_bodyless_get_reset_after_reading_is_tried_once_more_on_another_endpoint() {
    let world = PoolWorld::start("", "").await;
    for replica in &world.replicas {
        replica.set(Mode::ResetAfterRead);
    }
    let response = world
        .client
        .get(world.gateway.url("/svc/forecast"))
        .bearer_auth(world.token("read:forecast"))
        .header("x-request-id", "get-reset")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let line = world.gateway.request_line("get-reset");
    assert_eq!(line["attempts"], 2, "{line}");
    let counts = world.counts();
    assert_eq!(counts.iter().sum::<usize>(), 2, "{counts:?}");
    assert!(
        counts.iter().all(|&c| c <= 1),
        "two different endpoints: {counts:?}"
    );
}

#[tokio::test]
async fn the_budget_holds_retries_to_its_share_during_a_full_outage() {
    let world = PoolWorld::start(
        "[upstreams.svc.retry]\nattempts = 3\nbudget = \"20%\"\n",
        "",
    )
    .await;
    for replica in &world.replicas {
        replica.set(Mode::Status(503));
    }
    let requests = 200;
    for _ in 0..requests {
        let response = world.get("/svc/forecast").await;
        assert_eq!(response.status(), 503, "the last answer is passed on");
    }
    let attempts = world.counts().iter().sum::<usize>();
    // Without a budget: 600. With it: the requests, 20 % of them, and 3 per second over 10 s.
    assert!(attempts > requests, "some retries were made: {attempts}");
    assert!(
        attempts <= requests + requests / 5 + 30,
        "{attempts} attempts for {requests} requests"
    );
}
