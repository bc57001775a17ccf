//! What `gateway explain` and the console's Try page say: which route matches, what it needs, and
//! with a token the decision and why. Below both (`commands`, `console`), so neither imports the
//! other.
//!
//! Uses `judge`, the data plane's decision order, so what `explain` says is what a request would
//! get. With `--token`, the token is verified by `auth::explain_token` (the data plane's checks,
//! one fetch of the JWKS of the issuer its `iss` names, none for an unknown `iss`), the issuer
//! that verified it is named (or the trusted ones listed when none has its `iss`), its issuer
//! and scopes are judged, and each of the route's `when:` conditions is printed with its
//! outcome for that token. `binding` checks the proofs of a bound token (`--dpop`, `--cert`).

mod binding;
pub mod judge;

use std::path::Path;

use http::Method;

use crate::config::Config;
use crate::diagnostic::shown;
use crate::identity::{Identity, Scopes};
use crate::policy::{Access, ConditionOutcome, Policy, Route, normalise};
use crate::proxy::error::GatewayError;
use judge::{judge, judge_bound};

/// What `explain` was given to prove a bound token's key: `--dpop PROOF`, `--cert FILE`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Proofs<'a> {
    pub dpop: Option<&'a str>,
    pub cert: Option<&'a Path>,
}

/// What `explain` says, line by line, and the status its decision concludes with. The CLI prints
/// the lines; the console's Try page shows them (the same function, so the same explanation).
#[derive(Debug, Default)]
pub struct Explanation {
    pub lines: Vec<String>,
    /// The status the data plane would answer, when a decision was reached (with a token, or
    /// without one).
    pub status: Option<u16>,
    /// The short reason the data plane would log with that status (the access line's and the
    /// decisions page's `reason`: `allowed`, `insufficient_scope`, ...).
    pub reason: Option<&'static str>,
}

impl Explanation {
    pub(super) fn say(&mut self, line: impl Into<String>) {
        let line = line.into();
        self.lines.push(line);
    }
}

