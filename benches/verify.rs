//! The cost of decision 3: a full verification (RS256, ES256) against a verified-token cache hit.
//!
//! Keys come from a live development issuer on 127.0.0.1:0, fetched once before measuring; the
//! measured calls never touch the network.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use gateway::auth::Authenticator;
use gateway::config::AuthConfig;
use gateway::dev::issuer::{DevIssuer, DevIssuerConfig, KeyKind};
use gateway::telemetry::Metrics;
use jsonwebtoken::Algorithm;
use serde_json::json;

fn bench_verify(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (issuer, auth, rs256, es256) = runtime.block_on(async {
        let issuer = DevIssuer::start(DevIssuerConfig::default()).await.unwrap();
        let ec_kid = issuer.add_key(KeyKind::EcP256).unwrap();
        let config = AuthConfig {
            jwks_url: issuer.jwks_url(),
            algorithms: vec![Algorithm::RS256, Algorithm::ES256],
            jwks_refresh: Duration::from_secs(3600),
            cache_max_entries: 10_000,
            ..AuthConfig::new(issuer.issuer_url(), issuer.audience())
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
        (issuer, auth, rs256, es256)
    });

    let mut group = c.benchmark_group("verify");
    group.bench_function("cold_rs256", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(auth.verify_uncached(black_box(&rs256)).await.unwrap()) })
    });
    group.bench_function("cold_es256", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(auth.verify_uncached(black_box(&es256)).await.unwrap()) })
    });
    group.bench_function("cache_hit", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(auth.verify(black_box(&rs256)).await.unwrap()) })
    });
    group.finish();
    drop(auth);
    drop(issuer);
}

criterion_group!(benches, bench_verify);
criterion_main!(benches);
