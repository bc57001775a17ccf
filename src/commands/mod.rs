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
pub mod token;

/// How the policy tools (`diff`, `coverage`) print their answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Lines for a person (or a pull-request comment).
    #[default]
    Human,
    /// One JSON document on stdout, for CI bots.
    Json,
}
