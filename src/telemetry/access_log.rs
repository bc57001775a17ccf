//! The access/audit line: the record the pipeline fills in, and the one function that turns it
//! into bytes, as JSON or as text.
//!
//! The line is built by hand into a buffer the caller reuses (no `tracing` event, no `format!`),
//! because it is written for every request: at the benchmark's rate a `tracing` event with a
//! dozen fields cost about 40 % of the throughput (issue 19). The fields, their names and their
//! order are the ones `tracing-subscriber` printed before (`--log-format json` flattened, and
//! its default text layout), so what operators parse keeps working. Every text value is escaped
//! (JSON: RFC 8259 §7; text: quoted, with `\"`, `\\` and control characters escaped), so a claim
//! or a path carrying CR/LF can never forge a second line. Tokens are never part of the line.

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::LogFormat;

/// One request's audit record, filled in as the pipeline decides.
#[derive(Debug)]
pub struct AccessRecord {
    pub route: Option<String>,
    /// The issuer's name (`unknown` for an unconfigured `iss`); `None` when no token was read.
    pub issuer: Option<Arc<str>>,
    pub subject: Option<String>,
    pub client_id: Option<String>,
    /// `allow`, `deny`, `shadow_deny` (shadow mode: denied but forwarded) or `upstream_error`
    /// (a 502/504: the policy allowed the request, the upstream failed it).
    pub decision: &'static str,
    pub reason: &'static str,
    /// The description of a denial or failure, for the log only.
    pub detail: Option<String>,
    /// Set once the request was handed to an upstream pool: the pool, the endpoint of its last
    /// attempt (`None` when none was made: the pool was full) and the attempts.
    pub forwarded: Option<Forwarded>,
}

/// Where a forwarded request went (the access line's `upstream`, `endpoint`, `attempts`).
#[derive(Debug, Clone)]
pub struct Forwarded {
    pub upstream: Arc<str>,
    pub endpoint: Option<Arc<str>>,
    pub attempts: u32,
}

impl Default for AccessRecord {
    fn default() -> Self {
        Self {
            route: None,
            issuer: None,
            subject: None,
            client_id: None,
            decision: "allow",
            reason: "allowed",
            detail: None,
            forwarded: None,
        }
    }
}

/// What the log records of an error a request ended in (built by the pipeline's error type, so
/// the log needs to know nothing of it).
pub struct Refusal {
    /// The short stable reason (`reason` field).
    pub reason: &'static str,
    /// The error's message (`detail` field).
    pub detail: String,
    /// The upstream, not the caller or the policy, failed (`upstream_error`).
    pub upstream_failure: bool,
}

impl AccessRecord {
    /// Shadow mode forwarded a request enforcement would have refused with `refusal`.
    pub fn shadow_deny(&mut self, refusal: Refusal) {
        self.decision = "shadow_deny";
        self.reason = refusal.reason;
        self.detail = Some(refusal.detail);
    }

    /// The request went to pool `upstream`, its last attempt to `endpoint`.
    pub fn upstream(&mut self, upstream: &Arc<str>, endpoint: Option<Arc<str>>, attempts: u32) {
        self.forwarded = Some(Forwarded {
            upstream: upstream.clone(),
            endpoint,
            attempts,
        });
    }

    /// The request ended in `refusal`: refused (`deny`), or failed by the upstream.
    pub fn refused(&mut self, refusal: Refusal) {
        self.decision = if refusal.upstream_failure {
            "upstream_error"
        } else {
            "deny"
        };
        self.reason = refusal.reason;
        self.detail = Some(refusal.detail);
    }
}

/// Everything one access line says.
pub struct Line<'a> {
    pub request_id: &'a str,
    pub method: &'a str,
    /// The path as the client sent it.
    pub path: &'a str,
    pub record: &'a AccessRecord,
    pub status: u16,
    pub elapsed: Duration,
    /// 32 lowercase hex digits, when tracing is on.
    pub trace_id: Option<&'a str>,
}

