//! One route of the policy read: its keys, `path` (the pattern), `methods`, `mode`, `max_body`,
//! `rate_limit`, and the small readers they share (a flag, a text); who may call it is `access`.

use http::Method;
use serde_norway::Value;

use super::conditions::RouteFacts;
use super::{Draft, Loader, RATE_LIMIT_KEYS, ROUTE_KEYS, at, v};
use crate::policy::locate::{Step, locate};
use crate::policy::matcher::PatternSegment;
use crate::policy::pattern::parse_pattern;
use crate::policy::{Mode, PoolRef, RateLimit, Route};
use crate::units::parse_size;

impl Loader<'_> {
    /// One route: each key read by its own reader, then checked together. `None` when any
    /// key had a problem (every problem is reported).
    pub(super) fn route(
        &mut self,
        index: usize,
        value: &Value,
        scope_names: &[&str],
        restriction_names: &[&str],
        client_names: Option<&[&str]>,
    ) -> Option<Draft> {
        let base = [v("routes"), Step::Index(index)];
        let Value::Mapping(map) = value else {
            self.error(&base, "a route is a mapping such as `- path: /forecast`");
            return None;
        };
        self.known_keys(map, &base, ROUTE_KEYS, "a route");
        let problems_before = self.problems.len();
        let field = |key: &str| (map.get(key), at(&base, v(key)));

        let (pattern, segments) = self.path(map.get("path"), &base);
        let (value, here) = field("methods");
        let methods = self.methods(value, &here);
        let (value, here) = field("public");
        let public = self.flag(value, &here, "public");
        let (value, here) = field("scopes");
        let scopes = self.scopes(value, &here, scope_names);
        let (value, here) = field("restricted");
        let restricted = self.restricted(value, &here, restriction_names);
        let facts = RouteFacts {
            pattern: &pattern,
            segments: segments.as_deref(),
            public,
            restricted: map.contains_key("restricted"),
            clients: client_names,
        };
        let conditions = self.when(map.get("when"), &base, &facts);
        let access = self.access(map, &base, scopes, restricted, public);
        let (value, here) = field("websocket");
        let websocket = self.websocket(value, &here, methods.as_deref(), access.as_ref());
        let (value, here) = field("mode");
        let mode = self.mode(value, &here);
        let (value, here) = field("max_body");
        let max_body = self.max_body(value, &here);
        let (value, here) = field("rate_limit");
        let rate_limit = self.rate_limit(value, &here);
        let (value, here) = field("issuers");
        let issuers = self.issuers(value, &here, public, access.as_ref());
        let (value, here) = field("description");
        let description = self.text(value, &here, "description");
        let (value, here) = field("binding");
        let binding = self.binding(value, &here, public);
        let (value, here) = field("upstream");
        // A restricted route in enforce mode is refused at the gateway and never forwarded, so
        // it needs no pool (as an Envoy route with a direct response names no cluster).
        let forwards = !map.contains_key("restricted") || mode == Mode::Shadow;
        let upstream = self.upstream(value, &here, &base, &pattern, forwards);
        if self.problems.len() != problems_before {
            return None;
        }
        let methods_key = methods.as_ref().map_or_else(
            || "*".to_owned(),
            |methods| {
                let names: Vec<&str> = methods.iter().map(Method::as_str).collect();
                names.join(",")
            },
        );
        Some(Draft {
            index,
            segments: segments?,
            route: Route {
                pattern,
                methods,
                methods_key,
                access: access?,
                conditions,
                public,
                websocket,
                mode,
                max_body,
                rate_limit,
                issuers,
                description,
                binding,
                upstream,
                allow: String::new(),
            },
        })
    }

    /// `path:`, required: the pattern as written and its segments.
    pub(super) fn path(
        &mut self,
        value: Option<&Value>,
        base: &[Step],
    ) -> (String, Option<Vec<PatternSegment>>) {
        let here = at(base, v("path"));
        match value {
            Some(Value::String(p)) => (p.clone(), self.pattern(p, &here)),
            Some(_) => {
                self.error(&here, "`path` must be text such as `/forecast`");
                (String::new(), None)
            }
            None => {
                self.error(
                    base,
                    "this route has no `path`; add one such as `path: /forecast`",
                );
                (String::new(), None)
            }
        }
    }

    /// A `true`/`false` key, `false` when absent.
    pub(super) fn flag(&mut self, value: Option<&Value>, here: &[Step], key: &str) -> bool {
        match value {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.error(here, format!("`{key}` must be `true` or `false`"));
                false
            }
        }
    }

    /// A free-text key such as `description:`.
    pub(super) fn text(
        &mut self,
        value: Option<&Value>,
        here: &[Step],
        key: &str,
    ) -> Option<String> {
        match value {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.error(here, format!("`{key}` must be text"));
                None
            }
        }
    }

    /// `mode:`: `enforce` (the default) or `shadow`.
    pub(super) fn mode(&mut self, value: Option<&Value>, here: &[Step]) -> Mode {
        match value {
            None => Mode::Enforce,
            Some(Value::String(m)) if m == "enforce" => Mode::Enforce,
            Some(Value::String(m)) if m == "shadow" => Mode::Shadow,
            Some(_) => {
                self.error(here, "`mode` is `enforce` (the default) or `shadow`");
                Mode::Enforce
            }
        }
    }

    /// `max_body:`: a size such as `"10MiB"`, or a number of bytes.
    pub(super) fn max_body(&mut self, value: Option<&Value>, here: &[Step]) -> Option<u64> {
        match value {
            None => None,
            Some(Value::String(s)) => match parse_size(s) {
                Ok(n) => Some(n),
                Err(e) => {
                    self.error(here, format!("`max_body`: {e}"));
                    None
                }
            },
            Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
            Some(_) => {
                self.error(here, "`max_body` is a size such as \"10MiB\"");
                None
            }
        }
    }

    /// Parses `/a/{id}/**` into segments, reporting what can never match.
    pub(super) fn pattern(&mut self, pattern: &str, here: &[Step]) -> Option<Vec<PatternSegment>> {
        match parse_pattern(pattern) {
            Ok(segments) => Some(segments),
            Err(problem) => {
                self.error(here, problem);
                None
            }
        }
    }

    pub(super) fn methods(&mut self, value: Option<&Value>, here: &[Step]) -> Option<Vec<Method>> {
        let list = match value {
            None => return None,
            Some(Value::Sequence(list)) if !list.is_empty() => list,
            Some(_) => {
                self.error(
                    here,
                    "`methods` is a non-empty list such as `[GET, POST]`; leave it out to allow every method",
                );
                return None;
            }
        };
        let mut methods = Vec::new();
        for (i, item) in list.iter().enumerate() {
            let here = at(here, Step::Index(i));
            let Value::String(name) = item else {
                self.error(&here, "a method is a name such as `GET`");
                continue;
            };
            // RFC 9110 §9.1: method names are case-sensitive; `get` is not `GET`.
            if name.chars().any(|c| c.is_ascii_lowercase()) {
                self.error(
                    &here,
                    format!(
                        "method names are case-sensitive (RFC 9110 §9.1); did you mean `{}`?",
                        name.to_ascii_uppercase()
                    ),
                );
                continue;
            }
            match Method::from_bytes(name.as_bytes()) {
                Ok(m) => methods.push(m),
                Err(_) => self.error(&here, format!("`{name}` is not an HTTP method name")),
            }
        }
        Some(methods)
    }

    pub(super) fn rate_limit(&mut self, value: Option<&Value>, here: &[Step]) -> Option<RateLimit> {
        let map = match value {
            None => return None,
            Some(Value::Mapping(map)) => map,
            Some(_) => {
                self.error(
                    here,
                    "`rate_limit` is a mapping: `{per_second: 50, burst: 100}`",
                );
                return None;
            }
        };
        self.known_keys(map, here, RATE_LIMIT_KEYS, "`rate_limit`");
        let per_second = match map.get("per_second").and_then(Value::as_f64) {
            Some(r) if r > 0.0 && r.is_finite() => r,
            _ => {
                self.error(
                    &at(here, v("per_second")),
                    "`rate_limit.per_second` must be a number above 0",
                );
                return None;
            }
        };
        let burst = match map.get("burst") {
            // Default: one second's worth of requests, at least one.
            None => per_second.ceil().clamp(1.0, f64::from(u32::MAX)) as u32,
            Some(b) => match b.as_u64().and_then(|b| u32::try_from(b).ok()) {
                Some(b) if b >= 1 => b,
                _ => {
                    self.error(
                        &at(here, v("burst")),
                        "`rate_limit.burst` must be a whole number of at least 1",
                    );
                    return None;
                }
            },
        };
        Some(RateLimit { per_second, burst })
    }

    /// `upstream:`: the pool the route forwards to, by name; whether it is configured is checked
    /// against gateway.toml (`Policy::unknown_pools`), as is a route without one when there is
    /// no default pool, unless the route never `forwards`.
    fn upstream(
        &mut self,
        value: Option<&Value>,
        here: &[Step],
        route: &[Step],
        pattern: &str,
        forwards: bool,
    ) -> Option<String> {
        let name = match value {
            None => None,
            Some(Value::String(name)) if !name.is_empty() => Some(name.clone()),
            Some(_) => {
                self.error(
                    here,
                    "`upstream` is the name of a pool such as `forecast` ([upstreams.forecast] in gateway.toml); leave it out for [upstream]",
                );
                return None;
            }
        };
        if name.is_none() && !forwards {
            return None;
        }
        let (line, column) = locate(self.source, if name.is_some() { here } else { route });
        self.pool_refs.push(PoolRef {
            name: name.clone(),
            pattern: pattern.to_owned(),
            line,
            column,
        });
        name
    }
}
