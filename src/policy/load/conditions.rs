//! The policy readers for attribute conditions: a route's `when:` list and the top-level
//! `clients:` register, each problem reported with its position like every other reader.
//!
//! Checked here, at load time, so the data plane never meets them: a `{name}` that is not a
//! parameter of the route's path, an unknown operator, two operators in one condition, an
//! empty `in`, a value that is not text, `when` on a `public` or `restricted` route, and an
//! `azp` (or `client_id`) value the `clients:` register does not declare.

use serde_norway::{Mapping, Value};

use super::{Loader, at, key_text, v};
use crate::diagnostic::{closest, did_you_mean};
use crate::policy::conditions::{Condition, Operator, Template};
use crate::policy::locate::Step;
use crate::policy::matcher::PatternSegment;

const OPERATORS: &[&str] = &["equals", "in", "contains"];
const CONDITION_KEYS: &[&str] = &["claim", "equals", "in", "contains"];
/// Claims that name the calling client, so their values must be in the `clients:` register.
const CLIENT_CLAIMS: &[&str] = &["azp", "client_id"];

/// What the `when` reader needs to know about its route.
pub(in crate::policy) struct RouteFacts<'a> {
    pub pattern: &'a str,
    /// `None` when the path itself had a problem (already reported).
    pub segments: Option<&'a [PatternSegment]>,
    pub public: bool,
    pub restricted: bool,
    /// Declared client ids; `None` when the policy has no `clients:` register.
    pub clients: Option<&'a [&'a str]>,
}

