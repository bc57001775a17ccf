//! `gateway diff` through the binary: a semantic diff of two policy versions, each change
//! classed looser, stricter or neutral, and `--fail-on looser` for CI review.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::bin::{Project, Run, repo_root};

/// The ClientCo project with `base.yaml` holding the shipped policy (the version under review
/// is the config's policy, edited by each test).
fn project() -> Project {
    let project = Project::clientco();
    let shipped = project.read("policies/clientco.yaml");
    project.write("base.yaml", &shipped);
    project
}

/// `gateway diff --config gateway.toml <args>` in `project`.
fn diff(project: &Project, args: &[&str]) -> Run {
    let mut all = vec!["diff", "--config", "gateway.toml"];
    all.extend_from_slice(args);
    project.run(&all)
}

/// The shipped multi-tenant policy.
fn tenants_policy() -> String {
    std::fs::read_to_string(repo_root().join("policies/clientco-tenants.yaml"))
        .expect("shipped tenants policy")
}

#[test]
fn a_policy_that_only_reorders_routes_is_no_change() {
    let project = project();
    let shipped = project.read("base.yaml");
    let (head, routes) = shipped.split_once("routes:\n").unwrap();
    let mut entries: Vec<String> = routes
        .split("  - ")
        .filter(|e| !e.is_empty())
        .map(|e| format!("  - {e}"))
        .collect();
    assert_eq!(entries.len(), 5);
    entries.reverse();
    project.write(
        "policies/clientco.yaml",
        &format!("{head}routes:\n{}", entries.concat()),
    );
    assert_ne!(project.read("policies/clientco.yaml"), shipped);

    let run = diff(&project, &["base.yaml", "--fail-on", "looser"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "base.yaml -> policies/clientco.yaml: no change; both decide every request the same way\n"
    );
}

#[test]
fn a_renamed_parameter_is_neutral_and_passes_the_review_gate() {
    let project = project();
    let shipped = project.read("base.yaml");
    let with_param = |name: &str| {
        shipped
            .replace("  - path: /inventory\n", &format!("  - path: /inventory/{{{name}}}\n    methods: [GET]\n    scopes: [read:inventory]\n  - path: /inventory\n"))
    };
    project.write("base.yaml", &with_param("sku"));
    project.write("policies/clientco.yaml", &with_param("item"));
    let run = diff(&project, &["base.yaml", "--fail-on", "looser"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "base.yaml -> policies/clientco.yaml: 1 change (0 looser, 0 stricter, 1 neutral)\n\
         `GET, HEAD /inventory/{item}`: path /inventory/{sku} -> /inventory/{item}: neutral, a path parameter renamed; the same requests match\n"
    );
    // `--fail-on any` counts neutral changes too.
    let any = diff(&project, &["base.yaml", "--fail-on", "any"]);
    any.expect_code(3);
}

#[test]
fn a_method_added_is_looser_and_fails_the_review_gate_with_exit_3() {
    let project = project();
    project.edit(
        "policies/clientco.yaml",
        "  - path: /forecast\n    methods: [GET]",
        "  - path: /forecast\n    methods: [GET, POST]",
    );
    let looser = "`POST /forecast`: access 405 (method not allowed) -> scopes read:forecast: looser, now reachable: a token granting read:forecast passes\n";

    let report = diff(&project, &["base.yaml"]);
    assert_eq!(
        report.code, 0,
        "without --fail-on a diff only reports: {report:?}"
    );
    assert_eq!(
        report.stdout,
        format!(
            "base.yaml -> policies/clientco.yaml: 1 change (1 looser, 0 stricter, 0 neutral)\n{looser}"
        )
    );

    let gate = diff(&project, &["base.yaml", "--fail-on", "looser"]);
    gate.expect_code(3);
    assert!(gate.stdout.ends_with(looser), "{gate:?}");
    assert_eq!(
        gate.stderr,
        "error: 1 looser change from base.yaml to policies/clientco.yaml (--fail-on); a reviewer must approve it\n"
    );

    // The other way round the same change is stricter, which the gate lets through.
    let reverse = diff(
        &project,
        &["policies/clientco.yaml", "base.yaml", "--fail-on", "looser"],
    );
    reverse.expect_code(0);
    reverse.expect_stdout("`POST /forecast`: access scopes read:forecast -> 405 (method not allowed): stricter, no longer reachable");
}

#[test]
fn shadow_mode_is_looser() {
    let project = project();
    project.edit(
        "policies/clientco.yaml",
        "    scopes: [read:inventory]\n",
        "    scopes: [read:inventory]\n    mode: shadow\n",
    );
    let run = diff(&project, &["base.yaml", "--fail-on", "looser"]);
    run.expect_code(3);
    run.expect_stdout("`GET, HEAD /inventory`: mode enforce -> shadow: looser, denied requests are now forwarded (logged as shadow_deny)\n");
    run.expect_stdout("`any method but GET, HEAD /inventory`: access 405 (method not allowed) -> 405, forwarded by shadow mode: looser");
}

#[test]
fn json_for_ci_bots() {
    let project = project();
    project.edit(
        "policies/clientco.yaml",
        "scopes: [read:forecast]",
        "scopes: []",
    );
    let run = diff(&project, &["base.yaml", "--format", "json"]);
    run.expect_code(0);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(report["old"], "base.yaml");
    assert_eq!(report["new"], "policies/clientco.yaml");
    assert_eq!(
        report["summary"],
        serde_json::json!({"looser": 1, "stricter": 0, "neutral": 0})
    );
    assert_eq!(
        report["changes"][0],
        serde_json::json!({
            "class": "looser",
            "methods": ["GET", "HEAD"],
            "path": "/forecast",
            "attribute": "scopes",
            "old": "read:forecast",
            "new": "(none)",
            "reason": "any valid token now passes",
            "text": "`GET, HEAD /forecast`: scopes read:forecast -> (none): looser, any valid token now passes",
        })
    );
}

#[test]
fn a_broken_file_is_reported_with_its_position() {
    let project = project();
    project.edits(&[
        (
            "base.yaml",
            "scopes: [read:inventory]",
            "scopes: [read:inventroy]",
        ),
        (
            "policies/clientco.yaml",
            "methods: [POST]",
            "methods: [post]",
        ),
    ]);
    let run = diff(&project, &["base.yaml"]);
    run.expect_code(1);
    assert!(run.stdout.is_empty(), "{run:?}");
    run.expect_stderr("base.yaml:18:14: `read:inventroy` is not declared under permissions; did you mean `read:inventory`?");
    assert!(
        run.stderr
            .contains("policies/clientco.yaml:11:15: method names are case-sensitive"),
        "both files' problems in one run: {run:?}"
    );
}

#[test]
fn two_explicit_files_need_no_config() {
    let run = support::bin::run_in(
        &repo_root(),
        &[
            "diff",
            "--config",
            "no-such.toml",
            "policies/clientco.yaml",
            "policies/clientco.yaml",
        ],
        &[],
    );
    run.expect_code(0);
    assert!(
        run.stdout
            .ends_with(": no change; both decide every request the same way\n"),
        "{run:?}"
    );
}

#[test]
fn the_policy_tools_help_has_an_example_and_config_only_where_it_is_read() {
    for (subcommand, reads_config) in [("diff", true), ("coverage", true), ("init", false)] {
        let run = support::bin::run_in(&repo_root(), &[subcommand, "--help"], &[]);
        run.expect_code(0);
        run.expect_stdout("Example");
        assert_eq!(
            run.stdout.contains("--config <FILE>"),
            reads_config,
            "{run:?}"
        );
    }
    let diff = support::bin::run_in(&repo_root(), &["diff", "--help"], &[]);
    assert!(diff.stdout.contains("--fail-on <CHANGE>"), "{diff:?}");
    assert!(
        diff.stdout.contains("[possible values: looser, any]"),
        "{diff:?}"
    );
}

/// The multi-tenant example as `base.yaml` and, as the version under review, the same file
/// with `from` replaced by `to`; the review gate's run (`--fail-on looser`).
fn tenants_edited(from: &str, to: &str) -> Run {
    let project = Project::clientco();
    let shipped = tenants_policy();
    project.write("base.yaml", &shipped);
    project.write("new.yaml", &shipped);
    project.edit("new.yaml", from, to);
    project.run(&["diff", "base.yaml", "new.yaml", "--fail-on", "looser"])
}

/// The one change line of a run, after its summary line.
fn only_change(run: &Run) -> &str {
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{run:?}");
    lines[1]
}

#[test]
fn a_dropped_tenant_condition_is_looser_and_fails_the_review_gate() {
    let run = tenants_edited(
        "    when:\n      - claim: org_id\n        equals: \"{org}\"\n      - claim: https://saasco/regions",
        "    when:\n      - claim: https://saasco/regions",
    );
    run.expect_code(3);
    assert_eq!(
        only_change(&run),
        "`GET, HEAD /tenants/{org}/inventory`: when org_id equals \"{org}\" and https://saasco/regions contains \"eu\" -> https://saasco/regions contains \"eu\": looser, no longer required: org_id equals \"{org}\""
    );
}

#[test]
fn a_client_added_to_a_condition_is_looser_and_a_new_register_entry_neutral() {
    let run = tenants_edited(
        "        in: [clientco]  ",
        "        in: [clientco, clientco-readonly]  ",
    );
    run.expect_code(3);
    assert!(
        only_change(&run).starts_with("`POST /tenants/{org}/ingest`: when "),
        "{run:?}"
    );
    assert!(
        only_change(&run)
            .contains(": looser, a token the old conditions refused now passes if it meets "),
        "{run:?}"
    );
    let register = tenants_edited(
        "  clientco-readonly: ClientCo reporting (forecast only)\n",
        "  clientco-readonly: ClientCo reporting (forecast only)\n  clientco-audit: ClientCo auditors\n",
    );
    register.expect_code(0);
    assert_eq!(
        only_change(&register),
        "`client clientco-audit`: declaration (absent) -> \"ClientCo auditors\": neutral, declared; it grants nothing until a condition names it"
    );
}

#[test]
fn an_issuer_added_is_looser() {
    let base = "    methods: [GET]\n    scopes: [read:forecast]\n    when:";
    let restricted = tenants_edited(
        base,
        &base.replace("    when:", "    issuers: [prod]\n    when:"),
    );
    assert_eq!(
        restricted.code, 0,
        "stricter passes the gate: {restricted:?}"
    );
    assert!(
        only_change(&restricted).ends_with("issuers (any configured issuer) -> prod: stricter, only a token from prod now passes (403 for the others)"),
        "{restricted:?}"
    );
    let project = Project::clientco();
    let shipped = tenants_policy();
    let one = shipped.replace(
        base,
        &base.replace("    when:", "    issuers: [prod]\n    when:"),
    );
    project.write("base.yaml", &one);
    project.write(
        "new.yaml",
        &one.replace("issuers: [prod]", "issuers: [prod, staging]"),
    );
    let run = project.run(&["diff", "base.yaml", "new.yaml", "--fail-on", "looser"]);
    run.expect_code(3);
    assert_eq!(
        only_change(&run),
        "`GET, HEAD /tenants/{org}/forecast`: issuers prod -> prod staging: looser, a token from staging now passes"
    );
}

#[test]
fn a_binding_weakened_is_looser() {
    let base = "  - path: /forecast\n    methods: [GET]\n    scopes: [read:forecast]\n";
    let project = Project::clientco();
    let shipped = tenants_policy();
    let bound = |b: &str| shipped.replace(base, &format!("{base}    binding: {b}\n"));
    project.write("base.yaml", &bound("dpop"));
    project.write("new.yaml", &bound("any"));
    let run = project.run(&["diff", "base.yaml", "new.yaml", "--fail-on", "looser"]);
    run.expect_code(3);
    assert_eq!(
        only_change(&run),
        "`GET, HEAD /forecast`: binding dpop -> any: looser, a certificate-bound token now passes"
    );
    let reverse = project.run(&["diff", "new.yaml", "base.yaml", "--fail-on", "looser"]);
    reverse.expect_code(0);
    assert!(
        only_change(&reverse).contains(": stricter, "),
        "{reverse:?}"
    );
}

#[test]
fn websocket_turned_on_is_looser() {
    let base = "  - path: /forecast\n    methods: [GET]\n    scopes: [read:forecast]\n";
    let run = tenants_edited(base, &format!("{base}    websocket: true\n"));
    run.expect_code(3);
    assert_eq!(
        only_change(&run),
        "`GET, HEAD /forecast`: websocket false -> true: looser, WebSocket upgrades are now tunnelled after the upstream's 101; the tunnel's bytes are not judged"
    );
}
