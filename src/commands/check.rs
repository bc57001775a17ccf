//! `gateway check`: validate config and policy, print every problem, exit 0/1.
//!
//! Also home of `load_all`, which `explain`, `docs` and `test` share: they all need a valid
//! config and policy first, and report problems the same way `check` does.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::{Config, Diagnostics};
use crate::policy::Policy;

/// The issuer the shipped gateway.toml names until the operator sets theirs.
const PLACEHOLDER: &str = "YOUR_TENANT";

/// Checks `config` and its policy. Unless `offline`, also fetches the JWKS once, so a key set
/// this machine cannot reach (DNS, refused, TLS) is a warning now rather than a 503 at start.
/// Warnings go to stderr and do not change the exit code.
pub async fn run(config: &Path, offline: bool) -> ExitCode {
    match load_all(config) {
        Ok((config, policy)) => {
            println!(
                "ok: {} and {} are valid ({} routes, {} scopes, {} restrictions)",
                shown(&config.source),
                shown(&policy.source),
                policy.routes.len(),
                policy.permissions.len(),
                policy.restrictions.len()
            );
            if let Some(redis) = &config.state.redis {
                // `RedisUrl` displays without its password.
                println!(
                    "ok: rate limits and DPoP replay checks are shared on Redis at {redis} (on_error = \"{}\", timeout {:?})",
                    config.state.on_error.name(),
                    config.state.timeout
                );
            }
            if config.auth.issuer.contains(PLACEHOLDER) {
                eprintln!(
                    "warning: [auth] issuer is still the placeholder `{}`; set your Auth0 tenant \
                     (e.g. \"https://saasco.eu.auth0.com/\", with the trailing slash) or \
                     GATEWAY_AUTH_ISSUER, or every token will be refused",
                    config.auth.issuer
                );
            } else if !offline {
                match crate::auth::probe_jwks(&config.auth).await {
                    Ok(keys) => println!("ok: {keys} usable key(s) at {}", config.auth.jwks_url),
                    Err(why) => eprintln!(
                        "warning: the signing keys cannot be fetched from this machine: {why}; \
                         the gateway answers 503 until they load (pass --offline to skip this \
                         check)"
                    ),
                }
            }
            ExitCode::SUCCESS
        }
        Err(problems) => {
            report(&problems);
            ExitCode::FAILURE
        }
    }
}

/// Prints every problem as `file:line:column: message` on stderr, then a count.
pub fn report(problems: &Diagnostics) {
    for problem in &problems.0 {
        let mut problem = problem.clone();
        problem.file = PathBuf::from(shown(&problem.file));
        eprintln!("{problem}");
    }
    let n = problems.0.len();
    eprintln!("{n} problem{} found", if n == 1 { "" } else { "s" });
}

/// Loads the configuration and its policy. When the configuration itself has problems, the
/// policy is still checked if its file can be found, so one run shows everything.
pub fn load_all(config_path: &Path) -> Result<(Config, Policy), Diagnostics> {
    match Config::load(config_path) {
        Ok(config) => {
            let policy = Policy::load(&config.policy.file)?;
            Ok((config, policy))
        }
        Err(mut problems) => {
            if let Some(policy_file) = policy_file_hint(config_path)
                && let Err(more) = Policy::load(&policy_file)
            {
                problems.0.extend(more.0);
            }
            Err(problems)
        }
    }
}

/// `[policy] file` read leniently from a config that did not pass its checks.
fn policy_file_hint(config_path: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(config_path).ok()?;
    let table: toml::Table = toml::from_str(&text).ok()?;
    let file = table.get("policy")?.get("file")?.as_str()?;
    let path = config_path.parent().unwrap_or(Path::new(".")).join(file);
    path.is_file().then_some(path)
}

/// A path as the user would like to read it: relative to the working directory when possible.
pub fn shown(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}
