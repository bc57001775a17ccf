//! The development issuer's HTTP endpoints: JWKS (with fault modes), discovery, and the
//! client-credentials grant with Auth0-shaped answers.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use super::{JwksMode, Shared};
use crate::auth::dpop;

pub(super) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: oneshot::Receiver<()>,
) {
    // Connections live in this set so that returning from here aborts them all.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = Arc::clone(&shared);
                connections.spawn(async move {
                    let service = service_fn(move |request| {
                        let shared = Arc::clone(&shared);
                        async move { Ok::<_, Infallible>(route(&shared, request).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn route(shared: &Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/.well-known/jwks.json") => jwks_endpoint(shared).await,
        (&Method::GET, "/.well-known/openid-configuration") => json_response(
            StatusCode::OK,
            &json!({
                "issuer": shared.issuer_url,
                "jwks_uri": format!("{}.well-known/jwks.json", shared.issuer_url),
                "token_endpoint": format!("{}oauth/token", shared.issuer_url),
                "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                "dpop_signing_alg_values_supported": ["ES256", "EdDSA", "PS256", "RS256"],
            }),
        ),
        (&Method::POST, "/oauth/token") => token_endpoint(shared, request).await,
        _ => json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": "not_found", "error_description": "Not Found"}),
        ),
    }
}

async fn jwks_endpoint(shared: &Shared) -> Response<Full<Bytes>> {
    shared.jwks_requests.fetch_add(1, Ordering::SeqCst);
    let mut mode = shared.jwks_mode.subscribe();
    let current = loop {
        let current = *mode.borrow_and_update();
        if current != JwksMode::Hang {
            break current;
        }
        if mode.changed().await.is_err() {
            break JwksMode::Unavailable;
        }
    };
    match current {
        JwksMode::Serve => json_response(StatusCode::OK, &shared.jwks()),
        JwksMode::Oversized => {
            let mut jwks = shared.jwks();
            jwks["padding"] = Value::String("x".repeat(2 * 1024 * 1024));
            json_response(StatusCode::OK, &jwks)
        }
        JwksMode::Garbage => Response::new(Full::new(Bytes::from_static(
            b"<html>upstream proxy error</html>",
        ))),
        JwksMode::Unavailable | JwksMode::Hang => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"error": "temporarily_unavailable"}),
        ),
    }
}

async fn token_endpoint(shared: &Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    // RFC 9449 §5: a DPoP proof asks for a token bound to its key (`cnf.jkt`).
    let jkt = match dpop_key(shared, request.headers()) {
        Ok(jkt) => jkt,
        Err(why) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_dpop_proof", &why),
    };
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
    let body = match Limited::new(request.into_body(), 64 * 1024).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "Bad body"),
    };
    let form: HashMap<String, String> = if is_json {
        match serde_json::from_slice::<Map<String, Value>>(&body) {
            // Other non-string fields are ignored, but an organization that cannot be matched
            // must not turn into a token without `org_id`.
            Ok(map) if map.get("organization").is_some_and(|v| !v.is_string()) => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "organization must be a string: an organization id (org_...) or name",
                );
            }
            Ok(map) => map
                .into_iter()
                .filter_map(|(k, v)| Some((k, v.as_str()?.to_owned())))
                .collect(),
            Err(_) => {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "Invalid JSON");
            }
        }
    } else {
        parse_form(&body)
    };
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if field("grant_type") != "client_credentials" {
        return oauth_error(
            StatusCode::FORBIDDEN,
            "unsupported_grant_type",
            &format!("Grant type '{}' not allowed.", field("grant_type")),
        );
    }
    let client = shared.clients.get(field("client_id")).filter(|c| {
        aws_lc_rs::constant_time::verify_slices_are_equal(
            c.client_secret.as_bytes(),
            field("client_secret").as_bytes(),
        )
        .is_ok()
    });
    let Some(client) = client else {
        return oauth_error(StatusCode::UNAUTHORIZED, "access_denied", "Unauthorized");
    };
    let audience = match field("audience") {
        "" => shared.audience.as_str(),
        other => other,
    };
    if audience != shared.audience {
        return oauth_error(
            StatusCode::FORBIDDEN,
            "access_denied",
            &format!("Service not found: {audience}"),
        );
    }
    let scope = client.scopes.join(" ");
    let mut claims = shared.client_claims(&client.client_id, &scope);
    // Auth0 Organizations: a named organization the client may use, or no token at all.
    if let Some(named) = form.get("organization") {
        let Some(org) = shared.organization_for(&client.client_id, named) else {
            return oauth_error(
                StatusCode::FORBIDDEN,
                "access_denied",
                &format!(
                    "Client \"{}\" is not allowed to access organization \"{}\" for this API.",
                    client.client_id, named
                ),
            );
        };
        claims["org_id"] = Value::String(org.id.clone());
        if shared.organization_names {
            claims["org_name"] = Value::String(org.name.clone());
        }
    }
    let token_type = match jkt {
        Some(jkt) => {
            claims["cnf"] = json!({ "jkt": jkt });
            "DPoP"
        }
        None => "Bearer",
    };
    json_response(
        StatusCode::OK,
        &json!({
            "access_token": shared.mint_with(&Value::Null, &claims),
            "scope": scope,
            "expires_in": shared.token_lifetime.as_secs(),
            "token_type": token_type,
        }),
    )
}

