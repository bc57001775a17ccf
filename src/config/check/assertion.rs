//! `[forward.assertion]` checked: the key files read and parsed (so `gateway check`, start-up
//! and a reload all report a bad key at its line), the header name, and `lifetime` / `reuse`
//! within the spec's bounds. The section counts as set when any of its keys is, in the file or
//! through a `GATEWAY_FORWARD_ASSERTION_*` override.

use std::path::PathBuf;

use http::HeaderName;

use super::{Checker, RESERVED, Value};
use crate::assertion::{KeyError, PublicJwk, SigningKey};
use crate::config::AssertionConfig;
use crate::constants as C;

/// The section's values, overrides applied.
pub(in crate::config) struct AssertionValues {
    pub header: Option<Value>,
    pub key_file: Option<Value>,
    pub previous_key_file: Option<Value>,
    pub issuer: Option<Value>,
    pub audience: Option<Value>,
    pub lifetime: Option<Value>,
    pub reuse: Option<Value>,
}

/// Names the gateway or HTTP itself gives meaning to: an assertion there would be stripped,
/// overwritten or misread on the way.
const TAKEN: &[&str] = &[
    "host",
    "authorization",
    "cookie",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "x-request-id",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "forwarded",
    "x-auth-issuer-name",
];

impl Checker<'_> {
    pub(in crate::config) fn assertion(
        &mut self,
        v: AssertionValues,
        claims: &[(String, HeaderName)],
    ) -> Option<AssertionConfig> {
        let set = [
            &v.header,
            &v.key_file,
            &v.previous_key_file,
            &v.issuer,
            &v.audience,
            &v.lifetime,
            &v.reuse,
        ]
        .iter()
        .any(|value| value.is_some());
        if !set {
            return None;
        }
        let key_file = match &v.key_file {
            Some(value) => self.key_file(value, "forward.assertion.key_file"),
            None => {
                self.missing("forward.assertion.key_file", "\"assertion-key.pem\"");
                None
            }
        };
        let previous = match &v.previous_key_file {
            Some(value) => {
                let previous = self.key_file(value, "forward.assertion.previous_key_file");
                if let (Some((_, current)), Some((_, old))) = (&key_file, &previous)
                    && current.kid == old.kid
                {
                    self.at(
                        value,
                        "forward.assertion.previous_key_file",
                        KeyError::same_key(),
                    );
                }
                previous
            }
            None => None,
        };
        let issuer = self.required_text(
            v.issuer,
            "forward.assertion.issuer",
            "\"https://gateway.saasco.internal/\"",
        );
        let audience =
            self.required_text(v.audience, "forward.assertion.audience", "\"saasco-backend\"");
        let header = self.assertion_header(v.header, claims);
        let lifetime = self.bounded_duration(
            v.lifetime,
            "forward.assertion.lifetime",
            C::ASSERTION_LIFETIME,
            C::ASSERTION_MAX_LIFETIME,
        );
        let reuse = self.bounded_duration(
            v.reuse.clone(),
            "forward.assertion.reuse",
            C::ASSERTION_REUSE,
            C::ASSERTION_MAX_REUSE,
        );
        if let Some(value) = &v.reuse
            && !reuse.is_zero()
            && reuse >= lifetime
        {
            self.at(
                value,
                "forward.assertion.reuse",
                "must be shorter than `lifetime`, or a shared assertion would be handed out expired",
            );
        }
        Some(AssertionConfig {
            header: header?,
            key_file: key_file?.0,
            previous_key_file: previous.map(|(path, _)| path),
            issuer: issuer?,
            audience: audience?,
            lifetime,
            reuse,
        })
    }

    /// An existing key file that parses; its path and public key.
    fn key_file(&mut self, value: &Value, key: &str) -> Option<(PathBuf, PublicJwk)> {
        let path = self.existing_file(value, key)?;
        match SigningKey::load(&path) {
            Ok(signing) => Some((path, signing.public().clone())),
            Err(error) => {
                self.at(value, key, error);
                None
            }
        }
    }

    fn assertion_header(
        &mut self,
        value: Option<Value>,
        claims: &[(String, HeaderName)],
    ) -> Option<HeaderName> {
        const KEY: &str = "forward.assertion.header";
        let Some(value) = value else {
            return Some(HeaderName::from_static("x-auth-assertion"));
        };
        let text = self.text(&value, KEY)?;
        let Ok(name) = HeaderName::from_bytes(text.as_bytes()) else {
            self.at(&value, KEY, format!("`{text}` is not a valid header name"));
            return None;
        };
        if RESERVED.contains(&name.as_str()) || TAKEN.contains(&name.as_str()) {
            self.at(&value, KEY, format!("`{text}` already means something to the gateway or to HTTP; choose another name (default {})", C::ASSERTION_HEADER));
            return None;
        }
        if claims.iter().any(|(_, mapped)| *mapped == name) {
            self.at(&value, KEY, format!("`{text}` is also a `[forward.claims]` header; choose another name"));
            return None;
        }
        Some(name)
    }

    /// A duration between one second and `max` (`lifetime` must be whole seconds: JWT times
    /// are); `default` when absent or wrong (wrong is reported).
    fn bounded_duration(
        &mut self,
        value: Option<Value>,
        key: &str,
        default: std::time::Duration,
        max: std::time::Duration,
    ) -> std::time::Duration {
        let Some(v) = value.clone() else {
            return default;
        };
        let parsed = self.duration(value, key, default);
        let lifetime = key.ends_with("lifetime");
        if parsed > max {
            self.at(&v, key, format!("must be at most {}s", max.as_secs()));
            return default;
        }
        if lifetime && (parsed.is_zero() || parsed.subsec_nanos() != 0) {
            self.at(
                &v,
                key,
                "must be whole seconds, at least \"1s\" (an assertion's iat and exp are seconds)",
            );
            return default;
        }
        parsed
    }
}
