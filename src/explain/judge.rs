//! The data plane's decisions without the network, for `gateway test` and `gateway explain`.
//!
//! The same steps in the same order as `proxy::pipeline`: normalise the path (400), match the
//! route, then `policy::decide` with the identity the caller brings (a verified token for
//! `explain --token`, a case's scopes for `test`, none for "no token"). The status always comes
//! from `GatewayError`, the one error mapping the data plane answers with. Rate limits and body
//! limits (429, 413) depend on traffic and are not modelled.

use http::Method;

use crate::auth::binding::demands_met;
use crate::identity::{Binding, Identity};
use crate::policy::{Access, Decision, Denial, Policy, Route, decide, normalise};
use crate::proxy::error::GatewayError;

/// What the gateway would answer, and why.
pub struct Judgement<'p> {
    /// The normalised path, when normalisation succeeded.
    pub normalised: Option<String>,
    /// The route that judged the request.
    pub route: Option<&'p Route>,
    pub method: Method,
    pub outcome: Outcome,
}

pub enum Outcome {
    /// Forwarded (shadow mode included).
    Forwarded(Decision),
    /// The policy refused; the error is what the client sees.
    Denied(Denial, GatewayError),
    /// The path could not be normalised (400).
    BadPath(GatewayError),
    /// The token is not bound as `[auth] require_binding` or the route's `binding:` demands
    /// (401, before the router answers).
    Unbound(GatewayError),
}

/// Judges `method` `path` for a caller whose token verified to `identity` (`None`: no token).
pub fn judge<'p>(
    policy: &'p Policy,
    method: &Method,
    path: &str,
    identity: Option<&Identity>,
) -> Judgement<'p> {
    let normalised = match normalise(path) {
        Ok(normalised) => normalised,
        Err(error) => {
            return Judgement {
                normalised: None,
                route: None,
                method: method.clone(),
                outcome: Outcome::BadPath(error.into()),
            };
        }
    };
    let route = policy.route_for(&normalised, method);
    let outcome = match decide(policy, route, method, &normalised, identity) {
        Ok(decision) => Outcome::Forwarded(decision),
        Err(denial) => {
            let error = GatewayError::denied(denial.clone(), method, &normalised, route);
            Outcome::Denied(denial, error)
        }
    };
    Judgement {
        normalised: Some(normalised),
        route,
        method: method.clone(),
        outcome,
    }
}

/// `judge`, then the binding demands the data plane checks while authenticating (phase 4):
/// `[auth] require_binding` (`required`) and the route's `binding:`, against what the caller
/// proved (`dpop`: a valid proof for its DPoP-bound token; `mtls`: the certificate its token
/// is bound to). A refusal is 401 and outranks 404/405/403, as on the data plane.
pub fn judge_bound<'p>(
    policy: &'p Policy,
    method: &Method,
    path: &str,
    identity: Option<&Identity>,
    required: Binding,
    (dpop, mtls): (bool, bool),
) -> Judgement<'p> {
    let mut judgement = judge(policy, method, path, identity);
    let reads_token = identity.is_some()
        && !matches!(judgement.outcome, Outcome::BadPath(_))
        && !judgement.route.is_some_and(|route| route.public);
    if reads_token {
        let demand = judgement.route.map_or(Binding::None, |route| route.binding);
        if let Err(error) = demands_met(required, demand, dpop, mtls) {
            judgement.outcome = Outcome::Unbound(GatewayError::Auth(error));
        }
    }
    judgement
}

