//! Live policy reload: applied without dropping a request, broken edits rejected while the old
//! policy serves, editor-style saves (write a new file, rename it over the old) seen by the
//! watcher; and the metrics moving as requests flow.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use support::gateway::test_policy;
use support::world::World;

const REPORTS_ROUTE: &str = "  - path: /reports\n    methods: [GET]\n    scopes: [read:forecast]\n";

fn policy_with_reports() -> String {
    format!("{}{REPORTS_ROUTE}", test_policy())
}

#[tokio::test]
async fn ten_reloads_under_load_drop_no_allowed_request() {
    let world = Arc::new(World::start().await);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for _ in 0..4 {
        let world = world.clone();
        let stop = stop.clone();
        let sent = sent.clone();
        load.push(tokio::spawn(async move {
            let token = world.token("read:forecast");
            let mut failures = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let response = world
                    .client
                    .get(world.url("/forecast"))
                    .bearer_auth(&token)
                    .send()
                    .await;
                sent.fetch_add(1, Ordering::SeqCst);
                match response {
                    Ok(r) if r.status() == 200 => {}
                    Ok(r) => failures.push(r.status().to_string()),
                    Err(e) => failures.push(e.to_string()),
                }
            }
            failures
        }));
    }
    let policy_file = world.gateway.dir.path().join("policy.yaml");
    for i in 0..10 {
        let policy = if i % 2 == 0 {
            policy_with_reports()
        } else {
            test_policy()
        };
        std::fs::write(&policy_file, policy).unwrap();
        world.gateway.running().reload().unwrap();
        // Let some requests through between reloads.
        let before = sent.load(Ordering::SeqCst);
        support::wait::until("load continues", || {
            sent.load(Ordering::SeqCst) >= before + 20
        })
        .await;
    }
    stop.store(true, Ordering::SeqCst);
    for task in load {
        let failures = task.await.unwrap();
        assert!(failures.is_empty(), "non-2xx during reloads: {failures:?}");
    }
    let metrics = parse(&world.gateway.metrics().await);
    assert!(metrics["gateway_policy_reloads_total"] >= 10.0);
}

#[tokio::test]
async fn a_broken_edit_is_rejected_and_the_old_policy_keeps_serving() {
    let world = World::start().await;
    let policy_file = world.gateway.dir.path().join("policy.yaml");
    let broken = test_policy().replace("scopes: [read:forecast]", "scopes: [read:forcast]");
    std::fs::write(&policy_file, broken).unwrap();
    let errors = world.gateway.running().reload().unwrap_err();
    let text = errors.to_string();
    assert!(text.contains("policy.yaml:"), "{text}");
    assert!(text.contains("read:forcast"), "{text}");
    assert_eq!(world.get("/forecast", "read:forecast").await.status(), 200);
    let metrics = parse(&world.gateway.metrics().await);
    assert!(metrics["gateway_policy_reload_failures_total"] >= 1.0);

    // Deleting the file is a failed reload too, never an empty policy.
    std::fs::remove_file(&policy_file).unwrap();
    assert!(world.gateway.running().reload().is_err());
    assert_eq!(world.get("/forecast", "read:forecast").await.status(), 200);
}

/// Tests run as root, where `chmod 000` changes nothing, so "unreadable" is made the two ways
/// root still cannot read a policy: a directory where the file was, and bytes that are not text.
#[tokio::test]
async fn a_policy_made_unreadable_is_rejected_and_the_old_policy_keeps_serving() {
    let world = World::start().await;
    let policy_file = world.gateway.dir.path().join("policy.yaml");
    let before = parse(&world.gateway.metrics().await)["gateway_policy_reload_failures_total"];

    std::fs::remove_file(&policy_file).unwrap();
    std::fs::create_dir(&policy_file).unwrap();
    let text = world.gateway.running().reload().unwrap_err().to_string();
    // The message names the file, says a directory is in the way and where the path is set.
    assert!(text.contains(&policy_file.display().to_string()), "{text}");
    assert!(text.contains("is a directory"), "{text}");
    assert!(text.contains("policy.file"), "{text}");
    assert_eq!(world.get("/forecast", "read:forecast").await.status(), 200);

    std::fs::remove_dir(&policy_file).unwrap();
    std::fs::write(&policy_file, b"routes:\n  - path: /\xff\xfe\x00\x01\n").unwrap();
    let text = world.gateway.running().reload().unwrap_err().to_string();
    assert!(text.contains(&policy_file.display().to_string()), "{text}");
    assert!(text.contains("save it as UTF-8"), "{text}");
    assert_eq!(world.get("/forecast", "read:forecast").await.status(), 200);
    assert_eq!(world.get("/inventory", "read:forecast").await.status(), 403);
    let after = parse(&world.gateway.metrics().await)["gateway_policy_reload_failures_total"];
    // Two failed reloads at least (the watcher may add its own for the same edits).
    assert!(after - before >= 2.0, "{before} -> {after}");
}

