//! `[forward.assertion]` through the real `gateway serve` binary: the backend receives a signed
//! assertion that verifies with the admin listener's JWKS, and replacing the key file on disk
//! (as a Kubernetes Secret update does) switches the signing key without a signal or a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gateway::assertion::Algorithm;
use gateway::assertion::keys::generate_pem;
use support::backend::Backend;
use support::gateway::{claims, test_policy};
use support::issuer::spawn_issuer;

/// The binary, stopped when the test ends whatever happens.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `kid` in an assertion's JOSE header.
fn kid_of(assertion: &str) -> String {
    let header = assertion.split('.').next().unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn serve_signs_with_the_key_file_and_follows_its_replacement_on_disk() {
    let issuer = spawn_issuer().await;
    let backend = Backend::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.yaml"), test_policy()).unwrap();
    std::fs::create_dir(dir.path().join("secret")).unwrap();
    let key = dir.path().join("secret/assertion-key.pem");
    std::fs::write(&key, generate_pem(Algorithm::EdDsa).unwrap()).unwrap();
    std::fs::write(
        dir.path().join("gateway.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
             [upstream]\nurl = \"{upstream}\"\n[auth]\nissuer = \"{issuer}\"\n\
             audience = \"https://clientco/api\"\njwks_url = \"{jwks}\"\n\
             [policy]\nfile = \"policy.yaml\"\n[forward.assertion]\n\
             key_file = \"secret/assertion-key.pem\"\nissuer = \"https://gw/\"\naudience = \"api\"\n",
            upstream = backend.url(),
            issuer = issuer.issuer_url(),
            jwks = issuer.jwks_url(),
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["serve", "--log-format", "json", "--config", "gateway.toml"])
        .current_dir(dir.path())
        .env_remove("GATEWAY_CONFIG")
        .env("GATEWAY_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let _served = Served(child);
    let (send, lines) = std::sync::mpsc::channel::<serde_json::Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(json) = serde_json::from_str(&line)
                && send.send(json).is_err()
            {
                return;
            }
        }
    });
    let listening = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(10))
            .expect("gateway serve never said it was listening");
        if line["message"] == "gateway listening" {
            break line;
        }
    };
    let data = format!("http://{}", listening["data"].as_str().unwrap());
    let admin = format!("http://{}", listening["admin"].as_str().unwrap());
    let http = reqwest::Client::new();
    support::wait::poll(
        "the gateway to become ready",
        support::wait::DEADLINE,
        || {
            let readyz = http.get(format!("{admin}/readyz")).send();
            async move { (readyz.await.ok()?.status() == 200).then_some(()) }
        },
    )
    .await;

    let token = issuer.mint(&claims(&issuer.issuer_url(), "read:forecast"));
    let forecast = || {
        let request = http
            .get(format!("{data}/forecast"))
            .bearer_auth(&token)
            .send();
        async {
            assert_eq!(request.await.unwrap().status(), 200);
            let seen = backend.last();
            seen.headers["x-auth-assertion"]
                .to_str()
                .unwrap()
                .to_owned()
        }
    };
    let jwks = || {
        let request = http.get(format!("{admin}/.well-known/jwks.json")).send();
        async {
            request
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let first = jwks().await;
    let first_kid = first["keys"][0]["kid"].as_str().unwrap().to_owned();
    assert_eq!(kid_of(&forecast().await), first_kid);

    // A new key written beside the old one and renamed over it, as a Secret update swaps files.
    let staged = dir.path().join("secret/.new-key.pem");
    std::fs::write(&staged, generate_pem(Algorithm::EdDsa).unwrap()).unwrap();
    std::fs::rename(&staged, &key).unwrap();
    let rotated = support::wait::poll(
        "the new key to be published",
        support::wait::DEADLINE,
        || {
            let jwks = jwks();
            let first_kid = first_kid.clone();
            async move {
                let document = jwks.await;
                let kid = document["keys"][0]["kid"].as_str()?.to_owned();
                (kid != first_kid).then_some(kid)
            }
        },
    )
    .await;
    assert_eq!(kid_of(&forecast().await), rotated, "the new key signs");
}
