//! `gateway serve` as an operator runs it: the real binary, JSON access logs (one line per
//! request, never the token), SIGHUP reloads the policy, SIGTERM drains and exits 0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use support::backend::Backend;
use support::gateway::{claims, test_policy};
use support::issuer::spawn_issuer;

struct Served {
    child: Child,
    lines: mpsc::Receiver<serde_json::Value>,
    data: String,
    admin: String,
    dir: tempfile::TempDir,
}

impl Served {
    /// The next JSON log line matching `pick`, within 10 s.
    fn next_line(&self, pick: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .expect("the expected log line never came");
            if pick(&line) {
                return line;
            }
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

fn serve(issuer: &str, jwks: &str, upstream: &str) -> Served {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.yaml"), test_policy()).unwrap();
    std::fs::write(
        dir.path().join("gateway.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 2\n[admin]\nlisten = \"127.0.0.1:0\"\n\
             [upstream]\nurl = \"{upstream}\"\n[auth]\nissuer = \"{issuer}\"\n\
             audience = \"https://clientco/api\"\njwks_url = \"{jwks}\"\n\
             [policy]\nfile = \"policy.yaml\"\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["serve", "--log-format", "json", "--config"])
        .arg(dir.path().join("gateway.toml"))
        .env_remove("GATEWAY_CONFIG")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            let json = serde_json::from_str(&line)
                .unwrap_or_else(|_| panic!("--log-format json printed a non-JSON line: {line}"));
            if send.send(json).is_err() {
                return;
            }
        }
    });
    let mut served = Served {
        child,
        lines,
        data: String::new(),
        admin: String::new(),
        dir,
    };
    let listening = served.next_line(|l| l["message"] == "gateway listening");
    served.data = format!("http://{}", listening["data"].as_str().unwrap());
    served.admin = format!("http://{}", listening["admin"].as_str().unwrap());
    served
}

async fn wait_ready(admin: &str) {
    let client = reqwest::Client::new();
    let readyz = format!("{admin}/readyz");
    support::wait::poll(
        "the gateway to become ready",
        support::wait::DEADLINE,
        || async {
            let response = client.get(&readyz).send().await.ok()?;
            (response.status() == 200).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn serve_logs_one_json_line_per_request_reloads_on_sighup_and_drains_on_sigterm() {
    let issuer = spawn_issuer().await;
    let backend = Backend::start().await;
    let mut served = serve(&issuer.issuer_url(), &issuer.jwks_url(), &backend.url());
    wait_ready(&served.admin).await;
    let client = reqwest::Client::new();
    let token = issuer.mint(&claims(&issuer.issuer_url(), "read:forecast"));

    // Allowed: one access line with the identity and decision, never the token.
    let response = client
        .get(format!("{}/forecast?x=1", served.data))
        .bearer_auth(&token)
        .header("x-request-id", "req-allowed")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let line = served.next_line(|l| l["request_id"] == "req-allowed");
    assert_eq!(line["target"], "gateway::access");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["path"], "/forecast");
    assert_eq!(line["route"], "/forecast");
    assert_eq!(line["subject"], "clientco@clients");
    assert_eq!(line["client_id"], "clientco");
    assert_eq!(line["decision"], "allow");
    assert_eq!(line["status"], 200);
    assert!(line["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(!line.to_string().contains(&token));

    // Denied: the reason is logged.
    let response = client
        .get(format!("{}/inventory", served.data))
        .bearer_auth(&token)
        .header("x-request-id", "req-denied")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let line = served.next_line(|l| l["request_id"] == "req-denied");
    assert_eq!(line["decision"], "deny");
    assert_eq!(line["reason"], "insufficient_scope");
    assert_eq!(line["status"], 403);

    // SIGHUP reloads an edited policy.
    let edited = format!(
        "{}  - path: /reports\n    methods: [GET]\n    scopes: [read:forecast]\n",
        test_policy()
    );
    std::fs::write(served.dir.path().join("policy.yaml"), edited).unwrap();
    served.signal("HUP");
    served.next_line(|l| l["message"] == "policy reloaded");
    let response = client
        .get(format!("{}/reports", served.data))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // SIGTERM: drain and exit 0.
    served.signal("TERM");
    let status = tokio::task::spawn_blocking(move || served.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn serve_with_a_broken_config_exits_1_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gateway.toml"),
        "[server]\nlisten = \"nowhere\"\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .arg("--config")
        .arg(dir.path().join("gateway.toml"))
        .env_remove("GATEWAY_CONFIG")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("gateway.toml:2:"), "{stderr}");
}
