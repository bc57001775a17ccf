//! The OAuth 2.0 client-credentials grant (RFC 6749 §4.4), the client `gateway token` and
//! `gateway demo` share (so it sits below both): `gateway token` prints the access token and
//! nothing else on stdout, so `curl -H "Authorization: Bearer $(gateway token)"` works against
//! Auth0 and against `gateway demo` alike.
//!
//! The credentials file is JSON in the shape of Auth0's `POST https://TENANT/oauth/token` body,
//! plus where to send it (one of `token_url`, `issuer` or `domain`; the first present wins):
//!
//! ```json
//! {
//!   "domain": "YOUR_TENANT.eu.auth0.com",
//!   "client_id": "…",
//!   "client_secret": "…",
//!   "audience": "https://clientco/api"
//! }
//! ```
//!
//! The request body is the JSON Auth0 documents (`grant_type`, `client_id`, `client_secret`,
//! `audience`, optional `scope`, optional `organization`: an Auth0 Organization's id or name,
//! from the file or `--organization`, for a token carrying `org_id`). Errors from the endpoint
//! are shown as it returned them (`error`, `error_description`, RFC 6749 §5.2), with a hint for
//! the ones Auth0 users meet most. An opaque access token (what Auth0 issues when the request
//! names no API) is [`TokenError::Opaque`]: `gateway token` (`commands::token`, which may use
//! `auth` to recognise one; this module imports nothing of the crate) refuses it, naming the
//! fix, rather than print it for the gateway to refuse.
//! The client secret is never printed: not in errors, not in `Debug`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// What a credentials file holds, checked.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: String,
    pub audience: String,
    /// Full token endpoint, e.g. `https://tenant.auth0.com/oauth/token`.
    #[serde(default)]
    pub token_url: Option<String>,
    /// The issuer as it appears in `iss` (`https://tenant.auth0.com/`); `oauth/token` is appended.
    #[serde(default)]
    pub issuer: Option<String>,
    /// The Auth0 domain (`tenant.auth0.com`), as the Auth0 dashboard shows it.
    #[serde(default)]
    pub domain: Option<String>,
    /// Optional space-separated scopes to ask for (Auth0 grants all authorised ones by default).
    #[serde(default)]
    pub scope: Option<String>,
    /// Optional Auth0 Organization (its id `org_…` or its name) the token is for: Auth0 then
    /// puts `org_id` (and `org_name`) into the token. `gateway token --organization` overrides it.
    #[serde(default)]
    pub organization: Option<String>,
    /// Free text for humans (e.g. which environment this is); ignored.
    #[serde(default, rename = "_comment")]
    pub comment: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("audience", &self.audience)
            .field("token_url", &self.token_url)
            .field("issuer", &self.issuer)
            .field("domain", &self.domain)
            .field("scope", &self.scope)
            .field("organization", &self.organization)
            .finish()
    }
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub token_type: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub scope: Option<String>,
    /// The HTTP status the endpoint answered with (filled in after parsing).
    #[serde(skip)]
    pub status: u16,
}

/// Why no token was obtained. Every message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(
        "cannot read {path}: {source}\n  fix: copy clientco/credentials.example.json to {path} and fill in the values from your Auth0 application (Applications > your M2M app > Settings)"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}\n  fix: {fix}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
        fix: &'static str,
    },
    #[error("{path}: {message}\n  fix: {fix}")]
    Invalid {
        path: PathBuf,
        message: String,
        fix: String,
    },
    #[error("cannot reach the token endpoint {url}: {detail}\n  fix: {fix}")]
    Unreachable {
        url: String,
        detail: String,
        fix: &'static str,
    },
    #[error("the token endpoint {url} answered {status}: {error}{description}{hint}")]
    Refused {
        url: String,
        status: u16,
        /// `error` as the endpoint returned it (RFC 6749 §5.2).
        error: String,
        /// `: error_description`, or empty.
        description: String,
        /// `\n  hint: …`, or empty.
        hint: String,
    },
    /// Auth0's opaque access token (a JWE with `alg: dir`, or no JWT at all): the gateway
    /// verifies signed JWTs only, so printing it would only move the refusal to the first call.
    #[error(
        "the token endpoint {url} returned an opaque access token ({shape}) for audience={audience}, which the gateway refuses: it verifies signed JWTs only\n  fix: request it with audience=<the configured audience> (the gateway's [auth] audience, the API's Identifier in Auth0); an opaque token means the endpoint did not take {audience} for an API of its tenant"
    )]
    Opaque {
        url: String,
        shape: &'static str,
        audience: String,
    },
    #[error(
        "the token endpoint {url} answered {status} with a body that is not a token response: {excerpt}"
    )]
    NotATokenResponse {
        url: String,
        status: u16,
        excerpt: String,
    },
}

