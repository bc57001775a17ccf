//! End to end with the real SaaSCo FastAPI app (examples/fastapi_app) under uvicorn, the
//! gateway, and the development issuer, all on loopback ephemeral ports. The founding workflow:
//! token (through `gateway token`) -> ingest -> forecast -> inventory -> restricted modelling
//! refused -> forged tokens refused -> the backend never saw a forged identity. Then the second
//! wall: the gateway signs an assertion (`[forward.assertion]`, a key generated into the test's
//! folder, its JWKS written by the real `gateway assertion-jwks`) that the app verifies with the
//! repository's package (integrations/fastapi), so a request sent around the gateway is refused
//! by the app: forged `X-Auth-*` headers, a captured assertion replayed on another path or
//! method, or after it expired. And the edge: two replicas of the app behind one pool
//! (`[upstream] endpoints`), one killed (SIGKILL) in the middle of a steady stream of GETs, which
//! costs no GET.
//!
//! Needs Python with the pinned FastAPI and uvicorn and the package: `scripts/e2e-setup` creates
//! .venv-e2e and
//! `scripts/test` sets E2E_PYTHON to its python and runs this ignored test explicitly
//! (`--include-ignored`). Run that way without E2E_PYTHON, or with it pointing at a missing
//! interpreter, it fails: it never passes without having run.
//!
//! Port discovery: uvicorn cannot report the port it got for `--port 0`, and "bind :0, close,
//! pass the number" races with other processes. So the app's launcher (`app.py --port 0`) binds
//! the socket itself, prints `listening on http://127.0.0.1:PORT`, and hands the bound socket to
//! uvicorn: no window in which another process could take the port.
//!
//! What the backend saw is read from the app's SAASCO_SEEN_LOG (one JSON line per request,
//! written before any FastAPI dependency runs), a file rather than an endpoint so nothing about
//! it is reachable over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gateway::dev::issuer::{DevClient, DevIssuer, DevIssuerConfig};
use support::bin::run_async;
use support::gateway::Options;
use support::issuer::now as unix_now;
use support::world::{Sent, description};

/// The shipped ClientCo policy, as the gateway in front of SaaSCo runs it.
const POLICY: &str = include_str!("../policies/clientco.yaml");

const SECRET: &str = "e2e-secret-for-clientco";
const ASSERTION_ISSUER: &str = "https://gateway.saasco.internal/";
const ASSERTION_AUDIENCE: &str = "saasco-backend";
const INGEST_BODY: &str = r#"{"rows":[{"sku":"SKU-1","sold":12}]}"#;

/// The uvicorn process; killed when the test ends, whatever happens.
struct Uvicorn {
    child: Child,
    url: String,
}

impl Drop for Uvicorn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Uvicorn {
    /// The app, verifying assertions with the keys in `jwks_file`; `env` adds settings.
    fn start(python: &Path, seen_log: &Path, jwks_file: &Path, env: &[(&str, &str)]) -> Uvicorn {
        let app_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fastapi_app");
        let mut command = Command::new(python);
        command
            .arg("app.py")
            .args(["--host", "127.0.0.1", "--port", "0"])
            .current_dir(&app_dir)
            .env("SAASCO_SEEN_LOG", seen_log)
            .env("GATEWAY_ASSERTION_ISSUER", ASSERTION_ISSUER)
            .env("GATEWAY_ASSERTION_AUDIENCE", ASSERTION_AUDIENCE)
            .env("GATEWAY_ASSERTION_JWKS_FILE", jwks_file);
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
        // The first line names the port; read it on a thread so a hung interpreter fails the
        // test at the deadline instead of hanging it.
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let mut server = Uvicorn {
            child,
            url: String::new(),
        };
        let line = receiver
            .recv_timeout(Duration::from_secs(30))
            .expect("the FastAPI app did not report its port within 30 s");
        server.url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the FastAPI app did not start: {line:?}"))
            .to_owned();
        server
    }
}

/// Runs the built `gateway token` on a credentials file, off the async runtime.
async fn gateway_token(credentials: &Path) -> String {
    let credentials = credentials.display().to_string();
    let run = run_async(
        Path::new("."),
        &["token", "--credentials", &credentials],
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "gateway token failed: {run:?}");
    run.stdout.trim().to_owned()
}

