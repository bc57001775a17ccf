//! Path shapes: a route pattern or an OpenAPI path template with its parameter names dropped
//! (`/items/{id}` and `/items/{item}` are both `/items/{}`), which is how the tools line routes
//! up with each other and with a backend's operations.
//!
//! A shape also yields representative request paths, so a tool can ask a policy's own matcher
//! (`Policy::route_for`) which route would judge a request of that shape instead of
//! re-implementing the most-specific-wins rules. A parameter is represented by the segment `{}`:
//! the loader refuses `{` and `}` in literal segments, so no literal route can ever match it,
//! and every `{name}` route does.

use std::fmt;

/// Stands for "any value" of a `{name}` segment in a representative path.
const ANY_SEGMENT: &str = "{}";

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    Literal(String),
    /// `{name}`: exactly one non-empty segment.
    Param,
    /// A final `**`: zero or more segments.
    Rest,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shape(pub Vec<Segment>);

impl Shape {
    /// The shape of a route pattern the policy loader accepted (`/a/{id}/**`).
    pub fn of_pattern(pattern: &str) -> Shape {
        Shape(
            split(pattern)
                .map(|segment| match segment {
                    "**" => Segment::Rest,
                    s if s.starts_with('{') && s.ends_with('}') => Segment::Param,
                    s => Segment::Literal(s.to_owned()),
                })
                .collect(),
        )
    }

    /// The shape of an OpenAPI path template (`/reports/{report_id}`). A segment holding a
    /// parameter beside text (`/files/{name}.json`) counts as a parameter: the closest a route
    /// can come. `partial` tells the caller which templates those are.
    pub fn of_template(template: &str) -> Shape {
        Shape(
            split(template)
                .map(|segment| {
                    if segment.contains('{') {
                        Segment::Param
                    } else {
                        Segment::Literal(segment.to_owned())
                    }
                })
                .collect(),
        )
    }

    /// Whether some segment of `template` holds a parameter beside other text.
    pub fn partial(template: &str) -> bool {
        split(template).any(|s| s.contains('{') && !(s.starts_with('{') && s.ends_with('}')))
    }

    pub fn ends_with_rest(&self) -> bool {
        self.0.last() == Some(&Segment::Rest)
    }

    /// The shape without its final `**`: the paths `**` matches with zero segments.
    pub fn without_rest(&self) -> Shape {
        let mut segments = self.0.clone();
        if segments.last() == Some(&Segment::Rest) {
            segments.pop();
        }
        Shape(segments)
    }

    /// A request path of this shape. A final `**` stands for `depth` more segments, so a
    /// `depth` beyond every fixed-length pattern of a policy reaches only its `**` routes.
    pub fn representative(&self, depth: usize) -> String {
        let mut path = String::new();
        for segment in &self.0 {
            match segment {
                Segment::Literal(text) => {
                    path.push('/');
                    path.push_str(text);
                }
                Segment::Param => {
                    path.push('/');
                    path.push_str(ANY_SEGMENT);
                }
                Segment::Rest => {
                    for _ in 0..depth {
                        path.push('/');
                        path.push_str(ANY_SEGMENT);
                    }
                }
            }
        }
        if path.is_empty() {
            path.push('/');
        }
        path
    }

    /// Whether one request path could match both shapes.
    pub fn overlaps(&self, other: &Shape) -> bool {
        let (mut a, mut b) = (self.0.iter(), other.0.iter());
        loop {
            match (a.next(), b.next()) {
                (None, None) | (Some(Segment::Rest), _) | (_, Some(Segment::Rest)) => return true,
                (None, Some(_)) | (Some(_), None) => return false,
                (Some(Segment::Literal(x)), Some(Segment::Literal(y))) if x != y => return false,
                // `{name}` never matches an empty segment (a trailing slash).
                (Some(Segment::Literal(x)), Some(Segment::Param))
                | (Some(Segment::Param), Some(Segment::Literal(x)))
                    if x.is_empty() =>
                {
                    return false;
                }
                _ => {}
            }
        }
    }
}

/// The segments of `/a/b` (none for `/`).
fn split(path: &str) -> impl Iterator<Item = &str> {
    let rest = path.strip_prefix('/').unwrap_or(path);
    rest.split('/').filter(move |_| !rest.is_empty())
}

/// `/items/{}/**`: the shape as text, parameter names dropped.
impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("/");
        }
        for segment in &self.0 {
            match segment {
                Segment::Literal(text) => write!(f, "/{text}")?,
                Segment::Param => f.write_str("/{}")?,
                Segment::Rest => f.write_str("/**")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_names_do_not_matter() {
        assert_eq!(
            Shape::of_pattern("/items/{id}"),
            Shape::of_pattern("/items/{item}")
        );
        assert_eq!(
            Shape::of_pattern("/items/{id}"),
            Shape::of_template("/items/{item_id}")
        );
        assert_eq!(Shape::of_pattern("/a/{x}/**").to_string(), "/a/{}/**");
        assert_eq!(Shape::of_pattern("/").to_string(), "/");
        assert_eq!(Shape::of_pattern("/forecast/").to_string(), "/forecast/");
    }

    #[test]
    fn representatives() {
        assert_eq!(Shape::of_pattern("/").representative(3), "/");
        assert_eq!(Shape::of_pattern("/**").representative(0), "/");
        assert_eq!(Shape::of_pattern("/a/{x}").representative(3), "/a/{}");
        assert_eq!(Shape::of_pattern("/a/**").representative(2), "/a/{}/{}");
        assert_eq!(
            Shape::of_pattern("/a/**").without_rest().representative(2),
            "/a"
        );
        assert_eq!(Shape::of_pattern("/a/").representative(2), "/a/");
    }

    #[test]
    fn partial_segments_are_parameters() {
        assert!(Shape::partial("/files/{name}.json"));
        assert!(!Shape::partial("/files/{name}"));
        assert_eq!(
            Shape::of_template("/files/{name}.json"),
            Shape::of_pattern("/files/{x}")
        );
    }

    #[test]
    fn overlaps() {
        let s = Shape::of_pattern;
        assert!(s("/a/**").overlaps(&s("/a")));
        assert!(s("/a/**").overlaps(&s("/a/b/c")));
        assert!(s("/a/{x}").overlaps(&s("/a/b")));
        assert!(s("/{x}/b").overlaps(&s("/a/{y}")));
        assert!(!s("/a/{x}").overlaps(&s("/a")));
        assert!(!s("/a/b").overlaps(&s("/a/c")));
        assert!(!s("/a/{x}").overlaps(&s("/a/")));
        assert!(!s("/a").overlaps(&s("/a/b")));
        assert!(s("/").overlaps(&s("/")));
    }
}
