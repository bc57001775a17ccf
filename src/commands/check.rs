//! `gateway check`: validate config and policy, print every problem, exit 0/1; with
//! `[auth.issuers.*]`, also list the issuers the deploy trusts, and with `[upstreams.*]` each
//! pool's endpoints and the routes that forward to it.
//!
//! Also home of `load_all`, which `explain`, `docs` and `test` share: they all need a valid
//! config and policy first, and report problems the same way `check` does.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::{Config, Diagnostics};
pub use crate::diagnostic::shown;
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
            list_issuers(&config);
            list_pools(&config, &policy);
            for issuer in &config.auth.issuers {
                let section = issuer_section(&config, issuer);
                if issuer.issuer.contains(PLACEHOLDER) {
                    eprintln!(
                        "warning: {section} issuer is still the placeholder `{}`; set your Auth0 \
                         tenant (e.g. \"https://saasco.eu.auth0.com/\", with the trailing slash) \
                         or GATEWAY_AUTH_ISSUER, or every token will be refused",
                        issuer.issuer
                    );
                } else if !offline {
                    match crate::auth::probe_jwks(issuer).await {
                        Ok(keys) => println!("ok: {keys} usable key(s) at {}", issuer.jwks_url),
                        Err(why) => eprintln!(
                            "warning: the signing keys of {section} cannot be fetched from this \
                             machine: {why}; the gateway answers 503 to its tokens until they \
                             load (pass --offline to skip this check)"
                        ),
                    }
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

/// With `[auth.issuers.*]`, the issuers as loaded (environment overrides applied), so an
/// operator sees which `iss` values, audiences and key URLs this deploy trusts. The one-issuer
/// `[auth]` form prints nothing more than before.
/// Where an issuer is configured: `[auth]` in the one-issuer form, else `[auth.issuers.NAME]`.
fn issuer_section(config: &Config, issuer: &crate::config::IssuerConfig) -> String {
    match config.auth.issuers.as_slice() {
        [only] if only.name == crate::constants::DEFAULT_ISSUER_NAME => "[auth]".to_owned(),
        _ => format!("[auth.issuers.{}]", issuer.name),
    }
}

fn list_issuers(config: &Config) {
    let issuers = &config.auth.issuers;
    let one_issuer_form =
        matches!(issuers.as_slice(), [only] if only.name == crate::constants::DEFAULT_ISSUER_NAME);
    if one_issuer_form {
        return;
    }
    println!(
        "{} issuers (a token's `iss` picks one; any other `iss` is refused):",
        issuers.len()
    );
    let width = issuers.iter().map(|i| i.name.len()).max().unwrap_or(0);
    for issuer in issuers {
        let gate = if issuer.ready_gate {
            ""
        } else {
            "; /readyz does not wait for it"
        };
        println!(
            "  {:<width$}  {}  audience {}  jwks {}{gate}",
            issuer.name,
            issuer.issuer,
            issuer.audiences.join(" | "),
            issuer.jwks_url
        );
    }
}

/// With named pools (`[upstreams.NAME]`), each pool with its endpoints and the routes that
/// forward to it, so an operator sees where every route goes. A gateway with `[upstream]`
/// alone prints nothing more than before.
fn list_pools(config: &Config, policy: &Policy) {
    if config.upstreams.is_empty() {
        return;
    }
    let pools: Vec<&crate::config::UpstreamConfig> = config.pools().collect();
    println!(
        "{} upstream pools (a route's `upstream:` picks one; without it, `{}`):",
        pools.len(),
        crate::constants::DEFAULT_POOL_NAME
    );
    let width = pools.iter().map(|p| p.name.len()).max().unwrap_or(0);
    for pool in pools {
        let mut routes: Vec<&str> = policy
            .routes
            .iter()
            .filter(|r| {
                r.upstream
                    .as_deref()
                    .unwrap_or(crate::constants::DEFAULT_POOL_NAME)
                    == pool.name
            })
            .map(|r| r.pattern.as_str())
            .collect();
        routes.sort_unstable();
        routes.dedup();
        let used = match routes.len() {
            0 => "no route forwards here".to_owned(),
            1 => format!("route {}", routes[0]),
            _ => format!("routes {}", routes.join(", ")),
        };
        println!("  {:<width$}  {}  {used}", pool.name, pool.describe());
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
    match crate::load::config(config_path) {
        Ok(config) => {
            let policy = Policy::load_for(&config.policy.file, &config.auth.issuer_names())?;
            let unknown = policy.unknown_pools(&config.pool_names(), config.upstream.is_some());
            if !unknown.0.is_empty() {
                return Err(unknown);
            }
            Ok((config, policy))
        }
        Err(mut problems) => {
            if let Some(policy_file) = policy_file_hint(config_path) {
                match Policy::load(&policy_file) {
                    Err(more) => problems.0.extend(more.0),
                    Ok(policy) => {
                        // The pools as written, so a route naming none is reported in this run.
                        if let Some((pools, has_default)) = pool_names_hint(config_path) {
                            let names: Vec<&str> = pools.iter().map(String::as_str).collect();
                            problems
                                .0
                                .extend(policy.unknown_pools(&names, has_default).0);
                        }
                    }
                }
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

/// The pool names (`default` for `[upstream]`) of a config that did not pass its checks, and
/// whether it has `[upstream]`.
fn pool_names_hint(config_path: &Path) -> Option<(Vec<String>, bool)> {
    let text = std::fs::read_to_string(config_path).ok()?;
    let table: toml::Table = toml::from_str(&text).ok()?;
    let has_default = table.contains_key("upstream");
    let mut names: Vec<String> = has_default
        .then(|| crate::constants::DEFAULT_POOL_NAME.to_owned())
        .into_iter()
        .collect();
    if let Some(pools) = table.get("upstreams").and_then(toml::Value::as_table) {
        names.extend(pools.keys().cloned());
    }
    Some((names, has_default))
}
