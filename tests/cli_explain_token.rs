//! `gateway explain --token`: the real binary verifies the token against a live issuer and
//! judges the request with the token's scopes, or says exactly why the token fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use support::gateway::{claims, test_policy};
use support::issuer::spawn_issuer;

fn explain(dir: &std::path::Path, method: &str, path: &str, token: &str) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .arg("explain")
        .arg("--config")
        .arg(dir.join("gateway.toml"))
        .args([method, path, "--token", token])
        .env_remove("GATEWAY_CONFIG")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_with_a_token_gives_the_decision_and_the_reason() {
    let issuer = spawn_issuer().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.yaml"), test_policy()).unwrap();
    std::fs::write(
        dir.path().join("gateway.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
             [upstream]\nurl = \"http://127.0.0.1:9\"\n[auth]\nissuer = \"{}\"\n\
             audience = \"https://clientco/api\"\njwks_url = \"{}\"\n[policy]\nfile = \"policy.yaml\"\n",
            issuer.issuer_url(),
            issuer.jwks_url()
        ),
    )
    .unwrap();
    let token = issuer.mint(&claims(&issuer.issuer_url(), "read:forecast"));

    let dir_path = dir.path().to_path_buf();
    let good = token.clone();
    let (code, out) =
        tokio::task::spawn_blocking(move || explain(&dir_path, "GET", "/forecast", &good))
            .await
            .unwrap();
    assert!(out.contains("clientco@clients"), "{out}");
    assert!(out.contains("200"), "{out}");
    assert_eq!(code, 0, "{out}");

    let dir_path = dir.path().to_path_buf();
    let good = token.clone();
    let (_, out) =
        tokio::task::spawn_blocking(move || explain(&dir_path, "GET", "/inventory", &good))
            .await
            .unwrap();
    assert!(out.contains("403"), "{out}");
    assert!(out.contains("read:inventory"), "{out}");

    let mut forged = token.clone();
    forged.replace_range(forged.len() - 4.., "AAAA");
    let dir_path = dir.path().to_path_buf();
    let (_, out) =
        tokio::task::spawn_blocking(move || explain(&dir_path, "GET", "/forecast", &forged))
            .await
            .unwrap();
    assert!(out.contains("rejected: signature does not verify"), "{out}");
    assert!(out.contains("401"), "{out}");
    assert!(
        !out.contains(&token[token.len() - 20..]),
        "the token is never echoed: {out}"
    );
}
