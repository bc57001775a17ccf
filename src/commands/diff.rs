//! `gateway diff --config F OLD.yaml [NEW.yaml]`: what a policy change does to access, for
//! review. NEW defaults to the config's `[policy] file`. Both files go through the real loader,
//! so a broken one is reported with file:line:column like `gateway check` does.
//!
//! Exit codes: 0 (whatever changed), 1 when a file cannot be loaded, 3 when `--fail-on` names
//! a change that happened (`looser`: any looser change; `any`: any change at all), so a CI job
//! can stop a pull request that loosens access until someone approves it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::json;

use super::Format;
use super::check::{report, shown};
use crate::diagnostic::Diagnostics;
use crate::policy::Policy;
use crate::tooling::diff::{Change, Class, Methods, Subject, diff};

/// Exit code when `--fail-on` is met (1 is a load error, 2 a usage error).
pub const FAILED_REVIEW: u8 = 3;

/// Which changes make `gateway diff` exit 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    Looser,
    Any,
}

pub async fn run(
    config: &Path,
    old: &Path,
    new: Option<&Path>,
    format: Format,
    fail_on: Option<FailOn>,
) -> ExitCode {
    let new: PathBuf = match new {
        Some(path) => path.to_path_buf(),
        None => match crate::load::config(config) {
            Ok(config) => config.policy.file,
            Err(problems) => {
                report(&problems);
                return ExitCode::FAILURE;
            }
        },
    };
    let (before, after) = match (Policy::load(old), Policy::load(&new)) {
        (Ok(before), Ok(after)) => (before, after),
        (before, after) => {
            let mut problems = Diagnostics::default();
            for result in [before, after] {
                if let Err(more) = result {
                    problems.0.extend(more.0);
                }
            }
            report(&problems);
            return ExitCode::FAILURE;
        }
    };
    let changes = diff(&before, &after);
    let (old_name, new_name) = (shown(old), shown(&new));
    match format {
        Format::Human => print_human(&old_name, &new_name, &changes),
        Format::Json => println!("{}", to_json(&old_name, &new_name, &changes)),
    }
    let count = |class| changes.iter().filter(|c| c.class == class).count();
    let failed = match fail_on {
        Some(FailOn::Looser) => count(Class::Looser),
        Some(FailOn::Any) => changes.len(),
        None => 0,
    };
    if failed > 0 {
        let what = match fail_on {
            Some(FailOn::Looser) => "looser change",
            _ => "change",
        };
        eprintln!(
            "error: {failed} {what}{} from {old_name} to {new_name} (--fail-on); a reviewer must approve {}",
            if failed == 1 { "" } else { "s" },
            if failed == 1 { "it" } else { "them" }
        );
        return ExitCode::from(FAILED_REVIEW);
    }
    ExitCode::SUCCESS
}

fn summary(changes: &[Change]) -> String {
    let count = |class| changes.iter().filter(|c| c.class == class).count();
    let n = changes.len();
    format!(
        "{n} change{} ({} looser, {} stricter, {} neutral)",
        if n == 1 { "" } else { "s" },
        count(Class::Looser),
        count(Class::Stricter),
        count(Class::Neutral)
    )
}

fn print_human(old: &str, new: &str, changes: &[Change]) {
    if changes.is_empty() {
        println!("{old} -> {new}: no change; both decide every request the same way");
        return;
    }
    println!("{old} -> {new}: {}", summary(changes));
    for change in changes {
        println!("{change}");
    }
}

fn to_json(old: &str, new: &str, changes: &[Change]) -> serde_json::Value {
    let count = |class| changes.iter().filter(|c| c.class == class).count();
    let entries: Vec<serde_json::Value> = changes
        .iter()
        .map(|change| {
            let mut entry = json!({
                "class": change.class.as_str(),
                "attribute": change.attribute,
                "old": change.old,
                "new": change.new,
                "reason": change.reason,
                "text": change.to_string(),
            });
            match &change.subject {
                Subject::Requests { path, methods } => {
                    entry["path"] = json!(path);
                    match methods {
                        Methods::Listed(names) => entry["methods"] = json!(names),
                        Methods::Any => entry["methods"] = json!("*"),
                        Methods::AnyBut(names) => {
                            entry["methods"] = json!("*");
                            entry["except"] = json!(names);
                        }
                    }
                }
                Subject::Declaration { section, name } => {
                    entry["declaration"] = json!({"section": section, "name": name});
                }
            }
            entry
        })
        .collect();
    json!({
        "old": old,
        "new": new,
        "summary": {
            "looser": count(Class::Looser),
            "stricter": count(Class::Stricter),
            "neutral": count(Class::Neutral),
        },
        "changes": entries,
    })
}
