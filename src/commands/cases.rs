//! `gateway test`: run policy test cases and print `N passed, N failed`.
//!
//! A cases file is a YAML list of `{name?, method, path, scopes?, claims?, issuer?, binding?,
//! status}`. `scopes`, `claims` and `binding` all omitted means no token was sent (so non-public
//! routes answer 401); `scopes: []` means a valid token granting nothing. `claims: {name: value,
//! ...}` are the token's other claims, read by the routes' `when:` conditions (claims without
//! scopes: a valid token with those claims and no scope). `issuer: NAME` says which configured
//! issuer the token comes from (for routes with `issuers:`); omitted, it is the only issuer when
//! there is one, and no issuer when there are several (so an `issuers:` route refuses it).
//! `binding: dpop | mtls` means the token is bound that way and presented with its proof or
//! certificate (a case with `binding` but no `scopes` has a token with no scope). Each case is
//! judged by `judge_bound`, the data plane's decision order.

use std::path::Path;
use std::process::ExitCode;

use http::Method;
use serde::Deserialize;

use super::check::{load_all, report};
use super::judge::judge_bound;
use crate::diagnostic::{Diagnostic, Diagnostics, did_you_mean};
use crate::identity::{Identity, Scopes};
use crate::policy::{Step, locate, yaml_syntax_error};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: Option<String>,
    method: String,
    path: String,
    scopes: Option<Vec<String>>,
    claims: Option<serde_json::Map<String, serde_json::Value>>,
    issuer: Option<String>,
    binding: Option<String>,
    status: u16,
}

/// Claims a case cannot set through `claims:`: the scopes have their own key.
const SCOPE_CLAIMS: &[&str] = &["scope", "permissions"];

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
        let proved = match case.binding.as_deref() {
            None => (false, false),
            Some("dpop") => (true, false),
            Some("mtls") => (false, true),
            Some(other) => {
                failed += 1;
                println!(
                    "FAIL {label}: binding `{other}` is not `dpop` or `mtls`{}",
                    did_you_mean(other, ["dpop", "mtls"])
                );
                continue;
            }
        };
        // Claims or a binding without scopes: a valid token granting nothing.
        let token_sent = case.claims.is_some() || case.binding.is_some();
        let scopes: Option<Scopes> = match (&case.scopes, token_sent) {
            (Some(s), _) => Some(s.iter().cloned().collect()),
            (None, true) => Some(Scopes::new()),
            (None, false) => None,
        };
        let mut granted = match &scopes {
            None => "no token".to_owned(),
            Some(s) if s.is_empty() => "a token with no scopes".to_owned(),
            Some(s) => format!("scopes [{s}]"),
        };
        if let Some(claims) = &case.claims {
            granted.push_str(&format!(
                " and claims {}",
                serde_json::Value::from(claims.clone())
            ));
        }
        let Ok(method) = Method::from_bytes(case.method.as_bytes()) else {
            failed += 1;
            println!("FAIL {label}: `{}` is not an HTTP method", case.method);
            continue;
        };
        let issuers = config.auth.issuer_names();
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
            match &case.claims {
                Some(claims) => identity.with_claims(claims),
                None => identity,
            }
        });
        let judgement = judge_bound(
            &policy,
            &method,
            &case.path,
            identity.as_ref(),
            config.binding.require_binding,
            proved,
        );
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

/// The keys a case may have, for "did you mean" on a typo.
const CASE_KEYS: &[&str] = &[
    "name", "method", "path", "scopes", "claims", "issuer", "binding", "status",
];

/// A case's shape, for the messages.
const CASE_SHAPE: &str = "{name?, method, path, scopes?, claims?, issuer?, binding?, status}";

fn read_cases(path: &Path) -> Result<Vec<Case>, Diagnostics> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostics(vec![Diagnostic {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            message: format!("cannot read the test cases: {e}"),
        }])
    })?;
    let cases: Vec<Case> = serde_norway::from_str(&text).map_err(|e| {
        let mut problem = yaml_syntax_error(&text, path, &e);
        let message = e.to_string();
        if let Some(field) = message
            .split_once("unknown field `")
            .and_then(|(_, rest)| rest.split('`').next())
        {
            // A typo, not a syntax error: name it and the key meant.
            problem.message = format!(
                "{}unknown field `{field}`{}; each case is `{CASE_SHAPE}`",
                case_number(&message),
                did_you_mean(field, CASE_KEYS.iter().copied())
            );
        } else if !message.starts_with("did not find")
            && !message.contains("cannot start any token")
            && !message.contains("mapping values are not allowed")
        {
            let detail = problem.message.trim_start_matches("not valid YAML: ");
            let detail = detail.split_once(": ").map_or(detail, |(path, rest)| {
                if path.starts_with(".[") { rest } else { detail }
            });
            problem.message = format!(
                "{}{detail}; each case is `{CASE_SHAPE}`",
                case_number(&message)
            );
        }
        Diagnostics(vec![problem])
    })?;
    let mut problems = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let claims = case.claims.iter().flat_map(|c| c.keys());
        for claim in claims.filter(|c| SCOPE_CLAIMS.contains(&c.as_str())) {
            let (line, column) = locate(
                &text,
                &[
                    Step::Index(i),
                    Step::Value("claims".into()),
                    Step::Key(claim.clone()),
                ],
            );
            problems.push(Diagnostic {
                file: path.to_path_buf(),
                line,
                column,
                message: format!(
                    "`{claim}` is not set through `claims`: list the token's scopes under `scopes: [...]`"
                ),
            });
        }
    }
    if problems.is_empty() {
        Ok(cases)
    } else {
        Err(Diagnostics(problems))
    }
}

/// "case 3: " for serde's ".[2]..." document path, so the operator can count to it.
fn case_number(message: &str) -> String {
    message
        .strip_prefix(".[")
        .and_then(|rest| rest.split(']').next())
        .and_then(|index| index.parse::<usize>().ok())
        .map(|index| format!("case {}: ", index + 1))
        .unwrap_or_default()
}
