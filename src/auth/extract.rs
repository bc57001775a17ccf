//! Decision 2: find the bearer token of a request.
//!
//! `Authorization: Bearer <token>` (RFC 6750 §2.1; the scheme is case-insensitive per RFC 9110
//! §11.1), `Authorization: DPoP <token>` (RFC 9449 §7.1, the same token68 syntax; its proof is
//! checked by `auth::binding`), or, only when no Authorization header was sent and `token_cookie` is configured, that
//! cookie. Never the query string (RFC 6750 §2.3 is not supported: URLs end up in logs).
//! Ambiguity is refused rather than resolved: two Authorization headers, a header plus the
//! cookie, or the cookie twice are `InvalidRequest` (400).
//!
//! [`opaque`] recognises, once a token has failed to decode, the opaque access token Auth0 issues
//! when the token request names no `audience`, so the refusal can name that fix.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderMap;
use http::header::{AUTHORIZATION, COOKIE};

use super::AuthError;

/// Where the token came from (the cookie must then be removed before forwarding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `Authorization: Bearer`.
    AuthorizationHeader,
    /// `Authorization: DPoP` (RFC 9449 §7.1): the request must also carry a `DPoP` proof.
    DpopScheme,
    Cookie,
}

/// Decision 2: the bearer token of a request, or `MissingToken` / `InvalidRequest` /
/// `UnusableCredentials`: `locate`, then `Located::check`.
pub fn extract<'h>(
    headers: &'h HeaderMap,
    token_cookie: Option<&str>,
) -> Result<(&'h str, TokenSource), AuthError> {
    let located = locate(headers, token_cookie)?;
    Ok((located.check()?, located.source))
}

/// Where a request carries its token, found by `locate`, its syntax not checked yet.
#[derive(Debug, Clone, Copy)]
pub struct Located<'h> {
    /// The token's bytes: after the scheme and its blanks, or the cookie's value.
    raw: &'h [u8],
    pub source: TokenSource,
}

impl<'h> Located<'h> {
    /// The token's bytes, unchecked (not even as UTF-8): only to look them up in the
    /// verified-token cache, which holds only tokens that passed `check`, so a byte-equal hit
    /// needs no second check (and no UTF-8 pass over the token either).
    pub fn bytes(&self) -> &'h [u8] {
        self.raw
    }

    /// The token once its syntax is checked (RFC 6750 §2.1 b64token). Which problem is reported,
    /// when there are several, follows the order a reader checks: not ASCII, empty, more than
    /// one token, characters outside b64token.
    pub fn check(&self) -> Result<&'h str, AuthError> {
        let token = self.raw;
        if self.source == TokenSource::Cookie {
            return match std::str::from_utf8(token) {
                Ok(text) if is_b64token(text) => Ok(text),
                _ => Err(AuthError::UnusableCredentials(
                    "the token cookie is empty or not a bearer token",
                )),
            };
        }
        if is_plain_b64token(token)
            && let Ok(token) = std::str::from_utf8(token)
        {
            return Ok(token);
        }
        let scan = scan_b64token(token);
        if scan.not_ascii {
            return Err(AuthError::UnusableCredentials(NOT_ASCII));
        }
        if token.is_empty() {
            return Err(AuthError::UnusableCredentials("the bearer token is empty"));
        }
        if scan.blank {
            return Err(AuthError::UnusableCredentials(
                "send exactly one token after Bearer",
            ));
        }
        match (scan.valid, std::str::from_utf8(token)) {
            (true, Ok(token)) => Ok(token),
            _ => Err(AuthError::UnusableCredentials(
                "the bearer token has characters outside the RFC 6750 b64token set",
            )),
        }
    }
}

/// The first half of decision 2: the one place the request carries a token (refusing two
/// Authorization headers, a header and the cookie, a scheme other than Bearer or DPoP), without
/// checking the token's own syntax yet (`Located::check`).
pub fn locate<'h>(
    headers: &'h HeaderMap,
    token_cookie: Option<&str>,
) -> Result<Located<'h>, AuthError> {
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
        (Some(value), None) => authorization_token(value.as_bytes()),
        (None, Some(value)) => Ok(Located {
            raw: value.as_bytes(),
            source: TokenSource::Cookie,
        }),
        (None, None) => Err(AuthError::MissingToken),
    }
}

