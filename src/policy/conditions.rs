//! Attribute conditions (`when:` on a route): what a token's claims must say about the request,
//! beyond its scopes, e.g. "the tenant claim equals the `{tenant}` segment of the path".
//!
//! A [`Condition`] is data: a claim name and an [`Operator`] over [`Template`] values, parsed and
//! checked at load time (`policy::load`), with every `{name}` already resolved to the index of
//! its segment in the route's pattern. Evaluating one ([`Condition::evaluate`]) reads that
//! segment of the normalised path and compares bytes in place: no allocation on the request
//! path. The claim is read from the identity's claim set, which is parsed once per verified
//! (and cached) token.
//!
//! Semantics (docs/policy.md, "Conditions"): `equals` holds when the claim is a string equal to
//! the value, `in` when it is a string equal to one of the values, `contains` when it is an
//! array of strings one of which equals the value. A missing claim, or one of another type
//! (an array for `equals`, a number, an array holding anything but strings for `contains`),
//! fails. A path parameter stands for the normalised segment byte for byte: unreserved escapes
//! decoded, every other escape kept with upper-case hex digits (RFC 3986 §6.2.2.1-2).

use std::fmt;

use serde_json::{Map, Value};

/// One `when:` entry: a claim and what it must satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// A top-level claim name, e.g. `https://saasco/tenant` (Auth0 namespaced claims included).
    pub claim: String,
    pub operator: Operator,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    /// The claim is a string equal to the value.
    Equals(Template),
    /// The claim is a string equal to one of the values (never empty).
    In(Vec<Template>),
    /// The claim is an array of strings, one of which equals the value.
    Contains(Template),
}

/// A condition's value as written (`"{tenant}"`, `"eu"`, `"org-{tenant}"`), split into literal
/// text and path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The text from the policy file, for messages and docs.
    pub written: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    /// `{name}`: the segment at this index of the normalised path (0 = the first after `/`).
    Param {
        name: String,
        segment: usize,
    },
}

/// Why a condition did or did not hold, for `gateway explain` and the 403 description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Holds,
    /// The token has no such claim.
    Missing,
    /// The claim is of another JSON type than the operator reads; the type it has.
    WrongType(&'static str),
    /// The claim has the right type but not the value.
    Differs,
}

impl Template {
    /// Parses `text`: `{name}` is a path parameter (its segment index from `param_index`),
    /// `{{` a literal `{`; a `}` outside a parameter is literal text. `Err` says what is wrong.
    pub(super) fn parse(
        text: &str,
        param_index: impl Fn(&str) -> Result<usize, String>,
    ) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            literal.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            if let Some(escaped) = after.strip_prefix('{') {
                literal.push('{');
                rest = escaped;
                continue;
            }
            let Some(close) = after.find('}') else {
                return Err(format!(
                    "`{text}` opens a `{{` that is never closed; a path parameter is written `{{name}}`, a literal `{{` as `{{{{`"
                ));
            };
            let name = &after[..close];
            if name.is_empty() || name.contains('{') {
                return Err(format!(
                    "`{text}` has a `{{` without a parameter name; a path parameter is written `{{name}}`, a literal `{{` as `{{{{`"
                ));
            }
            let segment = param_index(name)?;
            if !literal.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut literal)));
            }
            parts.push(Part::Param {
                name: name.to_owned(),
                segment,
            });
            rest = &after[close + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template {
            written: text.to_owned(),
            parts,
        })
    }

    /// Whether the value names a path parameter (so it differs from request to request).
    pub fn has_params(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Param { .. }))
    }

    /// The value with no parameter in it, as text (`None` when it has parameters).
    pub fn literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Text(text)] => Some(text),
            _ => None,
        }
    }

    /// Whether `candidate` equals this value for the normalised `path`, compared in place.
    pub fn matches(&self, candidate: &str, path: &str) -> bool {
        let mut rest = candidate.as_bytes();
        for part in &self.parts {
            let piece = match part {
                Part::Text(text) => text.as_str(),
                Part::Param { segment, .. } => match path_segment(path, *segment) {
                    Some(value) => value,
                    None => return false,
                },
            };
            match rest.strip_prefix(piece.as_bytes()) {
                Some(after) => rest = after,
                None => return false,
            }
        }
        rest.is_empty()
    }

    /// The value for `path`, parameters substituted (offline tools only: it allocates).
    pub fn substitute(&self, path: &str) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Param { segment, .. } => {
                    out.push_str(path_segment(path, *segment).unwrap_or_default());
                }
            }
        }
        out
    }

    /// The value as a function of the request path, for comparing two policies (`gateway
    /// diff`): parameters by segment index rather than name (`{id}` renamed `{item}` reads the
    /// same), literal `{` doubled so the form is unambiguous.
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(&text.replace('{', "{{")),
                Part::Param { segment, .. } => out.push_str(&format!("{{{segment}}}")),
            }
        }
        out
    }

    /// The parameter names used, in order.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Param { name, .. } => Some(name.as_str()),
            Part::Text(_) => None,
        })
    }
}

