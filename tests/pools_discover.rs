//! DNS discovery through the built binary, against a real DNS server (dnsmasq, on an ephemeral
//! port via `dns_server`) and three replicas on 127.0.0.1, .2 and .3 sharing one port: every
//! address the name has gets requests, with the name as `Host`; a record removed gets no new
//! request (and the requests already sent to it finish), a record added starts getting them;
//! with the DNS server gone the last set keeps serving (logged once); a name without records
//! at start answers 502 saying why, then serves once the record exists.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/dns.rs"]
mod dns;
mod support;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use dns::Dns;
use support::pools::{Mode, PoolWorld, Replica};

const NAME: &str = "svc.test";

/// The records of `svc.test` for these replicas.
fn records(replicas: &[&Replica]) -> Vec<(&'static str, IpAddr)> {
    replicas.iter().map(|r| (NAME, r.addr.ip())).collect()
}

/// dnsmasq answering `svc.test` with the replicas `present` (indices of a, b, c), and the
/// gateway discovering pool `svc` from it every 200 ms, round robin.
async fn discovering(present: &[usize]) -> (Dns, PoolWorld) {
    discovering_with(present, "").await
}

/// `discovering`, with `pool_extra` (sub-tables of `[upstreams.svc]`) after round robin.
async fn discovering_with(present: &[usize], pool_extra: &str) -> (Dns, PoolWorld) {
    let replicas = Replica::on_one_port(&["a", "b", "c"]).await;
    let chosen: Vec<&Replica> = present.iter().map(|&i| &replicas[i]).collect();
    let dns = Dns::start(&records(&chosen)).await;
    let discover = format!(
        "discover = \"{NAME}:{}\"\ndns_server = \"{}\"\nresolve_every = \"200ms\"",
        replicas[0].addr.port(),
        dns.addr
    );
    let extra = format!("balance = \"round_robin\"\n{pool_extra}");
    let world = PoolWorld::launch(replicas, &discover, &extra, "").await;
    (dns, world)
}

async fn get_n(world: &PoolWorld, requests: usize) {
    for _ in 0..requests {
        let response = world.get("/svc/forecast").await;
        assert_eq!(response.status(), 200);
    }
}

/// Requests each replica got while `requests` GETs went out.
async fn shares(world: &PoolWorld, requests: usize) -> Vec<usize> {
    let before = world.data_counts();
    get_n(world, requests).await;
    let after = world.data_counts();
    after.iter().zip(&before).map(|(a, b)| a - b).collect()
}

/// Waits for the log line saying discovery changed the set, with `field` naming `replica`.
async fn changed(world: &PoolWorld, field: &str, replica: &Replica) {
    let address = replica.addr.to_string();
    world
        .gateway
        .next_line_polled(&format!("{field} {address}"), |line| {
            line.to_string().contains("DNS discovery changed")
                && line[field]
                    .as_str()
                    .is_some_and(|list| list.split(' ').any(|a| a == address))
        })
        .await;
}

#[tokio::test]
async fn three_records_are_three_endpoints_that_receive_the_name_as_host() {
    let (_dns, world) = discovering(&[0, 1, 2]).await;
    assert_eq!(shares(&world, 30).await, [10, 10, 10]);
    let port = world.replicas[0].addr.port();
    for replica in &world.replicas {
        let read = replica.reads().pop().unwrap();
        assert_eq!(read.header("host"), Some(format!("{NAME}:{port}").as_str()));
    }
    let token = world.token("read:forecast");
    let response = world
        .gateway
        .get_as("/svc/forecast", &token, "discovered-1")
        .await;
    let served_by = response.text().await.unwrap();
    let replica = world
        .replicas
        .iter()
        .find(|r| r.name() == served_by)
        .unwrap();
    let line = world.gateway.request_line("discovered-1");
    assert_eq!(line["upstream"], "svc", "{line}");
    assert_eq!(line["endpoint"], replica.url().as_str(), "{line}");
}

