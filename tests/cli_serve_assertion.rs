//! `[forward.assertion]` through the real `gateway serve` binary: the backend receives a signed
//! assertion that verifies with the admin listener's JWKS, and replacing the key file on disk
//! (as a Kubernetes Secret update does) switches the signing key without a signal or a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gateway::assertion::Algorithm;
use gateway::assertion::keys::generate_pem;
use support::backend::Backend;
use support::bin::Serving;
use support::gateway::{Options, claims};
use support::issuer::spawn_issuer;

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
    std::fs::create_dir(dir.path().join("secret")).unwrap();
    let key = dir.path().join("secret/assertion-key.pem");
    std::fs::write(&key, generate_pem(Algorithm::EdDsa).unwrap()).unwrap();
    let mut options = Options::of(&issuer, &backend);
    options.upstream_extra = String::new();
    options.tail = "[forward.assertion]\nkey_file = \"secret/assertion-key.pem\"\n\
                    issuer = \"https://gw/\"\naudience = \"api\"\n"
        .to_owned();
    options.write_to(dir.path());
    let args = ["serve", "--log-format", "json", "--config", "gateway.toml"];
    let mut served = Serving::spawn(dir.path(), &args, &[("GATEWAY_LOG", "info")]);
    served.listening();
    served.wait_ready().await;
    let (data, admin) = (served.url(""), served.admin_url(""));
    let http = reqwest::Client::new();

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
