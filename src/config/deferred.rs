//! The checks reading gateway.toml leaves to the modules above `config`, and one read's outcome.
//!
//! `config` checks what the file declares (syntax, ranges, that files exist); a few values can
//! only be judged by the module that builds the running part from them: an assertion key file is
//! parsed by `assertion`, a Redis URL is read once more by the Redis client in `state`. The
//! checker records those values with the [`Spot`] they were written at ([`Deferred`]); the
//! loader a level up (`load`) runs those modules' checks and hands their problems to
//! [`Loaded::finish`], which reports them with `config`'s own, sorted by line, in one run.
//! So `gateway check`, start-up and a reload still name every problem at once, at its line,
//! while `config` imports none of the modules built on it.

use std::fmt;
use std::path::{Path, PathBuf};

use super::{Config, RedisUrl};
use crate::diagnostic::{Diagnostic, Diagnostics};

/// Where a value was written: a `file:line:column` and its key, or the environment variable
/// that overrode the key. A problem found later is reported there, worded as the checker words
/// its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spot {
    pub file: PathBuf,
    /// 1-based; 0 for an environment variable.
    pub line: usize,
    pub column: usize,
    /// `forward.assertion.key_file`.
    pub key: String,
    /// `GATEWAY_FORWARD_ASSERTION_KEY_FILE`, when the value came from there.
    pub env: Option<String>,
}

impl Spot {
    /// `message` about the value written here, as `gateway check` prints it.
    pub fn problem(&self, message: impl fmt::Display) -> Diagnostic {
        let key = &self.key;
        let message = match &self.env {
            Some(var) => format!("environment variable {var} (overrides `{key}`): {message}"),
            None => format!("`{key}`: {message}"),
        };
        Diagnostic {
            file: self.file.clone(),
            line: self.line,
            column: self.column,
            message,
        }
    }
}

/// A value `config` accepted, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared<T> {
    pub value: T,
    pub at: Spot,
}

/// The values whose last check belongs to a module above `config`.
#[derive(Debug, Clone, Default)]
pub struct Deferred {
    /// `[forward.assertion] key_file`, an existing file: `assertion` parses it.
    pub assertion_key: Option<Declared<PathBuf>>,
    /// `[forward.assertion] previous_key_file`, an existing file: `assertion` parses it and
    /// compares it with `key_file`.
    pub previous_assertion_key: Option<Declared<PathBuf>>,
    /// `[state] redis`, well-formed: `state` asks the Redis client whether it reads it too.
    pub redis: Option<Declared<RedisUrl>>,
}

/// One read of gateway.toml: the config when `config`'s own checks passed, their problems, and
/// what is left to check above.
#[derive(Debug)]
pub struct Loaded {
    pub(super) config: Option<Config>,
    /// The checker's problems, in the order found.
    pub(super) problems: Vec<Diagnostic>,
    /// `GATEWAY_*` variables that override no key, listed after the file's problems.
    pub(super) unknown_overrides: Vec<Diagnostic>,
    pub deferred: Deferred,
}

impl Loaded {
    /// Reads and checks `path` as `Config::load` does, keeping the deferred checks.
    pub fn read(path: &Path) -> Loaded {
        super::read(path)
    }

    /// Checks configuration text as if read from `path`, as `Config::from_toml_str` does,
    /// keeping the deferred checks.
    pub fn from_toml_str(
        source: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Loaded {
        super::check::load(source, path, env)
    }

    /// The outcome, once the deferred checks found `later`: every problem sorted by line (the
    /// unknown overrides last), or the config when there is none.
    pub fn finish(self, later: Vec<Diagnostic>) -> Result<Config, Diagnostics> {
        let mut problems = self.problems;
        problems.extend(later);
        problems.sort_by_key(|d| (d.line, d.column));
        problems.extend(self.unknown_overrides);
        match self.config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(Diagnostics(problems)),
        }
    }
}
