//! `gateway demo`, run as the built binary: the seven sample calls (and the staging tenant's
//! token refused on a production route) print the statuses a user must see, the backend
//! report is clean, the curl lines name the demo's own ports and
//! credentials file, the httpyac environment for ClientCo's kit is written beside them (private,
//! naming this demo's gateway and issuer), and SIGTERM stops it with exit 0 and removes its
//! temporary folder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads stdout lines until `Serving until Ctrl-C.` (or fails after 60 s).
fn read_until_serving(child: &mut Child) -> (Vec<String>, mpsc::Receiver<String>) {
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    let mut lines = Vec::new();
    loop {
        let line = receiver
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the demo stopped printing:\n{}", lines.join("\n")));
        let done = line.starts_with("Serving until Ctrl-C");
        lines.push(line);
        if done {
            return (lines, receiver);
        }
    }
}

/// The status printed after `->` on the line of sample call `number`.
fn status_of(lines: &[String], number: usize) -> String {
    let prefix = format!("{number}. ");
    let line = lines
        .iter()
        .find(|l| l.trim_start().starts_with(&prefix))
        .unwrap_or_else(|| panic!("no line for call {number}:\n{}", lines.join("\n")));
    line.split("-> ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no status on {line:?}"))
        .to_owned()
}

#[test]
fn demo_prints_the_seven_outcomes_and_stops_cleanly_on_sigterm() {
    let child = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .arg("demo")
        .env("GATEWAY_LOG", "warn")
        .env_remove("GATEWAY_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let (lines, rest) = read_until_serving(&mut running.0);
    let text = lines.join("\n");

    let statuses: Vec<String> = (1..=7).map(|n| status_of(&lines, n)).collect();
    assert_eq!(
        statuses,
        ["200", "200", "200", "200", "403", "403", "401"],
        "{text}"
    );
    // The second tenant: a valid staging token, every ClientCo scope, refused on a
    // production route for its issuer.
    assert_eq!(status_of(&lines, 10), "403", "{text}");
    assert!(
        text.contains("access_denied: /forecast does not accept tokens from issuer staging"),
        "{text}"
    );
    assert!(text.contains("insufficient_scope"), "{text}");
    assert!(text.contains("restricted: "), "{text}");
    assert!(text.contains("invalid_token"), "{text}");
    // Call 3 sent `X-Auth-Client-Id: admin`; the backend must have seen the verified client.
    assert!(
        text.contains("the backend saw X-Auth-Client-Id: clientco"),
        "{text}"
    );
    assert!(!text.contains("X-Auth-Client-Id: admin"), "{text}");
    assert!(text.contains("never saw a restricted path"), "{text}");
    assert!(text.contains("no spoofed X-Auth-*"), "{text}");
    assert!(text.contains("7 of 7 outcomes as expected"), "{text}");
    // Tenant isolation: the own tenant's path is forwarded, another tenant's refused.
    assert_eq!(
        [status_of(&lines, 8), status_of(&lines, 9)],
        ["200", "403"],
        "{text}"
    );
    assert!(
        text.contains("access_denied: condition failed: claim `org_id` must equal `{org}`"),
        "{text}"
    );
    assert!(text.contains("2 of 2 tenant-isolation outcomes"), "{text}");
    assert!(text.contains("1 of 1 two-issuer outcomes"), "{text}");
    let received = text
        .lines()
        .find(|l| l.contains("The backend received"))
        .unwrap_or_else(|| panic!("no backend report:\n{text}"));
    assert!(
        received.contains("GET /tenants/org_clientco/forecast"),
        "{text}"
    );
    assert!(!received.contains("globex"), "never forwarded: {text}");
    // A DPoP-bound token works with its key and is refused when stolen (calls 11-14).
    let bound: Vec<String> = (11..=14).map(|n| status_of(&lines, n)).collect();
    assert_eq!(bound, ["200", "200", "401", "401"], "{text}");
    assert!(
        text.contains("4 of 4 bound-token outcomes as expected"),
        "{text}"
    );
    assert!(text.contains("DEVELOPMENT ONLY"), "{text}");

    // The printed credentials file works with `gateway token` while the demo runs.
    let credentials = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("export TOKEN=$("))
        .and_then(|l| l.split("--credentials ").nth(1))
        .map(|l| l.trim_end_matches(')').to_owned())
        .unwrap_or_else(|| panic!("no token line:\n{text}"));
    let token = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["token", "--credentials", &credentials])
        .output()
        .unwrap();
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    assert_eq!(
        String::from_utf8(token.stdout)
            .unwrap()
            .trim()
            .split('.')
            .count(),
        3
    );

    // The kit's demo environment: printed, private, and naming this demo's gateway and issuer.
    let env_file = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("httpyac environment: "))
        .unwrap_or_else(|| panic!("no httpyac environment line:\n{text}"));
    let env: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env_file).unwrap()).unwrap();
    let demo = &env["demo"];
    let credentials_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&credentials).unwrap()).unwrap();
    assert_eq!(demo["token_url"], credentials_json["token_url"], "{env}");
    assert_eq!(demo["client_secret"], credentials_json["client_secret"]);
    assert_eq!(
        status_line_of_unauthenticated_get(demo["api_url"].as_str().unwrap(), "/forecast"),
        "HTTP/1.1 401 Unauthorized",
        "the environment's api_url must be the demo's gateway: {env}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "it holds client secrets");
    }
    assert!(
        text.contains(&format!(
            "HTTPYAC_ENV={} npx --yes httpyac@",
            std::path::Path::new(env_file).parent().unwrap().display()
        )),
        "{text}"
    );

    // SIGTERM: stop, exit 0, clean up the folder holding the secrets.
    let pid = running.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = running.0.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    drop(rest);
    let folder = std::path::Path::new(&credentials).parent().unwrap();
    assert!(!folder.exists(), "{} was left behind", folder.display());
}

/// The status line `GET {base}{path}` gets without a token, over a plain socket.
fn status_line_of_unauthenticated_get(base: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let authority = base.strip_prefix("http://").expect("an http:// URL");
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.lines().next().unwrap_or_default().to_owned()
}
