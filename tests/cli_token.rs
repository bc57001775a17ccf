//! `gateway token --credentials F`, run as the built binary against a stand-in for Auth0's
//! `POST /oauth/token` on 127.0.0.1:0: what it sends, what it prints, and what it says when the
//! endpoint or the file is wrong. The secret must never appear in any output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use support::bin::{Run, run_async};
use support::server::Server;

const SECRET: &str = "s3cr3t-never-printed";

/// A token endpoint that answers every request with `status` and `body`, and remembers the
/// content type and JSON body of what it received.
struct Endpoint {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
    _server: Server,
}

impl Endpoint {
    async fn start(status: u16, body: &'static str) -> Endpoint {
        let received = Arc::new(Mutex::new(Vec::new()));
        let recorder = received.clone();
        let server = Server::start(move |request: Request<Incoming>| {
            let recorder = recorder.clone();
            async move {
                let content_type = request
                    .headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                let bytes = request.into_body().collect().await.unwrap().to_bytes();
                let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
                recorder.lock().unwrap().push((content_type, json));
                Response::builder()
                    .status(StatusCode::from_u16(status).unwrap())
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from_static(body.as_bytes())))
                    .unwrap()
            }
        })
        .await;
        Endpoint {
            addr: server.addr,
            received,
            _server: server,
        }
    }

    fn token_url(&self) -> String {
        format!("http://{}/oauth/token", self.addr)
    }
}

/// Runs `gateway token --credentials <path>` off the runtime that serves the endpoint, and
/// checks the secret was printed nowhere.
async fn gateway_token(path: &Path) -> Run {
    let path = path.display().to_string();
    let run = run_async(Path::new("."), &["token", "--credentials", &path], &[]).await;
    assert!(!run.says(SECRET), "the client secret was printed:\n{run:?}");
    run
}

/// ClientCo's credentials for the token endpoint at `token_url`.
fn credentials(token_url: &str) -> serde_json::Value {
    serde_json::json!({
        "token_url": token_url,
        "client_id": "clientco",
        "client_secret": SECRET,
        "audience": "https://clientco/api",
    })
}

/// Writes `json` as credentials.json in a fresh folder and runs `gateway token` on it.
async fn token_for(json: &serde_json::Value) -> Run {
    let dir = tempfile::tempdir().unwrap();
    gateway_token(&write_credentials(dir.path(), json)).await
}

fn write_credentials(dir: &Path, json: &serde_json::Value) -> std::path::PathBuf {
    let path = dir.join("credentials.json");
    std::fs::write(&path, serde_json::to_string_pretty(json).unwrap()).unwrap();
    path
}

#[tokio::test]
async fn prints_only_the_access_token_and_sends_the_auth0_body() {
    let endpoint = Endpoint::start(
        200,
        r#"{"access_token":"eyJ.header.sig","token_type":"Bearer","expires_in":86400,"scope":"read:forecast"}"#,
    )
    .await;
    let outcome = token_for(&credentials(&endpoint.token_url())).await;

    outcome.expect_code(0);
    assert_eq!(outcome.stdout, "eyJ.header.sig\n");
    let received = endpoint.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    let (content_type, body) = &received[0];
    assert_eq!(content_type, "application/json");
    assert_eq!(
        body,
        &serde_json::json!({
            "grant_type": "client_credentials",
            "client_id": "clientco",
            "client_secret": SECRET,
            "audience": "https://clientco/api",
        })
    );
}

