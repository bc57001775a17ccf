//! Active health checks through the built binary, with three real replicas in pool `svc`: the
//! checks hit the path at the interval with the endpoint's `Host`, a replica failing them is
//! taken out (client requests stop reaching it) and comes back after passing again, and when
//! every replica fails them the pool still serves (panic routing) until one passes again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use support::pools::{Mode, PoolWorld, Replica};

/// Round robin (so shares are exact), checks every 250 ms, 3 failures in a row out (a check
/// slowed past its timeout by a busy machine does not take a healthy replica out), 2 passes
/// back.
const CHECKED: &str = "balance = \"round_robin\"\n[upstreams.svc.health]\npath = \"/healthz\"\n\
                       interval = \"250ms\"\ntimeout = \"250ms\"\nhealthy = 2\nunhealthy = 3\n";
/// Checks read after a change of answer until the state has certainly changed: the
/// `unhealthy` (or `healthy`) ones, and one more, read only once their round was over.
const TO_UNHEALTHY: usize = 4;
const TO_HEALTHY: usize = 3;

async fn get_n(world: &PoolWorld, requests: usize) {
    for _ in 0..requests {
        let response = world.get("/svc/forecast").await;
        assert_eq!(response.status(), 200);
    }
}

/// Waits until `replica` has read `more` health checks beyond `from`.
async fn checks_beyond(replica: &Replica, from: usize, more: usize) {
    support::wait::poll(
        &format!("{more} more checks of replica {}", replica.name()),
        support::wait::DEADLINE,
        || std::future::ready((replica.count_path("/healthz") >= from + more).then_some(())),
    )
    .await
}

/// The JSON log line of a state change of `replica`'s endpoint.
async fn change_line(world: &PoolWorld, replica: &Replica, message: &str) -> serde_json::Value {
    let endpoint = replica.url();
    world
        .gateway
        .next_line_polled(message, |line| {
            line.to_string().contains(message) && line["endpoint"] == endpoint.as_str()
        })
        .await
}

#[tokio::test]
async fn the_checks_hit_the_path_at_the_interval_with_the_endpoints_host() {
    let world = PoolWorld::start(CHECKED, "").await;
    let replica = &world.replicas[1];
    let from = replica.count_path("/healthz");
    let started = Instant::now();
    // Ten checks 250 ms apart take 2.25 s at least; at the 5 s default they would take 45 s.
    support::wait::poll("ten more checks", Duration::from_secs(15), || {
        std::future::ready((replica.count_path("/healthz") >= from + 10).then_some(()))
    })
    .await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1500),
        "ten checks in {took:?}: faster than the interval"
    );
    for replica in &world.replicas {
        assert!(
            replica.count_path("/healthz") >= 2,
            "every endpoint is checked"
        );
        let check = replica
            .reads()
            .into_iter()
            .find(|read| read.target == "/healthz")
            .unwrap();
        assert_eq!(check.method, "GET");
        assert_eq!(
            check.header("host"),
            Some(replica.addr.to_string().as_str())
        );
        assert_eq!(check.header("user-agent"), Some("gateway-health-check"));
    }
    assert_eq!(
        world.default.count_path("/healthz"),
        0,
        "[upstream] has no checks"
    );
    assert_eq!(
        world.data_counts(),
        [0, 0, 0],
        "checks are not client requests"
    );
}

#[tokio::test]
async fn a_replica_failing_its_checks_is_taken_out_and_comes_back_after_passing_again() {
    let world = PoolWorld::start(CHECKED, "").await;
    let [a, _, _] = &world.replicas[..] else {
        unreachable!()
    };
    get_n(&world, 30).await;
    assert_eq!(world.data_counts(), [10, 10, 10]);

    a.set_path("/healthz", Mode::Status(503));
    let flipped = a.count_path("/healthz");
    checks_beyond(a, flipped, TO_UNHEALTHY).await;
    let line = change_line(&world, a, "endpoint unhealthy").await;
    assert_eq!(line["level"], "WARN", "{line}");
    assert_eq!(line["upstream"], "svc", "{line}");
    let before = world.data_counts();
    get_n(&world, 30).await;
    let after = world.data_counts();
    assert_eq!(after[0], before[0], "an unhealthy endpoint gets no request");
    assert_eq!(after[1] + after[2], before[1] + before[2] + 30);

    a.set_path("/healthz", Mode::Ok);
    let restored = a.count_path("/healthz");
    checks_beyond(a, restored, TO_HEALTHY).await;
    let line = change_line(&world, a, "endpoint healthy again").await;
    assert_eq!(line["level"], "INFO", "{line}");
    let before = world.data_counts();
    get_n(&world, 30).await;
    let after = world.data_counts();
    let got: Vec<usize> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(got, [10, 10, 10], "back in balancing");
}

#[tokio::test]
async fn with_every_replica_failing_its_checks_requests_still_go_out_until_one_passes_again() {
    let world = PoolWorld::start(CHECKED, "").await;
    let marks: Vec<usize> = world
        .replicas
        .iter()
        .map(|replica| {
            replica.set_path("/healthz", Mode::Status(500));
            replica.count_path("/healthz")
        })
        .collect();
    for (replica, mark) in world.replicas.iter().zip(&marks) {
        checks_beyond(replica, *mark, TO_UNHEALTHY).await;
    }
    // Panic routing: the pool balances over all of them rather than refusing.
    get_n(&world, 30).await;
    assert_eq!(world.data_counts(), [10, 10, 10]);

    let b = &world.replicas[1];
    b.set_path("/healthz", Mode::Ok);
    let restored = b.count_path("/healthz");
    checks_beyond(b, restored, TO_HEALTHY).await;
    change_line(&world, b, "endpoint healthy again").await;
    get_n(&world, 30).await;
    assert_eq!(
        world.data_counts(),
        [10, 40, 10],
        "the one healthy endpoint takes every request"
    );
}

#[tokio::test]
async fn the_checks_end_when_the_gateway_shuts_down() {
    // In process (`gateway::start`), where a leaked task would outlive `Running::shutdown`.
    let issuer = support::issuer::spawn_issuer().await;
    let backend = Replica::start("default").await;
    let mut options =
        support::gateway::Options::new(&issuer.issuer_url(), &issuer.jwks_url(), &backend.url());
    options.upstream_extra =
        "[upstream.health]\npath = \"/healthz\"\ninterval = \"100ms\"\ntimeout = \"100ms\"\n"
            .to_owned();
    let gateway = support::gateway::TestGateway::start(options).await;
    checks_beyond(&backend, 0, 2).await;
    gateway.shutdown().await;
    let after = backend.count_path("/healthz");
    // Ten intervals without a check (one already sent may still land).
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            backend.count_path("/healthz") <= after + 1,
            "checks went on after shutdown"
        );
    }
}
