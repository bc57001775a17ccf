//! The request's authority: `Host` (RFC 9112 §3.2), the absolute-form target's authority
//! (§3.2.2) and HTTP/2's `:authority` (RFC 9113 §8.3.1), checked in phase 1.
//!
//! `request_authority` is the whole rule, and `parse_authority` the grammar; both are pure, so
//! the pipeline, the unit tests and the fuzz target (`host_parse`) call the same code:
//!
//! - more than one `Host` line is malformed, whatever the version;
//! - an HTTP/1.1 request without `Host` is malformed (an HTTP/1.0 one may omit it);
//! - a `Host` (or target authority, or `:authority`) that is not `uri-host [ ":" port ]` is
//!   malformed: RFC 3986 §3.2.2's IP-literal, IPv4address or reg-name, no userinfo (RFC 9110
//!   §4.2.4), a port of at most five digits up to 65535, and, stricter than RFC 3986, neither an
//!   empty host (nginx refuses it too) nor a comma (no DNS name has one, and the value travels in
//!   the comma-separated `X-Forwarded-Host`, where a comma would split it into two hosts);
//! - on HTTP/1 an absolute-form target's authority wins over `Host` (which must still be valid);
//! - on HTTP/2, `:authority` and a `Host` that names another authority after RFC 3986 §6.2.2-6.2.3
//!   normalisation (case of the host, default and empty ports) is malformed.
//!
//! The authority this yields is the only value `X-Forwarded-Host` ever carries.

use std::net::Ipv6Addr;

use http::header::{self, HeaderValue};
use http::{HeaderMap, Uri, Version};

/// Why a request's authority is malformed (400). The Display text is client-facing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("the request has no Host header (RFC 9112 §3.2: every HTTP/1.1 request carries one)")]
    Missing,
    #[error("the request has more than one Host header (RFC 9112 §3.2)")]
    Repeated,
    #[error("the Host header is not a valid host[:port] (RFC 9112 §3.2): {0}")]
    InvalidHost(&'static str),
    #[error("the request target's authority is not a valid host[:port]: {0}")]
    InvalidTarget(&'static str),
    #[error(
        "the Host header names another authority than the request's :authority (RFC 9113 §8.3.1)"
    )]
    Disagree,
}

/// A checked `uri-host [ ":" port ]`, borrowed from the text it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authority<'a> {
    /// As written: a reg-name or IPv4 address, or an IP-literal with its brackets.
    pub host: &'a str,
    /// `None` when absent or empty (`example.com:` is `example.com`, RFC 3986 §6.2.3).
    pub port: Option<u16>,
}

impl Authority<'_> {
    /// Whether both name the same authority for `scheme` (RFC 3986 §6.2.2.1: the host is
    /// case-insensitive; §6.2.3: the scheme's default port equals no port).
    pub fn same_as(&self, other: &Authority<'_>, scheme: Option<&str>) -> bool {
        let default = match scheme {
            Some(s) if s.eq_ignore_ascii_case("https") => Some(443),
            Some(s) if s.eq_ignore_ascii_case("http") => Some(80),
            _ => None,
        };
        let port = |p: Option<u16>| p.or(default);
        self.host.eq_ignore_ascii_case(other.host) && port(self.port) == port(other.port)
    }
}

/// Parses `uri-host [ ":" port ]` (RFC 3986 §3.2.2-3.2.3), with the refusals the module
/// describes. `Err` says what is wrong, for the 400's description.
pub fn parse_authority(text: &[u8]) -> Result<Authority<'_>, &'static str> {
    let text = std::str::from_utf8(text).map_err(|_| "it is not ASCII")?;
    if text.is_empty() {
        return Err("it is empty");
    }
    if text.contains('@') {
        return Err("it carries userinfo (`@`), which HTTP forbids (RFC 9110 §4.2.4)");
    }
    let (host, port) = if let Some(literal) = text.strip_prefix('[') {
        let Some((inside, after)) = literal.split_once(']') else {
            return Err("an IP literal `[` is not closed by `]`");
        };
        if !is_ipv6(inside) && !is_ipv_future(inside) {
            return Err("the bracketed IP literal is not an IPv6 address");
        }
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or("text follows the `]` of the IP literal")?,
            ),
        };
        (&text[..inside.len() + 2], port)
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return Err("the host is empty");
    }
    if !host.starts_with('[') {
        check_reg_name(host)?;
    }
    let port = match port {
        None | Some("") => None,
        Some(digits) => Some(parse_port(digits)?),
    };
    Ok(Authority { host, port })
}

