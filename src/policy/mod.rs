//! The policy: which paths exist, which methods they take, which scopes they need.
//!
//! Loaded from YAML (`load`), matched against normalised paths (`normalise`,
//! `Policy::route_for`), and judged by `decide`, the one decision function the data plane,
//! `gateway explain` and `gateway test` share; a route's `when:` conditions are `conditions`. docs/policy.md is the reference for the file
//! format and the matching rules.

mod conditions;
mod decide;
mod load;
mod locate;
mod matcher;
mod normalise;
mod pattern;
mod render;
mod subtree;

use std::path::{Path, PathBuf};

use http::Method;

use crate::diagnostic::{Diagnostic, Diagnostics};

pub use conditions::{Condition, Operator, Outcome as ConditionOutcome, Template};
pub use decide::{Decision, Denial, decide};
pub use load::yaml_syntax_error;
pub use locate::{Step, locate};
pub use normalise::normalise;
pub use render::{caller_matrix, render_docs};

/// A loaded, checked policy. Immutable; a reload builds a new one.
#[derive(Debug)]
pub struct Policy {
    /// The file this came from.
    pub source: PathBuf,
    /// SHA-256 (hex) of the text it was parsed from, for `GET /policy` and the reload log.
    pub sha256: String,
    /// Declared scopes and their descriptions, in file order.
    pub permissions: Vec<(String, String)>,
    /// Declared restrictions and their descriptions, in file order.
    pub restrictions: Vec<(String, String)>,
    /// The `clients:` register: client id -> description, in file order (empty when absent).
    pub clients: Vec<(String, String)>,
    /// Every route, in file order.
    pub routes: Vec<Route>,
    /// Every issuer name a route's `issuers:` lists, where it is written (checked against
    /// the configured issuers by `unknown_issuers`).
    issuer_refs: Vec<IssuerRef>,
    /// Every route's `upstream:` as written (checked against the configured pools by
    /// `unknown_pools`).
    pool_refs: Vec<PoolRef>,
    trie: matcher::Trie,
}

/// A name as written in a route's `issuers:` or `upstream:`.
#[derive(Debug, Clone)]
struct IssuerRef {
    name: String,
    line: usize,
    column: usize,
}

/// A route's `upstream:` (`None` when it has none), where it is written (or where the route
/// starts), for `unknown_pools`.
#[derive(Debug, Clone)]
struct PoolRef {
    name: Option<String>,
    pattern: String,
    line: usize,
    column: usize,
}

/// One route of the policy.
#[derive(Debug)]
pub struct Route {
    /// The pattern as written, e.g. `/models/**`: the route's name in logs and metrics.
    pub pattern: String,
    /// `None` = every method.
    pub methods: Option<Vec<Method>>,
    /// `methods` as the rate-limit key names them (`GET,POST`; `*` for every method), built
    /// once at load rather than per request.
    pub methods_key: String,
    pub access: Access,
    /// `when:`: every condition must hold after the scope check (403 `access_denied`).
    pub conditions: Vec<Condition>,
    /// `public: true`: no token needed (identity headers still stripped).
    pub public: bool,
    /// `websocket: true`: a WebSocket upgrade (RFC 6455) is tunnelled after the upstream's 101;
    /// without it every upgrade is forwarded as a plain request.
    pub websocket: bool,
    pub mode: Mode,
    /// 413 beyond this many body bytes.
    pub max_body: Option<u64>,
    pub rate_limit: Option<RateLimit>,
    /// `issuers: [prod]`: the token must come from one of these configured issuers (by name);
    /// `None` = any configured issuer.
    pub issuers: Option<Vec<String>>,
    /// Optional `description:` from the file, shown in the generated docs.
    pub description: Option<String>,
    /// `binding:`: the sender-constrained token this route demands on top of `[auth]
    /// require_binding` (checked by authentication, phase 4: a 401, not a policy denial).
    pub binding: crate::identity::Binding,
    /// `upstream: NAME`: the pool (`[upstreams.NAME]`) this route forwards to; `None`: the
    /// default pool, `[upstream]`.
    pub upstream: Option<String>,
    /// The `Allow` header value for a 405 on this path: the union over every route of the
    /// same shape (RFC 9110 §15.5.6 wants the methods the *resource* supports).
    pub allow: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Every listed scope is required.
    Scopes(Vec<String>),
    /// Never reachable; the restriction's name.
    Restricted(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Enforce,
    /// Decide, log and count, but forward anyway.
    Shadow,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

/// Why a request path cannot be normalised (400). The Display text is client-facing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path contains an encoded slash (%2F)")]
    EncodedSlash,
    #[error("path contains an encoded backslash (%5C)")]
    EncodedBackslash,
    #[error("path contains a backslash")]
    Backslash,
    #[error("path contains a NUL character")]
    Nul,
    #[error("path climbs above the root with `..`")]
    EscapesRoot,
    #[error("path contains a malformed percent-escape")]
    BadEscape,
    #[error("the request target must be an absolute path")]
    NotAbsolute,
}

impl Policy {
    /// Reads and checks a policy file; every problem is a `Diagnostic` with file:line:column.
    pub fn load(path: &Path) -> Result<Policy, Diagnostics> {
        load::load_file(path)
    }

