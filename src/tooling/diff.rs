//! `gateway diff`'s comparison: what two policy versions decide differently, each change classed
//! looser, stricter or neutral with its reason. Not a text diff: two files that decide the same
//! (routes reordered, split by method, a `{name}` renamed) differ by nothing or by a neutral line.
//!
//! The unit of comparison is a request: a path shape (parameter names ignored) and a method
//! (HEAD included). For every shape either file names (and, for a `**` route, the zero-segment
//! paths it also matches) and every method, both policies' own matchers (`Policy::route_for`)
//! say which route would judge it; a pair of judging routes is compared once, however many
//! shapes lead to it, and named after the new file's route. When both routes take the method,
//! the `ATTRIBUTES` table compares them one attribute at a time; otherwise the question is only
//! who can get through at all (`reachability`). Declarations (`permissions`, `restrictions`,
//! the `clients:` register) grant nothing by themselves, so their changes are neutral.

use std::collections::{BTreeSet, HashSet};
use std::fmt;

use http::Method;

use super::attributes::{ATTRIBUTES, Delta, reachability, reachable};
use super::shape::Shape;
use crate::policy::{Policy, Route};

/// How a change moves access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Someone gains access, or a limit loosens (shadow mode and dropping a requirement too).
    Looser,
    Stricter,
    /// Nobody gains or loses access (a description, a renamed parameter, a declaration).
    Neutral,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Looser => "looser",
            Class::Stricter => "stricter",
            Class::Neutral => "neutral",
        }
    }
}

/// Which requests, or which declaration, a change is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Subject {
    /// Requests of one path shape with these methods; `path` is written as the new file's
    /// route writes it (the old file's when only it has one).
    Requests { path: String, methods: Methods },
    /// A name under `permissions`, `restrictions` or `clients`.
    Declaration { section: &'static str, name: String },
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Methods {
    Listed(Vec<String>),
    /// Every method, including ones no file names.
    Any,
    /// Every method but these.
    AnyBut(Vec<String>),
}

/// One difference in what the two files decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub class: Class,
    pub subject: Subject,
    /// What changed: `scopes`, `access`, `mode`, `max_body`, `rate_limit`, `path`, ...
    pub attribute: &'static str,
    pub old: String,
    pub new: String,
    /// Why it is classed so, e.g. "any valid token now passes".
    pub reason: String,
}

/// Every change from `old` to `new`: looser first, then stricter, then neutral.
pub fn diff(old: &Policy, new: &Policy) -> Vec<Change> {
    let mut changes = requests(old, new);
    changes.extend(declarations(
        "permission",
        &old.permissions,
        &new.permissions,
    ));
    changes.extend(declarations(
        "restriction",
        &old.restrictions,
        &new.restrictions,
    ));
    changes.extend(declarations("client", &old.clients, &new.clients));
    changes.sort_by(|a, b| (a.class, &a.subject).cmp(&(b.class, &b.subject)));
    changes
}

/// Stands for every method no file names (extension methods), so `methods` omitted on one side
/// and listed on the other shows up as "any method but ...".
const OTHER_METHOD: &[u8] = b"OTHER-METHOD";

/// Which route judges a request, as far as comparing goes.
#[derive(Clone, Copy)]
pub(super) enum Judged<'p> {
    /// 404.
    NoRoute,
    /// 405 from this route (forwarded anyway when it is in shadow mode).
    NotAllowed(usize, &'p Route),
    /// The route takes the method and judges the rest.
    Allowed(usize, &'p Route),
}

impl Judged<'_> {
    fn id(&self) -> (u8, usize) {
        match self {
            Judged::NoRoute => (0, 0),
            Judged::NotAllowed(index, _) => (1, *index),
            Judged::Allowed(index, _) => (2, *index),
        }
    }
}

fn judged<'p>(policy: &'p Policy, path: &str, method: &Method) -> Judged<'p> {
    let Some(route) = policy.route_for(path, method) else {
        return Judged::NoRoute;
    };
    let index = policy
        .routes
        .iter()
        .position(|r| std::ptr::eq(r, route))
        .unwrap_or(usize::MAX);
    if route.allows_method(method) {
        Judged::Allowed(index, route)
    } else {
        Judged::NotAllowed(index, route)
    }
}

/// A path shape to ask both policies about.
struct Key {
    shape: Shape,
    /// How to write it: a route's pattern as written.
    name: String,
    /// A final `**` stands for zero segments here (`/models` for `/models/**`).
    zero_rest: bool,
}

fn keys(old: &Policy, new: &Policy) -> Vec<Key> {
    let mut seen = HashSet::new();
    let mut keys = Vec::new();
    let patterns = || new.routes.iter().chain(&old.routes).map(|r| &r.pattern);
    for pattern in patterns() {
        let shape = Shape::of_pattern(pattern);
        if seen.insert(shape.clone()) {
            keys.push(Key {
                shape,
                name: pattern.clone(),
                zero_rest: false,
            });
        }
    }
    for pattern in patterns() {
        let shape = Shape::of_pattern(pattern);
        if shape.ends_with_rest() && seen.insert(shape.without_rest()) {
            let name = match pattern.trim_end_matches("**").trim_end_matches('/') {
                "" => "/".to_owned(),
                prefix => prefix.to_owned(),
            };
            keys.push(Key {
                shape,
                name,
                zero_rest: true,
            });
        }
    }
    keys
}