#[tokio::test]
async fn a_record_added_gets_requests_and_a_record_removed_gets_none_after_finishing_its_own() {
    let (dns, world) = discovering(&[0, 1]).await;
    let [a, b, c] = &world.replicas[..] else {
        unreachable!()
    };
    assert_eq!(shares(&world, 30).await, [15, 15, 0]);

    dns.set(&records(&[a, b, c])).await;
    changed(&world, "added", c).await;
    assert_eq!(shares(&world, 30).await, [10, 10, 10]);

    // A request under way at `a` when its record goes still gets its answer from `a`: three
    // requests at once under round robin go one to each endpoint, and `a` holds its own.
    a.set(Mode::Slow(Duration::from_millis(1500)));
    let before = a.count_under("/svc/");
    let mut under_way = tokio::task::JoinSet::new();
    for _ in 0..3 {
        under_way.spawn(world.get_owned("/svc/slow"));
    }
    support::wait::until("a request under way at a", || {
        a.count_under("/svc/") > before
    })
    .await;
    dns.set(&records(&[b, c])).await;
    changed(&world, "removed", a).await;
    let mut answered_by = Vec::new();
    while let Some(done) = under_way.join_next().await {
        let (status, name) = done.unwrap();
        assert_eq!(status, 200);
        answered_by.push(name);
    }
    answered_by.sort();
    assert_eq!(
        answered_by,
        ["a", "b", "c"],
        "the request under way finished at a"
    );
    a.set(Mode::Ok);
    assert_eq!(shares(&world, 30).await, [0, 15, 15]);
}

#[tokio::test]
async fn with_the_dns_server_gone_the_last_set_keeps_serving_and_the_failure_is_logged_once() {
    let (mut dns, world) = discovering(&[0, 1, 2]).await;
    assert_eq!(shares(&world, 30).await, [10, 10, 10]);
    dns.kill();
    let line = world
        .gateway
        .next_line_polled("the resolution failure", |line| {
            line.to_string().contains("DNS discovery failed")
        })
        .await;
    assert_eq!(line["level"], "WARN", "{line}");
    assert_eq!(line["upstream"], "svc", "{line}");
    assert_eq!(line["endpoints"], 3, "{line}");
    // Ten rounds of failing resolutions (200 ms apart), serving all along.
    let until = Instant::now() + Duration::from_secs(2);
    let mut served = vec![0; 3];
    while Instant::now() < until {
        for (total, got) in served.iter_mut().zip(shares(&world, 3).await) {
            *total += got;
        }
    }
    assert!(
        served.iter().all(|&n| n > 0),
        "every endpoint kept serving: {served:?}"
    );
    let again: Vec<String> = world
        .gateway
        .lines_now()
        .into_iter()
        .filter(|line| line.contains("DNS discovery failed"))
        .collect();
    assert!(
        again.is_empty(),
        "logged once per streak, not every round: {again:?}"
    );
}

#[tokio::test]
async fn a_name_without_records_answers_502_saying_why_until_the_record_exists() {
    let (dns, world) = discovering(&[]).await;
    let refused = world.get("/svc/forecast").await;
    assert_eq!(refused.status(), 502);
    let body = support::world::error_body(refused).await;
    let why = body["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        why.contains("pool svc: DNS discovery has found no endpoint yet") && why.contains(NAME),
        "{body}"
    );
    assert_eq!(world.data_counts(), [0, 0, 0]);

    let b = &world.replicas[1];
    dns.set(&records(&[b])).await;
    let served = support::wait::poll("the pool to serve", support::wait::DEADLINE, || async {
        let response = world.get("/svc/forecast").await;
        (response.status() == 200).then_some(response)
    })
    .await;
    assert_eq!(served.text().await.unwrap(), "b");
}

#[tokio::test]
async fn an_endpoint_discovery_adds_is_health_checked_and_keeps_its_health_while_the_set_changes() {
    let health = "[upstreams.svc.health]\npath = \"/healthz\"\ninterval = \"250ms\"\n\
                  timeout = \"250ms\"\nunhealthy = 3\n";
    let (dns, world) = discovering_with(&[0, 1], health).await;
    let [a, b, c] = &world.replicas[..] else {
        unreachable!()
    };
    assert_eq!(c.count_path("/healthz"), 0, "no record, no check");
    c.set_path("/healthz", Mode::Status(503));
    dns.set(&records(&[a, b, c])).await;
    changed(&world, "added", c).await;
    // Polled (the replicas answer meanwhile) before the log is read: the third failing
    // check's round is over once a fourth has been read.
    support::wait::until("four checks of c", || c.count_path("/healthz") >= 4).await;
    let endpoint = c.url();
    let line = world
        .gateway
        .next_line_polled("the new endpoint to fail its checks", |line| {
            line.to_string().contains("endpoint unhealthy") && line["endpoint"] == endpoint.as_str()
        })
        .await;
    assert!(
        line["cause"].as_str().unwrap_or_default().contains("503"),
        "{line}"
    );
    assert_eq!(shares(&world, 30).await, [15, 15, 0]);
    // Another change of the set keeps the members that stay, with their health: c stays out.
    dns.set(&records(&[a, c])).await;
    changed(&world, "removed", b).await;
    assert_eq!(shares(&world, 30).await, [30, 0, 0]);
}
