//! Tenant isolation through the built binary: `gateway serve` on the shipped multi-tenant policy
//! (a cross-tenant call refused and logged as `condition_failed`), `gateway check` pointing at
//! every condition mistake with file:line:column, `gateway test` cases with `claims:`, and
//! `gateway explain --token` printing each condition with its outcome.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::json;
use support::backend::Backend;
use support::bin::{Project, Serving, repo_root, run_repo_env};
use support::gateway::claims;
use support::issuer::spawn_issuer;

const TENANTS_POLICY: &str = "policies/clientco-tenants.yaml";
const TENANTS_CASES: &str = "policies/clientco-tenants.tests.yaml";
const TENANT: &str = "org_id";

/// A folder with a gateway.toml for `issuer` and `upstream` and the shipped tenants policy.
fn tenants_project(issuer: &str, jwks: &str, upstream: &str) -> Project {
    let project = Project::empty();
    project.write(
        "gateway.toml",
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
             [upstream]\nurl = \"{upstream}\"\n[auth]\nissuer = \"{issuer}\"\n\
             audience = \"https://clientco/api\"\njwks_url = \"{jwks}\"\n\
             [policy]\nfile = \"{TENANTS_POLICY}\"\n"
        ),
    );
    for file in [TENANTS_POLICY, TENANTS_CASES] {
        project.write(
            file,
            &std::fs::read_to_string(repo_root().join(file)).unwrap(),
        );
    }
    project
}

#[tokio::test]
async fn the_binary_refuses_a_cross_tenant_call_and_logs_condition_failed() {
    let issuer = spawn_issuer().await;
    let backend = Backend::start().await;
    let project = tenants_project(&issuer.issuer_url(), &issuer.jwks_url(), &backend.url());
    let served = Serving::project(&project, &[]);
    served.wait_ready().await;

    let mut minted = claims(&issuer.issuer_url(), "read:forecast");
    minted[TENANT] = json!("org_clientco");
    let token = issuer.mint(&minted);

    let own = served
        .get_as("/tenants/org_clientco/forecast", &token, "own-tenant")
        .await;
    assert_eq!(own.status(), 200);
    let line = served.request_line("own-tenant");
    assert_eq!(line["decision"], "allow");

    let other = served
        .get_as("/tenants/org_globex/forecast", &token, "other-tenant")
        .await;
    assert_eq!(other.status(), 403);
    let body: serde_json::Value = other.json().await.unwrap();
    assert_eq!(body["error"], "access_denied", "{body}");
    let line = served.request_line("other-tenant");
    assert_eq!(line["decision"], "deny");
    assert_eq!(line["reason"], "condition_failed");
    assert_eq!(line["route"], "/tenants/{org}/forecast");
    assert_eq!(line["status"], 403);
    assert_eq!(
        backend.seen().len(),
        1,
        "only the own-tenant call was forwarded"
    );
}

#[test]
fn check_points_at_every_condition_mistake() {
    let project = Project::clientco();
    project.edits(&[
        ("policies/clientco.yaml", "    scopes: [read:inventory]\n", "    scopes: [read:inventory]\n    when:\n      - {claim: azp, in: [clientco-prd]}\n      - {claim: t, equal: x}\n  - path: /tenants/{tenant}/forecast\n    scopes: [read:forecast]\n    when:\n      - {claim: t, equals: '{tenat}'}\n      - {claim: t, equals: a, contains: b}\n      - {claim: t, in: []}\n  - path: /status\n    public: true\n    when: [{claim: t, equals: x}]\n"),
        ("policies/clientco.yaml", "routes:\n", "clients:\n  clientco-prod: ClientCo production\nroutes:\n"),
    ]);
    let run = project.run_config("check", &[]);
    run.expect_code(1);
    for expected in [
        "policies/clientco.yaml:22:27: `clientco-prd` is not a client declared under `clients`; did you mean `clientco-prod`?",
        "policies/clientco.yaml:23:20: unknown operator `equal` in a condition; did you mean `equals`?",
        "policies/clientco.yaml:27:28: `{tenat}` is not a parameter of path `/tenants/{tenant}/forecast`; did you mean `{tenant}`?",
        "policies/clientco.yaml:28:31: a condition has one operator, this one has `equals` and `contains`",
        "policies/clientco.yaml:29:24: an empty `in` never holds",
        "policies/clientco.yaml:32:5: a public route cannot have `when` conditions",
    ] {
        assert!(
            run.stderr.contains(expected),
            "missing {expected:?}\n{run:?}"
        );
    }
}

#[test]
fn the_shipped_tenant_cases_pass_and_claims_cannot_carry_scopes() {
    let run = run_repo_env(
        "test",
        &[TENANTS_CASES],
        &[("GATEWAY_POLICY_FILE", TENANTS_POLICY)],
    );
    run.expect_code(0);
    assert!(run.stdout.ends_with(" passed, 0 failed\n"), "{run:?}");

    let project = tenants_project(
        "https://issuer.test/",
        "https://issuer.test/jwks.json",
        "http://127.0.0.1:9",
    );
    project.write(
        "cases.yaml",
        "- {method: GET, path: /tenants/org_clientco/forecast, scopes: [read:forecast], claims: {org_id: org_globex}, status: 200}\n\
         - {method: GET, path: /tenants/org_clientco/forecast, claims: {scope: read:forecast}, status: 200}\n",
    );
    let run = project.run_config("test", &["cases.yaml"]);
    run.expect_code(1);
    run.expect_stderr("cases.yaml:2:64: `scope` is not set through `claims`");
    project.write(
        "cases.yaml",
        "- {method: GET, path: /tenants/org_clientco/forecast, scopes: [read:forecast], claims: {org_id: org_globex}, status: 200}\n",
    );
    let run = project.run_config("test", &["cases.yaml"]);
    run.expect_code(1);
    run.expect_stdout("expected 200, got 403 (condition failed: claim `org_id`");
    assert!(run.stdout.ends_with("0 passed, 1 failed\n"), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_prints_each_condition_with_its_outcome_for_the_token() {
    let issuer = spawn_issuer().await;
    let project = tenants_project(
        &issuer.issuer_url(),
        &issuer.jwks_url(),
        "http://127.0.0.1:9",
    );
    let mut minted = claims(&issuer.issuer_url(), "read:forecast");
    minted[TENANT] = json!("org_clientco");
    minted["azp"] = json!("clientco-dev");
    let token = issuer.mint(&minted);
    let run = tokio::task::spawn_blocking(move || {
        let run = project.run_config(
            "explain",
            &[
                "GET",
                "/tenants/org_client%63o/../org_globex/forecast",
                "--token",
                &token,
            ],
        );
        drop(project);
        run
    })
    .await
    .unwrap();
    run.expect_code(0);
    for expected in [
        "normalised: /tenants/org_globex/forecast",
        "when:       1. org_id equals \"{org}\" (= \"org_globex\" on this path)",
        "conditions: 1. org_id equals \"{org}\": fails: the token's `org_id` claim does not (\"org_clientco\")",
        "            2. gty equals \"client-credentials\": holds",
        "            3. azp in [\"clientco\", \"clientco-readonly\"]: fails: the token's `azp` claim does not (\"clientco-dev\")",
        "decision:   403 condition failed: claim `org_id`",
    ] {
        assert!(
            run.stdout.contains(expected),
            "missing {expected:?}\n{run:?}"
        );
    }
}
