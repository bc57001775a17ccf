//! The route matcher: a trie of path segments, so a lookup costs O(path length), not O(routes).
//!
//! Each trie node has literal children (hash map), at most one `{name}` child and at most one
//! `**` tail. A lookup walks the request's segments left to right, trying the literal child
//! first, then `{name}`, then `**`: the first complete match found in that order is the most
//! specific one (literal over `{name}` over `**`, compared segment by segment from the left).
//! Backtracking only happens where a more specific branch dead-ends, and it is bounded by the
//! trie's shape, never by how many routes share a prefix.
//!
//! Routes with the same shape (same literals, `{}` and `**` in the same places, whatever the
//! parameter names) end in the same node and form a group; the loader refuses a group whose
//! members' method sets overlap, so within a group the method picks the route.

use std::collections::HashMap;

/// One segment of a route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternSegment {
    Literal(String),
    Param(String),
    Rest,
}

#[derive(Debug, Default)]
pub struct Trie {
    root: Node,
}

#[derive(Debug, Default)]
struct Node {
    literals: HashMap<String, Node>,
    param: Option<Box<Node>>,
    /// Routes whose pattern ends exactly here.
    exact: Vec<usize>,
    /// Routes whose pattern ends with `**` here.
    rest: Vec<usize>,
}

impl Trie {
    /// Adds route `id`; returns the ids already registered with the same shape.
    pub fn insert(&mut self, pattern: &[PatternSegment], id: usize) -> Vec<usize> {
        let mut node = &mut self.root;
        for segment in pattern {
            match segment {
                PatternSegment::Literal(text) => {
                    node = node.literals.entry(text.clone()).or_default();
                }
                PatternSegment::Param(_) => {
                    node = node.param.get_or_insert_with(Box::default);
                }
                PatternSegment::Rest => {
                    let existing = node.rest.clone();
                    node.rest.push(id);
                    return existing;
                }
            }
        }
        let existing = node.exact.clone();
        node.exact.push(id);
        existing
    }

    /// The group of routes (same shape) most specifically matching a normalised path.
    pub fn find(&self, normalised_path: &str) -> Option<&[usize]> {
        let trimmed = normalised_path.strip_prefix('/').unwrap_or(normalised_path);
        let segments: Vec<&str> = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('/').collect()
        };
        find_in(&self.root, &segments)
    }
}

fn find_in<'t>(node: &'t Node, segments: &[&str]) -> Option<&'t [usize]> {
    let Some((first, rest)) = segments.split_first() else {
        if !node.exact.is_empty() {
            return Some(&node.exact);
        }
        return (!node.rest.is_empty()).then_some(node.rest.as_slice());
    };
    if let Some(found) = node
        .literals
        .get(*first)
        .and_then(|child| find_in(child, rest))
    {
        return Some(found);
    }
    // `{name}` is exactly one non-empty segment: `/items/` does not match `/items/{id}`.
    if !first.is_empty()
        && let Some(found) = node.param.as_deref().and_then(|child| find_in(child, rest))
    {
        return Some(found);
    }
    (!node.rest.is_empty()).then_some(node.rest.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;
    use PatternSegment::{Literal, Param, Rest};

    fn lit(s: &str) -> PatternSegment {
        Literal(s.to_owned())
    }

    fn trie() -> Trie {
        let mut t = Trie::default();
        t.insert(&[lit("a"), lit("b")], 0);
        t.insert(&[lit("a"), Param("x".into())], 1);
        t.insert(&[lit("a"), Rest], 2);
        t.insert(&[Param("y".into()), lit("c")], 3);
        t.insert(&[], 4);
        t
    }

    #[test]
    fn most_specific_wins_left_to_right() {
        let t = trie();
        assert_eq!(t.find("/a/b"), Some(&[0][..]));
        assert_eq!(t.find("/a/z"), Some(&[1][..]));
        assert_eq!(t.find("/a/z/q"), Some(&[2][..]));
        assert_eq!(t.find("/a"), Some(&[2][..]));
        // `/a/{x}` cannot take `c` further, `/a/**` can; `/{y}/c` is less specific at segment 1.
        assert_eq!(t.find("/a/c"), Some(&[1][..]));
        assert_eq!(t.find("/q/c"), Some(&[3][..]));
        assert_eq!(t.find("/"), Some(&[4][..]));
        assert_eq!(t.find("/q"), None);
        assert_eq!(t.find("/a/"), Some(&[2][..]));
    }

    #[test]
    fn same_shape_is_reported() {
        let mut t = Trie::default();
        assert!(t.insert(&[lit("a"), Param("x".into())], 0).is_empty());
        assert_eq!(t.insert(&[lit("a"), Param("y".into())], 1), vec![0]);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Rank of one pattern segment at one path position; higher is more specific.
        /// The end of the path scores 1 for a pattern that ends there, 0 for a `**` that
        /// matches nothing more.
        fn ranks(pattern: &[PatternSegment], path: &[&str]) -> Option<Vec<u8>> {
            let mut out = Vec::new();
            for (i, segment) in pattern.iter().enumerate() {
                match segment {
                    PatternSegment::Rest => {
                        out.extend(std::iter::repeat_n(1, path.len().saturating_sub(i)));
                        out.push(0);
                        return Some(out);
                    }
                    PatternSegment::Literal(l) if path.get(i) == Some(&l.as_str()) => out.push(3),
                    PatternSegment::Param(_) if path.get(i).is_some_and(|s| !s.is_empty()) => {
                        out.push(2)
                    }
                    _ => return None,
                }
            }
            (pattern.len() == path.len()).then(|| {
                out.push(1);
                out
            })
        }

        fn segment() -> impl Strategy<Value = PatternSegment> {
            prop_oneof![
                3 => "[ab]".prop_map(PatternSegment::Literal),
                2 => Just(PatternSegment::Param("p".into())),
            ]
        }

        fn pattern() -> impl Strategy<Value = Vec<PatternSegment>> {
            (prop::collection::vec(segment(), 0..4), any::<bool>()).prop_map(|(mut p, rest)| {
                if rest {
                    p.push(PatternSegment::Rest);
                }
                p
            })
        }

        proptest! {
            /// The trie finds exactly what brute force over every route says is the most
            /// specific match (lexicographically greatest ranks from the left).
            #[test]
            fn trie_agrees_with_brute_force(
                patterns in prop::collection::vec(pattern(), 1..12),
                path in prop::collection::vec("[abc]", 0..5),
                trailing_slash in any::<bool>(),
            ) {
                let mut trie = Trie::default();
                let mut shapes: Vec<Vec<PatternSegment>> = Vec::new();
                for p in &patterns {
                    // One route per shape, as the loader guarantees with overlapping methods.
                    if !shapes.contains(p) {
                        trie.insert(p, shapes.len());
                        shapes.push(p.clone());
                    }
                }
                // A normalised path: non-empty segments, and maybe a trailing slash (an empty
                // last segment); the root `/` has no segments.
                let mut segments: Vec<&str> = path.iter().map(String::as_str).collect();
                let mut text = format!("/{}", segments.join("/"));
                if trailing_slash && !segments.is_empty() {
                    segments.push("");
                    text.push('/');
                }
                let expected = shapes
                    .iter()
                    .enumerate()
                    .filter_map(|(id, p)| ranks(p, &segments).map(|r| (r, id)))
                    .max()
                    .map(|(_, id)| id);
                prop_assert_eq!(trie.find(&text).map(|g| g[0]), expected, "path {}", text);
            }
        }
    }
}