#[tokio::test]
async fn issuer_key_resolves_to_its_oauth_token_endpoint() {
    // A JWT's shape: an opaque token is refused (tests/cli_newuser_hints.rs).
    let endpoint =
        Endpoint::start(200, r#"{"access_token":"h.tok.s","token_type":"Bearer"}"#).await;
    // Without the trailing slash on purpose: both spellings must reach /oauth/token.
    let outcome = token_for(&serde_json::json!({
        "issuer": format!("http://{}", endpoint.addr),
        "client_id": "clientco",
        "client_secret": SECRET,
        "audience": "https://clientco/api",
        "scope": "read:forecast",
    }))
    .await;

    outcome.expect_code(0);
    assert_eq!(outcome.stdout, "h.tok.s\n");
    let received = endpoint.received.lock().unwrap().clone();
    assert_eq!(received[0].1["scope"], "read:forecast");
}

#[tokio::test]
async fn endpoint_errors_are_shown_as_auth0_returns_them() {
    let endpoint = Endpoint::start(
        401,
        r#"{"error":"access_denied","error_description":"Unauthorized"}"#,
    )
    .await;
    let outcome = token_for(&credentials(&endpoint.token_url())).await;

    assert_ne!(outcome.code, 0, "{outcome:?}");
    assert_eq!(
        outcome.stdout, "",
        "nothing on stdout when there is no token"
    );
    outcome.expect_stderr("answered 401: access_denied: Unauthorized");
    assert!(
        outcome.stderr.contains("client_secret"),
        "a hint names what to check: {outcome:?}"
    );
}

#[tokio::test]
async fn a_body_that_is_not_a_token_response_is_reported_with_an_excerpt() {
    let endpoint = Endpoint::start(502, "<html>Bad Gateway</html>").await;
    let outcome = token_for(&credentials(&endpoint.token_url())).await;

    assert_ne!(outcome.code, 0, "{outcome:?}");
    assert!(
        outcome.stderr.contains("answered 502") && outcome.stderr.contains("Bad Gateway"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn unreachable_endpoint_says_so() {
    // Bound but never listening, and held to the end of the test: connecting is refused, and no
    // other process can take the port meanwhile (as it could a port bound and then dropped).
    let refusing_port = tokio::net::TcpSocket::new_v4().unwrap();
    refusing_port.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let addr = refusing_port.local_addr().unwrap();
    let outcome = token_for(&credentials(&format!("http://{addr}/oauth/token"))).await;

    assert_ne!(outcome.code, 0, "{outcome:?}");
    outcome.expect_stderr("cannot reach the token endpoint");
}

#[tokio::test]
async fn a_missing_file_names_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = gateway_token(&dir.path().join("credentials.json")).await;
    assert_ne!(outcome.code, 0, "{outcome:?}");
    outcome.expect_stderr("cannot read");
    outcome.expect_stderr("credentials.example.json");
}

#[tokio::test]
async fn broken_json_points_at_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    std::fs::write(
        &path,
        "{\n  \"client_id\": \"clientco\",\n  \"client_secret\": \n}\n",
    )
    .unwrap();
    let outcome = gateway_token(&path).await;
    assert_ne!(outcome.code, 0, "{outcome:?}");
    outcome.expect_stderr("credentials.json:4:1:");
}

#[tokio::test]
async fn a_missing_field_and_an_unknown_key_are_named() {
    let outcome = token_for(
        &serde_json::json!({"domain": "t.auth0.com", "client_id": "c", "client_secret": SECRET}),
    )
    .await;
    assert_ne!(outcome.code, 0, "{outcome:?}");
    outcome.expect_stderr("missing field `audience`");

    let outcome = token_for(
        &serde_json::json!({"domain": "t.auth0.com", "client_id": "c", "client_secret": SECRET,
            "audience": "a", "audeince": "typo"}),
    )
    .await;
    assert_ne!(outcome.code, 0, "{outcome:?}");
    outcome.expect_stderr("unknown field `audeince`");
}

#[tokio::test]
async fn the_example_file_is_refused_until_filled_in() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("clientco/credentials.example.json");
    let outcome = gateway_token(&example).await;
    assert_ne!(outcome.code, 0, "{outcome:?}");
    outcome.expect_stderr("placeholder");
}

#[tokio::test]
async fn plain_http_to_a_remote_host_is_refused_before_sending_the_secret() {
    let outcome = token_for(&credentials("http://tenant.example.com/oauth/token")).await;
    assert_ne!(outcome.code, 0, "{outcome:?}");
    outcome.expect_stderr("plain http");
}

/// Against the project's development issuer (the one `gateway demo` runs): a real token, and
/// Auth0's refusals for a wrong secret and a wrong audience, each with its hint.
#[tokio::test]
async fn works_against_the_development_issuer() {
    use gateway::dev::issuer::{DevClient, DevIssuer, DevIssuerConfig};
    let issuer = DevIssuer::start(DevIssuerConfig {
        clients: vec![DevClient {
            client_id: "clientco".to_owned(),
            client_secret: SECRET.to_owned(),
            scopes: vec!["read:forecast".to_owned()],
        }],
        ..DevIssuerConfig::default()
    })
    .await
    .unwrap();
    let credentials = |secret: &str, audience: &str| {
        serde_json::json!({
            "issuer": issuer.issuer_url(),
            "client_id": "clientco",
            "client_secret": secret,
            "audience": audience,
        })
    };

    let outcome = token_for(&credentials(SECRET, "https://clientco/api")).await;
    outcome.expect_code(0);
    let token = outcome.stdout.trim();
    let payload = token.split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["azp"], "clientco");
    assert_eq!(claims["scope"], "read:forecast");

    let outcome = token_for(&credentials("wrong", "https://clientco/api")).await;
    assert_ne!(outcome.code, 0, "{outcome:?}");
    outcome.expect_stderr("access_denied: Unauthorized");

    let outcome = token_for(&credentials(SECRET, "https://other/api")).await;
    assert_ne!(outcome.code, 0, "{outcome:?}");
    assert!(
        outcome.stderr.contains("Service not found") && outcome.stderr.contains("hint: no API"),
        "{outcome:?}"
    );
    issuer.shutdown().await;
}
