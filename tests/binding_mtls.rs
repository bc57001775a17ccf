//! Certificate-bound tokens (RFC 8705) and DPoP over TLS, HTTP/1.1 and HTTP/2, through the
//! real gateway with client certificates: a bound token works only on a connection with its
//! certificate; `binding: mtls` and `require_binding` demand one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gateway::auth::binding::certificate_thumbprint;
use gateway::dev::dpop::{DpopAlg, DpopKey, bind};
use serde_json::{Map, Value};
use support::gateway::{Options, claims, test_policy};
use support::world::{World, error_body};

struct Client {
    cert_pem: String,
    key_pem: String,
    /// base64url SHA-256 of the certificate's DER: what `cnf["x5t#S256"]` names.
    x5t: String,
}

struct Pki {
    ca_pem: String,
    server_cert: String,
    server_key: String,
    clients: Vec<Client>,
}

/// A CA, a server certificate for localhost and two client certificates.
fn pki() -> Pki {
    use base64::Engine as _;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    let clients = ["clientco", "someone-else"]
        .iter()
        .map(|name| {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(vec![(*name).to_owned()])
                .unwrap()
                .signed_by(&key, &issuer)
                .unwrap();
            Client {
                x5t: base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(certificate_thumbprint(cert.der())),
                cert_pem: cert.pem(),
                key_pem: key.serialize_pem(),
            }
        })
        .collect();
    Pki {
        ca_pem: ca.pem(),
        server_cert: server.pem(),
        server_key: server_key.serialize_pem(),
        clients,
    }
}

async fn mtls_world(pki: &Pki, tweak: impl FnOnce(&mut Options)) -> World {
    let dir = tempfile::tempdir().unwrap().keep();
    std::fs::write(dir.join("cert.pem"), &pki.server_cert).unwrap();
    std::fs::write(dir.join("key.pem"), &pki.server_key).unwrap();
    std::fs::write(dir.join("ca.pem"), &pki.ca_pem).unwrap();
    World::start_with(|o| {
        o.server_extra = format!(
            "tls_cert = \"{}\"\ntls_key = \"{}\"\nclient_ca = \"{}\"\n",
            dir.join("cert.pem").display(),
            dir.join("key.pem").display(),
            dir.join("ca.pem").display()
        );
        tweak(o);
    })
    .await
}

fn client(pki: &Pki, who: usize, http2: bool) -> reqwest::Client {
    let me = &pki.clients[who];
    let pem = format!("{}{}", me.cert_pem, me.key_pem);
    let builder = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap()])
        .identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    if http2 {
        builder.http2_prior_knowledge().build().unwrap()
    } else {
        builder.http1_only().build().unwrap()
    }
}

fn cnf(name: &str, value: &str) -> Map<String, Value> {
    let mut cnf = Map::new();
    cnf.insert(name.into(), value.into());
    cnf
}

fn bound_to_cert(world: &World, x5t: &str, scope: &str) -> String {
    world.issuer.mint(&bind(
        claims(&world.issuer.issuer_url(), scope),
        cnf("x5t#S256", x5t),
    ))
}

fn url(world: &World, path: &str) -> String {
    format!("https://localhost:{}{path}", world.gateway.addr.port())
}