/// `Bearer <token>` (RFC 6750 §2.1) or `DPoP <token>` (RFC 9449 §7.1: the same token68
/// syntax), the scheme case-insensitive: the token's bytes and which scheme carried it.
fn authorization_token(value: &[u8]) -> Result<Located<'_>, AuthError> {
    let value = trim_blanks(value);
    let scheme_end = value.iter().position(|&b| b == b' ').unwrap_or(value.len());
    let (scheme, rest) = value.split_at(scheme_end);
    let source = if scheme.eq_ignore_ascii_case(b"bearer") {
        TokenSource::AuthorizationHeader
    } else if scheme.eq_ignore_ascii_case(b"dpop") {
        TokenSource::DpopScheme
    } else {
        if !value.iter().all(|&b| is_field_char(b)) {
            return Err(AuthError::UnusableCredentials(NOT_ASCII));
        }
        return Err(AuthError::UnusableCredentials(
            "only the Bearer and DPoP authorization schemes are accepted",
        ));
    };
    let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    Ok(Located {
        raw: &rest[start..],
        source,
    })
}

pub(super) const NOT_ASCII: &str = "Authorization header is not ASCII";

/// Header field bytes a `&str` view accepts: visible ASCII, space and tab (RFC 9110 §5.5 minus
/// obs-text).
fn is_field_char(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b)
}

fn trim_blanks(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

/// The common case, decided without branching per byte: b64token characters, then only `=`
/// padding. (About 2.5 instructions a byte under callgrind, as a 256-entry table or an explicit
/// SSE2 or SWAR formulation also measured: unsigned byte ranges are not cheaper in vectors.)
fn is_plain_b64token(token: &[u8]) -> bool {
    let padding = token.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &token[..token.len() - padding];
    !body.is_empty()
        && body.iter().fold(true, |all, &b| {
            all & (b.is_ascii_alphanumeric()
                | (b == b'-')
                | (b == b'.')
                | (b == b'_')
                | (b == b'~')
                | (b == b'+')
                | (b == b'/'))
        })
}

/// What one pass over a candidate token found (the slow path, which also says what is wrong).
struct TokenScan {
    /// A b64token (RFC 6750 §2.1): `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
    valid: bool,
    /// A space or tab inside.
    blank: bool,
    /// A byte outside visible ASCII, space and tab.
    not_ascii: bool,
}

fn scan_b64token(token: &[u8]) -> TokenScan {
    let mut scan = TokenScan {
        valid: true,
        blank: false,
        not_ascii: false,
    };
    let mut body = 0usize;
    let mut padding = false;
    for &b in token {
        if B64TOKEN[usize::from(b)] {
            // A token character after `=` padding: padding only ends a token.
            scan.valid &= !padding;
            body += 1;
        } else if b == b'=' {
            padding = true;
        } else {
            scan.valid = false;
            scan.blank |= b == b' ' || b == b'\t';
            scan.not_ascii |= !is_field_char(b);
        }
    }
    scan.valid &= body > 0;
    scan
}

/// `B64TOKEN[b]`: `b` is a b64token character other than the `=` padding.
static B64TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] =
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    table
};

fn is_b64token(token: &str) -> bool {
    scan_b64token(token.as_bytes()).valid
}

/// What an opaque access token looks like, as [`opaque`] recognised it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opaque {
    /// How it looks, for the description: "a JWE with alg dir" or "no JWT at all".
    pub shape: &'static str,
    /// The `iss` of a JWE's protected header (Auth0 writes its tenant there), unverified: it only
    /// picks whose audience the hint names.
    pub issuer: Option<String>,
}

