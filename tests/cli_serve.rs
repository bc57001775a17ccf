//! `gateway serve` as an operator runs it: the real binary, JSON access logs (one line per
//! request, never the token), SIGHUP reloads the policy, SIGTERM drains and exits 0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gateway::dev::issuer::DevIssuer;
use support::backend::Backend;
use support::bin::{Serving, run_in};
use support::gateway::{Options, claims, test_policy};
use support::issuer::spawn_issuer;

/// `gateway serve` with two workers on the test policy, JSON logs.
fn serve(issuer: &DevIssuer, backend: &Backend) -> Serving {
    let mut options = Options::of(issuer, backend);
    options.server_extra = "workers = 2\n".to_owned();
    options.upstream_extra = String::new();
    Serving::options(&options, &["--log-format", "json"], &[])
}

#[tokio::test]
async fn serve_logs_one_json_line_per_request_reloads_on_sighup_and_drains_on_sigterm() {
    let issuer = spawn_issuer().await;
    let backend = Backend::start().await;
    let mut served = serve(&issuer, &backend);
    served.wait_ready().await;
    let client = reqwest::Client::new();
    let token = issuer.mint(&claims(&issuer.issuer_url(), "read:forecast"));

    // Allowed: one access line with the identity and decision, never the token.
    let response = served.get_as("/forecast?x=1", &token, "req-allowed").await;
    assert_eq!(response.status(), 200);
    let line = served.request_line("req-allowed");
    assert_eq!(line["target"], "gateway::access");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["path"], "/forecast");
    assert_eq!(line["route"], "/forecast");
    assert_eq!(line["subject"], "clientco@clients");
    assert_eq!(line["client_id"], "clientco");
    assert_eq!(line["decision"], "allow");
    assert_eq!(line["status"], 200);
    assert!(line["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(!line.to_string().contains(&token));

    // Denied: the reason is logged.
    let response = served.get_as("/inventory", &token, "req-denied").await;
    assert_eq!(response.status(), 403);
    let line = served.request_line("req-denied");
    assert_eq!(line["decision"], "deny");
    assert_eq!(line["reason"], "insufficient_scope");
    assert_eq!(line["status"], 403);

    // SIGHUP reloads an edited policy.
    let edited = format!(
        "{}  - path: /reports\n    methods: [GET]\n    scopes: [read:forecast]\n",
        test_policy()
    );
    std::fs::write(served.file("policy.yaml"), edited).unwrap();
    served.signal("HUP");
    served.next_line("the reload", |l| l["message"] == "policy reloaded");
    let response = client
        .get(served.url("/reports"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // SIGTERM: drain and exit 0.
    served.signal("TERM");
    assert_eq!(served.exit_code().await, Some(0));
}

#[tokio::test]
async fn serve_with_a_broken_config_exits_1_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gateway.toml"),
        "[server]\nlisten = \"nowhere\"\n",
    )
    .unwrap();
    let run = run_in(dir.path(), &["--config", "gateway.toml"], &[]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("gateway.toml:2:"), "{run:?}");
}
