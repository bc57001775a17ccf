//! Several issuers through the built binary: `gateway serve` with `[auth.issuers.*]` and a
//! `GATEWAY_AUTH_ISSUERS_<NAME>_<KEY>` override (each tenant's tokens reach the backend with
//! their issuer's name, the other tenant's are refused on a production route, and the access
//! log names the issuer); `gateway check` listing the issuers and refusing both forms or an
//! unknown issuer name in the policy; `gateway test` cases with `issuer:`; `gateway explain
//! --token` naming the issuer that verified a token, or the trusted ones when none did.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gateway::dev::issuer::DevIssuer;
use support::backend::Backend;
use support::bin::{Project, Serving};
use support::gateway::{Options, claims, test_policy};
use support::issuer::spawn_issuer;

/// The test policy plus a production-only route.
fn policy() -> String {
    format!(
        "{}  - path: /reports/{{name}}\n    methods: [GET]\n    scopes: [read:forecast]\n    issuers: [prod]\n",
        test_policy()
    )
}

/// gateway.toml with two issuers; staging's `jwks_url` in the file is `staging_jwks_in_file`.
fn config(
    upstream: &str,
    prod: &DevIssuer,
    staging: &DevIssuer,
    staging_jwks_in_file: &str,
) -> String {
    let mut options = Options::new(&prod.issuer_url(), &prod.jwks_url(), upstream);
    options.upstream_extra = String::new();
    options.auth = Some(format!(
        "[auth.issuers.prod]\nissuer = \"{}\"\n\
         audience = [\"https://clientco/api\", \"https://clientco/admin\"]\njwks_url = \"{}\"\n\n\
         [auth.issuers.staging]\nissuer = \"{}\"\naudience = \"https://clientco/api\"\n\
         jwks_url = \"{staging_jwks_in_file}\"\n",
        prod.issuer_url(),
        prod.jwks_url(),
        staging.issuer_url(),
    ));
    options.toml()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_verifies_each_tenant_with_its_own_keys_and_an_override_fixes_a_jwks_url() {
    let prod = spawn_issuer().await;
    let staging = spawn_issuer().await;
    let backend = Backend::start().await;
    let project = Project::empty();
    project.write("policy.yaml", &policy());
    // The file points staging at prod's JWKS (a copy-paste slip); the deploy's environment
    // override puts it right.
    project.write(
        "gateway.toml",
        &config(&backend.url(), &prod, &staging, &prod.jwks_url()),
    );
    let staging_jwks = staging.jwks_url();
    let served = Serving::project(
        &project,
        &[
            (
                "GATEWAY_AUTH_ISSUERS_STAGING_JWKS_URL",
                staging_jwks.as_str(),
            ),
            ("GATEWAY_LOG", "info"),
        ],
    );
    served.wait_ready().await;
    let client = reqwest::Client::new();

    let get = |path: &str, token: String, id: &str| {
        client
            .get(served.url(path))
            .bearer_auth(token)
            .header("x-request-id", id)
            .send()
    };
    // Each tenant through its own keys (staging's only via the override).
    let staging_token = staging.mint(&claims(&staging.issuer_url(), "read:forecast"));
    let response = get("/forecast", staging_token.clone(), "req-staging")
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(backend.last().headers["x-auth-issuer-name"], "staging");
    let line = served.request_line("req-staging");
    assert_eq!(line["issuer"], "staging", "{line}");

    // Prod's second audience is accepted.
    let mut admin_claims = claims(&prod.issuer_url(), "read:forecast");
    admin_claims["aud"] = serde_json::json!("https://clientco/admin");
    let response = get("/reports/q3", prod.mint(&admin_claims), "req-prod")
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(backend.last().headers["x-auth-issuer-name"], "prod");

    // Staging on a production route: 403, logged with its issuer and reason.
    let response = get("/reports/q3", staging_token, "req-denied")
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let line = served.request_line("req-denied");
    assert_eq!(line["issuer"], "staging", "{line}");
    assert_eq!(line["reason"], "issuer_not_allowed", "{line}");
    assert_eq!(line["decision"], "deny", "{line}");

    // An issuer nobody configured.
    let stranger = prod.mint(&claims("https://login.example/", "read:forecast"));
    let response = get("/forecast", stranger, "req-unknown").await.unwrap();
    assert_eq!(response.status(), 401);
    let line = served.request_line("req-unknown");
    assert_eq!(line["issuer"], "unknown", "{line}");
    assert_eq!(line["reason"], "unknown_issuer", "{line}");
}

fn two_issuer_project() -> Project {
    let project = Project::clientco();
    project.edit(
        "gateway.toml",
        "issuer = \"https://YOUR_TENANT.auth0.com/\"   # exact `iss`, trailing slash as Auth0 writes it\naudience = \"https://clientco/api\"           # the Auth0 API identifier; must appear in `aud`\n",
        "\n[auth.issuers.prod]\nissuer = \"https://saasco.eu.auth0.com/\"\naudience = \"https://clientco/api\"\n\n\
         [auth.issuers.staging]\nissuer = \"https://saasco-staging.eu.auth0.com/\"\naudience = \"https://clientco/api\"\nready_gate = false\n",
    );
    project.edit(
        "policies/clientco.yaml",
        "    scopes: [read:forecast]\n",
        "    scopes: [read:forecast]\n    issuers: [prod]\n",
    );
    project
}

#[test]
fn check_lists_the_issuers_with_overrides_applied() {
    let project = two_issuer_project();
    let run = project.run_with_env(
        &["check", "--config", "gateway.toml"],
        &[(
            "GATEWAY_AUTH_ISSUERS_STAGING_JWKS_URL",
            "https://keys.saasco.com/staging/jwks.json",
        )],
    );
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "ok: gateway.toml and policies/clientco.yaml are valid (5 routes, 3 scopes, 2 restrictions)\n\
         2 issuers (a token's `iss` picks one; any other `iss` is refused):\n  \
         prod     https://saasco.eu.auth0.com/  audience https://clientco/api  jwks https://saasco.eu.auth0.com/.well-known/jwks.json\n  \
         staging  https://saasco-staging.eu.auth0.com/  audience https://clientco/api  jwks https://keys.saasco.com/staging/jwks.json; /readyz does not wait for it\n"
    );
    // An override for an issuer the file does not declare is a mistake, not silence.
    let run = project.run_with_env(
        &["check", "--config", "gateway.toml"],
        &[("GATEWAY_AUTH_ISSUERS_STAGNG_JWKS_URL", "https://x/")],
    );
    run.expect_code(1);
    run.expect_stderr("GATEWAY_AUTH_ISSUERS_STAGNG_JWKS_URL overrides no setting; did you mean `GATEWAY_AUTH_ISSUERS_STAGING_JWKS_URL`?");
}

