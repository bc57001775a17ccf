//! Environment overrides: `GATEWAY_<SECTION>_<KEY>` wins over the file's `section.key`, and
//! `GATEWAY_AUTH_ISSUERS_<NAME>_<KEY>` over `[auth.issuers.NAME] key` (names are
//! `[a-z][a-z0-9_]*` and no issuer key ends with another one, so the split is unambiguous).
//!
//! Values arrive as text and are parsed as the key's type (docs/configuration.md), and a
//! `GATEWAY_*` variable that names no key is an error, so a typo cannot go unnoticed. An
//! override can change an issuer the file declares, not declare a new one.

use std::path::Path;

use toml::Spanned;

use super::check::{Checker, Origin, Value};
use super::raw::{self, Field, Kind};
use crate::diagnostic::{Diagnostic, Diagnostics, did_you_mean};

/// Looks up one `section.key`, applying its `GATEWAY_SECTION_KEY` override.
pub(super) struct Fields<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Fields<'a> {
    pub(super) fn new(env: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Fields { env }
    }
}

impl Fields<'_> {
    /// The value of `section.key`: the environment override if set, else the file's.
    pub(super) fn get(
        &self,
        checker: &mut Checker<'_>,
        section: &str,
        key: &str,
        field: Field,
    ) -> Option<Value> {
        let kind = raw::KEYS
            .iter()
            .find(|(s, _)| *s == section)
            .and_then(|(_, keys)| keys.iter().find(|(k, _)| *k == key))
            .map_or(Kind::Text, |(_, kind)| *kind);
        let var = env_name(section, key);
        self.lookup(checker, var, &format!("{section}.{key}"), kind, field)
    }

    /// The value of `[auth.issuers.NAME] key`, with its `GATEWAY_AUTH_ISSUERS_<NAME>_<KEY>`
    /// override.
    pub(super) fn get_issuer(
        &self,
        checker: &mut Checker<'_>,
        name: &str,
        key: &str,
        field: Field,
    ) -> Option<Value> {
        let kind = raw::ISSUER_KEYS
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(Kind::Text, |(_, kind)| *kind);
        let var = issuer_env_name(name, key);
        self.lookup(
            checker,
            var,
            &format!("auth.issuers.{name}.{key}"),
            kind,
            field,
        )
    }

    fn lookup(
        &self,
        checker: &mut Checker<'_>,
        var: String,
        shown: &str,
        kind: Kind,
        field: Field,
    ) -> Option<Value> {
        if let Some(text) = (self.env)(&var) {
            return match env_value(&text, kind) {
                Ok(value) => Some(Value {
                    value,
                    origin: Origin::Env(var),
                }),
                Err(e) => {
                    checker.at_span(
                        None,
                        format!("environment variable {var} (overrides `{shown}`): {e}"),
                    );
                    None
                }
            };
        }
        field.map(|f: Spanned<toml::Value>| Value {
            origin: Origin::File(f.span()),
            value: f.into_inner(),
        })
    }
}

/// Variables that look like overrides but name no key: a typo such as `GATEWAY_AUTH_AUDEINCE`
/// would otherwise be silently ignored, and the file's value used instead. `issuers` are the
/// names of the file's `[auth.issuers.NAME]` tables, whose keys may be overridden too.
pub(super) fn unknown_overrides<'a>(
    path: &Path,
    names: impl Iterator<Item = &'a str>,
    issuers: &[String],
) -> Diagnostics {
    /// Read by the binary itself, not overrides.
    const OTHER: &[&str] = &["GATEWAY_CONFIG", "GATEWAY_LOG"];
    let mut known: Vec<String> = raw::KEYS
        .iter()
        .flat_map(|(section, keys)| keys.iter().map(move |(key, _)| env_name(section, key)))
        .collect();
    for issuer in issuers {
        known.extend(
            raw::ISSUER_KEYS
                .iter()
                .map(|(key, _)| issuer_env_name(issuer, key)),
        );
    }
    let mut problems = Vec::new();
    for name in names.filter(|n| n.starts_with("GATEWAY_")) {
        if OTHER.contains(&name) || known.iter().any(|k| k == name) {
            continue;
        }
        let hint = did_you_mean(name, known.iter().map(String::as_str));
        let form = if name.starts_with(ISSUERS_PREFIX) {
            "GATEWAY_AUTH_ISSUERS_<NAME>_<KEY> for an issuer the file declares as [auth.issuers.NAME]"
        } else {
            "GATEWAY_<SECTION>_<KEY>"
        };
        problems.push(Diagnostic {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            message: format!(
                "environment variable {name} overrides no setting{hint}; unset it or fix its name (overrides are {form}, see docs/configuration.md)"
            ),
        });
    }
    Diagnostics(problems)
}

const ISSUERS_PREFIX: &str = "GATEWAY_AUTH_ISSUERS_";

/// `GATEWAY_AUTH_ISSUERS_CUSTOM_DOMAIN_JWKS_URL` for `[auth.issuers.custom_domain] jwks_url`.
pub fn issuer_env_name(name: &str, key: &str) -> String {
    format!(
        "{ISSUERS_PREFIX}{}_{}",
        name.to_ascii_uppercase(),
        key.to_ascii_uppercase()
    )
}

/// The names of the `[auth.issuers.NAME]` tables in configuration text, read leniently (for
/// the unknown-override check, which runs whether or not the file passes its checks).
pub(super) fn issuer_names(source: &str) -> Vec<String> {
    let Ok(table) = toml::from_str::<toml::Table>(source) else {
        return Vec::new();
    };
    table
        .get("auth")
        .and_then(|auth| auth.get("issuers"))
        .and_then(toml::Value::as_table)
        .map(|issuers| issuers.keys().cloned().collect())
        .unwrap_or_default()
}

/// `GATEWAY_AUTH_AUDIENCE` for `auth.audience`; `GATEWAY_FORWARD_ASSERTION_KEY_FILE` for
/// `forward.assertion.key_file`.
pub fn env_name(section: &str, key: &str) -> String {
    format!(
        "GATEWAY_{}_{}",
        section.to_ascii_uppercase().replace('.', "_"),
        key.to_ascii_uppercase()
    )
}

/// Environment values are text; parse them as the key's type.
fn env_value(text: &str, kind: Kind) -> Result<toml::Value, String> {
    match kind {
        Kind::Text => Ok(toml::Value::String(text.to_owned())),
        Kind::TextOrList if text.trim().starts_with('[') => env_value(text, Kind::List),
        Kind::TextOrList => Ok(toml::Value::String(text.to_owned())),
        Kind::Integer => text
            .trim()
            .parse::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| format!("`{text}` is not a whole number")),
        Kind::Number => text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(toml::Value::Float)
            .ok_or_else(|| format!("`{text}` is not a number")),
        Kind::Bool => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(toml::Value::Boolean(true)),
            "false" | "0" | "no" => Ok(toml::Value::Boolean(false)),
            _ => Err(format!("`{text}` is not a boolean; use true or false")),
        },
        Kind::List => {
            let trimmed = text.trim();
            if trimmed.starts_with('[') {
                // TOML inline array, e.g. ["RS256", "PS256"].
                let table: toml::Table = toml::from_str(&format!("v = {trimmed}"))
                    .map_err(|e| format!("`{text}` is not a TOML list: {}", e.message()))?;
                table
                    .get("v")
                    .cloned()
                    .ok_or_else(|| "empty list".to_owned())
            } else {
                Ok(toml::Value::Array(
                    trimmed
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| toml::Value::String(s.to_owned()))
                        .collect(),
                ))
            }
        }
    }
}