/// Writes the policy, a fresh Ed25519 assertion key and gateway.toml (forwarding to
/// `upstream`, a comma-separated list of endpoint URLs for the default pool,
/// `assertion_extra` appended to `[forward.assertion]`) into `dir`.
fn write_config(dir: &Path, issuer: &DevIssuer, upstream: &str, assertion_extra: &str) -> PathBuf {
    if !dir.join("assertion-key.pem").exists() {
        let key = gateway::assertion::keys::generate_pem(gateway::assertion::Algorithm::EdDsa);
        std::fs::write(dir.join("assertion-key.pem"), key.unwrap()).unwrap();
    }
    let mut options = Options::new(&issuer.issuer_url(), &issuer.jwks_url(), upstream);
    options.policy = POLICY.to_owned();
    options.upstream_extra = "request_timeout = \"10s\"\n".to_owned();
    options.tail = format!(
        "[forward.assertion]\nkey_file = \"assertion-key.pem\"\nissuer = \"{ASSERTION_ISSUER}\"\n\
         audience = \"{ASSERTION_AUDIENCE}\"\n{assertion_extra}\n"
    );
    let file = options.write_to(dir);
    if upstream.contains(',') {
        // More than one replica: `[upstream]` takes `endpoints` instead of its `url`.
        let endpoints: Vec<String> = upstream.split(',').map(|u| format!("\"{u}\"")).collect();
        let text = std::fs::read_to_string(&file).unwrap().replace(
            &format!("url = \"{upstream}\""),
            &format!("endpoints = [{}]", endpoints.join(", ")),
        );
        std::fs::write(&file, text).unwrap();
    }
    file
}

/// What a backend that loads keys from a file gets: `gateway assertion-jwks` (the real binary)
/// on the config in `dir`, written to `dir/assertion-jwks.json`. The upstream is not known yet
/// (the app starts after its keys exist), and the command does not need it.
async fn assertion_jwks(dir: &Path, issuer: &DevIssuer, assertion_extra: &str) -> PathBuf {
    let config = write_config(dir, issuer, "http://127.0.0.1:9", assertion_extra);
    let config = config.display().to_string();
    let run = run_async(dir, &["assertion-jwks", "--config", &config], &[]).await;
    assert_eq!(run.code, 0, "gateway assertion-jwks failed: {run:?}");
    let file = dir.join("assertion-jwks.json");
    std::fs::write(&file, &run.stdout).unwrap();
    file
}

async fn start_gateway(
    dir: &Path,
    issuer: &DevIssuer,
    upstream: &str,
    assertion_extra: &str,
) -> gateway::Running {
    let config_file = write_config(dir, issuer, upstream, assertion_extra);
    let config = gateway::config::Config::load(&config_file)
        .unwrap_or_else(|d| panic!("the e2e config does not load:\n{d}"));
    let running = gateway::start(config).await.unwrap();
    support::wait::until("the gateway to load the JWKS", || {
        running.gateway().auth.is_ready()
    })
    .await;
    running
}

/// One line of SAASCO_SEEN_LOG.
#[derive(Debug, serde::Deserialize)]
struct Seen {
    method: String,
    path: String,
    headers: std::collections::BTreeMap<String, Vec<String>>,
}

fn read_seen(path: &Path) -> Vec<Seen> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// `token` with `extra` scopes appended to its claim, header and signature untouched.
fn tampered(token: &str, extra: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let scope = claims["scope"].as_str().unwrap().to_owned();
    claims["scope"] = format!("{scope} {extra}").into();
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    )
}

