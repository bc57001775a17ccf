//! `gateway test` on a cases file that names its policy (`policy: FILE`, then `cases:`): the
//! obvious command decides against that policy and says so first; `GATEWAY_POLICY_FILE` wins and
//! says so too; a `policy:` that names nothing usable is an error at its line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::bin::{Project, run_repo, run_repo_env};

const TENANTS_CASES: &str = "policies/clientco-tenants.tests.yaml";

fn test_cases(project: &Project, cases: &str) -> support::bin::Run {
    project.run_config("test", &[cases])
}

#[test]
fn the_tenant_cases_pass_as_written_and_the_first_line_names_their_policy() {
    let run = run_repo("test", &[TENANTS_CASES]);
    run.expect_code(0);
    assert!(
        run.stdout.starts_with(
            "policy: policies/clientco-tenants.yaml (named by policies/clientco-tenants.tests.yaml)\n"
        ),
        "{run:?}"
    );
    assert!(run.stdout.ends_with(" passed, 0 failed\n"), "{run:?}");
}

#[test]
fn the_clientco_cases_name_the_config_policy_and_still_pass() {
    let run = run_repo("test", &["policies/clientco.tests.yaml"]);
    run.expect_code(0);
    assert!(
        run.stdout.starts_with(
            "policy: policies/clientco.yaml (named by policies/clientco.tests.yaml)\n"
        ),
        "{run:?}"
    );
}

#[test]
fn gateway_policy_file_wins_over_the_cases_file_and_says_so() {
    let run = run_repo_env(
        "test",
        &[TENANTS_CASES],
        &[("GATEWAY_POLICY_FILE", "policies/clientco.yaml")],
    );
    // The tenant paths are not in clientco.yaml: the cases fail, and the first line says why.
    run.expect_code(1);
    assert!(
        run.stdout.starts_with(
            "policy: policies/clientco.yaml (GATEWAY_POLICY_FILE, which wins over \
             `policy: clientco-tenants.yaml` in policies/clientco-tenants.tests.yaml)\n"
        ),
        "{run:?}"
    );
    run.expect_stdout("expected 200, got 404 (no route matches /tenants/org_clientco/forecast)");
}

#[test]
fn a_list_without_policy_is_judged_against_the_config_policy_without_a_first_line() {
    let project = Project::clientco();
    project.write(
        "cases.yaml",
        "- {method: GET, path: /forecast, scopes: [read:forecast], status: 200}\n",
    );
    let run = test_cases(&project, "cases.yaml");
    run.expect_code(0);
    assert_eq!(run.stdout, "1 passed, 0 failed\n", "{run:?}");
}

#[test]
fn the_named_policy_is_relative_to_the_cases_file_not_the_working_folder() {
    let project = Project::clientco();
    project.write(
        "suites/other.yaml",
        "permissions:\n  read:other: Other\nroutes:\n  - path: /other\n    methods: [GET]\n    scopes: [read:other]\n",
    );
    project.write(
        "suites/other.tests.yaml",
        "policy: other.yaml\ncases:\n\
         - {method: GET, path: /other, scopes: [read:other], status: 200}\n\
         - {method: GET, path: /forecast, scopes: [read:forecast], status: 404}\n",
    );
    let run = test_cases(&project, "suites/other.tests.yaml");
    assert_eq!(
        run.stdout,
        "policy: suites/other.yaml (named by suites/other.tests.yaml)\n2 passed, 0 failed\n",
        "{run:?}"
    );
    run.expect_code(0);
}

#[test]
fn a_policy_that_is_not_there_is_an_error_at_its_line_and_no_case_runs() {
    let project = Project::clientco();
    project.write("policies/clientco-tenants.yaml", "routes: []\n");
    project.write(
        "policies/x.tests.yaml",
        "# cases for the tenants\npolicy: clientco-tenant.yaml\ncases:\n\
         - {method: GET, path: /forecast, scopes: [read:forecast], status: 200}\n",
    );
    let run = test_cases(&project, "policies/x.tests.yaml");
    run.expect_code(1);
    assert_eq!(run.stdout, "", "{run:?}");
    assert!(
        run.stderr.starts_with(
            "policies/x.tests.yaml:2:9: `policy: clientco-tenant.yaml` names \
             policies/clientco-tenant.yaml, which is not a file (the path is relative to the \
             cases file's folder); did you mean `clientco-tenants.yaml`?\n"
        ),
        "{run:?}"
    );
}

#[test]
fn a_named_policy_that_does_not_load_shows_its_problems_then_the_policy_line() {
    let project = Project::clientco();
    project.write(
        "broken.yaml",
        "permissions:\n  read:x: X\nroutes:\n  - path: /x\n    methods: [GET]\n    scopes: [read:y]\n",
    );
    project.write(
        "cases.yaml",
        "policy: broken.yaml\ncases:\n- {method: GET, path: /x, scopes: [read:x], status: 200}\n",
    );
    let run = test_cases(&project, "cases.yaml");
    run.expect_code(1);
    assert_eq!(run.stdout, "", "{run:?}");
    assert!(run.stderr.starts_with("broken.yaml:6:"), "{run:?}");
    assert!(
        run.stderr.contains(
            "cases.yaml:1:9: the policy this file names, broken.yaml, does not load (the problems above)"
        ),
        "{run:?}"
    );
}

#[test]
fn mistakes_in_the_named_form_point_at_the_line_and_the_fix() {
    let project = Project::clientco();
    project.write(
        "typo.yaml",
        "polcy: policies/clientco.yaml\ncases:\n- {method: GET, path: /forecast, status: 401}\n",
    );
    let run = test_cases(&project, "typo.yaml");
    run.expect_code(1);
    assert!(run.stderr.starts_with("typo.yaml:1:"), "{run:?}");
    run.expect_stderr("unknown key `polcy`; did you mean `policy`?");

    project.write(
        "nocases.yaml",
        "policy: policies/clientco.yaml\n- {method: GET, path: /forecast, status: 401}\n",
    );
    let run = test_cases(&project, "nocases.yaml");
    run.expect_code(1);
    assert!(run.stderr.starts_with("nocases.yaml:"), "{run:?}");

    project.write("missing.yaml", "policy: policies/clientco.yaml\n");
    let run = test_cases(&project, "missing.yaml");
    run.expect_code(1);
    run.expect_stderr("a cases file that begins with `policy:` lists its cases under `cases:`");

    project.write(
        "field.yaml",
        "policy: policies/clientco.yaml\ncases:\n\
         - {method: GET, path: /forecast, scopes: [read:forecast], status: 200}\n\
         - {method: GET, path: /forecast, scope: [read:forecast], status: 200}\n",
    );
    let run = test_cases(&project, "field.yaml");
    run.expect_code(1);
    assert!(run.stderr.starts_with("field.yaml:4:"), "{run:?}");
    run.expect_stderr("case 2: unknown field `scope`; did you mean `scopes`?");

    project.write(
        "claims.yaml",
        "policy: policies/clientco.yaml\ncases:\n\
         - {method: GET, path: /forecast, claims: {scope: read:forecast}, status: 200}\n",
    );
    let run = test_cases(&project, "claims.yaml");
    run.expect_code(1);
    assert!(run.stderr.starts_with("claims.yaml:3:"), "{run:?}");
}

#[test]
fn explain_names_the_policy_when_no_route_matches() {
    let run = run_repo("explain", &["GET", "/tenants/clientco/forecast"]);
    run.expect_code(0);
    run.expect_stdout("route:      none (no route of policies/clientco.yaml matches this path");
}