/// Explains `method` `path` (with `token` and its `proofs`, if given) against `config` and
/// `policy`, as the data plane would decide it.
pub async fn explain(
    config: &Config,
    policy: &Policy,
    method: &Method,
    path: &str,
    token: Option<&str>,
    proofs: Proofs<'_>,
) -> Explanation {
    let mut out = Explanation::default();
    let out = &mut out;
    out.say(format!("request:    {method} {path}"));
    let normalised = match normalise(path) {
        Ok(n) => n,
        Err(e) => {
            out.status = Some(400);
            out.reason = Some(GatewayError::from(e.clone()).reason());
            out.say(format!("decision:   400 Bad Request: {e}"));
            return std::mem::take(out);
        }
    };
    out.say(format!("normalised: {normalised}"));
    match policy.route_for(&normalised, method) {
        Some(route) => describe(out, config, route, &normalised),
        // Naming the file: a path of another policy (the multi-tenant example's) is the usual
        // cause, and the fix is GATEWAY_POLICY_FILE or the config's `[policy] file`.
        None => out.say(format!(
            "route:      none (no route of {} matches this path: 404 for an authenticated caller)",
            shown(&policy.source)
        )),
    }

    let Some(token) = token else {
        let anonymous = judge(policy, method, path, None);
        out.status = Some(anonymous.status());
        out.reason = Some(anonymous.code());
        out.say(format!(
            "no token:   {} {}",
            anonymous.status(),
            anonymous.reason()
        ));
        if anonymous.status() == 401 {
            // The best an authenticated caller can do: a token granting what the route needs.
            let (best, granting) = match anonymous.route.map(|r| &r.access) {
                Some(Access::Scopes(s)) if !s.is_empty() => {
                    (s.iter().cloned().collect::<Scopes>(), s.join(" "))
                }
                _ => (Scopes::new(), "any scopes".to_owned()),
            };
            // ... and whose claims meet the route's conditions on this path ...
            let conditions = anonymous.route.map_or(&[][..], |r| r.conditions.as_slice());
            let claims: serde_json::Map<String, serde_json::Value> = conditions
                .iter()
                .map(|c| (c.claim.clone(), c.satisfying_value(&normalised)))
                .collect();
            let mut best = Identity::for_policy_test(best).with_claims(&claims);
            // ... from an issuer the route accepts.
            if let Some(issuer) = anonymous
                .route
                .and_then(|r| r.issuers.as_ref())
                .and_then(|issuers| issuers.first())
                .or_else(|| config.auth.issuers.first().map(|i| &i.name))
            {
                best.issuer_name = issuer.as_str().into();
            }
            let best_case = judge(policy, method, path, Some(&best));
            let meeting = match conditions.len() {
                0 => String::new(),
                1 => " whose claims meet the condition".to_owned(),
                n => format!(" whose claims meet the {n} conditions"),
            };
            out.say(format!(
                "with token: {} {} (a valid token granting {granting}{meeting}; try --token)",
                best_case.status(),
                best_case.reason()
            ));
        }
        return std::mem::take(out);
    };

    match crate::auth::explain_token(&config.auth, token).await {
        Ok(identity) => {
            let claims = serde_json::to_string_pretty(identity.claims.map())
                .unwrap_or_else(|_| "(claims could not be printed)".to_owned());
            out.say(format!("token:      valid (key id {})", identity.key_id));
            out.say(format!(
                "issuer:     {} ({}), whose keys verified it",
                identity.issuer_name, identity.issuer
            ));
            out.say(format!("subject:    {}", identity.subject));
            if let Some(client) = &identity.client_id {
                out.say(format!("client id:  {client}"));
            }
            out.say(format!(
                "claims:     {}",
                claims.replace('\n', "\n            ")
            ));
            out.say(format!("granted:    {}", granted_text(&identity.scopes)));
            let proved = match binding::explain(
                out,
                config,
                &identity,
                token,
                method,
                &normalised,
                proofs,
            ) {
                Ok(proved) => proved,
                Err(error) => {
                    let error = GatewayError::Auth(error);
                    out.status = Some(error.status().as_u16());
                    out.reason = Some(error.reason());
                    out.say(format!(
                        "decision:   {} {error} ({}; the data plane refuses it before any route is consulted)",
                        error.status().as_u16(),
                        error.reason()
                    ));
                    return std::mem::take(out);
                }
            };
            let judgement = judge_bound(
                policy,
                method,
                path,
                Some(&identity),
                config.binding.require_binding,
                proved,
            );
            if let Some(route) = judgement.route {
                print_outcomes(out, route, &normalised, &identity);
            }
            out.status = Some(judgement.status());
            out.reason = Some(judgement.code());
            out.say(format!(
                "decision:   {} {}",
                judgement.status(),
                judgement.reason()
            ));
        }
        // The data plane answers 503 (with Retry-After) while it has no key set; so does this.
        Err(crate::auth::AuthError::KeysUnavailable(why)) => {
            let error = GatewayError::Auth(crate::auth::AuthError::KeysNotLoaded);
            let status = error.status().as_u16();
            out.status = Some(status);
            out.reason = Some(error.reason());
            out.say(format!(
                "token:      not checked: the signing keys could not be loaded: {why}"
            ));
            out.say(format!(
                "decision:   {status} (no key set has loaded, so the data plane answers every token with {status} and Retry-After; check [auth] jwks_url and that this machine can reach it)"
            ));
        }
        Err(e) => {
            let error = GatewayError::Auth(e.clone());
            let status = error.status().as_u16();
            out.status = Some(status);
            out.reason = Some(error.reason());
            out.say(format!("token:      rejected: {e}"));
            if let crate::auth::AuthError::UnknownIssuer { .. } = e {
                // The operator's tool may say what the data plane does not tell a client.
                let trusted: Vec<String> = config
                    .auth
                    .issuers
                    .iter()
                    .map(|i| format!("{} ({})", i.name, i.issuer))
                    .collect();
                out.say(format!(
                    "issuers:    none verified it; this gateway trusts {}",
                    trusted.join(", ")
                ));
            }
            out.say(format!(
                "decision:   {status} (the token fails verification, so no route is consulted)"
            ));
        }
    }
    std::mem::take(out)
}

