//! Auth0 Organizations as the tenant boundary (SPEC, third round), through the built binary:
//! `gateway token --organization` (or the credentials file's `organization`) against the
//! development issuer, which answers as Auth0 does (an id or a name the client may use gives a
//! token with `org_id` and `org_name`; any other is an OAuth error, never a token without
//! `org_id`), and `gateway serve` with the shipped multi-tenant policy deciding on that `org_id`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gateway::dev::issuer::{DevClient, DevIssuer, DevIssuerConfig, DevOrganization};
use serde_json::{Value, json};
use support::backend::Backend;
use support::bin::{Project, Run, Serving, repo_root, run_async};
use support::gateway::Options;

const SECRET: &str = "org-s3cret-never-printed";

/// An issuer with ClientCo's Organization (`org_clientco`, name `clientco`), which the
/// `clientco` application may use, and Globex's, which it may not; `names`: Auth0's "Allow
/// Organization Names in Authentication API".
async fn issuer_with(names: bool) -> DevIssuer {
    DevIssuer::start(DevIssuerConfig {
        organization_names: names,
        clients: vec![DevClient {
            client_id: "clientco".to_owned(),
            client_secret: SECRET.to_owned(),
            scopes: vec!["read:forecast".to_owned(), "ingest:data".to_owned()],
        }],
        organizations: vec![
            DevOrganization {
                id: "org_clientco".to_owned(),
                name: "clientco".to_owned(),
                clients: vec!["clientco".to_owned()],
            },
            DevOrganization {
                id: "org_globex".to_owned(),
                name: "globex".to_owned(),
                clients: Vec::new(),
            },
        ],
        ..DevIssuerConfig::default()
    })
    .await
    .unwrap()
}

async fn issuer() -> DevIssuer {
    issuer_with(true).await
}

/// A folder with `credentials.json` for the `clientco` application of `issuer`, plus `extra`.
fn credentials(issuer: &DevIssuer, extra: &Value) -> Project {
    let mut json = json!({
        "token_url": issuer.token_url(),
        "client_id": "clientco",
        "client_secret": SECRET,
        "audience": issuer.audience(),
    });
    if let (Value::Object(json), Value::Object(extra)) = (&mut json, extra) {
        json.extend(extra.clone());
    }
    let project = Project::empty();
    project.write("credentials.json", &json.to_string());
    project
}

/// `gateway token --credentials credentials.json <args>` off the runtime (the issuer answers).
async fn token(project: &Project, args: &[&str]) -> Run {
    let mut all = vec!["token", "--credentials", "credentials.json"];
    all.extend_from_slice(args);
    let run = project.run_async(&all).await;
    assert!(
        !run.stdout.contains(SECRET) && !run.stderr.contains(SECRET),
        "the secret was printed: {run:?}"
    );
    run
}

/// `gateway explain GET /tenants/org_clientco/forecast --token TOKEN` beside `served`'s config.
async fn explain(served: &Serving, token: &str) -> Run {
    let path = "/tenants/org_clientco/forecast";
    let args = [
        "explain",
        "--config",
        "gateway.toml",
        "GET",
        path,
        "--token",
        token,
    ];
    run_async(&served.folder, &args, &[]).await
}

