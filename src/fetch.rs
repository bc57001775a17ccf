//! Fetching small documents the gateway depends on (the JWKS, and what operators point the
//! tools at): why a fetch failed, in the words an operator acts on at 2 a.m.
//!
//! reqwest's own message is "error sending request for url (...)"; the cause that matters (the
//! name does not resolve, nothing listens, the certificate is not trusted, it timed out) sits
//! at the bottom of its source chain. `describe` names the URL, the kind of failure and that
//! innermost cause.

use std::error::Error as _;

/// `GET <url>: <kind>: <innermost cause>`, e.g.
/// `GET https://tenant.auth0.com/.well-known/jwks.json: DNS name not found: failed to lookup address information: Name or service not known`.
pub fn describe(url: &str, error: &reqwest::Error) -> String {
    let mut innermost = error.to_string();
    let mut refused = false;
    let mut chain = String::new();
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            refused = true;
        }
        innermost = cause.to_string();
        chain.push_str(&innermost.to_ascii_lowercase());
        chain.push('\n');
        source = cause.source();
    }
    let kind = if error.is_timeout() {
        "timed out"
    } else if refused {
        "connection refused (nothing listens at that address and port)"
    } else if chain.contains("dns error") || chain.contains("failed to lookup address") {
        "DNS name not found"
    } else if chain.contains("certificate") || chain.contains("tls") || chain.contains("handshake")
    {
        "TLS failed"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_redirect() {
        "redirect refused"
    } else if error.is_body() || error.is_decode() {
        "the response body could not be read"
    } else {
        "request failed"
    };
    format!("GET {url}: {kind}: {innermost}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_says_so_and_names_the_url() {
        // A bound socket that does not listen refuses every connection at once.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let url = format!("http://{}/jwks.json", socket.local_addr().unwrap());
        let error = reqwest::get(&url).await.unwrap_err();
        let text = describe(&url, &error);
        assert!(
            text.starts_with(&format!("GET {url}: connection refused")),
            "{text}"
        );
    }

    #[tokio::test]
    async fn an_unknown_host_is_a_dns_failure() {
        let url = "http://gateway-test.invalid/jwks.json";
        let error = reqwest::get(url).await.unwrap_err();
        let text = describe(url, &error);
        assert!(
            text.starts_with(&format!("GET {url}: DNS name not found")),
            "{text}"
        );
    }
}
