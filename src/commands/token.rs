//! `gateway token`: the client-credentials grant of `crate::oauth`, its token on stdout, and a
//! refusal that names the gateway configuration's audience where the fix needs it; an opaque
//! access token (`auth::opaque`) is refused rather than printed.

use std::path::Path;
use std::process::ExitCode;

use crate::oauth::{CONFIGURED_AUDIENCE, Credentials, TokenError, fetch_token};

/// The audience(s) `config` (gateway.toml) accepts, as a message names them (`A or audience=B`);
/// `None` when there is no such file or it does not load (a client's machine has none).
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

/// Prints `error`, naming the audience of the gateway configuration `config` where a message
/// asks for the configured one (read only now: the happy path never touches it).
fn report(error: &TokenError, config: &Path) {
    let mut text = error.to_string();
    if text.contains(CONFIGURED_AUDIENCE)
        && let Some(audience) = configured_audience(config)
    {
        text = text.replace(CONFIGURED_AUDIENCE, &audience);
    }
    eprintln!("error: {text}");
}

/// `gateway token --credentials F [--organization ORG]`: prints the access token on stdout;
/// exit 0, or 1 with the reason on stderr. `organization` overrides the file's; `config` is
/// the gateway configuration whose audience a refusal names, when it exists.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::AUDIENCE_FIX;

    /// `report` fills in the configured audience by finding this text: every message that asks
    /// for it must spell it exactly so.
    #[test]
    fn the_messages_that_ask_for_the_configured_audience_spell_it_as_report_finds_it() {
        let opaque = TokenError::Opaque {
            url: "https://tenant.auth0.com/oauth/token".to_owned(),
            shape: "no JWT at all",
            audience: "https://clientco/api".to_owned(),
        };
        let text = opaque.to_string();
        assert!(
            text.contains(&format!("request it with audience={CONFIGURED_AUDIENCE} ")),
            "{text}"
        );
        assert!(
            AUDIENCE_FIX.contains(&format!("request it with audience={CONFIGURED_AUDIENCE} ")),
            "{AUDIENCE_FIX}"
        );
    }
}
