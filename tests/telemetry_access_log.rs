//! The access/audit log as an operator runs it: `[log] file` holds one line per request, no line
//! is lost when SIGTERM stops the gateway, SIGUSR1 reopens the file after logrotate renamed it,
//! `--log-format` wins over `[log] format`, and `/metrics` counts lines dropped (none here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use support::backend::Backend;
use support::gateway::{claims, test_policy};
use support::issuer::spawn_issuer;
use support::wait::{DEADLINE, poll, until};
use support::world::World;

/// The request ids in the log file, in order; JSON lines.
fn logged_ids(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let line: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|_| panic!("not a JSON line: {l}"));
            line["request_id"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn the_log_file_gets_one_line_per_request_and_nothing_is_dropped() {
    let world = World::start_with(|options| {
        options.tail = "[log]\nfile = \"access.log\"\nformat = \"json\"\n".to_owned();
    })
    .await;
    for (path, id) in [("/forecast", "log-allowed"), ("/inventory", "log-denied")] {
        let response = world
            .client
            .get(world.url(path))
            .bearer_auth(world.token("read:forecast"))
            .header("x-request-id", id)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success() || response.status() == 403);
    }
    let file = world.gateway.dir.path().join("access.log");
    let lines: Vec<serde_json::Value> = poll("both access lines in the file", DEADLINE, || {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        std::future::ready((lines.len() == 2).then_some(lines))
    })
    .await;
    assert_eq!(lines[0]["request_id"], "log-allowed");
    assert_eq!(lines[0]["decision"], "allow");
    assert_eq!(lines[0]["status"], 200);
    assert_eq!(lines[0]["client_id"], "clientco");
    assert_eq!(lines[1]["request_id"], "log-denied");
    assert_eq!(lines[1]["decision"], "deny");
    assert_eq!(lines[1]["reason"], "insufficient_scope");
    assert!(
        lines[0].get("trace_id").is_none(),
        "no trace id without tracing"
    );
    let metrics = world.gateway.metrics().await;
    assert!(
        metrics.contains("gateway_access_log_dropped_total 0"),
        "{metrics}"
    );
}

/// A `gateway serve` child with its own folder; stderr kept as lines.
struct Served {
    child: Child,
    dir: tempfile::TempDir,
    data: String,
    admin: String,
    stderr: std::sync::mpsc::Receiver<String>,
}

impl Served {
    fn start(issuer: &str, jwks: &str, upstream: &str, log: &str, args: &[&str]) -> Served {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("policy.yaml"), test_policy()).unwrap();
        std::fs::write(
            dir.path().join("gateway.toml"),
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 1\n[admin]\nlisten = \"127.0.0.1:0\"\n\
                 [upstream]\nurl = \"{upstream}\"\n[auth]\nissuer = \"{issuer}\"\n\
                 audience = \"https://clientco/api\"\njwks_url = \"{jwks}\"\n\
                 [policy]\nfile = \"policy.yaml\"\n[log]\n{log}\n"
            ),
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_gateway"))
            .arg("serve")
            .args(args)
            .arg("--config")
            .arg(dir.path().join("gateway.toml"))
            .env_remove("GATEWAY_CONFIG")
            .env_remove("GATEWAY_LOG")
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        let mut served = Served {
            child,
            dir,
            data: String::new(),
            admin: String::new(),
            stderr: lines,
        };
        let listening = served.next_stderr(|l| l.contains("gateway listening"));
        served.data = format!("http://{}", field(&listening, "data"));
        served.admin = format!("http://{}", field(&listening, "admin"));
        served
    }

    fn next_stderr(&mut self, pick: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self
                .stderr
                .recv_timeout(left)
                .expect("the expected stderr line never came");
            if pick(&line) {
                return line;
            }
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the exit; the folder stays until the caller drops it.
    async fn exit_code(self) -> (Option<i32>, tempfile::TempDir) {
        let mut child = self.child;
        let code = tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .unwrap()
            .code();
        (code, self.dir)
    }
}

