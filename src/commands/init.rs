//! `gateway init --openapi FILE|URL`: prints a starting policy generated from the backend's
//! OpenAPI document (`tooling::init`), to be reviewed and saved, e.g.
//! `gateway init --openapi openapi.json > policies/new.yaml`. Exit 1 when the document cannot
//! be read; nothing is printed on stdout then.

use std::process::ExitCode;

use crate::tooling::{init, openapi};

pub async fn run(document: &str) -> ExitCode {
    match openapi::load(document).await {
        Ok(api) => {
            for skipped in &api.skipped {
                eprintln!("warning: {document}: skipped {skipped}");
            }
            print!("{}", init::init(&api, document));
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("error: {why}");
            ExitCode::FAILURE
        }
    }
}