/// Appends `line` to `out`, ending with `\n`, stamped with `now`.
pub fn write_line(out: &mut Vec<u8>, format: LogFormat, now: SystemTime, line: &Line<'_>) {
    let record = line.record;
    let route = record.route.as_deref().unwrap_or("-");
    let issuer = record.issuer.as_deref().unwrap_or("-");
    let subject = record.subject.as_deref().unwrap_or("-");
    let client_id = record.client_id.as_deref().unwrap_or("-");
    let detail = record.detail.as_deref().unwrap_or("");
    // The fields after the method, in the order both layouts write them.
    let fields = [
        (field!("path"), line.path),
        (field!("route"), route),
        (field!("issuer"), issuer),
        (field!("subject"), subject),
        (field!("client_id"), client_id),
        (field!("decision"), record.decision),
        (field!("reason"), record.reason),
        (field!("detail"), detail),
    ];
    match format {
        LogFormat::Json => {
            out.extend_from_slice(b"{\"timestamp\":\"");
            timestamp(out, now);
            out.extend_from_slice(
                b"\",\"level\":\"INFO\",\"target\":\"gateway::access\",\"message\":\"request\"",
            );
            json_field(out, field!("request_id"), line.request_id);
            json_field(out, field!("method"), line.method);
            for (name, value) in fields {
                json_field(out, name, value);
            }
            if let Some(forwarded) = &record.forwarded {
                json_field(out, field!("upstream"), &forwarded.upstream);
                json_field(
                    out,
                    field!("endpoint"),
                    forwarded.endpoint.as_deref().unwrap_or("-"),
                );
                out.extend_from_slice(b",\"attempts\":");
                decimal(out, u64::from(forwarded.attempts));
            }
            out.extend_from_slice(b",\"status\":");
            decimal(out, u64::from(line.status));
            out.extend_from_slice(b",\"duration_ms\":");
            milliseconds(out, line.elapsed);
            if let Some(trace_id) = line.trace_id {
                json_field(out, field!("trace_id"), trace_id);
            }
            out.extend_from_slice(b"}\n");
        }
        LogFormat::Text => {
            timestamp(out, now);
            out.extend_from_slice(b"  INFO gateway::access: request");
            text_field(out, field!("request_id"), line.request_id);
            // tracing printed the method with `%` (Display): unquoted, and always a token.
            out.extend_from_slice(b" method=");
            text_escaped(out, line.method);
            for (name, value) in fields {
                text_field(out, name, value);
            }
            if let Some(forwarded) = &record.forwarded {
                text_field(out, field!("upstream"), &forwarded.upstream);
                text_field(
                    out,
                    field!("endpoint"),
                    forwarded.endpoint.as_deref().unwrap_or("-"),
                );
                out.extend_from_slice(b" attempts=");
                decimal(out, u64::from(forwarded.attempts));
            }
            out.extend_from_slice(b" status=");
            decimal(out, u64::from(line.status));
            out.extend_from_slice(b" duration_ms=");
            milliseconds(out, line.elapsed);
            if let Some(trace_id) = line.trace_id {
                text_field(out, field!("trace_id"), trace_id);
            }
            out.push(b'\n');
        }
    }
}

/// A field's name as each layout opens it, joined at compile time: one copy into the line per
/// field rather than three (the copies of a few bytes each were a third of the line's cost).
#[derive(Clone, Copy)]
struct Name {
    /// `,"name":"`
    json: &'static str,
    /// ` name="`
    text: &'static str,
}

macro_rules! field {
    ($name:literal) => {
        Name {
            json: concat!(",\"", $name, "\":\""),
            text: concat!(" ", $name, "=\""),
        }
    };
}
use field;

fn json_field(out: &mut Vec<u8>, name: Name, value: &str) {
    out.extend_from_slice(name.json.as_bytes());
    json_escaped(out, value);
    out.push(b'"');
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// RFC 8259 §7: `"`, `\` and U+0000-U+001F must be escaped; everything else may be literal
/// (the input is UTF-8, so the output is too). DEL is escaped as well, for terminals.
fn json_escaped(out: &mut Vec<u8>, value: &str) {
    escaped_with(out, value, |out, b| {
        out.extend_from_slice(b"\\u00");
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xf)]);
    });
}

fn text_field(out: &mut Vec<u8>, name: Name, value: &str) {
    out.extend_from_slice(name.text.as_bytes());
    text_escaped(out, value);
    out.push(b'"');
}

/// The text layout's quoting (as Rust's `Debug` for strings, which tracing used): `"` and `\`
/// escaped, control characters as `\n`, `\r`, `\t` or `\u{..}`.
fn text_escaped(out: &mut Vec<u8>, value: &str) {
    escaped_with(out, value, |out, b| {
        out.extend_from_slice(b"\\u{");
        if b >> 4 != 0 {
            out.push(HEX[usize::from(b >> 4)]);
        }
        out.push(HEX[usize::from(b & 0xf)]);
        out.push(b'}');
    });
}

