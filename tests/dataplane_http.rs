//! The HTTP layer: HTTP/2 (h2c and over TLS with ALPN), mTLS, smuggling attempts, slowloris,
//! oversized headers, and the graceful drain on shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use support::gateway::raw_http;
use support::pki::{As, Pki};
use support::world::{Sent, World};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn http2_prior_knowledge_is_served() {
    let world = World::start().await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    // Several requests on the one h2c connection: the HTTP/1 framing watch must stay out of it.
    for _ in 0..3 {
        let response = client
            .get(world.url("/forecast"))
            .bearer_auth(world.token("read:forecast"))
            .header("X-Auth-Subject", "spoofed")
            .sent()
            .await;
        assert_eq!(response.version(), reqwest::Version::HTTP_2);
        assert_eq!(response.status(), 200);
    }
    assert_eq!(
        world.backend.last().headers["x-auth-subject"],
        "clientco@clients"
    );
}

#[tokio::test]
async fn tls_serves_http1_and_http2_via_alpn() {
    let pki = Pki::new(&["clientco"]);
    let world = World::start_tls(&pki, false, |_| {}).await;
    for http2 in [false, true] {
        let response = pki
            .client(As::Nobody, http2)
            .get(world.tls_url("/forecast"))
            .bearer_auth(world.token("read:forecast"))
            .sent()
            .await;
        assert_eq!(response.status(), 200);
        let expected = if http2 {
            reqwest::Version::HTTP_2
        } else {
            reqwest::Version::HTTP_11
        };
        assert_eq!(response.version(), expected);
    }
    assert_eq!(world.backend.last().headers["x-forwarded-proto"], "https");
}

#[tokio::test]
async fn mtls_requires_a_client_certificate_from_the_ca() {
    let pki = Pki::new(&["clientco"]);
    let world = World::start_tls(&pki, true, |_| {}).await;
    let url = world.tls_url("/forecast");
    let without = pki.client(As::Nobody, false).get(&url).send().await;
    assert!(
        without.is_err(),
        "a client without a certificate got through"
    );
    let response = pki
        .client(As::Client(0), false)
        .get(&url)
        .bearer_auth(world.token("read:forecast"))
        .sent()
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn content_length_with_transfer_encoding_is_400_and_never_reaches_the_backend() {
    let world = World::start().await;
    let token = world.token("ingest:data read:forecast");
    for framing in [
        "Content-Length: 4\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: chunked\r\nContent-Length: 4",
        "transfer-ENCODING: Chunked\r\ncontent-length: 4",
        "Transfer-Encoding: chunked\r\nContent-Length: 0",
    ] {
        let smuggled = format!(
            "POST /ingest HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer {token}\r\n{framing}\r\n\r\n\
             0\r\n\r\nGET /models/train HTTP/1.1\r\nHost: g\r\n\r\n"
        );
        // raw_http reads to the end: the gateway closes the connection after the 400.
        let answer = raw_http(world.gateway.addr, smuggled.as_bytes()).await;
        assert!(
            answer.starts_with("HTTP/1.1 400"),
            "{framing:?} -> {answer}"
        );
        assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");
        assert!(answer.contains("send only one"), "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{answer}"
        );
    }
    assert_eq!(world.backend.started(), 0, "{:?}", world.backend.seen());
}

#[tokio::test]
async fn content_length_with_transfer_encoding_after_a_good_request_is_refused_alone() {
    let world = World::start().await;
    let token = world.token("ingest:data read:forecast");
    // The first body looks like a smuggling head: the watch must skip it as a body.
    let body = "GET /x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
    let pipelined = format!(
        "POST /ingest HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: {}\r\n\r\n{body}\
         POST /ingest HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        body.len()
    );
    let answer = raw_http(world.gateway.addr, pipelined.as_bytes()).await;
    let statuses: Vec<&str> = answer
        .match_indices("HTTP/1.1 ")
        .map(|(at, _)| &answer[at + 9..at + 12])
        .collect();
    assert_eq!(statuses, ["200", "400"], "{answer}");
    let seen = world.backend.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].body_len, body.len() as u64);
}

#[tokio::test]
async fn content_length_with_transfer_encoding_over_tls_is_400() {
    use rustls::pki_types::ServerName;
    let pki = Pki::new(&["clientco"]);
    let world = World::start_tls(&pki, false, |_| {}).await;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pki.ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(world.gateway.addr)
        .await
        .unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let token = world.token("ingest:data");
    let request = format!(
        "POST /ingest HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer {token}\r\n\
         Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"
    );
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // The peer may close without close_notify; what was read before that is the answer.
    let _ = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut answer))
        .await
        .expect("the gateway neither answered nor closed within 5 s");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(world.backend.started(), 0);
}