#[tokio::test]
async fn a_certificate_bound_token_works_with_its_certificate_over_http1_and_http2() {
    let pki = pki();
    let world = mtls_world(&pki, |_| {}).await;
    let token = bound_to_cert(&world, &pki.clients[0].x5t, "read:forecast");
    for http2 in [false, true] {
        let response = client(&pki, 0, http2)
            .get(url(&world, "/forecast"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "http2: {http2}");
        assert_eq!(response.version() == reqwest::Version::HTTP_2, http2);
    }
    assert_eq!(world.backend.started(), 2);
}

#[tokio::test]
async fn a_certificate_bound_token_from_another_certificate_or_without_tls_is_refused() {
    let pki = pki();
    let world = mtls_world(&pki, |_| {}).await;
    let token = bound_to_cert(&world, &pki.clients[0].x5t, "read:forecast");
    for http2 in [false, true] {
        let response = client(&pki, 1, http2)
            .get(url(&world, "/forecast"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "http2: {http2}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.starts_with(r#"Bearer realm="gateway", error="invalid_token""#),
            "{challenge}"
        );
        let body = error_body(response).await;
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("another client certificate"),
            "{body}"
        );
    }
    // A plain-HTTP gateway never sees a certificate: the token is refused, whatever the route.
    let plain = World::start().await;
    let token = bound_to_cert(&plain, &pki.clients[0].x5t, "read:forecast");
    let response = plain
        .client
        .get(plain.url("/forecast"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body = error_body(response).await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("present that certificate"),
        "{body}"
    );
    assert_eq!(world.backend.started() + plain.backend.started(), 0);
    let metrics = world.gateway.metrics().await;
    assert!(
        metrics.contains(r#"reason="binding_mismatch""#),
        "{metrics}"
    );
}

#[tokio::test]
async fn binding_mtls_on_a_route_and_require_binding_any_demand_a_bound_token() {
    let pki = pki();
    let mut policy = test_policy();
    policy.push_str(
        "  - path: /bound\n    methods: [GET]\n    scopes: [read:forecast]\n    binding: mtls\n",
    );
    let world = mtls_world(&pki, |o| o.policy = policy).await;
    let me = client(&pki, 0, false);
    let unbound = world.token("read:forecast");
    let bound = bound_to_cert(&world, &pki.clients[0].x5t, "read:forecast");
    let get = |path: &'static str, token: &str| {
        me.get(url(&world, path))
            .bearer_auth(token.to_owned())
            .send()
    };
    // The certificate alone is not enough: the token must be bound to it.
    let response = get("/bound", &unbound).await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let body = error_body(response).await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("this route requires"),
        "{body}"
    );
    assert_eq!(get("/bound", &bound).await.unwrap().status(), 200);
    assert_eq!(get("/forecast", &unbound).await.unwrap().status(), 200);

    let world = mtls_world(&pki, |o| {
        o.auth_extra = "require_binding = \"any\"\n".into()
    })
    .await;
    let unbound = world.token("read:forecast");
    let bound = bound_to_cert(&world, &pki.clients[0].x5t, "read:forecast");
    let response = me
        .get(url(&world, "/forecast"))
        .bearer_auth(&unbound)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // `any` accepts DPoP too, so the challenge is DPoP's (RFC 9449 §7.1).
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("DPoP error=\"invalid_token\"")
    );
    let response = me
        .get(url(&world, "/forecast"))
        .bearer_auth(&bound)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn dpop_over_tls_and_http2_uses_the_https_uri_of_the_host_addressed() {
    let pki = pki();
    let world = mtls_world(&pki, |_| {}).await;
    let key = DpopKey::generate(DpopAlg::Es256).unwrap();
    let token = world.issuer.mint(&bind(
        claims(&world.issuer.issuer_url(), "read:forecast"),
        cnf("jkt", &key.jkt()),
    ));
    for http2 in [false, true] {
        let http = client(&pki, 0, http2);
        let proof = key.proof("GET", &url(&world, "/forecast"), Some(&token), None);
        let response = http
            .get(url(&world, "/forecast"))
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "http2: {http2}");
        // http:// is not the URI a TLS client addressed.
        let proof = key.proof(
            "GET",
            &url(&world, "/forecast").replace("https://", "http://"),
            Some(&token),
            None,
        );
        let response = http
            .get(url(&world, "/forecast"))
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "http2: {http2}");
    }
    // A token bound to both the key and a certificate needs both.
    let both = {
        let mut cnf = cnf("jkt", &key.jkt());
        cnf.insert("x5t#S256".into(), pki.clients[0].x5t.clone().into());
        world.issuer.mint(&bind(
            claims(&world.issuer.issuer_url(), "read:forecast"),
            cnf,
        ))
    };
    for (who, status) in [(0, 200), (1, 401)] {
        let proof = key.proof("GET", &url(&world, "/forecast"), Some(&both), None);
        let response = client(&pki, who, true)
            .get(url(&world, "/forecast"))
            .header("authorization", format!("DPoP {both}"))
            .header("dpop", proof)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "client {who}");
    }
}
