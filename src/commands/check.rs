//! `gateway check`: validate config and policy, print every problem, exit 0/1.
//!
//! OWNER: policy/config helper.

use std::path::Path;
use std::process::ExitCode;

#[allow(unused_variables)]
pub async fn run(config: &Path) -> ExitCode {
    eprintln!("error: not implemented yet");
    ExitCode::FAILURE
}
