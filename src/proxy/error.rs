//! One error type for the data plane, and the one place that turns it into an HTTP response.
//!
//! Every phase of the pipeline returns `Result<_, GatewayError>`; `GatewayError::into_response`
//! is the only code that chooses a status, a `WWW-Authenticate` challenge or an error body, so the
//! table in the tests below is the whole story. Nothing here ever reaches hyper as an `Err`
//! (hyper would drop the connection without a response).

use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};

use crate::auth::AuthError;
use crate::auth::binding::{DPOP_NONCE, DpopChallenge};
use crate::constants::{
    KEYS_NOT_LOADED_RETRY_AFTER, POOL_FULL_RETRY_AFTER, STATE_UNAVAILABLE_RETRY_AFTER,
};
use crate::policy::{Denial, PathError, Route};
use crate::proxy::body::{self, Body, ClientBodyError};
use crate::telemetry::Refusal;

/// Everything that can stop a request before or while it is forwarded.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Decision 1: the path cannot be normalised safely.
    #[error("{0}")]
    BadPath(#[from] PathError),
    /// Malformed request the HTTP layer let through (e.g. a target without a path).
    #[error("{0}")]
    BadRequest(String),
    /// Decisions 2-3 (token missing, unusable or invalid; keys not loaded yet).
    #[error("{0}")]
    Auth(#[from] AuthError),
    /// Decision 2 for a request that used the DPoP scheme or whose route accepts DPoP-bound
    /// tokens: the same failure, answered with the `DPoP` challenge (RFC 9449 §7.1).
    #[error("{error}")]
    Dpop {
        error: AuthError,
        challenge: DpopChallenge,
    },
    /// Decision 4: no route matches the path.
    #[error("no route matches {path}")]
    NoRoute { path: String },
    /// Decision 4: the route exists but not for this method.
    #[error("{method} is not allowed on {route}; allowed: {allow}")]
    MethodNotAllowed {
        method: String,
        route: String,
        allow: String,
    },
    /// Decision 4: the route is never reachable through the gateway.
    #[error("{route} is restricted ({restriction}): {description}")]
    Restricted {
        route: String,
        restriction: String,
        description: String,
    },
    /// Decision 4: the route's `issuers:` does not accept the token's issuer.
    #[error("{route} does not accept tokens from issuer {issuer}")]
    IssuerNotAllowed { route: String, issuer: String },
    /// Decision 4: the token lacks a scope the route requires.
    #[error("missing scope {}", missing.join(" "))]
    InsufficientScope {
        required: Vec<String>,
        missing: Vec<String>,
    },
    /// Decision 4: a `when:` condition of the route does not hold for the token's claims
    /// (403 `access_denied`, no scope challenge: no other scope would help).
    #[error("condition failed: claim `{claim}` must {requirement}, and {cause}")]
    ConditionFailed {
        claim: String,
        requirement: String,
        cause: String,
    },
    /// The route's `max_body` is exceeded.
    #[error("request body exceeds this route's limit of {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    /// The client's rate limit on this route is used up.
    #[error("rate limit exceeded for this client on {route}; retry after {} s", retry_after.as_secs().max(1))]
    RateLimited {
        route: String,
        retry_after: Duration,
    },
    /// Decision 5: the route's rate limit lives in shared state (Redis) that cannot answer, and
    /// `[state] on_error = "deny"`.
    #[error("{0}")]
    StateUnavailable(String),
    /// Refused, unreachable, reset, or an unusable reply.
    #[error("upstream unavailable: {0}")]
    UpstreamUnavailable(String),
    /// No answer within `connect_timeout` / `request_timeout`.
    #[error("upstream did not answer within {0:?}")]
    UpstreamTimeout(Duration),
    /// The route's pool has `max_in_flight` requests under way already (503, `Retry-After`).
    #[error(
        "upstream pool `{pool}` has {limit} requests in flight, its max_in_flight; retry shortly"
    )]
    PoolFull { pool: String, limit: usize },
    /// `[forward.assertion]` is set but this request's assertion could not be signed: the
    /// request is not forwarded without it.
    #[error("the gateway could not sign the identity assertion")]
    AssertionFailed,
}

