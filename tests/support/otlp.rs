//! A small OTLP/HTTP receiver on 127.0.0.1:0: it decodes every `POST /v1/traces`
//! (`ExportTraceServiceRequest`, protobuf) with the OpenTelemetry proto types and keeps the spans,
//! so a test can assert what a real collector would have received.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use super::server::Server;

pub struct Receiver {
    pub addr: SocketAddr,
    spans: Arc<Mutex<Vec<Span>>>,
    /// `service.name` of the resources seen.
    services: Arc<Mutex<Vec<String>>>,
    _server: Server,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let services = Arc::new(Mutex::new(Vec::new()));
        let (keep, names) = (spans.clone(), services.clone());
        let server =
            Server::start(move |request| receive(request, keep.clone(), names.clone())).await;
        Receiver {
            addr: server.addr,
            spans,
            services,
            _server: server,
        }
    }

    /// The base URL, as an operator would write `otlp_endpoint`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }

    pub fn services(&self) -> Vec<String> {
        self.services.lock().unwrap().clone()
    }
}

async fn receive(
    request: Request<Incoming>,
    keep: Arc<Mutex<Vec<Span>>>,
    names: Arc<Mutex<Vec<String>>>,
) -> Response<Full<Bytes>> {
    let right_place = request.method() == http::Method::POST
        && request.uri().path() == "/v1/traces"
        && request
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            == Some("application/x-protobuf");
    let body = request.into_body().collect().await.map(|b| b.to_bytes());
    let decoded = body
        .ok()
        .and_then(|b| ExportTraceServiceRequest::decode(b).ok());
    let (true, Some(export)) = (right_place, decoded) else {
        let mut answer = Response::new(Full::new(Bytes::from_static(b"not an OTLP trace export")));
        *answer.status_mut() = StatusCode::BAD_REQUEST;
        return answer;
    };
    for resource in export.resource_spans {
        if let Some(resource_attrs) = &resource.resource {
            for kv in &resource_attrs.attributes {
                if kv.key == "service.name"
                    && let Some(Value::StringValue(name)) =
                        kv.value.as_ref().and_then(|v| v.value.clone())
                {
                    names.lock().unwrap().push(name);
                }
            }
        }
        for scope in resource.scope_spans {
            keep.lock().unwrap().extend(scope.spans);
        }
    }
    let mut answer = Response::new(Full::new(Bytes::from(
        ExportTraceServiceResponse::default().encode_to_vec(),
    )));
    answer
        .headers_mut()
        .insert("content-type", "application/x-protobuf".parse().unwrap());
    answer
}

/// A span attribute as text (strings as they are, integers in decimal).
pub fn attribute(span: &Span, key: &str) -> Option<String> {
    let value = span
        .attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?;
    match value.value.as_ref()? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(n) => Some(n.to_string()),
        Value::BoolValue(b) => Some(b.to_string()),
        other => Some(format!("{other:?}")),
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