impl Credentials {
    /// Reads and checks a credentials file.
    pub fn load(path: &Path) -> Result<Credentials, TokenError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenError::Read {
            path: path.to_owned(),
            source,
        })?;
        Credentials::parse(path, &text)
    }

    /// Parses and checks the text of a credentials file (`path` is for messages only).
    pub fn parse(path: &Path, text: &str) -> Result<Credentials, TokenError> {
        let credentials: Credentials = serde_json::from_str(text).map_err(|e| {
            let fix = if e.is_data() && e.to_string().contains("missing field `audience`") {
                AUDIENCE_FIX
            } else if e.is_data() {
                "the file must be one JSON object with client_id, client_secret, audience and one of token_url / issuer / domain (see clientco/credentials.example.json)"
            } else {
                "the file is not valid JSON; compare it with clientco/credentials.example.json"
            };
            TokenError::Parse {
                path: path.to_owned(),
                line: e.line(),
                column: e.column(),
                message: strip_position(&e.to_string()),
                fix,
            }
        })?;
        let invalid = |message: &str, fix: &str| TokenError::Invalid {
            path: path.to_owned(),
            message: message.to_owned(),
            fix: fix.to_owned(),
        };
        for (name, value) in [
            ("client_id", &credentials.client_id),
            ("client_secret", &credentials.client_secret),
            ("audience", &credentials.audience),
        ] {
            if value.trim().is_empty() && name == "audience" {
                return Err(invalid("audience is empty", AUDIENCE_FIX));
            }
            if value.trim().is_empty() {
                return Err(invalid(
                    &format!("{name} is empty"),
                    "copy it from the Auth0 dashboard (client_id and client_secret: the M2M application's Settings; audience: the API's Identifier)",
                ));
            }
            if value.starts_with("YOUR_") || value.contains("YOUR_TENANT") {
                return Err(invalid(
                    &format!("{name} is still the placeholder from credentials.example.json"),
                    "replace the YOUR_… values with the ones from the Auth0 dashboard",
                ));
            }
        }
        credentials.token_endpoint(path)?;
        Ok(credentials)
    }

    /// The token endpoint URL: `token_url`, else `issuer` + `oauth/token`, else
    /// `https://` + `domain` + `/oauth/token`. Plain `http` is only accepted for loopback hosts
    /// (the demo issuer): the request carries the client secret.
    pub fn token_endpoint(&self, path: &Path) -> Result<reqwest::Url, TokenError> {
        let invalid = |message: String, fix: &str| TokenError::Invalid {
            path: path.to_owned(),
            message,
            fix: fix.to_owned(),
        };
        let (key, text) = if let Some(url) = &self.token_url {
            ("token_url", url.clone())
        } else if let Some(issuer) = &self.issuer {
            let base = if issuer.ends_with('/') {
                issuer.clone()
            } else {
                format!("{issuer}/")
            };
            ("issuer", format!("{base}oauth/token"))
        } else if let Some(domain) = &self.domain {
            let host = domain.trim_start_matches("https://").trim_end_matches('/');
            ("domain", format!("https://{host}/oauth/token"))
        } else {
            return Err(invalid(
                "no token endpoint: none of token_url, issuer, domain is set".to_owned(),
                "add \"domain\": \"YOUR_TENANT.auth0.com\" (the Domain on the application's Settings page)",
            ));
        };
        if text.contains("YOUR_TENANT") {
            return Err(invalid(
                format!("{key} is still the placeholder from credentials.example.json"),
                "put your Auth0 tenant's domain in place of YOUR_TENANT",
            ));
        }
        let url = reqwest::Url::parse(&text).map_err(|e| {
            invalid(
                format!("{key} gives {text:?}, which is not a URL: {e}"),
                "write it like https://YOUR_TENANT.auth0.com/oauth/token",
            )
        })?;
        match url.scheme() {
            "https" => Ok(url),
            "http" if is_loopback_host(&url) => Ok(url),
            "http" => Err(invalid(
                format!(
                    "{key} is plain http to {text}; the client secret would travel unencrypted"
                ),
                "use https (plain http is only accepted for 127.0.0.1/localhost, i.e. `gateway demo`)",
            )),
            other => Err(invalid(
                format!("{key} has scheme {other:?}; only https is supported"),
                "write it like https://YOUR_TENANT.auth0.com/oauth/token",
            )),
        }
    }
}

