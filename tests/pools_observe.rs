//! The pools seen from the admin listener, through the built binary with three real replicas:
//! `/metrics` has per-pool and per-endpoint series after traffic, a killed replica shows as
//! connect failures, retries and an ejection on `/metrics`, `/upstreams` and the console's
//! Upstreams page (whose policy page names each route's pool), `/upstreams`
//! is JSON with every field of every endpoint, and it answers only the admin listener's own
//! Host names (421) and only GET and HEAD (405 with `Allow`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gateway::assertion::keys::generate_pem;
use serde_json::Value;
use support::pools::PoolWorld;

/// `GET path` on the admin listener: its status and body.
async fn admin(world: &PoolWorld, path: &str) -> (u16, String) {
    let response = world
        .client
        .get(world.gateway.admin_url(path))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

async fn upstreams(world: &PoolWorld) -> Value {
    let (status, body) = admin(world, "/upstreams").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("/upstreams is not JSON ({e}): {body}"))
}

/// The pool `name` of `/upstreams`.
fn pool<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no pool {name} in {json}"))
}

/// The value of the sample of `name` whose labels include every one of `labels`.
fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
    metrics
        .lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .find(|line| {
            labels
                .iter()
                .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

fn endpoint_sample(metrics: &str, name: &str, url: &str, extra: &[(&str, &str)]) -> u64 {
    let mut labels = vec![("upstream", "svc"), ("endpoint", url)];
    labels.extend_from_slice(extra);
    sample(metrics, name, &labels).unwrap_or_else(|| panic!("no {name} {labels:?} in:\n{metrics}"))
}

#[tokio::test]
async fn metrics_have_per_pool_and_per_endpoint_series_after_traffic() {
    let world = PoolWorld::start("balance = \"round_robin\"\n", "").await;
    for i in 0..30 {
        assert_eq!(
            world.get("/svc/forecast").await.status(),
            200,
            "request {i}"
        );
    }
    assert_eq!(world.get("/other/x").await.status(), 200);
    let (status, metrics) = admin(&world, "/metrics").await;
    assert_eq!(status, 200);
    let mut ok = 0;
    for replica in &world.replicas {
        let url = replica.url();
        let name = "gateway_upstream_endpoint_requests_total";
        let served = endpoint_sample(&metrics, name, &url, &[("outcome", "ok")]);
        assert_eq!(served, replica.count() as u64, "{url}:\n{metrics}");
        assert!(served >= 5, "round robin gave {url} a share: {served}");
        ok += served;
        for outcome in ["status", "connect", "reset", "timeout"] {
            let other = endpoint_sample(&metrics, name, &url, &[("outcome", outcome)]);
            assert_eq!(other, 0, "{url} {outcome}");
        }
        let gauge = |name| endpoint_sample(&metrics, name, &url, &[]);
        assert_eq!(gauge("gateway_upstream_endpoint_in_flight"), 0);
        assert_eq!(gauge("gateway_upstream_endpoint_ejected"), 0);
        assert_eq!(gauge("gateway_upstream_endpoint_healthy"), 1);
        assert_eq!(gauge("gateway_upstream_endpoint_ejections_total"), 0);
        let checks = "gateway_upstream_endpoint_health_checks_total";
        assert_eq!(
            endpoint_sample(&metrics, checks, &url, &[("result", "passed")]),
            0
        );
    }
    assert_eq!(ok, 30);
    let default_url = world.default.url();
    let default = [
        ("upstream", "default"),
        ("endpoint", &*default_url),
        ("outcome", "ok"),
    ];
    assert_eq!(
        sample(
            &metrics,
            "gateway_upstream_endpoint_requests_total",
            &default
        ),
        Some(1),
        "{metrics}"
    );
    for pool in ["default", "svc"] {
        let labels = [("upstream", pool)];
        assert_eq!(
            sample(&metrics, "gateway_upstream_in_flight", &labels),
            Some(0)
        );
        assert_eq!(
            sample(&metrics, "gateway_upstream_panic_total", &labels),
            Some(0)
        );
        let resolve = "gateway_upstream_resolve_failures_total";
        assert_eq!(sample(&metrics, resolve, &labels), Some(0));
        let exhausted = "gateway_upstream_retry_budget_exhausted_total";
        assert_eq!(sample(&metrics, exhausted, &labels), Some(0));
        let retries = [("upstream", pool), ("reason", "connect")];
        assert_eq!(
            sample(&metrics, "gateway_upstream_retries_total", &retries),
            Some(0)
        );
    }
    assert_eq!(
        sample(
            &metrics,
            "gateway_upstream_max_in_flight",
            &[("upstream", "svc")]
        ),
        Some(1024)
    );
}

/// Round robin (so the dead endpoint's turn comes within a few requests), two failures eject.
const ROUND_ROBIN_EJECTING_AFTER_TWO: &str =
    "balance = \"round_robin\"\n[upstreams.svc.eject]\nconsecutive_failures = 2\n";

#[tokio::test]
async fn a_killed_replica_shows_connect_failures_retries_and_its_ejection() {
    let world = PoolWorld::start(ROUND_ROBIN_EJECTING_AFTER_TWO, "").await;
    let dead = world.replicas[0].url();
    world.replicas[0].kill();
    // Round robin reaches the dead endpoint within a few requests; two failures eject it.
    let mut ejected = false;
    for i in 0..30 {
        assert_eq!(
            world.get("/svc/forecast").await.status(),
            200,
            "request {i}"
        );
        let json = upstreams(&world).await;
        let svc = pool(&json, "svc");
        let endpoint = svc["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["endpoint"] == dead.as_str())
            .unwrap_or_else(|| panic!("{dead} missing from {svc}"));
        if endpoint["ejected"] == true {
            ejected = true;
            assert_eq!(endpoint["ejections"], 1, "{endpoint}");
            assert_eq!(endpoint["requests"]["connect"], 2, "{endpoint}");
            assert_eq!(endpoint["requests"]["ok"], 0, "{endpoint}");
            // Every failed first attempt was retried on another endpoint, within the budget.
            assert_eq!(svc["retries"]["connect"], 2, "{svc}");
            assert_eq!(svc["budget_exhausted"], 0, "{svc}");
            break;
        }
    }
    assert!(ejected, "two connect failures eject the dead endpoint");
    let (_, metrics) = admin(&world, "/metrics").await;
    let name = "gateway_upstream_endpoint_requests_total";
    assert_eq!(
        endpoint_sample(&metrics, name, &dead, &[("outcome", "connect")]),
        2
    );
    assert_eq!(
        endpoint_sample(&metrics, "gateway_upstream_endpoint_ejected", &dead, &[]),
        1
    );
    let ejections = "gateway_upstream_endpoint_ejections_total";
    assert_eq!(endpoint_sample(&metrics, ejections, &dead, &[]), 1);
    let retries = [("upstream", "svc"), ("reason", "connect")];
    assert_eq!(
        sample(&metrics, "gateway_upstream_retries_total", &retries),
        Some(2)
    );
    let live = world.replicas[1].url();
    assert_eq!(
        endpoint_sample(&metrics, "gateway_upstream_endpoint_ejected", &live, &[]),
        0
    );

    // The console's Upstreams page shows the same state, endpoint by endpoint.
    let (status, page) = admin(&world, "/console/upstreams").await;
    assert_eq!(status, 200, "{page}");
    let row = |url: &str| {
        let start = page
            .find(&format!("<code>{url}</code>"))
            .unwrap_or_else(|| panic!("{url} not on the page: {page}"));
        page[start..].split("</tr>").next().unwrap().to_owned()
    };
    let dead_row = row(&dead);
    assert!(
        dead_row.contains("ejected") && dead_row.contains("connect 2"),
        "{dead_row}"
    );
    assert!(row(&live).contains("healthy"), "{page}");
    // ... and the policy page names each route's pool.
    let (_, policy) = admin(&world, "/console/policy").await;
    assert!(policy.contains("<td><code>svc</code></td>"), "{policy}");
    assert!(policy.contains("<td><code>default</code></td>"), "{policy}");
}

#[tokio::test]
async fn upstreams_is_json_with_every_pool_and_every_endpoint_field() {
    // A pool's assertion audience needs [forward.assertion], and that a key file.
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("assertion.pem");
    let pem = generate_pem(gateway::assertion::Algorithm::EdDsa).unwrap();
    std::fs::write(&key_file, pem).unwrap();
    let assertion = format!(
        "[forward.assertion]\nkey_file = \"{}\"\nissuer = \"https://gateway.test/\"\naudience = \"backend\"\n",
        key_file.display()
    );
    let world = PoolWorld::start("assertion_audience = \"svc-service\"\n", &assertion).await;
    assert_eq!(world.get("/svc/forecast").await.status(), 200);
    let json = upstreams(&world).await;
    let names: Vec<&str> = json["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "svc"], "the default pool first: {json}");
    let svc = pool(&json, "svc");
    assert_eq!(svc["balance"], "least_request");
    assert_eq!(svc["source"], "list");
    assert_eq!(svc["max_in_flight"], 1024);
    assert_eq!(svc["in_flight"], 0);
    assert_eq!(svc["assertion_audience"], "svc-service");
    assert_eq!(pool(&json, "default")["assertion_audience"], Value::Null);
    for field in ["budget_exhausted", "panic", "resolve_failures"] {
        assert_eq!(svc[field], 0, "{field}: {svc}");
    }
    for reason in ["connect", "reset", "timeout", "status"] {
        assert_eq!(svc["retries"][reason], 0, "{reason}: {svc}");
    }
    let endpoints = svc["endpoints"].as_array().unwrap();
    let listed: Vec<&str> = endpoints
        .iter()
        .map(|e| e["endpoint"].as_str().unwrap())
        .collect();
    let urls: Vec<String> = world.replicas.iter().map(|r| r.url()).collect();
    assert_eq!(listed, urls);
    for endpoint in endpoints {
        assert_eq!(endpoint["in_flight"], 0, "{endpoint}");
        assert_eq!(endpoint["ejected"], false, "{endpoint}");
        assert_eq!(endpoint["ejections"], 0, "{endpoint}");
        assert_eq!(endpoint["healthy"], true, "{endpoint}");
        assert_eq!(endpoint["checks"]["passed"], 0, "{endpoint}");
        assert_eq!(endpoint["checks"]["failed"], 0, "{endpoint}");
        for outcome in ["ok", "status", "connect", "reset", "timeout"] {
            assert!(
                endpoint["requests"][outcome].is_u64(),
                "{outcome}: {endpoint}"
            );
        }
    }
    let ok: u64 = endpoints
        .iter()
        .map(|e| e["requests"]["ok"].as_u64().unwrap())
        .sum();
    assert_eq!(ok, 1, "the one request, on one endpoint: {svc}");
}

#[tokio::test]
async fn upstreams_answers_only_its_own_host_and_only_get_and_head() {
    let world = PoolWorld::start("", "").await;
    let url = world.gateway.admin_url("/upstreams");
    for host in ["evil.example", "evil.example:9091", "10.9.9.9"] {
        let response = world
            .client
            .get(&url)
            .header(reqwest::header::HOST, host)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 421, "Host {host}");
        let body = response.text().await.unwrap();
        assert!(
            !body.contains("svc"),
            "a 421 shows nothing of the pools: {body}"
        );
    }
    let head = world.client.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-type"], "application/json");
    for method in [reqwest::Method::POST, reqwest::Method::DELETE] {
        let response = world
            .client
            .request(method.clone(), &url)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method}");
        assert_eq!(response.headers()["allow"], "GET, HEAD", "{method}");
    }
}
