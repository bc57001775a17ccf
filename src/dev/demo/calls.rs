//! The seven sample calls of `gateway demo`, made over real HTTP against the running demo:
//! a token request, the three allowed ClientCo calls, a missing scope, a restricted modelling
//! call and a forged token; then the two tenant-isolation calls ([`tenants`]): ClientCo's token
//! on its own tenant's path, and on another tenant's; then the two-issuer call ([`issuers`]): a
//! staging token on a production route. Each [`Outcome`] holds the status that actually came
//! back and the reason the gateway (or the backend) gave; only the expected status is written
//! down here.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::Demo;
use crate::oauth::{TokenError, fetch_token};

/// What one sample call did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub number: usize,
    /// Short name: "allowed ingest".
    pub title: &'static str,
    /// What was sent: "GET /forecast as clientco".
    pub request: String,
    pub expected: u16,
    /// `None` when no HTTP answer came back at all.
    pub status: Option<u16>,
    /// The reason, from the response: the backend's echo, or the error and its description.
    pub reason: String,
}

impl Outcome {
    pub fn as_expected(&self) -> bool {
        self.status == Some(self.expected)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "---".to_owned());
        let verdict = if self.as_expected() {
            "as expected".to_owned()
        } else {
            format!("UNEXPECTED: wanted {}", self.expected)
        };
        write!(
            f,
            "{}. {:<17} {:<46} -> {} ({verdict})\n      {}",
            self.number, self.title, self.request, status, self.reason
        )
    }
}

/// Runs the seven calls in order.
pub async fn run(demo: &Demo) -> Vec<Outcome> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let gateway = demo.gateway_url();
    let mut outcomes = Vec::new();

    // 1. The token request, through the same code as `gateway token`.
    let full = token_for(demo, "clientco").await;
    outcomes.push(match &full {
        Ok(token) => Outcome {
            number: 1,
            title: "token request",
            request: "POST /oauth/token as clientco".to_owned(),
            expected: 200,
            status: Some(token.status),
            reason: format!(
                "{} token, scope \"{}\", expires in {} s",
                token.token_type.as_deref().unwrap_or("access"),
                token.scope.as_deref().unwrap_or(""),
                token.expires_in.unwrap_or(0)
            ),
        },
        Err(error) => Outcome {
            number: 1,
            title: "token request",
            request: "POST /oauth/token as clientco".to_owned(),
            expected: 200,
            status: refused_status(error),
            reason: error.to_string(),
        },
    });
    let token = full.map(|t| t.access_token).unwrap_or_default();

    // 2-4. What ClientCo is allowed to do. Call 3 also sends forged identity headers, which the
    // gateway must remove before the backend sees them.
    let ingest = http
        .post(format!("{gateway}/ingest"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"rows":[{"sku":"SKU-1","sold":12},{"sku":"SKU-7","sold":3}]}"#);
    outcomes.push(call(2, "allowed ingest", "POST /ingest as clientco", 200, ingest).await);
    let forecast = http
        .get(format!("{gateway}/forecast"))
        .bearer_auth(&token)
        .header("x-auth-client-id", "admin")
        .header("X-Auth-Scopes", "no:execute_modeling");
    outcomes.push(
        call(
            3,
            "allowed forecast",
            "GET /forecast as clientco (+ spoofed X-Auth-*)",
            200,
            forecast,
        )
        .await,
    );
    let inventory = http.get(format!("{gateway}/inventory")).bearer_auth(&token);
    outcomes.push(
        call(
            4,
            "allowed inventory",
            "GET /inventory as clientco",
            200,
            inventory,
        )
        .await,
    );

    // 5. A client whose token lacks the scope.
    let readonly = token_for(demo, "clientco-readonly")
        .await
        .map(|t| t.access_token)
        .unwrap_or_default();
    let missing = http
        .get(format!("{gateway}/inventory"))
        .bearer_auth(&readonly);
    outcomes.push(
        call(
            5,
            "missing scope",
            "GET /inventory as clientco-readonly",
            403,
            missing,
        )
        .await,
    );

    // 6. Modelling is restricted: no scope opens it.
    let train = http
        .post(format!("{gateway}/models/train"))
        .bearer_auth(&token);
    outcomes.push(
        call(
            6,
            "restricted call",
            "POST /models/train as clientco",
            403,
            train,
        )
        .await,
    );

    // 7. clientco-readonly edits its own token to grant itself read:inventory; the signature no
    // longer matches.
    let forged = http
        .get(format!("{gateway}/inventory"))
        .bearer_auth(escalate(&readonly));
    outcomes.push(
        call(
            7,
            "forged token",
            "GET /inventory, readonly token edited",
            401,
            forged,
        )
        .await,
    );
    outcomes
}

