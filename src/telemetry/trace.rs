//! OpenTelemetry traces: one server span per request, W3C Trace Context in and out, OTLP/HTTP
//! (protobuf) export to `[telemetry] otlp_endpoint`.
//!
//! The inbound `traceparent`/`tracestate` (W3C Trace Context §3.2, §3.3) make the request's
//! span a child of the caller's; an absent or invalid one starts a new trace. Sampling is
//! parent-based over a trace-id ratio (`sample_ratio`, default 0.01): a caller's sampling flag is
//! kept either way, and a new trace is sampled with that probability. The upstream receives a
//! `traceparent` naming the gateway's own span (a new span id for this hop, W3C §3.2.2.3), with
//! the caller's `tracestate` carried on, sampled or not, so the backend's spans join the trace.
//!
//! Spans are exported by the SDK's batch processor (its own thread) through the OTLP HTTP
//! exporter. The exporter's HTTP client is the project's reqwest (rustls, aws-lc-rs), driven on
//! the gateway's Tokio runtime: no second HTTP client or TLS stack in the binary.

use std::future::Future;
use std::pin::Pin;

use http::HeaderValue;
use opentelemetry::KeyValue;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _, TracerProvider as _};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, Span, Tracer,
};

use super::access_log::AccessRecord;
use crate::config::TelemetryConfig;
use crate::constants as C;

/// Why tracing could not start.
#[derive(Debug, thiserror::Error)]
#[error("[telemetry] otlp_endpoint: {0}")]
pub struct TraceError(String);

/// The tracer of a running gateway.
pub struct Tracing {
    provider: SdkTracerProvider,
    tracer: Tracer,
    propagator: TraceContextPropagator,
}

impl Tracing {
    /// Builds the exporter and the tracer; `None` when `otlp_endpoint` is not set. Must run on
    /// the Tokio runtime that will carry the exports.
    pub fn start(config: &TelemetryConfig) -> Result<Option<Tracing>, TraceError> {
        let Some(endpoint) = &config.otlp_endpoint else {
            return Ok(None);
        };
        let client = Client::new().map_err(|e| TraceError(e.to_string()))?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(traces_url(endpoint))
            .with_timeout(C::TRACE_EXPORT_TIMEOUT)
            .build()
            .map_err(|e| TraceError(e.to_string()))?;
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_max_queue_size(C::TRACE_QUEUE_SPANS)
                    .with_scheduled_delay(C::TRACE_EXPORT_INTERVAL)
                    .build(),
            )
            .build();
        let mut resource = opentelemetry_sdk::Resource::builder();
        if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
            resource = resource.with_service_name("gateway");
        }
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                config.sample_ratio,
            ))))
            .with_resource(resource.build())
            .build();
        let tracer = provider.tracer("gateway");
        Ok(Some(Tracing {
            provider,
            tracer,
            propagator: TraceContextPropagator::new(),
        }))
    }

    /// Starts the server span of a request, as a child of its `traceparent` if it has a valid one.
    pub fn request_span(&self, method: &http::Method, headers: &http::HeaderMap) -> RequestSpan {
        // The SDK's parser accepts short ids ("00-abc-def-01"); W3C §3.2.2 does not.
        let parent = if well_formed_traceparent(headers) {
            self.propagator
                .extract(&opentelemetry_http::HeaderExtractor(headers))
        } else {
            opentelemetry::Context::new()
        };
        let span = self
            .tracer
            .span_builder(method.as_str().to_owned())
            .with_kind(SpanKind::Server)
            .start_with_context(&self.tracer, &parent);
        let context = span.span_context();
        let mut trace_id = [0u8; 32];
        hex(&context.trace_id().to_bytes(), &mut trace_id);
        RequestSpan {
            span,
            trace_id,
            method: method.as_str().to_owned(),
        }
    }

    /// Exports what is queued and stops. Blocks: call it off the runtime's threads (the export
    /// itself runs on the runtime).
    pub fn shutdown(&self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "traces: the last spans may not have been exported");
        }
    }
}

/// A request's span: its ids for the upstream and the log, its attributes at the end.
pub struct RequestSpan {
    span: Span,
    trace_id: [u8; 32],
    method: String,
}

impl RequestSpan {
    /// 32 lowercase hex digits.
    pub fn trace_id(&self) -> &str {
        std::str::from_utf8(&self.trace_id).unwrap_or("")
    }

    /// `traceparent` naming this span (version 00, W3C §3.2.2).
    pub fn traceparent(&self) -> Option<HeaderValue> {
        let context = self.span.span_context();
        let mut text = *b"00-00000000000000000000000000000000-0000000000000000-00";
        text[3..35].copy_from_slice(&self.trace_id);
        hex(&context.span_id().to_bytes(), &mut text[36..52]);
        hex(&[context.trace_flags().to_u8()], &mut text[53..55]);
        HeaderValue::from_bytes(&text).ok()
    }

    /// The caller's `tracestate`, carried on unchanged (W3C §3.3.1.1), if it had a valid one.
    pub fn tracestate(&self) -> Option<HeaderValue> {
        let state = self.span.span_context().trace_state().header();
        if state.is_empty() {
            None
        } else {
            HeaderValue::from_str(&state).ok()
        }
    }

