//! `gateway explain`: which route matches, what it needs, and with a token the decision and why.
//!
//! Uses `judge`, the data plane's decision order, so what `explain` says is what a request would
//! get. With `--token`, the token is verified by `auth::explain_token`
//! (the data plane's checks, one JWKS fetch) and its scopes are judged. Exit 0 when an
//! explanation was printed, whatever the decision; 1 when the config, policy or arguments are
//! unusable.

use std::path::Path;
use std::process::ExitCode;

use http::Method;

use super::check::{load_all, report};
use super::explain_binding as binding;
use super::judge::{judge, judge_bound};
use crate::identity::{Identity, Scopes};
use crate::policy::{Access, Route, normalise};

/// What `explain` was given to prove a bound token's key: `--dpop PROOF`, `--cert FILE`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Proofs<'a> {
    pub dpop: Option<&'a str>,
    pub cert: Option<&'a Path>,
}

pub async fn run(
    config: &Path,
    method: &str,
    path: &str,
    token: Option<&str>,
    proofs: Proofs<'_>,
) -> ExitCode {
    let Ok(method) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
        eprintln!("error: `{method}` is not an HTTP method; write e.g. GET or POST");
        return ExitCode::FAILURE;
    };
    let (config, policy) = match load_all(config) {
        Ok(loaded) => loaded,
        Err(problems) => {
            report(&problems);
            return ExitCode::FAILURE;
        }
    };
    println!("request:    {method} {path}");
    let normalised = match normalise(path) {
        Ok(n) => n,
        Err(e) => {
            println!("decision:   400 Bad Request: {e}");
            return ExitCode::SUCCESS;
        }
    };
    println!("normalised: {normalised}");
    match policy.route_for(&normalised, &method) {
        Some(route) => describe(route),
        None => println!(
            "route:      none (no route matches this path: 404 for an authenticated caller)"
        ),
    }

    let Some(token) = token else {
        let anonymous = judge(&policy, &method, path, None);
        println!("no token:   {} {}", anonymous.status(), anonymous.reason());
        if anonymous.status() == 401 {
            // The best an authenticated caller can do: a token granting what the route needs.
            let (best, granting) = match anonymous.route.map(|r| &r.access) {
                Some(Access::Scopes(s)) if !s.is_empty() => {
                    (s.iter().cloned().collect::<Scopes>(), s.join(" "))
                }
                _ => (Scopes::new(), "any scopes".to_owned()),
            };
            let best_case = judge(
                &policy,
                &method,
                path,
                Some(&Identity::for_policy_test(best)),
            );
            println!(
                "with token: {} {} (a valid token granting {granting}; try --token)",
                best_case.status(),
                best_case.reason()
            );
        }
        return ExitCode::SUCCESS;
    };

    match crate::auth::explain_token(&config.auth, token).await {
        Ok(identity) => {
            let claims = serde_json::to_string_pretty(identity.claims.map())
                .unwrap_or_else(|_| "(claims could not be printed)".to_owned());
            println!("token:      valid (key id {})", identity.key_id);
            println!("subject:    {}", identity.subject);
            if let Some(client) = &identity.client_id {
                println!("client id:  {client}");
            }
            println!("claims:     {}", claims.replace('\n', "\n            "));
            println!("granted:    {}", granted_text(&identity.scopes));
            let proved = match binding::explain(
                &config,
                &identity,
                token,
                &method,
                &normalised,
                proofs,
            ) {
                Ok(proved) => proved,
                Err(error) => {
                    let error = crate::error::GatewayError::Auth(error);
                    println!(
                        "decision:   {} {error} ({}; the data plane refuses it before any route is consulted)",
                        error.status().as_u16(),
                        error.reason()
                    );
                    return ExitCode::SUCCESS;
                }
            };
            let judgement = judge_bound(
                &policy,
                &method,
                path,
                Some(&identity),
                config.binding.require_binding,
                proved,
            );
            println!("decision:   {} {}", judgement.status(), judgement.reason());
        }
        // The data plane answers 503 (with Retry-After) while it has no key set; so does this.
        Err(crate::auth::AuthError::KeysUnavailable(why)) => {
            let status = crate::error::GatewayError::Auth(crate::auth::AuthError::KeysNotLoaded)
                .status()
                .as_u16();
            println!("token:      not checked: the signing keys could not be loaded: {why}");
            println!(
                "decision:   {status} (no key set has loaded, so the data plane answers every token with {status} and Retry-After; check [auth] jwks_url and that this machine can reach it)"
            );
        }
        Err(e) => {
            let status = crate::error::GatewayError::Auth(e.clone())
                .status()
                .as_u16();
            println!("token:      rejected: {e}");
            println!(
                "decision:   {status} (the token fails verification, so no route is consulted)"
            );
        }
    }
    ExitCode::SUCCESS
}

fn granted_text(scopes: &Scopes) -> String {
    if scopes.is_empty() {
        "(no scopes)".to_owned()
    } else {
        scopes.to_string()
    }
}

fn describe(route: &Route) {
    println!("route:      {}", route.pattern);
    let methods = match &route.methods {
        None => "any".to_owned(),
        Some(_) => route.allow.clone(),
    };
    println!("methods:    {methods}");
    let requires = match &route.access {
        Access::Restricted(r) => format!("restricted by {r}: never reachable through the gateway"),
        Access::Scopes(_) if route.public => "nothing: public route".to_owned(),
        Access::Scopes(s) if s.is_empty() => "any valid token".to_owned(),
        Access::Scopes(s) => format!("every one of: {}", s.join(" ")),
    };
    println!("requires:   {requires}");
    if route.binding != crate::identity::Binding::None {
        println!(
            "binding:    {} (a sender-constrained token, checked with the token: 401 otherwise)",
            route.binding.as_str()
        );
    }
    if route.mode == crate::policy::Mode::Shadow {
        println!("mode:       shadow (denials are logged and counted, but forwarded)");
    }
}
