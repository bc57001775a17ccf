//! The subcommands other than `serve`: each a function `main.rs` calls, returning the exit code.

pub mod assertion_jwks;
pub mod cases;
pub mod check;
pub mod coverage;
pub mod demo;
pub mod diff;
pub mod docs;
pub mod init;
pub mod serve;

/// `judge` is `crate::explain`'s; `gateway test` (`cases`) decides its cases with it too.
pub use crate::explain::judge;

/// How the policy tools (`diff`, `coverage`) print their answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Lines for a person (or a pull-request comment).
    #[default]
    Human,
    /// One JSON document on stdout, for CI bots.
    Json,
}

/// `gateway token`: the client-credentials grant of `crate::oauth`, its token on stdout.
pub mod token {
    use std::path::Path;
    use std::process::ExitCode;

    use crate::oauth::{CONFIGURED_AUDIENCE, Credentials, TokenError, fetch_token};

    /// The audience(s) `config` (gateway.toml) accepts, as a message names them
    /// (`A or audience=B`); `None` when there is no such file or it does not load (a client's
    /// machine has none).
    fn configured_audience(config: &Path) -> Option<String> {
        let config = crate::config::Config::load(config).ok()?;
        let mut audiences: Vec<&str> = Vec::new();
        for audience in config.auth.issuers.iter().flat_map(|i| &i.audiences) {
            if !audiences.contains(&audience.as_str()) {
                audiences.push(audience);
            }
        }
        (!audiences.is_empty()).then(|| audiences.join(" or audience="))
    }

    /// Prints `error`, naming the audience of the gateway configuration `config` where a
    /// message asks for the configured one (read only now: the happy path never touches it).
    fn report(error: &TokenError, config: &Path) {
        let mut text = error.to_string();
        if text.contains(CONFIGURED_AUDIENCE)
            && let Some(audience) = configured_audience(config)
        {
            text = text.replace(CONFIGURED_AUDIENCE, &audience);
        }
        eprintln!("error: {text}");
    }

    /// `gateway token --credentials F [--organization ORG]`: prints the access token on
    /// stdout; exit 0, or 1 with the reason on stderr. `organization` overrides the file's;
    /// `config` is the gateway configuration whose audience a refusal names, when it exists.
    pub async fn run(credentials: &Path, organization: Option<&str>, config: &Path) -> ExitCode {
        let mut loaded = match Credentials::load(credentials) {
            Ok(loaded) => loaded,
            Err(error) => {
                report(&error, config);
                return ExitCode::FAILURE;
            }
        };
        if let Some(organization) = organization {
            loaded.organization = Some(organization.to_owned());
        }
        match fetch_token(&loaded, credentials).await {
            // Auth0's opaque token would only move the refusal to the first call: say it now.
            Ok(token) if let Some(opaque) = crate::auth::opaque(&token.access_token) => {
                let error = TokenError::Opaque {
                    url: loaded
                        .token_endpoint(credentials)
                        .map_or_else(|_| "(the token endpoint)".to_owned(), |u| u.to_string()),
                    shape: opaque.shape,
                    audience: loaded.audience.clone(),
                };
                report(&error, config);
                ExitCode::FAILURE
            }
            Ok(token) => {
                println!("{}", token.access_token);
                ExitCode::SUCCESS
            }
            Err(error) => {
                report(&error, config);
                ExitCode::FAILURE
            }
        }
    }
}

/// `gateway explain`: what `crate::explain` says, printed. Exit 0 when an explanation was
/// printed, whatever the decision; 1 when the config, policy or arguments are unusable.
pub mod explain {
    use std::path::Path;
    use std::process::ExitCode;

    use http::Method;

    use super::check::{load_all, report};
    pub use crate::explain::Proofs;
    use crate::explain::explain;

    pub async fn run(
        config: &Path,
        method: &str,
        path: &str,
        token: Option<&str>,
        proofs: Proofs<'_>,
    ) -> ExitCode {
        let Ok(method) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
            eprintln!("error: `{method}` is not an HTTP method; write e.g. GET or POST");
            return ExitCode::FAILURE;
        };
        let (config, policy) = match load_all(config) {
            Ok(loaded) => loaded,
            Err(problems) => {
                report(&problems);
                return ExitCode::FAILURE;
            }
        };
        for line in explain(&config, &policy, &method, path, token, proofs)
            .await
            .lines
        {
            println!("{line}");
        }
        ExitCode::SUCCESS
    }
}
