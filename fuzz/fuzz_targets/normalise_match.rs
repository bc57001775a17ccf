//! Decision 1 and route matching: arbitrary bytes as a request path.
//!
//! Invariants (docs/fuzzing.md): `normalise` never panics; when it accepts a path, the result
//! is absolute, has no empty or dot segment (`//`, `/./`, `/../`, nor a trailing `/.` or `/..`),
//! no encoded separator (`%2F`, `%5C`, any case), is a fixed point (`normalise(p) == Ok(p)`),
//! and percent-decoding it the way a backend would (RFC 3986 §2.1) yields the same segments, so
//! no segment turns into a separator or a dot segment behind the gateway's back. The route the
//! decision used on `p` is the route that matching the path the backend receives selects again.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use gateway::policy::{Policy, normalise};
use http::Method;
use libfuzzer_sys::fuzz_target;

const POLICY: &str = include_str!("../../policies/clientco.yaml");
const METHODS: [Method; 7] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::HEAD,
    Method::OPTIONS,
];

fn policy() -> &'static Policy {
    static POLICY_ONCE: OnceLock<Policy> = OnceLock::new();
    POLICY_ONCE.get_or_init(|| {
        Policy::from_yaml_str(POLICY, Path::new("policies/clientco.yaml"))
            .unwrap_or_else(|e| panic!("the shipped policy must load: {e}"))
    })
}

/// What a backend that percent-decodes once sees (bytes: the result need not be UTF-8).
fn percent_decode(path: &str) -> Vec<u8> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let method = &METHODS[usize::from(selector) % METHODS.len()];
    let Ok(raw) = std::str::from_utf8(rest) else {
        return;
    };
    let Ok(p) = normalise(raw) else {
        return;
    };

    assert!(p.starts_with('/'), "{raw:?} -> {p:?}: not absolute");
    for bad in ["//", "/./", "/../"] {
        assert!(!p.contains(bad), "{raw:?} -> {p:?}: contains {bad}");
    }
    assert!(
        !p.ends_with("/.") && !p.ends_with("/.."),
        "{raw:?} -> {p:?}: ends in a dot segment"
    );
    let upper = p.to_ascii_uppercase();
    assert!(
        !upper.contains("%2F") && !upper.contains("%5C"),
        "{raw:?} -> {p:?}: encoded separator"
    );
    assert!(!p.contains('\\') && !p.contains('\0'), "{raw:?} -> {p:?}");
    assert_eq!(
        normalise(&p).as_deref(),
        Ok(p.as_str()),
        "{raw:?}: not idempotent"
    );

    // The backend's view: one percent-decoding, then split on '/'.
    let decoded = percent_decode(&p);
    let backend_segments: Vec<&[u8]> = decoded.split(|&b| b == b'/').collect();
    let our_segments: Vec<&str> = p.split('/').collect();
    assert_eq!(
        backend_segments.len(),
        our_segments.len(),
        "{raw:?} -> {p:?}: the backend sees other segments"
    );
    for segment in &backend_segments {
        assert!(
            *segment != b"." && *segment != b"..",
            "{raw:?} -> {p:?}: a dot segment appears after decoding"
        );
        assert!(
            !segment.contains(&0) && !segment.contains(&b'\\'),
            "{raw:?} -> {p:?}"
        );
    }

    // The route judged is the route the forwarded path selects again.
    let policy = policy();
    let decided = policy.route_for(&p, method);
    let again = normalise(&p)
        .ok()
        .and_then(|q| policy.route_for(&q, method).map(|r| r as *const _));
    assert_eq!(
        decided.map(|r| r as *const _),
        again,
        "{raw:?} -> {p:?}: route differs when matched again"
    );
});
