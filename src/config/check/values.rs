//! Stage two's readers of single values: a TOML value (or its `GATEWAY_*` override) checked and
//! turned into the type the `Config` holds (text, a duration, a size, a count, a boolean, an
//! address, an http(s) URL, an existing file, a JWT algorithm list), each reporting a wrong value
//! at its key with the fix and returning the default so the rest is still checked.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jsonwebtoken::Algorithm;

use super::{Checker, Value};
use crate::constants as C;
use crate::diagnostic::did_you_mean;
use crate::units::{parse_duration, parse_size};

impl Checker<'_> {
    pub(in crate::config) fn text(&mut self, v: &Value, key: &str) -> Option<String> {
        match &v.value {
            toml::Value::String(s) => Some(s.clone()),
            other => {
                self.at(
                    v,
                    key,
                    format!("expected text in quotes, found {}", other.type_str()),
                );
                None
            }
        }
    }

    pub(in crate::config) fn required_text(
        &mut self,
        v: Option<Value>,
        key: &str,
        example: &str,
    ) -> Option<String> {
        let Some(v) = v else {
            self.missing(key, example);
            return None;
        };
        let text = self.text(&v, key)?;
        if text.trim().is_empty() {
            self.at(&v, key, format!("must not be empty; for example {example}"));
            return None;
        }
        Some(text)
    }

    pub(in crate::config) fn duration(
        &mut self,
        v: Option<Value>,
        key: &str,
        default: Duration,
    ) -> Duration {
        let Some(v) = v else { return default };
        if let toml::Value::Integer(n) = v.value {
            // `leeway = 30`: seconds to some tools, milliseconds to others; make it explicit.
            let name = key.rsplit('.').next().unwrap_or(key);
            self.at(
                &v,
                key,
                format!("a duration is text with a unit: write `{name} = \"{n}s\"` (or \"{n}ms\", \"{n}m\")"),
            );
            return default;
        }
        let Some(text) = self.text(&v, key) else {
            return default;
        };
        parse_duration(&text).unwrap_or_else(|e| {
            self.at(&v, key, e);
            default
        })
    }

    pub(in crate::config) fn size(&mut self, v: Option<Value>, key: &str, default: u64) -> u64 {
        let Some(v) = v else { return default };
        let parsed = match &v.value {
            toml::Value::String(s) => parse_size(s),
            toml::Value::Integer(n) => {
                u64::try_from(*n).map_err(|_| "a size cannot be negative".to_owned())
            }
            other => Err(format!(
                "expected a size such as \"8KiB\", found {}",
                other.type_str()
            )),
        };
        match parsed {
            Ok(0) => {
                self.at(&v, key, "must be more than 0");
                default
            }
            Ok(n) => n,
            Err(e) => {
                self.at(&v, key, e);
                default
            }
        }
    }

    /// A positive whole number; `None` when absent or wrong (wrong is reported).
    pub(in crate::config) fn count(
        &mut self,
        v: Option<Value>,
        key: &str,
        default: u64,
    ) -> Option<u64> {
        let Some(v) = v else {
            return (default > 0).then_some(default);
        };
        match &v.value {
            toml::Value::Integer(n) if *n >= 1 => u64::try_from(*n).ok(),
            _ => {
                self.at(&v, key, "expected a whole number of at least 1");
                None
            }
        }
    }

    pub(in crate::config) fn boolean(
        &mut self,
        v: Option<Value>,
        key: &str,
        default: bool,
    ) -> bool {
        let Some(v) = v else { return default };
        match &v.value {
            toml::Value::Boolean(b) => *b,
            _ => {
                self.at(&v, key, "expected `true` or `false`");
                default
            }
        }
    }

    pub(super) fn address(&mut self, v: Option<Value>, key: &str, default: &str) -> SocketAddr {
        let fallback = SocketAddr::from(([127, 0, 0, 1], 0));
        let text = match &v {
            None => default.to_owned(),
            Some(v) => match self.text(v, key) {
                Some(t) => t,
                None => return fallback,
            },
        };
        match text.parse() {
            Ok(addr) => addr,
            Err(_) => {
                if let Some(v) = &v {
                    self.at(v, key, format!("`{text}` is not an IP address and port; write e.g. \"0.0.0.0:8080\" or \"[::1]:8080\" (host names are not resolved)"));
                }
                fallback
            }
        }
    }

    pub(in crate::config) fn http_url(&mut self, v: &Value, key: &str) -> Option<String> {
        let text = self.text(v, key)?;
        match text.parse::<http::Uri>() {
            Ok(uri)
                if matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some() =>
            {
                Some(text)
            }
            _ => {
                self.at(
                    v,
                    key,
                    format!("`{text}` is not an http:// or https:// URL with a host"),
                );
                None
            }
        }
    }

    pub(in crate::config) fn algorithms(&mut self, v: Option<Value>, key: &str) -> Vec<Algorithm> {
        let default = C::ALGORITHMS.to_vec();
        let Some(v) = v else { return default };
        let toml::Value::Array(items) = &v.value else {
            self.at(&v, key, "expected a list such as [\"RS256\"]");
            return default;
        };
        if items.is_empty() {
            self.at(
                &v,
                key,
                "an empty allow-list would refuse every token; Auth0 signs with [\"RS256\"]",
            );
            return default;
        }
        let mut out = Vec::new();
        for item in items {
            let name = item.as_str().unwrap_or_default();
            match algorithm(name) {
                Ok(a) => out.push(a),
                Err(e) => self.at(&v, key, e),
            }
        }
        out
    }

    /// Resolves a path against the config file's folder and checks it is a readable file.
    pub(super) fn existing_file(&mut self, v: &Value, key: &str) -> Option<PathBuf> {
        let text = self.text(v, key)?;
        let folder = self.path.parent().unwrap_or(Path::new("."));
        let resolved = folder.join(&text);
        if resolved.is_file() {
            Some(resolved)
        } else if resolved.is_dir() {
            self.at(
                v,
                key,
                format!(
                    "`{}` is a directory; name a file in it (relative paths start from the \
                     config file's folder)",
                    resolved.display()
                ),
            );
            None
        } else {
            self.at(
                v,
                key,
                format!(
                    "file `{}` does not exist (relative paths start from the config file's folder)",
                    resolved.display()
                ),
            );
            None
        }
    }
}

pub(super) fn algorithm(name: &str) -> Result<Algorithm, String> {
    match name {
        "RS256" => Ok(Algorithm::RS256),
        "RS384" => Ok(Algorithm::RS384),
        "RS512" => Ok(Algorithm::RS512),
        "PS256" => Ok(Algorithm::PS256),
        "PS384" => Ok(Algorithm::PS384),
        "PS512" => Ok(Algorithm::PS512),
        "ES256" => Ok(Algorithm::ES256),
        "ES384" => Ok(Algorithm::ES384),
        "EdDSA" => Ok(Algorithm::EdDSA),
        "HS256" | "HS384" | "HS512" => Err(format!(
            "`{name}` is refused: it is a shared-secret algorithm, so anyone able to verify tokens could mint them, and mixing it with public keys enables key-confusion attacks (RFC 8725 §2.1); Auth0 APIs use RS256"
        )),
        "none" | "None" | "NONE" => Err(
            "`none` is refused: it means unsigned tokens, which anyone can forge (RFC 8725 §3.1)"
                .to_owned(),
        ),
        other => Err(format!(
            "`{other}` is not a known algorithm{}; known: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA",
            did_you_mean(
                other,
                [
                    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"
                ]
            )
        )),
    }
}
