//! The one decision: may this caller do this on this route? (spec, "Decisions, in order", steps
//! 2-4 as far as the policy knows them).
//!
//! [`decide`] is pure: a matched route (or none), the method and the verified identity (or none)
//! in, [`Decision`] or [`Denial`] out. The data plane's `authorise` phase, `gateway test` and
//! `gateway explain` all call it, and turn a `Denial` into a status through the one error
//! mapping (`GatewayError`), so the three cannot disagree.
//!
//! Order: a route that needs a token but got no identity (only offline callers get here: the
//! data plane authenticates first) -> no route (404) -> method (405) -> restricted (403) ->
//! issuer not allowed by the route's `issuers:` (403) -> missing scope (403). A `mode: shadow` route turns a denial into `Decision::ShadowDeny`: the
//! request is forwarded, and the denial logged and counted.

use http::Method;

use super::{Access, Mode, Policy, Route};
use crate::identity::Identity;

/// What the policy says about a request it lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// `mode: shadow`: forwarded although enforcement would refuse it for this reason.
    ShadowDeny(Denial),
}

/// Why the policy refuses a request. The Display text is the client-facing `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    /// 401: the route needs a token and none was verified.
    #[error("no bearer token was sent")]
    Unauthenticated,
    /// 404.
    #[error("no route matches this path")]
    NoRoute,
    /// 405; `allow` is the value of the `Allow` header.
    #[error("method not allowed on this path; allowed: {allow}")]
    MethodNotAllowed { allow: String },
    /// 403; the restriction's name and its declared description.
    #[error("this path is never reachable through the gateway ({restriction})")]
    Restricted {
        restriction: String,
        description: String,
    },
    /// 403 `access_denied`: the route's `issuers:` does not list the token's issuer (by name).
    #[error("this route does not accept tokens from issuer {issuer}")]
    IssuerNotAllowed { issuer: String },
    /// 403; every scope the route requires, and those the token lacks.
    #[error("missing scope {}", missing.join(" "))]
    InsufficientScope {
        required: Vec<String>,
        missing: Vec<String>,
    },
}

/// Decides one request. `route` is `policy.route_for(normalised path, method)`; `identity` is
/// the verified token's identity, `None` when no token was verified (public routes never read
/// one, so their identity is ignored).
pub fn decide(
    policy: &Policy,
    route: Option<&Route>,
    method: &Method,
    identity: Option<&Identity>,
) -> Result<Decision, Denial> {
    let needs_token = route.is_none_or(|route| !route.public);
    if needs_token && identity.is_none() {
        return Err(Denial::Unauthenticated);
    }
    let Some(route) = route else {
        return Err(Denial::NoRoute);
    };
    match judge(policy, route, method, identity) {
        Ok(()) => Ok(Decision::Allow),
        Err(denial) if route.mode == Mode::Shadow => Ok(Decision::ShadowDeny(denial)),
        Err(denial) => Err(denial),
    }
}

/// A matched route's own checks, in order: method, restriction, scopes.
fn judge(
    policy: &Policy,
    route: &Route,
    method: &Method,
    identity: Option<&Identity>,
) -> Result<(), Denial> {
    if !route.allows_method(method) {
        return Err(Denial::MethodNotAllowed {
            allow: route.allow.clone(),
        });
    }
    match &route.access {
        Access::Restricted(restriction) => Err(Denial::Restricted {
            description: policy
                .restriction_description(restriction)
                .unwrap_or("never reachable through the gateway")
                .to_owned(),
            restriction: restriction.clone(),
        }),
        Access::Scopes(_) if route.public => Ok(()),
        Access::Scopes(required) => {
            issuer_allowed(route, identity)?;
            let granted = identity.map(|identity| &identity.scopes);
            let missing: Vec<String> = required
                .iter()
                .filter(|scope| !granted.is_some_and(|granted| granted.contains(scope)))
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

/// The route's `issuers:` lists the configured issuer the token came from (SPEC "More than one
/// issuer"): a staging token never works on a production route, whatever its scopes.
fn issuer_allowed(route: &Route, identity: Option<&Identity>) -> Result<(), Denial> {
    let Some(allowed) = &route.issuers else {
        return Ok(());
    };
    let from = identity.map_or("", |identity| &*identity.issuer_name);
    if allowed.iter().any(|name| name == from) {
        Ok(())
    } else {
        Err(Denial::IssuerNotAllowed {
            issuer: if from.is_empty() {
                "(none)".to_owned()
            } else {
                from.to_owned()
            },
        })
    }
}
