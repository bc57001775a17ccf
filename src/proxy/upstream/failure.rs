//! What a failed attempt means for the client: the client's own body failing is 400/413 (never
//! the endpoint's fault), any timeout 504, anything else 502 with a one-line cause.

use std::error::Error as _;
use std::time::Duration;

use super::pool::SendError;
use crate::proxy::body::ClientBodyError;
use crate::proxy::error::GatewayError;

/// Whether the client's own body failed the attempt (400/413, never the endpoint's fault).
pub fn client_body_failed(error: &SendError) -> bool {
    let mut source = error.source();
    while let Some(cause) = source {
        if cause.downcast_ref::<ClientBodyError>().is_some() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// The client's own body failing is 400/413, a timeout 504, anything else 502.
pub fn classify(
    error: &SendError,
    body_limit: Option<u64>,
    connect_timeout: Duration,
) -> GatewayError {
    if let SendError::ConnectTimeout(limit) = error {
        return GatewayError::UpstreamTimeout(*limit);
    }
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(client) = cause.downcast_ref::<ClientBodyError>() {
            return GatewayError::from_client_body(client, body_limit);
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return GatewayError::UpstreamTimeout(connect_timeout);
        }
        source = cause.source();
    }
    GatewayError::UpstreamUnavailable(describe(error))
}

/// A one-line cause for the 502 body and the log: the innermost error says what happened
/// ("Connection refused", "connection reset"), the outer ones only that the request failed.
fn describe(error: &SendError) -> String {
    let mut text = match error {
        SendError::Connect(_) | SendError::ConnectTimeout(_) => "cannot connect".to_owned(),
        SendError::Send(_) => "request failed".to_owned(),
    };
    let mut innermost = None;
    let mut source = error.source();
    while let Some(cause) = source {
        innermost = Some(cause.to_string());
        source = cause.source();
    }
    if let Some(cause) = innermost {
        text.push_str(": ");
        text.push_str(&cause);
    }
    text
}
