//! The one decision: may this caller do this on this route? (spec, "Decisions, in order", steps
//! 2-4 as far as the policy knows them).
//!
//! [`decide`] is pure: a matched route (or none), the method, the normalised path and the
//! verified identity (or none) in, [`Decision`] or [`Denial`] out. The data plane's `authorise` phase, `gateway test` and
//! `gateway explain` all call it, and turn a `Denial` into a status through the one error
//! mapping (`GatewayError`), so the three cannot disagree.
//!
//! Order: a route that needs a token but got no identity (only offline callers get here: the
//! data plane authenticates first) -> no route (404) -> method (405) -> restricted (403) ->
//! issuer not allowed by the route's `issuers:` (403) -> missing scope (403) -> a `when:`
//! condition that does not hold (403 `access_denied`). A `mode: shadow` route turns a denial into `Decision::ShadowDeny`: the
//! request is forwarded, and the denial logged and counted.

use http::Method;

use super::conditions::Outcome;
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
    /// 403 `access_denied`; a `when:` condition of the route does not hold. The description
    /// names the claim and what it must be, never a value written in the policy.
    #[error("condition failed: claim `{claim}` must {requirement}, and {cause}")]
    ConditionFailed {
        claim: String,
        requirement: String,
        cause: String,
    },
}

/// Decides one request. `route` is `policy.route_for(normalised_path, method)`; `identity` is
/// the verified token's identity, `None` when no token was verified (public routes never read
/// one, so their identity is ignored). `normalised_path` gives the route's `{name}` values to
/// its conditions.
pub fn decide(
    policy: &Policy,
    route: Option<&Route>,
    method: &Method,
    normalised_path: &str,
    identity: Option<&Identity>,
) -> Result<Decision, Denial> {
    let needs_token = route.is_none_or(|route| !route.public);
    if needs_token && identity.is_none() {
        return Err(Denial::Unauthenticated);
    }
    let Some(route) = route else {
        return Err(Denial::NoRoute);
    };
    match judge(policy, route, method, normalised_path, identity) {
        Ok(()) => Ok(Decision::Allow),
        Err(denial) if route.mode == Mode::Shadow => Ok(Decision::ShadowDeny(denial)),
        Err(denial) => Err(denial),
    }
}

/// A matched route's own checks, in order: method, restriction, scopes, conditions.
fn judge(
    policy: &Policy,
    route: &Route,
    method: &Method,
    normalised_path: &str,
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
    }?;
    conditions(route, normalised_path, identity)
}

