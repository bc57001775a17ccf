//! Stage two for the sender-constrained token keys (`[auth] dpop_*`, `require_binding`,
//! `[server] public_url`), kept beside the checker so its main file stays one screen per
//! section.

use super::values::algorithm;
use super::{Checker, Value};
use crate::config::BindingConfig;
use crate::constants as C;
use crate::diagnostic::did_you_mean;
use crate::identity::Binding;

/// The raw values, after environment overrides.
pub(super) struct Fields {
    pub(super) public_url: Option<Value>,
    pub(super) dpop_algorithms: Option<Value>,
    pub(super) dpop_window: Option<Value>,
    pub(super) dpop_nonce: Option<Value>,
    pub(super) dpop_replay_capacity: Option<Value>,
    pub(super) require_binding: Option<Value>,
}

impl Checker<'_> {
    pub(super) fn binding(&mut self, fields: Fields) -> BindingConfig {
        let defaults = BindingConfig::default();
        BindingConfig {
            dpop_algorithms: self.dpop_algorithms(fields.dpop_algorithms),
            dpop_window: self.duration(fields.dpop_window, "auth.dpop_window", C::DPOP_WINDOW),
            dpop_nonce: self.boolean(fields.dpop_nonce, "auth.dpop_nonce", C::DPOP_NONCE),
            dpop_replay_capacity: self
                .count(
                    fields.dpop_replay_capacity,
                    "auth.dpop_replay_capacity",
                    C::DPOP_REPLAY_CAPACITY,
                )
                .unwrap_or(C::DPOP_REPLAY_CAPACITY),
            require_binding: fields
                .require_binding
                .and_then(|v| self.binding_name(&v, "auth.require_binding"))
                .unwrap_or(defaults.require_binding),
            public_url: fields.public_url.and_then(|v| self.public_url(&v)),
        }
    }

    fn dpop_algorithms(&mut self, v: Option<Value>) -> Vec<jsonwebtoken::Algorithm> {
        let key = "auth.dpop_algorithms";
        let default = C::DPOP_ALGORITHMS.to_vec();
        let Some(v) = v else { return default };
        let toml::Value::Array(items) = &v.value else {
            self.at(&v, key, "expected a list such as [\"ES256\", \"EdDSA\"]");
            return default;
        };
        if items.is_empty() {
            self.at(&v, key, "an empty list would refuse every DPoP proof");
            return default;
        }
        let mut out = Vec::new();
        for item in items {
            match algorithm(item.as_str().unwrap_or_default()) {
                Ok(alg) if !out.contains(&alg) => out.push(alg),
                Ok(_) => {}
                Err(e) => self.at(&v, key, e),
            }
        }
        out
    }

    fn binding_name(&mut self, v: &Value, key: &str) -> Option<Binding> {
        let name = self.text(v, key)?;
        let binding = Binding::parse(&name);
        if binding.is_none() {
            let hint = did_you_mean(&name, Binding::NAMES.iter().copied());
            self.at(
                v,
                key,
                format!(
                    "`{name}` is not a binding{hint}; use \"none\", \"dpop\", \"mtls\" or \"any\""
                ),
            );
        }
        binding
    }

    /// `https://api.saasco.example` or `https://api.saasco.example/prefix`: what clients type,
    /// without query or fragment.
    fn public_url(&mut self, v: &Value) -> Option<String> {
        let key = "server.public_url";
        let text = self.text(v, key)?;
        let usable = text.parse::<http::Uri>().ok().is_some_and(|uri| {
            matches!(uri.scheme_str(), Some("http" | "https"))
                && uri.host().is_some()
                && uri.query().is_none()
                && !text.contains('#')
                && !uri.authority().is_some_and(|a| a.as_str().contains('@'))
        });
        if !usable {
            self.at(
                v,
                key,
                format!("`{text}` is not an http:// or https:// URL with a host and no query, such as \"https://api.saasco.example\""),
            );
            return None;
        }
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use crate::config::Config;
    use crate::identity::Binding;

    fn load(auth: &str, server: &str, env: &[(&str, &str)]) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.yaml"), "routes: []\n").unwrap();
        let src = format!(
            "[server]\n{server}\n[upstream]\nurl = \"http://127.0.0.1:8000\"\n[auth]\nissuer = \"https://t.auth0.com/\"\naudience = \"https://clientco/api\"\n{auth}\n[policy]\nfile = \"p.yaml\"\n"
        );
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_toml_str(&src, &dir.path().join("gateway.toml"), &|name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
        .map_err(|d| d.to_string())
    }

    #[test]
    fn defaults_are_the_specs() {
        let binding = load("", "", &[]).unwrap().binding;
        assert_eq!(
            crate::auth::dpop::algorithm_names(&binding.dpop_algorithms),
            "ES256 EdDSA PS256 RS256"
        );
        assert_eq!(binding.dpop_window, Duration::from_secs(60));
        assert!(!binding.dpop_nonce);
        assert_eq!(binding.require_binding, Binding::None);
        assert_eq!(binding.public_url, None);
    }

    #[test]
    fn every_key_is_read_and_overridable() {
        let binding = load(
            "dpop_algorithms = [\"EdDSA\"]\ndpop_window = \"30s\"\ndpop_nonce = true\ndpop_replay_capacity = 5\n",
            "public_url = \"https://api.saasco.example\"",
            &[("GATEWAY_AUTH_REQUIRE_BINDING", "mtls")],
        )
        .unwrap()
        .binding;
        assert_eq!(
            binding.dpop_algorithms,
            vec![jsonwebtoken::Algorithm::EdDSA]
        );
        assert_eq!(binding.dpop_window, Duration::from_secs(30));
        assert!(binding.dpop_nonce);
        assert_eq!(binding.dpop_replay_capacity, 5);
        assert_eq!(binding.require_binding, Binding::Mtls);
        assert_eq!(
            binding.public_url.as_deref(),
            Some("https://api.saasco.example")
        );
    }

    #[test]
    fn bad_values_are_reported_together() {
        let problems = load(
            "dpop_algorithms = [\"HS256\"]\nrequire_binding = \"dpopp\"\ndpop_window = 60\n",
            "public_url = \"api.saasco.example\"",
            &[],
        )
        .unwrap_err();
        assert!(problems.contains("shared-secret"), "{problems}");
        assert!(
            problems.contains("`dpopp` is not a binding; did you mean `dpop`?"),
            "{problems}"
        );
        assert!(problems.contains("dpop_window = \"60s\""), "{problems}");
        assert!(
            problems.contains("`api.saasco.example` is not an http:// or https:// URL"),
            "{problems}"
        );
    }
}
