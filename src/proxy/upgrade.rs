//! Which protocol a request asks to upgrade to (RFC 9110 §7.8), as a pure function the pipeline,
//! the unit tests and the fuzz target (`upgrade_headers`) share.
//!
//! The gateway tunnels only WebSocket (RFC 6455), and only on routes with `websocket: true`;
//! the pipeline's `upstream_request_filter` makes that decision and `forward` checks the
//! upstream's `101` with the same parser. Everything else an `Upgrade` names (`h2c`, `TLS/1.0`,
//! any protocol the gateway does not know) is `Other`, and travels as a plain request.

use http::HeaderMap;
use http::header::{self, HeaderName};

/// What a request asks to upgrade to (RFC 9110 §7.8): nothing unless `Connection` lists
/// `upgrade`; WebSocket when `Upgrade` lists the `websocket` protocol (RFC 6455 §4.1, any case);
/// anything else (`h2c`, `TLS/1.0`, a protocol the gateway does not know) is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeRequest {
    None,
    WebSocket,
    Other,
}

/// The upgrade a request asks for, from its `Connection` and `Upgrade` fields (every line of
/// each, comma-separated lists, optional whitespace around elements).
pub fn requested_upgrade(headers: &HeaderMap) -> UpgradeRequest {
    let asks =
        list_elements(headers, &header::CONNECTION).any(|t| t.eq_ignore_ascii_case("upgrade"));
    if !asks || !headers.contains_key(header::UPGRADE) {
        return UpgradeRequest::None;
    }
    if list_elements(headers, &header::UPGRADE).any(|p| p.eq_ignore_ascii_case("websocket")) {
        UpgradeRequest::WebSocket
    } else {
        UpgradeRequest::Other
    }
}

/// The non-empty elements of a comma-separated list field, over all its lines (RFC 9110 §5.6.1).
/// A line that is not visible ASCII contributes nothing.
fn list_elements<'h>(headers: &'h HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'h str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|element| element.trim_matches([' ', '\t']))
        .filter(|element| !element.is_empty())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    #[test]
    fn only_connection_upgrade_with_websocket_listed_is_a_websocket_upgrade() {
        let ask = |pairs: &[(&str, &str)]| requested_upgrade(&map(pairs));
        use UpgradeRequest::{None as No, Other, WebSocket};
        assert_eq!(
            ask(&[("connection", "Upgrade"), ("upgrade", "websocket")]),
            WebSocket
        );
        assert_eq!(
            ask(&[
                ("connection", "keep-alive, UPGRADE"),
                ("upgrade", "WebSocket")
            ]),
            WebSocket
        );
        assert_eq!(
            ask(&[("connection", "upgrade"), ("upgrade", "h2c, websocket")]),
            WebSocket
        );
        assert_eq!(
            ask(&[
                ("connection", "x"),
                ("connection", "upgrade"),
                ("upgrade", "websocket")
            ]),
            WebSocket
        );
        assert_eq!(
            ask(&[
                ("connection", "Upgrade, HTTP2-Settings"),
                ("upgrade", "h2c")
            ]),
            Other
        );
        assert_eq!(
            ask(&[
                ("connection", "upgrade"),
                ("upgrade", "websocket/13x, TLS/1.0")
            ]),
            Other
        );
        assert_eq!(ask(&[("upgrade", "websocket")]), No);
        assert_eq!(ask(&[("connection", "upgrade")]), No);
        assert_eq!(
            ask(&[("connection", "upgraded"), ("upgrade", "websocket")]),
            No
        );
        assert_eq!(ask(&[]), No);
    }
}
