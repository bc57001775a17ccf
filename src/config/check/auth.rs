//! `[auth]`: the keys every issuer shares, then the issuers (SPEC "More than one issuer").
//!
//! Two forms, never both: the first-round keys (`[auth] issuer`, `audience`, `jwks_url`, ...)
//! are one issuer named `default`; `[auth.issuers.NAME]` tables are one issuer each. Each
//! issuer is checked by the same small checker, whichever form it came from, so the two
//! cannot drift apart. Across issuers: names are `[a-z][a-z0-9_]*` (they become metric labels
//! and environment variable names) and no two issuers share an `issuer` URL (the token's `iss`
//! must pick exactly one).

use std::collections::BTreeMap;
use std::ops::Range;

use http::HeaderName;
use toml::Spanned;

use super::super::env::{Fields, issuer_env_name};
use super::super::raw::{Field, ISSUER_KEYS_IN_AUTH, RawAuth, RawIssuer};
use super::super::{AuthConfig, IssuerConfig, default_jwks_url};
use super::{Checker, Value};
use crate::constants as C;

/// One issuer's values as written (file or environment), before checking.
struct IssuerValues {
    issuer: Option<Value>,
    audience: Option<Value>,
    jwks_url: Option<Value>,
    algorithms: Option<Value>,
    leeway: Option<Value>,
    jwks_refresh: Option<Value>,
    jwks_cooldown: Option<Value>,
    ready_gate: Option<Value>,
}

/// Where an issuer's settings live, for messages: `auth` or `auth.issuers.prod`.
struct Place<'n> {
    /// `None` for the first-round form.
    name: Option<&'n str>,
    /// The span of `NAME` in `[auth.issuers.NAME]`.
    span: Option<Range<usize>>,
}

impl Place<'_> {
    fn key(&self, key: &str) -> String {
        match self.name {
            None => format!("auth.{key}"),
            Some(name) => format!("auth.issuers.{name}.{key}"),
        }
    }
}

