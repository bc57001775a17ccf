//! The route keys that say which tokens and which requests a route takes, beyond scopes and
//! conditions, as `gateway diff` compares them: `issuers:` (whose tokens), `binding:` (a
//! sender-constrained token, RFC 9449 / RFC 8705) and `websocket:` (whether an upgrade is
//! tunnelled past the decision). Each is looser when some request that was refused may now
//! get through, as `attributes`' rule says.

use std::collections::BTreeSet;

use super::super::diff::Class;
use super::{Delta, delta};
use crate::policy::Route;

fn issuer_text(issuers: Option<&BTreeSet<&str>>) -> String {
    issuers.map_or("(any configured issuer)".to_owned(), |list| {
        list.iter().copied().collect::<Vec<_>>().join(" ")
    })
}

fn issuer_set(route: &Route) -> Option<BTreeSet<&str>> {
    route
        .issuers
        .as_ref()
        .map(|list| list.iter().map(String::as_str).collect())
}

/// `issuers:`: omitted is every configured issuer, the loosest there is; a name added lets
/// that issuer's tokens through.
pub(super) fn issuers(a: &Route, b: &Route) -> Option<Delta> {
    let (old, new) = (issuer_set(a), issuer_set(b));
    if old == new {
        return None;
    }
    let (class, reason) = match (&old, &new) {
        (Some(_), None) => (
            Class::Looser,
            "the list is dropped: a token from any configured issuer now passes".to_owned(),
        ),
        (None, Some(only)) => (
            Class::Stricter,
            format!(
                "only a token from {} now passes (403 for the others)",
                issuer_text(Some(only))
            ),
        ),
        (Some(x), Some(y)) => {
            let added: Vec<&str> = y.difference(x).copied().collect();
            let dropped: Vec<&str> = x.difference(y).copied().collect();
            if added.is_empty() {
                (
                    Class::Stricter,
                    format!("a token from {} is now refused (403)", dropped.join(" ")),
                )
            } else {
                (
                    Class::Looser,
                    format!("a token from {} now passes", added.join(" ")),
                )
            }
        }
        (None, None) => return None,
    };
    delta(
        class,
        "issuers",
        issuer_text(old.as_ref()),
        issuer_text(new.as_ref()),
        reason,
    )
}

/// The kinds of token a request can present, as `Binding::is_met` reads them.
const PRESENTED: [(bool, bool, &str); 3] = [
    (false, false, "plain bearer"),
    (true, false, "DPoP-bound"),
    (false, true, "certificate-bound"),
];

/// `binding:`: compared by which kinds of token meet it, so `dpop` -> `any` (a
/// certificate-bound token now passes) is looser and `dpop` -> `mtls` too (someone gains).
/// `[auth] require_binding` applies on top of either file's value; it is the config's, not
/// the policy's.
pub(super) fn binding(a: &Route, b: &Route) -> Option<Delta> {
    let (before, after) = (a.binding, b.binding);
    if before == after {
        return None;
    }
    let kinds = |pick: &dyn Fn(bool, bool) -> bool| -> Vec<&str> {
        PRESENTED
            .iter()
            .filter(|(dpop, mtls, _)| pick(*dpop, *mtls))
            .map(|(_, _, name)| *name)
            .collect()
    };
    let gained = kinds(&|d, m| after.is_met(d, m) && !before.is_met(d, m));
    let lost = kinds(&|d, m| before.is_met(d, m) && !after.is_met(d, m));
    let (class, reason) = if gained.is_empty() {
        (
            Class::Stricter,
            format!("a {} token is now refused (401)", lost.join(" or ")),
        )
    } else if lost.is_empty() {
        (
            Class::Looser,
            format!("a {} token now passes", gained.join(" or ")),
        )
    } else {
        (
            Class::Looser,
            format!(
                "a {} token now passes, a {} one no longer does",
                gained.join(" or "),
                lost.join(" or ")
            ),
        )
    };
    delta(class, "binding", before.as_str(), after.as_str(), reason)
}

/// `websocket:`: a tunnel's bytes after the `101` are never judged, so opening one is looser.
pub(super) fn websocket(a: &Route, b: &Route) -> Option<Delta> {
    let (class, reason) = match (a.websocket, b.websocket) {
        (false, true) => (
            Class::Looser,
            "WebSocket upgrades are now tunnelled after the upstream's 101; the tunnel's bytes are not judged",
        ),
        (true, false) => (
            Class::Stricter,
            "WebSocket upgrades are now forwarded as plain requests, never tunnelled",
        ),
        _ => return None,
    };
    delta(
        class,
        "websocket",
        a.websocket.to_string(),
        b.websocket.to_string(),
        reason,
    )
}
