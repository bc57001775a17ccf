//! `gateway assertion-jwks`: print the public keys of `[forward.assertion]` as the JWKS the
//! admin listener serves at `/.well-known/jwks.json`, for backends that load keys from a file
//! (the FastAPI package's `jwks_file`). Reads the same key files the gateway signs with; prints
//! only public keys.

use std::path::Path;
use std::process::ExitCode;

use super::check::{report, shown};
use crate::assertion::Signer;

pub async fn run(config: &Path) -> ExitCode {
    let config = match crate::load::config(config) {
        Ok(config) => config,
        Err(problems) => {
            report(&problems);
            return ExitCode::FAILURE;
        }
    };
    let Some(assertion) = &config.forward.assertion else {
        eprintln!(
            "error: {} has no [forward.assertion] section, so the gateway signs nothing; add one \
             (docs/configuration.md) or set GATEWAY_FORWARD_ASSERTION_KEY_FILE and its siblings",
            shown(&config.source)
        );
        return ExitCode::FAILURE;
    };
    match Signer::load(assertion) {
        Ok(signer) => {
            println!("{}", signer.jwks());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: [forward.assertion]: {error}");
            ExitCode::FAILURE
        }
    }
}