    /// Loads the policy at `path` for a gateway whose issuers are `configured` (by name): a
    /// route's `issuers:` naming another is a problem at its position. What `serve`, every
    /// reload and `gateway check` load.
    pub fn load_for(path: &Path, configured: &[&str]) -> Result<Policy, Diagnostics> {
        let policy = Policy::load(path)?;
        let unknown = policy.unknown_issuers(configured);
        if unknown.0.is_empty() {
            Ok(policy)
        } else {
            Err(unknown)
        }
    }

    /// Parses a policy from text; `path` is only used in messages.
    pub fn from_yaml_str(source: &str, path: &Path) -> Result<Policy, Diagnostics> {
        load::parse(source, path)
    }

    /// The route that judges `method` on an already normalised path: the most specific
    /// pattern, and within it the route whose methods include `method` (or, when none does,
    /// one of them, whose `authorise` then answers 405 with the full `Allow`).
    pub fn route_for(&self, normalised_path: &str, method: &Method) -> Option<&Route> {
        let group = self.trie.find(normalised_path)?;
        let mut routes = group.iter().filter_map(|&id| self.routes.get(id));
        let first = routes.clone().next();
        routes.find(|r| r.allows_method(method)).or(first)
    }

    /// Every route's `issuers:` entry that names none of `configured` (the issuers of the
    /// gateway's `[auth]`), with its position in the policy file. A policy is checked against
    /// the configuration it runs with: at start, on every reload, and by `gateway check`.
    fn unknown_issuers(&self, configured: &[&str]) -> Diagnostics {
        let problems = self
            .issuer_refs
            .iter()
            .filter(|r| !configured.contains(&r.name.as_str()))
            .map(|r| {
                let hint = crate::diagnostic::did_you_mean(&r.name, configured.iter().copied());
                Diagnostic {
                    file: self.source.clone(),
                    line: r.line,
                    column: r.column,
                    message: format!(
                        "`{}` is not an issuer of this gateway{}; the configured issuers are {} ([auth.issuers.NAME] in gateway.toml; the one-issuer [auth] form is named `default`)",
                        r.name,
                        hint,
                        configured.join(", ")
                    ),
                }
            })
            .collect();
        Diagnostics(problems)
    }

    /// Every route's `upstream:` that names none of `pools` (the configured pools' names), and
    /// every route without one when there is no default pool (`has_default`: `[upstream]` is
    /// set), with its position. Checked at start, on every reload and by `gateway check`.
    pub fn unknown_pools(&self, pools: &[&str], has_default: bool) -> Diagnostics {
        let mut problems = Vec::new();
        for r in &self.pool_refs {
            let Some(name) = &r.name else {
                if !has_default {
                    problems.push(Diagnostic {
                        file: self.source.clone(),
                        line: r.line,
                        column: r.column,
                        message: format!(
                            "route `{}` names no `upstream:` and gateway.toml has no [upstream] \
                             (the default pool); add `upstream: {}` to the route or an \
                             [upstream] table",
                            r.pattern,
                            pools.first().copied().unwrap_or("NAME")
                        ),
                    });
                }
                continue;
            };
            if !pools.contains(&name.as_str()) {
                let hint = crate::diagnostic::did_you_mean(name, pools.iter().copied());
                let known = if pools.is_empty() {
                    "gateway.toml declares none".to_owned()
                } else {
                    format!("the configured pools are {}", pools.join(", "))
                };
                problems.push(Diagnostic {
                    file: self.source.clone(),
                    line: r.line,
                    column: r.column,
                    message: format!(
                        "`{name}` is not an upstream pool of this gateway{hint}; {known} \
                         ([upstreams.NAME] in gateway.toml)"
                    ),
                });
            }
        }
        Diagnostics(problems)
    }

    /// Why `pattern` cannot be a route's `path` (the loader's own check), for tools that write
    /// policies (`gateway init`).
    pub fn check_pattern(pattern: &str) -> Result<(), String> {
        pattern::parse_pattern(pattern).map(|_| ())
    }

    /// The description of a restriction declared under `restrictions`, for 403 bodies.
    pub fn restriction_description(&self, restriction: &str) -> Option<&str> {
        self.restrictions
            .iter()
            .find(|(name, _)| name == restriction)
            .map(|(_, description)| description.as_str())
    }
}

impl Route {
    /// Whether the route takes `method`. HEAD is allowed wherever GET is (RFC 9110 §9.3.2:
    /// HEAD is GET without the body).
    pub fn allows_method(&self, method: &Method) -> bool {
        match &self.methods {
            None => true,
            Some(methods) => {
                methods.contains(method)
                    || (method == Method::HEAD && methods.contains(&Method::GET))
            }
        }
    }
}

#[cfg(test)]
mod tests;