/// The claims of a compact JWS, unverified (the gateway verifies; this reads what it will see).
fn claims_of(token: &str) -> Value {
    let payload = token.trim().split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_the_client_may_use_gives_org_id_by_id_or_by_name() {
    let issuer = issuer().await;
    let project = credentials(&issuer, &json!({}));
    for named in ["clientco", "org_clientco"] {
        let run = token(&project, &["--organization", named]).await;
        assert_eq!(run.code, 0, "{named}: {run:?}");
        let claims = claims_of(&run.stdout);
        assert_eq!(claims["org_id"], "org_clientco", "{named}: {claims}");
        assert_eq!(claims["org_name"], "clientco", "{named}: {claims}");
        assert_eq!(claims["azp"], "clientco");
    }
    // Without an organization Auth0 issues the application's own token: no org_id.
    let run = token(&project, &[]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(claims_of(&run.stdout).get("org_id"), None);

    // The file may name it; --organization wins over the file.
    let named = credentials(&issuer, &json!({"organization": "clientco"}));
    let run = token(&named, &[]).await;
    assert_eq!(claims_of(&run.stdout)["org_id"], "org_clientco", "{run:?}");
    let run = token(&named, &["--organization", "globex"]).await;
    assert_eq!(run.code, 1, "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_names_in_the_authentication_api_only_the_id_works_and_no_org_name() {
    let issuer = issuer_with(false).await;
    let project = credentials(&issuer, &json!({}));
    let run = token(&project, &["--organization", "org_clientco"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let claims = claims_of(&run.stdout);
    assert_eq!(claims["org_id"], "org_clientco", "{claims}");
    assert_eq!(claims.get("org_name"), None, "{claims}");
    let run = token(&project, &["--organization", "clientco"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, "", "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_other_organization_is_an_oauth_error_never_a_token_without_org_id() {
    let issuer = issuer().await;
    let project = credentials(&issuer, &json!({}));
    // Another customer's Organization (by name and by id), one that does not exist, and none.
    for named in ["globex", "org_globex", "org_nobody", ""] {
        let run = token(&project, &["--organization", named]).await;
        assert_eq!(run.code, 1, "{named}: {run:?}");
        assert_eq!(run.stdout, "", "{named}: no token at all: {run:?}");
        assert!(
            run.stderr.contains(&format!(
                "answered 403: access_denied: Client \"clientco\" is not allowed to access \
                 organization \"{named}\" for this API."
            )),
            "{named}: {run:?}"
        );
        assert!(
            run.stderr.contains(&format!(
                "hint: let the application use the organization \"{named}\" for the API"
            )),
            "{named}: {run:?}"
        );
    }

    // The endpoint itself, as any Auth0 client library calls it: a form and JSON.
    let http = reqwest::Client::new();
    let form = http
        .post(issuer.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&client_id=clientco&client_secret={SECRET}\
             &audience=https%3A%2F%2Fclientco%2Fapi&organization=org_globex"
        ))
        .send()
        .await
        .unwrap();
    let body = refusal(form, 403, "access_denied").await;
    assert_eq!(
        body["error_description"],
        "Client \"clientco\" is not allowed to access organization \"org_globex\" for this API."
    );
    assert!(body.get("access_token").is_none(), "{body}");
    let not_a_string = http
        .post(issuer.token_url())
        .json(&json!({
            "grant_type": "client_credentials", "client_id": "clientco",
            "client_secret": SECRET, "audience": issuer.audience(), "organization": 42,
        }))
        .send()
        .await
        .unwrap();
    refusal(not_a_string, 400, "invalid_request").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_multi_tenant_policy_decides_on_the_org_id_of_the_token() {
    let issuer = issuer().await;
    let backend = Backend::start().await;
    let mut options = Options::of(&issuer, &backend);
    options.policy =
        std::fs::read_to_string(repo_root().join("policies/clientco-tenants.yaml")).unwrap();
    let served = Serving::options(&options, &["--log-format", "json"], &[]);
    served.wait_ready().await;

    let project = credentials(&issuer, &json!({}));
    let org_token = token(&project, &["--organization", "clientco"]).await;
    let org_token = org_token.stdout.trim().to_owned();
    let plain_token = token(&project, &[]).await.stdout.trim().to_owned();
    let get = |path: &str, token: &str| {
        reqwest::Client::new()
            .get(served.url(path))
            .bearer_auth(token)
            .send()
    };

    let own = get("/tenants/org_clientco/forecast", &org_token)
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
    let other = get("/tenants/org_globex/forecast", &org_token)
        .await
        .unwrap();
    let body = refusal(other, 403, "access_denied").await;
    assert_eq!(
        body["error_description"],
        "condition failed: claim `org_id` must equal `{org}` (from the path), and the token's \
         `org_id` claim does not",
        "{body}"
    );
    // The organization's name is not its id, and a token of no organization has no tenant.
    let by_name = get("/tenants/clientco/forecast", &org_token).await.unwrap();
    assert_eq!(by_name.status(), 403);
    let plain = get("/tenants/org_clientco/forecast", &plain_token)
        .await
        .unwrap();
    assert_eq!(plain.status(), 403);
    // The flat routes do not look at org_id.
    let flat = get("/forecast", &plain_token).await.unwrap();
    assert_eq!(flat.status(), 200);

    // explain says why a token of no organization fails, and how to get one that holds.
    let plain = explain(&served, &plain_token).await;
    assert!(
        plain.stdout.contains(
            "1. org_id equals \"{org}\": fails: the token has no `org_id` claim; Auth0 sets it \
             only in a token requested for an Organization (`organization` in the token request: \
             gateway token --organization ORG)"
        ),
        "{plain:?}"
    );
    let org = explain(&served, &org_token).await;
    assert!(
        org.stdout.contains("1. org_id equals \"{org}\": holds"),
        "{org:?}"
    );
    assert!(org.stdout.contains("decision:   200"), "{org:?}");

    let seen: Vec<String> = backend.seen().iter().map(|s| s.target.clone()).collect();
    assert_eq!(
        seen,
        ["/tenants/org_clientco/forecast", "/forecast"],
        "{seen:?}"
    );
}

/// An OAuth or gateway refusal: its status and JSON `error` checked, its body for the rest.
async fn refusal(response: reqwest::Response, status: u16, error: &str) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    body
}