impl Loader<'_> {
    /// `clients:` (top level): client id -> description. `None` when there is no register.
    pub(in crate::policy) fn clients(
        &mut self,
        value: Option<&Value>,
    ) -> Option<Vec<(String, String)>> {
        let map = match value {
            None => return None,
            Some(Value::Null) => return Some(Vec::new()),
            Some(Value::Mapping(map)) => map,
            Some(_) => {
                self.error(
                    &[v("clients")],
                    "`clients` maps client ids to descriptions (`clientco-prod: ClientCo production`)",
                );
                return Some(Vec::new());
            }
        };
        let mut out = Vec::new();
        for (key, description) in map {
            let Some(id) = key_text(key) else {
                self.error(&[v("clients")], "a client id under `clients` is not text");
                continue;
            };
            if id.is_empty() || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
                self.error(
                    &[v("clients"), Step::Key(id.clone())],
                    format!(
                        "`{id}` is not a client id: client ids have no spaces or control characters"
                    ),
                );
            }
            let description = match description {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                _ => {
                    self.error(
                        &[v("clients"), v(&id)],
                        "a description must be text (quote it if it contains `: `)",
                    );
                    String::new()
                }
            };
            out.push((id, description));
        }
        Some(out)
    }

    /// `when:`: a list of conditions, all of which must hold after the scope check.
    pub(in crate::policy) fn when(
        &mut self,
        value: Option<&Value>,
        base: &[Step],
        route: &RouteFacts<'_>,
    ) -> Vec<Condition> {
        let here = at(base, v("when"));
        let here = here.as_slice();
        let list = match value {
            None => return Vec::new(),
            Some(Value::Sequence(list)) => list,
            Some(_) => {
                self.error(
                    here,
                    "`when` is a list of conditions such as `- {claim: https://saasco/tenant, equals: \"{tenant}\"}`",
                );
                return Vec::new();
            }
        };
        if route.public || route.restricted {
            let (kind, why) = if route.public {
                ("public", "it never reads a token")
            } else {
                ("restricted", "it is never reachable")
            };
            self.error(
                &at(base, Step::Key("when".into())),
                format!(
                    "a {kind} route cannot have `when` conditions: {why}; remove `when` or `{kind}`"
                ),
            );
            return Vec::new();
        }
        list.iter()
            .enumerate()
            .filter_map(|(i, item)| self.condition(item, &at(here, Step::Index(i)), route))
            .collect()
    }

    /// One `{claim: NAME, <operator>: VALUE}`.
    fn condition(
        &mut self,
        item: &Value,
        here: &[Step],
        route: &RouteFacts<'_>,
    ) -> Option<Condition> {
        let Value::Mapping(map) = item else {
            self.error(
                here,
                "a condition is a mapping: `claim:` and one operator (`equals`, `in` or `contains`)",
            );
            return None;
        };
        let problems_before = self.problems.len();
        let misspelt = self.condition_keys(map, here);
        let claim = match map.get("claim") {
            Some(Value::String(claim)) if !claim.is_empty() => Some(claim.clone()),
            Some(_) => {
                self.error(
                    &at(here, v("claim")),
                    "`claim` is a claim name such as `https://saasco/tenant`",
                );
                None
            }
            None => {
                self.error(here, "this condition names no claim; add `claim: <name>` (a top-level claim of the token)");
                None
            }
        };
        let operators: Vec<&str> = OPERATORS
            .iter()
            .copied()
            .filter(|op| map.contains_key(*op))
            .collect();
        let operator = match operators.as_slice() {
            // A misspelt operator was reported as unknown; saying "no operator" too is noise.
            [] if misspelt => None,
            [] => {
                self.error(
                    here,
                    "this condition has no operator; add `equals:`, `in:` or `contains:`",
                );
                None
            }
            [op] => self.operator(op, map.get(*op), &at(here, v(op)), route),
            [first, second, ..] => {
                self.error(
                    &at(here, Step::Key((*second).to_owned())),
                    format!("a condition has one operator, this one has `{first}` and `{second}`; write two conditions (all must hold)"),
                );
                None
            }
        };
        let condition = Condition {
            claim: claim?,
            operator: operator?,
        };
        if let Some(clients) = route.clients
            && CLIENT_CLAIMS.contains(&condition.claim.as_str())
        {
            self.declared_clients(&condition, here, clients);
        }
        (self.problems.len() == problems_before).then_some(condition)
    }

    /// Unknown keys of a condition (most are a misspelt operator); whether there was one.
    fn condition_keys(&mut self, map: &Mapping, here: &[Step]) -> bool {
        let mut unknown = false;
        for key in map.keys() {
            let Some(k) = key_text(key) else {
                self.error(here, "a condition has a key that is not a plain name");
                continue;
            };
            if CONDITION_KEYS.contains(&k.as_str()) {
                continue;
            }
            unknown = true;
            let hint = did_you_mean(&k, CONDITION_KEYS.iter().copied());
            self.error(
                &at(here, Step::Key(k.clone())),
                format!(
                    "unknown operator `{k}` in a condition{hint} (a condition is `claim:` and one of: {})",
                    OPERATORS.join(", ")
                ),
            );
        }
        unknown
    }

    fn operator(
        &mut self,
        name: &str,
        value: Option<&Value>,
        here: &[Step],
        route: &RouteFacts<'_>,
    ) -> Option<Operator> {
        match name {
            "in" => {
                let list = match value {
                    Some(Value::Sequence(list)) if !list.is_empty() => list,
                    Some(Value::Sequence(_)) => {
                        self.error(here, "an empty `in` never holds; list at least one value");
                        return None;
                    }
                    _ => {
                        self.error(here, "`in` is a list such as `[clientco-prod, clientco-staging]`; for one value use `equals`");
                        return None;
                    }
                };
                let values: Vec<Option<Template>> = list
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        self.template(name, Some(item), &at(here, Step::Index(i)), route)
                    })
                    .collect();
                values
                    .into_iter()
                    .collect::<Option<Vec<_>>>()
                    .map(Operator::In)
            }
            "equals" => self
                .template(name, value, here, route)
                .map(Operator::Equals),
            _ => self
                .template(name, value, here, route)
                .map(Operator::Contains),
        }
    }

    /// A value: text, with `{name}` naming a parameter of the route's path.
    fn template(
        &mut self,
        operator: &str,
        value: Option<&Value>,
        here: &[Step],
        route: &RouteFacts<'_>,
    ) -> Option<Template> {
        let text = match value {
            Some(Value::String(text)) => text,
            Some(Value::Number(n)) => {
                self.error(here, format!("the value of `{operator}` must be text: claims are compared as strings; quote it (`\"{n}\"`)"));
                return None;
            }
            _ => {
                self.error(
                    here,
                    format!(
                        "the value of `{operator}` must be text, e.g. `\"{{tenant}}\"` or `eu`"
                    ),
                );
                return None;
            }
        };
        let parsed = Template::parse(text, |name| match route.segments {
            // The path is broken (reported already): do not pile errors on top.
            None => Ok(0),
            Some(segments) => param_index(segments, route.pattern, name),
        });
        match parsed {
            Ok(template) => Some(template),
            Err(problem) => {
                self.error(here, problem);
                None
            }
        }
    }

    /// `in`/`equals` values on a client claim must be client ids declared under `clients`.
    fn declared_clients(&mut self, condition: &Condition, here: &[Step], clients: &[&str]) {
        let operator = condition.operator_name();
        for (i, value) in condition.values().iter().enumerate() {
            let Some(id) = value.literal() else { continue };
            if clients.contains(&id) {
                continue;
            }
            let place = match condition.operator {
                Operator::In(_) => at(&at(here, v(operator)), Step::Index(i)),
                _ => at(here, v(operator)),
            };
            let hint = did_you_mean(id, clients.iter().copied());
            let fix = if hint.is_empty() {
                "; declare it under `clients` with a description, or fix the id".to_owned()
            } else {
                hint
            };
            self.error(
                &place,
                format!("`{id}` is not a client declared under `clients`{fix}"),
            );
        }
    }
}

