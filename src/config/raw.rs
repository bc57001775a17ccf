//! Stage one of loading gateway.toml: the file as written, with positions.
//!
//! Every value is kept as a `Spanned<toml::Value>` so stage two (`check`) can report a wrong
//! type or value at its exact line:column and keep going, instead of stopping at the first
//! serde error. Unknown keys are found by `unknown_keys`, which walks the whole document so that
//! all of them are reported at once (each with a suggestion); `deny_unknown_fields` stays on
//! the structs as the backstop.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub use super::upstream_raw::RawUpstream;
use super::upstream_raw::{self, EJECT_KEYS, HEALTH_KEYS, POOL_KEYS, RETRY_KEYS};

pub type Field = Option<Spanned<toml::Value>>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub admin: RawAdmin,
    #[serde(default)]
    pub upstream: RawUpstream,
    /// `[upstreams.NAME]`, the named pools, by name.
    #[serde(default)]
    pub upstreams: BTreeMap<Spanned<String>, RawUpstream>,
    #[serde(default)]
    pub auth: RawAuth,
    #[serde(default)]
    pub policy: RawPolicy,
    #[serde(default)]
    pub forward: RawForward,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub telemetry: RawTelemetry,
    #[serde(default)]
    pub state: RawState,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Field,
    pub workers: Field,
    pub tls_cert: Field,
    pub tls_key: Field,
    pub client_ca: Field,
    pub header_read_timeout: Field,
    pub max_header_bytes: Field,
    pub idle_timeout: Field,
    pub max_connections: Field,
    pub drain_timeout: Field,
    pub public_url: Field,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub listen: Field,
    pub hosts: Field,
    pub console_token_file: Field,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    pub issuer: Field,
    pub audience: Field,
    pub jwks_url: Field,
    pub algorithms: Field,
    pub leeway: Field,
    pub jwks_refresh: Field,
    pub jwks_cooldown: Field,
    pub forward_token: Field,
    pub token_cookie: Field,
    pub max_token_bytes: Field,
    pub cache_max_entries: Field,
    pub dpop_algorithms: Field,
    pub dpop_window: Field,
    pub dpop_nonce: Field,
    pub dpop_replay_capacity: Field,
    pub require_binding: Field,
    /// `[auth.issuers.NAME]`, by name (`None` when there is no `[auth.issuers]` at all).
    pub issuers: Option<BTreeMap<Spanned<String>, RawIssuer>>,
}

