//! `gateway docs`: render docs/trust_boundaries.md from the policy; `--check` fails on drift.
//!
//! The rendered file names the policy by its path relative to the config file's folder, so the
//! output is the same on every machine and `--check` can run in CI.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::check::{load_all, report, shown};
use crate::policy::render_docs;

pub async fn run(config: &Path, check: bool, output: Option<&Path>) -> ExitCode {
    let (config, policy) = match load_all(config) {
        Ok(loaded) => loaded,
        Err(problems) => {
            report(&problems);
            return ExitCode::FAILURE;
        }
    };
    let folder = config.folder().to_path_buf();
    let policy_name = policy
        .source
        .strip_prefix(&folder)
        .unwrap_or(&policy.source)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    let rendered = render_docs(&policy, &policy_name);
    let target: PathBuf = match output {
        Some(path) => path.to_path_buf(),
        None => folder.join("docs").join("trust_boundaries.md"),
    };

    if check {
        let current = std::fs::read_to_string(&target).unwrap_or_default();
        if current == rendered {
            println!("ok: {} matches {policy_name}", shown(&target));
            return ExitCode::SUCCESS;
        }
        eprintln!(
            "{} is out of date with {policy_name}; run `gateway docs --config {}` and commit the result",
            shown(&target),
            shown(&config.source)
        );
        if let Some((line, expected, found)) = first_difference(&rendered, &current) {
            eprintln!("first difference at line {line}:");
            eprintln!("  expected: {expected}");
            eprintln!("  found:    {found}");
        }
        return ExitCode::FAILURE;
    }

    if let Some(parent) = target.parent()
        && let Err(e) = std::fs::create_dir_all(parent)
    {
        eprintln!("error: cannot create {}: {e}", parent.display());
        return ExitCode::FAILURE;
    }
    match std::fs::write(&target, rendered) {
        Ok(()) => {
            println!("wrote {}", shown(&target));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", target.display());
            ExitCode::FAILURE
        }
    }
}

/// 1-based line number and the two lines where the texts first differ.
fn first_difference(expected: &str, found: &str) -> Option<(usize, String, String)> {
    let mut e = expected.lines();
    let mut f = found.lines();
    for line in 1.. {
        match (e.next(), f.next()) {
            (None, None) => return None,
            (a, b) if a == b => {}
            (a, b) => {
                let show = |l: Option<&str>| l.map_or("(end of file)".to_owned(), str::to_owned);
                return Some((line, show(a), show(b)));
            }
        }
    }
    None
}
