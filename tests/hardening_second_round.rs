//! The second hostile review (issue 21), one class per test, each through the built `gateway`
//! binary on real files: protocol upgrades, restricted subtrees, Host, identity lookalikes,
//! scope tokens, claims that cannot become headers, the request id against `Connection`,
//! HTTP/2 cookie crumbs, the admin listener's guards and JWKS redirects. The in-process tests in
//! `hardening_requests.rs` and `hardening_tokens.rs` cover each class's variants.
//!
//! The binary's log is read with blocking calls, so the tests run on a multi-thread runtime:
//! the issuer, backend and key host they start keep answering meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use support::backend::Backend;
use support::bin::{Project, Serving};
use support::gateway::{claims, h2_send, raw_http, test_policy};
use support::issuer::spawn_issuer;
use support::world::status_of;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A change to a token's claims.
type ClaimEdit = dyn Fn(&mut serde_json::Value);

/// An issuer, a recording backend and the binary in front of them, ready.
async fn serving(extra: &str) -> (gateway::dev::issuer::DevIssuer, Backend, Serving) {
    let issuer = spawn_issuer().await;
    let backend = Backend::start().await;
    let served = Serving::start(
        &issuer.issuer_url(),
        &issuer.jwks_url(),
        &backend.url(),
        &test_policy(),
        extra,
    );
    served.wait_ready().await;
    (issuer, backend, served)
}