/// The tenant-isolation calls, numbered from `first`: the tenant comes from the token (the
/// credentials name ClientCo's Organization, so the issuer sets `org_id`, as Auth0 does), the
/// path names a tenant, and the policy's `when:` compares the two.
pub async fn tenants(demo: &Demo, first: usize) -> Vec<Outcome> {
    use super::{OTHER_TENANT, TENANT};
    let http = client();
    let gateway = demo.gateway_url();
    let token = token_for(demo, "clientco")
        .await
        .map(|t| t.access_token)
        .unwrap_or_default();
    let own = http
        .get(format!("{gateway}/tenants/{TENANT}/forecast"))
        .bearer_auth(&token);
    let other = http
        .get(format!("{gateway}/tenants/{OTHER_TENANT}/forecast"))
        .bearer_auth(&token);
    vec![
        call(
            first,
            "own tenant",
            &format!("GET /tenants/{TENANT}/forecast as clientco"),
            200,
            own,
        )
        .await,
        call(
            first + 1,
            "another tenant",
            &format!("GET /tenants/{OTHER_TENANT}/forecast as clientco"),
            403,
            other,
        )
        .await,
    ]
}

/// The two-issuer call, numbered `first`: the staging tenant's client gets a valid token
/// granting every ClientCo scope, and the production-only `/forecast` refuses it for its
/// issuer (403 `access_denied`), whatever its scopes.
pub async fn issuers(demo: &Demo, first: usize) -> Vec<Outcome> {
    let http = client();
    let client = &demo.staging_client;
    let token = fetch_token(&client.credentials, &client.credentials_file)
        .await
        .map(|t| t.access_token)
        .unwrap_or_default();
    let staging = http
        .get(format!("{}/forecast", demo.gateway_url()))
        .bearer_auth(token);
    vec![
        call(
            first,
            "staging token",
            "GET /forecast as clientco-staging (staging)",
            403,
            staging,
        )
        .await,
    ]
}

/// The HTTP client of the demo's calls: no redirects followed, a bounded wait.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}

async fn token_for(
    demo: &Demo,
    client_id: &str,
) -> Result<crate::oauth::TokenResponse, TokenError> {
    match demo.client(client_id) {
        Some(client) => fetch_token(&client.credentials, &client.credentials_file).await,
        None => Err(TokenError::Invalid {
            path: demo.dir.clone(),
            message: format!("no demo client {client_id}"),
            fix: "this is a bug in the demo".to_owned(),
        }),
    }
}

fn refused_status(error: &TokenError) -> Option<u16> {
    match error {
        TokenError::Refused { status, .. } | TokenError::NotATokenResponse { status, .. } => {
            Some(*status)
        }
        _ => None,
    }
}

/// Sends `request` and describes the answer.
pub(super) async fn call(
    number: usize,
    title: &'static str,
    what: &str,
    expected: u16,
    request: reqwest::RequestBuilder,
) -> Outcome {
    let (status, reason) = match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let challenge = response
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            (Some(status), describe(status, &body, challenge))
        }
        Err(error) => (None, format!("no answer: {error}")),
    };
    Outcome {
        number,
        title,
        request: what.to_owned(),
        expected,
        status,
        reason,
    }
}

fn describe(status: u16, body: &serde_json::Value, challenge: Option<String>) -> String {
    let text = |key: &str| body[key].as_str().unwrap_or("").to_owned();
    if (200..300).contains(&status) {
        let saw = &body["saw"];
        return format!(
            "forwarded; the backend saw X-Auth-Client-Id: {}, X-Auth-Scopes: {}",
            saw["client_id"].as_str().unwrap_or("(none)"),
            saw["scopes"].as_str().unwrap_or("(none)")
        );
    }
    let mut reason = format!("{}: {}", text("error"), text("error_description"));
    if let Some(challenge) = challenge {
        reason.push_str(&format!("\n      WWW-Authenticate: {challenge}"));
    }
    reason
}

/// The token with `read:inventory` added to its `scope` claim, header and signature unchanged.
fn escalate(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return token.to_owned();
    };
    let Some(mut claims) = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
    else {
        return token.to_owned();
    };
    let scope = claims["scope"].as_str().unwrap_or("").to_owned();
    claims["scope"] = serde_json::Value::String(format!("{scope} read:inventory"));
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.{signature}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn claims_of(token: &str) -> serde_json::Value {
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }

    #[test]
    fn escalate_adds_the_scope_and_keeps_header_and_signature() {
        let claims =
            serde_json::json!({"sub": "clientco-readonly@clients", "scope": "read:forecast"});
        let token = format!(
            "eyJhbGciOiJSUzI1NiJ9.{}.c2lnbmF0dXJl",
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let forged = escalate(&token);
        assert_ne!(forged, token);
        assert!(forged.starts_with("eyJhbGciOiJSUzI1NiJ9."));
        assert!(forged.ends_with(".c2lnbmF0dXJl"));
        assert_eq!(claims_of(&forged)["scope"], "read:forecast read:inventory");
        assert_eq!(claims_of(&forged)["sub"], "clientco-readonly@clients");
    }

    #[test]
    fn an_outcome_is_as_expected_only_with_the_expected_status() {
        let mut outcome = Outcome {
            number: 5,
            title: "missing scope",
            request: "GET /inventory".to_owned(),
            expected: 403,
            status: Some(403),
            reason: "insufficient_scope: missing scope read:inventory".to_owned(),
        };
        assert!(outcome.as_expected());
        assert!(outcome.to_string().contains("-> 403 (as expected)"));
        outcome.status = Some(200);
        assert!(!outcome.as_expected());
        assert!(outcome.to_string().contains("UNEXPECTED: wanted 403"));
        outcome.status = None;
        assert!(!outcome.as_expected());
    }
}
