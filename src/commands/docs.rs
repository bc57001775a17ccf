//! `gateway docs`: render docs/trust_boundaries.md from the policy; `--check` fails on drift.
//!
//! OWNER: policy/config helper.

use std::path::Path;
use std::process::ExitCode;

#[allow(unused_variables)]
pub async fn run(config: &Path, check: bool, output: Option<&Path>) -> ExitCode {
    eprintln!("error: not implemented yet");
    ExitCode::FAILURE
}
