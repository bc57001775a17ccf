#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;

fn record() -> AccessRecord {
    AccessRecord {
        route: Some("/forecast".to_owned()),
        issuer: Some(std::sync::Arc::from("prod")),
        subject: Some("clientco@clients".to_owned()),
        client_id: Some("clientco".to_owned()),
        decision: "deny",
        reason: "insufficient_scope",
        detail: Some("scope `read:forecast` is required".to_owned()),
        forwarded: None,
    }
}

fn at(unix: u64, micros: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix) + Duration::from_micros(micros)
}

fn line<'a>(record: &'a AccessRecord, trace_id: Option<&'a str>) -> Line<'a> {
    Line {
        request_id: "req-1",
        method: "GET",
        path: "/forecast",
        record,
        status: 403,
        elapsed: Duration::from_micros(1_234_567),
        trace_id,
    }
}

fn written(format: LogFormat, line: &Line<'_>) -> String {
    let mut out = Vec::new();
    write_line(&mut out, format, at(1_738_324_800, 123), line);
    String::from_utf8(out).unwrap()
}

#[test]
fn json_line_has_the_fields_tracing_printed_under_the_same_names() {
    let record = record();
    let text = written(LogFormat::Json, &line(&record, None));
    assert!(
        text.ends_with("}\n") && text.matches('\n').count() == 1,
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["timestamp"], "2025-01-31T12:00:00.000123Z");
    assert_eq!(json["level"], "INFO");
    assert_eq!(json["target"], "gateway::access");
    assert_eq!(json["message"], "request");
    assert_eq!(json["request_id"], "req-1");
    assert_eq!(json["method"], "GET");
    assert_eq!(json["path"], "/forecast");
    assert_eq!(json["route"], "/forecast");
    assert_eq!(json["subject"], "clientco@clients");
    assert_eq!(json["client_id"], "clientco");
    assert_eq!(json["decision"], "deny");
    assert_eq!(json["reason"], "insufficient_scope");
    assert_eq!(json["detail"], "scope `read:forecast` is required");
    assert_eq!(json["status"], 403);
    assert_eq!(json["duration_ms"], 1234.567);
    assert!(json.get("trace_id").is_none());
}

#[test]
fn json_line_carries_the_trace_id_when_tracing_is_on() {
    let record = record();
    let id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let json: serde_json::Value =
        serde_json::from_str(&written(LogFormat::Json, &line(&record, Some(id)))).unwrap();
    assert_eq!(json["trace_id"], id);
}

