//! Request-path normalisation, the data plane's decision 1 (docs/policy.md, "Path normalisation").
//!
//! The policy judges the normalised path and the upstream receives that same path, so a path
//! that could be read two ways (by us and by the backend) is either made canonical or refused.
//!
//! - Input is the path only (`Uri::path()`); the query is never looked at here and is passed
//!   upstream unchanged by the caller.
//! - Percent-encoded unreserved characters (RFC 3986 §2.3: ALPHA DIGIT `-` `.` `_` `~`) are
//!   decoded (§6.2.2.2); every other escape is kept, with upper-case hex digits (§6.2.2.1).
//! - Repeated `/` are merged, then dot segments are removed (§5.2.4); `..` above the root is
//!   refused rather than clamped, because a client that sends it is probing.
//! - `%2F`, `%5C` (an encoded separator the backend may decode into a real one), a raw `\`
//!   (some frameworks treat it as `/`), NUL in any form, and malformed escapes are refused.
//! - A trailing slash is kept: `/forecast/` and `/forecast` are different resources to most
//!   backends (and to Envoy's exact path matching), so the policy treats them as different.

use super::PathError;

/// RFC 3986 §5.2.4 dot-segment removal, percent-decoding of unreserved characters only, merging
/// of repeated `/`. Refuses encoded `/` or `\`, raw `\`, NUL, and `..` escaping the root.
pub fn normalise(path: &str) -> Result<String, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let decoded = decode_unreserved(path)?;
    let trailing_slash = decoded.ends_with('/');
    let mut segments: Vec<&str> = Vec::new();
    let mut ends_in_directory = trailing_slash;
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        ends_in_directory = false;
        match segment {
            "." => ends_in_directory = true,
            ".." => {
                if segments.pop().is_none() {
                    return Err(PathError::EscapesRoot);
                }
                ends_in_directory = true;
            }
            _ => segments.push(segment),
        }
    }
    if trailing_slash {
        ends_in_directory = true;
    }
    let mut out = String::with_capacity(decoded.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || ends_in_directory {
        out.push('/');
    }
    Ok(out)
}

