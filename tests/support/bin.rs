//! Runs the built `gateway` binary on real files in a temporary folder.
//!
//! `Project::clientco()` lays out gateway.toml, policies/clientco.yaml and the test cases as
//! the repository ships them; tests then break one file and assert what the user sees.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (where the shipped gateway.toml and policies live).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A temporary folder holding a gateway configuration and its policy.
pub struct Project {
    pub dir: tempfile::TempDir,
}

/// What one run of the binary printed and returned.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Project {
    /// An empty folder.
    pub fn empty() -> Project {
        Project {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// The shipped gateway.toml, ClientCo policy and test cases, copied.
    pub fn clientco() -> Project {
        let project = Project::empty();
        for file in [
            "gateway.toml",
            "policies/clientco.yaml",
            "policies/clientco.tests.yaml",
        ] {
            let text = std::fs::read_to_string(repo_root().join(file)).expect("shipped file");
            project.write(file, &text);
        }
        project
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn write(&self, relative: &str, text: &str) -> &Project {
        let path = self.path(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create folder");
        }
        std::fs::write(path, text).expect("write file");
        self
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path(relative)).expect("read file")
    }

    /// Replaces `from` with `to` in a file, failing the test if `from` is not there.
    pub fn edit(&self, relative: &str, from: &str, to: &str) -> &Project {
        let text = self.read(relative);
        assert!(text.contains(from), "{relative} does not contain {from:?}");
        self.write(relative, &text.replacen(from, to, 1))
    }

    /// Runs `gateway <args>` in the project folder with a clean GATEWAY_* environment.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_env(args, &[])
    }

    pub fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        run_in(self.dir.path(), args, env)
    }
}

/// Runs the binary in `folder`, removing inherited GATEWAY_* variables so the host cannot
/// change the outcome.
pub fn run_in(folder: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gateway"));
    command.args(args).current_dir(folder);
    for (key, _) in std::env::vars() {
        if key.starts_with("GATEWAY_") {
            command.env_remove(key);
        }
    }
    command.env("GATEWAY_LOG", "warn");
    for (key, value) in env {
        command.env(key, value);
    }
    Run::from(command.output().expect("run the gateway binary"))
}

/// `gateway serve --log-format json` running on files in a temporary folder, with its log lines
/// collected; killed when dropped.
pub struct Serving {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<serde_json::Value>,
    pub data: std::net::SocketAddr,
    pub admin: std::net::SocketAddr,
    pub dir: tempfile::TempDir,
}

impl Serving {
    /// Writes `gateway.toml` (data and admin on 127.0.0.1:0, `[upstream] url`, `[auth]` for
    /// `issuer` with `jwks_url`, then `extra` verbatim) and `policy.yaml`, starts the binary and
    /// waits for its "gateway listening" line.
    pub fn start(
        issuer: &str,
        jwks_url: &str,
        upstream: &str,
        policy: &str,
        extra: &str,
    ) -> Serving {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("policy.yaml"), policy).expect("write policy");
        let toml = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
             [upstream]\nurl = \"{upstream}\"\nrequest_timeout = \"5s\"\n\
             [auth]\nissuer = \"{issuer}\"\naudience = \"https://clientco/api\"\n\
             jwks_url = \"{jwks_url}\"\n[policy]\nfile = \"policy.yaml\"\n{extra}\n"
        );
        std::fs::write(dir.path().join("gateway.toml"), toml).expect("write config");
        let mut command = Command::new(env!("CARGO_BIN_EXE_gateway"));
        command
            .args(["serve", "--log-format", "json", "--config"])
            .arg(dir.path().join("gateway.toml"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        for (key, _) in std::env::vars() {
            if key.starts_with("GATEWAY_") {
                command.env_remove(key);
            }
        }
        let mut child = command.spawn().expect("start the gateway binary");
        let stderr = child.stderr.take().expect("piped stderr");
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                // Anything that is not a JSON line (a panic message) is kept as a string.
                let value = serde_json::from_str(&line).unwrap_or(serde_json::Value::String(line));
                if send.send(value).is_err() {
                    return;
                }
            }
        });
        let mut serving = Serving {
            child,
            lines,
            data: "0.0.0.0:0".parse().expect("an address"),
            admin: "0.0.0.0:0".parse().expect("an address"),
            dir,
        };
        let listening = serving.next_line("the gateway to listen", |l| {
            l["message"] == "gateway listening"
        });
        let address = |key: &str| {
            listening[key]
                .as_str()
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("no {key} address in {listening}"))
        };
        serving.data = address("data");
        serving.admin = address("admin");
        serving
    }

    /// The next log line matching `pick`, within `wait::DEADLINE`; fails the test naming `what`.
    pub fn next_line(
        &self,
        what: &str,
        pick: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = std::time::Instant::now() + super::wait::DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if pick(&line) => return line,
                Ok(_) => {}
                Err(_) => panic!("timed out waiting for a log line: {what}"),
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.data)
    }

    /// Polls the admin `/readyz` until 200.
    pub async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        let readyz = format!("http://{}/readyz", self.admin);
        super::wait::poll(
            "the gateway to become ready",
            super::wait::DEADLINE,
            || async {
                let response = client.get(&readyz).send().await.ok()?;
                (response.status() == 200).then_some(())
            },
        )
        .await
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
