//! `when:` in `gateway diff`: whether the new conditions let through a token the old ones
//! refused (looser), refuse one they let through (stricter), or are the same test written
//! differently (neutral, e.g. `equals: a` and `in: [a]`, or the list reordered).
//!
//! Every condition must hold, and each reads one claim, so conditions on different claims are
//! independent and the question is asked claim by claim. On one claim, `equals`/`in` hold for
//! a string among a set of values (their intersection when there are several) and `contains`
//! for an array holding each value; both kinds on one claim never hold together (a claim is
//! never a string and an array). A value is compared as a function of the request path
//! (`Template::canonical`: parameters by segment index), so a renamed `{tenant}` is no change,
//! and two different values differ for some request. The one case this cannot settle exactly
//! is several `equals`/`in` on one claim with a path parameter among their values (their
//! intersection depends on the request): a change there is classed looser and says so, since
//! a reviewer must look at it.

use std::collections::BTreeSet;

use super::super::diff::Class;
use super::{Delta, delta};
use crate::policy::{Condition, Operator, Route};

/// One condition as the set of tokens it lets through.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Test {
    claim: String,
    /// `contains` (an array claim) rather than `equals`/`in` (a string claim).
    array: bool,
    /// The canonical values: any of them (`in`), or the one (`equals`, `contains`).
    values: BTreeSet<String>,
    /// Whether a value names a path parameter.
    params: bool,
}

fn test(condition: &Condition) -> Test {
    Test {
        claim: condition.claim.clone(),
        array: matches!(condition.operator, Operator::Contains(_)),
        values: condition.values().iter().map(|v| v.canonical()).collect(),
        params: condition.values().iter().any(|v| v.has_params()),
    }
}

/// What a route's conditions demand of one claim.
struct Demand<'t> {
    /// The tests that read the claim.
    tests: Vec<&'t Test>,
    /// The strings it may be (`None`: no `equals`/`in` on the claim).
    strings: Option<BTreeSet<String>>,
    /// The strings an array claim must hold.
    holds: BTreeSet<String>,
    /// Nothing can satisfy it (a string and an array, or no common value).
    never: bool,
    /// The intersection of several string tests with a path parameter among them depends on
    /// the request: `never` and `strings` are then not exact.
    inexact: bool,
}

fn demand<'t>(tests: &'t [Test], claim: &str) -> Demand<'t> {
    let on: Vec<&Test> = tests.iter().filter(|t| t.claim == claim).collect();
    let strings: Vec<&Test> = on.iter().copied().filter(|t| !t.array).collect();
    let mut allowed: Option<BTreeSet<String>> = None;
    for t in &strings {
        allowed = Some(match allowed {
            None => t.values.clone(),
            Some(set) => set.intersection(&t.values).cloned().collect(),
        });
    }
    let holds: BTreeSet<String> = on
        .iter()
        .filter(|t| t.array)
        .flat_map(|t| t.values.iter().cloned())
        .collect();
    let never = (allowed.is_some() && !holds.is_empty())
        || allowed.as_ref().is_some_and(BTreeSet::is_empty);
    Demand {
        inexact: strings.len() > 1 && strings.iter().any(|t| t.params),
        strings: allowed,
        holds,
        never,
        tests: on,
    }
}

/// Whether every token meeting `demand` also meets `test` (`None`: cannot tell).
fn implies(demand: &Demand, test: &Test) -> Option<bool> {
    // One of the demand's own tests at least as narrow settles it, exact or not.
    let narrower = |t: &Test| {
        t.claim == test.claim
            && t.array == test.array
            && if t.array {
                test.values.is_subset(&t.values)
            } else {
                t.values.is_subset(&test.values)
            }
    };
    if demand.tests.iter().copied().any(narrower) {
        return Some(true);
    }
    if demand.inexact {
        return None;
    }
    if demand.never {
        return Some(true);
    }
    Some(if test.array {
        test.values.iter().all(|v| demand.holds.contains(v))
    } else {
        demand
            .strings
            .as_ref()
            .is_some_and(|allowed| allowed.is_subset(&test.values))
    })
}

/// Whether every token meeting `tests` also meets each of `others` (`None`: cannot tell).
fn all_implied(tests: &[Test], others: &[Test]) -> Option<bool> {
    let mut answer = Some(true);
    for other in others {
        let d = demand(tests, &other.claim);
        match implies(&d, other) {
            Some(true) => {}
            // One claim certainly letting more through settles it.
            Some(false) => return Some(false),
            None => answer = None,
        }
    }
    answer
}

fn listed(conditions: &[Condition]) -> String {
    if conditions.is_empty() {
        return "(none)".to_owned();
    }
    conditions
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" and ")
}

/// The `when:` entry of `ATTRIBUTES`.
pub(super) fn conditions(a: &Route, b: &Route) -> Option<Delta> {
    let before: Vec<Test> = a.conditions.iter().map(test).collect();
    let after: Vec<Test> = b.conditions.iter().map(test).collect();
    let (old_set, new_set): (BTreeSet<&Test>, BTreeSet<&Test>) =
        (before.iter().collect(), after.iter().collect());
    if old_set == new_set {
        return None;
    }
    let only = |list: &[Condition], tests: &[Test], other: &BTreeSet<&Test>| -> String {
        let kept: Vec<Condition> = list
            .iter()
            .zip(tests)
            .filter(|(_, t)| !other.contains(t))
            .map(|(c, _)| c.clone())
            .collect();
        listed(&kept)
    };
    let dropped = only(&a.conditions, &before, &new_set);
    let added = only(&b.conditions, &after, &old_set);
    let (none_dropped, none_added) = (old_set.is_subset(&new_set), new_set.is_subset(&old_set));
    let (class, reason) = match all_implied(&after, &before) {
        None => (
            Class::Looser,
            "cannot tell whether the new conditions hold only where the old ones did (several `equals`/`in` on one claim with a path parameter): classed looser, check it by hand".to_owned(),
        ),
        Some(false) if none_added => (Class::Looser, format!("no longer required: {dropped}")),
        Some(false) => (
            Class::Looser,
            format!("a token the old conditions refused now passes if it meets {added}"),
        ),
        Some(true) => match all_implied(&before, &after) {
            Some(true) => (
                Class::Neutral,
                "the same tokens pass; the conditions are written differently".to_owned(),
            ),
            _ if none_dropped => (Class::Stricter, format!("now also required: {added}")),
            _ => (
                Class::Stricter,
                "the new conditions hold only where the old ones did, and not everywhere"
                    .to_owned(),
            ),
        },
    };
    delta(
        class,
        "when",
        listed(&a.conditions),
        listed(&b.conditions),
        reason,
    )
}