/// One `[auth.issuers.NAME]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIssuer {
    pub issuer: Field,
    pub audience: Field,
    pub jwks_url: Field,
    pub algorithms: Field,
    pub leeway: Field,
    pub jwks_refresh: Field,
    pub jwks_cooldown: Field,
    pub ready_gate: Field,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub file: Field,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawForward {
    #[serde(default)]
    pub claims: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    #[serde(default)]
    pub assertion: RawAssertion,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAssertion {
    pub header: Field,
    pub key_file: Field,
    pub previous_key_file: Field,
    pub issuer: Field,
    pub audience: Field,
    pub lifetime: Field,
    pub reuse: Field,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub file: Field,
    pub format: Field,
    pub on_full: Field,
    pub buffer: Field,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTelemetry {
    pub otlp_endpoint: Field,
    pub sample_ratio: Field,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    pub redis: Field,
    pub on_error: Field,
    pub timeout: Field,
}

/// The kind of value a key takes, for environment overrides (which arrive as text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Integer,
    /// A whole or decimal number (`sample_ratio = 0.01`).
    Number,
    Bool,
    List,
    /// One text, or a TOML list written `[...]` (`audience`).
    TextOrList,
}

/// Every `section.key` the file may contain, with its kind. `forward.claims` is a table and
/// has no single environment override; `auth.issuers` is a table of issuers, each with
/// `ISSUER_KEYS`. A dotted section (`forward.assertion`) is a table inside its parent,
/// overridden as `GATEWAY_FORWARD_ASSERTION_<KEY>`.
pub const KEYS: &[(&str, &[(&str, Kind)])] = &[
    (
        "server",
        &[
            ("listen", Kind::Text),
            ("workers", Kind::Integer),
            ("tls_cert", Kind::Text),
            ("tls_key", Kind::Text),
            ("client_ca", Kind::Text),
            ("header_read_timeout", Kind::Text),
            ("max_header_bytes", Kind::Text),
            ("idle_timeout", Kind::Text),
            ("max_connections", Kind::Integer),
            ("drain_timeout", Kind::Text),
            ("public_url", Kind::Text),
        ],
    ),
    (
        "admin",
        &[
            ("listen", Kind::Text),
            ("hosts", Kind::List),
            ("console_token_file", Kind::Text),
        ],
    ),
    ("upstream", POOL_KEYS),
    ("upstream.eject", EJECT_KEYS),
    ("upstream.health", HEALTH_KEYS),
    ("upstream.retry", RETRY_KEYS),
    // One table per pool name, each with the keys of `[upstream]` (upstream_raw).
    ("upstreams", &[]),
    (
        "auth",
        &[
            ("issuer", Kind::Text),
            ("audience", Kind::TextOrList),
            ("jwks_url", Kind::Text),
            ("algorithms", Kind::List),
            ("leeway", Kind::Text),
            ("jwks_refresh", Kind::Text),
            ("jwks_cooldown", Kind::Text),
            ("forward_token", Kind::Bool),
            ("token_cookie", Kind::Text),
            ("max_token_bytes", Kind::Text),
            ("cache_max_entries", Kind::Integer),
            ("dpop_algorithms", Kind::List),
            ("dpop_window", Kind::Text),
            ("dpop_nonce", Kind::Bool),
            ("dpop_replay_capacity", Kind::Integer),
            ("require_binding", Kind::Text),
        ],
    ),
    ("policy", &[("file", Kind::Text)]),
    ("forward", &[]),
    (
        "forward.assertion",
        &[
            ("header", Kind::Text),
            ("key_file", Kind::Text),
            ("previous_key_file", Kind::Text),
            ("issuer", Kind::Text),
            ("audience", Kind::Text),
            ("lifetime", Kind::Text),
            ("reuse", Kind::Text),
        ],
    ),
    (
        "log",
        &[
            ("file", Kind::Text),
            ("format", Kind::Text),
            ("on_full", Kind::Text),
            ("buffer", Kind::Text),
        ],
    ),
    (
        "telemetry",
        &[
            ("otlp_endpoint", Kind::Text),
            ("sample_ratio", Kind::Number),
        ],
    ),
    (
        "state",
        &[
            ("redis", Kind::Text),
            ("on_error", Kind::Text),
            ("timeout", Kind::Text),
        ],
    ),
];

/// The keys of one `[auth.issuers.NAME]` table; overridden by
/// `GATEWAY_AUTH_ISSUERS_<NAME>_<KEY>`.
pub const ISSUER_KEYS: &[(&str, Kind)] = &[
    ("issuer", Kind::Text),
    ("audience", Kind::TextOrList),
    ("jwks_url", Kind::Text),
    ("algorithms", Kind::List),
    ("leeway", Kind::Text),
    ("jwks_refresh", Kind::Text),
    ("jwks_cooldown", Kind::Text),
    ("ready_gate", Kind::Bool),
];

/// The `[auth]` keys that describe one issuer: with `[auth.issuers.*]` they belong in each
/// issuer's table instead.
pub const ISSUER_KEYS_IN_AUTH: &[&str] = &[
    "issuer",
    "audience",
    "jwks_url",
    "algorithms",
    "leeway",
    "jwks_refresh",
    "jwks_cooldown",
];

/// One unknown key: its byte span, the key, the known keys at that level.
pub struct UnknownKey {
    pub span: std::ops::Range<usize>,
    pub key: String,
    pub section: Option<String>,
    pub known: Vec<&'static str>,
}

/// Finds every key the file has that the gateway does not know, and every section that is not
/// a table, and cuts the unknown keys out of `document`, so stage two can still check every
/// known value in the same run (an unknown key must not hide a bad value beside it).
/// `forward.claims` is free-form (claim names); `auth.issuers` holds one table per issuer name,
/// whose keys are `ISSUER_KEYS`; a dotted section of `KEYS` is checked as the table of that name
/// inside its parent.
pub fn take_unknown_keys(document: &mut toml::de::DeTable<'_>) -> Vec<UnknownKey> {
    let sections: Vec<&'static str> = KEYS
        .iter()
        .map(|(s, _)| *s)
        .filter(|s| !s.contains('.'))
        .collect();
    let mut out = Vec::new();
    for (name, value) in document.iter() {
        let Some((section, _)) = KEYS.iter().find(|(s, _)| *s == name.get_ref().as_ref()) else {
            out.push(UnknownKey {
                span: name.span(),
                key: name.get_ref().to_string(),
                section: None,
                known: sections.clone(),
            });
            continue;
        };
        let Some(table) = value.get_ref().as_table() else {
            continue; // reported as a type error by stage one's deserialisation
        };
        if *section == "upstreams" {
            upstream_raw::unknown_pool_keys(table, &mut out);
            continue;
        }
        table_unknown_keys(section, table, &mut out);
    }
    for unknown in &out {
        match &unknown.section {
            None => {
                document.remove(unknown.key.as_str());
            }
            Some(section) => {
                if let Some(table) = table_at_mut(document, section) {
                    table.remove(unknown.key.as_str());
                }
            }
        }
    }
    out
}

/// The table a (possibly dotted) section names, for cutting a key out of it.
fn table_at_mut<'d, 'i>(
    document: &'d mut toml::de::DeTable<'i>,
    section: &str,
) -> Option<&'d mut toml::de::DeTable<'i>> {
    let mut table = document;
    for part in section.split('.') {
        match table.get_mut(part)?.get_mut() {
            toml::de::DeValue::Table(inner) => table = inner,
            _ => return None,
        }
    }
    Some(table)
}

/// The unknown keys of `section`'s table, and of its dotted sub-sections' tables.
fn table_unknown_keys(
    section: &'static str,
    table: &toml::de::DeTable<'_>,
    out: &mut Vec<UnknownKey>,
) {
    let keys = KEYS
        .iter()
        .find(|(s, _)| *s == section)
        .map_or(&[][..], |(_, keys)| *keys);
    let nested = |key: &str| {
        KEYS.iter().map(|(s, _)| *s).find(|s| {
            s.strip_prefix(section)
                .and_then(|rest| rest.strip_prefix('.'))
                == Some(key)
        })
    };
    let mut known: Vec<&'static str> = keys.iter().map(|(k, _)| *k).collect();
    known.extend(KEYS.iter().filter_map(|(s, _)| {
        s.strip_prefix(section)
            .and_then(|rest| rest.strip_prefix('.'))
    }));
    if section == "forward" {
        known.push("claims");
    }
    if section == "auth" {
        known.push("issuers");
    }
    for (key, value) in table {
        let name = key.get_ref().as_ref();
        if let (Some(sub), Some(subtable)) = (nested(name), value.get_ref().as_table()) {
            table_unknown_keys(sub, subtable, out);
        } else if section == "auth" && name == "issuers" {
            unknown_issuer_keys(value.get_ref(), out);
        } else if !known.contains(&name) {
            out.push(UnknownKey {
                span: key.span(),
                key: key.get_ref().to_string(),
                section: Some(section.to_owned()),
                known: known.clone(),
            });
        }
    }
}

/// Unknown keys inside each `[auth.issuers.NAME]` table.
fn unknown_issuer_keys(issuers: &toml::de::DeValue<'_>, out: &mut Vec<UnknownKey>) {
    let Some(issuers) = issuers.as_table() else {
        return; // a type error, reported by deserialisation
    };
    let known: Vec<&'static str> = ISSUER_KEYS.iter().map(|(k, _)| *k).collect();
    for (name, issuer) in issuers {
        let Some(issuer) = issuer.get_ref().as_table() else {
            continue;
        };
        for (key, _) in issuer {
            if !known.contains(&key.get_ref().as_ref()) {
                out.push(UnknownKey {
                    span: key.span(),
                    key: key.get_ref().to_string(),
                    section: Some(format!("auth.issuers.{}", name.get_ref())),
                    known: known.clone(),
                });
            }
        }
    }
}
