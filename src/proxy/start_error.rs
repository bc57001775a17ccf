//! What stops a gateway from starting, one variant per part that can fail, each worded with the
//! file or address at fault. `lib.rs` re-exports it as `gateway::StartError`.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::config::Diagnostics;

/// Why the gateway could not start: building the shared state (`Gateway::new`) or, in
/// `crate::start`, binding the listeners.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] Diagnostics),
    #[error("{0}")]
    Listen(#[from] super::server::ListenError),
    #[error("cannot listen on {addr} (admin): {source}")]
    AdminBind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Upstream(#[from] super::upstream::UpstreamUrlError),
    #[error("cannot open the access log{}: {source}", file.as_ref().map(|f| format!(" {}", f.display())).unwrap_or_default())]
    AccessLog {
        file: Option<PathBuf>,
        source: std::io::Error,
    },
    #[error("{0}")]
    Telemetry(#[from] crate::telemetry::trace::TraceError),
    /// `[state]` could not be set up (the Redis client refused its URL).
    #[error("{0}")]
    State(String),
}
