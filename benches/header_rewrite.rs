//! The header phase of forwarding: strip hop-by-hop and spoofed identity headers, set the
//! verified identity and `[forward.claims]`, append `X-Forwarded-*`, on a realistic request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use gateway::identity::{Claims, Identity, Scopes};
use gateway::proxy::headers;
use http::{HeaderMap, HeaderName, HeaderValue};

fn request_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in [
        ("host", "api.saasco.example"),
        ("user-agent", "clientco-sync/2.3"),
        ("accept", "application/json"),
        ("authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln"),
        ("connection", "keep-alive"),
        ("x-request-id", "req-123"),
        ("x-auth-subject", "spoofed"),
        ("x-forwarded-for", "203.0.113.7"),
    ] {
        h.append(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    h
}

fn identity() -> Identity {
    let mut claims = serde_json::Map::new();
    claims.insert("https://saasco/tenant".into(), "clientco-eu".into());
    Identity {
        subject: "clientco@clients".into(),
        client_id: Some("clientco".into()),
        issuer: "https://saasco.eu.auth0.com/".into(),
        scopes: ["ingest:data", "read:forecast", "read:inventory"]
            .into_iter()
            .collect::<Scopes>(),
        expires_at: 0,
        key_id: "k1".into(),
        claims: Claims::new(&claims),
        rendered: std::sync::OnceLock::new(),
    }
}

fn header_rewrite(c: &mut Criterion) {
    let identity = identity();
    let claims = vec![(
        "https://saasco/tenant".to_owned(),
        HeaderName::from_static("x-auth-tenant"),
    )];
    let template = request_headers();
    let peer = "127.0.0.1".parse().unwrap();
    c.bench_function("header rewrite (strip, identity, forwarded)", |b| {
        b.iter_batched(
            || template.clone(),
            |mut h| {
                headers::strip_hop_by_hop(&mut h);
                headers::strip_identity(&mut h);
                h.remove(http::header::AUTHORIZATION);
                headers::set_identity(&mut h, &identity, &claims).unwrap();
                headers::append_forwarded(
                    &mut h,
                    peer,
                    "https",
                    Some(HeaderValue::from_static("api.saasco.example")),
                );
                black_box(h)
            },
            criterion::BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, header_rewrite);
criterion_main!(benches);
