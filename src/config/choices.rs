//! The closed choices gateway.toml offers (`[log] format`, `[log] on_full`, `[state] on_error`):
//! declared here, below the modules that act on them (`telemetry` writes the access log in the
//! chosen layout and waits or drops as `on_full` says, `state` falls back as `on_error` says),
//! so reading the file needs none of those modules.

/// How access lines (and the diagnostics beside them) are written: `[log] format`, overridden by
/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `tracing-subscriber`'s default layout: timestamp, level, target, message, `key=value`.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// What a full buffer does to the request that has a line to add (`[log] on_full`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFull {
    /// Count the line in `gateway_access_log_dropped_total` and go on (the default).
    #[default]
    Drop,
    /// Wait until the writer has made room: every line is kept, requests slow down with the disk.
    Block,
}

/// `[state] on_error`: what a request that needs shared state gets while Redis is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Per-replica state for that request (logged and counted).
    Local,
    /// 503 `state_unavailable`.
    Deny,
}

impl OnError {
    pub const NAMES: &'static [&'static str] = &["local", "deny"];

    pub fn parse(name: &str) -> Option<OnError> {
        match name {
            "local" => Some(OnError::Local),
            "deny" => Some(OnError::Deny),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            OnError::Local => "local",
            OnError::Deny => "deny",
        }
    }
}
