//! What a new user trips on (issue 28): a token requested without `audience`, which Auth0 answers
//! with an opaque access token (a JWE with `alg: dir`, or no JWT at all). Through the built
//! binary, each place that meets such a token names the fix, `request it with audience=<the
//! configured audience>` (SPEC, second round): the data plane's 401 (`error_description` and
//! `WWW-Authenticate`), `gateway explain --token`, and `gateway token`, which refuses to print
//! one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use support::backend::Backend;
use support::bin::{Project, Serving};
use support::documents::{Answer, Documents};
use support::gateway::Options;
use support::issuer::spawn_issuer;

const PROD_AUDIENCE: &str = "https://clientco/api";
const STAGING_AUDIENCE: &str = "https://staging.clientco/api";

/// What Auth0 returns for a token request without `audience`: a JWE encrypted with a key only
/// Auth0 holds (`alg: dir`, so the encrypted-key segment is empty), its tenant in the header.
fn auth0_jwe(iss: &str) -> String {
    let header = json!({"alg": "dir", "enc": "A256GCM", "iss": iss}).to_string();
    format!(
        "{}..bm9uY2UxMjM0NTY.ZW5jcnlwdGVkIGNsYWltcw.dGFnMTIzNDU2Nzg5MDEy",
        URL_SAFE_NO_PAD.encode(header)
    )
}

/// The older opaque form: a random string, no JWT at all.
const OPAQUE: &str = "Xq3bV9kR2mT7yLw0pZs4NcJ8hFd6GaE1";

/// `[auth.issuers.prod]` and `[auth.issuers.staging]`, each with its own audience; both point
/// at `jwks_url` (no token here gets as far as a key).
fn two_issuers(prod: &str, staging: &str, jwks_url: &str) -> String {
    format!(
        "[auth.issuers.prod]\nissuer = \"{prod}\"\naudience = \"{PROD_AUDIENCE}\"\njwks_url = \"{jwks_url}\"\n\n\
         [auth.issuers.staging]\nissuer = \"{staging}\"\naudience = \"{STAGING_AUDIENCE}\"\njwks_url = \"{jwks_url}\"\n"
    )
}

