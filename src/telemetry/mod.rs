//! Telemetry: what the gateway tells operators about the requests it handled.
//!
//! `metrics` holds every Prometheus counter and histogram `/metrics` shows; `access_log` the
//! per-request audit record and how its line is formatted (JSON or text); `log_writer` the
//! bounded buffer and the writer thread that take the line off the request path; `trace` the
//! OpenTelemetry span per request, W3C Trace Context propagation and OTLP export; `decisions` the
//! recent refusals and per-minute outcome counts the console shows. Diagnostics
//! (warnings, errors, start-up and reload messages) are not here: they go through `tracing` to
//! stderr, set up by the binary.

pub mod access_log;
pub mod decisions;
pub mod log_writer;
pub mod metrics;
pub mod trace;

pub use crate::config::{LogFormat, OnFull};
pub use access_log::{AccessRecord, Refusal};
pub use log_writer::{AccessLog, Destination};
pub use metrics::{Metrics, RequestLabels, RequestMetrics, UpstreamErrorLabels, method_label};
pub use trace::{RequestSpan, Tracing};

use crate::config::LogConfig;

/// Starts the access log `config` asks for, counting losses in `dropped`. `None` when there is
/// nothing to write: with no `[log] file`, lines go to stderr only while the `tracing` filter
/// (`GATEWAY_LOG`) lets `gateway::access` at `info` through, as before the log had a writer of
/// its own (`GATEWAY_LOG=warn` turns it off; `gateway demo` keeps it quiet that way).
pub fn start_access_log(
    config: &LogConfig,
    dropped: prometheus_client::metrics::counter::Counter,
) -> std::io::Result<Option<AccessLog>> {
    let destination = match &config.file {
        Some(path) => Destination::File(path.clone()),
        None if tracing::enabled!(target: "gateway::access", tracing::Level::INFO) => {
            Destination::Stderr
        }
        None => return Ok(None),
    };
    AccessLog::start(
        destination,
        config.format,
        config.on_full,
        config.buffer,
        dropped,
    )
    .map(Some)
}
