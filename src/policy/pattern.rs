//! Route patterns: parsing `/a/{id}/**` into segments, and the rules that group routes of the
//! same shape (for ambiguity checks and the 405 `Allow` header).

use std::collections::{BTreeSet, HashSet};

use http::Method;

use super::matcher::PatternSegment;

/// Parses `/a/{id}/**` into segments, refusing what could never match a normalised path.
pub(super) fn parse_pattern(pattern: &str) -> Result<Vec<PatternSegment>, String> {
    let Some(rest) = pattern.strip_prefix('/') else {
        return Err(format!(
            "path `{pattern}` must start with `/` (write `/{pattern}`)"
        ));
    };
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let raw: Vec<&str> = rest.split('/').collect();
    let mut segments = Vec::with_capacity(raw.len());
    let mut names = HashSet::new();
    for (i, segment) in raw.iter().enumerate() {
        let last = i + 1 == raw.len();
        let problem = if *segment == "**" {
            if last {
                segments.push(PatternSegment::Rest);
                continue;
            }
            "`**` matches the rest of the path, so it can only be the last segment".to_owned()
        } else if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if name.is_empty() {
                "`{}` needs a name, e.g. `{id}`".to_owned()
            } else if name.contains(['{', '}', '*', '/']) {
                format!("`{{{name}}}` is not a valid parameter name")
            } else if !names.insert(name) {
                format!("parameter `{{{name}}}` appears twice; give each one its own name")
            } else {
                segments.push(PatternSegment::Param(name.to_owned()));
                continue;
            }
        } else if segment.contains(['{', '}', '*']) {
            format!(
                "segment `{segment}` mixes text with `{{}}` or `*`; a parameter (`{{name}}`) or `**` must be a whole segment"
            )
        } else if segment.is_empty() && !last {
            "an empty segment (`//`) never matches: request paths are normalised first; remove the extra `/`".to_owned()
        } else if matches!(*segment, "." | "..") {
            format!("segment `{segment}` never matches: request paths are normalised first")
        } else {
            match super::normalise(&format!("/{segment}")) {
                Ok(n) if n == format!("/{segment}") => {
                    segments.push(PatternSegment::Literal((*segment).to_owned()));
                    continue;
                }
                Ok(n) => format!(
                    "segment `{segment}` never matches: request paths are normalised first; write it as `{}`",
                    n.trim_start_matches('/')
                ),
                Err(e) => format!("segment `{segment}` never matches a request: {e}"),
            }
        };
        return Err(format!("in path `{pattern}`: {problem}"));
    }
    Ok(segments)
}

/// Two patterns have the same shape when they differ at most in parameter names.
pub(super) fn same_shape(a: &str, b: &str) -> bool {
    let shape = |p: &str| -> Vec<String> {
        p.split('/')
            .map(|s| {
                if s.starts_with('{') && s.ends_with('}') {
                    "{}".to_owned()
                } else {
                    s.to_owned()
                }
            })
            .collect()
    };
    shape(a) == shape(b)
}

fn with_head(methods: &[Method]) -> BTreeSet<String> {
    let mut set: BTreeSet<String> = methods.iter().map(|m| m.as_str().to_owned()).collect();
    if set.contains("GET") {
        set.insert("HEAD".to_owned());
    }
    set
}

pub(super) fn methods_overlap(a: Option<&[Method]>, b: Option<&[Method]>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => !with_head(a).is_disjoint(&with_head(b)),
        _ => true,
    }
}

/// `Allow` value for a group: sorted, HEAD added where GET is. Routes without `methods`
/// accept everything and never answer 405, so they contribute nothing here.
pub(super) fn allow_header<'a>(groups: impl Iterator<Item = Option<&'a [Method]>>) -> String {
    let mut all = BTreeSet::new();
    for methods in groups.flatten() {
        all.extend(with_head(methods));
    }
    all.into_iter().collect::<Vec<_>>().join(", ")
}
