//! Passive ejection and panic routing through the built binary, three real replicas per pool:
//! an endpoint is ejected after exactly `consecutive_failures` failures in a row, comes back
//! after its ejection time with one trial request (a failed trial ejects it again at once, for
//! twice as long), `max_percent` holds the others in the pool, and when every endpoint fails
//! the requests still go to real endpoints rather than being refused locally.
//!
//! Round robin and `attempts = 1` throughout, so each request reaches exactly one endpoint in
//! a known order and no retry hides a failure; assertions are on counts, never on time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use support::pools::{Mode, PoolWorld};

/// Pool `svc` round robin, no retries, ejected after 3 failures in a row for `base_time`, at
/// most `max_percent` of it at once.
async fn start(base_time: &str, max_percent: u8) -> PoolWorld {
    PoolWorld::start(
        &format!(
            "balance = \"round_robin\"\n[upstreams.svc.retry]\nattempts = 1\n\
             [upstreams.svc.eject]\nconsecutive_failures = 3\nbase_time = \"{base_time}\"\n\
             max_percent = {max_percent}\n"
        ),
        "",
    )
    .await
}

/// How long a test waits for an ejection time to pass, generous for a loaded machine.
const RETURN_DEADLINE: Duration = Duration::from_secs(40);

#[tokio::test]
async fn an_endpoint_is_ejected_after_exactly_the_configured_failures_in_a_row() {
    let world = start("5m", 50).await;
    world.replicas[1].set(Mode::Status(503));
    let mut answers = Vec::new();
    for _ in 0..60 {
        answers.push(world.answer("/svc/forecast").await);
    }
    let failed: Vec<_> = answers
        .iter()
        .filter(|(status, _)| *status != 200)
        .collect();
    assert_eq!(
        failed,
        [&(503, "b".to_owned()); 3],
        "b's own answers, three in all"
    );
    assert_eq!(world.replicas[1].count(), 3, "no request after the third");
    let counts = world.counts();
    assert_eq!(counts[0] + counts[2], 57, "{counts:?}");
    // Once b is out, round robin alternates between a and c.
    assert!(counts[0] >= 25 && counts[2] >= 25, "{counts:?}");
    let line = world.ejected_line();
    assert_eq!(line["endpoint"], world.replicas[1].url().as_str(), "{line}");
    assert_eq!(line["seconds"], 300, "{line}");
}

#[tokio::test]
async fn an_ejected_endpoint_returns_after_its_time_and_a_failed_trial_ejects_it_again() {
    let world = start("3s", 50).await;
    let b = &world.replicas[1];
    b.set(Mode::Status(503));
    for _ in 0..9 {
        world.answer("/svc/forecast").await;
    }
    assert_eq!(b.count(), 3);
    assert_eq!(world.ejected_line()["seconds"], 3);

    // The time is up: one trial, still failing, and b is out again at once for twice as long.
    let trial = world
        .answer_until("b's first trial", RETURN_DEADLINE, || b.count() == 4)
        .await;
    assert_eq!(trial, (503, "b".to_owned()));
    assert_eq!(world.ejected_line()["seconds"], 6, "doubled");
    for _ in 0..6 {
        assert_eq!(world.answer("/svc/forecast").await.0, 200);
    }
    assert_eq!(b.count(), 4, "no request right after the failed trial");

    // Healthy again: the next trial succeeds and b takes its full share once more.
    b.set(Mode::Ok);
    let trial = world
        .answer_until("b's second trial", RETURN_DEADLINE, || b.count() == 5)
        .await;
    assert_eq!(trial, (200, "b".to_owned()));
    let before = world.counts();
    for _ in 0..30 {
        assert_eq!(world.answer("/svc/forecast").await.0, 200);
    }
    let after = world.counts();
    let served: Vec<usize> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(served, [10, 10, 10], "back in the rotation");
}

#[tokio::test]
async fn max_percent_keeps_the_second_failing_endpoint_in_the_pool() {
    // 50 % of three: one endpoint may be ejected, never two.
    let world = start("5m", 50).await;
    world.replicas[0].set(Mode::Status(503));
    world.replicas[1].set(Mode::Status(503));
    for _ in 0..60 {
        let (status, _) = world.answer("/svc/forecast").await;
        assert!(status == 200 || status == 503, "{status}");
    }
    let mut failing = [world.replicas[0].count(), world.replicas[1].count()];
    failing.sort_unstable();
    assert_eq!(failing[0], 3, "one failing endpoint ejected: {failing:?}");
    assert!(
        failing[1] >= 25,
        "the other keeps its share of the rest: {failing:?}"
    );
    assert!(world.replicas[2].count() >= 25, "{:?}", world.counts());
}

#[tokio::test]
async fn when_every_endpoint_answers_503_the_requests_still_reach_real_endpoints() {
    let world = start("1s", 100).await;
    for replica in &world.replicas {
        replica.set(Mode::Status(503));
    }
    for i in 0..30 {
        let (status, body) = world.answer("/svc/forecast").await;
        assert_eq!(status, 503, "request {i}");
        assert!(
            ["a", "b", "c"].contains(&body.as_str()),
            "request {i} was answered by an endpoint, not refused locally: {body}"
        );
    }
    assert_eq!(world.counts().iter().sum::<usize>(), 30);
    recovers(&world).await;
}

#[tokio::test]
async fn when_every_endpoint_is_down_the_requests_are_still_real_attempts() {
    let world = start("1s", 100).await;
    for replica in &world.replicas {
        replica.kill();
    }
    for i in 0..15 {
        let id = format!("all-down-{i}");
        let response = world.get_with_id("/svc/forecast", &id).await;
        assert_eq!(response.status(), 502, "{id}");
        let body = support::world::error_body(response).await;
        assert_eq!(body["error"], "bad_gateway", "{id}: {body}");
        let line = world.gateway.request_line(&id);
        assert_eq!(line["attempts"], 1, "{line}");
        let endpoint = line["endpoint"].as_str().unwrap_or_default();
        assert!(
            world.replicas.iter().any(|r| r.url() == endpoint),
            "a real attempt at an endpoint of the pool: {line}"
        );
    }
}

/// Once every endpoint answers 200 again, all of them serve: the ejected ones are back after
/// their (short) ejection times.
async fn recovers(world: &PoolWorld) {
    for replica in &world.replicas {
        replica.set(Mode::Ok);
    }
    let before = world.counts();
    world
        .answer_until("every endpoint to serve again", RETURN_DEADLINE, || {
            world
                .counts()
                .iter()
                .zip(&before)
                .all(|(now, then)| now > then)
        })
        .await;
    for _ in 0..9 {
        assert_eq!(world.answer("/svc/forecast").await.0, 200);
    }
}
