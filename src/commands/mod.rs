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
pub mod token;

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