#[tokio::test]
async fn the_watcher_sees_an_editor_style_rename() {
    let world = World::start().await;
    assert_eq!(world.get("/reports", "read:forecast").await.status(), 404);
    let dir = world.gateway.dir.path();
    // What vim and most editors do: write a sibling file, then rename it over the original.
    std::fs::write(dir.join(".policy.yaml.swp"), policy_with_reports()).unwrap();
    std::fs::rename(dir.join(".policy.yaml.swp"), dir.join("policy.yaml")).unwrap();
    serves_reports(&world, "the watcher to reload").await;
    let policy = reqwest::get(format!("{}/policy", world.gateway.admin))
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(policy["sha256"].as_str().unwrap().len(), 64);
}

/// Parses Prometheus/OpenMetrics text into `name{labels}` -> value.
fn parse(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            Some((key.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn sample(metrics: &HashMap<String, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    metrics
        .iter()
        .filter(|(key, _)| {
            key.starts_with(&format!("{name}{{"))
                && labels
                    .iter()
                    .all(|(k, v)| key.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, value)| value)
        .sum()
}

#[tokio::test]
async fn metrics_move_as_requests_flow() {
    let world = World::start().await;
    let before = parse(&world.gateway.metrics().await);
    assert_eq!(world.get("/forecast", "read:forecast").await.status(), 200);
    assert_eq!(world.get("/forecast", "read:forecast").await.status(), 200);
    assert_eq!(world.get("/forecast", "read:inventory").await.status(), 403);
    let no_token = world
        .client
        .get(world.url("/forecast"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);
    let after = parse(&world.gateway.metrics().await);

    let allowed = [
        ("route", "/forecast"),
        ("decision", "allow"),
        ("status", "200"),
    ];
    assert_eq!(
        sample(&after, "gateway_requests_total", &allowed)
            - sample(&before, "gateway_requests_total", &allowed),
        2.0
    );
    let denied = [
        ("route", "/forecast"),
        ("reason", "insufficient_scope"),
        ("status", "403"),
    ];
    assert_eq!(sample(&after, "gateway_requests_total", &denied), 1.0);
    let unauthenticated = [("reason", "missing_token"), ("status", "401")];
    assert_eq!(
        sample(&after, "gateway_requests_total", &unauthenticated),
        1.0
    );
    assert!(after["gateway_request_duration_seconds_count"] >= 4.0);
    assert!(after["gateway_upstream_duration_seconds_count"] >= 2.0);
    // Never a raw path or a subject as a label value.
    for key in after.keys() {
        assert!(!key.contains("clientco@clients"), "{key}");
    }
}

#[tokio::test]
async fn a_kubernetes_configmap_swap_is_seen() {
    use std::os::unix::fs::symlink;
    let world = World::start().await;
    let dir = world.gateway.dir.path();
    // The layout kubelet writes: policy.yaml -> ..data/policy.yaml, ..data -> ..<timestamp>.
    std::fs::create_dir(dir.join("..2026_11_29_v1")).unwrap();
    std::fs::write(dir.join("..2026_11_29_v1/policy.yaml"), test_policy()).unwrap();
    symlink("..2026_11_29_v1", dir.join("..data")).unwrap();
    std::fs::remove_file(dir.join("policy.yaml")).unwrap();
    symlink("..data/policy.yaml", dir.join("policy.yaml")).unwrap();
    // Replacing the file with the link is itself a change: let that reload land first, so the
    // swap below is judged on its own.
    support::wait::poll(
        "the layout change to reload",
        support::wait::DEADLINE,
        || async {
            let metrics = parse(&world.gateway.metrics().await);
            (metrics["gateway_policy_reloads_total"] >= 1.0).then_some(())
        },
    )
    .await;
    assert_eq!(world.get("/reports", "read:forecast").await.status(), 404);

    // An update: a new timestamped folder, then an atomic rename of a fresh `..data` link.
    std::fs::create_dir(dir.join("..2026_11_29_v2")).unwrap();
    std::fs::write(
        dir.join("..2026_11_29_v2/policy.yaml"),
        policy_with_reports(),
    )
    .unwrap();
    symlink("..2026_11_29_v2", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();

    serves_reports(&world, "the ConfigMap swap to be seen").await;
}

/// Waits until the reloaded policy serves `/reports`.
async fn serves_reports(world: &World, what: &str) {
    support::wait::poll(what, support::wait::DEADLINE, || async {
        let status = world.get("/reports", "read:forecast").await.status();
        (status == 200).then_some(())
    })
    .await
}
