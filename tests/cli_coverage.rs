//! `gateway coverage` through the binary: the shipped policy against the backend's OpenAPI
//! document (the committed FastAPI fixtures, from a file and from a URL).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::bin::{Project, repo_root};
use support::documents::{Answer, Documents};

fn fixture(name: &str) -> String {
    repo_root()
        .join("tests/fixtures/openapi")
        .join(name)
        .display()
        .to_string()
}

fn fixture_text(name: &str) -> String {
    support::bin::fixture_text(&format!("openapi/{name}"))
}

#[test]
fn the_shipped_policy_covers_the_clientco_api_strictly() {
    let project = Project::clientco();
    project.write("openapi.json", &fixture_text("clientco.json"));
    let run = project.run_config("coverage", &["--openapi", "openapi.json", "--strict"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "policies/clientco.yaml against openapi.json (SaaSCo API 1.0.0): 4 operations, 5 routes\n\
         \n\
         Blocked by a restriction (intended, listed for the record):\n  \
         POST /models/train (policies/clientco.yaml:19): blocked by route `/models/**` (restricted: no:execute_modeling), as intended\n\
         \n\
         ok: the policy covers every operation (1 blocked by a restriction, as intended)\n"
    );
}

#[test]
fn drift_is_listed_by_kind_and_strict_fails_on_it() {
    let project = Project::clientco();
    project.write("openapi.json", &fixture_text("drift.json"));
    let report = project.run_config("coverage", &["--openapi", "openapi.json"]);
    assert_eq!(report.code, 0, "findings alone do not fail: {report:?}");
    for expected in [
        "Operations no route lets through (404 or 405 via the gateway):\n  GET /forecasts: no route matches: 404 through the gateway\n",
        "  PUT /inventory (policies/clientco.yaml:16): route `/inventory` does not take PUT: 405 through the gateway\n",
        "  GET /reports/{report_id}: no route matches: 404 through the gateway\n",
        "Routes no operation backs:\n  GET /forecast (policies/clientco.yaml:13): no operation in the OpenAPI document serves GET /forecast",
        "Scopes that differ:\n  GET /inventory (policies/clientco.yaml:16): the operation requires read:stock; route `/inventory` requires read:inventory",
        "Alternative (OR) security requirements:\n  POST /ingest (policies/clientco.yaml:10): alternative security requirements [ingest:data] or [partner:upload]",
        "Blocked by a restriction (intended, listed for the record):\n  POST /models/train",
        "\n6 findings (1 more blocked by a restriction, as intended)\n",
    ] {
        assert!(
            report.stdout.contains(expected),
            "missing {expected:?} in {report:?}"
        );
    }

    let strict = project.run_config("coverage", &["--openapi", "openapi.json", "--strict"]);
    strict.expect_code(1);
    assert_eq!(strict.stdout, report.stdout);
    assert_eq!(
        strict.stderr,
        "error: 6 findings (--strict); only operations blocked by a restriction pass\n"
    );
}

#[test]
fn json_for_ci_bots() {
    let project = Project::clientco();
    let run = project.run_config(
        "coverage",
        &["--openapi", &fixture("drift.json"), "--format", "json"],
    );
    run.expect_code(0);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(report["failing"], 6);
    assert_eq!(report["operations"], 6);
    let findings = report["findings"].as_array().unwrap();
    let kinds: Vec<&str> = findings
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "unreachable",
            "unreachable",
            "unreachable",
            "unbacked",
            "scope_mismatch",
            "alternatives",
            "restricted"
        ]
    );
    let mismatch = &findings[4];
    assert_eq!(mismatch["methods"], serde_json::json!(["GET"]));
    assert_eq!(mismatch["path"], "/inventory");
    assert_eq!(mismatch["route"], "/inventory");
    assert_eq!(mismatch["at"], "policies/clientco.yaml:16");
    assert_eq!(mismatch["intended"], false);
    assert_eq!(findings[6]["intended"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_url_is_fetched_like_fastapi_serves_it() {
    let served = Documents::serve(vec![
        (
            "/openapi.json",
            Answer::json(&fixture_text("clientco.json")),
        ),
        (
            "/huge.json",
            Answer {
                status: 200,
                headers: vec!["Content-Length: 99999999".to_owned()],
                body: String::new(),
            },
        ),
    ])
    .await;
    let project = Project::clientco();
    let project = &project;
    let run_with = |url: String| async move {
        let args = ["--openapi", url.as_str(), "--strict"];
        project.run_config_async("coverage", &args).await
    };

    let url = served.url("/openapi.json");
    let run = run_with(url.clone()).await;
    run.expect_code(0);
    assert!(
        run.stdout.starts_with(&format!(
            "policies/clientco.yaml against {url} (SaaSCo API 1.0.0): 4 operations"
        )),
        "{run:?}"
    );

    let missing = served.url("/nope.json");
    let run = run_with(missing.clone()).await;
    run.expect_code(1);
    assert_eq!(
        run.stderr,
        format!("error: GET {missing}: HTTP 404 Not Found\n")
    );

    let huge = served.url("/huge.json");
    let run = run_with(huge.clone()).await;
    run.expect_code(1);
    assert_eq!(
        run.stderr,
        format!("error: GET {huge}: OpenAPI document larger than 16777216 bytes\n")
    );
}

#[test]
fn an_unreadable_document_says_why() {
    let project = Project::clientco();
    project.write("swagger.json", r#"{"swagger": "2.0", "paths": {}}"#);
    let run = project.run_config("coverage", &["--openapi", "swagger.json"]);
    run.expect_code(1);
    assert_eq!(
        run.stderr,
        "error: swagger.json: this is a Swagger 2.0 document; give an OpenAPI 3.0 or 3.1 one (FastAPI's /openapi.json is 3.1)\n"
    );
    let run = project.run_config("coverage", &["--openapi", "missing.json"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .starts_with("error: cannot read the OpenAPI document missing.json: No such file"),
        "{run:?}"
    );
}
