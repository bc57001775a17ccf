//! Policy file loading: YAML text -> checked `Policy`, or every problem with file:line:column.
//!
//! The YAML is parsed into a plain `serde_norway::Value` (syntax errors carry their position),
//! then checked by hand rather than through `deny_unknown_fields`, so that one load reports
//! *every* problem, not the first. Positions of semantic problems (an undeclared scope, an
//! ambiguous route) come from `locate`. The `when:` and `clients:` readers are in `conditions`.

mod conditions;

use std::path::Path;

use http::Method;
use serde_norway::{Mapping, Value};

use super::locate::{Step, locate, within};
use super::matcher::{PatternSegment, Trie};
use super::pattern::{allow_header, methods_overlap, parse_pattern, same_shape};
use super::subtree;
use super::{Access, IssuerRef, Mode, Policy, PoolRef, RateLimit, Route};
use crate::diagnostic::{Diagnostic, Diagnostics, did_you_mean};
use crate::identity::Binding;
use crate::units::parse_size;
use conditions::RouteFacts;

const TOP_KEYS: &[&str] = &[
    "permissions",
    "restrictions",
    "clients",
    "rate_limit",
    "routes",
];
const ROUTE_KEYS: &[&str] = &[
    "path",
    "methods",
    "scopes",
    "restricted",
    "public",
    "websocket",
    "mode",
    "max_body",
    "rate_limit",
    "issuers",
    "description",
    "when",
    "binding",
    "upstream",
];
const RATE_LIMIT_KEYS: &[&str] = &["per_second", "burst"];

pub(super) fn load_file(path: &Path) -> Result<Policy, Diagnostics> {
    match std::fs::read_to_string(path) {
        Ok(source) => parse(&source, path),
        Err(e) => Err(Diagnostics(vec![Diagnostic {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            message: unreadable(&e, path),
        }])),
    }
}

/// Why the policy file could not be read, and what to do about it.
fn unreadable(error: &std::io::Error, path: &Path) -> String {
    match error.kind() {
        std::io::ErrorKind::InvalidData => "the policy file is not UTF-8 text; save it as UTF-8 \
             (YAML 1.2 policies are UTF-8)"
            .to_owned(),
        _ if path.is_dir() => "the policy path is a directory, not a file; point \
             `[policy] file` in gateway.toml at the YAML file"
            .to_owned(),
        _ => format!("cannot read the policy file: {error}; check `[policy] file` in gateway.toml"),
    }
}

