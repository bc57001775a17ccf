//! Policy file loading: YAML text -> checked `Policy`, or every problem with file:line:column.
//!
//! The YAML is parsed into a plain `serde_norway::Value` (syntax errors carry their position),
//! then checked by hand rather than through `deny_unknown_fields`, so that one load reports
//! *every* problem, not the first. Positions of semantic problems (an undeclared scope, an
//! ambiguous route) come from `locate`. This file reads the file and its top-level sections
//! (the declarations); `route` reads one route's keys, `access` who may call it (`scopes`,
//! `public`, `restricted`, `issuers`, `binding`, `websocket`), `conditions` the `when:` and
//! `clients:` readers, and `build` assembles the routes into the matcher.

mod access;
mod build;
mod conditions;
mod route;

use std::path::Path;

use serde_norway::{Mapping, Value};

use super::locate::{Step, locate, within};
use super::matcher::PatternSegment;
use super::{IssuerRef, Policy, PoolRef, Route};
use crate::diagnostic::{Diagnostic, Diagnostics, did_you_mean};

const TOP_KEYS: &[&str] = &[
    "permissions",
    "restrictions",
    "clients",
    "rate_limit",
    "routes",
];
const ROUTE_KEYS: &[&str] = &[
    "path",
    "methods",
    "scopes",
    "restricted",
    "public",
    "websocket",
    "mode",
    "max_body",
    "rate_limit",
    "issuers",
    "description",
    "when",
    "binding",
    "upstream",
];
const RATE_LIMIT_KEYS: &[&str] = &["per_second", "burst"];

pub(super) fn load_file(path: &Path) -> Result<Policy, Diagnostics> {
    match std::fs::read_to_string(path) {
        Ok(source) => parse(&source, path),
        Err(e) => Err(Diagnostics(vec![Diagnostic {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            message: unreadable(&e, path),
        }])),
    }
}

/// Why the policy file could not be read, and what to do about it.
fn unreadable(error: &std::io::Error, path: &Path) -> String {
    match error.kind() {
        std::io::ErrorKind::InvalidData => "the policy file is not UTF-8 text; save it as UTF-8 \
             (YAML 1.2 policies are UTF-8)"
            .to_owned(),
        _ if path.is_dir() => "the policy path is a directory, not a file; point \
             `[policy] file` in gateway.toml at the YAML file"
            .to_owned(),
        _ => format!("cannot read the policy file: {error}; check `[policy] file` in gateway.toml"),
    }
}