impl Judgement<'_> {
    /// The status the client would see.
    pub fn status(&self) -> u16 {
        match &self.outcome {
            Outcome::Forwarded(_) => 200,
            Outcome::Denied(_, error) | Outcome::BadPath(error) | Outcome::Unbound(error) => {
                error.status().as_u16()
            }
        }
    }

    /// The short reason the data plane logs for this outcome (the access line's `reason`):
    /// `allowed`, or the reason of the error it refuses (or, in shadow mode, would refuse) with.
    pub fn code(&self) -> &'static str {
        match &self.outcome {
            Outcome::Forwarded(Decision::Allow) => "allowed",
            Outcome::Forwarded(Decision::ShadowDeny(denial)) => GatewayError::denied(
                denial.clone(),
                &self.method,
                self.normalised.as_deref().unwrap_or_default(),
                self.route,
            )
            .reason(),
            Outcome::Denied(_, error) | Outcome::BadPath(error) | Outcome::Unbound(error) => {
                error.reason()
            }
        }
    }

    /// Why, in a sentence.
    pub fn reason(&self) -> String {
        match &self.outcome {
            Outcome::BadPath(error) | Outcome::Denied(Denial::NoRoute, error) => error.to_string(),
            Outcome::Unbound(error) => format!("{error} ({})", error.reason()),
            Outcome::Denied(Denial::Unauthenticated, _) => {
                "no token: every non-public request is authenticated before routing".to_owned()
            }
            Outcome::Denied(denial, _) => denial.to_string(),
            Outcome::Forwarded(Decision::Allow) => match self.route {
                Some(route) => allowed_reason(route),
                None => "allowed".to_owned(),
            },
            Outcome::Forwarded(Decision::ShadowDeny(denial)) => {
                let enforced = GatewayError::denied(
                    denial.clone(),
                    &self.method,
                    self.normalised.as_deref().unwrap_or_default(),
                    self.route,
                );
                format!(
                    "shadow mode: forwarded; enforcement would answer {} ({denial})",
                    enforced.status().as_u16()
                )
            }
        }
    }
}