/// The quoting both layouts share: `"`, `\`, newline, return and tab as their two-byte escapes,
/// every other control byte and DEL as `control` writes it, the rest (UTF-8 included) as it is.
/// A value with nothing to escape, almost every one, is copied whole after `clean_prefix`.
fn escaped_with(out: &mut Vec<u8>, value: &str, control: impl Fn(&mut Vec<u8>, u8)) {
    let bytes = value.as_bytes();
    let clean = clean_prefix(bytes);
    if clean == bytes.len() {
        out.extend_from_slice(bytes);
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate().skip(clean) {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f | 0x7f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if short.is_empty() {
            control(out, b);
        } else {
            out.extend_from_slice(short);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Whether either layout escapes `b`: `"`, `\`, the C0 controls and DEL; the byte-at-a-time
/// reference the tests hold `escape_mask` to.
#[cfg(test)]
fn escaped(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\' || b == 0x7f
}

/// How many leading bytes of `bytes` neither layout escapes. Almost every value (ids, routes,
/// paths, subjects) has none, so both escapers copy it whole after this. Eight bytes at a time
/// (`escape_mask`); the last few are read padded with a clean byte. A byte at a time this was
/// most of the access line's cost (docs/benchmarks.md).
fn clean_prefix(bytes: &[u8]) -> usize {
    let mut words = bytes.chunks_exact(8);
    let mut clean = 0;
    for chunk in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let mask = escape_mask(u64::from_le_bytes(word));
        if mask != 0 {
            return clean + first_flagged(mask);
        }
        clean += 8;
    }
    let rest = words.remainder();
    let mut word = [b'a'; 8];
    word[..rest.len()].copy_from_slice(rest);
    match escape_mask(u64::from_le_bytes(word)) {
        0 => bytes.len(),
        mask => clean + first_flagged(mask),
    }
}

const ONES: u64 = u64::from_le_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// The high bit of each byte of `word` (little-endian) that `escaped` is true of: below 0x20
/// (`x - 0x20` borrows and `x` had no high bit), or equal to `"`, `\` or DEL (`x ^ c` is zero).
/// A borrow only runs upwards from a flagged byte, so the lowest flag is exact, and only the
/// lowest is read.
fn escape_mask(word: u64) -> u64 {
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    below_space
        | zero(word ^ (ONES * u64::from(b'"')))
        | zero(word ^ (ONES * u64::from(b'\\')))
        | zero(word ^ (ONES * 0x7f))
}

/// The index of the byte whose high bit is the lowest set in `mask`.
fn first_flagged(mask: u64) -> usize {
    (mask.trailing_zeros() / 8) as usize
}

fn decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Milliseconds with three decimals (microsecond resolution): a JSON number and a text value.
fn milliseconds(out: &mut Vec<u8>, elapsed: Duration) {
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    decimal(out, micros / 1000);
    out.push(b'.');
    let fraction = micros % 1000;
    out.push(b'0' + (fraction / 100) as u8);
    out.push(b'0' + (fraction / 10 % 10) as u8);
    out.push(b'0' + (fraction % 10) as u8);
}

thread_local! {
    /// The last second formatted on this thread and its `YYYY-MM-DDTHH:MM:SS` text: at
    /// thousands of lines a second, the calendar arithmetic runs once a second per thread.
    static SECOND: Cell<(u64, [u8; 19])> = const { Cell::new((u64::MAX, [0; 19])) };
}

/// RFC 3339 UTC with microseconds, as tracing-subscriber wrote it: `2025-01-31T12:00:00.123456Z`.
fn timestamp(out: &mut Vec<u8>, now: SystemTime) {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let second = since.as_secs();
    let (cached, mut text) = SECOND.get();
    if cached != second {
        text = calendar(second);
        SECOND.set((second, text));
    }
    out.extend_from_slice(&text);
    out.push(b'.');
    let micros = since.subsec_micros();
    let mut digits = [b'0'; 6];
    let mut rest = micros;
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out.extend_from_slice(&digits);
    out.push(b'Z');
}

/// `YYYY-MM-DDTHH:MM:SS` for Unix seconds (Howard Hinnant's `civil_from_days`).
fn calendar(unix_seconds: u64) -> [u8; 19] {
    let days = (unix_seconds / 86_400) as i64;
    let secs = unix_seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut text = *b"0000-00-00T00:00:00";
    let mut put = |at: usize, width: usize, value: u64| {
        let mut value = value;
        for i in (at..at + width).rev() {
            text[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, u64::try_from(year).unwrap_or(0));
    put(5, 2, month as u64);
    put(8, 2, day as u64);
    put(11, 2, secs / 3600);
    put(14, 2, secs / 60 % 60);
    put(17, 2, secs % 60);
    text
}

#[cfg(test)]
mod tests;
