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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::assertion::Algorithm;
    use crate::assertion::keys::generate_pem;
    use crate::config::Config;

    /// A config whose assertion key is not a usable key and whose `leeway` is no duration (two
    /// problems, one found by `config`, one by `assertion`), from a folder holding both files.
    fn bad_key_and_bad_leeway() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.yaml"), "routes: []\n").unwrap();
        std::fs::write(
            dir.path().join("rsa.pem"),
            "-----BEGIN RSA PRIVATE KEY-----\nMAA=\n-----END RSA PRIVATE KEY-----\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("good.pem"),
            generate_pem(Algorithm::EdDsa).unwrap(),
        )
        .unwrap();
        let source = "[upstream]\nurl = \"http://127.0.0.1:8000\"\n[auth]\nissuer = \"https://t.auth0.com/\"\naudience = \"api\"\nleeway = 30\n[policy]\nfile = \"p.yaml\"\n[forward.assertion]\nkey_file = \"rsa.pem\"\nissuer = \"https://gw/\"\naudience = \"backend\"\n".to_owned();
        (dir, source)
    }

    #[test]
    fn the_deferred_checks_are_reported_with_configs_own_in_one_run_sorted_by_line() {
        let (dir, source) = bad_key_and_bad_leeway();
        let path = dir.path().join("gateway.toml");
        let problems = super::from_toml_str(&source, &path, &|_| None).unwrap_err();
        let lines: Vec<(usize, &str)> = problems
            .0
            .iter()
            .map(|d| (d.line, d.message.as_str()))
            .collect();
        assert_eq!(lines.len(), 2, "{problems}");
        assert_eq!(lines[0].0, 6, "{problems}");
        assert!(
            lines[0].1.starts_with("`auth.leeway`: a duration"),
            "{problems}"
        );
        assert_eq!(lines[1].0, 10, "{problems}");
        assert!(
            lines[1].1.starts_with("`forward.assertion.key_file`: ")
                && lines[1].1.contains("RSA PRIVATE KEY"),
            "{problems}"
        );
        // `config` alone sees only its own problem; with it fixed, it accepts what only
        // `assertion` can refuse.
        let own = Config::from_toml_str(&source, &path, &|_| None).unwrap_err();
        assert_eq!(own.0.len(), 1, "{own}");
        let fixed = source.replace("leeway = 30", "leeway = \"30s\"");
        assert!(Config::from_toml_str(&fixed, &path, &|_| None).is_ok());
        assert!(super::from_toml_str(&fixed, &path, &|_| None).is_err());
        let good = fixed.replace("rsa.pem", "good.pem");
        assert!(super::from_toml_str(&good, &path, &|_| None).is_ok());
    }
}
