//! `gateway explain`: which route matches, what it needs, and with a token the decision and why.
//!
//! OWNER: policy/config helper (the --token part calls into auth).

use std::path::Path;
use std::process::ExitCode;

#[allow(unused_variables)]
pub async fn run(config: &Path, method: &str, path: &str, token: Option<&str>) -> ExitCode {
    eprintln!("error: not implemented yet");
    ExitCode::FAILURE
}
