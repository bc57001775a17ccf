//! The cost a DPoP request adds to authentication (RFC 9449): the proof parsed, its signature
//! verified with the embedded key, its claims checked against the request, the key compared
//! with the token's `cnf.jkt`, and its `jti` remembered in the in-process replay store, all
//! through `Binder::check` as phase 4 calls it. Each iteration gets a fresh proof (signed in
//! the untimed setup), so the replay store takes a new entry every time, as in production.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use gateway::auth::TokenSource;
use gateway::auth::binding::{Binder, Presented};
use gateway::config::BindingConfig;
use gateway::dev::dpop::{DpopAlg, DpopKey};
use gateway::identity::{Binding, Confirmation, Identity, Scopes};
use http::{HeaderMap, HeaderValue, Method, Uri};

const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjbGllbnRjb0BjbGllbnRzIn0.c2lnbmF0dXJl";

fn bench_dpop(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let binder = Binder::new(
        &BindingConfig::default(),
        Duration::from_secs(30),
        gateway::state::replay_store(50_000_000),
        None,
    );
    let uri: Uri = "/forecast".parse().unwrap();
    let mut group = c.benchmark_group("dpop");
    for alg in [DpopAlg::Es256, DpopAlg::EdDsa] {
        let key = DpopKey::generate(alg).unwrap();
        let mut identity = Identity::for_policy_test(Scopes::new());
        identity.cnf = Confirmation {
            jkt: Some(key.jkt()),
            x5t_s256: None,
        };
        let name = format!(
            "proof_verify_and_replay_check_{}",
            alg.name().to_lowercase()
        );
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter_batched(
                || {
                    let mut headers = HeaderMap::new();
                    headers.insert("host", HeaderValue::from_static("api.saasco.example"));
                    let proof = key.proof(
                        "GET",
                        "http://api.saasco.example/forecast",
                        Some(TOKEN),
                        None,
                    );
                    headers.insert("dpop", HeaderValue::from_str(&proof).unwrap());
                    headers
                },
                |headers| {
                    let binder = &binder;
                    let identity = &identity;
                    let uri = &uri;
                    async move {
                        let presented = Presented {
                            source: TokenSource::DpopScheme,
                            token: TOKEN.as_bytes(),
                            headers: &headers,
                            method: &Method::GET,
                            uri,
                            path: "/forecast",
                            tls: false,
                            client_cert: None,
                        };
                        black_box(binder.check(identity, &presented, Binding::None).await).unwrap();
                    }
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench_dpop);
criterion_main!(benches);