/// SHA-256 of the policy text, hex: the exact bytes the policy was parsed from.
fn sha256_hex(source: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, source.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A mapping key as text (YAML allows `1:` or `true:` as keys; we compare them as written).
pub(crate) fn key_text(key: &Value) -> Option<String> {
    match key {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(super) fn parse(source: &str, file: &Path) -> Result<Policy, Diagnostics> {
    let mut loader = Loader {
        source,
        file,
        problems: Vec::new(),
        issuer_refs: Vec::new(),
        pool_refs: Vec::new(),
    };
    let document: Value = match serde_norway::from_str(source) {
        Ok(v) => v,
        Err(e) => return Err(Diagnostics(vec![yaml_syntax_error(source, file, &e)])),
    };
    let policy = loader.policy(&document);
    if let Some(policy) = policy
        && loader.problems.is_empty()
    {
        return Ok(policy);
    }
    let mut problems = loader.problems;
    problems.sort_by_key(|d| (d.line, d.column));
    Err(Diagnostics(problems))
}

/// A YAML syntax error as one diagnostic: the position once (libyaml repeats it in its message),
/// the context it names said in words, and a hint for the usual causes (a tab, an indent, an
/// unquoted `: `, an unclosed `[`). Shared with the `gateway test` case files.
pub fn yaml_syntax_error(source: &str, file: &Path, error: &serde_norway::Error) -> Diagnostic {
    let (line, column) = error
        .location()
        .map_or((1, 1), |l| within(source, l.line(), l.column()));
    let text = error.to_string();
    // "<problem> at line L column C[, while parsing <context> at line L2 column C2]"
    let (problem, context) = match text.split_once(", while ") {
        Some((problem, context)) => (problem, Some(context)),
        None => (text.as_str(), None),
    };
    let strip = |part: &str| -> String {
        match part.rfind(" at line ") {
            Some(at) => part[..at].to_owned(),
            None => part.to_owned(),
        }
    };
    // The position is the diagnostic's own; the context keeps its words, not a second one.
    let mut message = format!("not valid YAML: {}", strip(problem));
    if let Some(context) = context {
        message.push_str(&format!(" (while {})", strip(context)));
    }
    let offending = source
        .lines()
        .nth(line.saturating_sub(1))
        .unwrap_or_default();
    let hint = if offending.starts_with('\t')
        || (problem.contains("cannot start any token") && offending.contains('\t'))
    {
        Some("YAML indents with spaces only, and this line has a tab; replace it with spaces")
    } else if problem.contains("mapping values are not allowed") {
        Some(
            "a value containing `: ` must be quoted (e.g. `read:x: \"Read: everything\"`), or this line is indented deeper than its neighbours",
        )
    } else if problem.contains("expected ',' or ']'") {
        Some("a `[...]` list must be closed on the same entry, e.g. `methods: [GET, POST]`")
    } else if problem.contains("expected '-' indicator")
        || problem.contains("expected key")
        || problem.contains("block")
    {
        Some(
            "check the indentation: the entries of one list or mapping start in the same column, with spaces",
        )
    } else {
        None
    };
    if let Some(hint) = hint {
        message.push_str("; ");
        message.push_str(hint);
    }
    Diagnostic {
        file: file.to_path_buf(),
        line,
        column,
        message,
    }
}

struct Loader<'s> {
    source: &'s str,
    file: &'s Path,
    problems: Vec<Diagnostic>,
    /// Issuer names routes list, with their positions (checked against the config later).
    issuer_refs: Vec<IssuerRef>,
    pool_refs: Vec<PoolRef>,
}

fn v(key: &str) -> Step {
    Step::Value(key.to_owned())
}

fn at(base: &[Step], more: Step) -> Vec<Step> {
    let mut path = base.to_vec();
    path.push(more);
    path
}

/// A route as parsed, before the trie is built.
struct Draft {
    index: usize,
    segments: Vec<PatternSegment>,
    route: Route,
}

impl Loader<'_> {
    fn error(&mut self, path: &[Step], message: impl Into<String>) {
        let (line, column) = locate(self.source, path);
        self.problems.push(Diagnostic {
            file: self.file.to_path_buf(),
            line,
            column,
            message: message.into(),
        });
    }

    /// Reports keys of `map` not in `known`; returns the mapping's entries keyed by text.
    fn known_keys(&mut self, map: &Mapping, base: &[Step], known: &[&str], what: &str) {
        for key in map.keys() {
            match key_text(key) {
                Some(k) if known.contains(&k.as_str()) => {}
                Some(k) => {
                    let hint = did_you_mean(&k, known.iter().copied());
                    self.error(
                        &at(base, Step::Key(k.clone())),
                        format!(
                            "unknown key `{k}` in {what}{hint} (known keys: {})",
                            known.join(", ")
                        ),
                    );
                }
                None => self.error(base, format!("{what} has a key that is not a plain name")),
            }
        }
    }

    fn policy(&mut self, document: &Value) -> Option<Policy> {
        let Value::Mapping(top) = document else {
            self.error(
                &[],
                "a policy file is a mapping with `permissions`, `restrictions` and `routes`",
            );
            return None;
        };
        self.known_keys(top, &[], TOP_KEYS, "the policy file");
        let permissions = self.declarations(top.get("permissions"), "permissions");
        let restrictions = self.declarations(top.get("restrictions"), "restrictions");
        let clients = self.clients(top.get("clients"));
        let routes = match top.get("routes") {
            Some(Value::Sequence(routes)) => routes,
            Some(Value::Null) | None => {
                self.error(
                    &[],
                    "no `routes:`; list the routes the gateway may forward (anything else is denied)",
                );
                return None;
            }
            Some(_) => {
                self.error(
                    &[v("routes")],
                    "`routes` must be a list of routes (`- path: /x`)",
                );
                return None;
            }
        };
        let scope_names: Vec<&str> = permissions.iter().map(|(k, _)| k.as_str()).collect();
        let restriction_names: Vec<&str> = restrictions.iter().map(|(k, _)| k.as_str()).collect();
        let client_names: Option<Vec<&str>> = clients
            .as_ref()
            .map(|c| c.iter().map(|(k, _)| k.as_str()).collect());
        let drafts: Vec<Draft> = routes
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                self.route(
                    i,
                    r,
                    &scope_names,
                    &restriction_names,
                    client_names.as_deref(),
                )
            })
            .collect();
        let (trie, mut routes) = self.build(drafts);
        // A top-level `rate_limit` is every route's default; a route's own one wins.
        let default_limit = self.rate_limit(top.get("rate_limit"), &[v("rate_limit")]);
        for route in &mut routes {
            route.rate_limit = route.rate_limit.or(default_limit);
        }
        Some(Policy {
            source: self.file.to_path_buf(),
            sha256: sha256_hex(self.source),
            permissions,
            restrictions,
            clients: clients.unwrap_or_default(),
            routes,
            issuer_refs: std::mem::take(&mut self.issuer_refs),
            pool_refs: std::mem::take(&mut self.pool_refs),
            trie,
        })
    }

    /// `permissions:` / `restrictions:`: name -> description.
    fn declarations(&mut self, value: Option<&Value>, section: &str) -> Vec<(String, String)> {
        let map = match value {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Mapping(map)) => map,
            Some(_) => {
                self.error(
                    &[v(section)],
                    format!(
                        "`{section}` must map names to descriptions (`read:x: What it allows`)"
                    ),
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (key, description) in map {
            let Some(name) = key_text(key) else {
                self.error(
                    &[v(section)],
                    format!("a name under `{section}` is not text"),
                );
                continue;
            };
            let base = [v(section), Step::Key(name.clone())];
            if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                // RFC 6749 §3.3: a scope token has no spaces; the `scope` claim is split on them.
                self.error(&base, format!("`{name}` cannot contain spaces: the `scope` claim is space-separated (RFC 6749 §3.3)"));
            }
            let description = match description {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                _ => {
                    self.error(
                        &[v(section), v(&name)],
                        "a description must be text (quote it if it contains `: `)",
                    );
                    String::new()
                }
            };
            out.push((name, description));
        }
        out
    }

    /// One route: each key read by its own reader, then checked together. `None` when any
    /// key had a problem (every problem is reported).
    fn route(
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
        let upstream = self.upstream(value, &here, &base, &pattern);
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
    fn path(
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
    fn flag(&mut self, value: Option<&Value>, here: &[Step], key: &str) -> bool {
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
    fn text(&mut self, value: Option<&Value>, here: &[Step], key: &str) -> Option<String> {
        match value {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.error(here, format!("`{key}` must be text"));
                None
            }
        }
    }

    /// `restricted:`: one restriction declared under `restrictions`.
    fn restricted(
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
    fn access(
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
    fn websocket(
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
    fn issuers(
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

    /// `upstream:`: the pool the route forwards to, by name; whether it is configured is checked
    /// against gateway.toml (`Policy::unknown_pools`), as is a route without one when there is
    /// no default pool.
    fn upstream(
        &mut self,
        value: Option<&Value>,
        here: &[Step],
        route: &[Step],
        pattern: &str,
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
        let (line, column) = locate(self.source, if name.is_some() { here } else { route });
        self.pool_refs.push(PoolRef {
            name: name.clone(),
            pattern: pattern.to_owned(),
            line,
            column,
        });
        name
    }

    /// `binding:`: `none`, `dpop`, `mtls` or `any`; a load error on a public route, which
    /// never reads a token.
    fn binding(&mut self, value: Option<&Value>, here: &[Step], public: bool) -> Binding {
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

    /// `mode:`: `enforce` (the default) or `shadow`.
    fn mode(&mut self, value: Option<&Value>, here: &[Step]) -> Mode {
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
    fn max_body(&mut self, value: Option<&Value>, here: &[Step]) -> Option<u64> {
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
    fn pattern(&mut self, pattern: &str, here: &[Step]) -> Option<Vec<PatternSegment>> {
        match parse_pattern(pattern) {
            Ok(segments) => Some(segments),
            Err(problem) => {
                self.error(here, problem);
                None
            }
        }
    }

    fn methods(&mut self, value: Option<&Value>, here: &[Step]) -> Option<Vec<Method>> {
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

    fn scopes(
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

    fn rate_limit(&mut self, value: Option<&Value>, here: &[Step]) -> Option<RateLimit> {
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

    /// Builds the trie, refusing routes that are ambiguous with an earlier one, and fills in
    /// each route's `Allow` value (the union over its group).
    fn build(&mut self, drafts: Vec<Draft>) -> (Trie, Vec<Route>) {
        let mut trie = Trie::default();
        let mut routes: Vec<Route> = Vec::with_capacity(drafts.len());
        let mut file_index: Vec<usize> = Vec::with_capacity(drafts.len());
        let mut segments: Vec<Vec<PatternSegment>> = Vec::with_capacity(drafts.len());
        for draft in drafts {
            let id = routes.len();
            let same_shape = trie.insert(&draft.segments, id);
            for other in same_shape {
                let earlier = &routes[other];
                if methods_overlap(earlier.methods.as_deref(), draft.route.methods.as_deref()) {
                    let (line, _) = locate(
                        self.source,
                        &[v("routes"), Step::Index(file_index[other]), v("path")],
                    );
                    self.error(
                        &[v("routes"), Step::Index(draft.index), v("path")],
                        format!(
                            "route `{}` is ambiguous with `{}` (line {line}): both match the same requests with the same specificity; merge them, or give them disjoint `methods`",
                            draft.route.pattern, earlier.pattern
                        ),
                    );
                }
            }
            routes.push(draft.route);
            file_index.push(draft.index);
            segments.push(draft.segments);
        }
        self.restricted_subtrees(&routes, &segments, &file_index);
        // Fill `allow` per group: routes sharing a trie node.
        let groups: Vec<Vec<usize>> = {
            let mut seen = vec![false; routes.len()];
            let mut groups = Vec::new();
            for id in 0..routes.len() {
                if seen[id] {
                    continue;
                }
                let group: Vec<usize> = (id..routes.len())
                    .filter(|&o| same_shape(&routes[id].pattern, &routes[o].pattern))
                    .collect();
                for &g in &group {
                    seen[g] = true;
                }
                groups.push(group);
            }
            groups
        };
        for group in groups {
            let allow = allow_header(group.iter().map(|&g| routes[g].methods.as_deref()));
            for g in group {
                routes[g].allow = allow.clone();
            }
        }
        (trie, routes)
    }
}

impl Loader<'_> {
    /// Restricted means never reachable: a route that would win over a restricted one for some
    /// request is a load error at the inner route naming both (`subtree::reopenings`).
    fn restricted_subtrees(
        &mut self,
        routes: &[Route],
        segments: &[Vec<PatternSegment>],
        file_index: &[usize],
    ) {
        for found in subtree::reopenings(routes, segments) {
            let (restricted, inner) = (&routes[found.restricted], &routes[found.inner]);
            let restriction = match &restricted.access {
                Access::Restricted(name) => name.as_str(),
                Access::Scopes(_) => "",
            };
            let at = |id: usize| [v("routes"), Step::Index(file_index[id]), v("path")];
            let (line, _) = locate(self.source, &at(found.restricted));
            self.error(
                &at(found.inner),
                format!(
                    "route `{}` reopens the restricted route `{}` (line {line}, restricted: {restriction}): it is more specific for requests such as `{}`, so it would win and make a never-reachable path reachable; remove it, make it `restricted` too, or give it `methods` the restricted route does not cover",
                    inner.pattern, restricted.pattern, found.example
                ),
            );
        }
    }
}

/// The fix for an undeclared name: the suggestion if there is one, else how to declare it.
fn or_declare(hint: &str, section: &str) -> String {
    if hint.is_empty() {
        format!("; declare it under `{section}` with a description, or fix the name")
    } else {
        hint.to_owned()
    }
}
