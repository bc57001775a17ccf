//! What `gateway diff` compares on a route, one entry per attribute: how to tell two values
//! apart and which direction is looser. A new route key that affects decisions is one more
//! function and one more line in `ATTRIBUTES`; `when:` lives in `conditions`, `issuers:`,
//! `binding:` and `websocket:` in `requirements`; `upstream:` (the pool) is neutral.
//!
//! The rule for every entry: a change is looser when some request that was refused may now be
//! forwarded, or a limit rises (someone can send more); stricter when the reverse holds; neutral
//! when nobody gains or loses access. A change that is both (scopes swapped) is looser, since a
//! reviewer must see that someone gains access.

mod conditions;
mod requirements;

use std::collections::BTreeSet;

use super::diff::{Class, Judged};
use super::shape::Shape;
use crate::policy::{Access, Mode, RateLimit, Route};

/// One difference between the routes judging the same requests in the two files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    pub class: Class,
    pub attribute: &'static str,
    pub old: String,
    pub new: String,
    pub reason: String,
}

fn delta(
    class: Class,
    attribute: &'static str,
    old: impl Into<String>,
    new: impl Into<String>,
    reason: impl Into<String>,
) -> Option<Delta> {
    Some(Delta {
        class,
        attribute,
        old: old.into(),
        new: new.into(),
        reason: reason.into(),
    })
}

pub(super) struct Attribute {
    /// Compared even when both routes refuse everyone (restricted, enforced): a limit on a
    /// route nobody reaches is no change anyone would notice.
    pub when_unreachable: bool,
    pub compare: fn(&Route, &Route) -> Option<Delta>,
}

/// Every decision-relevant route attribute, in the order changes are listed.
pub(super) const ATTRIBUTES: &[Attribute] = &[
    Attribute {
        when_unreachable: true,
        compare: path,
    },
    Attribute {
        when_unreachable: true,
        compare: access,
    },
    Attribute {
        when_unreachable: true,
        compare: mode,
    },
    Attribute {
        when_unreachable: false,
        compare: conditions::conditions,
    },
    Attribute {
        when_unreachable: false,
        compare: requirements::issuers,
    },
    Attribute {
        when_unreachable: false,
        compare: requirements::binding,
    },
    Attribute {
        when_unreachable: false,
        compare: requirements::websocket,
    },
    Attribute {
        when_unreachable: false,
        compare: max_body,
    },
    Attribute {
        when_unreachable: false,
        compare: rate_limit,
    },
    Attribute {
        when_unreachable: false,
        compare: upstream,
    },
    Attribute {
        when_unreachable: true,
        compare: description,
    },
];

/// `{id}` renamed `{item}`: the same requests match, so nothing changes for a caller.
fn path(a: &Route, b: &Route) -> Option<Delta> {
    if a.pattern == b.pattern || Shape::of_pattern(&a.pattern) != Shape::of_pattern(&b.pattern) {
        return None;
    }
    delta(
        Class::Neutral,
        "path",
        &a.pattern,
        &b.pattern,
        "a path parameter renamed; the same requests match",
    )
}

/// Who may call the route, as the file says it (shadow mode is `mode`'s business).
#[derive(PartialEq, Eq)]
enum Kind {
    Public,
    Scopes(BTreeSet<String>),
    Restricted(String),
}

fn kind(route: &Route) -> Kind {
    match &route.access {
        Access::Restricted(name) => Kind::Restricted(name.clone()),
        Access::Scopes(_) if route.public => Kind::Public,
        Access::Scopes(scopes) => Kind::Scopes(scopes.iter().cloned().collect()),
    }
}

fn scope_list(scopes: &BTreeSet<String>) -> String {
    if scopes.is_empty() {
        "(none)".to_owned()
    } else {
        scopes.iter().cloned().collect::<Vec<_>>().join(" ")
    }
}

fn kind_text(kind: &Kind) -> String {
    match kind {
        Kind::Public => "public".to_owned(),
        Kind::Scopes(scopes) => format!("scopes {}", scope_list(scopes)),
        Kind::Restricted(name) => format!("restricted {name}"),
    }
}

