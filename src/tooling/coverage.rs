//! `gateway coverage`: the policy against the backend's OpenAPI document. Where they disagree,
//! either ClientCo gets a 404 for something the backend serves, or a route forwards to nothing,
//! or the gateway and the backend ask for different scopes (one of them refuses what the other
//! let through).
//!
//! Each operation is judged by the policy's own matcher on a representative path of its
//! template (parameter names ignored; HEAD passes wherever GET does, as on the data plane).
//! A route is backed when some operation's template overlaps its pattern with a method it
//! takes (a GET operation backs HEAD, since FastAPI answers HEAD for every GET route).
//! Restricted routes need no backing, and operations they block are listed apart as intended.

use std::collections::BTreeSet;

use http::Method;

use super::openapi::{Api, Operation, Security};
use super::shape::Shape;
use crate::policy::{Access, Mode, Policy, Route};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// An operation no route lets through (404 or 405 through the gateway).
    Unreachable,
    /// A route no operation backs.
    Unbacked,
    /// The operation's scopes and the route's differ.
    ScopeMismatch,
    /// The operation lists several security requirements (alternatives).
    Alternatives,
    /// An operation a restricted route blocks: intended, shown for the record.
    Restricted,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Unreachable => "unreachable",
            Kind::Unbacked => "unbacked",
            Kind::ScopeMismatch => "scope_mismatch",
            Kind::Alternatives => "alternatives",
            Kind::Restricted => "restricted",
        }
    }

    /// Whether `--strict` lets it pass.
    pub fn intended(self) -> bool {
        self == Kind::Restricted
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: Kind,
    /// The operation's method, or the route's methods without a backing operation.
    pub methods: Vec<String>,
    /// The operation's path template, or the route's pattern.
    pub path: String,
    /// The route involved, by its index in `policy.routes` (file order).
    pub route: Option<usize>,
    pub message: String,
}

/// Every finding, in the order: unreachable, unbacked, scope mismatches, alternatives, intended
/// blocks; within a kind by path.
pub fn coverage(policy: &Policy, api: &Api) -> Vec<Finding> {
    let mut findings: Vec<Finding> = api
        .operations
        .iter()
        .filter_map(|operation| judge(policy, operation))
        .collect();
    findings.extend(unbacked(policy, api));
    findings.sort_by(|a, b| (a.kind, &a.path).cmp(&(b.kind, &b.path)));
    findings
}

fn index_of(policy: &Policy, route: &Route) -> Option<usize> {
    policy.routes.iter().position(|r| std::ptr::eq(r, route))
}

fn scope_text(scopes: &[String]) -> String {
    if scopes.is_empty() {
        "no scope".to_owned()
    } else {
        scopes.join(" ")
    }
}

/// What the gateway does with one operation's requests, when it is worth a finding.
fn judge(policy: &Policy, operation: &Operation) -> Option<Finding> {
    let path = Shape::of_template(&operation.path).representative(0);
    let method = &operation.method;
    let finding = |kind, route: Option<&Route>, message: String| Finding {
        kind,
        methods: vec![method.to_string()],
        path: operation.path.clone(),
        route: route.and_then(|r| index_of(policy, r)),
        message,
    };
    let Some(route) = policy.route_for(&path, method) else {
        return Some(finding(
            Kind::Unreachable,
            None,
            "no route matches: 404 through the gateway".to_owned(),
        ));
    };
    if !route.allows_method(method) {
        let shadow = if route.mode == Mode::Shadow {
            " (forwarded for now: the route is in shadow mode)"
        } else {
            ""
        };
        return Some(finding(
            Kind::Unreachable,
            Some(route),
            format!(
                "route `{}` does not take {method}: 405 through the gateway{shadow}",
                route.pattern
            ),
        ));
    }
    let required = match &route.access {
        Access::Restricted(restriction) => {
            return Some(finding(
                Kind::Restricted,
                Some(route),
                format!(
                    "blocked by route `{}` (restricted: {restriction}), as intended",
                    route.pattern
                ),
            ));
        }
        Access::Scopes(scopes) => scopes,
    };
    let route_needs = if route.public {
        "is public (no token)".to_owned()
    } else {
        format!("requires {}", scope_text(required))
    };
    let mismatch = |message: String| Some(finding(Kind::ScopeMismatch, Some(route), message));
    match &operation.security {
        Security::Alternatives(alternatives) => {
            let listed: Vec<String> = alternatives.iter().map(ToString::to_string).collect();
            Some(finding(
                Kind::Alternatives,
                Some(route),
                format!(
                    "alternative security requirements {} (OpenAPI reads them as any one of; \
                     FastAPI writes one per security scheme and requires them all); route `{}` \
                     {route_needs}, and a route can require one set of scopes only",
                    listed.join(" or "),
                    route.pattern
                ),
            ))
        }
        Security::None if route.public || required.is_empty() => None,
        Security::None => mismatch(format!(
            "the operation declares no security; route `{}` {route_needs}",
            route.pattern
        )),
        Security::Scopes(scopes) if route.public => mismatch(format!(
            "the operation requires an authenticated caller with {}; route `{}` {route_needs}, \
             so the backend refuses what the gateway forwards",
            scope_text(scopes),
            route.pattern
        )),
        Security::Scopes(scopes) => {
            let backend: BTreeSet<&String> = scopes.iter().collect();
            let gateway: BTreeSet<&String> = required.iter().collect();
            if backend == gateway {
                return None;
            }
            let missing: Vec<&str> = backend.difference(&gateway).map(|s| s.as_str()).collect();
            let extra: Vec<&str> = gateway.difference(&backend).map(|s| s.as_str()).collect();
            let mut consequences = Vec::new();
            if !missing.is_empty() {
                consequences.push(format!(
                    "the gateway forwards tokens without {} that the backend refuses",
                    missing.join(" ")
                ));
            }
            if !extra.is_empty() {
                consequences.push(format!(
                    "the gateway refuses tokens without {} that the backend would serve",
                    extra.join(" ")
                ));
            }
            mismatch(format!(
                "the operation requires {}; route `{}` {route_needs}: {}",
                scope_text(scopes),
                route.pattern,
                consequences.join("; ")
            ))
        }
    }
}

/// Routes (restricted ones excepted) with a method no operation serves.
fn unbacked(policy: &Policy, api: &Api) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (index, route) in policy.routes.iter().enumerate() {
        if matches!(route.access, Access::Restricted(_)) {
            continue;
        }
        let shape = Shape::of_pattern(&route.pattern);
        let serving: Vec<&Operation> = api
            .operations
            .iter()
            .filter(|op| Shape::of_template(&op.path).overlaps(&shape))
            .collect();
        let serves = |method: &Method| {
            serving.iter().any(|op| {
                op.method == method || (method == Method::HEAD && op.method == Method::GET)
            })
        };
        let missing: Vec<String> = match &route.methods {
            None if serving.is_empty() => vec!["*".to_owned()],
            None => Vec::new(),
            Some(methods) => methods
                .iter()
                .filter(|m| !serves(m))
                .map(ToString::to_string)
                .collect(),
        };
        if missing.is_empty() {
            continue;
        }
        findings.push(Finding {
            kind: Kind::Unbacked,
            path: route.pattern.clone(),
            route: Some(index),
            message: format!(
                "no operation in the OpenAPI document serves {} {}: the gateway forwards requests the backend answers with 404 or 405",
                if route.methods.is_none() { "any method on".to_owned() } else { missing.join(", ") },
                route.pattern
            ),
            methods: missing,
        });
    }
    findings
}

#[cfg(test)]
mod tests;
