//! The upgrade and header-strip rules on arbitrary request heads.
//!
//! Input: lines of `name: value` (invalid names or values are skipped). Invariants
//! (docs/fuzzing.md): `requested_upgrade` never panics and says WebSocket only when a
//! `Connection` element is `upgrade` and an `Upgrade` element is `websocket` (any case); after
//! `strip_hop_by_hop` no hop-by-hop field (`Upgrade` and `HTTP2-Settings` included) and no field
//! named in any `Connection` line is left; after `strip_identity` no field whose name, with `_`
//! read as `-`, starts with `x-auth-` is left; joining cookie crumbs leaves at most one `Cookie`
//! line holding every crumb.
#![no_main]

use gateway::proxy::headers::{join_cookie_crumbs, strip_hop_by_hop, strip_identity};
use gateway::proxy::upgrade::{UpgradeRequest, requested_upgrade};
use http::{HeaderMap, HeaderName, HeaderValue, header};
use libfuzzer_sys::fuzz_target;

const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "http2-settings",
];

/// The trimmed, lower-cased elements of every line of a list field.
fn elements(headers: &HeaderMap, name: &HeaderName) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|e| e.trim_matches([' ', '\t']).to_ascii_lowercase())
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            headers.append(name, value);
        }
    }

    let connection = elements(&headers, &header::CONNECTION);
    let upgrade = elements(&headers, &header::UPGRADE);
    if requested_upgrade(&headers) == UpgradeRequest::WebSocket {
        assert!(connection.iter().any(|e| e == "upgrade"), "{headers:?}");
        assert!(upgrade.iter().any(|e| e == "websocket"), "{headers:?}");
    }

    let mut stripped = headers.clone();
    strip_hop_by_hop(&mut stripped);
    for name in HOP_BY_HOP {
        assert!(!stripped.contains_key(name), "{name} left in {stripped:?}");
    }
    for named in &connection {
        if let Ok(name) = HeaderName::from_bytes(named.as_bytes()) {
            assert!(
                !stripped.contains_key(&name),
                "{name} (named in Connection) left"
            );
        }
    }
    strip_identity(&mut stripped);
    for name in stripped.keys() {
        let read_as = name.as_str().replace('_', "-");
        assert!(!read_as.starts_with("x-auth-"), "{name} left");
    }

    let crumbs: Vec<Vec<u8>> = headers
        .get_all(header::COOKIE)
        .iter()
        .map(|v| v.as_bytes().to_vec())
        .collect();
    join_cookie_crumbs(&mut headers);
    let joined: Vec<_> = headers.get_all(header::COOKIE).iter().collect();
    assert!(
        joined.len() <= 1.max(usize::from(crumbs.len() == 1)),
        "{joined:?}"
    );
    if crumbs.len() > 1 {
        assert_eq!(joined.len(), 1);
        assert_eq!(joined[0].as_bytes(), crumbs.join(&b"; "[..]).as_slice());
    }
});