/// Segment `index` of a normalised path (`/a/b` has `a` at 0 and `b` at 1).
fn path_segment(path: &str, index: usize) -> Option<&str> {
    path.strip_prefix('/')?.split('/').nth(index)
}

/// The JSON type of a claim, as messages name it.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

impl Condition {
    /// Whether the condition holds for a token with `claims` on the normalised `path`.
    pub fn evaluate(&self, claims: &Map<String, Value>, path: &str) -> Outcome {
        let Some(claim) = claims.get(&self.claim) else {
            return Outcome::Missing;
        };
        let holds = match (&self.operator, claim) {
            (Operator::Equals(value), Value::String(s)) => value.matches(s, path),
            (Operator::In(values), Value::String(s)) => values.iter().any(|v| v.matches(s, path)),
            (Operator::Contains(value), Value::Array(items)) => {
                if items.iter().any(|item| !item.is_string()) {
                    return Outcome::WrongType("a list holding something other than strings");
                }
                items
                    .iter()
                    .any(|item| item.as_str().is_some_and(|s| value.matches(s, path)))
            }
            (_, other) => return Outcome::WrongType(type_name(other)),
        };
        if holds {
            Outcome::Holds
        } else {
            Outcome::Differs
        }
    }

    /// The operator's name as written in the policy.
    pub fn operator_name(&self) -> &'static str {
        match self.operator {
            Operator::Equals(_) => "equals",
            Operator::In(_) => "in",
            Operator::Contains(_) => "contains",
        }
    }

    /// Every value the condition compares with.
    pub fn values(&self) -> &[Template] {
        match &self.operator {
            Operator::Equals(value) | Operator::Contains(value) => std::slice::from_ref(value),
            Operator::In(values) => values,
        }
    }

    /// What the condition requires, safe to show the caller: path parameters by name, and
    /// never a value written in the policy, which may be another tenant's or client's.
    pub fn requirement(&self) -> String {
        let value = |template: &Template| {
            if template.has_params() {
                format!("`{}` (from the path)", template.written)
            } else {
                "the value this route requires".to_owned()
            }
        };
        match &self.operator {
            Operator::Equals(v) => format!("equal {}", value(v)),
            Operator::Contains(v) => format!("be a list of strings containing {}", value(v)),
            Operator::In(values) => match values.as_slice() {
                [only] => format!("equal {}", value(only)),
                _ if values.iter().all(Template::has_params) => format!(
                    "be one of {}",
                    values
                        .iter()
                        .map(|v| format!("`{}`", v.written))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                _ => format!("be one of the {} values this route allows", values.len()),
            },
        }
    }

    /// A claim value that satisfies the condition on `path` (for `gateway explain`'s "a token
    /// that would pass"); allocates, offline only.
    pub fn satisfying_value(&self, path: &str) -> Value {
        match &self.operator {
            Operator::Equals(v) => Value::String(v.substitute(path)),
            Operator::In(values) => Value::String(
                values
                    .first()
                    .map(|v| v.substitute(path))
                    .unwrap_or_default(),
            ),
            Operator::Contains(v) => Value::Array(vec![Value::String(v.substitute(path))]),
        }
    }
}

/// `claim equals "value"`, as `gateway explain` and the docs show a condition in full.
impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ", self.claim, self.operator_name())?;
        match &self.operator {
            Operator::Equals(v) | Operator::Contains(v) => write!(f, "{:?}", v.written),
            Operator::In(values) => {
                f.write_str("[")?;
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{:?}", v.written)?;
                }
                f.write_str("]")
            }
        }
    }
}

