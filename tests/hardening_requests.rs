//! Issue 21's request-side classes in detail, in-process (`hardening_second_round.rs` runs one
//! case of each through the binary): upgrades only for WebSocket on opted-in routes, Host and
//! `:authority`, identity lookalikes on public routes, HTTP/2 cookie crumbs with the token
//! cookie, and the admin listener's connection cap.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use http_body_util::Empty;
use support::gateway::{h2_send, raw_http};
use support::world::{World, status_of};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A GET with `extra` header lines and a valid token, on a fresh connection that closes after.
async fn get(world: &World, path: &str, extra: &str) -> String {
    let token = world.token("read:forecast");
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer {token}\r\n{extra}Connection: close\r\n\r\n"
    );
    raw_http(world.gateway.addr, head.as_bytes()).await
}

#[tokio::test]
async fn websocket_on_a_route_that_did_not_opt_in_is_forwarded_as_a_plain_request() {
    let world = World::start().await;
    // The echo backend would switch protocols if `Upgrade: websocket` reached it.
    let answer = get(
        &world,
        "/forecast",
        "Connection: Upgrade\r\nUpgrade: websocket\r\n",
    )
    .await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    let seen = world.backend.last();
    assert!(seen.headers.get("upgrade").is_none());
    assert!(seen.headers.get("connection").is_none());
}

#[tokio::test]
async fn only_websocket_is_tunnelled_even_on_a_websocket_route() {
    let world = World::start().await;
    for (what, extra) in [
        (
            "another protocol",
            "Connection: Upgrade\r\nUpgrade: echo\r\n",
        ),
        (
            "h2c",
            "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABk\r\n",
        ),
        ("no Connection: upgrade", "Upgrade: websocket\r\n"),
    ] {
        let answer = get(&world, "/live", extra).await;
        assert_eq!(status_of(&answer), 200, "{what}: {answer}");
        let seen = world.backend.last();
        for name in ["upgrade", "http2-settings"] {
            assert!(seen.headers.get(name).is_none(), "{what}: {name} forwarded");
        }
    }
}

#[tokio::test]
async fn a_101_to_another_protocol_than_websocket_is_502() {
    let world = World::start().await;
    let answer = get(
        &world,
        "/live",
        "Connection: Upgrade\r\nUpgrade: websocket\r\nx-test-behaviour: switch\r\n",
    )
    .await;
    assert_eq!(status_of(&answer), 502, "{answer}");
    assert!(answer.contains("to another protocol"), "{answer}");
}

#[tokio::test]
async fn x_forwarded_host_carries_only_the_validated_authority() {
    let world = World::start().await;
    // §3.2.2: an absolute-form target's authority wins over Host.
    let answer = get(&world, "http://api.saasco.example:8443/forecast", "").await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    let seen = world.backend.last();
    assert_eq!(seen.headers["x-forwarded-host"], "api.saasco.example:8443");
    assert_eq!(seen.target, "/forecast");

    // HTTP/1.0 may name no authority at all: no X-Forwarded-Host then.
    let token = world.token("read:forecast");
    let answer = raw_http(
        world.gateway.addr,
        format!("GET /forecast HTTP/1.0\r\nAuthorization: Bearer {token}\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert!(world.backend.last_header("x-forwarded-host").is_none());

    // A userinfo in the absolute-form target is refused, not forwarded.
    let answer = get(&world, "http://evil@api.saasco.example/forecast", "").await;
    assert_eq!(status_of(&answer), 400, "{answer}");
}

/// An HTTP/2 GET on a fresh prior-knowledge connection with these extra headers.
async fn h2_get(world: &World, url: &str, headers: &[(&str, String)]) -> http::Response<Bytes> {
    let mut request = http::Request::get(url);
    for (name, value) in headers {
        request = request.header(*name, value.as_str());
    }
    h2_send(
        world.gateway.addr,
        request.body(Empty::<Bytes>::new()).unwrap(),
    )
    .await
}

#[tokio::test]
async fn an_h2_host_that_disagrees_with_authority_is_400() {
    let world = World::start().await;
    let auth = (
        "authorization",
        format!("Bearer {}", world.token("read:forecast")),
    );
    let url = format!("http://{}/forecast", world.gateway.addr);
    let response = h2_get(
        &world,
        &url,
        &[auth.clone(), ("host", "evil.example".into())],
    )
    .await;
    assert_eq!(response.status(), 400);
    assert!(String::from_utf8_lossy(response.body()).contains(":authority"));
    assert!(world.backend.seen().is_empty());

    // The same authority in another spelling (case, the scheme's default port) agrees, and
    // :authority is what travels on.
    let response = h2_get(
        &world,
        "http://api.saasco.example/forecast",
        &[auth, ("host", "API.SaasCo.example:80".into())],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        world.backend.last().headers["x-forwarded-host"],
        "api.saasco.example"
    );
}

#[tokio::test]
async fn identity_lookalikes_are_stripped_on_public_routes_too() {
    let world = World::start().await;
    let answer = raw_http(
        world.gateway.addr,
        b"GET /public/x HTTP/1.1\r\nHost: g\r\nX_Auth_Subject: admin\r\nX_AUTH_SCOPES: all\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    let seen = world.backend.last();
    assert!(
        seen.headers
            .keys()
            .all(|name| !name.as_str().replace('_', "-").starts_with("x-auth-")),
        "{:?}",
        seen.headers
    );
}

#[tokio::test]
async fn the_token_cookie_is_found_and_removed_among_h2_cookie_crumbs() {
    let world =
        World::start_with(|o| o.auth_extra.push_str("token_cookie = \"access_token\"\n")).await;
    let url = format!("http://{}/forecast", world.gateway.addr);
    let response = h2_get(
        &world,
        &url,
        &[
            ("cookie", "theme=dark".into()),
            (
                "cookie",
                format!("access_token={}", world.token("read:forecast")),
            ),
            ("cookie", "lang=en".into()),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    let cookies: Vec<_> = world.backend.last_all("cookie");
    assert_eq!(cookies, ["theme=dark; lang=en"]);
}

#[tokio::test]
async fn the_admin_listener_refuses_connections_beyond_its_cap() {
    let world = World::start().await;
    let admin: std::net::SocketAddr = world
        .gateway
        .admin
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let mut held = Vec::new();
    for _ in 0..gateway::constants::ADMIN_MAX_CONNECTIONS {
        held.push(tokio::net::TcpStream::connect(admin).await.unwrap());
    }
    // Accepted in order after the held ones: over the cap, closed without an answer.
    let mut over = tokio::net::TcpStream::connect(admin).await.unwrap();
    over.write_all(b"GET /healthz HTTP/1.1\r\nHost: admin\r\n\r\n")
        .await
        .ok();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(support::wait::DEADLINE, over.read_to_end(&mut answer)).await;
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    drop(held);
    support::wait::poll(
        "the admin listener to answer again",
        support::wait::DEADLINE,
        || async {
            let response = reqwest::get(format!("{}/healthz", world.gateway.admin))
                .await
                .ok()?;
            (response.status() == 200).then_some(())
        },
    )
    .await;
}
