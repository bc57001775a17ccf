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
    #[serde(default)]
    pub auth: RawAuth,
    #[serde(default)]
    pub policy: RawPolicy,
    #[serde(default)]
    pub forward: RawForward,
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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    pub url: Field,
    pub connect_timeout: Field,
    pub request_timeout: Field,
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
    Bool,
    List,
}

/// Every `section.key` the file may contain, with its kind. `forward.claims` is a table and
/// has no single environment override.
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
    ("admin", &[("listen", Kind::Text)]),
    (
        "upstream",
        &[
            ("url", Kind::Text),
            ("connect_timeout", Kind::Text),
            ("request_timeout", Kind::Text),
        ],
    ),
    (
        "auth",
        &[
            ("issuer", Kind::Text),
            ("audience", Kind::Text),
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
        "state",
        &[
            ("redis", Kind::Text),
            ("on_error", Kind::Text),
            ("timeout", Kind::Text),
        ],
    ),
];

/// One unknown key: its byte span, the key, the known keys at that level.
pub struct UnknownKey {
    pub span: std::ops::Range<usize>,
    pub key: String,
    pub section: Option<&'static str>,
    pub known: Vec<&'static str>,
}

/// Finds every key the file has that the gateway does not know, and every section that is not
/// a table, and cuts the unknown keys out of `document`, so stage two can still check every
/// known value in the same run (an unknown key must not hide a bad value beside it).
/// `forward.claims` is free-form (claim names).
pub fn take_unknown_keys(document: &mut toml::de::DeTable<'_>) -> Vec<UnknownKey> {
    let sections: Vec<&'static str> = KEYS.iter().map(|(s, _)| *s).collect();
    let mut out = Vec::new();
    for (name, value) in document.iter() {
        let Some((section, keys)) = KEYS.iter().find(|(s, _)| *s == name.get_ref().as_ref()) else {
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
        let mut known: Vec<&'static str> = keys.iter().map(|(k, _)| *k).collect();
        if *section == "forward" {
            known.push("claims");
        }
        for (key, _) in table {
            if !known.contains(&key.get_ref().as_ref()) {
                out.push(UnknownKey {
                    span: key.span(),
                    key: key.get_ref().to_string(),
                    section: Some(section),
                    known: known.clone(),
                });
            }
        }
    }
    for unknown in &out {
        match unknown.section {
            None => {
                document.remove(unknown.key.as_str());
            }
            Some(section) => {
                if let Some(value) = document.get_mut(section)
                    && let toml::de::DeValue::Table(table) = value.get_mut()
                {
                    table.remove(unknown.key.as_str());
                }
            }
        }
    }
    out
}
