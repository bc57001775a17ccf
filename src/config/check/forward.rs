//! Stage two for `[forward]`: the claims mapped to `X-Auth-*` headers (never one the gateway
//! sets itself), then `[forward.assertion]` (`assertion`).

use http::HeaderName;

use super::assertion::AssertionValues;
use super::{Checker, Origin, Value};
use crate::config::ForwardConfig;
use crate::config::raw;

impl Checker<'_> {
    pub(super) fn forward(
        &mut self,
        raw: raw::RawForward,
        assertion: AssertionValues,
    ) -> ForwardConfig {
        let mut claims = Vec::new();
        for (claim, header) in raw.claims {
            let value = Value {
                value: header.get_ref().clone(),
                origin: Origin::File(header.span()),
            };
            let key = format!("forward.claims.\"{}\"", claim.get_ref());
            let Some(name) = self.text(&value, &key) else {
                continue;
            };
            match HeaderName::from_bytes(name.as_bytes()) {
                Ok(h) if !h.as_str().starts_with("x-auth-") => self.at(&value, &key, format!("`{name}` must start with `X-Auth-`: the gateway strips every inbound X-Auth-* header, so a client can never forge it")),
                Ok(h) if RESERVED.contains(&h.as_str()) => self.at(&value, &key, format!("`{name}` is already set by the gateway; choose another name")),
                Ok(h) => claims.push((claim.into_inner(), h)),
                Err(_) => self.at(&value, &key, format!("`{name}` is not a valid header name")),
            }
        }
        let assertion = self.assertion(assertion, &claims);
        ForwardConfig { claims, assertion }
    }
}

pub(super) const RESERVED: &[&str] = &[
    "x-auth-subject",
    "x-auth-client-id",
    "x-auth-scopes",
    "x-auth-issuer",
    "x-auth-issuer-name",
];