impl Checker<'_> {
    /// `[auth]` as a whole; `None` when an issuer is unusable (every problem is reported).
    pub(super) fn auth(&mut self, a: RawAuth, fields: &Fields<'_>) -> Option<AuthConfig> {
        let forward_token = fields.get(self, "auth", "forward_token", a.forward_token);
        let token_cookie = fields.get(self, "auth", "token_cookie", a.token_cookie);
        let max_token_bytes = fields.get(self, "auth", "max_token_bytes", a.max_token_bytes);
        let cache_max_entries = fields.get(self, "auth", "cache_max_entries", a.cache_max_entries);
        let mut one = |key: &str, field: Field| fields.get(self, "auth", key, field);
        let first_round = IssuerValues {
            issuer: one("issuer", a.issuer),
            audience: one("audience", a.audience),
            jwks_url: one("jwks_url", a.jwks_url),
            algorithms: one("algorithms", a.algorithms),
            leeway: one("leeway", a.leeway),
            jwks_refresh: one("jwks_refresh", a.jwks_refresh),
            jwks_cooldown: one("jwks_cooldown", a.jwks_cooldown),
            ready_gate: None,
        };
        let issuers = match a.issuers {
            None => {
                let place = Place {
                    name: None,
                    span: None,
                };
                self.issuer(C::DEFAULT_ISSUER_NAME, &place, first_round)
                    .map(|issuer| vec![issuer])
            }
            Some(tables) => {
                self.not_both_forms(first_round);
                self.issuer_tables(tables, fields)
            }
        };

        let token_cookie = token_cookie.and_then(|v| {
            let name = self.text(&v, "auth.token_cookie")?;
            // RFC 6265 §4.1.1: a cookie name is an RFC 9110 token.
            if name.is_empty() || HeaderName::from_bytes(name.as_bytes()).is_err() {
                self.at(
                    &v,
                    "auth.token_cookie",
                    "a cookie name is letters, digits and `-_.!#$%&'*+^`|~`",
                );
                return None;
            }
            Some(name)
        });
        // Every shared key is checked (and its problems reported) even when an issuer failed.
        let forward_token = self.boolean(forward_token, "auth.forward_token", C::FORWARD_TOKEN);
        let max_token_bytes =
            self.size(max_token_bytes, "auth.max_token_bytes", C::MAX_TOKEN_BYTES) as usize;
        let cache_max_entries = self
            .count(
                cache_max_entries,
                "auth.cache_max_entries",
                C::CACHE_MAX_ENTRIES,
            )
            .unwrap_or(C::CACHE_MAX_ENTRIES);
        Some(AuthConfig {
            issuers: issuers?,
            forward_token,
            token_cookie,
            max_token_bytes,
            cache_max_entries,
        })
    }

    /// With `[auth.issuers.*]`, the first-round issuer keys have no issuer to belong to.
    fn not_both_forms(&mut self, first_round: IssuerValues) {
        let IssuerValues {
            issuer,
            audience,
            jwks_url,
            algorithms,
            leeway,
            jwks_refresh,
            jwks_cooldown,
            ready_gate: _,
        } = first_round;
        let given = [
            issuer,
            audience,
            jwks_url,
            algorithms,
            leeway,
            jwks_refresh,
            jwks_cooldown,
        ];
        for (key, value) in ISSUER_KEYS_IN_AUTH.iter().zip(given) {
            if let Some(value) = value {
                let message = if *key == "issuer" {
                    "`[auth] issuer` and `[auth.issuers.*]` together: use one form; with several issuers, move it into an `[auth.issuers.NAME]` table".to_owned()
                } else {
                    format!(
                        "with `[auth.issuers.*]`, `{key}` belongs to one issuer: set it in each `[auth.issuers.NAME]` table instead of `[auth]`"
                    )
                };
                self.at(&value, &format!("auth.{key}"), message);
            }
        }
    }

    /// Every `[auth.issuers.NAME]`, then the checks across them.
    fn issuer_tables(
        &mut self,
        tables: BTreeMap<Spanned<String>, RawIssuer>,
        fields: &Fields<'_>,
    ) -> Option<Vec<IssuerConfig>> {
        if tables.is_empty() {
            self.at_span(
                None,
                "`[auth.issuers]` names no issuer; add an `[auth.issuers.NAME]` table with `issuer` and `audience`".to_owned(),
            );
            return None;
        }
        let mut issuers = Vec::new();
        let mut complete = true;
        // (iss, the issuer's name) of the issuers so far: two may not share an `iss`.
        let mut seen: Vec<(String, String)> = Vec::new();
        for (name, raw) in tables {
            let span = name.span();
            let name = name.into_inner();
            let named_well = self.issuer_name(&name, span.clone());
            let mut get = |key: &str, field: Field| fields.get_issuer(self, &name, key, field);
            let values = IssuerValues {
                issuer: get("issuer", raw.issuer),
                audience: get("audience", raw.audience),
                jwks_url: get("jwks_url", raw.jwks_url),
                algorithms: get("algorithms", raw.algorithms),
                leeway: get("leeway", raw.leeway),
                jwks_refresh: get("jwks_refresh", raw.jwks_refresh),
                jwks_cooldown: get("jwks_cooldown", raw.jwks_cooldown),
                ready_gate: get("ready_gate", raw.ready_gate),
            };
            let iss_value = values.issuer.clone();
            let place = Place {
                name: Some(&name),
                span: Some(span),
            };
            let Some(issuer) = self.issuer(&name, &place, values) else {
                complete = false;
                continue;
            };
            if let Some((_, first)) = seen.iter().find(|(iss, _)| *iss == issuer.issuer)
                && let Some(value) = &iss_value
            {
                self.at(
                    value,
                    &place.key("issuer"),
                    format!(
                        "`{}` is already the issuer of [auth.issuers.{first}]: a token's `iss` must pick exactly one issuer; merge the two (an issuer may list several audiences)",
                        issuer.issuer
                    ),
                );
                complete = false;
            }
            seen.push((issuer.issuer.clone(), name.clone()));
            complete &= named_well;
            issuers.push(issuer);
        }
        complete.then_some(issuers)
    }

    /// `[a-z][a-z0-9_]*`, and not a value the `issuer` metric label reserves.
    fn issuer_name(&mut self, name: &str, span: Range<usize>) -> bool {
        let mut chars = name.chars();
        let well_formed = chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !well_formed {
            self.at_span(
                Some(span),
                format!(
                    "issuer name `{name}`: names are lower-case letters, digits and `_`, starting with a letter (e.g. `prod`, `custom_domain`), so that GATEWAY_AUTH_ISSUERS_<NAME>_<KEY> is unambiguous"
                ),
            );
            return false;
        }
        if [C::ISSUER_LABEL_UNKNOWN, C::ISSUER_LABEL_NONE].contains(&name) {
            self.at_span(
                Some(span),
                format!(
                    "issuer name `{name}` is reserved: metrics label requests from no issuer `none` and tokens from an unconfigured one `unknown`; choose another name"
                ),
            );
            return false;
        }
        true
    }

    /// One issuer, from either form.
    fn issuer(
        &mut self,
        name: &str,
        place: &Place<'_>,
        values: IssuerValues,
    ) -> Option<IssuerConfig> {
        let issuer = self.issuer_required(
            values.issuer,
            place,
            "issuer",
            "\"https://YOUR_TENANT.auth0.com/\"",
        );
        let audiences = self.audiences(values.audience, place);
        let jwks_url = match values.jwks_url {
            Some(v) => self.http_url(&v, &place.key("jwks_url")),
            None => issuer.as_deref().map(default_jwks_url),
        };
        let algorithms = self.algorithms(values.algorithms, &place.key("algorithms"));
        let leeway = self.duration(values.leeway, &place.key("leeway"), C::LEEWAY);
        let jwks_refresh = self.duration(
            values.jwks_refresh,
            &place.key("jwks_refresh"),
            C::JWKS_REFRESH,
        );
        let jwks_cooldown = self.duration(
            values.jwks_cooldown,
            &place.key("jwks_cooldown"),
            C::JWKS_COOLDOWN,
        );
        let ready_gate = self.boolean(
            values.ready_gate,
            &place.key("ready_gate"),
            C::ISSUER_READY_GATE,
        );
        Some(IssuerConfig {
            name: name.to_owned(),
            issuer: issuer?,
            audiences: audiences?,
            jwks_url: jwks_url.unwrap_or_default(),
            algorithms,
            leeway,
            jwks_refresh,
            jwks_cooldown,
            ready_gate,
        })
    }

    /// A required text key of an issuer.
    fn issuer_required(
        &mut self,
        v: Option<Value>,
        place: &Place<'_>,
        key: &str,
        example: &str,
    ) -> Option<String> {
        match (v, place.name) {
            (None, None) => {
                self.missing(&place.key(key), example);
                None
            }
            (None, Some(name)) => {
                self.at_span(
                    place.span.clone(),
                    format!(
                        "`{key}` is missing from [auth.issuers.{name}]; add `{key} = {example}` or set {}",
                        issuer_env_name(name, key)
                    ),
                );
                None
            }
            (v, _) => self.required_text(v, &place.key(key), example),
        }
    }

    /// `audience`: one text or a list of them; the token's `aud` must contain one.
    fn audiences(&mut self, v: Option<Value>, place: &Place<'_>) -> Option<Vec<String>> {
        const EXAMPLE: &str = "\"https://clientco/api\"";
        let key = place.key("audience");
        let items = match v.as_ref().map(|v| &v.value) {
            Some(toml::Value::Array(items)) => items.clone(),
            _ => {
                return self
                    .issuer_required(v, place, "audience", EXAMPLE)
                    .map(|a| vec![a]);
            }
        };
        let v = v?;
        if items.is_empty() {
            self.at(
                &v,
                &key,
                format!(
                    "an empty list would refuse every token; list at least one, e.g. [{EXAMPLE}]"
                ),
            );
            return None;
        }
        let mut audiences = Vec::new();
        for item in items {
            match item {
                toml::Value::String(text) if !text.trim().is_empty() => audiences.push(text),
                _ => {
                    self.at(
                        &v,
                        &key,
                        format!("every audience is a non-empty text, e.g. [{EXAMPLE}]"),
                    );
                    return None;
                }
            }
        }
        Some(audiences)
    }
}