#[test]
fn a_claim_with_quotes_newlines_and_control_characters_cannot_forge_a_line() {
    let forged = "x\"\r\n{\"decision\":\"allow\"}\\\u{0}\u{1b}\u{7f}é";
    let record = AccessRecord {
        subject: Some(forged.to_owned()),
        ..AccessRecord::default()
    };
    for format in [LogFormat::Json, LogFormat::Text] {
        let text = written(format, &line(&record, None));
        assert_eq!(text.matches('\n').count(), 1, "{text}");
        assert!(!text.contains('\r') && !text.contains('\u{0}') && !text.contains('\u{1b}'));
        assert!(text.contains('é'), "{text}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&written(LogFormat::Json, &line(&record, None))).unwrap();
    assert_eq!(json["subject"], forged);
    assert_eq!(json["route"], "-");
    assert_eq!(json["detail"], "");
}

#[test]
fn text_line_reads_like_tracing_subscribers_default_layout() {
    let record = record();
    assert_eq!(
        written(LogFormat::Text, &line(&record, Some("ab"))),
        "2025-01-31T12:00:00.000123Z  INFO gateway::access: request request_id=\"req-1\" \
         method=GET path=\"/forecast\" route=\"/forecast\" issuer=\"prod\" subject=\"clientco@clients\" \
         client_id=\"clientco\" decision=\"deny\" reason=\"insufficient_scope\" \
         detail=\"scope `read:forecast` is required\" status=403 duration_ms=1234.567 \
         trace_id=\"ab\"\n"
    );
    let quoted = AccessRecord {
        subject: Some("a\"b\\c\nd\u{1}".to_owned()),
        ..AccessRecord::default()
    };
    let text = written(LogFormat::Text, &line(&quoted, None));
    assert!(text.contains(r#"subject="a\"b\\c\nd\u{1}""#), "{text}");
}

#[test]
fn timestamps_are_utc_calendar_dates() {
    assert_eq!(&calendar(0), b"1970-01-01T00:00:00");
    assert_eq!(&calendar(951_782_400), b"2000-02-29T00:00:00");
    assert_eq!(&calendar(1_709_251_199), b"2024-02-29T23:59:59");
    assert_eq!(&calendar(4_102_444_800), b"2100-01-01T00:00:00");
    // The per-thread cache must not serve one second's text for the next.
    let mut out = Vec::new();
    timestamp(&mut out, at(59, 999_999));
    timestamp(&mut out, at(60, 5));
    assert_eq!(
        out,
        b"1970-01-01T00:00:59.999999Z1970-01-01T00:01:00.000005Z"
    );
}

#[test]
fn durations_keep_microseconds() {
    for (micros, text) in [
        (0, "0.000"),
        (7, "0.007"),
        (1_000, "1.000"),
        (12_345_678, "12345.678"),
    ] {
        let mut out = Vec::new();
        milliseconds(&mut out, Duration::from_micros(micros));
        assert_eq!(String::from_utf8(out).unwrap(), text);
    }
}

#[test]
fn a_forwarded_request_names_its_pool_endpoint_and_attempts_in_both_layouts() {
    let mut record = record();
    assert!(!written(LogFormat::Json, &line(&record, None)).contains("upstream"));
    record.upstream(
        &std::sync::Arc::from("forecast"),
        Some(std::sync::Arc::from("http://10.0.1.5:8000")),
        2,
    );
    let json: serde_json::Value =
        serde_json::from_str(&written(LogFormat::Json, &line(&record, None))).unwrap();
    assert_eq!(json["upstream"], "forecast");
    assert_eq!(json["endpoint"], "http://10.0.1.5:8000");
    assert_eq!(json["attempts"], 2);
    let text = written(LogFormat::Text, &line(&record, None));
    assert!(
        text.contains(" upstream=\"forecast\" endpoint=\"http://10.0.1.5:8000\" attempts=2 "),
        "{text}"
    );
}

#[test]
fn the_clean_prefix_ends_at_the_first_byte_either_layout_escapes_wherever_it_is() {
    // Every byte at every offset of words and a tail, alone and with an escaped byte after it
    // (the first is the one found, whatever a borrow does to the bytes above it).
    for b in 0u8..=255 {
        for len in [1, 7, 8, 9, 21, 40] {
            for at in 0..len {
                let mut value = vec![b'a'; len];
                value[at] = b;
                let expected = if escaped(b) { at } else { len };
                assert_eq!(
                    clean_prefix(&value),
                    expected,
                    "byte {b:#04x} at {at} of {len}"
                );
                if at + 1 < len {
                    value[at + 1] = 0x00;
                    let expected = if escaped(b) { at } else { at + 1 };
                    assert_eq!(clean_prefix(&value), expected, "{b:#04x} then NUL at {at}");
                }
            }
        }
    }
    assert_eq!(clean_prefix(b""), 0);
    // Multi-byte UTF-8 is never escaped.
    assert_eq!(clean_prefix("tenant-é-ü".as_bytes()), "tenant-é-ü".len());
}

#[test]
fn values_with_and_without_escapes_are_written_as_before_in_both_layouts() {
    for (value, json, text) in [
        (
            "plain-value-longer-than-sixteen",
            "plain-value-longer-than-sixteen",
            "plain-value-longer-than-sixteen",
        ),
        (
            "a-long-clean-prefix-then\"quote",
            "a-long-clean-prefix-then\\\"quote",
            "a-long-clean-prefix-then\\\"quote",
        ),
        ("\u{1}x", "\\u0001x", "\\u{1}x"),
        ("tab\there\\", "tab\\there\\\\", "tab\\there\\\\"),
    ] {
        let mut out = Vec::new();
        json_escaped(&mut out, value);
        assert_eq!(String::from_utf8(out).unwrap(), json);
        let mut out = Vec::new();
        text_escaped(&mut out, value);
        assert_eq!(String::from_utf8(out).unwrap(), text);
    }
}