/// SHA-256 of the policy text, hex: the exact bytes the policy was parsed from.
fn sha256_hex(source: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, source.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A mapping key as text (YAML allows `1:` or `true:` as keys; we compare them as written).
pub(crate) fn key_text(key: &Value) -> Option<String> {
    match key {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(super) fn parse(source: &str, file: &Path) -> Result<Policy, Diagnostics> {
    let mut loader = Loader {
        source,
        file,
        problems: Vec::new(),
        issuer_refs: Vec::new(),
        pool_refs: Vec::new(),
    };
    let document: Value = match serde_norway::from_str(source) {
        Ok(v) => v,
        Err(e) => return Err(Diagnostics(vec![yaml_syntax_error(source, file, &e)])),
    };
    let policy = loader.policy(&document);
    if let Some(policy) = policy
        && loader.problems.is_empty()
    {
        return Ok(policy);
    }
    let mut problems = loader.problems;
    problems.sort_by_key(|d| (d.line, d.column));
    Err(Diagnostics(problems))
}

/// A YAML syntax error as one diagnostic: the position once (libyaml repeats it in its message),
/// the context it names said in words, and a hint for the usual causes (a tab, an indent, an
/// unquoted `: `, an unclosed `[`). Shared with the `gateway test` case files.
pub fn yaml_syntax_error(source: &str, file: &Path, error: &serde_norway::Error) -> Diagnostic {
    let (line, column) = error
        .location()
        .map_or((1, 1), |l| within(source, l.line(), l.column()));
    let text = error.to_string();
    // "<problem> at line L column C[, while parsing <context> at line L2 column C2]"
    let (problem, context) = match text.split_once(", while ") {
        Some((problem, context)) => (problem, Some(context)),
        None => (text.as_str(), None),
    };
    let strip = |part: &str| -> String {
        match part.rfind(" at line ") {
            Some(at) => part[..at].to_owned(),
            None => part.to_owned(),
        }
    };
    // The position is the diagnostic's own; the context keeps its words, not a second one.
    let mut message = format!("not valid YAML: {}", strip(problem));
    if let Some(context) = context {
        message.push_str(&format!(" (while {})", strip(context)));
    }
    let offending = source
        .lines()
        .nth(line.saturating_sub(1))
        .unwrap_or_default();
    let hint = if offending.starts_with('\t')
        || (problem.contains("cannot start any token") && offending.contains('\t'))
    {
        Some("YAML indents with spaces only, and this line has a tab; replace it with spaces")
    } else if problem.contains("mapping values are not allowed") {
        Some(
            "a value containing `: ` must be quoted (e.g. `read:x: \"Read: everything\"`), or this line is indented deeper than its neighbours",
        )
    } else if problem.contains("expected ',' or ']'") {
        Some("a `[...]` list must be closed on the same entry, e.g. `methods: [GET, POST]`")
    } else if problem.contains("expected '-' indicator")
        || problem.contains("expected key")
        || problem.contains("block")
    {
        Some(
            "check the indentation: the entries of one list or mapping start in the same column, with spaces",
        )
    } else {
        None
    };
    if let Some(hint) = hint {
        message.push_str("; ");
        message.push_str(hint);
    }
    Diagnostic {
        file: file.to_path_buf(),
        line,
        column,
        message,
    }
}

struct Loader<'s> {
    source: &'s str,
    file: &'s Path,
    problems: Vec<Diagnostic>,
    /// Issuer names routes list, with their positions (checked against the config later).
    issuer_refs: Vec<IssuerRef>,
    pool_refs: Vec<PoolRef>,
}

fn v(key: &str) -> Step {
    Step::Value(key.to_owned())
}

fn at(base: &[Step], more: Step) -> Vec<Step> {
    let mut path = base.to_vec();
    path.push(more);
    path
}

/// A route as parsed, before the trie is built.
struct Draft {
    index: usize,
    segments: Vec<PatternSegment>,
    route: Route,
}

impl Loader<'_> {
    fn error(&mut self, path: &[Step], message: impl Into<String>) {
        let (line, column) = locate(self.source, path);
        self.problems.push(Diagnostic {
            file: self.file.to_path_buf(),
            line,
            column,
            message: message.into(),
        });
    }

    /// Reports keys of `map` not in `known`; returns the mapping's entries keyed by text.
    fn known_keys(&mut self, map: &Mapping, base: &[Step], known: &[&str], what: &str) {
        for key in map.keys() {
            match key_text(key) {
                Some(k) if known.contains(&k.as_str()) => {}
                Some(k) => {
                    let hint = did_you_mean(&k, known.iter().copied());
                    self.error(
                        &at(base, Step::Key(k.clone())),
                        format!(
                            "unknown key `{k}` in {what}{hint} (known keys: {})",
                            known.join(", ")
                        ),
                    );
                }
                None => self.error(base, format!("{what} has a key that is not a plain name")),
            }
        }
    }

    fn policy(&mut self, document: &Value) -> Option<Policy> {
        let Value::Mapping(top) = document else {
            self.error(
                &[],
                "a policy file is a mapping with `permissions`, `restrictions` and `routes`",
            );
            return None;
        };
        self.known_keys(top, &[], TOP_KEYS, "the policy file");
        let permissions = self.declarations(top.get("permissions"), "permissions");
        let restrictions = self.declarations(top.get("restrictions"), "restrictions");
        let clients = self.clients(top.get("clients"));
        let routes = match top.get("routes") {
            Some(Value::Sequence(routes)) => routes,
            Some(Value::Null) | None => {
                self.error(
                    &[],
                    "no `routes:`; list the routes the gateway may forward (anything else is denied)",
                );
                return None;
            }
            Some(_) => {
                self.error(
                    &[v("routes")],
                    "`routes` must be a list of routes (`- path: /x`)",
                );
                return None;
            }
        };
        let scope_names: Vec<&str> = permissions.iter().map(|(k, _)| k.as_str()).collect();
        let restriction_names: Vec<&str> = restrictions.iter().map(|(k, _)| k.as_str()).collect();
        let client_names: Option<Vec<&str>> = clients
            .as_ref()
            .map(|c| c.iter().map(|(k, _)| k.as_str()).collect());
        let drafts: Vec<Draft> = routes
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                self.route(
                    i,
                    r,
                    &scope_names,
                    &restriction_names,
                    client_names.as_deref(),
                )
            })
            .collect();
        let (trie, mut routes) = self.build(drafts);
        // A top-level `rate_limit` is every route's default; a route's own one wins.
        let default_limit = self.rate_limit(top.get("rate_limit"), &[v("rate_limit")]);
        for route in &mut routes {
            route.rate_limit = route.rate_limit.or(default_limit);
        }
        Some(Policy {
            source: self.file.to_path_buf(),
            sha256: sha256_hex(self.source),
            permissions,
            restrictions,
            clients: clients.unwrap_or_default(),
            routes,
            issuer_refs: std::mem::take(&mut self.issuer_refs),
            pool_refs: std::mem::take(&mut self.pool_refs),
            trie,
        })
    }

    /// `permissions:` / `restrictions:`: name -> description.
    fn declarations(&mut self, value: Option<&Value>, section: &str) -> Vec<(String, String)> {
        let map = match value {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Mapping(map)) => map,
            Some(_) => {
                self.error(
                    &[v(section)],
                    format!(
                        "`{section}` must map names to descriptions (`read:x: What it allows`)"
                    ),
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (key, description) in map {
            let Some(name) = key_text(key) else {
                self.error(
                    &[v(section)],
                    format!("a name under `{section}` is not text"),
                );
                continue;
            };
            let base = [v(section), Step::Key(name.clone())];
            if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                // RFC 6749 §3.3: a scope token has no spaces; the `scope` claim is split on them.
                self.error(&base, format!("`{name}` cannot contain spaces: the `scope` claim is space-separated (RFC 6749 §3.3)"));
            }
            let description = match description {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                _ => {
                    self.error(
                        &[v(section), v(&name)],
                        "a description must be text (quote it if it contains `: `)",
                    );
                    String::new()
                }
            };
            out.push((name, description));
        }
        out
    }
}

/// The fix for an undeclared name: the suggestion if there is one, else how to declare it.
fn or_declare(hint: &str, section: &str) -> String {
    if hint.is_empty() {
        format!("; declare it under `{section}` with a description, or fix the name")
    } else {
        hint.to_owned()
    }
}
