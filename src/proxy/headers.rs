//! Header rules: what the upstream receives and what it never receives.
//!
//! Applied to an authorised request just before forwarding, in this order: hop-by-hop headers go
//! (RFC 9110 §7.6.1, including every name the client listed in `Connection`), every inbound
//! `X-Auth-*` goes (any case, every copy, and every lookalike spelled with `_` for `-`),
//! `Authorization` goes unless `forward_token`, the token cookie goes, then the gateway sets the
//! verified identity and appends `X-Forwarded-*`. Because the strip happens after `Connection` is
//! read and before the identity is set, a client cannot use `Connection: X-Auth-Subject` to make
//! the gateway drop a header it set itself.
//!
//! Also here, as a pure function the pipeline, the unit tests and the fuzz target share: the
//! joining of HTTP/2 cookie crumbs into one `Cookie` line for the HTTP/1.1 upstream (RFC 9113
//! §8.2.3). Which protocol a request asks to upgrade to is `proxy::upgrade`.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use http::header::{self, Entry, HeaderName};
use http::{HeaderMap, HeaderValue};

use crate::identity::Identity;

pub const X_AUTH_SUBJECT: HeaderName = HeaderName::from_static("x-auth-subject");
pub const X_AUTH_CLIENT_ID: HeaderName = HeaderName::from_static("x-auth-client-id");
pub const X_AUTH_SCOPES: HeaderName = HeaderName::from_static("x-auth-scopes");
pub const X_AUTH_ISSUER: HeaderName = HeaderName::from_static("x-auth-issuer");
/// The configured name of the issuer that verified the token (`default` in the one-issuer form).
pub const X_AUTH_ISSUER_NAME: HeaderName = HeaderName::from_static("x-auth-issuer-name");
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// RFC 9110 §7.6.1 plus the de-facto `Keep-Alive` and `Proxy-Connection`, and `HTTP2-Settings`
/// (RFC 9113 §3.1 deprecates the h2c upgrade it belongs to; RFC 7540 §3.2.1 made it hop-by-hop):
/// an `Upgrade: h2c` request is forwarded, if at all, as a plain HTTP/1.1 request. A WebSocket
/// upgrade the pipeline tunnels gets its `Connection` and `Upgrade` set again afterwards.
/// A `match` on the (lower-case) name: the compiler switches on the length first, so a name
/// that is not hop-by-hop costs a compare or two, not ten.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    is_hop_by_hop_name(name.as_str())
}

/// `is_hop_by_hop` on a lower-case name.
fn is_hop_by_hop_name(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "http2-settings"
    )
}

/// Removes hop-by-hop headers and every header named in `Connection` (RFC 9110 §7.6.1).
/// One pass over the names present (a handful) rather than a lookup per hop-by-hop name; most
/// requests carry none, and then nothing is allocated and `Connection` is not looked up.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let mut doomed: Vec<HeaderName> = Vec::new();
    let mut connection = false;
    for name in headers.keys() {
        if is_hop_by_hop(name) {
            connection |= name == header::CONNECTION;
            doomed.push(name.clone());
        }
    }
    if connection {
        // A listed hop-by-hop name (`keep-alive`, in most responses) is already doomed if it is
        // there: only the others are parsed into names (each an allocation) and looked up.
        doomed.extend(
            headers
                .get_all(header::CONNECTION)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .map(str::trim)
                .filter(|option| !is_hop_by_hop_option(option))
                .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok()),
        );
    }
    for name in doomed {
        headers.remove(name);
    }
}

/// Whether a `Connection` option names a hop-by-hop header, in any case.
fn is_hop_by_hop_option(option: &str) -> bool {
    let mut lower = [0u8; 19]; // "proxy-authorization", the longest
    let Some(room) = lower.get_mut(..option.len()) else {
        return false;
    };
    for (to, from) in room.iter_mut().zip(option.bytes()) {
        *to = from.to_ascii_lowercase();
    }
    std::str::from_utf8(room).is_ok_and(is_hop_by_hop_name)
}

/// Removes every inbound `X-Auth-*` header: only the gateway speaks for identity. `HeaderMap`
/// names are lower-case, so one prefix test covers every spelling and `remove` every copy; a name
/// spelled with `_` for `-` (`X_Auth_Subject`) goes too, because CGI/WSGI-style backends map both
/// to the same variable (`HTTP_X_AUTH_SUBJECT`) and would read it as the real header (nginx drops
/// underscore headers by default for the same reason).
pub fn strip_identity(headers: &mut HeaderMap) {
    let spoofed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name_starts_like(name.as_str(), "x-auth-"))
        .cloned()
        .collect();
    for name in spoofed {
        headers.remove(name);
    }
}

