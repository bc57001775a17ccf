//! The access/audit log as an operator runs it: `[log] file` holds one line per request, no line
//! is lost when SIGTERM stops the gateway, SIGUSR1 reopens the file after logrotate renamed it,
//! `--log-format` wins over `[log] format`, and `/metrics` counts lines dropped (none here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use gateway::dev::issuer::DevIssuer;
use support::backend::Backend;
use support::bin::Serving;
use support::gateway::{Options, claims};
use support::issuer::spawn_issuer;
use support::wait::{DEADLINE, poll, until};
use support::world::{Sent, World};

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
            .as_scope("GET", path, "read:forecast")
            .header("x-request-id", id)
            .sent()
            .await;
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
    world
        .expect_metric("gateway_access_log_dropped_total 0")
        .await;
}

/// An issuer, a backend, a ClientCo token and a client: what each run of the binary talks to.
struct Setup {
    issuer: DevIssuer,
    backend: Backend,
    token: String,
    client: reqwest::Client,
}

const JSON_FILE: &str = "file = \"access.log\"\nformat = \"json\"";

impl Setup {
    async fn new() -> Setup {
        let issuer = spawn_issuer().await;
        let token = issuer.mint(&claims(&issuer.issuer_url(), "read:forecast"));
        Setup {
            issuer,
            backend: Backend::start().await,
            token,
            client: reqwest::Client::new(),
        }
    }

    /// `gateway serve <args>` with one worker on the test policy and `[log] <log>`, ready.
    async fn serve(&self, log: &str, args: &[&str]) -> Serving {
        let mut options = Options::of(&self.issuer, &self.backend);
        options.server_extra = "workers = 1\n".to_owned();
        options.upstream_extra = String::new();
        options.tail = format!("[log]\n{log}\n");
        let served = Serving::options(&options, args, &[("NO_COLOR", "1")]);
        served.wait_ready().await;
        served
    }

    /// The status of `GET /forecast` on `served` with the token and request id `id`.
    async fn get(&self, served: &Serving, id: &str) -> u16 {
        self.client
            .get(served.url("/forecast"))
            .bearer_auth(&self.token)
            .header("x-request-id", id)
            .sent()
            .await
            .status()
            .as_u16()
    }
}

#[tokio::test]
async fn sigterm_writes_out_every_queued_line_before_exiting() {
    let setup = Setup::new().await;
    let mut served = setup.serve(JSON_FILE, &[]).await;
    // Fewer lines than one write batch, sent faster than the once-a-second flush: they are
    // still queued when SIGTERM arrives.
    let ids: Vec<String> = (0..40).map(|i| format!("term-{i}")).collect();
    for id in &ids {
        assert_eq!(setup.get(&served, id).await, 200);
    }
    let file = served.file("access.log");
    served.signal("TERM");
    assert_eq!(served.exit_code().await, Some(0));
    assert_eq!(logged_ids(&file), ids);
}

#[tokio::test]
async fn sigusr1_reopens_the_log_file_after_logrotate_renamed_it() {
    let setup = Setup::new().await;
    let mut served = setup.serve(JSON_FILE, &[]).await;
    let (file, rotated) = (served.file("access.log"), served.file("access.log.1"));
    assert_eq!(setup.get(&served, "before").await, 200);
    until("the first line in the log", || {
        logged_ids(&file) == ["before"]
    })
    .await;
    std::fs::rename(&file, &rotated).unwrap();
    served.signal("USR1");
    until("a new log file after SIGUSR1", || file.exists()).await;
    assert_eq!(setup.get(&served, "after").await, 200);
    until("the next line in the new file", || {
        logged_ids(&file) == ["after"]
    })
    .await;
    assert_eq!(logged_ids(&rotated), ["before"]);
    served.signal("TERM");
    assert_eq!(served.exit_code().await, Some(0));
}

#[tokio::test]
async fn log_format_on_the_command_line_wins_over_the_config_file() {
    let setup = Setup::new().await;

    // `[log] format = "json"` alone: access lines and diagnostics on stderr are JSON.
    let mut json = setup.serve("format = \"json\"", &[]).await;
    assert_eq!(setup.get(&json, "as-json").await, 200);
    let line = json.next_stderr("the as-json line", |l| l.contains("as-json"));
    let line: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(line["target"], "gateway::access");
    assert_eq!(line["decision"], "allow");
    json.signal("TERM");
    let stopped = json.next_stderr("the stopped line", |l| l.contains("stopped"));
    assert!(
        serde_json::from_str::<serde_json::Value>(&stopped).is_ok(),
        "{stopped}"
    );
    assert_eq!(json.exit_code().await, Some(0));

    // `--log-format text` overrides it.
    let mut text = setup
        .serve("format = \"json\"", &["--log-format", "text"])
        .await;
    assert_eq!(setup.get(&text, "as-text").await, 200);
    let line = text.next_stderr("the as-text line", |l| l.contains("as-text"));
    assert!(
        line.contains("INFO gateway::access: request request_id=\"as-text\" method=GET"),
        "{line}"
    );
    assert!(line.contains(" decision=\"allow\" "), "{line}");
    text.signal("TERM");
    assert_eq!(text.exit_code().await, Some(0));
}
