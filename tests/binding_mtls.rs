//! Certificate-bound tokens (RFC 8705) and DPoP over TLS, HTTP/1.1 and HTTP/2, through the
//! real gateway with client certificates: a bound token works only on a connection with its
//! certificate; `binding: mtls` and `require_binding` demand one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::dpop::{jkt, key};
use support::gateway::test_policy;
use support::pki::{As, Pki};
use support::world::{Sent, World, description, error_body, header};

/// A CA, a server certificate and two client certificates: 0 is the token's, 1 another's.
fn pki() -> Pki {
    Pki::new(&["clientco", "someone-else"])
}

#[tokio::test]
async fn a_certificate_bound_token_works_with_its_certificate_over_http1_and_http2() {
    let pki = pki();
    let world = World::start_tls(&pki, true, |_| {}).await;
    let token = world.bound_token("read:forecast", pki.cnf(0));
    for http2 in [false, true] {
        let response = pki
            .client(As::Client(0), http2)
            .get(world.tls_url("/forecast"))
            .bearer_auth(&token)
            .sent()
            .await;
        assert_eq!(response.status(), 200, "http2: {http2}");
        assert_eq!(response.version() == reqwest::Version::HTTP_2, http2);
    }
    assert_eq!(world.backend.started(), 2);
}

#[tokio::test]
async fn a_certificate_bound_token_from_another_certificate_or_without_tls_is_refused() {
    let pki = pki();
    let world = World::start_tls(&pki, true, |_| {}).await;
    let token = world.bound_token("read:forecast", pki.cnf(0));
    for http2 in [false, true] {
        let response = pki
            .client(As::Client(1), http2)
            .get(world.tls_url("/forecast"))
            .bearer_auth(&token)
            .sent()
            .await;
        assert_eq!(response.status(), 401, "http2: {http2}");
        let challenge = header(&response, "www-authenticate");
        assert!(
            challenge.starts_with(r#"Bearer realm="gateway", error="invalid_token""#),
            "{challenge}"
        );
        let body = error_body(response).await;
        assert!(
            description(&body).contains("another client certificate"),
            "{body}"
        );
    }
    // A plain-HTTP gateway never sees a certificate: the token is refused, whatever the route.
    let plain = World::start().await;
    let token = plain.bound_token("read:forecast", pki.cnf(0));
    let response = plain.get_with("/forecast", &token).await;
    assert_eq!(response.status(), 401);
    let body = error_body(response).await;
    assert!(
        description(&body).contains("present that certificate"),
        "{body}"
    );
    assert_eq!(world.backend.started() + plain.backend.started(), 0);
    world.expect_metric(r#"reason="binding_mismatch""#).await;
}

#[tokio::test]
async fn binding_mtls_on_a_route_and_require_binding_any_demand_a_bound_token() {
    let pki = pki();
    let mut policy = test_policy();
    policy.push_str(
        "  - path: /bound\n    methods: [GET]\n    scopes: [read:forecast]\n    binding: mtls\n",
    );
    let world = World::start_tls(&pki, true, |o| o.policy = policy).await;
    let me = pki.client(As::Client(0), false);
    let get = |world: &World, path: &str, token: &str| {
        me.get(world.tls_url(path)).bearer_auth(token).sent()
    };
    let unbound = world.token("read:forecast");
    let bound = world.bound_token("read:forecast", pki.cnf(0));
    // The certificate alone is not enough: the token must be bound to it.
    let response = get(&world, "/bound", &unbound).await;
    assert_eq!(response.status(), 401);
    assert!(header(&response, "www-authenticate").starts_with("Bearer"));
    let body = error_body(response).await;
    assert!(description(&body).contains("this route requires"), "{body}");
    assert_eq!(get(&world, "/bound", &bound).await.status(), 200);
    assert_eq!(get(&world, "/forecast", &unbound).await.status(), 200);

    let world = World::start_tls(&pki, true, |o| {
        o.auth_extra = "require_binding = \"any\"\n".into()
    })
    .await;
    let unbound = world.token("read:forecast");
    let bound = world.bound_token("read:forecast", pki.cnf(0));
    let response = get(&world, "/forecast", &unbound).await;
    assert_eq!(response.status(), 401);
    // `any` accepts DPoP too, so the challenge is DPoP's (RFC 9449 §7.1).
    assert!(header(&response, "www-authenticate").starts_with("DPoP error=\"invalid_token\""));
    let response = get(&world, "/forecast", &bound).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn dpop_over_tls_and_http2_uses_the_https_uri_of_the_host_addressed() {
    let pki = pki();
    let world = World::start_tls(&pki, true, |_| {}).await;
    let key = key();
    let token = world.dpop_token(&key, "read:forecast");
    let url = world.tls_url("/forecast");
    // Sends `token` under the DPoP scheme with a proof for `htu`, as client `who`.
    let send = |who: usize, http2: bool, token: &str, htu: &str| {
        pki.client(As::Client(who), http2)
            .get(&url)
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", key.proof("GET", htu, Some(token), None))
            .sent()
    };
    for http2 in [false, true] {
        let response = send(0, http2, &token, &url).await;
        assert_eq!(response.status(), 200, "http2: {http2}");
        // http:// is not the URI a TLS client addressed.
        let response = send(0, http2, &token, &url.replace("https://", "http://")).await;
        assert_eq!(response.status(), 401, "http2: {http2}");
    }
    // A token bound to both the key and a certificate needs both.
    let mut cnf = jkt(&key);
    cnf["x5t#S256"] = pki.clients[0].x5t.clone().into();
    let both = world.bound_token("read:forecast", cnf);
    for (who, status) in [(0, 200), (1, 401)] {
        let response = send(who, true, &both, &url).await;
        assert_eq!(response.status(), status, "client {who}");
    }
}
