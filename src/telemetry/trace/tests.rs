#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;

const PARENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN: &str = "00f067aa0ba902b7";

/// A tracer whose exports go nowhere reachable (no test here waits for one).
fn tracing(ratio: f64) -> Tracing {
    Tracing::start(&TelemetryConfig {
        otlp_endpoint: Some("http://127.0.0.1:9".to_owned()),
        sample_ratio: ratio,
    })
    .unwrap()
    .unwrap()
}

fn headers(traceparent: &str, tracestate: Option<&str>) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert("traceparent", traceparent.parse().unwrap());
    if let Some(state) = tracestate {
        headers.insert("tracestate", state.parse().unwrap());
    }
    headers
}

async fn stop(tracing: Tracing) {
    tokio::task::spawn_blocking(move || tracing.shutdown())
        .await
        .unwrap();
}

fn parts(value: &HeaderValue) -> Vec<String> {
    value
        .to_str()
        .unwrap()
        .split('-')
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn the_upstream_continues_the_callers_trace_from_a_new_span_of_the_gateway() {
    let tracing = tracing(0.0);
    let inbound = headers(
        &format!("00-{PARENT_TRACE}-{PARENT_SPAN}-01"),
        Some("vendor=opaque,other=1"),
    );
    let span = tracing.request_span(&http::Method::GET, &inbound);
    assert_eq!(span.trace_id(), PARENT_TRACE);
    let mut upstream = inbound.clone();
    span.propagate(&mut upstream);
    let traceparent = parts(&upstream["traceparent"]);
    assert_eq!(traceparent[0], "00");
    assert_eq!(traceparent[1], PARENT_TRACE);
    assert_ne!(
        traceparent[2], PARENT_SPAN,
        "the gateway's hop has its own span id"
    );
    assert_eq!(traceparent[2].len(), 16);
    // A sampled parent stays sampled even at ratio 0 (parent-based).
    assert_eq!(traceparent[3], "01");
    assert_eq!(upstream["tracestate"], "vendor=opaque,other=1");
    stop(tracing).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn an_unsampled_parent_stays_unsampled_and_new_traces_follow_the_ratio() {
    let tracing = tracing(1.0);
    let unsampled = headers(&format!("00-{PARENT_TRACE}-{PARENT_SPAN}-00"), None);
    let mut upstream = unsampled.clone();
    tracing
        .request_span(&http::Method::GET, &unsampled)
        .propagate(&mut upstream);
    assert_eq!(parts(&upstream["traceparent"])[3], "00");
    assert!(upstream.get("tracestate").is_none());

    // No parent: a new trace, sampled at ratio 1.0.
    let mut upstream = http::HeaderMap::new();
    let span = tracing.request_span(&http::Method::GET, &http::HeaderMap::new());
    span.propagate(&mut upstream);
    let traceparent = parts(&upstream["traceparent"]);
    assert_eq!(traceparent[1], span.trace_id());
    assert_ne!(traceparent[1], "0".repeat(32));
    assert_eq!(traceparent[3], "01");
    stop(tracing).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_malformed_traceparent_starts_a_new_trace_and_is_not_passed_on() {
    let tracing = tracing(0.0);
    for bad in [
        format!("00-{}-{PARENT_SPAN}-01", "0".repeat(32)),
        format!("00-{}-{PARENT_SPAN}-01", PARENT_TRACE.to_uppercase()),
        "00-abc-def-01".to_owned(),
        format!("00-{PARENT_TRACE}-{PARENT_SPAN}-01-extra"),
        format!("00-{PARENT_TRACE}-{}-01", "0".repeat(16)),
        format!("ff-{PARENT_TRACE}-{PARENT_SPAN}-01"),
    ] {
        let inbound = headers(&bad, Some("vendor=x"));
        let span = tracing.request_span(&http::Method::GET, &inbound);
        assert_ne!(span.trace_id(), PARENT_TRACE, "{bad}");
        let mut upstream = inbound.clone();
        span.propagate(&mut upstream);
        assert_ne!(upstream["traceparent"], bad.as_str());
        assert_eq!(
            parts(&upstream["traceparent"])[3],
            "00",
            "{bad}: ratio 0 samples nothing new"
        );
        assert!(
            upstream.get("tracestate").is_none(),
            "{bad}: W3C §3.3: no tracestate without a valid traceparent"
        );
    }
    stop(tracing).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn two_traceparent_headers_are_not_one_parent() {
    let tracing = tracing(0.0);
    let mut inbound = headers(&format!("00-{PARENT_TRACE}-{PARENT_SPAN}-01"), None);
    inbound.append(
        "traceparent",
        format!("00-{PARENT_TRACE}-{PARENT_SPAN}-01")
            .parse()
            .unwrap(),
    );
    assert_ne!(
        tracing
            .request_span(&http::Method::GET, &inbound)
            .trace_id(),
        PARENT_TRACE
    );
    // A later version may carry more fields after the flags (W3C §4.3).
    let future = headers(&format!("01-{PARENT_TRACE}-{PARENT_SPAN}-01-more"), None);
    assert_eq!(
        tracing.request_span(&http::Method::GET, &future).trace_id(),
        PARENT_TRACE
    );
    stop(tracing).await;
}

#[test]
fn a_bare_collector_origin_gets_the_otlp_traces_path() {
    assert_eq!(
        traces_url("http://collector:4318"),
        "http://collector:4318/v1/traces"
    );
    assert_eq!(
        traces_url("http://collector:4318/"),
        "http://collector:4318/v1/traces"
    );
    assert_eq!(
        traces_url("https://otlp.example/custom/v1/traces"),
        "https://otlp.example/custom/v1/traces"
    );
}