/// Whether `name`, compared as a CGI/WSGI backend would (ASCII case ignored, `_` read as `-`),
/// starts with `prefix`. `prefix` is lower-case with `-`.
pub fn name_starts_like(name: &str, prefix: &str) -> bool {
    name.len() >= prefix.len()
        && name
            .bytes()
            .zip(prefix.bytes())
            .all(|(a, b)| normalised_name_byte(a) == b)
}

/// Whether two header names are the same to a CGI/WSGI backend (ASCII case ignored, `_` read as
/// `-`): e.g. `X_Auth_Assertion` and `x-auth-assertion`. For stripping a configurable header the
/// gateway sets, such as the signed assertion's.
pub fn names_alike(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .all(|(x, y)| normalised_name_byte(x) == normalised_name_byte(y))
}

fn normalised_name_byte(b: u8) -> u8 {
    match b {
        b'_' => b'-',
        other => other.to_ascii_lowercase(),
    }
}

/// RFC 9113 §8.2.3: an HTTP/2 client may split `Cookie` into one field per cookie ("crumbs");
/// before the request goes to an HTTP/1.1 upstream they are joined with `"; "` into one line, as
/// RFC 6265 §5.4 wants (a backend reading only the first `Cookie` line would lose the rest).
pub fn join_cookie_crumbs(headers: &mut HeaderMap) {
    let mut crumbs = headers.get_all(header::COOKIE).iter();
    if crumbs.next().is_none() || crumbs.next().is_none() {
        return;
    }
    let mut joined: Vec<u8> = Vec::new();
    for crumb in headers.get_all(header::COOKIE) {
        if !joined.is_empty() {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(crumb.as_bytes());
    }
    // Joined from valid values with "; ", so still a valid value.
    if let Ok(value) = HeaderValue::from_bytes(&joined) {
        headers.insert(header::COOKIE, value);
    }
}

/// Removes one cookie (the token cookie) from every `Cookie` header, keeping the others.
pub fn remove_cookie(headers: &mut HeaderMap, cookie_name: &str) {
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| pair.split('=').next().map(str::trim) != Some(cookie_name))
        .map(str::to_owned)
        .collect();
    headers.remove(header::COOKIE);
    if !kept.is_empty()
        && let Ok(value) = HeaderValue::from_str(&kept.join("; "))
    {
        headers.insert(header::COOKIE, value);
    }
}

/// A claim that cannot travel in a header (control characters): the request is refused rather
/// than forwarded with part of its identity missing.
#[derive(Debug, thiserror::Error)]
#[error("claim {claim} cannot be carried in an HTTP header")]
pub struct UnrepresentableClaim {
    pub claim: String,
}

/// Sets the verified identity and the `[forward.claims]` mappings.
pub fn set_identity(
    headers: &mut HeaderMap,
    identity: &Identity,
    claim_headers: &[(String, HeaderName)],
) -> Result<(), UnrepresentableClaim> {
    let rendered = identity.headers().map_err(|claim| UnrepresentableClaim {
        claim: claim.to_owned(),
    })?;
    headers.insert(X_AUTH_SUBJECT, rendered.subject.clone());
    if let Some(client_id) = &rendered.client_id {
        headers.insert(X_AUTH_CLIENT_ID, client_id.clone());
    }
    headers.insert(X_AUTH_SCOPES, rendered.scopes.clone());
    headers.insert(X_AUTH_ISSUER, rendered.issuer.clone());
    headers.insert(X_AUTH_ISSUER_NAME, rendered.issuer_name.clone());
    for (claim, name) in claim_headers {
        let text = match identity.claims.get(claim) {
            None | Some(serde_json::Value::Null) => continue,
            Some(serde_json::Value::String(s)) => s.clone(),
            // Numbers, booleans, arrays and objects travel as compact JSON.
            Some(other) => other.to_string(),
        };
        let value = HeaderValue::from_str(&text).map_err(|_| UnrepresentableClaim {
            claim: claim.clone(),
        })?;
        headers.insert(name.clone(), value);
    }
    Ok(())
}

