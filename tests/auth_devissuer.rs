//! The development issuer as a client sees it: discovery, JWKS, and the client-credentials
//! grant with Auth0-shaped answers; and its tokens verify.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gateway::dev::issuer::{DevIssuer, DevIssuerConfig};
use serde_json::{Value, json};
use support::issuer::*;

async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn discovery_names_the_issuer_jwks_and_token_endpoint() {
    let issuer = spawn_issuer().await;
    let doc: Value = reqwest::get(format!(
        "{}.well-known/openid-configuration",
        issuer.issuer_url()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(doc["issuer"], issuer.issuer_url());
    assert_eq!(doc["jwks_uri"], issuer.jwks_url());
    assert_eq!(doc["token_endpoint"], issuer.token_url());
    assert!(issuer.issuer_url().ends_with('/'));

    let jwks: Value = reqwest::get(issuer.jwks_url())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kid"], issuer.current_kid());
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    assert_eq!(issuer.jwks_requests(), 1);
}

#[tokio::test]
async fn client_credentials_grant_issues_a_token_the_gateway_accepts() {
    let issuer = spawn_issuer().await;
    let (auth, _) = ready_authenticator(&auth_config(&issuer)).await;
    let client = reqwest::Client::new();

    let form = client
        .post(issuer.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=clientco&client_secret=s3cret&audience=https%3A%2F%2Fclientco%2Fapi");
    let (status, body) = send(form).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    let identity = auth
        .verify(body["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(identity.subject, "clientco@clients");
    assert_eq!(identity.client_id.as_deref(), Some("clientco"));
    assert_eq!(identity.scopes.to_string(), "ingest:data read:forecast");

    let json_body = client.post(issuer.token_url()).json(&json!({
        "grant_type": "client_credentials", "client_id": "clientco",
        "client_secret": "s3cret", "audience": AUDIENCE,
    }));
    let (status, _) = send(json_body).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn bad_credentials_grant_and_audience_get_auth0_style_errors() {
    let issuer = spawn_issuer().await;
    let client = reqwest::Client::new();
    let request = |body: Value| client.post(issuer.token_url()).json(&body);

    let (status, body) = send(request(
        json!({"grant_type": "client_credentials", "client_id": "clientco",
                       "client_secret": "wrong", "audience": AUDIENCE}),
    ))
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"error": "access_denied", "error_description": "Unauthorized"})
    );

    let (status, body) = send(request(
        json!({"grant_type": "client_credentials", "client_id": "clientco",
                       "client_secret": "s3cret", "audience": "https://other/api"}),
    ))
    .await;
    assert_eq!(status, 403);
    assert_eq!(body["error"], "access_denied");

    let (status, body) = send(request(
        json!({"grant_type": "password", "client_id": "clientco",
                       "client_secret": "s3cret"}),
    ))
    .await;
    assert_eq!(status, 403);
    assert_eq!(body["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn it_stops_serving_when_shut_down() {
    let issuer = DevIssuer::start(DevIssuerConfig::default()).await.unwrap();
    let url = issuer.jwks_url();
    assert!(reqwest::get(&url).await.is_ok());
    issuer.shutdown().await;
    assert!(reqwest::get(&url).await.is_err());
}
