//! Route matching cost: normalise + `route_for` (what the data plane runs) with 10 routes vs 1,000 routes, and with growing
//! path lengths. The matcher is a segment trie, so the time should follow the path's length
//! and stay flat as routes are added.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use gateway::policy::{Policy, normalise};
use http::Method;

/// `services` services, each with a literal, a `{id}` and a restricted `**` route.
fn policy_with(services: usize) -> Policy {
    let mut yaml = String::from(
        "permissions:\n  read:x: read\nrestrictions:\n  no:admin: internal\nroutes:\n",
    );
    for i in 0..services {
        yaml.push_str(&format!(
            "  - {{path: /svc{i}/items, methods: [GET], scopes: [read:x]}}\n\
             \x20 - {{path: '/svc{i}/items/{{id}}', methods: [GET], scopes: [read:x]}}\n\
             \x20 - {{path: '/svc{i}/admin/**', restricted: no:admin}}\n"
        ));
    }
    yaml.push_str("  - {path: '/deep/**', scopes: [read:x]}\n");
    Policy::from_yaml_str(&yaml, Path::new("bench.yaml")).expect("bench policy loads")
}

fn route_count(c: &mut Criterion) {
    let mut group = c.benchmark_group("normalise+match by route count");
    for (services, label) in [(3, "10 routes"), (333, "1000 routes")] {
        let policy = policy_with(services);
        let path = format!("/svc{}/items/42", services / 2);
        group.bench_with_input(BenchmarkId::from_parameter(label), &path, |b, path| {
            b.iter(|| {
                let normalised = normalise(black_box(path)).unwrap();
                black_box(
                    policy
                        .route_for(&normalised, &Method::GET)
                        .map(|r| r.pattern.len()),
                )
            })
        });
    }
    group.finish();
}

fn path_length(c: &mut Criterion) {
    let mut group = c.benchmark_group("normalise+match by path length (1000 routes)");
    let policy = policy_with(333);
    for segments in [2usize, 8, 32] {
        let path = format!("/deep{}", "/segment".repeat(segments - 1));
        group.bench_with_input(BenchmarkId::from_parameter(segments), &path, |b, path| {
            b.iter(|| {
                let normalised = normalise(black_box(path)).unwrap();
                black_box(
                    policy
                        .route_for(&normalised, &Method::GET)
                        .map(|r| r.pattern.len()),
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, route_count, path_length);
criterion_main!(benches);