#[tokio::test]
async fn conflicting_content_lengths_and_bad_chunks_are_400() {
    let world = World::start().await;
    let token = world.token("ingest:data");
    for request in [
        format!(
            "POST /ingest HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer {token}\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"
        ),
        format!(
            "POST /ingest HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
        ),
        format!(
            "GET /forecast HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer {token}\r\nX-Folded: a\r\n b\r\n\r\n"
        ),
        format!(
            "GET /forecast HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer {token}\r\nX-Bad: a\x01b\r\n\r\n"
        ),
    ] {
        let answer = raw_http(world.gateway.addr, request.as_bytes()).await;
        assert!(
            answer.starts_with("HTTP/1.1 400"),
            "{request:?} -> {answer}"
        );
    }
    // A bad first chunk sent only once the gateway asked for the body (the gateway has decided
    // to forward by then): still 400, and not even the head reached the backend.
    let mut stream = continued_upload(&world, &token).await;
    stream.write_all(b"zz\r\nabc\r\n0\r\n\r\n").await.unwrap();
    let answer = read_until(&mut stream, "}").await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("malformed"), "{answer}");
    assert_eq!(world.backend.started(), 0, "{:?}", world.backend.seen());
}

#[tokio::test]
async fn chunked_and_expect_100_continue_uploads_are_forwarded() {
    let world = World::start().await;
    let token = world.token("ingest:data");
    let mut stream = continued_upload(&world, &token).await;
    stream
        .write_all(b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until(&mut stream, "}").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(world.backend.last().body_len, 11);
}

/// A chunked `POST /stream` with `Expect: 100-continue`, its head sent and the gateway's
/// `100 Continue` received: the body is sent only after the gateway says to continue.
async fn continued_upload(world: &World, token: &str) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(world.gateway.addr)
        .await
        .unwrap();
    let head = format!(
        "POST /stream HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer {token}\r\n\
         Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let interim = read_until(&mut stream, "\r\n\r\n").await;
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");
    stream
}

/// Reads from `stream` until what was read contains `needle` (5 s at most).
async fn read_until(stream: &mut tokio::net::TcpStream, needle: &str) -> String {
    let mut read = Vec::new();
    let mut chunk = [0u8; 4096];
    while !String::from_utf8_lossy(&read).contains(needle) {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .expect("no answer within 5 s")
            .unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&read));
        read.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&read).into_owned()
}

#[tokio::test]
async fn oversized_headers_are_431() {
    let world =
        World::start_with(|o| o.server_extra.push_str("max_header_bytes = \"16KiB\"\n")).await;
    let request = format!(
        "GET /forecast HTTP/1.1\r\nHost: g\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let answer = raw_http(world.gateway.addr, request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
}

#[tokio::test]
async fn slowloris_is_closed_by_the_header_timeout_while_others_are_served() {
    let world =
        World::start_with(|o| o.server_extra.push_str("header_read_timeout = \"500ms\"\n")).await;
    let mut slow = tokio::net::TcpStream::connect(world.gateway.addr)
        .await
        .unwrap();
    slow.write_all(b"GET /forecast HTTP/1.1\r\nHost: g\r\n")
        .await
        .unwrap();
    // Meanwhile a normal client is served.
    assert_eq!(world.get("/forecast", "read:forecast").await.status(), 200);
    // The dribbling client is cut off: the read ends (EOF or an error answer) within bounds.
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if slow.write_all(b"X-A: b\r\n").await.is_err() {
                return;
            }
            let mut chunk = [0u8; 1024];
            match tokio::time::timeout(Duration::from_millis(100), slow.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                Err(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the slow client was never disconnected");
    assert!(world.backend.seen().len() == 1);
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests_and_stops_accepting() {
    let world = World::start().await;
    let addr = world.gateway.addr;
    // Start a request that takes a while at the backend (a large streamed upload).
    let client = world.client.clone();
    let url = world.url("/stream");
    let token = world.token("ingest:data");
    let in_flight = tokio::spawn(async move {
        client
            .post(url)
            .bearer_auth(token)
            .body(reqwest::Body::wrap(support::gateway::Zeros {
                left: 64 * 1024 * 1024,
            }))
            .send()
            .await
    });
    // Wait until the request is through the gateway and streaming into the backend.
    let backend = &world.backend;
    support::wait::until("request reaches the backend", || backend.started() == 1).await;
    let World {
        gateway, backend, ..
    } = world;
    gateway.shutdown().await;
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 200, "the in-flight request finished");
    assert_eq!(backend.last().body_len, 64 * 1024 * 1024);
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}

/// Second round (SPEC): only WebSocket, and only on a route with `websocket: true` (`/live` in
/// the test policy), is tunnelled; the first round tunnelled any upgrade on any allowed route.
#[tokio::test]
async fn websocket_upgrades_on_a_websocket_route_are_tunnelled() {
    let world = World::start().await;
    let token = world.token("read:forecast");
    let mut stream = tokio::net::TcpStream::connect(world.gateway.addr)
        .await
        .unwrap();
    let head = format!(
        "GET /live HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer {token}\r\n\
         Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            n,
            1,
            "closed before the 101 head ended: {:?}",
            String::from_utf8_lossy(&answer)
        );
        answer.push(byte[0]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
    stream.write_all(b"ping through the tunnel").await.unwrap();
    let mut echoed = [0u8; 23];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut echoed))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&echoed, b"ping through the tunnel");
    let seen = world.backend.last();
    assert_eq!(seen.headers["x-auth-subject"], "clientco@clients");
    assert_eq!(seen.headers["upgrade"], "websocket");

    // Without a token, no tunnel.
    let answer = raw_http(
        world.gateway.addr,
        b"GET /live HTTP/1.1\r\nHost: g\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
}
