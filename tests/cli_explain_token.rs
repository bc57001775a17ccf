//! `gateway explain --token`: the real binary verifies the token against a live issuer and
//! judges the request with the token's scopes, or says exactly why the token fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::gateway::{Options, claims};
use support::issuer::spawn_issuer;

/// `gateway explain --config <dir>/gateway.toml <method> <path> --token <token>` off the
/// runtime that serves the issuer: the exit code and stdout and stderr together.
async fn explain(dir: &std::path::Path, method: &str, path: &str, token: &str) -> (i32, String) {
    let config = dir.join("gateway.toml").display().to_string();
    let args = [
        "explain", "--config", &config, method, path, "--token", token,
    ];
    let run = support::bin::run_async(dir, &args, &[]).await;
    (run.code, format!("{}{}", run.stdout, run.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_with_a_token_gives_the_decision_and_the_reason() {
    let issuer = spawn_issuer().await;
    let dir = tempfile::tempdir().unwrap();
    Options::new(
        &issuer.issuer_url(),
        &issuer.jwks_url(),
        "http://127.0.0.1:9",
    )
    .write_to(dir.path());
    let token = issuer.mint(&claims(&issuer.issuer_url(), "read:forecast"));

    let (code, out) = explain(dir.path(), "GET", "/forecast", &token).await;
    assert!(out.contains("clientco@clients"), "{out}");
    assert!(out.contains("200"), "{out}");
    assert_eq!(code, 0, "{out}");

    let (_, out) = explain(dir.path(), "GET", "/inventory", &token).await;
    assert!(out.contains("403"), "{out}");
    assert!(out.contains("read:inventory"), "{out}");

    let mut forged = token.clone();
    forged.replace_range(forged.len() - 4.., "AAAA");
    let (_, out) = explain(dir.path(), "GET", "/forecast", &forged).await;
    assert!(out.contains("rejected: signature does not verify"), "{out}");
    assert!(out.contains("401"), "{out}");
    assert!(
        !out.contains(&token[token.len() - 20..]),
        "the token is never echoed: {out}"
    );
}
