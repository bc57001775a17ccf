//! Phase 7 of the pipeline, `upstream_request_filter`, exactly as production runs it: strip
//! hop-by-hop and spoofed identity headers, set the verified identity and `[forward.claims]`,
//! append `X-Forwarded-*`, set the request id, `Host` and the upstream target, on a realistic
//! request. The permit comes from the production `authorise` phase.
//!
//! The same with `[forward.assertion]` on: signing a fresh assertion per request (Ed25519 and
//! ES256, `reuse = "0s"`), and with `reuse = "5s"` (the same token, method and path share one),
//! so the price of the signature is the difference between these and the first.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use gateway::assertion::Algorithm;
use gateway::assertion::keys::generate_pem;
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
        issuer_name: "prod".into(),
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

/// `[forward.assertion]` lines appended to `CONFIG` for each measured variant.
const VARIANTS: &[(&str, Option<Algorithm>, &str)] = &[
    ("header rewrite (upstream_request_filter)", None, ""),
    (
        "header rewrite + assertion, Ed25519 per request",
        Some(Algorithm::EdDsa),
        "",
    ),
    (
        "header rewrite + assertion, ES256 per request",
        Some(Algorithm::Es256),
        "",
    ),
    (
        "header rewrite + assertion, Ed25519, reuse 5s",
        Some(Algorithm::EdDsa),
        "reuse = \"5s\"\n",
    ),
];

fn header_rewrite(c: &mut Criterion) {
    for (name, algorithm, extra) in VARIANTS {
        variant(c, name, *algorithm, extra);
    }
}

fn variant(c: &mut Criterion, name: &str, algorithm: Option<Algorithm>, extra: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.yaml"),
        include_str!("../policies/clientco.yaml"),
    )
    .unwrap();
    let mut toml = CONFIG.to_owned();
    if let Some(algorithm) = algorithm {
        std::fs::write(dir.path().join("key.pem"), generate_pem(algorithm).unwrap()).unwrap();
        toml.push_str(&format!(
            "[forward.assertion]\nkey_file = \"key.pem\"\nissuer = \"https://gateway.saasco.internal/\"\naudience = \"saasco-backend\"\n{extra}"
        ));
    }
    let config_path = dir.path().join("gateway.toml");
    std::fs::write(&config_path, toml).unwrap();
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
    // Phase 1 records the validated Host, which becomes X-Forwarded-Host.
    pipeline::well_formed(&mut exchange, &template).expect("the bench request is well formed");
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
    c.bench_function(name, |b| {
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
