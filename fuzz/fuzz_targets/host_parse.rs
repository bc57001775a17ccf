//! Phase 1's authority rule on arbitrary bytes: `Host` values and request targets.
//!
//! Invariants (docs/fuzzing.md): `parse_authority` never panics; what it accepts is ASCII, has
//! a non-empty host, no userinfo, no comma (it travels in the comma-separated
//! `X-Forwarded-Host`), no whitespace, control character, path, query or fragment, is a valid
//! header value, and parses again to the same authority; `same_as` is reflexive for every
//! scheme. `request_authority` never panics, and whatever it returns parses as an authority.
#![no_main]

use gateway::proxy::host::{parse_authority, request_authority};
use http::{HeaderMap, HeaderValue, Uri, Version, header};
use libfuzzer_sys::fuzz_target;

const VERSIONS: [Version; 3] = [Version::HTTP_10, Version::HTTP_11, Version::HTTP_2];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    // The first byte picks the version and how the rest splits into Host lines and a target.
    let version = VERSIONS[usize::from(selector) % VERSIONS.len()];
    let mut parts = rest.split(|&b| b == b'\n');
    let target = parts.next().unwrap_or_default();
    let hosts: Vec<&[u8]> = parts.collect();

    for text in std::iter::once(target).chain(hosts.iter().copied()) {
        let Ok(authority) = parse_authority(text) else {
            continue;
        };
        let shown = String::from_utf8_lossy(text);
        assert!(text.is_ascii(), "{shown:?}");
        assert!(!authority.host.is_empty(), "{shown:?}: empty host");
        for forbidden in [b'@', b',', b' ', b'\t', b'/', b'\\', b'?', b'#'] {
            assert!(
                !text.contains(&forbidden),
                "{shown:?}: accepted {forbidden:?}"
            );
        }
        assert!(
            !text.iter().any(u8::is_ascii_control),
            "{shown:?}: control character"
        );
        assert!(
            HeaderValue::from_bytes(text).is_ok(),
            "{shown:?}: not a header value"
        );
        let rebuilt = match authority.port {
            Some(port) => format!("{}:{port}", authority.host),
            None => authority.host.to_owned(),
        };
        let again = parse_authority(rebuilt.as_bytes());
        assert_eq!(
            again.map(|a| (a.host, a.port)).ok(),
            Some((authority.host, authority.port))
        );
        for scheme in [None, Some("http"), Some("https")] {
            assert!(authority.same_as(&authority, scheme), "{shown:?}");
        }
    }

    let mut headers = HeaderMap::new();
    for host in &hosts {
        if let Ok(value) = HeaderValue::from_bytes(host) {
            headers.append(header::HOST, value);
        }
    }
    let uri = std::str::from_utf8(target)
        .ok()
        .and_then(|t| t.parse::<Uri>().ok())
        .unwrap_or_else(|| Uri::from_static("/"));
    if let Ok(Some(value)) = request_authority(version, &uri, &headers) {
        assert!(
            parse_authority(value.as_bytes()).is_ok(),
            "request_authority returned {value:?}, which does not parse"
        );
    }
});
