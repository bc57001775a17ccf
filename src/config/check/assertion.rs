//! `[forward.assertion]` checked: the key files exist (parsing them is `assertion`'s check,
//! deferred to `load`, so `gateway check`, start-up and a reload all report a bad key at
//! its line), the header name, and `lifetime` / `reuse` within the spec's bounds. The section counts as set when any of its keys is, in the file or
//! through a `GATEWAY_FORWARD_ASSERTION_*` override.

use std::path::PathBuf;

use http::HeaderName;

use super::forward::RESERVED;
use super::{Checker, Value};
use crate::config::{AssertionConfig, Declared};
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

impl AssertionValues {
    /// Whether `[forward.assertion]` says anything (the assertion is on).
    pub(in crate::config) fn is_set(&self) -> bool {
        [
            &self.header,
            &self.key_file,
            &self.previous_key_file,
            &self.issuer,
            &self.audience,
            &self.lifetime,
            &self.reuse,
        ]
        .iter()
        .any(|value| value.is_some())
    }
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
        if !v.is_set() {
            return None;
        }
        let key_file = match &v.key_file {
            Some(value) => self.key_file(value, "forward.assertion.key_file"),
            None => {
                self.missing("forward.assertion.key_file", "\"assertion-key.pem\"");
                None
            }
        };
        let previous = v
            .previous_key_file
            .as_ref()
            .and_then(|value| self.key_file(value, "forward.assertion.previous_key_file"));
        self.deferred.assertion_key = key_file.clone();
        self.deferred.previous_assertion_key = previous.clone();
        let issuer = self.required_text(
            v.issuer,
            "forward.assertion.issuer",
            "\"https://gateway.saasco.internal/\"",
        );
        let audience = self.required_text(
            v.audience,
            "forward.assertion.audience",
            "\"saasco-backend\"",
        );
        let header = self.assertion_header(v.header, claims);
        let lifetime = self.bounded_duration(
            v.lifetime,
            "forward.assertion.lifetime",
            C::ASSERTION_LIFETIME,
            C::ASSERTION_MAX_LIFETIME,
            true,
        );
        let reuse = self.bounded_duration(
            v.reuse.clone(),
            "forward.assertion.reuse",
            C::ASSERTION_REUSE,
            C::ASSERTION_MAX_REUSE,
            false,
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
            key_file: key_file?.value,
            previous_key_file: previous.map(|declared| declared.value),
            issuer: issuer?,
            audience: audience?,
            lifetime,
            reuse,
        })
    }

    /// An existing key file, with where it was named (`assertion` parses it later).
    fn key_file(&mut self, value: &Value, key: &str) -> Option<Declared<PathBuf>> {
        let path = self.existing_file(value, key)?;
        Some(Declared {
            value: path,
            at: self.spot(value, key),
        })
    }

    fn assertion_header(
        &mut self,
        value: Option<Value>,
        claims: &[(String, HeaderName)],
    ) -> Option<HeaderName> {
        const KEY: &str = "forward.assertion.header";
        let name = match &value {
            None => HeaderName::from_static("x-auth-assertion"),
            Some(value) => {
                let text = self.text(value, KEY)?;
                let Ok(name) = HeaderName::from_bytes(text.as_bytes()) else {
                    self.at(value, KEY, format!("`{text}` is not a valid header name"));
                    return None;
                };
                if RESERVED.contains(&name.as_str()) || TAKEN.contains(&name.as_str()) {
                    self.at(value, KEY, format!("`{text}` already means something to the gateway or to HTTP; choose another name (default {})", C::ASSERTION_HEADER));
                    return None;
                }
                name
            }
        };
        if claims.iter().any(|(_, mapped)| *mapped == name) {
            let problem = format!(
                "`{name}` is also a `[forward.claims]` header; map the claim to another header, or \
                 set `forward.assertion.header`"
            );
            match &value {
                Some(value) => self.at(value, KEY, problem),
                None => self.at_span(None, problem),
            }
            return None;
        }
        Some(name)
    }

    /// A duration up to `max`; with `whole_seconds`, at least one second and whole (JWT times
    /// are seconds). `default` when absent or wrong (wrong is reported).
    fn bounded_duration(
        &mut self,
        value: Option<Value>,
        key: &str,
        default: std::time::Duration,
        max: std::time::Duration,
        whole_seconds: bool,
    ) -> std::time::Duration {
        let Some(v) = value.clone() else {
            return default;
        };
        let parsed = self.duration(value, key, default);
        if parsed > max {
            self.at(&v, key, format!("must be at most {}s", max.as_secs()));
            return default;
        }
        if whole_seconds && (parsed.is_zero() || parsed.subsec_nanos() != 0) {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::HashMap;
    use std::time::Duration;

    use crate::assertion::Algorithm;
    use crate::assertion::keys::generate_pem;
    use crate::config::Config;

    const BASE: &str = r#"[upstream]
url = "http://127.0.0.1:8000"
[auth]
issuer = "https://tenant.auth0.com/"
audience = "https://clientco/api"
[policy]
file = "p.yaml"
"#;

    /// Loads `BASE` + `tail` from a folder holding the policy, `key.pem` and `old.pem`, as
    /// `gateway check` does (the key files parsed too: `load`).
    fn load(tail: &str, env: &[(&str, &str)]) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.yaml"), "routes: []\n").unwrap();
        std::fs::write(
            dir.path().join("key.pem"),
            generate_pem(Algorithm::EdDsa).unwrap(),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("old.pem"),
            generate_pem(Algorithm::Es256).unwrap(),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("rsa.pem"),
            "-----BEGIN RSA PRIVATE KEY-----\nMAA=\n-----END RSA PRIVATE KEY-----\n",
        )
        .unwrap();
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let path = dir.path().join("gateway.toml");
        crate::load::from_toml_str(&format!("{BASE}{tail}"), &path, &|k| env.get(k).cloned())
            .map_err(|d| {
                d.to_string()
                    .replace(&dir.path().display().to_string(), "DIR")
            })
    }

    const SECTION: &str = r#"[forward.assertion]
key_file = "key.pem"
issuer = "https://gateway.saasco.internal/"
audience = "saasco-backend"
"#;

    #[test]
    fn defaults_and_every_key() {
        let config = load(SECTION, &[]).unwrap();
        let a = config.forward.assertion.unwrap();
        assert_eq!(a.header, "x-auth-assertion");
        assert_eq!(a.lifetime, Duration::from_secs(60));
        assert_eq!(a.reuse, Duration::ZERO);
        assert!(a.key_file.ends_with("key.pem") && a.key_file.is_absolute());
        assert!(a.previous_key_file.is_none());
        let full = format!(
            "{SECTION}header = \"X-Gateway-Assertion\"\nprevious_key_file = \"old.pem\"\nlifetime = \"5m\"\nreuse = \"5s\"\n"
        );
        let a = load(&full, &[]).unwrap().forward.assertion.unwrap();
        assert_eq!(a.header, "x-gateway-assertion");
        assert_eq!(a.lifetime, Duration::from_secs(300));
        assert_eq!(a.reuse, Duration::from_secs(5));
        assert!(a.previous_key_file.unwrap().ends_with("old.pem"));
        assert!(load("", &[]).unwrap().forward.assertion.is_none());
    }

    #[test]
    fn every_key_has_an_environment_override() {
        let env = [
            ("GATEWAY_FORWARD_ASSERTION_KEY_FILE", "key.pem"),
            ("GATEWAY_FORWARD_ASSERTION_ISSUER", "https://gw/"),
            ("GATEWAY_FORWARD_ASSERTION_AUDIENCE", "backend"),
            ("GATEWAY_FORWARD_ASSERTION_HEADER", "X-Signed"),
            ("GATEWAY_FORWARD_ASSERTION_PREVIOUS_KEY_FILE", "old.pem"),
            ("GATEWAY_FORWARD_ASSERTION_LIFETIME", "30s"),
            ("GATEWAY_FORWARD_ASSERTION_REUSE", "2s"),
        ];
        let a = load("", &env).unwrap().forward.assertion.unwrap();
        assert_eq!(
            (a.issuer.as_str(), a.audience.as_str()),
            ("https://gw/", "backend")
        );
        assert_eq!(a.header, "x-signed");
        assert_eq!(
            (a.lifetime, a.reuse),
            (Duration::from_secs(30), Duration::from_secs(2))
        );
        assert!(a.previous_key_file.is_some());
        let names: Vec<&str> = env.iter().map(|(name, _)| *name).collect();
        let unknown = crate::config::env::unknown_overrides(
            std::path::Path::new("gateway.toml"),
            names.into_iter(),
            &[],
        );
        assert!(unknown.0.is_empty(), "{unknown}");
    }

    #[test]
    fn every_problem_is_reported_at_its_key() {
        for (tail, expected) in [
            (
                "[forward.assertion]\nissuer = \"x\"\naudience = \"y\"\n",
                "`key_file` is missing from [forward.assertion]; add `key_file = \"assertion-key.pem\"` or set GATEWAY_FORWARD_ASSERTION_KEY_FILE",
            ),
            (
                "[forward.assertion]\nkey_file = \"key.pem\"\naudience = \"y\"\n",
                "`issuer` is missing from [forward.assertion]",
            ),
            (
                "[forward.assertion]\nkey_file = \"key.pem\"\nissuer = \"x\"\naudience = \"\"\n",
                "`forward.assertion.audience`: must not be empty",
            ),
            (
                "[forward.assertion]\nkey_file = \"nope.pem\"\nissuer = \"x\"\naudience = \"y\"\n",
                "gateway.toml:9:12: `forward.assertion.key_file`: file `DIR/nope.pem` does not exist",
            ),
            (
                "[forward.assertion]\nkey_file = \"rsa.pem\"\nissuer = \"x\"\naudience = \"y\"\n",
                "gateway.toml:9:12: `forward.assertion.key_file`: DIR/rsa.pem: an `RSA PRIVATE KEY`",
            ),
            (
                &format!("{SECTION}previous_key_file = \"key.pem\"\n"),
                "`previous_key_file` holds the same key as `key_file`",
            ),
            (
                &format!("{SECTION}lifetime = \"10m\"\n"),
                "`forward.assertion.lifetime`: must be at most 300s",
            ),
            (
                &format!("{SECTION}lifetime = \"1500ms\"\n"),
                "must be whole seconds",
            ),
            (
                &format!("{SECTION}reuse = \"6s\"\n"),
                "`forward.assertion.reuse`: must be at most 5s",
            ),
            (
                &format!("{SECTION}lifetime = \"3s\"\nreuse = \"3s\"\n"),
                "must be shorter than `lifetime`",
            ),
            (
                &format!("{SECTION}header = \"Host\"\n"),
                "`Host` already means something",
            ),
            (
                &format!("{SECTION}header = \"X-Auth-Subject\"\n"),
                "`X-Auth-Subject` already means something",
            ),
            (
                &format!("{SECTION}header = \"bad header\"\n"),
                "`bad header` is not a valid header name",
            ),
            (
                &format!("{SECTION}[forward.claims]\ntenant = \"X-Auth-Assertion\"\n"),
                "also a `[forward.claims]` header",
            ),
            (
                &format!("{SECTION}lifetmie = \"60s\"\n"),
                "unknown key `lifetmie` in [forward.assertion]; did you mean `lifetime`?",
            ),
        ] {
            let error = load(tail, &[]).unwrap_err();
            assert!(error.contains(expected), "{tail}\n--- got:\n{error}");
        }
    }
}