impl GatewayError {
    /// A policy denial as the client sees it: `path` is the normalised path, `route` the route
    /// that judged the request (none for 404).
    pub fn denied(
        denial: Denial,
        method: &http::Method,
        path: &str,
        route: Option<&Route>,
    ) -> Self {
        let pattern = || route.map(|r| r.pattern.clone()).unwrap_or_default();
        match denial {
            Denial::Unauthenticated => Self::Auth(AuthError::MissingToken),
            Denial::NoRoute => Self::NoRoute {
                path: path.to_owned(),
            },
            Denial::MethodNotAllowed { allow } => Self::MethodNotAllowed {
                method: method.to_string(),
                route: pattern(),
                allow,
            },
            Denial::Restricted {
                restriction,
                description,
            } => Self::Restricted {
                route: pattern(),
                restriction,
                description,
            },
            Denial::IssuerNotAllowed { issuer } => Self::IssuerNotAllowed {
                route: pattern(),
                issuer,
            },
            Denial::InsufficientScope { required, missing } => {
                Self::InsufficientScope { required, missing }
            }
            Denial::ConditionFailed {
                claim,
                requirement,
                cause,
            } => Self::ConditionFailed {
                claim,
                requirement,
                cause,
            },
        }
    }

    /// The client's answer to a failure of its own request body: 413 when the body went over
    /// the route's `max_body`, else 400.
    pub fn from_client_body(error: &ClientBodyError, max_body: Option<u64>) -> Self {
        match max_body {
            Some(limit) if error.0.is::<http_body_util::LengthLimitError>() => {
                Self::PayloadTooLarge { limit }
            }
            _ => Self::BadRequest(error.to_string()),
        }
    }

    /// What the access log records of this error.
    pub fn refusal(&self) -> Refusal {
        Refusal {
            reason: self.reason(),
            detail: self.to_string(),
            upstream_failure: self.is_upstream_failure(),
        }
    }

    /// Whether the upstream, not the caller or the policy, failed (the log's `upstream_error`).
    pub fn is_upstream_failure(&self) -> bool {
        matches!(
            self,
            Self::UpstreamUnavailable(_) | Self::UpstreamTimeout(_) | Self::PoolFull { .. }
        )
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadPath(_) | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Auth(error) | Self::Dpop { error, .. } => auth_status(error),
            Self::NoRoute { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Restricted { .. }
            | Self::IssuerNotAllowed { .. }
            | Self::InsufficientScope { .. }
            | Self::ConditionFailed { .. } => StatusCode::FORBIDDEN,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::StateUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::UpstreamUnavailable(_) => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::PoolFull { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::AssertionFailed => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON body's `error` code: RFC 6750 §3.1 codes for token problems, plain snake_case
    /// names for the rest.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadPath(_) | Self::BadRequest(_) => "invalid_request",
            Self::Auth(error) | Self::Dpop { error, .. } => auth_code(error),
            Self::NoRoute { .. } => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::Restricted { .. } => "restricted",
            Self::IssuerNotAllowed { .. } => "access_denied",
            Self::InsufficientScope { .. } => "insufficient_scope",
            Self::ConditionFailed { .. } => "access_denied",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::RateLimited { .. } => "rate_limited",
            Self::StateUnavailable(_) => "temporarily_unavailable",
            Self::UpstreamUnavailable(_) => "bad_gateway",
            Self::UpstreamTimeout(_) => "gateway_timeout",
            Self::PoolFull { .. } => "temporarily_unavailable",
            Self::AssertionFailed => "internal_error",
        }
    }

    /// A short stable reason for logs and metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Auth(auth) | Self::Dpop { error: auth, .. } => auth.reason(),
            Self::ConditionFailed { .. } => "condition_failed",
            Self::IssuerNotAllowed { .. } => "issuer_not_allowed",
            Self::StateUnavailable(_) => "state_unavailable",
            Self::PoolFull { .. } => "pool_full",
            other => other.code(),
        }
    }

    /// The response a client sees. `request_id` is echoed in the body.
    pub fn into_response(self, request_id: &str) -> Response<Body> {
        let status = self.status();
        let description = self.to_string();
        let mut builder = Response::builder()
            .status(status)
            .header(CONTENT_TYPE, "application/json");
        if let Some(challenge) = self.challenge(&description) {
            builder = builder.header(WWW_AUTHENTICATE, challenge);
        }
        match &self {
            Self::MethodNotAllowed { allow, .. } => {
                if let Ok(allow) = HeaderValue::from_str(allow) {
                    builder = builder.header(ALLOW, allow);
                }
            }
            Self::RateLimited { retry_after, .. } => {
                builder = builder.header(RETRY_AFTER, retry_after.as_secs().max(1));
            }
            Self::PoolFull { .. } => {
                builder = builder.header(RETRY_AFTER, POOL_FULL_RETRY_AFTER);
            }
            Self::Auth(AuthError::KeysNotLoaded)
            | Self::Dpop {
                error: AuthError::KeysNotLoaded,
                ..
            } => {
                builder = builder.header(RETRY_AFTER, KEYS_NOT_LOADED_RETRY_AFTER);
            }
            Self::Auth(AuthError::StateUnavailable(_))
            | Self::StateUnavailable(_)
            | Self::Dpop {
                error: AuthError::StateUnavailable(_),
                ..
            } => {
                builder = builder.header(RETRY_AFTER, STATE_UNAVAILABLE_RETRY_AFTER);
            }
            Self::Dpop {
                challenge:
                    DpopChallenge {
                        nonce: Some(nonce), ..
                    },
                ..
            } if status == StatusCode::UNAUTHORIZED => {
                if let Ok(nonce) = HeaderValue::from_str(nonce) {
                    builder = builder.header(DPOP_NONCE, nonce);
                }
            }
            _ => {}
        }
        let json = serde_json::json!({
            "error": self.code(),
            "error_description": description,
            "request_id": request_id,
        });
        let body = body::full(Bytes::from(json.to_string()));
        match builder.body(body) {
            Ok(response) => response,
            // Every header above is built from checked values; this arm is unreachable in
            // practice but still answers rather than panicking.
            Err(_) => {
                let mut response = Response::new(body::full(Bytes::from_static(
                    br#"{"error":"internal_error"}"#,
                )));
                *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                response
            }
        }
    }

    /// RFC 6750 §3: the `WWW-Authenticate` challenge for 401 and scope 403s.
    fn challenge(&self, description: &str) -> Option<HeaderValue> {
        let value = match self {
            // §3.1: no error code when the request carried no credentials at all.
            Self::Auth(AuthError::MissingToken) => r#"Bearer realm="gateway""#.to_owned(),
            Self::Auth(_) | Self::Dpop { .. } if self.status() != StatusCode::UNAUTHORIZED => {
                return None;
            }
            // RFC 9449 §7.1: the DPoP scheme, with `algs`; no error code without credentials.
            Self::Dpop {
                error: AuthError::MissingToken,
                challenge,
            } => format!(r#"DPoP algs="{}""#, challenge.algs),
            Self::Dpop { error, challenge } => format!(
                r#"DPoP error="{}", error_description="{}", algs="{}""#,
                auth_code(error),
                quoted_string_safe(description),
                challenge.algs
            ),
            Self::Auth(_) => format!(
                r#"Bearer realm="gateway", error="invalid_token", error_description="{}""#,
                quoted_string_safe(description)
            ),
            Self::InsufficientScope { required, .. } => format!(
                r#"Bearer error="insufficient_scope", scope="{}""#,
                quoted_string_safe(&required.join(" "))
            ),
            _ => return None,
        };
        HeaderValue::from_str(&value).ok()
    }
}

