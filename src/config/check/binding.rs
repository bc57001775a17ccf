//! Stage two for the sender-constrained token keys (`[auth] dpop_*`, `require_binding`,
//! `[server] public_url`), kept beside the checker so its main file stays one screen per
//! section.

use super::{Checker, Value, algorithm};
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
                format!("`{name}` is not a binding{hint}; use \"none\", \"dpop\", \"mtls\" or \"any\""),
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
