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
}
