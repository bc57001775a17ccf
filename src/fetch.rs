//! Fetching small documents the gateway depends on (the JWKS, and what operators point the
//! tools at, such as a backend's `/openapi.json`): one HTTP client configuration, one bounded
//! download, and why a fetch failed in the words an operator acts on at 2 a.m.
//!
//! `client` holds the settings every such fetch shares (connect and total timeouts, redirect
//! policy), so tightening them here tightens the JWKS fetch and the tools alike; `get_bounded`
//! refuses a body over its size cap while it streams, before it is all in memory.
//!
//! reqwest's own message is "error sending request for url (...)"; the cause that matters (the
//! name does not resolve, nothing listens, the certificate is not trusted, it timed out) sits
//! at the bottom of its source chain. `describe` names the URL, the kind of failure and that
//! innermost cause.

use std::error::Error as _;

use crate::constants::{FETCH_MAX_REDIRECTS, JWKS_CONNECT_TIMEOUT, JWKS_TOTAL_TIMEOUT};

/// Which redirects a fetch follows (at most `FETCH_MAX_REDIRECTS` either way).
#[derive(Debug, Clone, Copy)]
pub enum Redirects {
    /// Only to the origin first asked: the key set is only ever taken from `jwks_url`'s origin.
    SameOrigin,
    /// To anywhere (an operator's tool fetching a document it was pointed at).
    Any,
}

/// The HTTP client for document fetches; `purpose` ends the User-Agent (`gateway/0.1.0 jwks`),
/// so the issuer's or backend's logs say who asked. `Err` when the TLS backend cannot start.
pub fn client(purpose: &str, redirects: Redirects) -> Result<reqwest::Client, String> {
    let redirects = match redirects {
        Redirects::SameOrigin => same_origin_redirects(),
        Redirects::Any => reqwest::redirect::Policy::limited(FETCH_MAX_REDIRECTS),
    };
    reqwest::Client::builder()
        .connect_timeout(JWKS_CONNECT_TIMEOUT)
        .timeout(JWKS_TOTAL_TIMEOUT)
        .redirect(redirects)
        .user_agent(format!("gateway/{} {purpose}", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// Redirects for the key set: followed only to the same origin (scheme, host, port) as the URL
/// first asked, at most `FETCH_MAX_REDIRECTS` of them; one to another origin fails the fetch, naming it.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let origin = |url: &reqwest::Url| {
            (
                url.scheme().to_owned(),
                url.host_str().map(str::to_ascii_lowercase),
                url.port_or_known_default(),
            )
        };
        let first = attempt.previous().first().map(origin);
        if first.is_some_and(|first| first != origin(attempt.url())) {
            let error = format!(
                "refused a redirect to another origin ({}): the key set is only taken from jwks_url's origin",
                attempt.url().origin().ascii_serialization()
            );
            attempt.error(error)
        } else if attempt.previous().len() > FETCH_MAX_REDIRECTS {
            attempt.error("more than 3 redirects")
        } else {
            attempt.follow()
        }
    })
}

/// `GET url` with `Accept: accept`: the body of a 2xx answer, at most `max_bytes` of it.
/// `what` names the document in errors (`GET <url>: JWKS larger than 1048576 bytes`).
pub async fn get_bounded(
    client: &reqwest::Client,
    url: &str,
    accept: &str,
    max_bytes: usize,
    what: &str,
) -> Result<Vec<u8>, String> {
    let too_large = || format!("GET {url}: {what} larger than {max_bytes} bytes");
    let mut response = client
        .get(url)
        .header("accept", accept)
        .send()
        .await
        .map_err(|e| describe(url, &e))?;
    if !response.status().is_success() {
        return Err(format!("GET {url}: HTTP {}", response.status()));
    }
    if response
        .content_length()
        .is_some_and(|len| len > max_bytes as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(url, &e))? {
        if body.len() + chunk.len() > max_bytes {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

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
