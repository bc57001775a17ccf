//! Line and column of any node in a YAML document.
//!
//! `serde_norway` keeps libyaml's marks private and only reports them on errors. So to find where
//! `routes[2].scopes[1]` was written, we deserialize the document once more with a seed that
//! walks to that node and fails there on purpose: the error carries the node's mark. The policy
//! file is small and this runs only when there is a problem to report, so the extra parse is
//! cheap, and every semantic error still gets a real line:column.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One step from a node to one of its children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The value under this key of a mapping.
    Value(String),
    /// The key itself (to point at an unknown key rather than its value).
    Key(String),
    /// The element at this index of a sequence.
    Index(usize),
}

const PROBE: &str = "gateway-locate-probe";

/// 1-based line and column of the node at `path`, or of the deepest ancestor that exists.
pub fn locate(source: &str, path: &[Step]) -> (usize, usize) {
    for depth in (0..=path.len()).rev() {
        let result = Probe {
            path: &path[..depth],
        }
        .deserialize(serde_norway::Deserializer::from_str(source));
        if let Err(error) = result
            && error.to_string().contains(PROBE)
            && let Some(location) = error.location()
        {
            return within(source, location.line(), location.column());
        }
    }
    (1, 1)
}

/// libyaml marks the end of a document one line past the text when the last line has no
/// newline (a comment-only file is reported at 2:1), so a diagnostic could name a line the
/// editor does not have. Clamp to the last line that exists (found by fuzzing, docs/fuzzing.md).
pub(super) fn within(source: &str, line: usize, column: usize) -> (usize, usize) {
    let lines = source.split('\n').count();
    if line > lines {
        (lines, 1)
    } else {
        (line, column)
    }
}

struct Probe<'p> {
    path: &'p [Step],
}

impl<'de> DeserializeSeed<'de> for Probe<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

fn here<E: de::Error>() -> E {
    E::custom(PROBE)
}

fn missing<E: de::Error>() -> E {
    E::custom("not found")
}

impl<'de> Visitor<'de> for Probe<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.leaf()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.leaf()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.leaf()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.leaf()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.leaf()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.leaf()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.leaf()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((Step::Index(wanted), rest)) = self.path.split_first() else {
            return if self.path.is_empty() {
                Err(here())
            } else {
                Err(missing())
            };
        };
        for _ in 0..*wanted {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Err(missing());
            }
        }
        seq.next_element_seed(Probe { path: rest })?;
        Err(missing())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((step, rest)) = self.path.split_first() else {
            return Err(here());
        };
        let wanted = match step {
            Step::Value(k) | Step::Key(k) => k,
            Step::Index(_) => return Err(missing()),
        };
        while let Some(found) = map.next_key_seed(KeyProbe {
            wanted,
            fail_on_match: matches!(step, Step::Key(_)),
        })? {
            if found {
                map.next_value_seed(Probe { path: rest })?;
                return Err(missing());
            }
            map.next_value::<IgnoredAny>()?;
        }
        Err(missing())
    }
}

impl Probe<'_> {
    fn leaf<E: de::Error>(self) -> Result<(), E> {
        if self.path.is_empty() {
            Err(here())
        } else {
            Err(missing())
        }
    }
}

/// Reads a mapping key; says whether it is the wanted one, or fails there to report its mark.
struct KeyProbe<'w> {
    wanted: &'w str,
    fail_on_match: bool,
}

impl<'de> DeserializeSeed<'de> for KeyProbe<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl KeyProbe<'_> {
    /// Fails inside the visitor, so the error takes the key's own mark.
    fn compare<E: de::Error>(&self, key: &str) -> Result<bool, E> {
        let matched = key == self.wanted;
        if matched && self.fail_on_match {
            return Err(here());
        }
        Ok(matched)
    }
}

impl<'de> Visitor<'de> for KeyProbe<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        self.compare(v)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        self.compare(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        self.compare(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        self.compare(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<bool, E> {
        self.compare(&v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
permissions:
  read:forecast: Retrieve
routes:
  - path: /forecast
    scopes: [read:forecast, read:x]
  - path: /b
    scopes:
      - one
      - two
";

    fn v(k: &str) -> Step {
        Step::Value(k.to_owned())
    }

    #[test]
    fn finds_values_keys_and_elements() {
        assert_eq!(
            locate(DOC, &[v("routes"), Step::Index(0), v("path")]),
            (4, 11)
        );
        assert_eq!(
            locate(
                DOC,
                &[v("routes"), Step::Index(0), v("scopes"), Step::Index(1)]
            ),
            (5, 29)
        );
        assert_eq!(
            locate(
                DOC,
                &[v("routes"), Step::Index(1), v("scopes"), Step::Index(1)]
            ),
            (9, 9)
        );
        assert_eq!(
            locate(DOC, &[v("permissions"), Step::Key("read:forecast".into())]),
            (2, 3)
        );
    }

    #[test]
    fn a_missing_node_falls_back_to_its_nearest_ancestor() {
        assert_eq!(
            locate(DOC, &[v("routes"), Step::Index(1), v("nope")]),
            (6, 5)
        );
        assert_eq!(locate(DOC, &[v("routes"), Step::Index(9)]), (4, 3));
    }
}