fn is_loopback_host(url: &reqwest::Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// What the messages say where the gateway's configured audience belongs; `gateway token`
/// (`commands::token`) writes the audience in its place when the gateway configuration is at hand.
pub const CONFIGURED_AUDIENCE: &str = "<the configured audience>";

/// Without `audience` Auth0 answers with an opaque token (or none), never one the gateway takes.
pub const AUDIENCE_FIX: &str = "add \"audience\": without it Auth0 issues an opaque access token the gateway refuses; request it with audience=<the configured audience> (the gateway's [auth] audience, the API's Identifier under Applications > APIs)";

/// serde_json appends " at line L column C"; we print the position in front instead.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// The error body of RFC 6749 §5.2, as Auth0 sends it.
#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// Performs the client-credentials grant and returns the token response.
pub async fn fetch_token(
    credentials: &Credentials,
    path: &Path,
) -> Result<TokenResponse, TokenError> {
    let url = credentials.token_endpoint(path)?;
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        // A token endpoint that redirects is misconfigured; following it could send the secret
        // somewhere else.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| TokenError::Unreachable {
            url: url.to_string(),
            detail: e.to_string(),
            fix: "this is a local TLS/setup problem; please report it",
        })?;
    let mut body = serde_json::json!({
        "grant_type": "client_credentials",
        "client_id": credentials.client_id,
        "client_secret": credentials.client_secret,
        "audience": credentials.audience,
    });
    if let Some(scope) = &credentials.scope {
        body["scope"] = serde_json::Value::String(scope.clone());
    }
    if let Some(organization) = &credentials.organization {
        body["organization"] = serde_json::Value::String(organization.clone());
    }
    let response = client
        .post(url.clone())
        .json(&body)
        .send()
        .await
        .map_err(|e| TokenError::Unreachable {
            url: url.to_string(),
            detail: describe_reqwest_error(&e),
            fix: "check the domain/issuer/token_url in the credentials file and your network; for `gateway demo`, is the demo still running?",
        })?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| TokenError::Unreachable {
            url: url.to_string(),
            detail: describe_reqwest_error(&e),
            fix: "the connection broke while reading the answer; try again",
        })?;
    if status.is_success()
        && let Ok(mut token) = serde_json::from_slice::<TokenResponse>(&bytes)
    {
        token.status = status.as_u16();
        return Ok(token);
    }
    if let Ok(error) = serde_json::from_slice::<ErrorBody>(&bytes) {
        return Err(TokenError::Refused {
            url: url.to_string(),
            status: status.as_u16(),
            hint: hint(&error, credentials)
                .map(|h| format!("\n  hint: {h}"))
                .unwrap_or_default(),
            description: error
                .error_description
                .map(|d| format!(": {d}"))
                .unwrap_or_default(),
            error: error.error,
        });
    }
    Err(TokenError::NotATokenResponse {
        url: url.to_string(),
        status: status.as_u16(),
        excerpt: excerpt(&bytes),
    })
}

/// reqwest's Display hides the cause (e.g. "connection refused"); show the chain.
fn describe_reqwest_error(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The first 200 characters of a body, on one line, for messages.
fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    if one_line.trim().is_empty() {
        "(empty body)".to_owned()
    } else {
        one_line
    }
}

/// What the most common Auth0 refusals usually mean.
fn hint(error: &ErrorBody, credentials: &Credentials) -> Option<String> {
    let description = error.error_description.as_deref().unwrap_or("");
    if let Some(organization) = &credentials.organization
        && description.to_ascii_lowercase().contains("organization")
    {
        return Some(format!(
            "let the application use the organization {organization:?} for the API {:?} (Organizations > the organization > Machine-to-Machine Access > Add Access) and allow organizations on its grant (Applications > the application > APIs > Organization Support); the id (org_…) and the name both work",
            credentials.audience
        ));
    }
    match error.error.as_str() {
        "access_denied" if description.contains("Service not found") => Some(format!(
            "no API has the identifier {:?}; set \"audience\" to the API's Identifier (Applications > APIs)",
            credentials.audience
        )),
        "access_denied" | "unauthorized_client" if description.contains("not authorized") => {
            Some(format!(
                "authorize the application for the API {:?} (APIs > your API > Machine to Machine Applications)",
                credentials.audience
            ))
        }
        "access_denied" | "invalid_client" => Some(
            "check client_id and client_secret (the M2M application's Settings page); the secret may have been rotated"
                .to_owned(),
        ),
        "unauthorized_client" => Some(
            "enable the Client Credentials grant for the application (Settings > Advanced > Grant Types)"
                .to_owned(),
        ),
        _ => None,
    }
}
