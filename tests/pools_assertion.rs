//! Pools and routes through the built binary: each route reaches only the replicas of the pool
//! it names (`upstream:` in the policy; the route to the second pool comes with a reload), and with `[forward.assertion]` on, the signed assertion
//! a pool's replicas receive carries that pool's `assertion_audience` (the default pool's
//! requests the section's own `audience`), verified against the admin listener's JWKS and
//! `gateway assertion-jwks`, so an assertion one service received is refused by another.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::assertion::{AUDIENCE, ISSUER, Keys, verify};
use support::pools::{POLICY, PoolWorld, Replica};

/// The pools' policy plus `/ingest/**`, routed to pool `ingest`.
fn policy() -> String {
    format!(
        "{POLICY}  - path: /ingest/**\n    methods: [GET]\n    scopes: [read:forecast]\n    \
         upstream: ingest\n"
    )
}

/// Replaces the running gateway's policy with `policy()` (written whole, then renamed into
/// place) and waits for the reload: a policy may route to any pool the process runs.
fn route_to_ingest(world: &PoolWorld) {
    let file = world.gateway.file("policy.yaml");
    let next = world.gateway.file("policy.yaml.next");
    std::fs::write(&next, policy()).unwrap();
    std::fs::rename(&next, &file).unwrap();
    world.gateway.signal("HUP");
    world
        .gateway
        .next_line("the reload", |l| l["message"] == "policy reloaded");
}

/// Pool `svc` (replicas a, b, c; audience `forecast-service` when `keys` sign), pool `ingest`
/// (the returned replicas; audience `ingestion-service`), both round robin, the default pool,
/// and the policy routing `/ingest/**` to `ingest`.
async fn two_pools(keys: Option<&Keys>) -> (PoolWorld, Vec<Replica>) {
    let mut ingest = Vec::new();
    for name in ["i1", "i2", "i3"] {
        ingest.push(Replica::start(name).await);
    }
    let endpoints: Vec<String> = ingest.iter().map(|r| format!("\"{}\"", r.url())).collect();
    let (section, audience) = match keys {
        Some(keys) => (keys.section(""), "assertion_audience = \"{}\"\n"),
        None => (String::new(), ""),
    };
    let tail = format!(
        "{section}\n[upstreams.ingest]\nendpoints = [{}]\nbalance = \"round_robin\"\n{}",
        endpoints.join(", "),
        audience.replace("{}", "ingestion-service")
    );
    let pool_extra = format!(
        "balance = \"round_robin\"\n{}",
        audience.replace("{}", "forecast-service")
    );
    let world = PoolWorld::start(&pool_extra, &tail).await;
    route_to_ingest(&world);
    (world, ingest)
}

fn counts(replicas: &[Replica]) -> Vec<usize> {
    replicas.iter().map(Replica::count).collect()
}

#[tokio::test]
async fn each_route_reaches_only_the_replicas_of_the_pool_it_names() {
    let (world, ingest) = two_pools(None).await;
    for i in 0..30 {
        let (status, body) = world.answer("/svc/forecast").await;
        assert_eq!(status, 200, "request {i}");
        assert!(["a", "b", "c"].contains(&body.as_str()), "{body}");
        let (status, body) = world.answer("/ingest/rows").await;
        assert_eq!(status, 200, "request {i}");
        assert!(["i1", "i2", "i3"].contains(&body.as_str()), "{body}");
    }
    assert_eq!(world.counts(), [10, 10, 10]);
    assert_eq!(counts(&ingest), [10, 10, 10]);
    assert_eq!(world.answer("/other/x").await, (200, "default".to_owned()));
    assert_eq!(
        world.default.count(),
        1,
        "only the route without `upstream:`"
    );

    let response = world.get_with_id("/ingest/rows", "to-ingest").await;
    assert_eq!(response.status(), 200);
    let line = world.gateway.request_line("to-ingest");
    assert_eq!(line["upstream"], "ingest", "{line}");
    let endpoint = ingest
        .iter()
        .find(|r| r.url() == line["endpoint"].as_str().unwrap())
        .unwrap_or_else(|| panic!("an endpoint of pool ingest: {line}"));
    assert_eq!(endpoint.reads().pop().unwrap().target, "/ingest/rows");
}

/// The one assertion `replica` received on its last request, verified against `jwks`: its
/// claims.
fn assertion_claims(replica: &Replica, jwks: &Value) -> Value {
    let read = replica.reads().pop().expect("the replica saw a request");
    let values: Vec<_> = read
        .headers
        .iter()
        .filter(|(name, _)| name == "x-auth-assertion")
        .collect();
    assert_eq!(values.len(), 1, "{:?}", read.headers);
    let (header, claims) = verify(&values[0].1, jwks);
    assert_eq!(header["typ"], "gateway-assertion+jwt");
    assert_eq!(claims["iss"], ISSUER);
    claims
}

#[tokio::test]
async fn each_pool_receives_assertions_for_its_own_audience_only() {
    let keys = Keys::new();
    let (world, ingest) = two_pools(Some(&keys)).await;
    let served: Value = world
        .client
        .get(world.gateway.admin_url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // What a backend loading its keys from a file gets: the same key set.
    let run = support::bin::run_async(
        &world.gateway.folder,
        &["assertion-jwks", "--config", "gateway.toml"],
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let printed: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(printed, served, "assertion-jwks is unchanged by the pools");

    assert_eq!(world.answer("/svc/forecast").await.0, 200);
    let forecast = assertion_claims(&world.replicas[0], &printed);
    assert_eq!(forecast["aud"], "forecast-service");
    assert_eq!(forecast["route"], "/svc/**");
    assert_eq!(forecast["htp"], "/svc/forecast");

    assert_eq!(world.answer("/ingest/rows").await.0, 200);
    let ingestion = assertion_claims(&ingest[0], &served);
    assert_eq!(ingestion["aud"], "ingestion-service");

    assert_eq!(world.answer("/other/x").await.0, 200);
    let default = assertion_claims(&world.default, &served);
    assert_eq!(
        default["aud"], AUDIENCE,
        "a route on the default pool: the section's own audience"
    );

    // Each service checks `aud` against its own name: what forecasting received is not for
    // ingestion, nor for the default backend, and the other way round.
    let audiences = [&forecast["aud"], &ingestion["aud"], &default["aud"]];
    for (i, a) in audiences.iter().enumerate() {
        for b in &audiences[i + 1..] {
            assert_ne!(a, b);
        }
    }
    // Every replica of the pool gets its audience, not only the first.
    for _ in 0..2 {
        assert_eq!(world.answer("/svc/forecast").await.0, 200);
    }
    for replica in &world.replicas {
        assert_eq!(
            assertion_claims(replica, &served)["aud"],
            "forecast-service"
        );
    }
}
