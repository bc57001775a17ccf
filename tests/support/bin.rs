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
    /// Fails the test (showing the whole run) unless the binary exited with `code`.
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(self.code, code, "{self:?}");
        self
    }

    /// Fails the test (showing the whole run) unless stdout contains `text`.
    pub fn expect_stdout(&self, text: &str) -> &Run {
        assert!(
            self.stdout.contains(text),
            "no {text:?} on stdout: {self:?}"
        );
        self
    }

    /// Fails the test (showing the whole run) unless stderr contains `text`.
    pub fn expect_stderr(&self, text: &str) -> &Run {
        assert!(
            self.stderr.contains(text),
            "no {text:?} on stderr: {self:?}"
        );
        self
    }

    /// Whether stdout or stderr contains `text`.
    pub fn says(&self, text: &str) -> bool {
        self.stdout.contains(text) || self.stderr.contains(text)
    }

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

    /// `edit` for each `(file, from, to)` in turn.
    pub fn edits(&self, edits: &[(&str, &str, &str)]) -> &Project {
        for (relative, from, to) in edits {
            self.edit(relative, from, to);
        }
        self
    }

    /// Runs `gateway <args>` in the project folder with a clean GATEWAY_* environment.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_env(args, &[])
    }

    pub fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        run_in(self.dir.path(), args, env)
    }

    /// `gateway <command> --config gateway.toml <args>` in the project folder.
    pub fn run_config(&self, command: &str, args: &[&str]) -> Run {
        self.run(&with_config(command, args))
    }

    /// `run_config` off the async runtime.
    pub async fn run_config_async(&self, command: &str, args: &[&str]) -> Run {
        self.run_async(&with_config(command, args)).await
    }

    /// `run` off the async runtime, for tests whose issuer or server that same runtime serves.
    pub async fn run_async(&self, args: &[&str]) -> Run {
        run_async(self.dir.path(), args, &[]).await
    }
}

/// `gateway <command> --config gateway.toml <args>` in the repository, on the shipped files.
pub fn run_repo(command: &str, args: &[&str]) -> Run {
    run_repo_env(command, args, &[])
}

/// `run_repo` with `env` added.
pub fn run_repo_env(command: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    run_in(&repo_root(), &with_config(command, args), env)
}

/// `[command, "--config", "gateway.toml", args...]`.
fn with_config<'a>(command: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec![command, "--config", "gateway.toml"];
    all.extend_from_slice(args);
    all
}

/// The text of `tests/fixtures/<relative>`.
pub fn fixture_text(relative: &str) -> String {
    let path = repo_root().join("tests/fixtures").join(relative);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the fixture {}: {e}", path.display()))
}

/// `run_in` on a blocking thread, so the runtime keeps serving what the binary talks to.
pub async fn run_async(folder: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let folder = folder.to_owned();
    let owned = |pairs: &[&str]| pairs.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
    let args = owned(args);
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run_in(&folder, &args, &env)
    })
    .await
    .expect("the gateway binary's thread panicked")
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