/// Decodes `%XX` escapes of unreserved characters, upper-cases the rest, refuses the dangerous
/// ones. Dot segments spelled `%2e` become real dots here, before dot-segment removal.
fn decode_unreserved(path: &str) -> Result<String, PathError> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or(PathError::BadEscape)?;
                let (hi, lo) = (hex_value(hex[0]), hex_value(hex[1]));
                let byte = match (hi, lo) {
                    (Some(hi), Some(lo)) => hi * 16 + lo,
                    _ => return Err(PathError::BadEscape),
                };
                match byte {
                    b'/' => return Err(PathError::EncodedSlash),
                    b'\\' => return Err(PathError::EncodedBackslash),
                    0 => return Err(PathError::Nul),
                    b if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') => {
                        out.push(char::from(b));
                    }
                    b => {
                        out.push('%');
                        out.push_str(&format!("{b:02X}"));
                    }
                }
                i += 3;
            }
            b'\\' => return Err(PathError::Backslash),
            0 => return Err(PathError::Nul),
            _ => {
                // Copy the whole run up to the next byte of interest; `path` is a `str`, and
                // '%', '\\' and NUL are ASCII, so the run ends on a char boundary.
                let end = bytes[i..]
                    .iter()
                    .position(|b| matches!(b, b'%' | b'\\' | 0))
                    .map_or(bytes.len(), |p| i + p);
                out.push_str(&path[i..end]);
                i = end;
            }
        }
    }
    Ok(out)
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn ok(input: &str, expected: &str) {
        assert_eq!(normalise(input).as_deref(), Ok(expected), "input {input:?}");
    }

    fn refused(input: &str, expected: PathError) {
        assert_eq!(normalise(input), Err(expected), "input {input:?}");
    }

    #[test]
    fn plain_paths_are_unchanged() {
        ok("/", "/");
        ok("/forecast", "/forecast");
        ok("/a/b/c", "/a/b/c");
        ok("/Forecast", "/Forecast");
    }

    #[test]
    fn trailing_slash_is_kept() {
        ok("/forecast/", "/forecast/");
        ok("/a/b/", "/a/b/");
    }

    #[test]
    fn repeated_slashes_merge() {
        ok("//forecast", "/forecast");
        ok("/a///b", "/a/b");
        ok("/a/b//", "/a/b/");
        ok("//", "/");
    }

    #[test]
    fn dot_segments_are_removed() {
        ok("/./forecast", "/forecast");
        ok("/a/./b", "/a/b");
        ok("/a/b/..", "/a/");
        ok("/a/b/.", "/a/b/");
        ok("/forecast/../models/x", "/models/x");
        ok("/a/b/../../c", "/c");
        ok("/a/..", "/");
        ok("/..a/b", "/..a/b");
        ok("/a./b", "/a./b");
        ok("/.../b", "/.../b");
    }

    #[test]
    fn encoded_dots_are_dot_segments() {
        ok("/forecast/%2e%2e/models/x", "/models/x");
        ok("/forecast/%2E%2E/models", "/models");
        ok("/forecast/.%2e/models", "/models");
        ok("/%2e/forecast", "/forecast");
    }

    #[test]
    fn escaping_the_root_is_refused() {
        refused("/..", PathError::EscapesRoot);
        refused("/../etc/passwd", PathError::EscapesRoot);
        refused("/a/../..", PathError::EscapesRoot);
        refused("/%2e%2e/x", PathError::EscapesRoot);
    }

    #[test]
    fn unreserved_escapes_decode_others_stay_uppercase() {
        ok("/%66orecast", "/forecast");
        ok("/a%7Eb%2D%5F", "/a~b-_");
        ok("/a%20b", "/a%20b");
        ok("/a%3fb", "/a%3Fb");
        ok("/a%25b", "/a%25b");
        ok("/caf%C3%A9", "/caf%C3%A9");
    }

    #[test]
    fn separators_and_nul_are_refused() {
        refused("/models%2Fx", PathError::EncodedSlash);
        refused("/models%2fx", PathError::EncodedSlash);
        refused("/a%5Cb", PathError::EncodedBackslash);
        refused("/a%5cb", PathError::EncodedBackslash);
        refused("/a\\b", PathError::Backslash);
        refused("/a%00b", PathError::Nul);
        refused("/a\0b", PathError::Nul);
    }

    #[test]
    fn malformed_input_is_refused() {
        refused("/a%", PathError::BadEscape);
        refused("/a%2", PathError::BadEscape);
        refused("/a%zz", PathError::BadEscape);
        refused("", PathError::NotAbsolute);
        refused("forecast", PathError::NotAbsolute);
        refused("*", PathError::NotAbsolute);
    }

    mod properties {
        use super::super::normalise;
        use proptest::prelude::*;

        fn path_strategy() -> impl Strategy<Value = String> {
            let piece = prop_oneof![
                Just("/".to_owned()),
                Just(".".to_owned()),
                Just("..".to_owned()),
                Just("%2e".to_owned()),
                Just("%2E".to_owned()),
                Just("%41".to_owned()),
                Just("%3f".to_owned()),
                Just("%25".to_owned()),
                "[a-z~_.-]{1,3}",
            ];
            prop::collection::vec(piece, 0..12).prop_map(|p| format!("/{}", p.concat()))
        }

        proptest! {
            #[test]
            fn normalised_paths_are_canonical(input in path_strategy()) {
                if let Ok(once) = normalise(&input) {
                    let twice = normalise(&once);
                    prop_assert_eq!(twice.as_deref(), Ok(once.as_str()));
                    prop_assert!(once.starts_with('/'));
                    prop_assert!(!once.contains("//"));
                    prop_assert!(!once.contains("/./") && !once.ends_with("/."));
                    prop_assert!(!once.contains("/../") && !once.ends_with("/.."));
                    prop_assert!(!once.to_ascii_lowercase().contains("%2e"));
                }
            }

            #[test]
            fn never_panics(input in "\\PC*") {
                let _ = normalise(&input);
            }
        }
    }
}