impl Outcome {
    /// The cause, in a few words, for the 403 description; never the claim's value.
    pub fn cause(self, claim: &str) -> String {
        match self {
            Outcome::Holds => "it holds".to_owned(),
            Outcome::Missing => format!("the token has no `{claim}` claim"),
            Outcome::WrongType(kind) => format!("the token's `{claim}` claim is {kind}"),
            Outcome::Differs => format!("the token's `{claim}` claim does not"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Parameters of `/tenants/{tenant}/sites/{site}`.
    fn param(name: &str) -> Result<usize, String> {
        match name {
            "tenant" => Ok(1),
            "site" => Ok(3),
            other => Err(format!("no {other}")),
        }
    }

    fn template(text: &str) -> Template {
        Template::parse(text, param).unwrap()
    }

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    const PATH: &str = "/tenants/acme/sites/a%3Ab";

    #[test]
    fn templates_substitute_segments_byte_for_byte() {
        assert!(template("{tenant}").matches("acme", PATH));
        assert!(!template("{tenant}").matches("acm", PATH));
        assert!(!template("{tenant}").matches("acmee", PATH));
        assert!(!template("{tenant}").matches("ACME", PATH));
        assert!(template("org-{tenant}/{site}").matches("org-acme/a%3Ab", PATH));
        assert!(!template("{site}").matches("a:b", PATH));
        assert!(!template("{site}").matches("a%3ab", PATH));
        assert!(template("eu").matches("eu", PATH));
        assert!(template("").matches("", PATH));
        // A parameter beyond the path's end never matches (not even the empty string).
        assert!(!template("{site}").matches("", "/tenants/acme"));
    }

    #[test]
    fn the_canonical_form_ignores_parameter_names_but_not_their_place() {
        let other = |name: &str| match name {
            "t" => Ok(1),
            "site" => Ok(3),
            other => Err(format!("no {other}")),
        };
        let renamed = Template::parse("org-{t}", other).unwrap();
        assert_eq!(template("org-{tenant}").canonical(), renamed.canonical());
        assert_ne!(
            template("{tenant}").canonical(),
            template("{site}").canonical()
        );
        // A literal `{1}` is not the parameter in segment 1.
        assert_ne!(
            template("{{1}").canonical(),
            template("{tenant}").canonical()
        );
    }

    #[test]
    fn braces_escape_and_errors() {
        assert_eq!(template("{{tenant}").literal(), Some("{tenant}"));
        assert_eq!(template("a}b").literal(), Some("a}b"));
        assert_eq!(
            template("{{{tenant}").params().collect::<Vec<_>>(),
            ["tenant"]
        );
        assert!(template("{{{tenant}").matches("{acme", PATH));
        assert!(
            Template::parse("{tenant", param)
                .unwrap_err()
                .contains("never closed")
        );
        assert!(Template::parse("{}", param).unwrap_err().contains("name"));
        assert_eq!(Template::parse("{nope}", param).unwrap_err(), "no nope");
    }

    #[test]
    fn operators_and_claim_types() {
        let eq = Condition {
            claim: "t".into(),
            operator: Operator::Equals(template("{tenant}")),
        };
        let within = Condition {
            claim: "azp".into(),
            operator: Operator::In(vec![template("a"), template("b")]),
        };
        let has = Condition {
            claim: "r".into(),
            operator: Operator::Contains(template("eu")),
        };
        let c = claims(json!({"t": "acme", "azp": "b", "r": ["us", "eu"]}));
        assert_eq!(eq.evaluate(&c, PATH), Outcome::Holds);
        assert_eq!(within.evaluate(&c, PATH), Outcome::Holds);
        assert_eq!(has.evaluate(&c, PATH), Outcome::Holds);

        let c = claims(json!({"t": ["acme"], "azp": 7, "r": "eu"}));
        assert_eq!(eq.evaluate(&c, PATH), Outcome::WrongType("a list"));
        assert_eq!(within.evaluate(&c, PATH), Outcome::WrongType("a number"));
        assert_eq!(has.evaluate(&c, PATH), Outcome::WrongType("a string"));

        let c = claims(json!({"t": "globex", "azp": "c", "r": ["us", 1, "eu"]}));
        assert_eq!(eq.evaluate(&c, PATH), Outcome::Differs);
        assert_eq!(within.evaluate(&c, PATH), Outcome::Differs);
        assert!(matches!(has.evaluate(&c, PATH), Outcome::WrongType(_)));

        let c = claims(json!({}));
        assert_eq!(eq.evaluate(&c, PATH), Outcome::Missing);
    }

    #[test]
    fn the_requirement_never_shows_a_literal_value() {
        let within = Condition {
            claim: "azp".into(),
            operator: Operator::In(vec![template("globex-prod"), template("acme-prod")]),
        };
        assert_eq!(
            within.requirement(),
            "be one of the 2 values this route allows"
        );
        let eq = Condition {
            claim: "t".into(),
            operator: Operator::Equals(template("{tenant}")),
        };
        assert_eq!(eq.requirement(), "equal `{tenant}` (from the path)");
        assert_eq!(eq.to_string(), "t equals \"{tenant}\"");
        assert_eq!(eq.satisfying_value(PATH), json!("acme"));
    }
}
