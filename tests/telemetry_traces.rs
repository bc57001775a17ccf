//! OpenTelemetry traces as a collector sees them: a real OTLP/HTTP receiver on an ephemeral
//! port gets one server span per request, child of the caller's `traceparent`, with the
//! decision, route, client id and reason; the upstream continues the trace from the gateway's
//! span; the access line names the trace.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use support::otlp::{Receiver, attribute, hex};
use support::wait::{DEADLINE, poll};
use support::world::World;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

async fn traced_world(receiver: &Receiver) -> World {
    let endpoint = receiver.url();
    World::start_with(|options| {
        options.tail = format!(
            "[telemetry]\notlp_endpoint = \"{endpoint}\"\nsample_ratio = 1.0\n\
             [log]\nfile = \"access.log\"\nformat = \"json\"\n"
        );
    })
    .await
}

async fn access_line(world: &World, request_id: &str) -> serde_json::Value {
    let path = world.gateway.dir.path().join("access.log");
    poll("the access line", DEADLINE, || {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let found = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|l| l["request_id"] == request_id);
        std::future::ready(found)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_receiver_as_children_of_the_callers_trace() {
    let receiver = Receiver::start().await;
    let world = traced_world(&receiver).await;

    let allowed = world
        .client
        .get(world.url("/forecast"))
        .bearer_auth(world.token("read:forecast"))
        .header("traceparent", format!("00-{TRACE}-{CALLER_SPAN}-01"))
        .header("tracestate", "clientco=abc")
        .header("x-request-id", "traced-allowed")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    // The backend continues the trace from the gateway's span, not the caller's.
    let seen = world.backend.last();
    let upstream: Vec<&str> = seen.headers["traceparent"]
        .to_str()
        .unwrap()
        .split('-')
        .collect();
    assert_eq!(upstream[1], TRACE);
    assert_ne!(upstream[2], CALLER_SPAN);
    assert_eq!(upstream[3], "01");
    assert_eq!(seen.headers["tracestate"], "clientco=abc");
    let gateway_span = upstream[2].to_owned();

    let denied = world
        .client
        .get(world.url("/inventory"))
        .bearer_auth(world.token("read:forecast"))
        .header("x-request-id", "traced-denied")
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);

    assert_eq!(
        access_line(&world, "traced-allowed").await["trace_id"],
        TRACE
    );
    let denied_line = access_line(&world, "traced-denied").await;
    let denied_trace = denied_line["trace_id"].as_str().unwrap().to_owned();
    assert_eq!(denied_trace.len(), 32);
    assert_ne!(denied_trace, TRACE);

    // Shutdown exports what is queued.
    world.gateway.shutdown().await;
    let spans = receiver.spans();
    assert_eq!(spans.len(), 2, "{spans:#?}");
    assert_eq!(receiver.services(), ["gateway"]);

    let span = spans.iter().find(|s| hex(&s.trace_id) == TRACE).unwrap();
    assert_eq!(span.name, "GET /forecast");
    assert_eq!(span.kind, SpanKind::Server as i32);
    assert_eq!(hex(&span.parent_span_id), CALLER_SPAN);
    assert_eq!(hex(&span.span_id), gateway_span);
    assert_eq!(
        attribute(span, "gateway.decision").as_deref(),
        Some("allow")
    );
    assert_eq!(
        attribute(span, "gateway.reason").as_deref(),
        Some("allowed")
    );
    assert_eq!(
        attribute(span, "gateway.client_id").as_deref(),
        Some("clientco")
    );
    assert_eq!(attribute(span, "http.route").as_deref(), Some("/forecast"));
    assert_eq!(
        attribute(span, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        attribute(span, "gateway.request_id").as_deref(),
        Some("traced-allowed")
    );
    assert!(span.end_time_unix_nano >= span.start_time_unix_nano);

    // No traceparent: a new trace, with no parent.
    let span = spans
        .iter()
        .find(|s| hex(&s.trace_id) == denied_trace)
        .unwrap();
    assert!(span.parent_span_id.is_empty());
    assert_eq!(span.name, "GET /inventory");
    assert_eq!(attribute(span, "gateway.decision").as_deref(), Some("deny"));
    assert_eq!(
        attribute(span, "gateway.reason").as_deref(),
        Some("insufficient_scope")
    );
    assert_eq!(
        attribute(span, "http.response.status_code").as_deref(),
        Some("403")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_otlp_endpoint_traceparent_passes_through_untouched() {
    let world = World::start().await;
    let caller = format!("00-{TRACE}-{CALLER_SPAN}-01");
    let response = world
        .client
        .get(world.url("/forecast"))
        .bearer_auth(world.token("read:forecast"))
        .header("traceparent", &caller)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(world.backend.last().headers["traceparent"], caller.as_str());
}
