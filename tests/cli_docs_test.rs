//! `gateway docs` and `gateway test` on real files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::bin::{Project, repo_root, run_repo};

#[test]
fn committed_trust_boundaries_match_the_shipped_policy() {
    let run = run_repo("docs", &["--check"]);
    run.expect_code(0);
}

#[test]
fn shipped_policy_tests_pass() {
    let run = run_repo("test", &["policies/clientco.tests.yaml"]);
    run.expect_code(0);
    assert!(run.stdout.ends_with(" passed, 0 failed\n"), "{run:?}");
}

#[test]
fn docs_writes_beside_the_config_then_check_catches_drift() {
    let project = Project::clientco();
    let missing = project.run_config("docs", &["--check"]);
    missing.expect_code(1);

    let wrote = project.run_config("docs", &[]);
    wrote.expect_code(0);
    assert_eq!(wrote.stdout, "wrote docs/trust_boundaries.md\n");
    assert_eq!(
        project.read("docs/trust_boundaries.md"),
        std::fs::read_to_string(repo_root().join("docs/trust_boundaries.md")).unwrap()
    );
    let clean = project.run_config("docs", &["--check"]);
    clean.expect_code(0);

    project.edit(
        "policies/clientco.yaml",
        "read:forecast: Retrieve demand forecast",
        "read:forecast: Read the forecast",
    );
    let drift = project.run_config("docs", &["--check"]);
    drift.expect_code(1);
    drift.expect_stderr("docs/trust_boundaries.md is out of date with policies/clientco.yaml; run `gateway docs --config gateway.toml`");
    // The first line that differs is the narrative's, which names each scope's meaning (the
    // scopes table further down differs too).
    assert!(
        drift.stderr.contains(
            "  expected: - `/forecast` (GET, HEAD) with `read:forecast` (Read the forecast), on any data."
        ),
        "{drift:?}"
    );
    assert!(
        drift.stderr.contains(
            "  found:    - `/forecast` (GET, HEAD) with `read:forecast` (Retrieve demand forecast), on any data."
        ),
        "{drift:?}"
    );
}

#[test]
fn docs_output_flag_writes_elsewhere() {
    let project = Project::clientco();
    let run = project.run_config("docs", &["--output", "out/tb.md"]);
    run.expect_code(0);
    assert!(
        project
            .read("out/tb.md")
            .starts_with("# Trust boundaries\n")
    );
}

#[test]
fn failing_cases_show_expected_and_got_and_why() {
    let project = Project::clientco();
    project.write(
        "cases.yaml",
        "\
- {name: forecast ok, method: GET, path: /forecast, scopes: [read:forecast], status: 200}
- {name: wrongly expects access, method: GET, path: /forecast, scopes: [read:inventory], status: 200}
- {method: GET, path: /pipeline/x, scopes: [ingest:data], status: 200}
- {name: anonymous, method: GET, path: /forecast, status: 200}
",
    );
    let run = project.run_config("test", &["cases.yaml"]);
    run.expect_code(1);
    assert_eq!(
        run.stdout,
        "\
FAIL wrongly expects access: GET /forecast with scopes [read:inventory]: expected 200, got 403 (missing scope read:forecast)
FAIL GET /pipeline/x: GET /pipeline/x with scopes [ingest:data]: expected 200, got 403 (this path is never reachable through the gateway (no:modify_pipeline))
FAIL anonymous: GET /forecast with no token: expected 200, got 401 (no token: every non-public request is authenticated before routing)
1 passed, 3 failed
"
    );
}

#[test]
fn a_malformed_cases_file_points_at_the_problem() {
    let project = Project::clientco();
    project.write(
        "cases.yaml",
        "- {method: GET, path: /forecast, stauts: 200}\n",
    );
    let run = project.run_config("test", &["cases.yaml"]);
    run.expect_code(1);
    assert!(run.stderr.starts_with("cases.yaml:1:"), "{run:?}");
    run.expect_stderr("unknown field `stauts`");
}

#[test]
fn policy_changes_are_caught_by_the_shipped_cases() {
    // Someone widens the forecast route to every method: the shipped cases must notice.
    let run = Project::clientco()
        .edit(
            "policies/clientco.yaml",
            "    methods: [GET]\n    scopes: [read:forecast]",
            "    scopes: [read:forecast]",
        )
        .run_config("test", &["policies/clientco.tests.yaml"]);
    run.expect_code(1);
    run.expect_stdout("FAIL forecast is read-only: POST /forecast with scopes [read:forecast]: expected 405, got 200");
}
