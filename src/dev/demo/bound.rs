//! The demo's sender-constrained calls: ClientCo asks the development issuer for a DPoP-bound
//! token (a proof on the token request, as with Auth0), uses it with a fresh proof, and then
//! a thief who copied the token from a log tries it as a bearer token and with a key of their
//! own; both are refused. Numbered after the seven sample calls.

use std::time::Duration;

use super::Demo;
use super::calls::{Outcome, call};
use crate::dev::dpop::{DpopAlg, DpopKey};

/// Runs the four bound-token calls, numbered from `first`.
pub async fn run(demo: &Demo, first: usize) -> Vec<Outcome> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let (Some(key), Some(thief), Some(client)) = (
        DpopKey::generate(DpopAlg::Es256),
        DpopKey::generate(DpopAlg::Es256),
        demo.client("clientco"),
    ) else {
        return Vec::new();
    };
    let forecast = format!("{}/forecast", demo.gateway_url());
    let token_url = demo.issuer.token_url();
    let credentials = &client.credentials;
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&audience={}",
        encode(&credentials.client_id),
        encode(&credentials.client_secret),
        encode(&credentials.audience)
    );
    let mut outcomes = Vec::new();
    let answer = http
        .post(&token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("dpop", key.proof("POST", &token_url, None, None))
        .body(form)
        .send()
        .await;
    let (status, body) = match answer {
        Ok(response) => {
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            (Some(status), body)
        }
        Err(_) => (None, serde_json::Value::Null),
    };
    let token = body["access_token"].as_str().unwrap_or_default().to_owned();
    outcomes.push(Outcome {
        number: first,
        title: "DPoP token",
        request: "POST /oauth/token as clientco + DPoP proof".to_owned(),
        expected: 200,
        status,
        reason: format!(
            "{} token bound to ClientCo's key (cnf.jkt {})",
            body["token_type"].as_str().unwrap_or("no"),
            key.jkt()
        ),
    });
    let with_proof = http
        .get(&forecast)
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", key.proof("GET", &forecast, Some(&token), None));
    outcomes.push(
        call(
            first + 1,
            "bound forecast",
            "GET /forecast, DPoP token + its proof",
            200,
            with_proof,
        )
        .await,
    );
    let as_bearer = http.get(&forecast).bearer_auth(&token);
    outcomes.push(
        call(
            first + 2,
            "stolen, as Bearer",
            "GET /forecast, the bound token as Bearer",
            401,
            as_bearer,
        )
        .await,
    );
    let own_key = http
        .get(&forecast)
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", thief.proof("GET", &forecast, Some(&token), None));
    outcomes.push(
        call(
            first + 3,
            "stolen, own key",
            "GET /forecast, the bound token + thief's proof",
            401,
            own_key,
        )
        .await,
    );
    outcomes
}

/// `application/x-www-form-urlencoded` for the few characters credentials hold.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
