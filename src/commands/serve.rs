//! `gateway serve`: load the configuration and run the gateway until SIGTERM/SIGINT.
//!
//! OWNER: lead (data plane).

use std::path::Path;
use std::process::ExitCode;

#[allow(unused_variables)]
pub async fn run(config: &Path) -> ExitCode {
    eprintln!("error: not implemented yet");
    ExitCode::FAILURE
}