#[test]
fn check_refuses_both_forms_and_a_policy_naming_an_unconfigured_issuer() {
    let project = two_issuer_project();
    project.edits(&[
        (
            "gateway.toml",
            "[auth]\n",
            "[auth]\nissuer = \"https://YOUR_TENANT.auth0.com/\"\n",
        ),
        (
            "policies/clientco.yaml",
            "issuers: [prod]",
            "issuers: [prd]",
        ),
    ]);
    let run = project.run_config("check", &[]);
    run.expect_code(1);
    let auth_line = project
        .read("gateway.toml")
        .lines()
        .position(|l| l == "[auth]")
        .unwrap()
        + 2;
    run.expect_stderr(&format!(
            "gateway.toml:{auth_line}:10: `auth.issuer`: `[auth] issuer` and `[auth.issuers.*]` together"
        ));

    let project = two_issuer_project();
    project.edit(
        "policies/clientco.yaml",
        "issuers: [prod]",
        "issuers: [prd]",
    );
    let run = project.run_config("check", &[]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "policies/clientco.yaml:16:15: `prd` is not an issuer of this gateway; did you mean `prod`?"
        ),
        "{run:?}"
    );
}

#[test]
fn test_cases_may_say_which_issuer_the_token_comes_from() {
    let project = two_issuer_project();
    project.write(
        "issuer.cases.yaml",
        "- {name: prod on forecast, method: GET, path: /forecast, scopes: [read:forecast], issuer: prod, status: 200}\n\
         - {name: staging on forecast, method: GET, path: /forecast, scopes: [read:forecast], issuer: staging, status: 403}\n\
         - {name: staging elsewhere, method: GET, path: /inventory, scopes: [read:inventory], issuer: staging, status: 200}\n\
         - {name: no issuer named, method: GET, path: /forecast, scopes: [read:forecast], status: 403}\n",
    );
    let run = project.run_config("test", &["issuer.cases.yaml"]);
    run.expect_code(0);
    assert_eq!(run.stdout, "4 passed, 0 failed\n");

    project.write(
        "typo.cases.yaml",
        "- {name: typo, method: GET, path: /forecast, scopes: [read:forecast], issuer: stagign, status: 403}\n\
         - {name: wrong, method: GET, path: /forecast, scopes: [read:forecast], issuer: staging, status: 200}\n",
    );
    let run = project.run_config("test", &["typo.cases.yaml"]);
    run.expect_code(1);
    assert!(
        run.stdout.contains(
            "FAIL typo: `issuer: stagign` is not an issuer of this gateway; did you mean `staging`?"
        ),
        "{run:?}"
    );
    run.expect_stdout("FAIL wrong: GET /forecast with scopes [read:forecast] from issuer staging: expected 200, got 403 (this route does not accept tokens from issuer staging)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_names_the_issuer_that_verified_the_token_or_the_trusted_ones() {
    let prod = spawn_issuer().await;
    let staging = spawn_issuer().await;
    let project = Project::empty();
    project.write("policy.yaml", &policy());
    project.write(
        "gateway.toml",
        &config("http://127.0.0.1:9", &prod, &staging, &staging.jwks_url()),
    );
    let explain = |path: &'static str, token: String| {
        let project = &project;
        async move {
            let args = ["GET", path, "--token", token.as_str()];
            project.run_config_async("explain", &args).await
        }
    };
    let staging_token = staging.mint(&claims(&staging.issuer_url(), "read:forecast"));
    let run = explain("/reports/q3", staging_token).await;
    run.expect_code(0);
    run.expect_stdout(&format!(
        "issuer:     staging ({}), whose keys verified it",
        staging.issuer_url()
    ));
    run.expect_stdout("issuers:    tokens from prod only");
    run.expect_stdout("decision:   403 this route does not accept tokens from issuer staging");
    let prod_fetches = prod.jwks_requests();
    assert_eq!(
        prod_fetches, 0,
        "explain fetched only the token's issuer's keys"
    );

    let stranger = prod.mint(&claims("https://login.example/", "read:forecast"));
    let run = explain("/forecast", stranger).await;
    run.expect_stdout("token:      rejected: unknown issuer https://login.example/");
    run.expect_stdout(&format!(
        "issuers:    none verified it; this gateway trusts prod ({}), staging ({})",
        prod.issuer_url(),
        staging.issuer_url()
    ));
    assert_eq!(prod.jwks_requests(), 0, "an unknown iss costs no fetch");
}
