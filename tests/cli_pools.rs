//! Each route's pool in the policy tooling, through the binary: `explain` names the pool a
//! request goes to (`default` when the route names none), `docs` gains a pool column only when
//! the policy names a pool, `check` lists the routes of each pool, and `diff` reports a change
//! of pool as neutral.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::bin::Project;

const FORECAST_POOL: &str =
    "\n[upstreams.forecast]\nendpoints = [\"http://10.0.1.5:8000\", \"http://10.0.1.6:8000\"]\n";

/// The ClientCo project with a `forecast` pool that `/forecast` names; the shipped policy is
/// kept as `base.yaml` for `diff`.
fn project() -> Project {
    let project = Project::clientco();
    let shipped = project.read("policies/clientco.yaml");
    project.write("base.yaml", &shipped);
    let config = project.read("gateway.toml");
    project.write("gateway.toml", &format!("{config}{FORECAST_POOL}"));
    project.edit(
        "policies/clientco.yaml",
        "    scopes: [read:forecast]\n",
        "    scopes: [read:forecast]\n    upstream: forecast\n",
    );
    project
}

#[test]
fn explain_names_the_pool_a_request_goes_to() {
    let project = project();
    let forecast = project.run_config("explain", &["GET", "/forecast"]);
    forecast.expect_code(0).expect_stdout(
        "requires:   every one of: read:forecast\nupstream:   forecast (http://10.0.1.5:8000/ http://10.0.1.6:8000/)\n",
    );
    let inventory = project.run_config("explain", &["GET", "/inventory"]);
    inventory
        .expect_code(0)
        .expect_stdout("upstream:   default (http://127.0.0.1:8000/)\n");
    // A restricted route forwards nothing, so it names no pool.
    let models = project.run_config("explain", &["GET", "/models/x"]);
    assert!(!models.stdout.contains("upstream:"), "{models:?}");
}

#[test]
fn docs_gain_a_pool_column_only_when_the_policy_names_a_pool() {
    let project = project();
    project.run_config("docs", &[]).expect_code(0);
    let docs = project.read("docs/trust_boundaries.md");
    assert!(
        docs.contains(
            "| route | methods | requires | mode | public | pool |\n|---|---|---|---|---|---|\n"
        ),
        "{docs}"
    );
    assert!(
        docs.contains(
            "| `/forecast` | GET, HEAD | `read:forecast` | enforce | no | `forecast` |\n"
        ),
        "{docs}"
    );
    assert!(
        docs.contains(
            "| `/inventory` | GET, HEAD | `read:inventory` | enforce | no | `default` |\n"
        ),
        "{docs}"
    );

    // The shipped policy names no pool: its page is the committed one, byte for byte.
    let shipped = Project::clientco();
    shipped.run_config("docs", &[]).expect_code(0);
    let plain = shipped.read("docs/trust_boundaries.md");
    assert!(
        plain.contains("| route | methods | requires | mode | public |\n|---|---|---|---|---|\n"),
        "{plain}"
    );
    assert!(!plain.contains("pool"), "{plain}");
    let committed =
        std::fs::read_to_string(support::bin::repo_root().join("docs/trust_boundaries.md"))
            .unwrap();
    assert_eq!(plain, committed);
}

#[test]
fn check_lists_the_routes_of_each_pool() {
    let project = project();
    let run = project.run_config("check", &["--offline"]);
    run.expect_code(0).expect_stdout(
        "2 upstream pools (a route's `upstream:` picks one; without it, `default`):\n  \
         default   http://127.0.0.1:8000/  routes /ingest, /inventory, /models/**, /pipeline/**\n  \
         forecast  http://10.0.1.5:8000/ http://10.0.1.6:8000/  route /forecast\n",
    );
    // One pool: nothing more than before.
    let shipped = Project::clientco().run_config("check", &["--offline"]);
    assert!(!shipped.stdout.contains("pool"), "{shipped:?}");
}

#[test]
fn diff_reports_a_change_of_pool_as_neutral() {
    let project = project();
    let run = project.run_config("diff", &["base.yaml", "--fail-on", "looser"]);
    run.expect_code(0).expect_stdout(
        "`GET, HEAD /forecast`: upstream default -> forecast: neutral, forwarded to another pool; who may call it is unchanged",
    );
    run.expect_stdout("1 change (0 looser, 0 stricter, 1 neutral)");
}
