//! Who may call a route: `public`, `restricted` (never reachable, with the reason), `scopes`
//! (each declared in the top-level `scopes:`), `issuers`, `binding` (DPoP or mTLS), and
//! `websocket`, each problem at its position.

use http::Method;
use serde_norway::{Mapping, Value};

use super::{Loader, at, or_declare};
use crate::diagnostic::did_you_mean;
use crate::identity::Binding;
use crate::policy::locate::{Step, locate};
use crate::policy::{Access, IssuerRef};

impl Loader<'_> {
    /// `restricted:`: one restriction declared under `restrictions`.
    pub(super) fn restricted(
        &mut self,
        value: Option<&Value>,
        here: &[Step],
        declared: &[&str],
    ) -> Option<String> {
        match value {
            None => None,
            Some(Value::String(r)) => {
                if !declared.contains(&r.as_str()) {
                    let hint = did_you_mean(r, declared.iter().copied());
                    self.error(
                        here,
                        format!(
                            "`{r}` is not declared under `restrictions`{}",
                            or_declare(&hint, "restrictions")
                        ),
                    );
                }
                Some(r.clone())
            }
            Some(_) => {
                self.error(
                    here,
                    "`restricted` names one restriction, e.g. `restricted: no:modify_pipeline`",
                );
                None
            }
        }
    }

    /// Who may call the route: `scopes`, `restricted` or `public`, exactly one of them.
    pub(super) fn access(
        &mut self,
        map: &Mapping,
        base: &[Step],
        scopes: Option<Vec<String>>,
        restricted: Option<String>,
        public: bool,
    ) -> Option<Access> {
        match (scopes, restricted, public) {
            (Some(_), Some(_), _) => {
                self.error(
                    &at(base, Step::Key("restricted".into())),
                    "a route has either `scopes` or `restricted`, not both: a restricted route is never reachable, so its scopes would mean nothing",
                );
                None
            }
            (_, Some(_), true) => {
                self.error(
                    &at(base, Step::Key("public".into())),
                    "a restricted route cannot be `public`; remove one of them",
                );
                None
            }
            (Some(_), None, true) => {
                self.error(
                    &at(base, Step::Key("public".into())),
                    "a `public` route needs no token, so its `scopes` would never be checked; remove `scopes` or `public`",
                );
                None
            }
            (Some(s), None, false) => Some(Access::Scopes(s)),
            (None, Some(r), false) => Some(Access::Restricted(r)),
            (None, None, true) => Some(Access::Scopes(Vec::new())),
            (None, None, false) => {
                if !map.contains_key("scopes") {
                    self.error(
                        base,
                        "this route says nothing about who may call it; add `scopes: [...]` (or `scopes: []` for any valid token), `restricted: <name>` or `public: true`",
                    );
                }
                None
            }
        }
    }

    /// `websocket:`, `false` when absent: the route tunnels WebSocket upgrades. Pointless on a
    /// restricted route and impossible without GET (RFC 6455 §4.1: the handshake is a GET).
    pub(super) fn websocket(
        &mut self,
        value: Option<&Value>,
        here: &[Step],
        methods: Option<&[Method]>,
        access: Option<&Access>,
    ) -> bool {
        let websocket = self.flag(value, here, "websocket");
        if !websocket {
            return false;
        }
        if matches!(access, Some(Access::Restricted(_))) {
            self.error(
                here,
                "a restricted route is never reachable, so `websocket: true` would mean nothing; remove it",
            );
        } else if methods.is_some_and(|m| !m.contains(&Method::GET)) {
            self.error(
                here,
                "`websocket: true` needs GET among `methods`: the WebSocket handshake is a GET (RFC 6455 §4.1)",
            );
        }
        true
    }

    /// `issuers:`: the configured issuers (by name) whose tokens the route accepts. A public
    /// route reads no token and a restricted one admits nobody, so on them it is an error.
    /// Whether each name is configured is checked against gateway.toml (`unknown_issuers`).
    pub(super) fn issuers(
        &mut self,
        value: Option<&Value>,
        here: &[Step],
        public: bool,
        access: Option<&Access>,
    ) -> Option<Vec<String>> {
        let list = match value {
            None => return None,
            Some(Value::Sequence(list)) if !list.is_empty() => list,
            Some(_) => {
                self.error(
                    here,
                    "`issuers` is a non-empty list of issuer names such as `[prod]`; leave it out to accept every configured issuer",
                );
                return None;
            }
        };
        if public {
            self.error(
                here,
                "a `public` route reads no token, so `issuers` would never be checked; remove `issuers` or `public`",
            );
        }
        if matches!(access, Some(Access::Restricted(_))) {
            self.error(
                here,
                "a restricted route is never reachable, whatever the issuer; remove `issuers` or `restricted`",
            );
        }
        let mut names = Vec::new();
        for (i, item) in list.iter().enumerate() {
            let at_item = at(here, Step::Index(i));
            let Value::String(name) = item else {
                self.error(&at_item, "an issuer is a name such as `prod`");
                continue;
            };
            let (line, column) = locate(self.source, &at_item);
            self.issuer_refs.push(IssuerRef {
                name: name.clone(),
                line,
                column,
            });
            names.push(name.clone());
        }
        Some(names)
    }

    /// `binding:`: `none`, `dpop`, `mtls` or `any`; a load error on a public route, which
    /// never reads a token.
    pub(super) fn binding(
        &mut self,
        value: Option<&Value>,
        here: &[Step],
        public: bool,
    ) -> Binding {
        let names = Binding::NAMES;
        let binding = match value {
            None => return Binding::None,
            Some(Value::String(name)) => match Binding::parse(name) {
                Some(binding) => binding,
                None => {
                    let hint = did_you_mean(name, names.iter().copied());
                    self.error(
                        here,
                        format!("`binding` is `none`, `dpop`, `mtls` or `any`, not `{name}`{hint}"),
                    );
                    return Binding::None;
                }
            },
            Some(_) => {
                self.error(here, "`binding` is `none`, `dpop`, `mtls` or `any`");
                return Binding::None;
            }
        };
        if public {
            self.error(here, "a `public` route never reads a token, so it cannot demand a `binding`; remove one of them");
        }
        binding
    }

    pub(super) fn scopes(
        &mut self,
        value: Option<&Value>,
        here: &[Step],
        declared: &[&str],
    ) -> Option<Vec<String>> {
        let list = match value {
            None => return None,
            Some(Value::Sequence(list)) => list,
            Some(_) => {
                self.error(
                    here,
                    "`scopes` is a list such as `[read:forecast]`; all are required",
                );
                return None;
            }
        };
        let mut scopes = Vec::new();
        for (i, item) in list.iter().enumerate() {
            let here = at(here, Step::Index(i));
            let Value::String(scope) = item else {
                self.error(&here, "a scope is a name such as `read:forecast`");
                continue;
            };
            if !declared.contains(&scope.as_str()) {
                let hint = did_you_mean(scope, declared.iter().copied());
                self.error(
                    &here,
                    format!(
                        "`{scope}` is not declared under permissions{}",
                        or_declare(&hint, "permissions")
                    ),
                );
            }
            scopes.push(scope.clone());
        }
        Some(scopes)
    }
}