/// The thumbprint of the key a token request's `DPoP` proof is signed with (`None` without a
/// proof), after the checks RFC 9449 §4.3 asks of a token endpoint (no `ath`: no token yet).
fn dpop_key(shared: &Shared, headers: &http::HeaderMap) -> Result<Option<String>, String> {
    let mut proofs = headers.get_all("dpop").iter();
    let Some(proof) = proofs.next() else {
        return Ok(None);
    };
    if proofs.next().is_some() {
        return Err("send one DPoP proof".to_owned());
    }
    let proof = proof
        .to_str()
        .map_err(|_| "the DPoP proof is not ASCII".to_owned())?;
    let proof = dpop::parse(proof, crate::constants::DPOP_ALGORITHMS).map_err(|e| e.to_string())?;
    let token_url = format!("{}oauth/token", shared.issuer_url);
    let htu = dpop::normalise_htu(&token_url);
    dpop::check(
        &proof,
        &dpop::Expected {
            method: "POST",
            htu: htu.as_deref(),
            access_token: None,
            now: super::unix_now(),
            window_secs: crate::constants::DPOP_WINDOW.as_secs(),
            leeway_secs: crate::constants::LEEWAY.as_secs(),
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(Some(proof.jkt))
}

/// `application/x-www-form-urlencoded` (WHATWG URL §5.1): `+` is a space, `%XX` a byte.
fn parse_form(body: &[u8]) -> HashMap<String, String> {
    fn decode(part: &[u8]) -> String {
        let mut out = Vec::with_capacity(part.len());
        let mut i = 0;
        while i < part.len() {
            match part[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < part.len() => {
                    let hex = std::str::from_utf8(&part[i + 1..i + 3]).unwrap_or("zz");
                    match u8::from_str_radix(hex, 16) {
                        Ok(byte) => {
                            out.push(byte);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                byte => out.push(byte),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    body.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (decode(&pair[..eq]), decode(&pair[eq + 1..])),
            None => (decode(pair), String::new()),
        })
        .collect()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response<Full<Bytes>> {
    json_response(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding_handles_plus_percent_and_truncated_escapes() {
        let form = parse_form(b"a=b+c&client_id=x%40y&bad=%4&e=");
        assert_eq!(form["a"], "b c");
        assert_eq!(form["client_id"], "x@y");
        assert_eq!(form["bad"], "%4");
        assert_eq!(form["e"], "");
    }
}
