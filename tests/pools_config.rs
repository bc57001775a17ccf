//! Bad upstream pools in gateway.toml and the policy, as `gateway check` reports them: every
//! problem in one run, each at its file:line with the fix.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::bin::{Project, Run};

const POOLS: &str = r#"
[upstreams.forecast]
endpoints = ["http://10.0.1.5:8000", "http://10.0.1.6:8000"]
discover = "forecast.saasco.svc.cluster.local:8000"

[upstreams.inventory]
endpoints = ["ftp://10.0.1.7:8000"]

[upstreams.ingest]
url = "http://10.0.1.8:8000"
balance = "random"

[upstreams.ingest.retry]
attempts = 0
budget = "150%"
"#;

#[test]
fn every_bad_pool_key_and_an_unknown_pool_come_out_of_one_run_with_the_fix() {
    let (run, toml_lines) = check_with_pools(POOLS, "forcast");
    run.expect_code(1);
    let line_of =
        |needle: &str| toml_lines + POOLS.lines().position(|l| l.starts_with(needle)).unwrap() + 1;
    for expected in [
        format!(
            "gateway.toml:{}:12: `upstreams.forecast.discover`: a pool's endpoints are either listed",
            line_of("discover")
        ),
        format!(
            "gateway.toml:{}:13: `upstreams.inventory.endpoints`: entry 1 `ftp://10.0.1.7:8000` is not an http:// or https:// URL",
            line_of("endpoints = [\"ftp")
        ),
        format!(
            "gateway.toml:{}:11: `upstreams.ingest.balance`: `random` is not a way to balance",
            line_of("balance")
        ),
        format!(
            "gateway.toml:{}:12: `upstreams.ingest.retry.attempts`: `0` would never send the request",
            line_of("attempts")
        ),
        format!(
            "gateway.toml:{}:10: `upstreams.ingest.retry.budget`: `150%` would let retries outnumber requests",
            line_of("budget")
        ),
        "policies/clientco.yaml:16:15: `forcast` is not an upstream pool of this gateway; did you mean `forecast`?".to_owned(),
    ] {
        assert!(run.stderr.contains(&expected), "missing {expected:?} in {run:?}");
    }
    assert!(run.stderr.contains("6 problems found"), "{run:?}");
}

#[test]
fn a_good_pool_and_a_route_naming_it_pass() {
    let (run, _) = check_with_pools(
        "\n[upstreams.forecast]\nendpoints = [\"http://10.0.1.5:8000\", \"http://10.0.1.6:8000\"]\nbalance = \"round_robin\"\n[upstreams.forecast.eject]\nmax_percent = 34\n[upstreams.forecast.retry]\nbudget = \"10%\"\n",
        "forecast",
    );
    run.expect_code(0);
}

/// `gateway check` on the ClientCo project with `pools` appended to its gateway.toml and the
/// /forecast route sent to `upstream`; also the line count of gateway.toml before the pools.
fn check_with_pools(pools: &str, upstream: &str) -> (Run, usize) {
    let project = Project::clientco();
    let toml = project.read("gateway.toml");
    project.write("gateway.toml", &format!("{toml}{pools}"));
    project.edit(
        "policies/clientco.yaml",
        "    scopes: [read:forecast]\n",
        &format!("    scopes: [read:forecast]\n    upstream: {upstream}\n"),
    );
    (project.run_config("check", &[]), toml.lines().count())
}

#[test]
fn without_a_default_pool_a_restricted_route_needs_no_upstream_unless_it_forwards_in_shadow_mode() {
    let project = Project::clientco();
    project.edit("gateway.toml", "[upstream]\n", "[upstreams.api]\n");
    for scope in ["ingest:data", "read:forecast", "read:inventory"] {
        let line = format!("    scopes: [{scope}]");
        project.edit(
            "policies/clientco.yaml",
            &line,
            &format!("{line}\n    upstream: api"),
        );
    }
    // /models/** and /pipeline/** are refused at the gateway, so they name no pool.
    project.run_config("check", &[]).expect_code(0);
    // In shadow mode a restricted route forwards what it would refuse: it needs a pool.
    let restricted = "    restricted: no:execute_modeling";
    let shadow = format!("{restricted}\n    mode: shadow");
    project.edit("policies/clientco.yaml", restricted, &shadow);
    let run = project.run_config("check", &[]);
    let missing = "route `/models/**` names no `upstream:` and gateway.toml has no [upstream]";
    assert!(run.expect_code(1).says(missing), "{run:?}");
    assert!(!run.says("/pipeline/**"), "{run:?}");
}