/// A field of a diagnostic line, JSON (`"name": "value"`) or text (`name=value`).
pub fn field(line: &str, name: &str) -> String {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(line) {
        return json[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in: {line}"))
            .to_owned();
    }
    let prefix = format!("{name}=");
    line.split(' ')
        .find_map(|part| part.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {name} in: {line}"))
        .to_owned()
}

/// The built binary running as a server (`gateway serve`, `gateway demo`, ...) with its stderr
/// collected line by line; killed when dropped. `Serving::start` and `Serving::options` write
/// the files themselves; `Serving::spawn` runs on a folder the test laid out.
pub struct Serving {
    pub child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    /// The data-plane address, once the "gateway listening" line was read.
    pub data: std::net::SocketAddr,
    /// The admin address, once the "gateway listening" line was read.
    pub admin: std::net::SocketAddr,
    /// The folder the binary runs in.
    pub folder: PathBuf,
    /// The temporary folder, when the `Serving` owns it.
    pub dir: Option<tempfile::TempDir>,
}

impl Serving {
    /// Writes `gateway.toml` (data and admin on 127.0.0.1:0, `[upstream] url`, `[auth]` for
    /// `issuer` with `jwks_url`, then `extra` verbatim) and `policy.yaml`, starts
    /// `gateway serve --log-format json` and waits for its "gateway listening" line.
    pub fn start(
        issuer: &str,
        jwks_url: &str,
        upstream: &str,
        policy: &str,
        extra: &str,
    ) -> Serving {
        let mut options = super::gateway::Options::new(issuer, jwks_url, upstream);
        options.policy = policy.to_owned();
        options.upstream_extra = "request_timeout = \"5s\"\n".to_owned();
        options.tail = extra.to_owned();
        Serving::options(&options, &["--log-format", "json"], &[])
    }

    /// Writes `options`' gateway.toml and policy.yaml (as the in-process `TestGateway` would)
    /// into a new temporary folder and runs `gateway serve <args> --config gateway.toml` there
    /// with `env`, until its "gateway listening" line.
    pub fn options(
        options: &super::gateway::Options,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Serving {
        let dir = tempfile::tempdir().expect("temp dir");
        options.write_to(dir.path());
        let mut all = vec!["serve"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--config", "gateway.toml"]);
        let mut serving = Serving::spawn(dir.path(), &all, env);
        serving.dir = Some(dir);
        serving.listening();
        serving
    }

    /// `gateway serve --log-format json --config gateway.toml` in `project`'s folder with
    /// `env`, until its "gateway listening" line.
    pub fn project(project: &Project, env: &[(&str, &str)]) -> Serving {
        let args = ["serve", "--log-format", "json", "--config", "gateway.toml"];
        let mut serving = Serving::spawn(project.dir.path(), &args, env);
        serving.listening();
        serving
    }

    /// Runs `gateway <args>` in `folder` with a clean GATEWAY_* environment (and no NO_COLOR)
    /// plus `env`, stdout discarded, stderr collected; returns at once (see `listening`).
    pub fn spawn(folder: &Path, args: &[&str], env: &[(&str, &str)]) -> Serving {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gateway"));
        command
            .args(args)
            .current_dir(folder)
            .env_remove("NO_COLOR")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        for (key, _) in std::env::vars() {
            if key.starts_with("GATEWAY_") {
                command.env_remove(key);
            }
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start the gateway binary");
        let stderr = child.stderr.take().expect("piped stderr");
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        Serving {
            child,
            lines,
            data: "0.0.0.0:0".parse().expect("an address"),
            admin: "0.0.0.0:0".parse().expect("an address"),
            folder: folder.to_owned(),
            dir: None,
        }
    }

    /// Reads stderr up to the "gateway listening" line (JSON or text) and takes the data and
    /// admin addresses from it.
    pub fn listening(&mut self) -> String {
        let line = self.next_stderr("the gateway to listen", |l| l.contains("gateway listening"));
        let address = |key: &str| {
            field(&line, key)
                .parse()
                .unwrap_or_else(|_| panic!("no {key} address in {line}"))
        };
        self.data = address("data");
        self.admin = address("admin");
        line
    }

    /// The next stderr line matching `pick`, within `wait::DEADLINE`; fails the test naming
    /// `what`. Lines before it are consumed.
    pub fn next_stderr(&self, what: &str, pick: impl Fn(&str) -> bool) -> String {
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

    /// The stderr lines received so far and not consumed yet, without waiting for more.
    pub fn lines_now(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    /// `next_line` that waits by polling, so the test's own servers (replicas on the test's
    /// runtime) keep answering meanwhile; lines before the one picked are consumed.
    pub async fn next_line_polled(
        &self,
        what: &str,
        pick: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        super::wait::poll(
            &format!("a log line: {what}"),
            super::wait::DEADLINE,
            || {
                let found = self.lines.try_iter().find_map(|line| {
                    let value =
                        serde_json::from_str(&line).unwrap_or(serde_json::Value::String(line));
                    pick(&value).then_some(value)
                });
                std::future::ready(found)
            },
        )
        .await
    }

    /// The next JSON log line matching `pick` (a line that is not JSON, such as a panic
    /// message, is seen as a JSON string), within `wait::DEADLINE`; fails the test naming `what`.
    pub fn next_line(
        &self,
        what: &str,
        pick: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = std::time::Instant::now() + super::wait::DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let value =
                        serde_json::from_str(&line).unwrap_or(serde_json::Value::String(line));
                    if pick(&value) {
                        return value;
                    }
                }
                Err(_) => panic!("timed out waiting for a log line: {what}"),
            }
        }
    }

    /// The next JSON log line whose `request_id` is `id`.
    pub fn request_line(&self, id: &str) -> serde_json::Value {
        self.next_line(&format!("the access line of {id}"), |l| {
            l["request_id"] == id
        })
    }

    /// `http://<data address><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.data)
    }

    /// `GET path` on the data port with `token` as Bearer and `request_id` as X-Request-Id.
    pub async fn get_as(&self, path: &str, token: &str, request_id: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(self.url(path))
            .bearer_auth(token)
            .header("x-request-id", request_id)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path} ({request_id}) was not answered: {e}"))
    }

    /// `http://<admin address><path>`.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// A path inside the folder the binary runs in.
    pub fn file(&self, name: &str) -> PathBuf {
        self.folder.join(name)
    }

    /// Sends the signal `name` (`HUP`, `TERM`, `USR1`, ...) with `kill`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits (within `wait::DEADLINE`) for the process to exit and returns its exit code.
    pub async fn exit_code(&mut self) -> Option<i32> {
        super::wait::poll("the gateway to exit", super::wait::DEADLINE, || {
            let status = self.child.try_wait().expect("wait for the gateway");
            std::future::ready(status.map(|s| s.code()))
        })
        .await
    }

    /// Polls the admin `/readyz` until 200.
    pub async fn wait_ready(&self) {
        super::gateway::wait_ready(&self.admin_url("/readyz")).await
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
