//! `gateway demo`: a development issuer, a demo backend and the gateway, then the sample calls.
//!
//! OWNER: demo helper.

use std::process::ExitCode;

#[allow(unused_variables)]
pub async fn run() -> ExitCode {
    eprintln!("error: not implemented yet");
    ExitCode::FAILURE
}
