//! The issuer registry: every configured issuer with its rules and its own key store, and the
//! one lookup from a token's `iss` to its issuer (SPEC "More than one issuer").
//!
//! The lookup is an exact match in a hash map, so its cost does not grow with the number of
//! issuers, and it runs before any key is looked up: an `iss` no issuer has is refused without
//! a JWKS fetch, and a `kid` is only ever looked up in the key set of the issuer the token
//! names, so the same `kid` at two issuers are two different keys. Each issuer's key store has
//! its own refresh task, cool-down and stale-if-error state: one issuer's outage never touches
//! another's tokens.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::task::JoinHandle;

use super::AuthError;
use super::error::quote;
use super::jwks::{self, KeyStore};
use super::verify::Rules;
use crate::config::IssuerConfig;
use crate::constants::ISSUER_LABEL_UNKNOWN;
use crate::telemetry::Metrics;

/// One configured issuer.
pub struct Issuer {
    /// The configured name: metric label, `X-Auth-Issuer-Name`, the policy's `issuers:`.
    pub name: Arc<str>,
    pub rules: Rules,
    pub keys: Arc<KeyStore>,
    /// `/readyz` waits for this issuer's first key set.
    pub ready_gate: bool,
}

/// Every configured issuer, found by `iss`.
pub struct Issuers {
    list: Vec<Issuer>,
    by_iss: HashMap<String, usize>,
    /// The `issuer` label of a token whose `iss` no issuer has.
    pub unknown: Arc<str>,
}

impl Issuers {
    /// Builds each issuer's rules and key store (no fetch yet: see `spawn_refresh`).
    pub fn new(configs: &[IssuerConfig], metrics: &Metrics) -> Self {
        let list: Vec<Issuer> = configs
            .iter()
            .map(|config| {
                let name: Arc<str> = Arc::from(config.name.as_str());
                let keys = KeyStore::new(
                    Arc::clone(&name),
                    &config.jwks_url,
                    config.jwks_cooldown,
                    metrics.jwks(&config.name),
                );
                Issuer {
                    name,
                    rules: Rules::from_config(config),
                    keys: Arc::new(keys),
                    ready_gate: config.ready_gate,
                }
            })
            .collect();
        let by_iss = list
            .iter()
            .enumerate()
            .map(|(index, issuer)| (issuer.rules.issuer.clone(), index))
            .collect();
        Self {
            list,
            by_iss,
            unknown: Arc::from(ISSUER_LABEL_UNKNOWN),
        }
    }

    /// Spawns one background JWKS task per issuer (prefetch, then refresh every
    /// `jwks_refresh`) on the current Tokio runtime.
    pub fn spawn_refresh(&self, configs: &[IssuerConfig]) -> Vec<JoinHandle<()>> {
        self.list
            .iter()
            .zip(configs)
            .map(|(issuer, config)| {
                tokio::spawn(jwks::run_refresh(
                    Arc::clone(&issuer.keys),
                    config.jwks_refresh,
                ))
            })
            .collect()
    }

    /// The issuer whose `iss` is exactly `iss`, and its index (what the cache remembers).
    pub fn pick(&self, iss: &str) -> Result<(usize, &Issuer), AuthError> {
        self.by_iss
            .get(iss)
            .and_then(|&index| Some((index, self.list.get(index)?)))
            .ok_or_else(|| unknown_issuer(iss, self.by_iss.keys().map(String::as_str)))
    }

    pub fn get(&self, index: usize) -> Option<&Issuer> {
        self.list.get(index)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Issuer> {
        self.list.iter()
    }
}

/// The issuer among `configs` whose `iss` is exactly `iss` (the offline paths: `explain`,
/// `verify_with_jwks`, which build no registry).
pub fn pick_config<'c>(
    configs: &'c [IssuerConfig],
    iss: &str,
) -> Result<&'c IssuerConfig, AuthError> {
    configs
        .iter()
        .find(|config| config.issuer == iss)
        .ok_or_else(|| unknown_issuer(iss, configs.iter().map(|c| c.issuer.as_str())))
}

/// `UnknownIssuer` for `iss`, noting when a configured issuer differs only by a trailing `/`.
fn unknown_issuer<'k>(iss: &str, known: impl Iterator<Item = &'k str>) -> AuthError {
    let bare = iss.trim_end_matches('/');
    let near_miss = known
        .into_iter()
        .any(|configured| configured != iss && configured.trim_end_matches('/') == bare);
    AuthError::UnknownIssuer {
        got: quote(iss),
        near_miss,
    }
}