fn python() -> PathBuf {
    let path = std::env::var_os("E2E_PYTHON").map(PathBuf::from).expect(
        "set E2E_PYTHON to a python with FastAPI and uvicorn \
         (scripts/e2e-setup creates .venv-e2e; scripts/test does both)",
    );
    assert!(
        path.exists(),
        "E2E_PYTHON={} does not exist; run scripts/e2e-setup",
        path.display()
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Python with FastAPI: scripts/test runs it with E2E_PYTHON set"]
async fn clientco_workflow_through_the_gateway_to_fastapi() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let seen_log = dir.path().join("seen.jsonl");

    let issuer = DevIssuer::start(DevIssuerConfig {
        clients: vec![
            DevClient {
                client_id: "clientco".to_owned(),
                client_secret: SECRET.to_owned(),
                scopes: vec![
                    "ingest:data".to_owned(),
                    "read:forecast".to_owned(),
                    "read:inventory".to_owned(),
                ],
            },
            DevClient {
                client_id: "clientco-readonly".to_owned(),
                client_secret: SECRET.to_owned(),
                scopes: vec!["read:forecast".to_owned()],
            },
        ],
        ..DevIssuerConfig::default()
    })
    .await
    .unwrap();
    let jwks_file = assertion_jwks(dir.path(), &issuer, "").await;
    let backend = Uvicorn::start(&python, &seen_log, &jwks_file, &[]);
    let running = start_gateway(dir.path(), &issuer, &backend.url, "").await;
    let gateway = format!("http://{}", running.data_addr());
    let http = reqwest::Client::new();

    // The backend itself refuses a request without the gateway's signed assertion.
    let direct = http.get(format!("{}/forecast", backend.url)).sent().await;
    assert_eq!(direct.status(), 401, "the FastAPI dependency must refuse");

    // Token: the client-credentials grant through the real CLI.
    let credentials = dir.path().join("credentials.json");
    std::fs::write(
        &credentials,
        serde_json::json!({
            "issuer": issuer.issuer_url(),
            "client_id": "clientco",
            "client_secret": SECRET,
            "audience": "https://clientco/api",
        })
        .to_string(),
    )
    .unwrap();
    let token = gateway_token(&credentials).await;
    assert_eq!(token.split('.').count(), 3, "a JWS compact token: {token}");

    // Ingest.
    let ingest = http
        .post(format!("{gateway}/ingest"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(INGEST_BODY)
        .sent()
        .await;
    assert_eq!(ingest.status(), 200);
    let body: serde_json::Value = ingest.json().await.unwrap();
    assert_eq!(body["client_id"], "clientco");
    assert_eq!(body["subject"], "clientco@clients");
    assert_eq!(body["accepted_bytes"], INGEST_BODY.len());

    // Forecast, with identity headers the client tries to forge: the app must see clientco.
    let forecast = http
        .get(format!("{gateway}/forecast"))
        .bearer_auth(&token)
        .header("X-Auth-Client-Id", "admin")
        .header("x-auth-subject", "admin@clients")
        .header("X-AUTH-SCOPES", "no:execute_modeling")
        .sent()
        .await;
    assert_eq!(forecast.status(), 200);
    let body: serde_json::Value = forecast.json().await.unwrap();
    assert_eq!(body["client_id"], "clientco");
    assert_eq!(body["forecast"].as_array().unwrap().len(), 4);

    // Inventory.
    let inventory = http
        .get(format!("{gateway}/inventory"))
        .bearer_auth(&token)
        .sent()
        .await;
    assert_eq!(inventory.status(), 200);
    let body: serde_json::Value = inventory.json().await.unwrap();
    assert_eq!(body["client_id"], "clientco");

    // Restricted modelling: refused by the gateway whatever the token holds.
    let train = http
        .post(format!("{gateway}/models/train"))
        .bearer_auth(&token)
        .sent()
        .await;
    assert_eq!(train.status(), 403);
    let body: serde_json::Value = train.json().await.unwrap();
    assert!(description(&body).contains("no:execute_modeling"), "{body}");

    // A missing scope: the read-only client asks for inventory.
    let readonly = issuer.mint(&serde_json::json!({
        "iss": issuer.issuer_url(),
        "sub": "clientco-readonly@clients",
        "aud": "https://clientco/api",
        "azp": "clientco-readonly",
        "iat": unix_now(),
        "exp": unix_now() + 600,
        "scope": "read:forecast",
    }));
    let missing = http
        .get(format!("{gateway}/inventory"))
        .bearer_auth(&readonly)
        .sent()
        .await;
    assert_eq!(missing.status(), 403);
    let challenge = missing.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");

    // Forged tokens: an edited one, and one signed by an attacker's own key with our issuer.
    let edited = http
        .get(format!("{gateway}/inventory"))
        .bearer_auth(tampered(&readonly, "read:inventory"))
        .sent()
        .await;
    assert_eq!(edited.status(), 401);
    let attacker = DevIssuer::start(DevIssuerConfig::default()).await.unwrap();
    let mut claims = issuer.standard_claims(&["read:inventory"]);
    claims["iss"] = issuer.issuer_url().into();
    let foreign = http
        .get(format!("{gateway}/inventory"))
        .bearer_auth(attacker.mint(&claims))
        .sent()
        .await;
    assert_eq!(foreign.status(), 401);

    // What FastAPI saw: the direct probe, then exactly the three allowed calls, each with one
    // gateway-set identity, no forged value, and no Authorization header.
    let seen = read_seen(&seen_log);
    let calls: Vec<String> = seen
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert_eq!(
        calls,
        [
            "GET /forecast",
            "POST /ingest",
            "GET /forecast",
            "GET /inventory"
        ],
        "{seen:#?}"
    );
    for through_gateway in &seen[1..] {
        let header = |name: &str| {
            through_gateway
                .headers
                .get(name)
                .cloned()
                .unwrap_or_default()
        };
        assert_eq!(
            header("x-auth-client-id"),
            ["clientco"],
            "{through_gateway:?}"
        );
        assert_eq!(
            header("x-auth-subject"),
            ["clientco@clients"],
            "{through_gateway:?}"
        );
        assert_eq!(
            header("x-auth-scopes"),
            ["ingest:data read:forecast read:inventory"],
            "{through_gateway:?}"
        );
        assert_eq!(header("x-auth-issuer"), [issuer.issuer_url()]);
        assert!(
            header("authorization").is_empty(),
            "the token must not reach the backend"
        );
        assert_eq!(header("x-auth-assertion").len(), 1, "{through_gateway:?}");
    }
    assert!(
        seen[0].headers.is_empty(),
        "the direct probe carried nothing"
    );

    // The file the app verifies with is what the admin listener serves.
    let served: serde_json::Value = http
        .get(format!(
            "http://{}/.well-known/jwks.json",
            running.admin_addr()
        ))
        .sent()
        .await
        .json()
        .await
        .unwrap();
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&jwks_file).unwrap()).unwrap();
    assert_eq!(served, file);

    running.shutdown().await;
    attacker.shutdown().await;
    issuer.shutdown().await;
    drop(backend);
}

/// A direct request to the app: its status and JSON body.
async fn direct(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    headers: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let mut request = http.request(method, url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.sent().await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Python with FastAPI: scripts/test runs it with E2E_PYTHON set"]
async fn requests_around_the_gateway_are_refused_by_the_app() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let seen_log = dir.path().join("seen.jsonl");
    let issuer = DevIssuer::start(DevIssuerConfig::default()).await.unwrap();
    // A short lifetime and no leeway in the app, so expiry comes within the test.
    let lifetime = "lifetime = \"5s\"";
    let jwks_file = assertion_jwks(dir.path(), &issuer, lifetime).await;
    let backend = Uvicorn::start(
        &python,
        &seen_log,
        &jwks_file,
        &[("GATEWAY_ASSERTION_LEEWAY", "0")],
    );
    let running = start_gateway(dir.path(), &issuer, &backend.url, lifetime).await;
    let http = reqwest::Client::new();
    let app = |path: &str| format!("{}{path}", backend.url);

    // Forged identity headers straight to the app: no assertion, refused.
    let forged = [
        ("X-Auth-Subject", "clientco@clients"),
        ("X-Auth-Client-Id", "clientco"),
        ("X-Auth-Scopes", "ingest:data read:forecast read:inventory"),
        ("X-Auth-Issuer", "https://YOUR_TENANT.auth0.com/"),
    ];
    let (status, body) = direct(&http, reqwest::Method::GET, app("/forecast"), &forged).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "missing_assertion", "{body}");
    // The exempt OpenAPI document stays reachable, and lists the scopes.
    let (status, openapi) = direct(&http, reqwest::Method::GET, app("/openapi.json"), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(
        openapi["paths"]["/forecast"]["get"]["security"],
        serde_json::json!([{"GatewayAssertion": ["read:forecast"]}])
    );

    // Through the gateway: allowed, and the app saw a valid assertion.
    let token = issuer.mint(&issuer.standard_claims(&["read:forecast", "read:inventory"]));
    let through = http
        .get(format!("http://{}/forecast", running.data_addr()))
        .bearer_auth(&token)
        .sent()
        .await;
    assert_eq!(through.status(), 200);
    let seen = read_seen(&seen_log);
    let captured = seen.last().unwrap().headers["x-auth-assertion"][0].clone();

    // Replayed straight to the app on its own method and path, within its lifetime, the
    // assertion still works: it is the binding that refuses the others, not its age.
    let with = |forged: &[(&'static str, &'static str)]| {
        let mut headers: Vec<(&'static str, String)> =
            forged.iter().map(|(n, v)| (*n, (*v).to_owned())).collect();
        headers.push(("X-Auth-Assertion", captured.clone()));
        headers
    };
    let call =
        |method: reqwest::Method, path: &'static str, headers: Vec<(&'static str, String)>| {
            let http = &http;
            let url = app(path);
            async move {
                let borrowed: Vec<(&str, &str)> =
                    headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
                direct(http, method, url, &borrowed).await
            }
        };
    let (status, body) = call(reqwest::Method::GET, "/forecast", with(&[])).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(reqwest::Method::GET, "/inventory", with(&forged)).await;
    assert_eq!(status, 401, "another path: {body}");
    assert_eq!(body["error"], "invalid_assertion");
    assert!(description(&body).contains("htp"), "{body}");
    let (status, body) = call(reqwest::Method::POST, "/forecast", with(&[])).await;
    assert_eq!(status, 401, "another method: {body}");
    assert!(description(&body).contains("htm"), "{body}");

    // After its lifetime the same replay is refused too.
    let expired = support::wait::poll(
        "the captured assertion to expire",
        Duration::from_secs(30),
        || {
            let call = call(reqwest::Method::GET, "/forecast", with(&[]));
            async move {
                let (status, body) = call.await;
                (status == 401).then_some(body)
            }
        },
    )
    .await;
    assert_eq!(expired["error"], "invalid_assertion");
    assert!(description(&expired).contains("expired"), "{expired}");

    running.shutdown().await;
    issuer.shutdown().await;
    drop(backend);
}

/// Requests a replica's SAASCO_SEEN_LOG has recorded so far (whole lines only: the app may be
/// writing one).
fn seen_count(path: &Path) -> usize {
    std::fs::read(path)
        .unwrap_or_default()
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Python with FastAPI: scripts/test runs it with E2E_PYTHON set"]
async fn two_replicas_behind_one_pool_and_one_killed_mid_run_costs_no_get() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let issuer = DevIssuer::start(DevIssuerConfig::default()).await.unwrap();
    let jwks_file = assertion_jwks(dir.path(), &issuer, "").await;
    let logs = [
        dir.path().join("seen-1.jsonl"),
        dir.path().join("seen-2.jsonl"),
    ];
    let mut replicas = [
        Uvicorn::start(&python, &logs[0], &jwks_file, &[]),
        Uvicorn::start(&python, &logs[1], &jwks_file, &[]),
    ];
    let endpoints = format!("{},{}", replicas[0].url, replicas[1].url);
    let running = start_gateway(dir.path(), &issuer, &endpoints, "").await;
    let url = format!("http://{}/forecast", running.data_addr());
    let token = issuer.mint(&issuer.standard_claims(&["read:forecast"]));

    // A steady stream of GETs from two clients until told to stop (at most 5,000 each).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..2 {
        let (url, token, stop) = (url.clone(), token.clone(), stop.clone());
        clients.spawn(async move {
            let http = reqwest::Client::new();
            let mut failed = Vec::new();
            let mut sent = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) && sent < 5_000 {
                sent += 1;
                match http.get(&url).bearer_auth(&token).send().await {
                    Ok(response) if response.status() == 200 => {}
                    Ok(response) => failed.push(format!("client {client}: {}", response.status())),
                    Err(error) => failed.push(format!("client {client}: {error}")),
                }
            }
            (sent, failed)
        });
    }
    support::wait::poll(
        "both replicas to serve part of the stream",
        Duration::from_secs(60),
        || std::future::ready(logs.iter().all(|log| seen_count(log) >= 20).then_some(())),
    )
    .await;
    // SIGKILL, as a crashed or OOM-killed replica: no goodbye on its connections.
    replicas[1].child.kill().unwrap();
    replicas[1].child.wait().unwrap();
    let at_kill = seen_count(&logs[0]);
    support::wait::poll(
        "the survivor to serve the stream on its own",
        Duration::from_secs(60),
        || std::future::ready((seen_count(&logs[0]) >= at_kill + 100).then_some(())),
    )
    .await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut total = 0;
    while let Some(done) = clients.join_next().await {
        let (sent, failed) = done.unwrap();
        total += sent;
        assert!(failed.is_empty(), "GETs failed around the kill: {failed:?}");
    }
    let served = seen_count(&logs[0]) + seen_count(&logs[1]);
    assert!(
        served >= total,
        "every GET was answered by a replica ({served} seen for {total} sent)"
    );

    running.shutdown().await;
    issuer.shutdown().await;
    drop(replicas);
}
