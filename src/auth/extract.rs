//! Decision 2: find the bearer token of a request.
//!
//! `Authorization: Bearer <token>` (RFC 6750 §2.1; the scheme is case-insensitive per RFC 9110
//! §11.1), or, only when no Authorization header was sent and `token_cookie` is configured, that
//! cookie. Never the query string (RFC 6750 §2.3 is not supported: URLs end up in logs).
//! Ambiguity is refused rather than resolved: two Authorization headers, a header plus the
//! cookie, or the cookie twice are `InvalidRequest` (400).

use http::HeaderMap;
use http::header::{AUTHORIZATION, COOKIE};

use super::AuthError;

/// Where the token came from (the cookie must then be removed before forwarding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    AuthorizationHeader,
    Cookie,
}

/// Decision 2: the bearer token of a request, or `MissingToken` / `InvalidRequest` /
/// `UnusableCredentials`.
pub fn extract<'h>(
    headers: &'h HeaderMap,
    token_cookie: Option<&str>,
) -> Result<(&'h str, TokenSource), AuthError> {
    let mut authorization = headers.get_all(AUTHORIZATION).iter();
    let first = authorization.next();
    if authorization.next().is_some() {
        return Err(AuthError::InvalidRequest(
            "send exactly one Authorization header".to_owned(),
        ));
    }
    let cookie = match token_cookie {
        Some(name) => find_cookie(headers, name)?,
        None => None,
    };
    match (first, cookie) {
        (Some(_), Some(_)) => Err(AuthError::InvalidRequest(
            "send the token either in the Authorization header or in the cookie, not both"
                .to_owned(),
        )),
        (Some(value), None) => {
            let value = value
                .to_str()
                .map_err(|_| AuthError::UnusableCredentials("Authorization header is not ASCII"))?;
            bearer_token(value).map(|t| (t, TokenSource::AuthorizationHeader))
        }
        (None, Some(value)) => {
            if is_b64token(value) {
                Ok((value, TokenSource::Cookie))
            } else {
                Err(AuthError::UnusableCredentials(
                    "the token cookie is empty or not a bearer token",
                ))
            }
        }
        (None, None) => Err(AuthError::MissingToken),
    }
}

/// `credentials = auth-scheme [ 1*SP token68 ]` (RFC 9110 §11.4), scheme `Bearer`.
fn bearer_token(value: &str) -> Result<&str, AuthError> {
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::UnusableCredentials(
            "only the Bearer authorization scheme is accepted",
        ));
    }
    let token = rest.trim_start_matches(' ');
    if token.is_empty() {
        return Err(AuthError::UnusableCredentials("the bearer token is empty"));
    }
    if token.contains([' ', '\t']) {
        return Err(AuthError::UnusableCredentials(
            "send exactly one token after Bearer",
        ));
    }
    if !is_b64token(token) {
        return Err(AuthError::UnusableCredentials(
            "the bearer token has characters outside the RFC 6750 b64token set",
        ));
    }
    Ok(token)
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// The value of cookie `name` across every `Cookie` header (HTTP/2 may split them, RFC 9113
/// §8.2.3). The same cookie twice is ambiguous, hence refused.
fn find_cookie<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, AuthError> {
    let mut found = None;
    for header in headers.get_all(COOKIE) {
        let Ok(header) = header.to_str() else {
            continue;
        };
        for pair in header.split(';') {
            let Some((key, value)) = pair.trim().split_once('=') else {
                continue;
            };
            if key.trim() != name {
                continue;
            }
            if found.is_some() {
                return Err(AuthError::InvalidRequest(format!(
                    "cookie {} was sent more than once",
                    super::error::quote(name)
                )));
            }
            // RFC 6265 §4.1.1 allows the value in double quotes.
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            found = Some(value);
        }
    }
    Ok(found)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for value in ["Bearer a.b.c", "bearer a.b.c", "BEARER  a.b.c"] {
            let map = headers(&[("authorization", value)]);
            assert_eq!(
                extract(&map, None),
                Ok(("a.b.c", TokenSource::AuthorizationHeader))
            );
        }
    }

    #[test]
    fn unusable_credentials_are_401_variants() {
        for value in [
            "Basic dXNlcjpwYXNz",
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a,b",
        ] {
            let map = headers(&[("authorization", value)]);
            assert!(
                matches!(extract(&map, None), Err(AuthError::UnusableCredentials(_))),
                "{value}"
            );
        }
    }

    #[test]
    fn ambiguity_is_invalid_request() {
        let two = headers(&[("authorization", "Bearer a"), ("authorization", "Bearer b")]);
        assert!(matches!(
            extract(&two, None),
            Err(AuthError::InvalidRequest(_))
        ));
        let both = headers(&[("authorization", "Bearer a"), ("cookie", "at=b")]);
        assert!(matches!(
            extract(&both, Some("at")),
            Err(AuthError::InvalidRequest(_))
        ));
        let twice = headers(&[("cookie", "at=a"), ("cookie", "x=1; at=b")]);
        assert!(matches!(
            extract(&twice, Some("at")),
            Err(AuthError::InvalidRequest(_))
        ));
    }

    #[test]
    fn cookie_only_when_configured() {
        let map = headers(&[("cookie", "theme=dark; at=x.y.z")]);
        assert_eq!(
            extract(&map, Some("at")),
            Ok(("x.y.z", TokenSource::Cookie))
        );
        assert_eq!(extract(&map, None), Err(AuthError::MissingToken));
        // A header plus an unrelated cookie is fine.
        let map = headers(&[("authorization", "Bearer t"), ("cookie", "theme=dark")]);
        assert!(extract(&map, Some("at")).is_ok());
    }

    #[test]
    fn nothing_sent_is_missing_token() {
        assert_eq!(
            extract(&HeaderMap::new(), Some("at")),
            Err(AuthError::MissingToken)
        );
    }
}
