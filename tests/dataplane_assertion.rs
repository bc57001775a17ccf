//! `[forward.assertion]` through a real gateway: what the backend receives (one assertion,
//! signed, bound to the upstream request line, naming the caller), the JWKS on the admin
//! listener and from `gateway assertion-jwks`, inbound copies stripped, shadow denials signed
//! as such, `reuse`, and key rotation by reload. Assertions are verified here with aws-lc-rs
//! against the published JWK, independently of the gateway's signing code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use gateway::assertion::Algorithm;
use serde_json::Value;
use support::assertion::{AUDIENCE, ISSUER, Keys, verify};
use support::world::{Sent, World};

async fn start(keys: &Keys, extra: &str, upstream_path: &str) -> World {
    let section = keys.section(extra);
    World::start_with(|options| {
        options.upstream.push_str(upstream_path);
        options.tail =
            format!("[forward.claims]\n\"https://saasco/tenant\" = \"X-Auth-Tenant\"\n{section}");
    })
    .await
}

async fn admin_jwks(world: &World) -> Value {
    let response = reqwest::get(format!("{}/.well-known/jwks.json", world.gateway.admin))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/jwk-set+json"
    );
    response.json().await.unwrap()
}

/// The one assertion the backend received on its last request.
fn received(world: &World, header: &str) -> String {
    let seen = world.backend.last();
    let values: Vec<_> = seen.headers.get_all(header).iter().collect();
    assert_eq!(values.len(), 1, "{:?}", seen.headers);
    values[0].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_backend_receives_a_signed_assertion_bound_to_its_request_line() {
    let keys = Keys::new();
    let world = start(&keys, "", "/api").await;
    let jwks = admin_jwks(&world).await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);

    let mut claims =
        support::gateway::claims(&world.issuer.issuer_url(), "read:forecast ingest:data");
    claims["https://saasco/tenant"] = "acme".into();
    let token = world.issuer.mint(&claims);
    let response = world.get_with("/forecast?week=12", &token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(world.backend.last().target, "/api/forecast?week=12");
    let (header, claims) = verify(&received(&world, "x-auth-assertion"), &jwks);
    assert_eq!(header["typ"], "gateway-assertion+jwt");
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], AUDIENCE);
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        60
    );
    let now = support::issuer::now();
    assert!(
        claims["iat"].as_u64().unwrap().abs_diff(now) <= 5,
        "{claims}"
    );
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert_eq!(claims["sub"], "clientco@clients");
    assert_eq!(claims["client_id"], "clientco");
    assert_eq!(claims["scope"], "ingest:data read:forecast");
    assert_eq!(claims["token_iss"], world.issuer.issuer_url());
    assert_eq!(
        claims["claims"],
        serde_json::json!({"https://saasco/tenant": "acme"})
    );
    assert_eq!(claims["htm"], "GET");
    // The upstream URL's prefix included, no query.
    assert_eq!(claims["htp"], "/api/forecast");
    assert_eq!(claims["route"], "/forecast");
    assert!(claims.get("decision").is_none(), "{claims}");

    // Every request its own assertion (reuse is off by default).
    world.get("/forecast", "read:forecast").await;
    let (_, again) = verify(&received(&world, "x-auth-assertion"), &jwks);
    assert_ne!(again["jti"], claims["jti"]);
    assert_eq!(
        again["claims"],
        serde_json::json!({}),
        "the second token has no tenant"
    );
}

#[tokio::test]
async fn a_public_route_gets_an_assertion_without_identity_and_escapes_as_sent() {
    let keys = Keys::new();
    let world = start(&keys, "", "").await;
    let jwks = admin_jwks(&world).await;
    let response = world.request("GET", "/public/a%20b/./c?x=1").sent().await;
    assert_eq!(response.status(), 200);
    assert_eq!(world.backend.last().target, "/public/a%20b/c?x=1");
    let (_, claims) = verify(&received(&world, "x-auth-assertion"), &jwks);
    assert_eq!(claims["htp"], "/public/a%20b/c");
    assert_eq!(claims["route"], "/public/**");
    assert_eq!(claims["scope"], "");
    for absent in ["sub", "client_id", "token_iss"] {
        assert!(claims.get(absent).is_none(), "{absent} in {claims}");
    }
}

#[tokio::test]
async fn inbound_copies_of_the_assertion_header_are_stripped() {
    let keys = Keys::new();
    let world = start(&keys, "header = \"X-Gateway-Assertion\"\n", "").await;
    let jwks = admin_jwks(&world).await;
    let response = world
        .as_scope("GET", "/forecast", "read:forecast")
        .header("X-Gateway-Assertion", "forged.by.client")
        .header("x-gateway-assertion", "another.forged.copy")
        .sent()
        .await;
    assert_eq!(response.status(), 200);
    let (_, claims) = verify(&received(&world, "x-gateway-assertion"), &jwks);
    assert_eq!(claims["sub"], "clientco@clients");
    assert!(world.backend.last_header("x-auth-assertion").is_none());

    // Naming it in `Connection` cannot make the gateway drop its own.
    let response = world
        .as_scope("GET", "/forecast", "read:forecast")
        .header("Connection", "X-Gateway-Assertion")
        .sent()
        .await;
    assert_eq!(response.status(), 200);
    verify(&received(&world, "x-gateway-assertion"), &jwks);
}