fn allowed_reason(route: &Route) -> String {
    let reason = match &route.access {
        Access::Scopes(_) if route.public => format!("public route {}", route.pattern),
        Access::Scopes(s) if s.is_empty() => {
            format!("route {} needs any valid token", route.pattern)
        }
        Access::Scopes(s) => format!("route {} needs {}: granted", route.pattern, s.join(" ")),
        Access::Restricted(r) => format!("restricted by {r}"),
    };
    match route.conditions.len() {
        0 => reason,
        1 => format!("{reason}; its condition holds"),
        n => format!("{reason}; all {n} conditions hold"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::path::Path;

    use super::*;
    use crate::identity::Scopes;
    use crate::policy::Access;

    const CLIENTCO: &str = include_str!("../../policies/clientco.yaml");

    fn policy(src: &str) -> Policy {
        Policy::from_yaml_str(src, Path::new("p.yaml")).unwrap()
    }

    fn caller(list: &[&str]) -> Identity {
        Identity::for_policy_test(list.iter().copied().collect::<Scopes>())
    }

    fn status(p: &Policy, m: Method, path: &str, caller: Option<&Identity>) -> u16 {
        judge(p, &m, path, caller).status()
    }

    #[test]
    fn clientco_decisions() {
        let p = policy(CLIENTCO);
        let all = caller(&["ingest:data", "read:forecast", "read:inventory"]);
        let all = Some(&all);
        let none = caller(&[]);
        assert_eq!(status(&p, Method::GET, "/forecast", all), 200);
        assert_eq!(status(&p, Method::HEAD, "/forecast", all), 200);
        assert_eq!(status(&p, Method::POST, "/forecast", all), 405);
        assert_eq!(status(&p, Method::GET, "/forecast", Some(&none)), 403);
        assert_eq!(status(&p, Method::GET, "/forecast", None), 401);
        assert_eq!(status(&p, Method::GET, "/nope", None), 401);
        assert_eq!(status(&p, Method::GET, "/nope", all), 404);
        assert_eq!(status(&p, Method::GET, "/forecast/", all), 404);
        assert_eq!(status(&p, Method::GET, "/models/x", all), 403);
        assert_eq!(status(&p, Method::GET, "/models", all), 403);
        assert_eq!(status(&p, Method::GET, "/forecast/../models/x", all), 403);
        assert_eq!(
            status(&p, Method::GET, "/forecast/%2e%2e/pipeline/run", all),
            403
        );
        assert_eq!(status(&p, Method::GET, "/models%2Fx", all), 400);
        assert_eq!(status(&p, Method::POST, "/ingest", all), 200);
    }

    #[test]
    fn denial_descriptions_are_client_facing() {
        let p = policy(CLIENTCO);
        let forecast = p.route_for("/forecast", &Method::GET);
        let inventory_only = caller(&["read:inventory"]);
        assert_eq!(
            decide(
                &p,
                forecast,
                &Method::GET,
                "/forecast",
                Some(&inventory_only)
            )
            .unwrap_err()
            .to_string(),
            "missing scope read:forecast"
        );
        assert_eq!(
            decide(
                &p,
                forecast,
                &Method::DELETE,
                "/forecast",
                Some(&caller(&[]))
            ),
            Err(Denial::MethodNotAllowed {
                allow: "GET, HEAD".into()
            })
        );
    }

    #[test]
    fn same_shape_with_disjoint_methods_is_allowed_and_allow_is_the_union() {
        let p = policy(
            "permissions: {r: read, w: write}
routes:
  - {path: '/items/{id}', methods: [GET], scopes: [r]}
  - {path: '/items/{item}', methods: [PUT, DELETE], scopes: [w]}
",
        );
        let r = p.route_for("/items/7", &Method::PUT).unwrap();
        assert_eq!(r.access, Access::Scopes(vec!["w".into()]));
        let r = p.route_for("/items/7", &Method::GET).unwrap();
        assert_eq!(r.access, Access::Scopes(vec!["r".into()]));
        let denied = judge(&p, &Method::POST, "/items/7", Some(&caller(&["r", "w"])));
        assert_eq!(denied.status(), 405);
        assert!(
            denied.reason().contains("DELETE, GET, HEAD, PUT"),
            "{}",
            denied.reason()
        );
    }

    #[test]
    fn public_routes_need_no_token_but_check_methods() {
        let p = policy("routes:\n  - {path: /health, methods: [GET], public: true}\n");
        assert_eq!(status(&p, Method::GET, "/health", None), 200);
        assert_eq!(status(&p, Method::POST, "/health", None), 405);
    }

    #[test]
    fn shadow_mode_forwards_and_says_what_enforcement_would_do() {
        let p = policy(
            "permissions: {r: read}\nroutes:\n  - {path: /beta, scopes: [r], mode: shadow}\n",
        );
        let v = judge(&p, &Method::GET, "/beta", Some(&caller(&[])));
        assert_eq!(v.status(), 200);
        assert!(v.reason().contains("would answer 403"), "{}", v.reason());
    }

    #[test]
    fn binding_demands_are_401_before_the_router_and_never_on_public_routes() {
        let p = policy(
            "permissions: {r: read}\nroutes:\n  - {path: /bound, scopes: [r], binding: dpop}\n  - {path: /any, scopes: [r], binding: any}\n  - {path: /open, public: true}\n  - {path: /plain, scopes: [r]}\n",
        );
        let who = caller(&["r"]);
        let status = |path: &str, required: Binding, proved: (bool, bool)| {
            judge_bound(&p, &Method::GET, path, Some(&who), required, proved).status()
        };
        assert_eq!(status("/bound", Binding::None, (false, false)), 401);
        assert_eq!(status("/bound", Binding::None, (false, true)), 401);
        assert_eq!(status("/bound", Binding::None, (true, false)), 200);
        assert_eq!(status("/any", Binding::None, (false, true)), 200);
        assert_eq!(status("/open", Binding::Mtls, (false, false)), 200);
        // A route cannot loosen the global demand.
        assert_eq!(status("/plain", Binding::Mtls, (false, false)), 401);
        assert_eq!(status("/plain", Binding::Mtls, (false, true)), 200);
        assert_eq!(status("/bound", Binding::Mtls, (true, false)), 401);
        // 401 outranks 404 and 405, as authentication runs before the router.
        assert_eq!(status("/nowhere", Binding::Dpop, (false, false)), 401);
        let judgement = judge_bound(
            &p,
            &Method::GET,
            "/bound",
            Some(&who),
            Binding::None,
            (false, false),
        );
        assert!(
            judgement.reason().contains("binding_required"),
            "{}",
            judgement.reason()
        );
    }

    /// The data plane answers 401 before a shadow route is consulted; so does the judgement.
    #[test]
    fn shadow_mode_does_not_forward_a_request_without_a_token() {
        let p = policy(
            "permissions: {r: read}\nroutes:\n  - {path: /beta, scopes: [r], mode: shadow}\n",
        );
        assert_eq!(status(&p, Method::GET, "/beta", None), 401);
    }
}