    /// Phase 7: the upstream continues this trace as a child of the gateway's span. Replaces
    /// whatever the client sent (its ids are the parent's, already in this span).
    pub fn propagate(&self, headers: &mut http::HeaderMap) {
        match self.traceparent() {
            Some(value) => headers.insert(TRACEPARENT, value),
            None => headers.remove(TRACEPARENT),
        };
        match self.tracestate() {
            Some(value) => headers.insert(TRACESTATE, value),
            None => headers.remove(TRACESTATE),
        };
    }

    /// Ends the span with what the pipeline recorded (OpenTelemetry HTTP semantic conventions,
    /// plus the gateway's decision).
    pub fn finish(mut self, request_id: &str, path: &str, record: &AccessRecord, status: u16) {
        if !self.span.is_recording() {
            return;
        }
        if let Some(route) = &record.route {
            let name = format!("{} {route}", self.method);
            self.span.update_name(name);
            self.span
                .set_attribute(KeyValue::new("http.route", route.clone()));
        }
        let mut attributes = vec![
            KeyValue::new("url.path", path.to_owned()),
            KeyValue::new("http.response.status_code", i64::from(status)),
            KeyValue::new("gateway.decision", record.decision),
            KeyValue::new("gateway.reason", record.reason),
            KeyValue::new("gateway.request_id", request_id.to_owned()),
        ];
        if let Some(client_id) = &record.client_id {
            attributes.push(KeyValue::new("gateway.client_id", client_id.clone()));
        }
        if let Some(subject) = &record.subject {
            attributes.push(KeyValue::new("enduser.id", subject.clone()));
        }
        self.span.set_attributes(attributes);
        // Server spans are errors for 5xx only (semantic conventions, "Status").
        if status >= 500 {
            self.span.set_status(Status::error(
                record
                    .detail
                    .clone()
                    .unwrap_or_else(|| record.reason.to_owned()),
            ));
        }
        self.span.end();
    }
}

/// W3C Trace Context §3.2.2: one `traceparent` of `version-traceid-parentid-flags`, lowercase
/// hex of 2, 32, 16 and 2 digits, ids not all zero, version not `ff`; a later version may add
/// fields after the flags (§4.3), version `00` may not.
fn well_formed_traceparent(headers: &http::HeaderMap) -> bool {
    let mut values = headers.get_all(TRACEPARENT).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    let value = value.as_bytes();
    let hex = |part: &[u8]| part.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let nonzero = |part: &[u8]| part.iter().any(|&b| b != b'0');
    if value.len() < 55 || (value.len() > 55 && value[55] != b'-') {
        return false;
    }
    let (version, trace_id, span_id, flags) =
        (&value[0..2], &value[3..35], &value[36..52], &value[53..55]);
    [value[2], value[35], value[52]] == [b'-'; 3]
        && hex(version)
        && version != b"ff"
        && (value.len() == 55 || version != b"00")
        && hex(trace_id)
        && nonzero(trace_id)
        && hex(span_id)
        && nonzero(span_id)
        && hex(flags)
}

const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");
const TRACESTATE: http::HeaderName = http::HeaderName::from_static("tracestate");

/// A bare origin gets OTLP's traces path (`/v1/traces`, as `OTEL_EXPORTER_OTLP_ENDPOINT`
/// does); a URL with a path is used as written.
pub fn traces_url(endpoint: &str) -> String {
    match endpoint.parse::<http::Uri>() {
        Ok(uri) if matches!(uri.path(), "" | "/") => {
            format!("{}/v1/traces", endpoint.trim_end_matches('/'))
        }
        _ => endpoint.to_owned(),
    }
}

fn hex(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
    }
}

/// The exporter's HTTP client: reqwest on the Tokio runtime that started tracing. The SDK's
/// batch thread awaits the task's handle, so the export runs where reqwest's sockets live.
#[derive(Debug)]
struct Client {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl Client {
    fn new() -> Result<Client, Box<dyn std::error::Error>> {
        let runtime = tokio::runtime::Handle::try_current()?;
        let http = reqwest::Client::builder()
            .connect_timeout(C::TRACE_EXPORT_TIMEOUT)
            .timeout(C::TRACE_EXPORT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Client { http, runtime })
    }
}

impl HttpClient for Client {
    fn send_bytes<'a, 'f>(
        &'a self,
        request: Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + 'f>>
    where
        'a: 'f,
        Self: 'f,
    {
        let http = self.http.clone();
        let task = self.runtime.spawn(async move {
            let request = reqwest::Request::try_from(request)?;
            let response = http.execute(request).await?;
            let status = response.status();
            // OTLP answers are small (an ExportTraceServiceResponse); cap what is read.
            let body = read_capped(response, C::TRACE_RESPONSE_MAX_BYTES).await?;
            let mut answer = Response::new(body);
            *answer.status_mut() = status;
            Ok::<_, HttpError>(answer)
        });
        Box::pin(async move {
            match task.await {
                Ok(result) => result,
                Err(join) => Err(Box::new(join) as HttpError),
            }
        })
    }
}

async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Bytes, HttpError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > cap {
            return Err(format!("the OTLP receiver answered more than {cap} bytes").into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

#[cfg(test)]
mod tests;
