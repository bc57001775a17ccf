//! `gateway test`: run policy test cases and print `N passed, N failed`.
//!
//! A cases file is a YAML list of `{name?, method, path, scopes?, issuer?, status}`. `scopes`
//! omitted means no token was sent (so non-public routes answer 401); `scopes: []` means a valid
//! token granting nothing. `issuer: NAME` says which configured issuer the token comes from
//! (for routes with `issuers:`); omitted, it is the only issuer when there is one, and no
//! issuer when there are several (so an `issuers:` route refuses it). Each case is judged by
//! `judge`, the data plane's decision order.

use std::path::Path;
use std::process::ExitCode;

use http::Method;
use serde::Deserialize;

use super::check::{load_all, report};
use super::judge::judge;
use crate::diagnostic::{Diagnostic, Diagnostics, did_you_mean};
use crate::identity::{Identity, Scopes};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: Option<String>,
    method: String,
    path: String,
    scopes: Option<Vec<String>>,
    issuer: Option<String>,
    status: u16,
}

pub async fn run(config: &Path, cases: &Path) -> ExitCode {
    let (config, policy) = match load_all(config) {
        Ok(loaded) => loaded,
        Err(problems) => {
            report(&problems);
            return ExitCode::FAILURE;
        }
    };
    let cases_list = match read_cases(cases) {
        Ok(list) => list,
        Err(problems) => {
            report(&problems);
            return ExitCode::FAILURE;
        }
    };
    let (mut passed, mut failed) = (0usize, 0usize);
    for case in &cases_list {
        let label = case
            .name
            .clone()
            .unwrap_or_else(|| format!("{} {}", case.method, case.path));
        let scopes: Option<Scopes> = case.scopes.as_ref().map(|s| s.iter().cloned().collect());
        let granted = match &scopes {
            None => "no token".to_owned(),
            Some(s) if s.is_empty() => "a token with no scopes".to_owned(),
            Some(s) => format!("scopes [{s}]"),
        };
        let Ok(method) = Method::from_bytes(case.method.as_bytes()) else {
            failed += 1;
            println!("FAIL {label}: `{}` is not an HTTP method", case.method);
            continue;
        };
        let issuers: Vec<&str> = config.auth.issuers.iter().map(|i| i.name.as_str()).collect();
        let issuer = match (&case.issuer, issuers.as_slice()) {
            (Some(name), _) if !issuers.contains(&name.as_str()) => {
                failed += 1;
                println!(
                    "FAIL {label}: `issuer: {name}` is not an issuer of this gateway{} (configured: {})",
                    did_you_mean(name, issuers.iter().copied()),
                    issuers.join(", ")
                );
                continue;
            }
            (Some(name), _) => name.as_str(),
            (None, [only]) => only,
            (None, _) => "",
        };
        let granted = match (&case.issuer, &scopes) {
            (Some(name), Some(_)) => format!("{granted} from issuer {name}"),
            _ => granted,
        };
        let identity = scopes.map(|scopes| {
            let mut identity = Identity::for_policy_test(scopes);
            identity.issuer_name = issuer.into();
            identity
        });
        let judgement = judge(&policy, &method, &case.path, identity.as_ref());
        if judgement.status() == case.status {
            passed += 1;
        } else {
            failed += 1;
            println!(
                "FAIL {label}: {} {} with {granted}: expected {}, got {} ({})",
                case.method,
                case.path,
                case.status,
                judgement.status(),
                judgement.reason()
            );
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn read_cases(path: &Path) -> Result<Vec<Case>, Diagnostics> {
    let problem = |line, column, message: String| {
        Diagnostics(vec![Diagnostic {
            file: path.to_path_buf(),
            line,
            column,
            message,
        }])
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| problem(0, 0, format!("cannot read the test cases: {e}")))?;
    serde_norway::from_str(&text).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        problem(
            line,
            column,
            format!("{e}; each case is `{{name?, method, path, scopes?, issuer?, status}}`"),
        )
    })
}
