//! Restricted subtrees: would a route win over a restricted route for some request?
//!
//! Restricted means never reachable. Matching picks the most specific pattern (`matcher`:
//! compared segment by segment from the left, a literal beats `{name}`, which beats `**`, and a
//! pattern that ends exactly where the path ends beats a `**` that matches nothing more), so a
//! route more specific than a restricted one for some path both match takes that path away from
//! the restriction: `/models/{name}/**` beside `/models/**` restricted reopens `/models/a/b`, and
//! `/models` beside it reopens `/models` itself. The loader makes that a load error naming both
//! routes (methods permitting: a route whose methods the restricted route does not cover takes
//! nothing from it).
//!
//! `reopening` answers the question for one pair of patterns by building a path position by
//! position: while both patterns rank equally it follows them, at the first position where the
//! inner pattern ranks higher it has its answer if the rest of some path can still match both.
//! It returns that path as an example for the error message. A property test checks it against
//! brute force over every short path, using the real trie to decide who wins.

use super::matcher::PatternSegment;
use super::pattern::methods_overlap;
use super::{Access, Route};

/// A route (`inner`) that would win over a restricted one (`restricted`) for `example`; indices
/// into the routes given to `reopenings`.
pub(super) struct Reopening {
    pub restricted: usize,
    pub inner: usize,
    pub example: String,
}

/// Every pair of a restricted route and a route that is not restricted, with overlapping
/// methods, where the second would win for some path (`segments[i]` is `routes[i]`'s pattern).
pub(super) fn reopenings(routes: &[Route], segments: &[Vec<PatternSegment>]) -> Vec<Reopening> {
    let restricted = |route: &Route| matches!(route.access, Access::Restricted(_));
    let mut found = Vec::new();
    for (r, outer) in routes
        .iter()
        .enumerate()
        .filter(|(_, route)| restricted(route))
    {
        for (i, inner) in routes.iter().enumerate() {
            if restricted(inner)
                || !methods_overlap(outer.methods.as_deref(), inner.methods.as_deref())
            {
                continue;
            }
            if let Some(example) = reopening(&segments[r], &segments[i]) {
                found.push(Reopening {
                    restricted: r,
                    inner: i,
                    example,
                });
            }
        }
    }
    found
}

/// One position of the path being built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step<'p> {
    /// The path ends here.
    End,
    /// A segment equal to this literal (the empty literal, only ever last, is a trailing `/`).
    Literal(&'p str),
    /// A non-empty segment equal to no literal either pattern has at this position.
    Other,
}

/// An example path for which `inner` is more specific than `restricted` while both match it,
/// or `None` when no such path exists. Both patterns as `parse_pattern` returns them.
pub(super) fn reopening(restricted: &[PatternSegment], inner: &[PatternSegment]) -> Option<String> {
    let mut path = Vec::new();
    search(restricted, inner, false, false, &mut path).then(|| format!("/{}", path.join("/")))
}

/// Depth-first over the candidate steps at this position. `decided`: an earlier position
/// already ranked `inner` higher, so only a common completion is needed. `must_end`: the last
/// segment was empty (a trailing `/`), and normalised paths have no empty segment elsewhere.
fn search(
    restricted: &[PatternSegment],
    inner: &[PatternSegment],
    decided: bool,
    must_end: bool,
    path: &mut Vec<String>,
) -> bool {
    let both_rest = |p: &[PatternSegment]| matches!(p, [PatternSegment::Rest]);
    if !decided && both_rest(restricted) && both_rest(inner) {
        // Equal ranks from here to any end: the same shape, never more specific.
        return false;
    }
    let mut candidates = vec![Step::End];
    if !must_end {
        for pattern in [restricted, inner] {
            if let Some(PatternSegment::Literal(text)) = pattern.first() {
                candidates.push(Step::Literal(text));
            }
        }
        candidates.push(Step::Other);
    }
    for step in candidates {
        let (Some((r_rank, r_next)), Some((i_rank, i_next))) =
            (accepts(restricted, step), accepts(inner, step))
        else {
            continue;
        };
        let decided = decided || i_rank > r_rank;
        if !decided && i_rank < r_rank {
            // The restricted route wins this path, whatever follows.
            continue;
        }
        if step == Step::End {
            if decided {
                return true;
            }
            continue;
        }
        path.push(match step {
            Step::Literal(text) => text.to_owned(),
            _ => fresh_segment(restricted.first(), inner.first()),
        });
        if search(r_next, i_next, decided, step == Step::Literal(""), path) {
            return true;
        }
        path.pop();
    }
    false
}

