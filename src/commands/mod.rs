//! The subcommands other than `serve`: each a function `main.rs` calls, returning the exit code.

pub mod assertion_jwks;
pub mod cases;
pub mod check;
pub mod coverage;
pub mod demo;
pub mod diff;
pub mod docs;
pub mod explain;
mod explain_binding;
pub mod init;
pub mod judge;
pub mod serve;

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

    use crate::oauth::{Credentials, fetch_token};

    /// `gateway token --credentials F`: prints the access token on stdout; exit 0, or 1 with the
    /// reason on stderr.
    pub async fn run(credentials: &Path) -> ExitCode {
        let loaded = match Credentials::load(credentials) {
            Ok(loaded) => loaded,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        };
        match fetch_token(&loaded, credentials).await {
            Ok(token) => {
                println!("{}", token.access_token);
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        }
    }
}
