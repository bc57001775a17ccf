//! The routes assembled: the matching trie built from the drafts, ambiguous routes (same shape,
//! overlapping methods) reported at both, the `Allow` header of each path, and no route that
//! reopens a restricted one (`subtree::reopenings`).

use super::{Draft, Loader, v};
use crate::policy::locate::{Step, locate};
use crate::policy::matcher::{PatternSegment, Trie};
use crate::policy::pattern::{allow_header, methods_overlap, same_shape};
use crate::policy::subtree;
use crate::policy::{Access, Route};

impl Loader<'_> {
    /// Builds the trie, refusing routes that are ambiguous with an earlier one, and fills in
    /// each route's `Allow` value (the union over its group).
    pub(super) fn build(&mut self, drafts: Vec<Draft>) -> (Trie, Vec<Route>) {
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

    /// Restricted means never reachable: a route that would win over a restricted one for some
    /// request is a load error at the inner route naming both (`subtree::reopenings`).
    pub(super) fn restricted_subtrees(
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
