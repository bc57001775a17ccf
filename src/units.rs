//! The value syntaxes shared by gateway.toml and the policy file: durations (`"250ms"`, `"30s"`,
//! `"10m"`, `"1h"`) and byte sizes (`"10MiB"`, `"8KiB"`, `"4096"`).

use std::time::Duration;

/// Parses `"250ms"`, `"30s"`, `"10m"`, `"1h"`. A bare number is refused: a unit-less `30` has
/// been read as seconds by some tools and milliseconds by others, so we make the operator say.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let hint = "write a whole number with a unit: \"250ms\", \"30s\", \"10m\" or \"1h\"";
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; {hint}"))?;
    let millis_per_unit = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "" => return Err(format!("`{text}` has no unit; {hint}")),
        _ => return Err(format!("`{text}` has an unknown unit `{unit}`; {hint}")),
    };
    value
        .checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Parses `"10MiB"`, `"8KiB"`, `"1GiB"`, `"500KB"`, `"64B"` or a bare number of bytes.
/// Binary (`KiB`) and decimal (`KB`) prefixes both mean what they say (IEC 80000-13).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let hint = "write a whole number with a unit: \"8KiB\", \"10MiB\", \"1GiB\" (or plain bytes)";
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size; {hint}"))?;
    let multiplier: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => return Err(format!("`{text}` has an unknown unit `{other}`; {hint}")),
    };
    value
        .checked_mul(multiplier)
        .ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("30").unwrap_err().contains("no unit"));
        assert!(parse_duration("3 weeks").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("99999999999999999999h").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10MiB"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_size("8KiB"), Ok(8192));
        assert_eq!(parse_size("500KB"), Ok(500_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("10 parsecs").is_err());
        assert!(parse_size("MiB").is_err());
    }
}