/// RFC 3986 reg-name (an IPv4 address is one too): unreserved, pct-encoded and sub-delims, but
/// no comma (see the module).
fn check_reg_name(host: &str) -> Result<(), &'static str> {
    let bytes = host.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = |at: usize| bytes.get(at).is_some_and(u8::is_ascii_hexdigit);
                if !(hex(i + 1) && hex(i + 2)) {
                    return Err("it has a malformed percent-escape");
                }
                i += 3;
                continue;
            }
            b',' => return Err("it has a comma, which no host name has"),
            b if b.is_ascii_alphanumeric() => {}
            b'-' | b'.' | b'_' | b'~' => {}
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b';' | b'=' => {}
            b' ' | b'\t' => return Err("it contains whitespace"),
            b'/' | b'\\' | b'?' | b'#' => return Err("it contains a path, query or fragment"),
            b'[' | b']' => return Err("`[` or `]` outside an IP literal"),
            _ => return Err("it contains a character a host name cannot have"),
        }
        i += 1;
    }
    Ok(())
}

fn parse_port(digits: &str) -> Result<u16, &'static str> {
    if digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("the port is not a number from 0 to 65535");
    }
    digits
        .parse()
        .map_err(|_| "the port is not a number from 0 to 65535")
}

fn is_ipv6(text: &str) -> bool {
    text.parse::<Ipv6Addr>().is_ok()
}

/// `IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )` (RFC 3986 §3.2.2).
fn is_ipv_future(text: &str) -> bool {
    let Some(rest) = text.strip_prefix(['v', 'V']) else {
        return false;
    };
    let Some((version, address)) = rest.split_once('.') else {
        return false;
    };
    !version.is_empty()
        && version.bytes().all(|b| b.is_ascii_hexdigit())
        && !address.is_empty()
        && address
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+;=:".contains(&b))
}