fn access(a: &Route, b: &Route) -> Option<Delta> {
    let (before, after) = (kind(a), kind(b));
    if before == after {
        return None;
    }
    let (old, new) = (kind_text(&before), kind_text(&after));
    match (&before, &after) {
        (Kind::Scopes(x), Kind::Scopes(y)) => scopes(x, y),
        (Kind::Restricted(_), Kind::Restricted(_)) => {
            delta(Class::Neutral, "access", old, new, "still never reachable")
        }
        (Kind::Restricted(_), _) => delta(
            Class::Looser,
            "access",
            old,
            new,
            "the restriction is lifted: now reachable",
        ),
        (_, Kind::Restricted(_)) => {
            delta(Class::Stricter, "access", old, new, "now never reachable")
        }
        (Kind::Public, _) => delta(
            Class::Stricter,
            "access",
            old,
            new,
            "a token is now required",
        ),
        (_, Kind::Public) => delta(
            Class::Looser,
            "access",
            old,
            new,
            "no token needed any more",
        ),
    }
}

/// Every listed scope is required, so fewer scopes is looser.
fn scopes(before: &BTreeSet<String>, after: &BTreeSet<String>) -> Option<Delta> {
    let dropped: Vec<&str> = before.difference(after).map(String::as_str).collect();
    let added: Vec<&str> = after.difference(before).map(String::as_str).collect();
    let (class, reason) = match (dropped.is_empty(), added.is_empty()) {
        (true, true) => return None,
        (false, true) if after.is_empty() => {
            (Class::Looser, "any valid token now passes".to_owned())
        }
        (false, true) => (
            Class::Looser,
            format!("{} no longer required", dropped.join(" ")),
        ),
        (true, false) => (
            Class::Stricter,
            format!("{} now also required", added.join(" ")),
        ),
        (false, false) => (
            Class::Looser,
            format!(
                "a token without {} now passes if it grants {}",
                dropped.join(" "),
                added.join(" ")
            ),
        ),
    };
    delta(
        class,
        "scopes",
        scope_list(before),
        scope_list(after),
        reason,
    )
}

fn mode_text(mode: Mode) -> &'static str {
    match mode {
        Mode::Enforce => "enforce",
        Mode::Shadow => "shadow",
    }
}

fn mode(a: &Route, b: &Route) -> Option<Delta> {
    let (class, reason) = match (a.mode, b.mode) {
        (Mode::Enforce, Mode::Shadow) => (
            Class::Looser,
            "denied requests are now forwarded (logged as shadow_deny)",
        ),
        (Mode::Shadow, Mode::Enforce) => (Class::Stricter, "denials are enforced again"),
        _ => return None,
    };
    delta(class, "mode", mode_text(a.mode), mode_text(b.mode), reason)
}

/// `10MiB`, `500KiB` or a number of bytes.
fn size_text(bytes: u64) -> String {
    for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    format!("{bytes}B")
}

/// `None` is no limit, the loosest there is.
fn limit<T: PartialOrd>(before: Option<T>, after: Option<T>) -> Option<Class> {
    match (before, after) {
        (None, None) => None,
        (Some(_), None) => Some(Class::Looser),
        (None, Some(_)) => Some(Class::Stricter),
        (Some(a), Some(b)) if b > a => Some(Class::Looser),
        (Some(a), Some(b)) if b < a => Some(Class::Stricter),
        _ => None,
    }
}

fn max_body(a: &Route, b: &Route) -> Option<Delta> {
    let class = limit(a.max_body, b.max_body)?;
    let text = |n: Option<u64>| n.map_or("(none)".to_owned(), size_text);
    let reason = match class {
        Class::Looser => "larger request bodies now pass",
        _ => "smaller request bodies are now refused (413)",
    };
    delta(
        class,
        "max_body",
        text(a.max_body),
        text(b.max_body),
        reason,
    )
}

fn rate_text(limit: Option<RateLimit>) -> String {
    limit.map_or("(none)".to_owned(), |l| {
        format!("{}/s burst {}", l.per_second, l.burst)
    })
}

fn rate_limit(a: &Route, b: &Route) -> Option<Delta> {
    let rate = limit(
        a.rate_limit.map(|l| l.per_second),
        b.rate_limit.map(|l| l.per_second),
    );
    let burst = limit(a.rate_limit.map(|l| l.burst), b.rate_limit.map(|l| l.burst));
    // Either number rising lets a client send more, at least for a while.
    let class = match (rate, burst) {
        (Some(Class::Looser), _) | (_, Some(Class::Looser)) => Class::Looser,
        (None, None) => return None,
        _ => Class::Stricter,
    };
    let reason = match class {
        Class::Looser => "a client may now send more requests before 429",
        _ => "a client now gets 429 sooner",
    };
    delta(
        class,
        "rate_limit",
        rate_text(a.rate_limit),
        rate_text(b.rate_limit),
        reason,
    )
}

