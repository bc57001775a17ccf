//! End to end with the real SaaSCo FastAPI app (examples/fastapi_app) under uvicorn, the
//! gateway, and the development issuer, all on loopback ephemeral ports. The founding workflow:
//! token (through `gateway token`) -> ingest -> forecast -> inventory -> restricted modelling
//! refused -> forged tokens refused -> the backend never saw a forged identity.
//!
//! Needs Python with the pinned FastAPI and uvicorn: `scripts/e2e-setup` creates .venv-e2e and
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

/// The shipped ClientCo policy, as the gateway in front of SaaSCo runs it.
const POLICY: &str = include_str!("../policies/clientco.yaml");

const SECRET: &str = "e2e-secret-for-clientco";
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
    fn start(python: &Path, seen_log: &Path) -> Uvicorn {
        let app_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fastapi_app");
        let mut child = Command::new(python)
            .arg("app.py")
            .args(["--host", "127.0.0.1", "--port", "0"])
            .current_dir(&app_dir)
            .env("SAASCO_SEEN_LOG", seen_log)
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
    let credentials = credentials.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_gateway"))
            .args(["token", "--credentials"])
            .arg(&credentials)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "gateway token failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

async fn start_gateway(dir: &Path, issuer: &DevIssuer, upstream: &str) -> gateway::Running {
    std::fs::write(dir.join("policy.yaml"), POLICY).unwrap();
    let config_file = dir.join("gateway.toml");
    std::fs::write(
        &config_file,
        format!(
            r#"[server]
listen = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
[upstream]
url = "{upstream}"
request_timeout = "10s"
[auth]
issuer = "{issuer}"
audience = "https://clientco/api"
jwks_url = "{jwks}"
[policy]
file = "policy.yaml"
"#,
            issuer = issuer.issuer_url(),
            jwks = issuer.jwks_url(),
        ),
    )
    .unwrap();
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
    let backend = Uvicorn::start(&python, &seen_log);
    let running = start_gateway(dir.path(), &issuer, &backend.url).await;
    let gateway = format!("http://{}", running.data_addr());
    let http = reqwest::Client::new();

    // The backend itself refuses a request without the gateway's identity headers.
    let direct = http
        .get(format!("{}/forecast", backend.url))
        .send()
        .await
        .unwrap();
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
        .send()
        .await
        .unwrap();
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
        .send()
        .await
        .unwrap();
    assert_eq!(forecast.status(), 200);
    let body: serde_json::Value = forecast.json().await.unwrap();
    assert_eq!(body["client_id"], "clientco");
    assert_eq!(body["forecast"].as_array().unwrap().len(), 4);

    // Inventory.
    let inventory = http
        .get(format!("{gateway}/inventory"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(inventory.status(), 200);
    let body: serde_json::Value = inventory.json().await.unwrap();
    assert_eq!(body["client_id"], "clientco");

    // Restricted modelling: refused by the gateway whatever the token holds.
    let train = http
        .post(format!("{gateway}/models/train"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(train.status(), 403);
    let body: serde_json::Value = train.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("no:execute_modeling"),
        "{body}"
    );

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
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 403);
    let challenge = missing.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");

    // Forged tokens: an edited one, and one signed by an attacker's own key with our issuer.
    let edited = http
        .get(format!("{gateway}/inventory"))
        .bearer_auth(tampered(&readonly, "read:inventory"))
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), 401);
    let attacker = DevIssuer::start(DevIssuerConfig::default()).await.unwrap();
    let mut claims = issuer.standard_claims(&["read:inventory"]);
    claims["iss"] = issuer.issuer_url().into();
    let foreign = http
        .get(format!("{gateway}/inventory"))
        .bearer_auth(attacker.mint(&claims))
        .send()
        .await
        .unwrap();
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
    }

    running.shutdown().await;
    attacker.shutdown().await;
    issuer.shutdown().await;
    drop(backend);
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