/// The index of `{name}`'s segment in the route's pattern.
fn param_index(segments: &[PatternSegment], pattern: &str, name: &str) -> Result<usize, String> {
    let mut names = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        if let PatternSegment::Param(param) = segment {
            if param == name {
                return Ok(i);
            }
            names.push(param.as_str());
        }
    }
    let hint = match closest(name, names.iter().copied()) {
        _ if names.is_empty() => " (it has none; write `{{` for a literal `{`)".to_owned(),
        Some(close) => format!("; did you mean `{{{close}}}`?"),
        None => format!(
            " (its parameters: {})",
            names
                .iter()
                .map(|n| format!("`{{{n}}}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Err(format!(
        "`{{{name}}}` is not a parameter of path `{pattern}`{hint}"
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::Path;

    use crate::policy::{Operator, Policy};

    fn problems(src: &str) -> Vec<String> {
        Policy::from_yaml_str(src, Path::new("p.yaml"))
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn every_condition_mistake_is_reported_with_its_position() {
        let src = "\
permissions: {r: read}
restrictions: {no:x: never}
clients:
  clientco-prod: ClientCo production
routes:
  - path: /tenants/{tenant}/a
    scopes: [r]
    when:
      - claim: t
        equals: \"{tenant}\"
      - claim: t
        equals: \"{tenat}\"
      - claim: t
        equal: x
      - claim: t
        equals: a
        in: [a]
      - claim: t
        in: []
      - claim: azp
        in: [clientco-prd, clientco-prod]
      - claim: t
        equals: \"{tenant\"
      - equals: x
      - claim: t
      - claim: t
        equals: 42
  - path: /open
    public: true
    when:
      - {claim: t, equals: x}
  - path: /never/**
    restricted: no:x
    when:
      - {claim: t, equals: x}
";
        let errs = problems(src);
        let expect = [
            "p.yaml:12:17: `{tenat}` is not a parameter of path `/tenants/{tenant}/a`; did you mean `{tenant}`?",
            "p.yaml:14:9: unknown operator `equal` in a condition; did you mean `equals`?",
            "p.yaml:17:9: a condition has one operator, this one has `equals` and `in`",
            "p.yaml:19:13: an empty `in` never holds",
            "p.yaml:21:14: `clientco-prd` is not a client declared under `clients`; did you mean `clientco-prod`?",
            "p.yaml:23:17: `{tenant` opens a `{` that is never closed",
            "p.yaml:24:9: this condition names no claim",
            "p.yaml:25:9: this condition has no operator",
            "p.yaml:27:17: the value of `equals` must be text: claims are compared as strings; quote it (`\"42\"`)",
            "p.yaml:30:5: a public route cannot have `when` conditions",
            "p.yaml:34:5: a restricted route cannot have `when` conditions",
        ];
        for e in expect {
            assert!(
                errs.iter().any(|got| got.starts_with(e)),
                "missing {e:?} in {errs:#?}"
            );
        }
        assert_eq!(errs.len(), expect.len(), "{errs:#?}");
    }

    #[test]
    fn a_parameter_missing_from_a_path_without_parameters_says_so() {
        let errs = problems(
            "permissions: {r: read}\nroutes:\n  - path: /a\n    scopes: [r]\n    when: [{claim: t, equals: \"{t}\"}]\n",
        );
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].contains(
                "`{t}` is not a parameter of path `/a` (it has none; write `{{` for a literal `{`)"
            ),
            "{errs:?}"
        );
    }

    #[test]
    fn without_a_clients_register_any_client_id_may_be_named() {
        let p = Policy::from_yaml_str(
            "permissions: {r: read}\nroutes:\n  - path: /a\n    scopes: [r]\n    when: [{claim: azp, in: [anyone]}]\n",
            Path::new("p.yaml"),
        )
        .unwrap();
        assert!(p.clients.is_empty());
        assert!(matches!(p.routes[0].conditions[0].operator, Operator::In(ref v) if v.len() == 1));
    }

    #[test]
    fn clients_register_values_are_checked_for_equals_too_and_literals_only() {
        let src = "permissions: {r: read}\nclients: {clientco: ClientCo}\nroutes:\n  - path: '/c/{client}'\n    scopes: [r]\n    when:\n      - {claim: azp, equals: \"{client}\"}\n      - {claim: client_id, equals: globex}\n";
        let errs = problems(src);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].starts_with(
                "p.yaml:8:36: `globex` is not a client declared under `clients`; declare it"
            ),
            "{errs:?}"
        );
    }

    /// The first-round policy has none of the new keys, and loads as before.
    #[test]
    fn the_first_round_policy_has_no_conditions_and_no_clients() {
        let p = Policy::from_yaml_str(
            include_str!("../../../policies/clientco.yaml"),
            Path::new("p.yaml"),
        )
        .unwrap();
        assert!(p.clients.is_empty());
        assert!(p.routes.iter().all(|r| r.conditions.is_empty()));
    }
}
