//! Phase 7 of the pipeline, `upstream_request_filter`, exactly as production runs it: strip
//! hop-by-hop and spoofed identity headers, set the verified identity and `[forward.claims]`,
//! append `X-Forwarded-*`, set the request id, `Host` and the upstream target, on a realistic
//! request. The permit comes from the production `authorise` phase.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use gateway::auth::TokenSource;
use gateway::config::Config;
use gateway::identity::{Claims, Identity, Scopes};
use gateway::proxy::pipeline::{self, Exchange};
use gateway::proxy::{ConnInfo, Gateway};
use http::{Method, Request};

const CONFIG: &str = r#"
[upstream]
url = "http://127.0.0.1:9"
[auth]
issuer = "https://saasco.eu.auth0.com/"
audience = "https://clientco/api"
jwks_url = "http://127.0.0.1:9/jwks.json"
[policy]
file = "policy.yaml"
[forward.claims]
"https://saasco/tenant" = "X-Auth-Tenant"
"#;

fn request() -> Request<()> {
    let mut builder = Request::builder()
        .method(Method::GET)
        .uri("/forecast?week=12");
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
        builder = builder.header(name, value);
    }
    builder.body(()).unwrap()
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
        expires_at: u64::MAX,
        key_id: "k1".into(),
        claims: Claims::new(&claims),
        cnf: Default::default(),
        rendered: std::sync::OnceLock::new(),
    }
}

fn header_rewrite(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.yaml"),
        include_str!("../policies/clientco.yaml"),
    )
    .unwrap();
    let config_path = dir.path().join("gateway.toml");
    std::fs::write(&config_path, CONFIG).unwrap();
    let config = Config::load(&config_path).expect("bench config loads");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _entered = runtime.enter();
    let gateway = Gateway::new(&config).expect("bench gateway builds");
    let snapshot = gateway.snapshot.load_full();
    let conn = ConnInfo {
        peer: "127.0.0.1:50000".parse().unwrap(),
        tls: true,
        framing: None,
        body_start_timeout: Duration::from_secs(10),
        client_cert: None,
    };
    let template = request();
    let mut exchange =
        Exchange::from_head(conn, template.method(), template.uri(), template.headers());
    let route = snapshot.policy.route_for("/forecast", &Method::GET);
    let permit = pipeline::authorise(
        &snapshot,
        route,
        &Method::GET,
        "/forecast",
        Some((Arc::new(identity()), TokenSource::AuthorizationHeader)),
        &mut exchange,
    )
    .expect("the bench identity may read the forecast");
    c.bench_function("header rewrite (upstream_request_filter)", |b| {
        b.iter_batched(
            || request().into_parts().0,
            |mut parts| {
                pipeline::upstream_request_filter(
                    &gateway,
                    &snapshot,
                    &exchange,
                    &permit,
                    "/forecast",
                    &mut parts,
                )
                .unwrap();
                black_box(parts)
            },
            criterion::BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, header_rewrite);
criterion_main!(benches);