/// Appends this hop to `X-Forwarded-For`, `-Proto` and `-Host`.
pub fn append_forwarded(
    headers: &mut HeaderMap,
    client_ip: IpAddr,
    proto: &'static str,
    host: Option<HeaderValue>,
) {
    append(headers, X_FORWARDED_FOR, ip_value(client_ip));
    append(headers, X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    if let Some(host) = host {
        append(headers, X_FORWARDED_HOST, host);
    }
}

/// The address as a header value, formatted on the stack. IPv4, the usual case, is written
/// digit by digit: `write!` through `core::fmt` cost more than the rest of this phase.
fn ip_value(ip: IpAddr) -> HeaderValue {
    // 45 bytes hold the longest IPv6 text form, so neither write can run out of room.
    let mut buffer = [0u8; 45];
    let len = match ip {
        IpAddr::V4(v4) => write_ipv4(&mut buffer, v4.octets()),
        IpAddr::V6(v6) => {
            use std::io::Write as _;
            let mut cursor = std::io::Cursor::new(&mut buffer[..]);
            let _ = write!(cursor, "{v6}");
            usize::try_from(cursor.position()).unwrap_or(0)
        }
    };
    HeaderValue::from_bytes(&buffer[..len]).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// Dotted decimal, as `Ipv4Addr`'s `Display` writes it; returns the length written (at most 15).
fn write_ipv4(buffer: &mut [u8; 45], octets: [u8; 4]) -> usize {
    let mut len = 0;
    for (i, octet) in octets.into_iter().enumerate() {
        if i > 0 {
            buffer[len] = b'.';
            len += 1;
        }
        if octet >= 100 {
            buffer[len] = b'0' + octet / 100;
            len += 1;
        }
        if octet >= 10 {
            buffer[len] = b'0' + octet / 10 % 10;
            len += 1;
        }
        buffer[len] = b'0' + octet % 10;
        len += 1;
    }
    len
}

/// Comma-joins with whatever earlier proxies wrote (RFC 9110 §5.3: same as separate lines).
/// The usual case, no earlier value, moves `item` in without building a string; the name is
/// hashed once (`entry`), not once to look and once to insert.
fn append(headers: &mut HeaderMap, name: HeaderName, item: HeaderValue) {
    let mut entry = match headers.entry(name) {
        Entry::Vacant(vacant) => {
            vacant.insert(item);
            return;
        }
        Entry::Occupied(occupied) => occupied,
    };
    let existing: Vec<&str> = entry
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    if existing.is_empty() {
        entry.insert(item);
        return;
    }
    let Ok(item) = item.to_str() else {
        return;
    };
    let joined = format!("{}, {item}", existing.join(", "));
    if let Ok(value) = HeaderValue::from_str(&joined) {
        entry.insert(value);
    }
}

/// The request id: the client's `X-Request-Id` when it is a sane token (1-128 visible ASCII
/// characters), otherwise a fresh one. A hostile id is replaced, not forwarded.
pub fn request_id(headers: &HeaderMap) -> HeaderValue {
    if let Some(value) = headers.get(&X_REQUEST_ID) {
        let bytes = value.as_bytes();
        if (1..=128).contains(&bytes.len()) && bytes.iter().all(|b| b.is_ascii_graphic()) {
            return value.clone();
        }
    }
    new_request_id()
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A process-unique id: a random per-process prefix and a counter. Cheaper than a random UUID
/// per request and just as unique within one process's logs. Written as hex by hand: this runs
/// for every request that brings no id of its own.
fn new_request_id() -> HeaderValue {
    static PREFIX: std::sync::OnceLock<[u8; 12]> = std::sync::OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        let mut random = [0u8; 6];
        // An all-zero prefix on RNG failure still yields unique ids within the process.
        let _ = aws_lc_rs::rand::fill(&mut random);
        let mut hex = [0u8; 12];
        for (pair, byte) in hex.chunks_exact_mut(2).zip(random) {
            pair[0] = HEX[usize::from(byte >> 4)];
            pair[1] = HEX[usize::from(byte & 0xf)];
        }
        hex
    });
    format_request_id(prefix, COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// `<prefix>-<n>`, `n` in at least 8 lower-case hex digits.
fn format_request_id(prefix: &[u8; 12], n: u64) -> HeaderValue {
    let digits = (16 - n.leading_zeros() as usize / 4).max(8);
    let mut id = [0u8; 12 + 1 + 16];
    id[..12].copy_from_slice(prefix);
    id[12] = b'-';
    for (i, slot) in id[13..13 + digits].iter_mut().enumerate() {
        let shift = 4 * (digits - 1 - i);
        *slot = HEX[((n >> shift) & 0xf) as usize];
    }
    HeaderValue::from_bytes(&id[..13 + digits])
        .unwrap_or_else(|_| HeaderValue::from_static("gateway"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::identity::{Claims, Scopes};

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    fn identity() -> Identity {
        let mut claims = serde_json::Map::new();
        claims.insert("https://saasco/tenant".into(), "acme".into());
        claims.insert("https://saasco/tier".into(), serde_json::json!(3));
        Identity {
            subject: "clientco@clients".into(),
            client_id: Some("clientco".into()),
            issuer: "https://tenant.auth0.com/".into(),
            issuer_name: "prod".into(),
            scopes: ["read:forecast", "ingest:data"]
                .into_iter()
                .collect::<Scopes>(),
            expires_at: 0,
            key_id: "k1".into(),
            claims: Claims::new(&claims),
            cnf: Default::default(),
            rendered: std::sync::OnceLock::new(),
        }
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_removed() {
        let mut headers = map(&[
            ("connection", "keep-alive, X-Custom-Hop"),
            ("connection", "x-other"),
            ("keep-alive", "timeout=5"),
            ("x-custom-hop", "1"),
            ("x-other", "1"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("http2-settings", "AAMAAABkAAQCAAAAAAIAAAAA"),
            ("proxy-authorization", "Basic x"),
            ("accept", "*/*"),
        ]);
        strip_hop_by_hop(&mut headers);
        let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["accept"]);
    }

    #[test]
    fn a_hop_by_hop_name_listed_in_connection_goes_in_any_case_and_once() {
        for listed in [
            "Keep-Alive",
            "KEEP-ALIVE, Upgrade",
            "te,proxy-authorization",
            "close",
        ] {
            let mut headers = map(&[
                ("connection", listed),
                ("keep-alive", "timeout=5"),
                ("upgrade", "websocket"),
                ("te", "trailers"),
                ("proxy-authorization", "Basic x"),
                ("close", "a header named like the option goes too"),
                ("accept", "*/*"),
            ]);
            strip_hop_by_hop(&mut headers);
            let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
            left.sort_unstable();
            let expected: &[&str] = if listed == "close" {
                &["accept"]
            } else {
                &["accept", "close"]
            };
            assert_eq!(left, expected, "Connection: {listed}");
        }
        for option in ["keep-alive", "Proxy-Authorization", "HTTP2-Settings", "TE"] {
            assert!(is_hop_by_hop_option(option), "{option}");
        }
        for option in [
            "",
            "close",
            "x-custom",
            "proxy-authorization-and-more",
            "kéép-alive",
        ] {
            assert!(!is_hop_by_hop_option(option), "{option}");
        }
    }

    #[test]
    fn every_spelling_and_copy_of_x_auth_is_removed() {
        let mut headers = map(&[
            ("X-Auth-Subject", "admin"),
            ("x-auth-subject", "root"),
            ("X-AUTH-SCOPES", "no:execute_modeling"),
            ("x-auth-anything-else", "1"),
            ("x-authority", "kept: not the X-Auth- prefix"),
            ("X_Auth_Subject", "admin"),
            ("x-auth_scopes", "no:execute_modeling"),
            ("X_AUTH_CLIENT_ID", "root"),
            ("x_authority", "kept: not the prefix either"),
        ]);
        strip_identity(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["x-authority", "x_authority"]);
    }

    #[test]
    fn names_compare_as_cgi_backends_read_them() {
        assert!(names_alike("X_Auth_Assertion", "x-auth-assertion"));
        assert!(names_alike("x-auth-assertion", "X-AUTH_ASSERTION"));
        assert!(!names_alike("x-auth-assertions", "x-auth-assertion"));
        assert!(!names_alike("x.auth.assertion", "x-auth-assertion"));
        assert!(name_starts_like("X_Auth_", "x-auth-"));
        assert!(!name_starts_like("x-aut", "x-auth-"));
    }

    #[test]
    fn http2_cookie_crumbs_become_one_line() {
        let mut headers = map(&[("cookie", "a=1"), ("cookie", "b=2"), ("cookie", "c=3")]);
        join_cookie_crumbs(&mut headers);
        let cookies: Vec<_> = headers.get_all(header::COOKIE).iter().collect();
        assert_eq!(cookies, ["a=1; b=2; c=3"]);
        let mut one = map(&[("cookie", "a=1")]);
        join_cookie_crumbs(&mut one);
        assert_eq!(one[header::COOKIE], "a=1");
        let mut none = HeaderMap::new();
        join_cookie_crumbs(&mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn connection_trick_cannot_remove_identity_set_afterwards() {
        let mut headers = map(&[("connection", "X-Auth-Subject, X-Auth-Scopes")]);
        strip_hop_by_hop(&mut headers);
        strip_identity(&mut headers);
        set_identity(&mut headers, &identity(), &[]).unwrap();
        assert_eq!(headers[X_AUTH_SUBJECT], "clientco@clients");
        assert_eq!(headers[X_AUTH_SCOPES], "ingest:data read:forecast");
        assert!(headers.get(header::CONNECTION).is_none());
    }

    #[test]
    fn identity_and_claim_mappings_are_set() {
        let mut headers = HeaderMap::new();
        let mappings = vec![
            (
                "https://saasco/tenant".to_owned(),
                HeaderName::from_static("x-auth-tenant"),
            ),
            (
                "https://saasco/tier".to_owned(),
                HeaderName::from_static("x-auth-tier"),
            ),
            (
                "absent".to_owned(),
                HeaderName::from_static("x-auth-absent"),
            ),
        ];
        set_identity(&mut headers, &identity(), &mappings).unwrap();
        assert_eq!(headers[X_AUTH_CLIENT_ID], "clientco");
        assert_eq!(headers[X_AUTH_ISSUER], "https://tenant.auth0.com/");
        assert_eq!(headers[X_AUTH_ISSUER_NAME], "prod");
        assert_eq!(headers["x-auth-tenant"], "acme");
        assert_eq!(headers["x-auth-tier"], "3");
        assert!(headers.get("x-auth-absent").is_none());
    }

    #[test]
    fn a_claim_with_control_characters_is_refused_not_dropped() {
        let mut id = identity();
        id.subject = "evil\r\nX-Auth-Scopes: admin".into();
        let err = set_identity(&mut HeaderMap::new(), &id, &[]).unwrap_err();
        assert_eq!(err.claim, "sub");
    }

    #[test]
    fn only_the_token_cookie_is_removed() {
        let mut headers = map(&[
            ("cookie", "theme=dark; access_token=abc.def.ghi"),
            ("cookie", "lang=en"),
        ]);
        remove_cookie(&mut headers, "access_token");
        assert_eq!(headers[header::COOKIE], "theme=dark; lang=en");
        let mut only = map(&[("cookie", "access_token=x")]);
        remove_cookie(&mut only, "access_token");
        assert!(only.get(header::COOKIE).is_none());
    }

    #[test]
    fn ipv4_is_written_as_display_writes_it() {
        for octet in 0..=u8::MAX {
            for octets in [
                [octet, 0, 0, 0],
                [1, octet, 2, 3],
                [255, 255, octet, 9],
                [9, 8, 7, octet],
            ] {
                let ip = std::net::Ipv4Addr::from(octets);
                let mut buffer = [0u8; 45];
                let len = write_ipv4(&mut buffer, octets);
                assert_eq!(&buffer[..len], ip.to_string().as_bytes());
            }
        }
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(ip_value(v6), "2001:db8::1");
    }

    #[test]
    fn forwarded_headers_are_appended() {
        let mut headers = map(&[("x-forwarded-for", "203.0.113.7")]);
        append_forwarded(
            &mut headers,
            "127.0.0.1".parse().unwrap(),
            "https",
            Some(HeaderValue::from_static("api.saasco.example")),
        );
        assert_eq!(headers[X_FORWARDED_FOR], "203.0.113.7, 127.0.0.1");
        assert_eq!(headers[X_FORWARDED_PROTO], "https");
        assert_eq!(headers[X_FORWARDED_HOST], "api.saasco.example");
    }

    #[test]
    fn generated_ids_are_prefix_dash_hex_counter() {
        let prefix = b"0123456789ab";
        assert_eq!(format_request_id(prefix, 0), "0123456789ab-00000000");
        assert_eq!(format_request_id(prefix, 0xbeef), "0123456789ab-0000beef");
        assert_eq!(format_request_id(prefix, 1 << 32), "0123456789ab-100000000");
        assert_eq!(
            format_request_id(prefix, u64::MAX),
            "0123456789ab-ffffffffffffffff"
        );
    }

    #[test]
    fn request_id_is_kept_when_sane_and_replaced_otherwise() {
        assert_eq!(request_id(&map(&[("x-request-id", "abc-123")])), "abc-123");
        let long = "a".repeat(129);
        let replaced = request_id(&map(&[("x-request-id", &long)]));
        assert_ne!(replaced, long.as_str());
        let a = request_id(&HeaderMap::new());
        let b = request_id(&HeaderMap::new());
        assert_ne!(a, b);
    }
}