#[tokio::test]
async fn a_shadow_denied_request_is_signed_with_its_decision_and_reason() {
    let keys = Keys::new();
    let world = start(&keys, "", "").await;
    let jwks = admin_jwks(&world).await;
    assert_eq!(
        world.get("/rollout/42", "read:forecast").await.status(),
        200
    );
    let (_, claims) = verify(&received(&world, "x-auth-assertion"), &jwks);
    assert_eq!(claims["decision"], "shadow_deny");
    assert_eq!(claims["reason"], "insufficient_scope");
    assert_eq!(claims["route"], "/rollout/{item}");
    assert_eq!(world.get("/rollout/42", "read:shadow").await.status(), 200);
    let (_, allowed) = verify(&received(&world, "x-auth-assertion"), &jwks);
    assert!(allowed.get("decision").is_none() && allowed.get("reason").is_none());
}

#[tokio::test]
async fn reuse_shares_one_assertion_between_identical_requests_only() {
    let keys = Keys::new();
    let world = start(&keys, "reuse = \"5s\"\n", "").await;
    let token = world.token("read:forecast read:inventory");
    let send = |path: &'static str, token: String| {
        let world = &world;
        async move {
            let response = world.get_with(path, &token).await;
            assert_eq!(response.status(), 200);
            received(world, "x-auth-assertion")
        }
    };
    let first = send("/forecast", token.clone()).await;
    assert_eq!(
        send("/forecast?week=2", token.clone()).await,
        first,
        "same token, method, path"
    );
    assert_ne!(
        send("/inventory", token.clone()).await,
        first,
        "another path"
    );
    let mut claims = support::gateway::claims(&world.issuer.issuer_url(), "read:forecast");
    claims["jti"] = "another-token".into();
    let other = world.issuer.mint(&claims);
    assert_ne!(other, token);
    assert_ne!(send("/forecast", other).await, first, "another token");
}

#[tokio::test]
async fn es256_keys_sign_es256_assertions() {
    let keys = Keys::new();
    keys.write("key.pem", Algorithm::Es256);
    let world = start(&keys, "", "").await;
    let jwks = admin_jwks(&world).await;
    assert_eq!(jwks["keys"][0]["kty"], "EC");
    world.get("/forecast", "read:forecast").await;
    let (header, _) = verify(&received(&world, "x-auth-assertion"), &jwks);
    assert_eq!(header["alg"], "ES256");
}

fn config_path(world: &World) -> PathBuf {
    world.gateway.dir.path().join("gateway.toml")
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from} not in {text}");
    std::fs::write(path, text.replace(from, to)).unwrap();
}

#[tokio::test]
async fn a_reload_rotates_the_key_and_a_bad_key_file_keeps_the_old_one() {
    let keys = Keys::new();
    let world = start(&keys, "", "").await;
    let before = admin_jwks(&world).await;
    let old_kid = before["keys"][0]["kid"].clone();

    // Rotation: a new signing key, the old one still published.
    std::fs::rename(keys.path("key.pem"), keys.path("old.pem")).unwrap();
    keys.write("key.pem", Algorithm::EdDsa);
    let config = config_path(&world);
    edit(
        &config,
        "[forward.assertion]\n",
        &format!(
            "[forward.assertion]\nprevious_key_file = \"{}\"\n",
            keys.path("old.pem").display()
        ),
    );
    world.gateway.running().reload().unwrap();
    let after = admin_jwks(&world).await;
    let kids: Vec<&Value> = after["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["kid"])
        .collect();
    assert_eq!(kids.len(), 2);
    assert_eq!(
        kids[1], &old_kid,
        "the previous key is published after the new one"
    );
    world.get("/forecast", "read:forecast").await;
    let (header, _) = verify(&received(&world, "x-auth-assertion"), &after);
    assert_eq!(&header["kid"], kids[0], "the new key signs");

    // A broken key file: the reload is refused, the running key keeps signing.
    std::fs::write(keys.path("key.pem"), "not a key\n").unwrap();
    let problems = world.gateway.running().reload().unwrap_err().to_string();
    assert!(
        problems.contains("no `PRIVATE KEY` PEM block"),
        "{problems}"
    );
    world.get("/forecast", "read:forecast").await;
    let (still, _) = verify(&received(&world, "x-auth-assertion"), &after);
    assert_eq!(&still["kid"], kids[0]);

    // `gateway assertion-jwks` prints the running snapshot's keys when the files are back.
    std::fs::remove_file(keys.path("key.pem")).unwrap();
    std::fs::rename(keys.path("old.pem"), keys.path("key.pem")).unwrap();
    edit(&config, "previous_key_file", "# previous_key_file");
    world.gateway.running().reload().unwrap();
    let printed = support::bin::run_in(
        world.gateway.dir.path(),
        &["assertion-jwks", "--config", "gateway.toml"],
        &[],
    );
    assert_eq!(printed.code, 0, "{printed:?}");
    let printed: Value = serde_json::from_str(&printed.stdout).unwrap();
    assert_eq!(printed, admin_jwks(&world).await);
    assert_eq!(printed, before, "the original key again");
}

#[tokio::test]
async fn without_an_assertion_section_nothing_is_signed_or_published() {
    let world = World::start().await;
    world.get("/forecast", "read:forecast").await;
    assert!(world.backend.last_header("x-auth-assertion").is_none());
    let response = reqwest::get(format!("{}/.well-known/jwks.json", world.gateway.admin))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let printed = support::bin::run_in(
        world.gateway.dir.path(),
        &["assertion-jwks", "--config", "gateway.toml"],
        &[],
    );
    assert_eq!(printed.code, 1, "{printed:?}");
    assert!(
        printed.stderr.contains("no [forward.assertion] section"),
        "{printed:?}"
    );
}
