//! `gateway demo`, run as the built binary: the seven sample calls print the statuses a user
//! must see, the backend report is clean, the curl lines name the demo's own ports and
//! credentials file, and SIGTERM stops it with exit 0 and removes its temporary folder.
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