/// The methods to ask about: the common ones, every one either file names, and one that
/// stands for the rest.
fn methods(old: &Policy, new: &Policy) -> Vec<Method> {
    let mut methods = vec![
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::TRACE,
        Method::CONNECT,
    ];
    let named: BTreeSet<&str> = old
        .routes
        .iter()
        .chain(&new.routes)
        .flat_map(|r| r.methods.iter().flatten())
        .map(Method::as_str)
        .collect();
    for name in named {
        if let Ok(method) = Method::from_bytes(name.as_bytes())
            && !methods.contains(&method)
        {
            methods.push(method);
        }
    }
    methods.extend(Method::from_bytes(OTHER_METHOD).ok());
    methods
}

fn requests(old: &Policy, new: &Policy) -> Vec<Change> {
    let depth = old
        .routes
        .iter()
        .chain(&new.routes)
        .map(|r| r.pattern.split('/').count())
        .max()
        .unwrap_or(0)
        + 1;
    let methods = methods(old, new);
    let keys = keys(old, new);
    let mut compared = HashSet::new();
    // (key, delta) -> the methods it applies to, in `methods` order.
    let mut found: Vec<(usize, Delta, Vec<usize>)> = Vec::new();
    for (k, key) in keys.iter().enumerate() {
        let path = key
            .shape
            .representative(if key.zero_rest { 0 } else { depth });
        for (m, method) in methods.iter().enumerate() {
            let (before, after) = (judged(old, &path, method), judged(new, &path, method));
            if !compared.insert((before.id(), after.id(), m)) {
                continue;
            }
            for delta in compare(before, after) {
                match found
                    .iter_mut()
                    .find(|(fk, fd, _)| *fk == k && *fd == delta)
                {
                    Some((_, _, ms)) => ms.push(m),
                    None => found.push((k, delta, vec![m])),
                }
            }
        }
    }
    found
        .into_iter()
        .map(|(k, delta, ms)| Change {
            class: delta.class,
            subject: Subject::Requests {
                path: keys[k].name.clone(),
                methods: method_set(&methods, &ms),
            },
            attribute: delta.attribute,
            old: delta.old,
            new: delta.new,
            reason: delta.reason,
        })
        .collect()
}

fn compare(before: Judged, after: Judged) -> Vec<Delta> {
    match (before, after) {
        (Judged::Allowed(_, a), Judged::Allowed(_, b)) => {
            let either_reachable = reachable(&before) || reachable(&after);
            ATTRIBUTES
                .iter()
                .filter(|attribute| either_reachable || attribute.when_unreachable)
                .filter_map(|attribute| (attribute.compare)(a, b))
                .collect()
        }
        _ => reachability(&before, &after).into_iter().collect(),
    }
}

fn method_set(all: &[Method], indices: &[usize]) -> Methods {
    let other = Method::from_bytes(OTHER_METHOD).ok();
    let chosen: Vec<&Method> = indices.iter().filter_map(|&i| all.get(i)).collect();
    let names = |methods: Vec<&Method>| {
        methods
            .into_iter()
            .filter(|m| Some(*m) != other.as_ref())
            .map(|m| m.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    if other.as_ref().is_some_and(|o| chosen.contains(&o)) {
        let missing: Vec<&Method> = all.iter().filter(|m| !chosen.contains(m)).collect();
        if missing.is_empty() {
            Methods::Any
        } else {
            Methods::AnyBut(names(missing))
        }
    } else {
        Methods::Listed(names(chosen))
    }
}

/// Changes under `permissions`, `restrictions` or `clients`: declaring a name grants nothing
/// until a route uses it (a client id: until a condition names it), and a route that used a
/// removed name must have changed too (and is reported).
fn declarations(
    section: &'static str,
    old: &[(String, String)],
    new: &[(String, String)],
) -> Vec<Change> {
    let find = |list: &[(String, String)], name: &str| {
        list.iter().find(|(n, _)| n == name).map(|(_, d)| d.clone())
    };
    let names: Vec<&String> = {
        let mut seen = HashSet::new();
        old.iter()
            .chain(new)
            .map(|(n, _)| n)
            .filter(|n| seen.insert(*n))
            .collect()
    };
    let mut changes = Vec::new();
    for name in names {
        let (before, after) = (find(old, name), find(new, name));
        let (attribute, reason) = match (&before, &after) {
            (Some(a), Some(b)) if a == b => continue,
            (Some(_), Some(_)) => ("description", "the description changed"),
            (None, _) if section == "client" => (
                "declaration",
                "declared; it grants nothing until a condition names it",
            ),
            (None, _) => (
                "declaration",
                "declared; it grants nothing until a route uses it",
            ),
            (_, None) => ("declaration", "no longer declared"),
        };
        let shown = |d: &Option<String>| {
            d.as_ref()
                .map_or("(absent)".to_owned(), |d| format!("{d:?}"))
        };
        changes.push(Change {
            class: Class::Neutral,
            subject: Subject::Declaration {
                section,
                name: name.clone(),
            },
            attribute,
            old: shown(&before),
            new: shown(&after),
            reason: reason.to_owned(),
        });
    }
    changes
}

impl fmt::Display for Methods {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Methods::Listed(names) => f.write_str(&names.join(", ")),
            Methods::Any => f.write_str("any method"),
            Methods::AnyBut(names) => write!(f, "any method but {}", names.join(", ")),
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Requests { path, methods } => write!(f, "{methods} {path}"),
            Subject::Declaration { section, name } => write!(f, "{section} {name}"),
        }
    }
}

/// "`GET, HEAD /forecast`: scopes read:forecast -> (none): looser, any valid token now passes".
impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}`: {} {} -> {}: {}, {}",
            self.subject,
            self.attribute,
            self.old,
            self.new,
            self.class.as_str(),
            self.reason
        )
    }
}

#[cfg(test)]
mod tests;
