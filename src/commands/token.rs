//! `gateway token`: the OAuth 2.0 client-credentials grant; prints the access token.
//!
//! OWNER: demo helper.

use std::path::Path;
use std::process::ExitCode;

#[allow(unused_variables)]
pub async fn run(credentials: &Path) -> ExitCode {
    eprintln!("error: not implemented yet");
    ExitCode::FAILURE
}