/// Every `when:` condition, in file order; the first that does not hold denies. Without an
/// identity (public routes, which cannot have conditions) there is nothing to check.
fn conditions(
    route: &Route,
    normalised_path: &str,
    identity: Option<&Identity>,
) -> Result<(), Denial> {
    let Some(identity) = identity.filter(|_| !route.conditions.is_empty()) else {
        return Ok(());
    };
    let claims = identity.claims.map();
    for condition in &route.conditions {
        let outcome = condition.evaluate(claims, normalised_path);
        if outcome != Outcome::Holds {
            return Err(Denial::ConditionFailed {
                claim: condition.claim.clone(),
                requirement: condition.requirement(),
                cause: outcome.cause(&condition.claim),
            });
        }
    }
    Ok(())
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;
    use crate::identity::Scopes;
    use crate::policy::normalise;

    const TENANTS: &str = "\
permissions: {read:forecast: read}
routes:
  - path: /tenants/{tenant}/forecast
    scopes: [read:forecast]
    when:
      - {claim: 'https://saasco/tenant', equals: '{tenant}'}
      - {claim: azp, in: [acme-prod, globex-prod]}
";

    /// What `method path` gets from a token with `read:forecast` and these claims.
    fn decision(path: &str, claims: serde_json::Value) -> Result<Decision, Denial> {
        let policy = Policy::from_yaml_str(TENANTS, Path::new("p.yaml")).unwrap();
        let path = normalise(path).unwrap();
        let identity = Identity::for_policy_test(["read:forecast"].into_iter().collect::<Scopes>())
            .with_claims(claims.as_object().unwrap());
        let route = policy.route_for(&path, &Method::GET);
        decide(&policy, route, &Method::GET, &path, Some(&identity))
    }

    fn acme() -> serde_json::Value {
        json!({"https://saasco/tenant": "acme", "azp": "acme-prod"})
    }

    #[test]
    fn the_tenant_is_the_normalised_segment() {
        assert_eq!(
            decision("/tenants/acme/forecast", acme()),
            Ok(Decision::Allow)
        );
        assert_eq!(
            decision("/tenants/ac%6De/forecast", acme()),
            Ok(Decision::Allow)
        );
        assert_eq!(
            decision("/tenants/globex/../acme/forecast", acme()),
            Ok(Decision::Allow)
        );
        assert!(decision("/tenants/acme/../globex/forecast", acme()).is_err());
        assert!(decision("/tenants/acme/%2e%2e/globex/forecast", acme()).is_err());
    }

    /// RFC 3986 §6.2.2.1: an escape of a reserved character is kept, in upper-case hex, so
    /// `%3a` and `%3A` are the same tenant, and neither is `:`.
    #[test]
    fn reserved_escapes_compare_in_upper_case_hex() {
        let tenant = |t: &str| json!({"https://saasco/tenant": t, "azp": "acme-prod"});
        assert_eq!(
            decision("/tenants/a%3ab/forecast", tenant("a%3Ab")),
            Ok(Decision::Allow)
        );
        assert_eq!(
            decision("/tenants/a%3Ab/forecast", tenant("a%3Ab")),
            Ok(Decision::Allow)
        );
        assert!(decision("/tenants/a%3ab/forecast", tenant("a%3ab")).is_err());
        assert!(decision("/tenants/a%3Ab/forecast", tenant("a:b")).is_err());
    }

    #[test]
    fn a_failed_condition_names_the_claim_and_never_a_value() {
        let denial = decision("/tenants/globex/forecast", acme()).unwrap_err();
        let text = denial.to_string();
        assert_eq!(
            text,
            "condition failed: claim `https://saasco/tenant` must equal `{tenant}` (from the path), \
             and the token's `https://saasco/tenant` claim does not"
        );
        let denial = decision(
            "/tenants/acme/forecast",
            json!({"https://saasco/tenant": "acme", "azp": "initech"}),
        )
        .unwrap_err();
        let text = denial.to_string();
        assert!(
            text.contains("claim `azp` must be one of the 2 values"),
            "{text}"
        );
        for secret in ["globex", "acme-prod", "initech"] {
            assert!(!text.contains(secret), "{text}");
        }
    }

    #[test]
    fn missing_and_mistyped_claims_fail() {
        let missing = decision("/tenants/acme/forecast", json!({"azp": "acme-prod"}));
        assert!(
            matches!(&missing, Err(Denial::ConditionFailed { cause, .. }) if cause.contains("has no")),
            "{missing:?}"
        );
        let list = json!({"https://saasco/tenant": ["acme"], "azp": "acme-prod"});
        assert!(decision("/tenants/acme/forecast", list).is_err());
        let number = json!({"https://saasco/tenant": 42, "azp": "acme-prod"});
        assert!(decision("/tenants/42/forecast", number).is_err());
    }

    /// Decision order: the scope is checked before the conditions.
    #[test]
    fn a_missing_scope_is_reported_before_a_condition() {
        let policy = Policy::from_yaml_str(TENANTS, Path::new("p.yaml")).unwrap();
        let identity =
            Identity::for_policy_test(Scopes::new()).with_claims(acme().as_object().unwrap());
        let path = "/tenants/globex/forecast";
        let route = policy.route_for(path, &Method::GET);
        assert!(matches!(
            decide(&policy, route, &Method::GET, path, Some(&identity)),
            Err(Denial::InsufficientScope { .. })
        ));
    }
}