/// Auth0's classic mistake (SPEC, second round): a token requested without `audience` comes back
/// opaque, either a JWE with `alg: dir` (five segments, the encrypted key empty; encrypted with a
/// key only Auth0 holds) or a string that is no JWT at all (no dot). `None` for anything else,
/// including a JWE encrypted for a real key (`RSA-OAEP`…), which is refused as encrypted.
/// Only called once a token failed to decode, so it costs nothing on the accepted path.
pub fn opaque(token: &str) -> Option<Opaque> {
    if !token.contains('.') {
        return Some(Opaque {
            shape: "no JWT at all",
            issuer: None,
        });
    }
    let mut segments = token.split('.');
    let header = segments.next()?;
    if segments.count() != 4 {
        return None;
    }
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    if header.get("alg").and_then(serde_json::Value::as_str) != Some("dir") {
        return None;
    }
    Some(Opaque {
        shape: "a JWE with alg dir",
        issuer: header
            .get("iss")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
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
    fn the_fast_path_classes_every_byte_as_the_table_does() {
        for b in 0..=u8::MAX {
            // Alone, and at every position of a 32-byte chunk and its remainder.
            for at in [0, 7, 31, 32, 40] {
                let mut token = vec![b'a'; 41];
                token[at] = b;
                // `=` at the very end is padding, which a b64token may end with.
                let expected = B64TOKEN[usize::from(b)] || (b == b'=' && at == 40);
                assert_eq!(is_plain_b64token(&token), expected, "byte {b:#04x} at {at}");
            }
            if b != b'=' {
                assert_eq!(
                    is_plain_b64token(&[b]),
                    B64TOKEN[usize::from(b)],
                    "{b:#04x}"
                );
            }
        }
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
    fn dpop_scheme_is_case_insensitive_and_read_like_bearer() {
        for value in ["DPoP a.b.c", "dpop a.b.c", "DPOP  a.b.c ", " DPoP a.b.c"] {
            let map = headers(&[("authorization", value)]);
            assert_eq!(extract(&map, None), Ok(("a.b.c", TokenSource::DpopScheme)));
        }
        for value in ["DPoP", "DPoP ", "DPoP a b", "DPoP a,b", "DPoPa.b.c"] {
            let map = headers(&[("authorization", value)]);
            assert!(
                matches!(extract(&map, None), Err(AuthError::UnusableCredentials(_))),
                "{value}"
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

    /// `header` base64url-encoded as a JWE's protected header, then four more segments.
    fn jwe(header: &serde_json::Value) -> String {
        format!(
            "{}..aXY.Y2lwaGVydGV4dA.dGFn",
            URL_SAFE_NO_PAD.encode(header.to_string())
        )
    }

    #[test]
    fn auth0_opaque_tokens_are_recognised_and_nothing_else() {
        let dir = jwe(&serde_json::json!({
            "alg": "dir", "enc": "A256GCM", "iss": "https://tenant.eu.auth0.com/"
        }));
        assert_eq!(
            opaque(&dir),
            Some(Opaque {
                shape: "a JWE with alg dir",
                issuer: Some("https://tenant.eu.auth0.com/".to_owned()),
            })
        );
        let without_iss = jwe(&serde_json::json!({"alg": "dir", "enc": "A256GCM"}));
        assert_eq!(opaque(&without_iss).and_then(|o| o.issuer), None);
        assert_eq!(
            opaque("8yKXVp1lXW2vKhZrGQ0e3Mqu5sWUVq7d").map(|o| o.shape),
            Some("no JWT at all")
        );
        // A JWE for a real key, a JWS, and other malformed shapes are not Auth0's opaque token.
        let rsa = jwe(&serde_json::json!({"alg": "RSA-OAEP-256", "enc": "A256GCM"}));
        for token in [
            rsa.as_str(),
            "a.b.c",
            "a.b",
            "a.b.c.d",
            "!!!!.b.c.d.e",
            "a.b.c.d.e.f",
        ] {
            assert_eq!(opaque(token), None, "{token}");
        }
    }

    #[test]
    fn nothing_sent_is_missing_token() {
        assert_eq!(
            extract(&HeaderMap::new(), Some("at")),
            Err(AuthError::MissingToken)
        );
    }

    /// The straightforward reading of RFC 6750 §2.1 (several passes over `&str`): the one-pass
    /// scanner must agree with it on every input, error messages included.
    /// The Authorization header's token as the data plane takes it on a cache miss.
    fn bearer_token(value: &[u8]) -> Result<&str, AuthError> {
        authorization_token(value)?.check()
    }

    fn reference(value: &[u8]) -> Result<&str, AuthError> {
        let value = std::str::from_utf8(value)
            .ok()
            .filter(|v| v.bytes().all(is_field_char))
            .ok_or(AuthError::UnusableCredentials(NOT_ASCII))?;
        let value = value.trim_matches(|c| c == ' ' || c == '\t');
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::UnusableCredentials(
                "only the Bearer and DPoP authorization schemes are accepted",
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
        let body = token.trim_end_matches('=');
        let b64 = !body.is_empty()
            && body.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
            });
        if !b64 {
            return Err(AuthError::UnusableCredentials(
                "the bearer token has characters outside the RFC 6750 b64token set",
            ));
        }
        Ok(token)
    }

    proptest::proptest! {
        #[test]
        fn one_pass_scan_agrees_with_the_reference(
            value in proptest::collection::vec(
                proptest::sample::select(vec![
                    b'B', b'e', b'a', b'r', b'E', b'R', b' ', b'\t', b'=', b'x', b'9', b'.',
                    b'~', b'/', b',', b'"', 0x7f, 0x80, 0xff, 0x01,
                ]),
                0..24,
            ),
            prefix in proptest::sample::select(vec!["", "Bearer ", "bearer  ", " BEARER ", "Bearer\t"]),
        ) {
            let mut bytes = prefix.as_bytes().to_vec();
            bytes.extend(value);
            proptest::prop_assert_eq!(bearer_token(&bytes), reference(&bytes));
        }
    }
}