fn granted_text(scopes: &Scopes) -> String {
    if scopes.is_empty() {
        "(no scopes)".to_owned()
    } else {
        scopes.to_string()
    }
}

fn describe(out: &mut Explanation, config: &Config, route: &Route, normalised: &str) {
    out.say(format!("route:      {}", route.pattern));
    let methods = match &route.methods {
        None => "any".to_owned(),
        Some(_) => route.allow.clone(),
    };
    out.say(format!("methods:    {methods}"));
    let requires = match &route.access {
        Access::Restricted(r) => format!("restricted by {r}: never reachable through the gateway"),
        Access::Scopes(_) if route.public => "nothing: public route".to_owned(),
        Access::Scopes(s) if s.is_empty() => "any valid token".to_owned(),
        Access::Scopes(s) => format!("every one of: {}", s.join(" ")),
    };
    out.say(format!("requires:   {requires}"));
    if let Some(issuers) = &route.issuers {
        out.say(format!(
            "issuers:    tokens from {} only",
            issuers.join(", ")
        ));
    }
    if route.binding != crate::identity::Binding::None {
        out.say(format!(
            "binding:    {} (a sender-constrained token, checked with the token: 401 otherwise)",
            route.binding.as_str()
        ));
    }
    if route.mode == crate::policy::Mode::Shadow {
        out.say("mode:       shadow (denials are logged and counted, but forwarded)");
    }
    for (i, condition) in route.conditions.iter().enumerate() {
        let label = if i == 0 { "when:" } else { "" };
        out.say(format!(
            "{label:<12}{}. {condition}{}",
            i + 1,
            on_this_path(condition, normalised)
        ));
    }
    if !matches!(route.access, Access::Restricted(_)) {
        out.say(format!("upstream:   {}", pool_text(config, route)));
    }
}

/// The pool a request of `route` is forwarded to and its endpoints: `default` (`[upstream]`)
/// when the route names none.
fn pool_text(config: &Config, route: &Route) -> String {
    let name = route
        .upstream
        .as_deref()
        .unwrap_or(crate::constants::DEFAULT_POOL_NAME);
    match config.pools().find(|pool| pool.name == name) {
        Some(pool) => format!("{name} ({})", pool.describe()),
        None => name.to_owned(),
    }
}

/// `(= "acme" on this path)` for a condition whose values name path parameters.
fn on_this_path(condition: &crate::policy::Condition, normalised: &str) -> String {
    let values: Vec<String> = condition
        .values()
        .iter()
        .filter(|v| v.has_params())
        .map(|v| format!("{:?}", v.substitute(normalised)))
        .collect();
    if values.is_empty() {
        String::new()
    } else {
        format!(" (= {} on this path)", values.join(", "))
    }
}

/// Each of the route's conditions with its outcome for the verified token, in the order the
/// decision checks them.
fn print_outcomes(out: &mut Explanation, route: &Route, normalised: &str, identity: &Identity) {
    let claims = identity.claims.map();
    for (i, condition) in route.conditions.iter().enumerate() {
        let label = if i == 0 { "conditions:" } else { "" };
        let outcome = match condition.evaluate(claims, normalised) {
            ConditionOutcome::Holds => "holds".to_owned(),
            // The new user's usual cause: the token was requested without an Organization.
            ConditionOutcome::Missing if condition.claim == "org_id" => format!(
                "fails: {}; Auth0 sets it only in a token requested for an Organization \
                 (`organization` in the token request: gateway token --organization ORG)",
                ConditionOutcome::Missing.cause(&condition.claim)
            ),
            failed => {
                let value = claims
                    .get(&condition.claim)
                    .map(|v| format!(" ({v})"))
                    .unwrap_or_default();
                format!("fails: {}{value}", failed.cause(&condition.claim))
            }
        };
        out.say(format!("{label:<12}{}. {condition}: {outcome}", i + 1));
    }
}