fn auth_status(error: &AuthError) -> StatusCode {
    match error {
        AuthError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
        AuthError::KeysNotLoaded | AuthError::StateUnavailable(_) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => StatusCode::UNAUTHORIZED,
    }
}

/// RFC 6750 §3.1 codes, and RFC 9449's `invalid_dpop_proof` (§7.1) and `use_dpop_nonce` (§8).
fn auth_code(error: &AuthError) -> &'static str {
    match error {
        AuthError::InvalidRequest(_) => "invalid_request",
        AuthError::MissingToken => "missing_token",
        AuthError::KeysNotLoaded | AuthError::StateUnavailable(_) => "temporarily_unavailable",
        AuthError::InvalidDpopProof(_) | AuthError::DpopReplay => "invalid_dpop_proof",
        AuthError::UseDpopNonce => "use_dpop_nonce",
        _ => "invalid_token",
    }
}

/// RFC 6750 §3: `error_description` and `scope` allow %x20-21 / %x23-5B / %x5D-7E only, so
/// quotes, backslashes and anything outside printable ASCII become `'` or `?`.
fn quoted_string_safe(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use http_body_util::BodyExt;

    fn header(response: &Response<Body>, name: http::HeaderName) -> Option<String> {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    async fn json(response: Response<Body>) -> serde_json::Value {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn dpop_challenge(nonce: Option<&str>) -> DpopChallenge {
        DpopChallenge {
            algs: "ES256 EdDSA PS256 RS256".into(),
            nonce: nonce.map(str::to_owned),
        }
    }

    #[test]
    fn dpop_nonce_travels_on_its_401_and_a_full_replay_store_says_when_to_retry() {
        let response = GatewayError::Dpop {
            error: AuthError::UseDpopNonce,
            challenge: dpop_challenge(Some("n1")),
        }
        .into_response("r");
        assert_eq!(
            header(&response, http::HeaderName::from_static("dpop-nonce")).unwrap(),
            "n1"
        );
        let response =
            GatewayError::Auth(AuthError::StateUnavailable("full".into())).into_response("r");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(header(&response, RETRY_AFTER).unwrap(), "1");
    }

    /// The whole status / challenge / body table of the spec, pinned.
    #[tokio::test]
    async fn every_error_maps_to_its_status_challenge_and_json_body() {
        let cases: Vec<(GatewayError, u16, &str, Option<&str>)> = vec![
            (
                GatewayError::BadRequest("absolute path required".into()),
                400,
                "invalid_request",
                None,
            ),
            (
                GatewayError::Auth(AuthError::InvalidRequest(
                    "two Authorization headers".into(),
                )),
                400,
                "invalid_request",
                None,
            ),
            (
                GatewayError::Auth(AuthError::MissingToken),
                401,
                "missing_token",
                Some(r#"Bearer realm="gateway""#),
            ),
            (
                GatewayError::Auth(AuthError::TokenExpired { ago: 42 }),
                401,
                "invalid_token",
                Some(
                    r#"Bearer realm="gateway", error="invalid_token", error_description="token expired 42 s ago""#,
                ),
            ),
            (
                GatewayError::Auth(AuthError::KeysNotLoaded),
                503,
                "temporarily_unavailable",
                None,
            ),
            (
                GatewayError::Auth(AuthError::UnknownIssuer {
                    got: "https://staging.example/".into(),
                    near_miss: false,
                }),
                401,
                "invalid_token",
                Some(
                    r#"Bearer realm="gateway", error="invalid_token", error_description="unknown issuer https://staging.example/""#,
                ),
            ),
            (
                GatewayError::Dpop {
                    error: AuthError::InvalidDpopProof("htm POST is not GET".into()),
                    challenge: dpop_challenge(None),
                },
                401,
                "invalid_dpop_proof",
                Some(
                    r#"DPoP error="invalid_dpop_proof", error_description="DPoP proof htm POST is not GET", algs="ES256 EdDSA PS256 RS256""#,
                ),
            ),
            (
                GatewayError::Dpop {
                    error: AuthError::DpopReplay,
                    challenge: dpop_challenge(None),
                },
                401,
                "invalid_dpop_proof",
                Some(
                    r#"DPoP error="invalid_dpop_proof", error_description="DPoP proof was already used (jti replayed); sign a fresh proof for every request", algs="ES256 EdDSA PS256 RS256""#,
                ),
            ),
            (
                GatewayError::Dpop {
                    error: AuthError::UseDpopNonce,
                    challenge: dpop_challenge(Some("n1")),
                },
                401,
                "use_dpop_nonce",
                Some(
                    r#"DPoP error="use_dpop_nonce", error_description="DPoP proof must carry the server nonce from the DPoP-Nonce response header", algs="ES256 EdDSA PS256 RS256""#,
                ),
            ),
            (
                GatewayError::Dpop {
                    error: AuthError::MissingToken,
                    challenge: dpop_challenge(None),
                },
                401,
                "missing_token",
                Some(r#"DPoP algs="ES256 EdDSA PS256 RS256""#),
            ),
            (
                GatewayError::Dpop {
                    error: AuthError::BindingRequired(
                        "this route requires a DPoP-bound token".into(),
                    ),
                    challenge: dpop_challenge(None),
                },
                401,
                "invalid_token",
                Some(
                    r#"DPoP error="invalid_token", error_description="this route requires a DPoP-bound token", algs="ES256 EdDSA PS256 RS256""#,
                ),
            ),
            (
                GatewayError::Auth(AuthError::BindingMismatch(
                    "bound to another certificate".into(),
                )),
                401,
                "invalid_token",
                Some(
                    r#"Bearer realm="gateway", error="invalid_token", error_description="bound to another certificate""#,
                ),
            ),
            (
                GatewayError::Dpop {
                    error: AuthError::StateUnavailable("the DPoP replay store is full".into()),
                    challenge: dpop_challenge(None),
                },
                503,
                "temporarily_unavailable",
                None,
            ),
            (
                GatewayError::NoRoute {
                    path: "/nope".into(),
                },
                404,
                "not_found",
                None,
            ),
            (
                GatewayError::MethodNotAllowed {
                    method: "DELETE".into(),
                    route: "/forecast".into(),
                    allow: "GET, HEAD".into(),
                },
                405,
                "method_not_allowed",
                None,
            ),
            (
                GatewayError::Restricted {
                    route: "/models/**".into(),
                    restriction: "no:execute_modeling".into(),
                    description: "Modeling logic cannot be triggered manually".into(),
                },
                403,
                "restricted",
                None,
            ),
            (
                GatewayError::IssuerNotAllowed {
                    route: "/forecast".into(),
                    issuer: "staging".into(),
                },
                403,
                "access_denied",
                None,
            ),
            (
                GatewayError::InsufficientScope {
                    required: vec!["read:forecast".into()],
                    missing: vec!["read:forecast".into()],
                },
                403,
                "insufficient_scope",
                Some(r#"Bearer error="insufficient_scope", scope="read:forecast""#),
            ),
            (
                GatewayError::ConditionFailed {
                    claim: "https://saasco/tenant".into(),
                    requirement: "equal `{tenant}` (from the path)".into(),
                    cause: "the token's `https://saasco/tenant` claim does not".into(),
                },
                403,
                "access_denied",
                None,
            ),
            (
                GatewayError::PayloadTooLarge { limit: 10 },
                413,
                "payload_too_large",
                None,
            ),
            (
                GatewayError::RateLimited {
                    route: "/ingest".into(),
                    retry_after: Duration::from_millis(200),
                },
                429,
                "rate_limited",
                None,
            ),
            (
                GatewayError::StateUnavailable("the shared rate limit cannot be reached".into()),
                503,
                "temporarily_unavailable",
                None,
            ),
            (
                GatewayError::UpstreamUnavailable("connection refused".into()),
                502,
                "bad_gateway",
                None,
            ),
            (
                GatewayError::UpstreamTimeout(Duration::from_secs(30)),
                504,
                "gateway_timeout",
                None,
            ),
            (GatewayError::AssertionFailed, 500, "internal_error", None),
        ];
        for (error, status, code, challenge) in cases {
            let description = error.to_string();
            let response = error.into_response("req-1");
            assert_eq!(response.status().as_u16(), status, "{code}");
            assert_eq!(
                header(&response, WWW_AUTHENTICATE).as_deref(),
                challenge,
                "{code}"
            );
            assert_eq!(
                header(&response, CONTENT_TYPE).as_deref(),
                Some("application/json")
            );
            let body = json(response).await;
            assert_eq!(body["error"], code);
            assert_eq!(body["error_description"], description);
            assert_eq!(body["request_id"], "req-1");
        }
    }

    #[tokio::test]
    async fn invalid_token_challenge_carries_a_quoted_safe_description() {
        let response =
            GatewayError::Auth(AuthError::Malformed("bad \"sig\" é".into())).into_response("r");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            header(&response, WWW_AUTHENTICATE).unwrap(),
            r#"Bearer realm="gateway", error="invalid_token", error_description="token is malformed: bad 'sig' ?""#
        );
    }

    /// The body says `access_denied`; logs and metrics say which denial it was.
    #[test]
    fn a_failed_condition_is_logged_as_condition_failed() {
        let error = GatewayError::ConditionFailed {
            claim: "gty".into(),
            requirement: "equal the value this route requires".into(),
            cause: "the token has no `gty` claim".into(),
        };
        assert_eq!(error.reason(), "condition_failed");
        assert_eq!(error.code(), "access_denied");
        assert_eq!(
            error.to_string(),
            "condition failed: claim `gty` must equal the value this route requires, and the token has no `gty` claim"
        );
    }

    #[test]
    fn method_not_allowed_sets_allow_and_limits_set_retry_after() {
        let response = GatewayError::MethodNotAllowed {
            method: "POST".into(),
            route: "/forecast".into(),
            allow: "GET, HEAD".into(),
        }
        .into_response("r");
        assert_eq!(header(&response, ALLOW).unwrap(), "GET, HEAD");
        let response = GatewayError::RateLimited {
            route: "/ingest".into(),
            retry_after: Duration::from_millis(1500),
        }
        .into_response("r");
        assert_eq!(header(&response, RETRY_AFTER).unwrap(), "1");
        let response = GatewayError::Auth(AuthError::KeysNotLoaded).into_response("r");
        assert_eq!(header(&response, RETRY_AFTER).unwrap(), "5");
    }

    #[test]
    fn shared_state_that_cannot_answer_a_rate_limit_is_503_state_unavailable_with_retry_after() {
        let error = GatewayError::StateUnavailable("Redis down".into());
        assert_eq!(error.reason(), "state_unavailable");
        let response = error.into_response("r");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(header(&response, RETRY_AFTER).unwrap(), "1");
    }
}
