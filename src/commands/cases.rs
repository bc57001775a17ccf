//! `gateway test`: run policy test cases and print `N passed, N failed`.
//!
//! A cases file is either the list of cases alone, decided against the config's `[policy]
//! file`, or a mapping that names its policy: `policy: FILE` (relative to the cases file's
//! folder) then `cases:` and the list, so `gateway test --config gateway.toml
//! policies/clientco-tenants.tests.yaml` decides against the policy the cases were written for.
//! `GATEWAY_POLICY_FILE` still wins over `policy:` (an operator trying the cases on a candidate
//! policy); the first line of the output says which policy is judged and why.
//!
//! Each case is `{name?, method, path, scopes?, claims?, issuer?, binding?,
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

use super::check::{load_all, report, shown};
use crate::config::Config;
use crate::diagnostic::{Diagnostic, Diagnostics, did_you_mean};
use crate::explain::judge::judge_bound;
use crate::identity::{Identity, Scopes};
use crate::policy::{Policy, Step, locate, yaml_syntax_error};

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

/// The mapping form of a cases file: the policy it was written for, then its cases.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NamedCases {
    policy: Option<String>,
    cases: Vec<Case>,
}

/// A cases file as read: its cases, and the policy it names (as written, and its line).
struct CasesFile {
    cases: Vec<Case>,
    policy: Option<NamedPolicy>,
}

struct NamedPolicy {
    written: String,
    line: usize,
    column: usize,
}

/// The variable that overrides `[policy] file`, and so also a cases file's `policy:`.
const POLICY_ENV: &str = "GATEWAY_POLICY_FILE";

/// Claims a case cannot set through `claims:`: the scopes have their own key.
const SCOPE_CLAIMS: &[&str] = &["scope", "permissions"];

