//! Reading a backend's OpenAPI document (3.0 or 3.1, JSON as FastAPI serves it at
//! `/openapi.json`, or YAML) from a file or an `http(s)://` URL, down to what the policy tools
//! need: each operation's path template, method and security requirement, and the scope
//! descriptions of the security schemes.
//!
//! Security (OpenAPI 3.1 §4.8.10 and §4.8.30): an operation's `security` replaces the document's;
//! a list of requirement objects is a choice (any one suffices), the schemes inside one object
//! are all required, and an empty object means no authentication. FastAPI writes
//! `[{"<scheme>": ["read:forecast"]}]` for `Security(..., scopes=["read:forecast"])`, and
//! describes the scopes under `components.securitySchemes.<scheme>.flows.<flow>.scopes`.
//! Paths and operations keep the document's order (FastAPI's declaration order).

use std::fmt;
use std::marker::PhantomData;

use http::Method;
use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use crate::constants::MAX_OPENAPI_BYTES;

/// What the tools read from one OpenAPI document.
#[derive(Debug, Clone)]
pub struct Api {
    /// `title version` from `info`, when present.
    pub title: Option<String>,
    pub operations: Vec<Operation>,
    /// Every scope a security scheme describes, in document order (first description wins).
    pub scopes: Vec<(String, String)>,
    /// Path items that could not be read (a `$ref`, a path not starting with `/`), and why.
    pub skipped: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Operation {
    /// The path template as written, e.g. `/reports/{report_id}`.
    pub path: String,
    pub method: Method,
    pub summary: Option<String>,
    pub security: Security,
}

/// An operation's security requirement, as the tools can compare it with a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Security {
    /// No requirement: the backend serves anyone (as far as its document says).
    None,
    /// One requirement: an authenticated caller granting every one of these scopes (possibly
    /// none), in the document's order.
    Scopes(Vec<String>),
    /// Several requirement objects: OpenAPI reads them as alternatives.
    Alternatives(Vec<Requirement>),
}

/// One requirement object: every scheme in it, with the scopes they ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// Empty for `{}`: no authentication.
    pub schemes: Vec<String>,
    pub scopes: Vec<String>,
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.schemes.is_empty() {
            f.write_str("[no authentication]")
        } else {
            write!(f, "[{}]", self.scopes.join(" "))
        }
    }
}

/// Reads `location`: an `http://` or `https://` URL (fetched with the same client settings as
/// the JWKS, at most `MAX_OPENAPI_BYTES`), else a file path.
pub async fn load(location: &str) -> Result<Api, String> {
    let text = if location.starts_with("http://") || location.starts_with("https://") {
        let client = crate::fetch::client("openapi", crate::fetch::Redirects::Any)?;
        let body = crate::fetch::get_bounded(
            &client,
            location,
            "application/json, application/yaml;q=0.9",
            MAX_OPENAPI_BYTES,
            "OpenAPI document",
        )
        .await?;
        String::from_utf8(body).map_err(|_| format!("GET {location}: the body is not UTF-8"))?
    } else {
        read_file(location)?
    };
    parse(&text).map_err(|why| format!("{location}: {why}"))
}

fn read_file(path: &str) -> Result<String, String> {
    let metadata = std::fs::metadata(path)
        .map_err(|e| format!("cannot read the OpenAPI document {path}: {e}"))?;
    if metadata.len() > MAX_OPENAPI_BYTES as u64 {
        return Err(format!(
            "{path}: larger than {MAX_OPENAPI_BYTES} bytes; is this an OpenAPI document?"
        ));
    }
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read the OpenAPI document {path}: {e}"))?;
    String::from_utf8(bytes).map_err(|_| format!("{path}: not UTF-8 text"))
}

/// Parses an OpenAPI 3.x document: JSON when it starts with `{`, YAML otherwise.
pub fn parse(text: &str) -> Result<Api, String> {
    let document: Document = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| format!("not an OpenAPI document (JSON): {e}"))?
    } else {
        serde_norway::from_str(text).map_err(|e| format!("not an OpenAPI document (YAML): {e}"))?
    };
    if document.swagger.is_some() {
        return Err(
            "this is a Swagger 2.0 document; give an OpenAPI 3.0 or 3.1 one (FastAPI's /openapi.json is 3.1)"
                .to_owned(),
        );
    }
    match document.openapi.as_ref().and_then(text_of) {
        Some(version) if version.starts_with("3.") => {}
        Some(version) => {
            return Err(format!(
                "OpenAPI version {version} is not supported; 3.0 and 3.1 are"
            ));
        }
        None => return Err("no `openapi` version field: is this an OpenAPI document?".to_owned()),
    }
    let title = document.info.title.as_ref().and_then(text_of).map(|title| {
        match document.info.version.as_ref().and_then(text_of) {
            Some(version) => format!("{title} {version}"),
            None => title,
        }
    });
    let default_security = document.security.as_deref();
    let mut operations = Vec::new();
    let mut skipped = Vec::new();
    for (path, item) in document.paths.0 {
        if path.starts_with("x-") {
            continue; // a specification extension, not a path
        }
        if !path.starts_with('/') {
            skipped.push(format!("`{path}`: a path must start with `/`"));
            continue;
        }
        if item.reference {
            skipped.push(format!(
                "`{path}`: a `$ref` path item is not followed; inline it"
            ));
            continue;
        }
        for (method, raw) in item.operations {
            let security = security(raw.security.as_deref().or(default_security));
            operations.push(Operation {
                path: path.clone(),
                method,
                summary: raw.summary,
                security,
            });
        }
    }
    let mut scopes: Vec<(String, String)> = Vec::new();
    for (_, scheme) in document.components.security_schemes.0 {
        for (_, flow) in scheme.flows.0 {
            for (scope, description) in flow.scopes.0 {
                if !scopes.iter().any(|(s, _)| *s == scope) {
                    scopes.push((scope, text_of(&description).unwrap_or_default()));
                }
            }
        }
    }
    Ok(Api {
        title,
        operations,
        scopes,
        skipped,
    })
}

