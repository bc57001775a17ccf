//! Loading gateway.toml all the way: `config` checks what the file declares, then the checks it
//! leaves to the modules built on it run here, in the same pass (`assertion` parses the key
//! files, `state` has the Redis client read the URL), and every problem is reported at once,
//! sorted by line, each at the key that caused it. `gateway check`, `serve`, a reload and every
//! command that reads the config load it through here; `config::Config::load` alone skips the
//! deferred checks (a running part built from a bad value still fails when it is built).

use std::path::Path;

use crate::config::{Config, Deferred, Diagnostics, Loaded};
use crate::diagnostic::Diagnostic;

/// Reads and checks `path` (overrides from the process environment), every check included.
pub fn config(path: &Path) -> Result<Config, Diagnostics> {
    finish(Loaded::read(path))
}

/// Checks configuration text as if read from `path` (`env` stands in for the environment),
/// every check included.
pub fn from_toml_str(
    source: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, Diagnostics> {
    finish(Loaded::from_toml_str(source, path, env))
}

fn finish(loaded: Loaded) -> Result<Config, Diagnostics> {
    let later = deferred_checks(&loaded.deferred);
    loaded.finish(later)
}

/// The problems the modules above `config` find in what it deferred to them.
fn deferred_checks(deferred: &Deferred) -> Vec<Diagnostic> {
    let mut problems = crate::assertion::check_key_files(
        deferred.assertion_key.as_ref(),
        deferred.previous_assertion_key.as_ref(),
    );
    problems.extend(deferred.redis.as_ref().and_then(crate::state::check_url));
    problems
}
