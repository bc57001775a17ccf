//! The cost of decision 3: a full verification (RS256, ES256) against a verified-token cache hit,
//! with one configured issuer and with five (the token's `iss` picks its issuer; neither the
//! cache key nor the lookup may cost more with more issuers). Beside the cache hit, the same hit
//! followed by the authorisation phase (normalise, route lookup, `policy::decide`) for the same
//! token on two routes of the same shape, one without conditions and one with 3 `when:`
//! conditions (tenant from the path, `gty`, `azp` in a list): their difference is what the
//! conditions cost a request.
//!
//! Keys come from live development issuers on 127.0.0.1:0, fetched once before measuring; the
//! measured calls never touch the network.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use gateway::auth::Authenticator;
use gateway::config::{AuthConfig, IssuerConfig};
use gateway::dev::issuer::{DevIssuer, DevIssuerConfig, KeyKind};
use gateway::policy::{Policy, decide, normalise};
use gateway::telemetry::Metrics;
use http::Method;
use jsonwebtoken::Algorithm;
use serde_json::json;

/// `count` issuers, an authenticator trusting all of them, and tokens from the last one.
struct Setup {
    issuers: Vec<DevIssuer>,
    auth: Arc<Authenticator>,
    rs256: String,
    es256: String,
}

async fn setup(count: usize) -> Setup {
    let mut issuers = Vec::new();
    for _ in 0..count {
        issuers.push(DevIssuer::start(DevIssuerConfig::default()).await.unwrap());
    }
    let configs = issuers
        .iter()
        .enumerate()
        .map(|(i, issuer)| IssuerConfig {
            jwks_url: issuer.jwks_url(),
            algorithms: vec![Algorithm::RS256, Algorithm::ES256],
            jwks_refresh: Duration::from_secs(3600),
            ..IssuerConfig::new(
                format!("tenant_{i}"),
                issuer.issuer_url(),
                issuer.audience(),
            )
        })
        .collect();
    // The token's issuer is the last one, with its EC key published before the first fetch.
    let issuer = issuers.last().unwrap();
    let ec_kid = issuer.add_key(KeyKind::EcP256).unwrap();
    let config = AuthConfig {
        cache_max_entries: 10_000,
        ..AuthConfig::with_issuers(configs)
    };
    let auth = Authenticator::start(&config, Arc::new(Metrics::default()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !auth.is_ready() {
        assert!(Instant::now() < deadline, "JWKS never loaded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let claims = issuer.standard_claims(&["read:forecast", "ingest:data"]);
    let rs256 = issuer.mint(&claims);
    let es256 = issuer.mint_with(&json!({"kid": ec_kid, "alg": "ES256"}), &claims);
    auth.verify(&rs256).await.unwrap();
    auth.verify_uncached(&es256).await.unwrap();
    Setup {
        issuers,
        auth,
        rs256,
        es256,
    }
}

fn bench_verify(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    for (count, suffix) in [(1, ""), (5, "_5_issuers")] {
        let s = runtime.block_on(setup(count));
        let mut group = c.benchmark_group("verify");
        group.bench_function(format!("cold_rs256{suffix}"), |b| {
            b.to_async(&runtime).iter(|| async {
                black_box(s.auth.verify_uncached(black_box(&s.rs256)).await.unwrap())
            })
        });
        group.bench_function(format!("cold_es256{suffix}"), |b| {
            b.to_async(&runtime).iter(|| async {
                black_box(s.auth.verify_uncached(black_box(&s.es256)).await.unwrap())
            })
        });
        group.bench_function(format!("cache_hit{suffix}"), |b| {
            b.to_async(&runtime)
                .iter(|| async { black_box(s.auth.verify(black_box(&s.rs256)).await.unwrap()) })
        });
        group.finish();
        drop(s);
    }
}

fn bench_conditions(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let s = runtime.block_on(setup(1));
    let (issuer, auth) = (&s.issuers[0], &s.auth);
    // The claims of the tenant route's conditions; `standard_claims` has `gty` and `azp`.
    let mut claims = issuer.standard_claims(&["read:forecast", "ingest:data"]);
    claims["https://saasco/tenant"] = json!("acme");
    let tenant_token = issuer.mint(&claims);
    let policy = Policy::from_yaml_str(
        "permissions: {read:forecast: read}
routes:
  - {path: '/open/{tenant}/forecast', methods: [GET], scopes: [read:forecast]}
  - path: /tenants/{tenant}/forecast
    methods: [GET]
    scopes: [read:forecast]
    when:
      - {claim: 'https://saasco/tenant', equals: '{tenant}'}
      - {claim: gty, equals: client-credentials}
      - {claim: azp, in: [acme-prod, acme-staging, dev-client]}
",
        std::path::Path::new("bench.yaml"),
    )
    .unwrap();
    // Cached, and its claims parsed once, as a second request would find them.
    runtime.block_on(async {
        let identity = auth.verify(&tenant_token).await.unwrap();
        let path = "/tenants/acme/forecast";
        let route = policy.route_for(path, &Method::GET);
        decide(&policy, route, &Method::GET, path, Some(&identity)).unwrap();
    });
    let mut group = c.benchmark_group("verify");
    group.bench_function("route without conditions", |b| {
        b.to_async(&runtime)
            .iter(|| authorise(auth, &policy, &tenant_token, "/open/acme/forecast"))
    });
    group.bench_function("route with 3 conditions", |b| {
        b.to_async(&runtime)
            .iter(|| authorise(auth, &policy, &tenant_token, "/tenants/acme/forecast"))
    });
    group.finish();

    // The decision alone (no verification, no normalisation): the conditions' own cost.
    let identity = runtime.block_on(auth.verify(&tenant_token)).unwrap();
    let mut group = c.benchmark_group("decide");
    for (label, path) in [
        ("route without conditions", "/open/acme/forecast"),
        ("route with 3 conditions", "/tenants/acme/forecast"),
    ] {
        let route = policy.route_for(path, &Method::GET);
        group.bench_function(label, |b| {
            b.iter(|| {
                black_box(decide(
                    &policy,
                    black_box(route),
                    &Method::GET,
                    black_box(path),
                    Some(&identity),
                ))
            })
        });
    }
    group.finish();
}

async fn authorise(auth: &Authenticator, policy: &Policy, token: &str, path: &str) -> bool {
    let identity = auth.verify(black_box(token)).await.unwrap();
    let normalised = normalise(black_box(path)).unwrap();
    let route = policy.route_for(&normalised, &Method::GET);
    decide(policy, route, &Method::GET, &normalised, Some(&identity)).is_ok()
}

criterion_group!(benches, bench_verify, bench_conditions);
criterion_main!(benches);