/// Phase 1's authority rule (see the module): the validated authority of a request, `None` only
/// for an HTTP/1.0 request that named none.
pub fn request_authority(
    version: Version,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Option<HeaderValue>, HostError> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(HostError::Repeated);
    }
    let host_authority = host
        .map(|value| parse_authority(value.as_bytes()).map_err(HostError::InvalidHost))
        .transpose()?;
    let target = uri
        .authority()
        .map(|authority| {
            parse_authority(authority.as_str().as_bytes()).map_err(HostError::InvalidTarget)
        })
        .transpose()?;
    match (version, host_authority, target) {
        (Version::HTTP_2 | Version::HTTP_3, Some(host), Some(target))
            if !host.same_as(&target, uri.scheme_str()) =>
        {
            return Err(HostError::Disagree);
        }
        // RFC 9113 §8.3.1: an http(s) request carries :authority or Host.
        (Version::HTTP_2 | Version::HTTP_3, None, None) => return Err(HostError::Missing),
        (Version::HTTP_2 | Version::HTTP_3, _, _) => {}
        (Version::HTTP_09 | Version::HTTP_10, _, _) => {}
        (_, None, _) => return Err(HostError::Missing),
        _ => {}
    }
    // §3.2.2: the target's authority wins; both were checked, so either is a valid value.
    let chosen = match (uri.authority(), host) {
        (Some(authority), _) => HeaderValue::from_str(authority.as_str()).ok(),
        (None, Some(host)) => Some(host.clone()),
        (None, None) => None,
    };
    Ok(chosen)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn headers(hosts: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for host in hosts {
            map.append(header::HOST, HeaderValue::from_str(host).unwrap());
        }
        map
    }

    fn authority(
        version: Version,
        target: &str,
        hosts: &[&str],
    ) -> Result<Option<String>, HostError> {
        let uri: Uri = target.parse().unwrap();
        request_authority(version, &uri, &headers(hosts))
            .map(|v| v.map(|v| v.to_str().unwrap().to_owned()))
    }

    #[test]
    fn valid_hosts_parse_into_host_and_port() {
        fn ok(text: &str) -> Authority<'_> {
            parse_authority(text.as_bytes()).unwrap()
        }
        assert_eq!(ok("api.saasco.example").host, "api.saasco.example");
        assert_eq!(ok("api.saasco.example").port, None);
        assert_eq!(ok("127.0.0.1:8080").port, Some(8080));
        assert_eq!(ok("[::1]:443").host, "[::1]");
        assert_eq!(ok("[::1]").port, None);
        assert_eq!(ok("[v1.fe80::a+en1]").host, "[v1.fe80::a+en1]");
        assert_eq!(ok("example.com:").port, None);
        assert_eq!(ok("xn--bcher-kva.example").host, "xn--bcher-kva.example");
        assert_eq!(ok("a%2Db").host, "a%2Db");
    }

    #[test]
    fn invalid_hosts_are_refused_with_a_reason() {
        for bad in [
            "",
            ":80",
            "user@evil.example",
            "evil.example, good.example",
            "evil.example,good.example",
            "a b",
            "a\tb",
            "host/path",
            "host\\x",
            "host?q",
            "[::1",
            "[not-ipv6]",
            "[::1]x",
            "[::1]:x",
            "host:65536",
            "host:123456",
            "host:-1",
            "host:80:81",
            "a%zz",
            "a%2",
            "é.example",
            "a\"b",
            "a<b",
        ] {
            assert!(
                parse_authority(bad.as_bytes()).is_err(),
                "{bad:?} was accepted"
            );
        }
        assert!(parse_authority(b"a\x00b").is_err());
        assert!(parse_authority(b"\xff").is_err());
    }

    #[test]
    fn http11_needs_exactly_one_valid_host() {
        let v11 = Version::HTTP_11;
        assert_eq!(authority(v11, "/x", &["g"]), Ok(Some("g".into())));
        assert_eq!(authority(v11, "/x", &[]), Err(HostError::Missing));
        assert_eq!(authority(v11, "/x", &["a", "a"]), Err(HostError::Repeated));
        assert!(matches!(
            authority(v11, "/x", &["a b"]),
            Err(HostError::InvalidHost(_))
        ));
        // HTTP/1.0 may omit it, never repeat it.
        assert_eq!(authority(Version::HTTP_10, "/x", &[]), Ok(None));
        assert_eq!(
            authority(Version::HTTP_10, "/x", &["a", "b"]),
            Err(HostError::Repeated)
        );
    }

    #[test]
    fn an_absolute_form_authority_wins_over_host() {
        let v11 = Version::HTTP_11;
        let target = "http://api.example:8080/forecast";
        assert_eq!(
            authority(v11, target, &["other.example"]),
            Ok(Some("api.example:8080".into()))
        );
        // Host is still required and still checked.
        assert_eq!(authority(v11, target, &[]), Err(HostError::Missing));
        assert!(matches!(
            authority(v11, target, &["bad host"]),
            Err(HostError::InvalidHost(_))
        ));
        assert!(matches!(
            authority(v11, "http://user@api.example/x", &["api.example"]),
            Err(HostError::InvalidTarget(_))
        ));
    }

    #[test]
    fn h2_authority_and_host_must_agree_after_normalisation() {
        let v2 = Version::HTTP_2;
        let target = "https://API.example/forecast";
        assert_eq!(authority(v2, target, &[]), Ok(Some("API.example".into())));
        assert_eq!(
            authority(v2, target, &["api.example:443"]),
            Ok(Some("API.example".into()))
        );
        assert_eq!(
            authority(v2, target, &["api.example:"]),
            Ok(Some("API.example".into()))
        );
        assert_eq!(
            authority(v2, target, &["evil.example"]),
            Err(HostError::Disagree)
        );
        assert_eq!(
            authority(v2, target, &["api.example:80"]),
            Err(HostError::Disagree)
        );
        // Without :authority, Host alone names it; with neither, the request is malformed.
        assert_eq!(authority(v2, "/forecast", &["g"]), Ok(Some("g".into())));
        assert_eq!(authority(v2, "/forecast", &[]), Err(HostError::Missing));
    }
}
