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