/// OpenAPI's operation keys (3.1 §4.8.9), as methods.
fn operation_method(key: &str) -> Option<Method> {
    Some(match key {
        "get" => Method::GET,
        "put" => Method::PUT,
        "post" => Method::POST,
        "delete" => Method::DELETE,
        "options" => Method::OPTIONS,
        "head" => Method::HEAD,
        "patch" => Method::PATCH,
        "trace" => Method::TRACE,
        _ => return None,
    })
}

fn security(list: Option<&[Ordered<Vec<String>>]>) -> Security {
    let requirements: Vec<Requirement> = list
        .unwrap_or_default()
        .iter()
        .map(|object| {
            let mut scopes: Vec<String> = Vec::new();
            for (_, names) in &object.0 {
                for name in names {
                    if !scopes.contains(name) {
                        scopes.push(name.clone());
                    }
                }
            }
            Requirement {
                schemes: object.0.iter().map(|(scheme, _)| scheme.clone()).collect(),
                scopes,
            }
        })
        .collect();
    match requirements.as_slice() {
        [] => Security::None,
        [one] if one.schemes.is_empty() => Security::None,
        [one] => Security::Scopes(one.scopes.clone()),
        _ => Security::Alternatives(requirements),
    }
}

/// A string, or a number or boolean written where a string belongs (`version: 1.0` in YAML).
fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[derive(Deserialize)]
struct Document {
    openapi: Option<Value>,
    swagger: Option<Value>,
    #[serde(default)]
    info: Info,
    #[serde(default)]
    paths: Ordered<PathItem>,
    #[serde(default)]
    components: Components,
    security: Option<Vec<Ordered<Vec<String>>>>,
}

#[derive(Deserialize, Default)]
struct Info {
    title: Option<Value>,
    version: Option<Value>,
}

/// A path item's operations in document order; its other members (`parameters`, `summary`,
/// `servers`, extensions) are skipped unread.
#[derive(Default)]
struct PathItem {
    operations: Vec<(Method, RawOperation)>,
    /// The item is a `$ref` to one defined elsewhere.
    reference: bool,
}

impl<'de> Deserialize<'de> for PathItem {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = PathItem;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a path item object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PathItem, A::Error> {
                let mut item = PathItem::default();
                while let Some(key) = map.next_key::<String>()? {
                    if let Some(method) = operation_method(&key) {
                        item.operations.push((method, map.next_value()?));
                    } else {
                        item.reference |= key == "$ref";
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(item)
            }
        }
        deserializer.deserialize_map(Members)
    }
}

#[derive(Deserialize)]
struct RawOperation {
    summary: Option<String>,
    security: Option<Vec<Ordered<Vec<String>>>>,
}

#[derive(Deserialize, Default)]
struct Components {
    #[serde(rename = "securitySchemes", default)]
    security_schemes: Ordered<Scheme>,
}

#[derive(Deserialize)]
struct Scheme {
    #[serde(default)]
    flows: Ordered<Flow>,
}

#[derive(Deserialize)]
struct Flow {
    #[serde(default)]
    scopes: Ordered<Value>,
}

/// A JSON object or YAML mapping with its entries in document order (serde_json's own map is
/// sorted by key).
struct Ordered<T>(Vec<(String, T)>);

impl<T> Default for Ordered<T> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Entries<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered<T>, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, T>()? {
                    entries.push(entry);
                }
                Ok(Ordered(entries))
            }
            // `paths:` or `security:` written but left empty in YAML.
            fn visit_unit<E>(self) -> Result<Ordered<T>, E> {
                Ok(Ordered(Vec::new()))
            }
        }
        deserializer.deserialize_map(Entries(PhantomData))
    }
}

#[cfg(test)]
mod tests;
