//! The binary's tools and sender-constrained tokens: `gateway test` cases with `binding:`,
//! `gateway explain --token … --dpop …` and `--cert`, and the policy's `binding:` in `check`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::bin::Project;
use support::dpop::jkt;
use support::gateway::{claims, test_policy};
use support::issuer::spawn_issuer;

const BOUND_ROUTE: &str =
    "  - path: /bound\n    methods: [GET]\n    scopes: [read:forecast]\n    binding: dpop\n";

fn project(issuer: &str, jwks: &str, auth_extra: &str) -> Project {
    let project = Project::empty();
    project.write("policy.yaml", &format!("{}{BOUND_ROUTE}", test_policy()));
    project.write(
        "gateway.toml",
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"https://api.saasco.example\"\n\
             [admin]\nlisten = \"127.0.0.1:0\"\n[upstream]\nurl = \"http://127.0.0.1:9\"\n\
             [auth]\nissuer = \"{issuer}\"\naudience = \"https://clientco/api\"\njwks_url = \"{jwks}\"\n{auth_extra}\
             [policy]\nfile = \"policy.yaml\"\n"
        ),
    );
    project
}

/// Claims of a ClientCo token from `issuer` with read:forecast, bound by `cnf`.
fn bound_claims(issuer: &str, cnf: Value) -> Value {
    let mut claims = claims(issuer, "read:forecast");
    claims["cnf"] = cnf;
    claims
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_cases_may_say_how_the_token_is_bound() {
    let project = project("https://t.auth0.com/", "https://t.auth0.com/jwks", "");
    project.write(
        "cases.yaml",
        "- {method: GET, path: /bound, scopes: [read:forecast], status: 401}\n\
         - {method: GET, path: /bound, scopes: [read:forecast], binding: mtls, status: 401}\n\
         - {method: GET, path: /bound, scopes: [read:forecast], binding: dpop, status: 200}\n\
         - {method: GET, path: /bound, binding: dpop, status: 403}\n\
         - {method: GET, path: /forecast, scopes: [read:forecast], status: 200}\n",
    );
    let out = project.run_config_async("test", &["cases.yaml"]).await;
    out.expect_code(0);
    out.expect_stdout("5 passed, 0 failed");

    // require_binding applies to every route, and a wrong expectation says why.
    project.edit(
        "gateway.toml",
        "[policy]",
        "require_binding = \"mtls\"\n[policy]",
    );
    project.write(
        "cases.yaml",
        "- {method: GET, path: /forecast, scopes: [read:forecast], binding: mtls, status: 200}\n\
         - {method: GET, path: /forecast, scopes: [read:forecast], status: 200}\n\
         - {method: GET, path: /forecast, binding: dpoop, status: 200}\n",
    );
    let out = project.run_config_async("test", &["cases.yaml"]).await;
    out.expect_code(1);
    out.expect_stdout("1 passed, 2 failed");
    out.expect_stdout("require_binding requires");
    out.expect_stdout("binding_required");
    out.expect_stdout("did you mean `dpop`?");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_with_a_dpop_proof_or_a_certificate_explains_the_binding() {
    let issuer = spawn_issuer().await;
    let project = project(&issuer.issuer_url(), &issuer.jwks_url(), "");
    let key = support::dpop::key();
    let token = issuer.mint(&bound_claims(&issuer.issuer_url(), jkt(&key)));
    let url = "https://api.saasco.example/bound";
    // `gateway explain GET <path> --token <token> <extra>` in the project.
    let explain = |path: &'static str, token: &str, extra: &[&str]| {
        let mut args = vec!["GET", path, "--token", token];
        args.extend_from_slice(extra);
        let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        let project = &project;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            project.run_config_async("explain", &args).await
        }
    };

    let out = explain("/bound", &token, &[]).await;
    out.expect_stdout("bound to:   the DPoP key");
    out.expect_stdout("decision:   401");
    out.expect_stdout("binding_mismatch");

    let proof = key.proof("GET", url, Some(&token), None);
    let out = explain("/bound", &token, &["--dpop", &proof]).await;
    out.expect_stdout("proof:      valid");
    out.expect_stdout("decision:   200");

    let wrong = key.proof("POST", url, Some(&token), None);
    let out = explain("/bound", &token, &["--dpop", &wrong]).await;
    out.expect_stdout("decision:   401 DPoP proof htm POST");
    out.expect_stdout("invalid_dpop_proof");

    let thief = support::dpop::key();
    let stolen = thief.proof("GET", url, Some(&token), None);
    let out = explain("/bound", &token, &["--dpop", &stolen]).await;
    out.expect_stdout("another key");

    // A certificate-bound token: --cert FILE is the certificate the request would come with.
    use base64::Engine as _;
    let (cert_pem, der) = {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["clientco".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), cert.der().to_vec())
    };
    project.write("client.pem", &cert_pem);
    let x5t = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(gateway::auth::binding::certificate_thumbprint(&der));
    let cert_token = issuer.mint(&bound_claims(
        &issuer.issuer_url(),
        serde_json::json!({ "x5t#S256": x5t }),
    ));
    let out = explain("/forecast", &cert_token, &[]).await;
    out.expect_stdout("present that certificate");
    out.expect_stdout("decision:   401");
    let out = explain("/forecast", &cert_token, &["--cert", "client.pem"]).await;
    out.expect_stdout("cert:       matches");
    out.expect_stdout("decision:   200");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_refuses_a_binding_on_a_public_route_with_its_position() {
    let project = project("https://t.auth0.com/", "https://t.auth0.com/jwks", "");
    project.edit(
        "policy.yaml",
        "  - path: /public/**\n    public: true\n",
        "  - path: /public/**\n    public: true\n    binding: dpop\n",
    );
    let out = project.run_config_async("check", &["--offline"]).await;
    out.expect_code(1);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(all.contains("policy.yaml:"), "{all}");
    assert!(all.contains("cannot demand a `binding`"), "{all}");
}
