//! The subcommands other than `serve`: each a function `main.rs` calls, returning the exit code.

pub mod assertion_jwks;
pub mod cases;
pub mod check;
pub mod demo;
pub mod docs;
pub mod explain;
mod explain_binding;
pub mod judge;
pub mod serve;
pub mod token;
