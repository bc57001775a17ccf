//! `gateway explain` on the shipped policy: what a user sees for each kind of request.
//! (`--token` needs the auth engine; its tests live with the auth work.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::bin::Project;

fn explain(method: &str, path: &str) -> String {
    let run = Project::clientco().run(&["explain", "--config", "gateway.toml", method, path]);
    run.expect_code(0);
    run.stdout
}

#[test]
fn allowed_route_shows_its_scopes_and_the_decision_with_and_without_a_token() {
    assert_eq!(
        explain("GET", "/forecast"),
        "\
request:    GET /forecast
normalised: /forecast
route:      /forecast
methods:    GET, HEAD
requires:   every one of: read:forecast
upstream:   default (http://127.0.0.1:8000/)
no token:   401 no token: every non-public request is authenticated before routing
with token: 200 route /forecast needs read:forecast: granted (a valid token granting read:forecast; try --token)
"
    );
}

#[test]
fn path_tricks_are_shown_normalised_and_land_on_the_restriction() {
    let out = explain("GET", "/forecast/%2e%2e/models/x");
    assert!(
        out.contains("normalised: /models/x\nroute:      /models/**\n"),
        "{out}"
    );
    assert!(
        out.contains("requires:   restricted by no:execute_modeling"),
        "{out}"
    );
    assert!(
        out.contains("with token: 403 this path is never reachable"),
        "{out}"
    );
}

#[test]
fn wrong_method_is_405_with_the_allowed_methods() {
    let out = explain("post", "/inventory");
    assert!(out.contains("request:    POST /inventory"), "{out}");
    assert!(
        out.contains("with token: 405 method not allowed on this path; allowed: GET, HEAD"),
        "{out}"
    );
}

#[test]
fn unknown_path_is_404_for_an_authenticated_caller() {
    let out = explain("GET", "/admin");
    assert!(out.contains("route:      none"), "{out}");
    assert!(out.contains("no token:   401"), "{out}");
    assert!(
        out.contains("with token: 404 no route matches /admin"),
        "{out}"
    );
}

#[test]
fn refused_path_is_400_and_says_why() {
    assert_eq!(
        explain("GET", "/models%2Fx"),
        "request:    GET /models%2Fx\ndecision:   400 Bad Request: path contains an encoded slash (%2F)\n"
    );
}

#[test]
fn a_broken_policy_is_reported_instead_of_explained() {
    let project = Project::clientco();
    project.edit("policies/clientco.yaml", "path: /ingest", "path: ingest");
    let run = project.run_config("explain", &["GET", "/forecast"]);
    run.expect_code(1);
    run.expect_stderr("policies/clientco.yaml:10:11: path `ingest` must start with `/`");
}
