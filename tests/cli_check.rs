//! `gateway check` on real files: the shipped ones pass, each kind of mistake is reported
//! with its file:line:column and a fix, and all problems come out of one run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::bin::Project;

#[test]
fn shipped_configuration_and_policy_pass() {
    let run = Project::clientco().run(&["check", "--config", "gateway.toml"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "ok: gateway.toml and policies/clientco.yaml are valid (5 routes, 3 scopes, 2 restrictions)\n"
    );
}

#[test]
fn config_comes_from_gateway_config_variable() {
    let project = Project::clientco();
    let config = project.path("gateway.toml");
    let run = project.run_with_env(&["check"], &[("GATEWAY_CONFIG", config.to_str().unwrap())]);
    run.expect_code(0);
}

#[test]
fn undeclared_scope_points_at_it_and_suggests_the_right_one() {
    let project = Project::clientco();
    project.edit(
        "policies/clientco.yaml",
        "scopes: [read:inventory]",
        "scopes: [read:inventroy]",
    );
    let run = project.run_config("check", &[]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "policies/clientco.yaml:18:14: `read:inventroy` is not declared under permissions; did you mean `read:inventory`?"
        ),
        "{run:?}"
    );
    assert!(run.stderr.ends_with("1 problem found\n"), "{run:?}");
}

#[test]
fn each_policy_error_kind_has_its_position() {
    let project = Project::clientco();
    project.write(
        "policies/clientco.yaml",
        "\
permissions:
  read:x: X
restrictions:
  no:y: Y
routes:
  - path: forecast
    scopes: [read:x]
  - path: /a
    scopes: [read:x]
    restricted: no:y
  - path: /b
    restricted: no:z
  - path: /c
    scopes: [read:x]
    methds: [GET]
  - path: /d/**/e
    scopes: [read:x]
  - path: /e/{}
    scopes: [read:x]
  - path: '/g/{y}'
    scopes: [read:x]
  - path: '/g/{z}'
    methods: [GET]
    scopes: [read:x]
",
    );
    let run = project.run_config("check", &[]);
    run.expect_code(1);
    let expected = [
        "policies/clientco.yaml:6:11: path `forecast` must start with `/`",
        "policies/clientco.yaml:10:5: a route has either `scopes` or `restricted`, not both",
        "policies/clientco.yaml:12:17: `no:z` is not declared under `restrictions`; did you mean `no:y`?",
        "policies/clientco.yaml:15:5: unknown key `methds` in a route; did you mean `methods`?",
        "policies/clientco.yaml:16:11: in path `/d/**/e`: `**` matches the rest of the path, so it can only be the last segment",
        "policies/clientco.yaml:18:11: in path `/e/{}`: `{}` needs a name",
        "policies/clientco.yaml:22:11: route `/g/{z}` is ambiguous with `/g/{y}` (line 20)",
    ];
    let lines: Vec<&str> = run.stderr.lines().collect();
    for e in expected {
        assert!(
            lines.iter().any(|l| l.starts_with(e)),
            "missing {e:?}\n{run:?}"
        );
    }
    assert_eq!(lines.last(), Some(&"7 problems found"), "{run:?}");
}

#[test]
fn yaml_syntax_error_has_its_position() {
    let project = Project::clientco();
    project.edit(
        "policies/clientco.yaml",
        "    methods: [POST]",
        "    methods: [POST",
    );
    let run = project.run_config("check", &[]);
    run.expect_code(1);
    assert!(
        run.stderr.starts_with(
            "policies/clientco.yaml:12:11: not valid YAML: did not find expected ',' or ']'"
        ),
        "{run:?}"
    );
    run.expect_stderr("not valid YAML");
}

#[test]
fn config_and_policy_problems_come_out_of_one_run() {
    let project = Project::clientco();
    project.edits(&[
        (
            "gateway.toml",
            "[upstream]\n",
            "[upstream]\ntimeout = \"5s\"\n",
        ),
        (
            "gateway.toml",
            "listen = \"127.0.0.1:9901\"",
            "listen = \"localhost\"",
        ),
        (
            "policies/clientco.yaml",
            "scopes: [ingest:data]",
            "scopes: [ingest:dat]",
        ),
    ]);
    let run = project.run_config("check", &[]);
    run.expect_code(1);
    run.expect_stderr("gateway.toml:23:1: unknown key `timeout` in [upstream] (known: url, endpoints, discover, scheme, resolve_every, dns_server, balance, connect_timeout, request_timeout, max_in_flight, assertion_audience, eject, health, retry)");
    run.expect_stderr("policies/clientco.yaml:12:14: `ingest:dat` is not declared under permissions; did you mean `ingest:data`?");
}

#[test]
fn config_value_errors_are_all_reported() {
    let project = Project::clientco();
    project.edits(&[
        (
            "gateway.toml",
            "listen = \"127.0.0.1:9901\"",
            "listen = \"localhost\"",
        ),
        ("gateway.toml", "# leeway = \"30s\"", "leeway = \"30\""),
        (
            "gateway.toml",
            "# algorithms = [\"RS256\"]",
            "algorithms = [\"HS256\"]",
        ),
        (
            "gateway.toml",
            "file = \"policies/clientco.yaml\"",
            "file = \"policies/missing.yaml\"",
        ),
    ]);
    let run = project.run_config("check", &[]);
    run.expect_code(1);
    for expected in [
        "gateway.toml:20:10: `admin.listen`: `localhost` is not an IP address and port",
        "gateway.toml:31:14: `auth.algorithms`: `HS256` is refused",
        "gateway.toml:32:10: `auth.leeway`: `30` has no unit",
        "gateway.toml:41:8: `policy.file`: file `",
    ] {
        assert!(
            run.stderr.contains(expected),
            "missing {expected:?}\n{run:?}"
        );
    }
    assert!(run.stderr.ends_with("4 problems found\n"), "{run:?}");
}

#[test]
fn environment_override_fixes_or_breaks_the_config() {
    let project = Project::clientco();
    project.edit(
        "gateway.toml",
        "audience = \"https://clientco/api\"",
        "audience = \"\"",
    );
    let broken = project.run_config("check", &[]);
    broken.expect_code(1);
    broken.expect_stderr("`auth.audience`: must not be empty");
    let fixed = project.run_with_env(
        &["check", "--config", "gateway.toml"],
        &[("GATEWAY_AUTH_AUDIENCE", "https://clientco/api")],
    );
    fixed.expect_code(0);
    let bad = Project::clientco().run_with_env(
        &["check", "--config", "gateway.toml"],
        &[("GATEWAY_SERVER_MAX_CONNECTIONS", "lots")],
    );
    bad.expect_code(1);
    bad.expect_stderr("environment variable GATEWAY_SERVER_MAX_CONNECTIONS (overrides `server.max_connections`): `lots` is not a whole number");
}

#[test]
fn missing_config_file_says_how_to_point_at_one() {
    let run = Project::empty().run(&["check", "--config", "nope.toml"]);
    run.expect_code(1);
    run.expect_stderr("nope.toml: cannot read the configuration");
    run.expect_stderr("GATEWAY_CONFIG");
}

#[test]
fn a_misspelt_override_is_an_error_not_silence() {
    let run = Project::clientco().run_with_env(
        &["check", "--config", "gateway.toml"],
        &[("GATEWAY_AUTH_AUDEINCE", "https://other/api")],
    );
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "gateway.toml: environment variable GATEWAY_AUTH_AUDEINCE overrides no setting; did you mean `GATEWAY_AUTH_AUDIENCE`?"
        ),
        "{run:?}"
    );
}
