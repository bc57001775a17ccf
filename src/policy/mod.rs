//! The policy: which paths exist, which methods they take, which scopes they need.
//!
//! Loaded from YAML (`load`), matched against normalised paths (`normalise`, `Policy::lookup`),
//! and judged (`Route::authorise`). The same functions serve the data plane, `gateway explain`
//! and `gateway test` (through `decide`), so the three can never disagree. docs/policy.md is the
//! reference for the file format and the matching rules.

mod load;
mod locate;
mod matcher;
mod normalise;
mod pattern;
mod render;

use std::path::{Path, PathBuf};

use http::Method;

use crate::diagnostic::Diagnostics;
use crate::identity::Scopes;

pub use locate::{Step, locate};
pub use normalise::normalise;
pub use render::render_docs;

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
    /// Every route, in file order.
    pub routes: Vec<Route>,
    trie: matcher::Trie,
}

/// One route of the policy.
#[derive(Debug)]
pub struct Route {
    /// The pattern as written, e.g. `/models/**`: the route's name in logs and metrics.
    pub pattern: String,
    /// `None` = every method.
    pub methods: Option<Vec<Method>>,
    pub access: Access,
    /// `public: true`: no token needed (identity headers still stripped).
    pub public: bool,
    pub mode: Mode,
    /// 413 beyond this many body bytes.
    pub max_body: Option<u64>,
    pub rate_limit: Option<RateLimit>,
    /// Optional `description:` from the file, shown in the generated docs.
    pub description: Option<String>,
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

/// Why a matched route refuses a request. The Display text is the client-facing
/// `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    /// 405; `allow` is the value of the `Allow` header.
    #[error("method not allowed on this path; allowed: {allow}")]
    MethodNotAllowed { allow: String },
    /// 403; the restriction's name.
    #[error("this path is never reachable through the gateway ({restriction})")]
    Restricted { restriction: String },
    /// 403; every scope the route requires, and those the token lacks.
    #[error("missing scope {}", missing.join(" "))]
    InsufficientScope {
        required: Vec<String>,
        missing: Vec<String>,
    },
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
    #[error("path does not start with `/`")]
    NotAbsolute,
}

impl Policy {
    /// Reads and checks a policy file; every problem is a `Diagnostic` with file:line:column.
    pub fn load(path: &Path) -> Result<Policy, Diagnostics> {
        load::load_file(path)
    }

    /// Parses a policy from text; `path` is only used in messages.
    pub fn from_yaml_str(source: &str, path: &Path) -> Result<Policy, Diagnostics> {
        load::parse(source, path)
    }

    /// The most specific route matching an already normalised path.
    ///
    /// When several routes share the same pattern shape with disjoint methods (`GET /items`
    /// and `POST /items`), this is the first of them in file order; use `route_for` when the
    /// method is known, so the route owning that method is judged.
    pub fn lookup(&self, normalised_path: &str) -> Option<&Route> {
        self.trie
            .find(normalised_path)
            .and_then(|group| group.first())
            .and_then(|&id| self.routes.get(id))
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

    /// The description of a restriction declared under `restrictions`, for 403 bodies.
    pub fn restriction_description(&self, restriction: &str) -> Option<&str> {
        self.restrictions
            .iter()
            .find(|(name, _)| name == restriction)
            .map(|(_, description)| description.as_str())
    }
}

impl Route {
    /// Decision 4 for a matched route: method, then restriction, then scopes.
    pub fn authorise(&self, method: &Method, granted: &Scopes) -> Result<(), Denial> {
        if !self.allows_method(method) {
            return Err(Denial::MethodNotAllowed {
                allow: self.allow.clone(),
            });
        }
        match &self.access {
            Access::Restricted(restriction) => Err(Denial::Restricted {
                restriction: restriction.clone(),
            }),
            Access::Scopes(required) => {
                let missing: Vec<String> = required
                    .iter()
                    .filter(|s| !granted.contains(s))
                    .cloned()
                    .collect();
                if missing.is_empty() {
                    Ok(())
                } else {
                    Err(Denial::InsufficientScope {
                        required: required.clone(),
                        missing,
                    })
                }
            }
        }
    }

    /// Decision 4's first half, for public routes (no scopes to check). HEAD is allowed
    /// wherever GET is (RFC 9110 §9.3.2: HEAD is GET without the body).
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

/// What the gateway would answer, and why: shared by `explain`, `test` and the docs.
#[derive(Debug, Clone)]
pub struct Verdict<'p> {
    /// The status the client would see.
    pub status: u16,
    /// The normalised path, when normalisation succeeded.
    pub normalised: Option<String>,
    /// The route that judged the request.
    pub route: Option<&'p Route>,
    /// Human explanation of the status.
    pub reason: String,
}

/// The data plane's decision order without the network: normalise (400) -> public route? ->
/// token present (401, before the router says anything) -> route (404) -> method (405) ->
/// restriction (403) -> scopes (403) -> 200. `granted: None` means "no token was sent";
/// token *verification* is not modelled here (`explain --token` does that first).
///
/// A `mode: shadow` route reports status 200 (the request is forwarded) and says in `reason`
/// what enforcement would have answered.
pub fn decide<'p>(
    policy: &'p Policy,
    method: &Method,
    path: &str,
    granted: Option<&Scopes>,
) -> Verdict<'p> {
    let normalised = match normalise(path) {
        Ok(n) => n,
        Err(e) => {
            return Verdict {
                status: 400,
                normalised: None,
                route: None,
                reason: e.to_string(),
            };
        }
    };
    let route = policy.route_for(&normalised, method);
    let verdict = |status: u16, route: Option<&'p Route>, reason: String| Verdict {
        status,
        normalised: Some(normalised.clone()),
        route,
        reason,
    };
    let enforced = match (route, granted) {
        (Some(r), _) if r.public => {
            if r.allows_method(method) {
                verdict(200, Some(r), format!("public route {}", r.pattern))
            } else {
                verdict(
                    405,
                    Some(r),
                    format!("{method} is not allowed; Allow: {}", r.allow),
                )
            }
        }
        (_, None) => verdict(
            401,
            route,
            "no token: every non-public request is authenticated before routing".to_owned(),
        ),
        (None, Some(_)) => verdict(404, None, format!("no route matches {normalised}")),
        (Some(r), Some(granted)) => match r.authorise(method, granted) {
            Ok(()) => verdict(200, Some(r), allowed_reason(r)),
            Err(denial @ Denial::MethodNotAllowed { .. }) => {
                verdict(405, Some(r), denial.to_string())
            }
            Err(denial) => verdict(403, Some(r), denial.to_string()),
        },
    };
    match enforced.route {
        Some(r) if r.mode == Mode::Shadow && enforced.status != 200 => Verdict {
            status: 200,
            reason: format!(
                "shadow mode: forwarded; enforcement would answer {} ({})",
                enforced.status, enforced.reason
            ),
            ..enforced
        },
        _ => enforced,
    }
}

fn allowed_reason(route: &Route) -> String {
    match &route.access {
        Access::Scopes(s) if s.is_empty() => {
            format!("route {} needs any valid token", route.pattern)
        }
        Access::Scopes(s) => format!("route {} needs {}: granted", route.pattern, s.join(" ")),
        Access::Restricted(r) => format!("restricted by {r}"),
    }
}

#[cfg(test)]
mod tests;