/// Whether `pattern` accepts `step` at its current position, with the rank the trie gives it
/// there (literal 3, `{name}` 2, `**` over a segment 1, an exact end 1, `**` at the end 0) and
/// what is left of the pattern.
fn accepts<'p>(
    pattern: &'p [PatternSegment],
    step: Step<'_>,
) -> Option<(u8, &'p [PatternSegment])> {
    match (pattern.first(), step) {
        (None, Step::End) => Some((1, pattern)),
        (None, _) => None,
        (Some(PatternSegment::Rest), Step::End) => Some((0, pattern)),
        (Some(PatternSegment::Rest), _) => Some((1, pattern)),
        (Some(PatternSegment::Literal(text)), Step::Literal(segment)) if text == segment => {
            Some((3, &pattern[1..]))
        }
        (Some(PatternSegment::Literal(_)), _) => None,
        (Some(PatternSegment::Param(_)), Step::Literal(segment)) if !segment.is_empty() => {
            Some((2, &pattern[1..]))
        }
        (Some(PatternSegment::Param(_)), Step::Other) => Some((2, &pattern[1..])),
        (Some(PatternSegment::Param(_)), _) => None,
    }
}

/// A segment for the example path that neither pattern has as a literal here.
fn fresh_segment(a: Option<&PatternSegment>, b: Option<&PatternSegment>) -> String {
    let taken = |name: &str| {
        [a, b]
            .iter()
            .any(|p| matches!(p, Some(PatternSegment::Literal(text)) if text == name))
    };
    ["x", "y", "z"]
        .into_iter()
        .find(|name| !taken(name))
        .unwrap_or("other")
        .to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::matcher::Trie;
    use super::super::pattern::parse_pattern;
    use super::*;
    use proptest::prelude::*;

    fn check(restricted: &str, inner: &str) -> Option<String> {
        reopening(
            &parse_pattern(restricted).unwrap(),
            &parse_pattern(inner).unwrap(),
        )
    }

    #[test]
    fn routes_inside_a_restricted_subtree_reopen_it() {
        assert_eq!(
            check("/models/**", "/models/{name}/**").as_deref(),
            Some("/models/x")
        );
        assert_eq!(check("/models/**", "/models").as_deref(), Some("/models"));
        assert_eq!(
            check("/models/**", "/models/train").as_deref(),
            Some("/models/train")
        );
        assert_eq!(check("/models/**", "/models/").as_deref(), Some("/models/"));
        assert_eq!(check("/**", "/forecast").as_deref(), Some("/forecast"));
        assert_eq!(check("/a/{x}", "/a/b").as_deref(), Some("/a/b"));
        assert_eq!(check("/{x}/**", "/{y}/b/**").as_deref(), Some("/x/b"));
    }

    #[test]
    fn routes_beside_or_less_specific_than_a_restricted_one_do_not() {
        for (restricted, inner) in [
            ("/models/**", "/forecast"),
            ("/models/**", "/modelsx/**"),
            ("/models/**", "/**"),
            ("/models/**", "/{any}/**"),
            ("/models/train", "/models/{name}"),
            ("/models/{name}", "/{any}/{name}"),
            ("/a/{x}/c", "/a/b/d"),
            ("/models/**", "/{any}/x"),
        ] {
            assert_eq!(
                check(restricted, inner),
                None,
                "{inner} beside {restricted}"
            );
        }
    }

    fn segment() -> impl Strategy<Value = PatternSegment> {
        prop_oneof![
            3 => "[ab]".prop_map(PatternSegment::Literal),
            2 => Just(PatternSegment::Param("p".into())),
        ]
    }

    fn pattern() -> impl Strategy<Value = Vec<PatternSegment>> {
        (prop::collection::vec(segment(), 0..4), 0..3u8).prop_map(|(mut p, end)| {
            match end {
                1 => p.push(PatternSegment::Rest),
                // A trailing slash: the empty literal, only ever last.
                2 if !p.is_empty() => p.push(PatternSegment::Literal(String::new())),
                _ => {}
            }
            p
        })
    }

    /// Every normalised path of up to five segments over `a`, `b`, `c`, with or without a
    /// trailing slash.
    fn paths() -> Vec<String> {
        let mut out = vec!["/".to_owned()];
        let mut frontier = vec![String::new()];
        for _ in 0..5 {
            let mut next = Vec::new();
            for prefix in &frontier {
                for segment in ["a", "b", "c"] {
                    let path = format!("{prefix}/{segment}");
                    out.push(path.clone());
                    out.push(format!("{path}/"));
                    next.push(path);
                }
            }
            frontier = next;
        }
        out
    }

    proptest! {
        /// `reopening` finds a path exactly when brute force over every short path finds one
        /// where the restricted pattern matches and the real trie picks the inner one; and the
        /// example it gives is such a path.
        #[test]
        fn reopening_agrees_with_brute_force_over_the_trie(
            restricted in pattern(),
            inner in pattern(),
        ) {
            prop_assume!(restricted != inner);
            let mut alone = Trie::default();
            alone.insert(&restricted, 0);
            let mut both = Trie::default();
            both.insert(&restricted, 0);
            both.insert(&inner, 1);
            let reopened = |path: &str| alone.find(path).is_some() && both.find(path) == Some(&[1][..]);
            let brute = paths().into_iter().find(|p| reopened(p));
            let found = reopening(&restricted, &inner);
            prop_assert_eq!(found.is_some(), brute.is_some(), "example {:?} vs brute force {:?}", found, brute);
            if let Some(example) = found {
                prop_assert!(reopened(&example), "{} is not a reopened path", example);
            }
        }
    }
}