pub async fn run(config: &Path, cases: &Path) -> ExitCode {
    let file = match read_cases(cases) {
        Ok(file) => file,
        Err(problems) => {
            report(&problems);
            return ExitCode::FAILURE;
        }
    };
    let Ok(config) = crate::load::config(config) else {
        // The same report as `check`: the config's problems, and its policy's when it has one.
        if let Err(problems) = load_all(config) {
            report(&problems);
        }
        return ExitCode::FAILURE;
    };
    let overridden = std::env::var_os(POLICY_ENV).is_some();
    let policy = match load_policy(&config, cases, file.policy.as_ref(), overridden) {
        Ok(policy) => policy,
        Err(problems) => {
            report(&problems);
            return ExitCode::FAILURE;
        }
    };
    let cases_list = file.cases;
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

/// The policy the cases are judged against, with the first line saying so when it is not simply
/// the config's: the cases file's `policy:` unless `GATEWAY_POLICY_FILE` is set, which wins
/// (it already wins over `[policy] file`, and it is how an operator tries cases on a candidate).
fn load_policy(
    config: &Config,
    cases: &Path,
    named: Option<&NamedPolicy>,
    overridden: bool,
) -> Result<Policy, Diagnostics> {
    let issuers = config.auth.issuer_names();
    let Some(named) = named else {
        return Policy::load_for(&config.policy.file, &issuers);
    };
    if overridden {
        println!(
            "policy: {} ({POLICY_ENV}, which wins over `policy: {}` in {})",
            shown(&config.policy.file),
            named.written,
            shown(cases)
        );
        return Policy::load_for(&config.policy.file, &issuers);
    }
    let file = cases
        .parent()
        .unwrap_or(Path::new("."))
        .join(&named.written);
    let at = |message: String| Diagnostic {
        file: cases.to_path_buf(),
        line: named.line,
        column: named.column,
        message,
    };
    if !file.is_file() {
        let folder = cases.parent().unwrap_or(Path::new("."));
        // The YAML files beside the cases, for "did you mean" on a misspelt name.
        let beside: Vec<String> = std::fs::read_dir(folder)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter(|name| name.ends_with(".yaml") || name.ends_with(".yml"))
            .collect();
        return Err(Diagnostics(vec![at(format!(
            "`policy: {}` names {}, which is not a file (the path is relative to the cases \
             file's folder){}",
            named.written,
            shown(&file),
            did_you_mean(&named.written, beside.iter().map(String::as_str))
        ))]));
    }
    match Policy::load_for(&file, &issuers) {
        Ok(policy) => {
            println!(
                "policy: {} (named by {})",
                shown(&policy.source),
                shown(cases)
            );
            Ok(policy)
        }
        Err(mut problems) => {
            problems.0.push(at(format!(
                "the policy this file names, {}, does not load (the problems above): fix it, or \
                 name the policy these cases were written for",
                shown(&file)
            )));
            Err(problems)
        }
    }
}

/// The keys a case may have, for "did you mean" on a typo.
const CASE_KEYS: &[&str] = &[
    "name", "method", "path", "scopes", "claims", "issuer", "binding", "status",
];

/// A case's shape, for the messages.
const CASE_SHAPE: &str = "{name?, method, path, scopes?, claims?, issuer?, binding?, status}";

/// The keys of a cases file's mapping form.
const FILE_KEYS: &[&str] = &["policy", "cases"];

fn read_cases(path: &Path) -> Result<CasesFile, Diagnostics> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostics(vec![Diagnostic {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            message: format!("cannot read the test cases: {e}"),
        }])
    })?;
    // The shape first (a list, or a mapping naming the policy), then the cases.
    let named = matches!(
        serde_norway::from_str::<serde_norway::Value>(&text),
        Ok(serde_norway::Value::Mapping(_))
    );
    let parsed = if named {
        serde_norway::from_str::<NamedCases>(&text).map(|file| (file.policy, file.cases))
    } else {
        serde_norway::from_str::<Vec<Case>>(&text).map(|cases| (None, cases))
    };
    let (policy, cases) = parsed.map_err(|e| {
        let mut problem = yaml_syntax_error(&text, path, &e);
        let message = e.to_string();
        let in_case = !case_number(&message).is_empty();
        if named && !in_case && message.contains("missing field `cases`") {
            problem.message = format!(
                "a cases file that begins with `policy:` lists its cases under `cases:`, each \
                 `{CASE_SHAPE}`"
            );
        } else if named
            && !in_case
            && let Some(field) = message
                .split_once("unknown field `")
                .and_then(|(_, rest)| rest.split('`').next())
        {
            problem.message = format!(
                "unknown key `{field}`{}; a cases file is a list of cases, or `policy: FILE` \
                 and `cases:` with the list",
                did_you_mean(field, FILE_KEYS.iter().copied())
            );
        } else if let Some(field) = message
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
    // Where the cases sit in the document, for the positions below.
    let under = |steps: &[Step]| -> Vec<Step> {
        let mut path = Vec::new();
        if named {
            path.push(Step::Value("cases".into()));
        }
        path.extend_from_slice(steps);
        path
    };
    let mut problems = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let claims = case.claims.iter().flat_map(|c| c.keys());
        for claim in claims.filter(|c| SCOPE_CLAIMS.contains(&c.as_str())) {
            let (line, column) = locate(
                &text,
                &under(&[
                    Step::Index(i),
                    Step::Value("claims".into()),
                    Step::Key(claim.clone()),
                ]),
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
    let policy = policy.map(|written| {
        let (line, column) = locate(&text, &[Step::Value("policy".into())]);
        NamedPolicy {
            written,
            line,
            column,
        }
    });
    if problems.is_empty() {
        Ok(CasesFile { cases, policy })
    } else {
        Err(Diagnostics(problems))
    }
}

/// "case 3: " for serde's ".[2]..." (or "cases[2]...") document path, so the operator can
/// count to it.
fn case_number(message: &str) -> String {
    message
        .strip_prefix(".[")
        .or_else(|| message.strip_prefix("cases["))
        .and_then(|rest| rest.split(']').next())
        .and_then(|index| index.parse::<usize>().ok())
        .map(|index| format!("case {}: ", index + 1))
        .unwrap_or_default()
}