/// `GET /forecast` with `token` and the header lines `extra`, written byte for byte to the
/// binary's data port; the whole answer.
async fn raw_forecast(served: &Serving, token: &str, extra: &str) -> String {
    let head = format!(
        "GET /forecast HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer {token}\r\n{extra}\r\n"
    );
    raw_http(served.data, head.as_bytes()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_upgrades_are_never_tunnelled_and_an_unrequested_101_is_never_relayed() {
    let (issuer, backend, served) = serving("").await;
    let token = issuer.mint(&claims(&issuer.issuer_url(), "read:forecast"));
    // A backend that switches to h2c whatever it was asked: the client gets a 502, never the
    // 101. (First: the backend misbehaves only on a fresh connection, and a 101's connection is
    // never pooled.)
    let upgrade = "Connection: Upgrade, close\r\nUpgrade: h2c\r\nx-test-behaviour: switch\r\n";
    let answer = raw_forecast(&served, &token, upgrade).await;
    assert_eq!(status_of(&answer), 502, "{answer}");
    assert!(answer.contains("did not forward as an upgrade"), "{answer}");

    // h2c smuggling: the upgrade request, then an HTTP/2 preface and whatever would follow.
    let smuggle = format!(
        "GET /forecast HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer {token}\r\n\
         Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n\
         PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    );
    let answer = raw_http(served.data, smuggle.as_bytes()).await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    let seen = backend.seen();
    assert_eq!(seen.len(), 1, "only the plain request reached the backend");
    for name in ["upgrade", "http2-settings", "connection"] {
        assert!(seen[0].headers.get(name).is_none(), "{name} was forwarded");
    }
}

#[test]
fn a_route_inside_a_restricted_subtree_is_a_load_error_naming_both() {
    let project = Project::clientco();
    let policy = project.read("policies/clientco.yaml");
    project.write(
        "policies/clientco.yaml",
        &format!("{policy}  - path: /models/{{name}}/**\n    methods: [GET]\n    scopes: [read:forecast]\n"),
    );
    let run = project.run_config("check", &[]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "policies/clientco.yaml:23:11: route `/models/{name}/**` reopens the restricted route `/models/**` (line 19, restricted: no:execute_modeling): it is more specific for requests such as `/models/x`"
        ),
        "{run:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_repeated_or_invalid_host_is_400_before_anything_else() {
    let (_issuer, backend, served) = serving("").await;
    // No token on any of them: Host is judged before authentication (which would say 401).
    for (what, head) in [
        ("missing", "GET /forecast HTTP/1.1\r\n"),
        (
            "repeated",
            "GET /forecast HTTP/1.1\r\nHost: a\r\nHost: b\r\n",
        ),
        ("userinfo", "GET /forecast HTTP/1.1\r\nHost: user@a\r\n"),
        ("comma", "GET /forecast HTTP/1.1\r\nHost: a,b\r\n"),
        ("bad port", "GET /forecast HTTP/1.1\r\nHost: a:99999\r\n"),
    ] {
        let answer = raw_http(
            served.data,
            format!("{head}Connection: close\r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!(status_of(&answer), 400, "{what}: {answer}");
        assert!(answer.contains("Host"), "{what}: {answer}");
    }
    assert!(backend.seen().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_lookalikes_scope_tokens_and_unforwardable_claims() {
    let tail = "[forward.claims]\n\"https://saasco/tenant\" = \"X-Auth-Tenant\"\n";
    let (issuer, backend, served) = serving(tail).await;
    let client = reqwest::Client::new();
    let mint = |edit: &ClaimEdit| {
        let mut claims = claims(&issuer.issuer_url(), "read:forecast");
        edit(&mut claims);
        issuer.mint(&claims)
    };

    // X_Auth_Subject is what a WSGI backend reads as X-Auth-Subject: it never arrives.
    let response = client
        .get(served.url("/forecast"))
        .bearer_auth(mint(&|_| {}))
        .header("X_Auth_Subject", "admin")
        .header("x-auth_scopes", "no:execute_modeling")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = backend.last();
    assert!(seen.headers.get("x_auth_subject").is_none());
    assert!(seen.headers.get("x-auth_scopes").is_none());
    assert_eq!(seen.headers["x-auth-subject"], "clientco@clients");

    let refused: [(&str, &ClaimEdit); 4] = [
        ("scope", &|c| {
            c["scope"] = "read:forecast\tno:execute_modeling".into()
        }),
        ("permissions", &|c| {
            c["permissions"] = serde_json::json!(["read:forecast admin"])
        }),
        ("sub", &|c| c["sub"] = "evil\r\nX-Auth-Scopes: admin".into()),
        ("https://saasco/tenant", &|c| {
            c["https://saasco/tenant"] = "acme\u{7f}".into()
        }),
    ];
    for (claim, edit) in refused {
        let before = backend.seen().len();
        let response = client
            .get(served.url("/forecast"))
            .bearer_auth(mint(edit))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{claim}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.contains("error=\"invalid_token\""),
            "{claim}: {challenge}"
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token", "{claim}");
        let description = body["error_description"].as_str().unwrap();
        assert!(
            description.contains(&format!("claim {claim} ")),
            "{claim}: {description}"
        );
        assert_eq!(backend.seen().len(), before, "{claim}: reached the backend");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_cannot_remove_the_request_id_and_h2_cookie_crumbs_arrive_as_one_line() {
    let (issuer, backend, served) = serving("").await;
    let token = issuer.mint(&claims(&issuer.issuer_url(), "read:forecast"));
    let id = "X-Request-Id: trace-1\r\nConnection: X-Request-Id, close\r\n";
    let answer = raw_forecast(&served, &token, id).await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("x-request-id: trace-1\r\n"),
        "{answer}"
    );
    assert_eq!(backend.last().headers["x-request-id"], "trace-1");

    // HTTP/2 (prior knowledge) with the cookie split into crumbs, RFC 9113 §8.2.3.
    let request = http::Request::get(served.url("/forecast"))
        .header("authorization", format!("Bearer {token}"))
        .header("cookie", "theme=dark")
        .header("cookie", "lang=en")
        .header("cookie", "session=abc")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = h2_send(served.data, request).await;
    assert_eq!(response.status(), 200);
    let cookies: Vec<_> = backend.last_all("cookie");
    assert_eq!(cookies, ["theme=dark; lang=en; session=abc"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slowloris_admin_connections_are_closed() {
    let (_issuer, _backend, served) = serving("").await;
    let mut idle = tokio::net::TcpStream::connect(served.admin).await.unwrap();
    let mut slow = tokio::net::TcpStream::connect(served.admin).await.unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: admin\r\nX-Dribble: ")
        .await
        .unwrap();
    for stream in [&mut idle, &mut slow] {
        let mut buf = [0u8; 256];
        let read = tokio::time::timeout(support::wait::DEADLINE, stream.read(&mut buf)).await;
        assert!(read.is_ok(), "an admin connection was never closed");
    }
    // Meanwhile and afterwards the admin listener still answers.
    let response = reqwest::get(format!("http://{}/healthz", served.admin))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_redirect_to_another_origin_is_not_followed() {
    let issuer = spawn_issuer().await;
    let backend = Backend::start().await;
    // A key-set URL on one origin redirecting to the issuer's (another port, another origin).
    let redirector = support::keyhost::KeyHost::start(serde_json::json!({"keys": []})).await;
    redirector.redirect_to(&issuer.jwks_url());
    let served = Serving::start(
        &issuer.issuer_url(),
        &redirector.url("/elsewhere"),
        &backend.url(),
        &test_policy(),
        "",
    );
    let failure = served.next_line("the JWKS fetch to fail", |l| {
        l.to_string().contains("another origin")
    });
    assert!(
        failure
            .to_string()
            .contains(&issuer.issuer_url().trim_end_matches('/').to_owned()),
        "{failure}"
    );
    assert_eq!(issuer.jwks_requests(), 0, "the redirect was followed");
    let token = issuer.mint(&claims(&issuer.issuer_url(), "read:forecast"));
    let response = reqwest::Client::new()
        .get(served.url("/forecast"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(backend.seen().is_empty());
}