/// `upstream:`: where the requests go, not who may send them (SPEC: a change of pool is
/// neutral). Compared only where someone gets through: a pool behind a route nobody reaches
/// receives nothing either way.
fn upstream(a: &Route, b: &Route) -> Option<Delta> {
    if a.upstream == b.upstream {
        return None;
    }
    let name = |route: &Route| {
        route
            .upstream
            .clone()
            .unwrap_or_else(|| crate::constants::DEFAULT_POOL_NAME.to_owned())
    };
    let (old, new) = (name(a), name(b));
    if old == new {
        return None; // `upstream: default` written out or left out: the same pool
    }
    delta(
        Class::Neutral,
        "upstream",
        old,
        new,
        "forwarded to another pool; who may call it is unchanged",
    )
}

fn description(a: &Route, b: &Route) -> Option<Delta> {
    if a.description == b.description {
        return None;
    }
    let text = |d: &Option<String>| d.as_ref().map_or("(none)".to_owned(), |d| format!("{d:?}"));
    delta(
        Class::Neutral,
        "description",
        text(&a.description),
        text(&b.description),
        "documentation only",
    )
}

/// Who gets through at all, from nobody to anyone.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Nobody,
    /// A valid token granting every one of these (never empty).
    Granting(BTreeSet<String>),
    AnyToken,
    Anyone,
}

fn who(judged: &Judged) -> Who {
    match judged {
        Judged::NoRoute => Who::Nobody,
        // Shadow mode forwards what it would refuse, but authentication is never shadowed.
        Judged::NotAllowed(_, route) if route.mode == Mode::Shadow => Who::AnyToken,
        Judged::NotAllowed(..) => Who::Nobody,
        Judged::Allowed(_, route) => match kind(route) {
            Kind::Public => Who::Anyone,
            _ if route.mode == Mode::Shadow => Who::AnyToken,
            Kind::Restricted(_) => Who::Nobody,
            Kind::Scopes(scopes) if scopes.is_empty() => Who::AnyToken,
            Kind::Scopes(scopes) => Who::Granting(scopes),
        },
    }
}

/// Whether some request of this shape and method can be forwarded.
pub(super) fn reachable(judged: &Judged) -> bool {
    who(judged) != Who::Nobody
}

fn judged_text(judged: &Judged) -> String {
    match judged {
        Judged::NoRoute => "404 (no route)".to_owned(),
        Judged::NotAllowed(_, route) if route.mode == Mode::Shadow => {
            "405, forwarded by shadow mode".to_owned()
        }
        Judged::NotAllowed(..) => "405 (method not allowed)".to_owned(),
        Judged::Allowed(_, route) if route.mode == Mode::Shadow => {
            format!("{}, shadow mode", kind_text(&kind(route)))
        }
        Judged::Allowed(_, route) => kind_text(&kind(route)),
    }
}

/// The comparison when at least one side does not take the method (or has no route): only who
/// can get through matters, since nothing else about a refusal is observable, except that a
/// restriction appearing or going is shown (neutral) even where nobody got through before.
pub(super) fn reachability(before: &Judged, after: &Judged) -> Option<Delta> {
    let (old_who, new_who) = (who(before), who(after));
    let (old, new) = (judged_text(before), judged_text(after));
    let needs = |who: &Who| match who {
        Who::Anyone => "no token needed".to_owned(),
        Who::AnyToken => "any valid token passes".to_owned(),
        Who::Granting(scopes) => format!("a token granting {} passes", scope_list(scopes)),
        Who::Nobody => String::new(),
    };
    let restricted = |j: &Judged| matches!(j, Judged::Allowed(_, r) if matches!(r.access, Access::Restricted(_)));
    let (class, reason) = match (&old_who, &new_who) {
        (Who::Granting(x), Who::Granting(y)) => {
            let mut scoped = scopes(x, y)?;
            scoped.attribute = "access";
            return Some(Delta { old, new, ..scoped });
        }
        (Who::Nobody, Who::Nobody) if old != new && (restricted(before) || restricted(after)) => {
            (Class::Neutral, "still never reachable".to_owned())
        }
        _ if old_who == new_who => return None,
        (Who::Nobody, _) => {
            let conditioned = matches!(after, Judged::Allowed(_, r) if !r.conditions.is_empty());
            let also = if conditioned {
                " if it meets the route's `when:` conditions"
            } else {
                ""
            };
            (
                Class::Looser,
                format!("now reachable: {}{also}", needs(&new_who)),
            )
        }
        (_, Who::Nobody) => (Class::Stricter, "no longer reachable".to_owned()),
        _ if new_who > old_who => (Class::Looser, needs(&new_who)),
        _ => (Class::Stricter, format!("now only {}", needs(&new_who))),
    };
    delta(class, "access", old, new, reason)
}