/// `GET /forecast` with `token`: status, `WWW-Authenticate` and the JSON body.
async fn forecast(served: &Serving, token: &str) -> (u16, String, serde_json::Value) {
    let response = served.get_as("/forecast", token, "opaque").await;
    let status = response.status().as_u16();
    let challenge = support::world::header(&response, "www-authenticate");
    (status, challenge, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_plane_401_names_the_audience_to_request() {
    let issuer = spawn_issuer().await;
    let backend = Backend::start().await;
    let staging = "https://clientco-staging.eu.auth0.com/";
    let mut options = Options::of(&issuer, &backend);
    options.auth = Some(two_issuers(
        &issuer.issuer_url(),
        staging,
        &issuer.jwks_url(),
    ));
    let served = Serving::options(&options, &["--log-format", "json"], &[]);
    served.wait_ready().await;

    // The JWE names its tenant: the hint gives that issuer's audience only.
    let (status, challenge, body) = forecast(&served, &auth0_jwe(staging)).await;
    let expected = format!(
        "token looks like an Auth0 opaque access token (a JWE with alg dir), which Auth0 issues \
         when the token request names no API: request it with audience={STAGING_AUDIENCE}"
    );
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_token", "{body}");
    assert_eq!(body["error_description"], expected.as_str(), "{body}");
    assert_eq!(
        challenge,
        format!(r#"Bearer realm="gateway", error="invalid_token", error_description="{expected}""#)
    );
    let (_, _, body) = forecast(&served, &auth0_jwe(&issuer.issuer_url())).await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .ends_with(&format!("request it with audience={PROD_AUDIENCE}")),
        "{body}"
    );

    // No JWT at all names no issuer: every configured audience.
    let (status, _, body) = forecast(&served, OPAQUE).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        body["error_description"],
        format!(
            "token looks like an Auth0 opaque access token (no JWT at all), which Auth0 issues \
             when the token request names no API: request it with audience={PROD_AUDIENCE} or \
             audience={STAGING_AUDIENCE}"
        )
        .as_str(),
        "{body}"
    );

    // A JWE encrypted for a real key is no audience mistake, and other malformed tokens keep
    // their own description.
    let rsa = format!(
        "{}.a2V5.aXY.Y3Q.dGFn",
        URL_SAFE_NO_PAD.encode(json!({"alg": "RSA-OAEP-256", "enc": "A256GCM"}).to_string())
    );
    let (_, _, body) = forecast(&served, &rsa).await;
    assert_eq!(
        body["error_description"],
        "token is malformed: encrypted tokens (JWE) are not accepted"
    );
    let (_, _, body) = forecast(&served, "a.b").await;
    assert_eq!(
        body["error_description"],
        "token is malformed: a JWS has 3 dot-separated segments, this has 2"
    );

    // Logged and counted as malformed, as before; nothing reached the backend.
    let line = served.next_line("the access line of an opaque token", |l| {
        l["status"] == 401 && l["reason"] == "malformed"
    });
    assert_eq!(line["decision"], "deny", "{line}");
    assert!(backend.seen().is_empty());
}

/// `gateway explain GET /forecast --token TOKEN` in `project`: exit code and stdout.
async fn explain(project: &Project, token: &str) -> (i32, String) {
    let args = ["GET", "/forecast", "--token", token];
    let run = project.run_config_async("explain", &args).await;
    assert!(run.stderr.is_empty(), "{run:?}");
    (run.code, run.stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_token_names_the_audience_to_request() {
    let issuer = spawn_issuer().await;
    let staging = "https://clientco-staging.eu.auth0.com/";
    let mut options = Options::new(
        &issuer.issuer_url(),
        &issuer.jwks_url(),
        "http://127.0.0.1:9",
    );
    options.auth = Some(two_issuers(
        &issuer.issuer_url(),
        staging,
        &issuer.jwks_url(),
    ));
    let project = Project::empty();
    options.write_to(project.dir.path());

    let jwe = auth0_jwe(&issuer.issuer_url());
    let (code, out) = explain(&project, &jwe).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "token:      rejected: token looks like an Auth0 opaque access token (a JWE with alg \
             dir), which Auth0 issues when the token request names no API: request it with \
             audience={PROD_AUDIENCE}\n"
        )),
        "{out}"
    );
    assert!(
        out.contains("decision:   401 (the token fails verification"),
        "{out}"
    );
    assert!(!out.contains(&jwe), "the token is never echoed: {out}");

    let (_, out) = explain(&project, OPAQUE).await;
    assert!(
        out.contains(&format!(
            "(no JWT at all), which Auth0 issues when the token request names no API: request it \
             with audience={PROD_AUDIENCE} or audience={STAGING_AUDIENCE}\n"
        )),
        "{out}"
    );
    // Nothing was fetched to say so.
    assert_eq!(issuer.jwks_requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_token_refuses_an_opaque_token_and_names_the_fix() {
    let endpoint = Documents::serve(vec![(
        "/oauth/token",
        Answer::json(
            &json!({"access_token": OPAQUE, "token_type": "Bearer", "expires_in": 86400})
                .to_string(),
        ),
    )])
    .await;
    let project = Project::empty();
    let credentials = |audience: Option<&str>| {
        let mut file = json!({
            "token_url": endpoint.url("/oauth/token"),
            "client_id": "clientco",
            "client_secret": "not-printed",
        });
        if let Some(audience) = audience {
            file["audience"] = audience.into();
        }
        project.write("credentials.json", &file.to_string());
    };
    credentials(Some(PROD_AUDIENCE));
    let token = ["token", "--credentials", "credentials.json"];
    let outcome = project.run_async(&token).await;
    assert_eq!(outcome.code, 1, "{outcome:?}");
    assert_eq!(
        outcome.stdout, "",
        "nothing for $(gateway token) to pass on: {outcome:?}"
    );
    assert!(
        outcome.stderr.contains(&format!(
            "error: the token endpoint {} returned an opaque access token (no JWT at all) for \
             audience={PROD_AUDIENCE}, which the gateway refuses",
            endpoint.url("/oauth/token")
        )),
        "{outcome:?}"
    );
    assert!(
        outcome
            .stderr
            .contains("fix: request it with audience=<the configured audience> (the gateway's"),
        "{outcome:?}"
    );
    assert!(!outcome.stderr.contains(OPAQUE), "{outcome:?}");

    // Beside the gateway's configuration, the fix names its audiences.
    let auth0 = "https://clientco.eu.auth0.com/";
    let jwks = "https://clientco.eu.auth0.com/.well-known/jwks.json";
    let mut options = Options::new(auth0, jwks, "http://127.0.0.1:9");
    options.auth = Some(two_issuers(
        auth0,
        "https://clientco-staging.eu.auth0.com/",
        jwks,
    ));
    options.write_to(project.dir.path());
    let both = format!("audience={PROD_AUDIENCE} or audience={STAGING_AUDIENCE} (the gateway's");
    let outcome = project.run_async(&token).await;
    assert_eq!(outcome.code, 1, "{outcome:?}");
    assert!(
        outcome
            .stderr
            .contains(&format!("fix: request it with {both}")),
        "{outcome:?}"
    );

    // Without `audience` in the file, the fix is named before anything is sent.
    credentials(None);
    let outcome = project.run_async(&token).await;
    assert_eq!(outcome.code, 1, "{outcome:?}");
    assert!(
        outcome.stderr.contains("missing field `audience`"),
        "{outcome:?}"
    );
    assert!(
        outcome.stderr.contains(&format!(
            "fix: add \"audience\": without it Auth0 issues an opaque access token the gateway \
             refuses; request it with {both}"
        )),
        "{outcome:?}"
    );
    assert!(!outcome.stderr.contains("not-printed"), "{outcome:?}");
}
