//! `gateway coverage --config F --openapi FILE|URL`: the policy against the backend's OpenAPI
//! document (`tooling::coverage` finds; this prints). Routes are named with their file:line, so
//! the fix is one jump away.
//!
//! Exit codes: 0 (findings are printed, not failed on), 1 with `--strict` when any finding is
//! not an intended block, and 1 when the config, the policy or the document cannot be read.

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;

use super::Format;
use super::check::{load_all, report, shown};
use crate::policy::{Policy, Step, locate};
use crate::tooling::coverage::{Finding, Kind, coverage};
use crate::tooling::openapi::{self, Api};

pub async fn run(config: &Path, document: &str, format: Format, strict: bool) -> ExitCode {
    let (_, policy) = match load_all(config) {
        Ok(loaded) => loaded,
        Err(problems) => {
            report(&problems);
            return ExitCode::FAILURE;
        }
    };
    let api = match openapi::load(document).await {
        Ok(api) => api,
        Err(why) => {
            eprintln!("error: {why}");
            return ExitCode::FAILURE;
        }
    };
    for skipped in &api.skipped {
        eprintln!("warning: {document}: skipped {skipped}");
    }
    let findings = coverage(&policy, &api);
    let lines = RouteLines::of(&policy);
    match format {
        Format::Human => print_human(&policy, &api, document, &findings, &lines),
        Format::Json => println!("{}", to_json(&policy, &api, document, &findings, &lines)),
    }
    let failing = findings.iter().filter(|f| !f.kind.intended()).count();
    if strict && failing > 0 {
        eprintln!(
            "error: {failing} finding{} (--strict); only operations blocked by a restriction pass",
            if failing == 1 { "" } else { "s" }
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Where each route is written, for `file:line` in the findings.
struct RouteLines {
    file: String,
    lines: Vec<usize>,
}

impl RouteLines {
    fn of(policy: &Policy) -> RouteLines {
        let text = std::fs::read_to_string(&policy.source).unwrap_or_default();
        let lines = (0..policy.routes.len())
            .map(|i| {
                let path = [Step::Value("routes".into()), Step::Index(i)];
                locate(&text, &path).0
            })
            .collect();
        RouteLines {
            file: shown(&policy.source),
            lines,
        }
    }

    fn at(&self, route: Option<usize>) -> Option<String> {
        let line = self.lines.get(route?)?;
        Some(format!("{}:{line}", self.file))
    }
}

const SECTIONS: &[(Kind, &str)] = &[
    (
        Kind::Unreachable,
        "Operations no route lets through (404 or 405 via the gateway)",
    ),
    (Kind::Unbacked, "Routes no operation backs"),
    (Kind::ScopeMismatch, "Scopes that differ"),
    (Kind::Alternatives, "Alternative (OR) security requirements"),
    (
        Kind::Restricted,
        "Blocked by a restriction (intended, listed for the record)",
    ),
];

fn print_human(
    policy: &Policy,
    api: &Api,
    document: &str,
    findings: &[Finding],
    lines: &RouteLines,
) {
    let title = api
        .title
        .as_ref()
        .map_or(String::new(), |t| format!(" ({t})"));
    println!(
        "{} against {document}{title}: {} operations, {} routes",
        shown(&policy.source),
        api.operations.len(),
        policy.routes.len()
    );
    for (kind, heading) in SECTIONS {
        let section: Vec<&Finding> = findings.iter().filter(|f| f.kind == *kind).collect();
        if section.is_empty() {
            continue;
        }
        println!();
        println!("{heading}:");
        for finding in section {
            let at = lines
                .at(finding.route)
                .map_or(String::new(), |at| format!(" ({at})"));
            println!(
                "  {} {}{at}: {}",
                finding.methods.join(", "),
                finding.path,
                finding.message
            );
        }
    }
    let intended = findings.iter().filter(|f| f.kind.intended()).count();
    let failing = findings.len() - intended;
    println!();
    if failing == 0 {
        println!(
            "ok: the policy covers every operation ({intended} blocked by a restriction, as intended)"
        );
    } else {
        println!(
            "{failing} finding{} ({intended} more blocked by a restriction, as intended)",
            if failing == 1 { "" } else { "s" }
        );
    }
}

fn to_json(
    policy: &Policy,
    api: &Api,
    document: &str,
    findings: &[Finding],
    lines: &RouteLines,
) -> serde_json::Value {
    let entries: Vec<serde_json::Value> = findings
        .iter()
        .map(|finding| {
            json!({
                "kind": finding.kind.as_str(),
                "intended": finding.kind.intended(),
                "methods": finding.methods,
                "path": finding.path,
                "route": finding.route.and_then(|i| policy.routes.get(i)).map(|r| &r.pattern),
                "at": lines.at(finding.route),
                "message": finding.message,
            })
        })
        .collect();
    json!({
        "policy": shown(&policy.source),
        "openapi": document,
        "title": api.title,
        "operations": api.operations.len(),
        "routes": policy.routes.len(),
        "failing": findings.iter().filter(|f| !f.kind.intended()).count(),
        "findings": entries,
        "skipped": api.skipped,
    })
}