/// A field of a diagnostic line, JSON or text (`name=value`).
fn field(line: &str, name: &str) -> String {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(line) {
        return json[name].as_str().unwrap().to_owned();
    }
    let prefix = format!("{name}=");
    line.split(' ')
        .find_map(|part| part.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {name} in: {line}"))
        .to_owned()
}

/// Until the first key set loads, requests are 503.
async fn ready(served: &Served) {
    let client = reqwest::Client::new();
    let readyz = format!("{}/readyz", served.admin);
    poll("the gateway to become ready", DEADLINE, || async {
        let response = client.get(&readyz).send().await.ok()?;
        (response.status() == 200).then_some(())
    })
    .await;
}

async fn get(client: &reqwest::Client, url: String, token: &str, id: &str) -> u16 {
    client
        .get(url)
        .bearer_auth(token)
        .header("x-request-id", id)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn sigterm_writes_out_every_queued_line_before_exiting() {
    let issuer = spawn_issuer().await;
    let backend = Backend::start().await;
    let served = Served::start(
        &issuer.issuer_url(),
        &issuer.jwks_url(),
        &backend.url(),
        "file = \"access.log\"\nformat = \"json\"",
        &[],
    );
    ready(&served).await;
    let client = reqwest::Client::new();
    let token = issuer.mint(&claims(&issuer.issuer_url(), "read:forecast"));
    // Fewer lines than one write batch, sent faster than the once-a-second flush: they are
    // still queued when SIGTERM arrives.
    let ids: Vec<String> = (0..40).map(|i| format!("term-{i}")).collect();
    for id in &ids {
        assert_eq!(
            get(&client, format!("{}/forecast", served.data), &token, id).await,
            200
        );
    }
    let file = served.file("access.log");
    served.signal("TERM");
    let (code, _dir) = served.exit_code().await;
    assert_eq!(code, Some(0));
    assert_eq!(logged_ids(&file), ids);
}

#[tokio::test]
async fn sigusr1_reopens_the_log_file_after_logrotate_renamed_it() {
    let issuer = spawn_issuer().await;
    let backend = Backend::start().await;
    let served = Served::start(
        &issuer.issuer_url(),
        &issuer.jwks_url(),
        &backend.url(),
        "file = \"access.log\"\nformat = \"json\"",
        &[],
    );
    ready(&served).await;
    let client = reqwest::Client::new();
    let token = issuer.mint(&claims(&issuer.issuer_url(), "read:forecast"));
    let (file, rotated) = (served.file("access.log"), served.file("access.log.1"));
    assert_eq!(
        get(
            &client,
            format!("{}/forecast", served.data),
            &token,
            "before"
        )
        .await,
        200
    );
    until("the first line in the log", || {
        logged_ids(&file) == ["before"]
    })
    .await;
    std::fs::rename(&file, &rotated).unwrap();
    served.signal("USR1");
    until("a new log file after SIGUSR1", || file.exists()).await;
    assert_eq!(
        get(
            &client,
            format!("{}/forecast", served.data),
            &token,
            "after"
        )
        .await,
        200
    );
    until("the next line in the new file", || {
        logged_ids(&file) == ["after"]
    })
    .await;
    assert_eq!(logged_ids(&rotated), ["before"]);
    served.signal("TERM");
    assert_eq!(served.exit_code().await.0, Some(0));
}

#[tokio::test]
async fn log_format_on_the_command_line_wins_over_the_config_file() {
    let issuer = spawn_issuer().await;
    let backend = Backend::start().await;
    let token = issuer.mint(&claims(&issuer.issuer_url(), "read:forecast"));
    let client = reqwest::Client::new();

    // `[log] format = "json"` alone: access lines and diagnostics on stderr are JSON.
    let mut json = Served::start(
        &issuer.issuer_url(),
        &issuer.jwks_url(),
        &backend.url(),
        "format = \"json\"",
        &[],
    );
    ready(&json).await;
    assert_eq!(
        get(
            &client,
            format!("{}/forecast", json.data),
            &token,
            "as-json"
        )
        .await,
        200
    );
    let line = json.next_stderr(|l| l.contains("as-json"));
    let line: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(line["target"], "gateway::access");
    assert_eq!(line["decision"], "allow");
    json.signal("TERM");
    let stopped = json.next_stderr(|l| l.contains("stopped"));
    assert!(
        serde_json::from_str::<serde_json::Value>(&stopped).is_ok(),
        "{stopped}"
    );
    assert_eq!(json.exit_code().await.0, Some(0));

    // `--log-format text` overrides it.
    let mut text = Served::start(
        &issuer.issuer_url(),
        &issuer.jwks_url(),
        &backend.url(),
        "format = \"json\"",
        &["--log-format", "text"],
    );
    ready(&text).await;
    assert_eq!(
        get(
            &client,
            format!("{}/forecast", text.data),
            &token,
            "as-text"
        )
        .await,
        200
    );
    let line = text.next_stderr(|l| l.contains("as-text"));
    assert!(
        line.contains("INFO gateway::access: request request_id=\"as-text\" method=GET"),
        "{line}"
    );
    assert!(line.contains(" decision=\"allow\" "), "{line}");
    text.signal("TERM");
    assert_eq!(text.exit_code().await.0, Some(0));
}
