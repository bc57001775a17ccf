//! An embedded development issuer: fresh keys in memory, `/.well-known/jwks.json`,
//! `/.well-known/openid-configuration`, and `POST /oauth/token` (client-credentials grant,
//! Auth0-shaped requests, responses and errors).
//!
//! For `gateway demo` and for tests only: it signs whatever its client list allows, so it refuses
//! to bind anything but loopback unless `allow_non_loopback` is set.
//!
//! The API, used by `gateway demo` and by every test of the project:
//! - [`DevIssuer::start`] with a [`DevIssuerConfig`] (default: `127.0.0.1:0`, audience
//!   `https://clientco/api`, one RSA-2048 key, no clients); [`DevIssuer::issuer_url`] (with the
//!   trailing slash Auth0 writes), [`DevIssuer::jwks_url`], [`DevIssuer::token_url`].
//! - Minting for tests: [`DevIssuer::standard_claims`] gives a valid claim set, [`DevIssuer::mint`]
//!   signs any JSON with the current key, [`DevIssuer::mint_with`] also overrides header fields
//!   (`null` removes one; a `kid` naming another key of the ring signs with that key).
//! - Key life cycle: [`DevIssuer::add_key`], [`DevIssuer::rotate`] (add and make current),
//!   [`DevIssuer::remove_key`] (unpublish; the private key stays so tests can mint with it).
//! - Faults: [`DevIssuer::set_jwks_mode`] makes the JWKS endpoint answer 503, garbage, or hang
//!   until the mode changes; [`DevIssuer::jwks_requests`] counts JWKS requests served.
//! - Shutdown: [`DevIssuer::shutdown`], or drop the value.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

/// A machine-to-machine client allowed to use the client-credentials grant.
#[derive(Debug, Clone)]
pub struct DevClient {
    pub client_id: String,
    pub client_secret: String,
    /// Granted in the token's `scope` claim.
    pub scopes: Vec<String>,
}

/// The kind of signing key to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA-2048, signs RS256 (and RS384/RS512/PS256/PS384/PS512 when a header asks for it).
    Rsa2048,
    /// EC P-256, signs ES256.
    EcP256,
}

/// How the JWKS endpoint behaves, for outage tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwksMode {
    /// Serve the published keys.
    Serve,
    /// Answer 503.
    Unavailable,
    /// Answer 200 with a body that is not a JWKS.
    Garbage,
    /// Accept the request and never answer until the mode changes.
    Hang,
    /// Answer 200 with a valid JWKS padded beyond 1 MiB (size-cap tests).
    Oversized,
}

#[derive(Debug, Clone)]
pub struct DevIssuerConfig {
    pub listen: SocketAddr,
    /// The only `audience` `/oauth/token` accepts (Auth0 answers "Service not found" otherwise).
    pub audience: String,
    pub clients: Vec<DevClient>,
    pub token_lifetime: Duration,
    /// The first key's kind.
    pub key: KeyKind,
    /// Binding a non-loopback address exposes a token mint to the network: opt in explicitly.
    pub allow_non_loopback: bool,
}

impl Default for DevIssuerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            audience: "https://clientco/api".to_owned(),
            clients: Vec::new(),
            token_lifetime: Duration::from_secs(3600),
            key: KeyKind::Rsa2048,
            allow_non_loopback: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DevIssuerError {
    #[error(
        "refusing to bind the development issuer to {0}: it mints tokens for anyone who asks; \
         use a loopback address (127.0.0.1 or ::1) or set allow_non_loopback"
    )]
    NonLoopback(SocketAddr),
    #[error("cannot bind the development issuer to {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot generate a {0:?} signing key")]
    KeyGeneration(KeyKind),
}

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

struct RingKey {
    kid: String,
    signer: Signer,
    published: bool,
}

impl RingKey {
    fn generate(kind: KeyKind, kid: String) -> Result<Self, DevIssuerError> {
        let signer = match kind {
            KeyKind::Rsa2048 => Signer::Rsa(
                RsaKeyPair::generate(KeySize::Rsa2048)
                    .map_err(|_| DevIssuerError::KeyGeneration(kind))?,
            ),
            KeyKind::EcP256 => Signer::Ec(
                EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(|_| DevIssuerError::KeyGeneration(kind))?,
            ),
        };
        Ok(Self {
            kid,
            signer,
            published: true,
        })
    }

    fn default_alg(&self) -> &'static str {
        match self.signer {
            Signer::Rsa(_) => "RS256",
            Signer::Ec(_) => "ES256",
        }
    }

    fn jwk(&self) -> Value {
        match &self.signer {
            Signer::Rsa(pair) => {
                let public = pair.public_key();
                json!({
                    "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
                    "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
                    "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
                })
            }
            Signer::Ec(pair) => {
                // Uncompressed SEC1 point: 0x04 || x || y (32 bytes each for P-256).
                let point = pair.public_key().as_ref();
                let (x, y) = point
                    .get(1..)
                    .unwrap_or_default()
                    .split_at(32.min(point.len()));
                json!({
                    "kty": "EC", "use": "sig", "alg": "ES256", "crv": "P-256", "kid": self.kid,
                    "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
                })
            }
        }
    }

    /// Signs with `alg` when this key can, else with its default algorithm (so a header that
    /// lies about `alg` yields a token whose signature does not match its header).
    fn sign(&self, alg: &str, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Rsa(pair) => {
                let padding: &'static dyn signature::RsaEncoding = match alg {
                    "RS384" => &signature::RSA_PKCS1_SHA384,
                    "RS512" => &signature::RSA_PKCS1_SHA512,
                    "PS256" => &signature::RSA_PSS_SHA256,
                    "PS384" => &signature::RSA_PSS_SHA384,
                    "PS512" => &signature::RSA_PSS_SHA512,
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                let mut out = vec![0; pair.public_modulus_len()];
                match pair.sign(padding, &rng, message, &mut out) {
                    Ok(()) => out,
                    Err(_) => Vec::new(),
                }
            }
            Signer::Ec(pair) => pair
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .unwrap_or_default(),
        }
    }
}

struct KeyRing {
    keys: Vec<RingKey>,
    current: String,
    next_id: u32,
}

impl KeyRing {
    fn new_kid(&mut self) -> String {
        let mut salt = [0u8; 4];
        // A random suffix keeps kids distinct across issuers in one test process.
        let _ = aws_lc_rs::rand::fill(&mut salt);
        self.next_id += 1;
        format!(
            "dev-{}-{:02x}{:02x}{:02x}{:02x}",
            self.next_id, salt[0], salt[1], salt[2], salt[3]
        )
    }

    fn find(&self, kid: &str) -> Option<&RingKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

struct Shared {
    issuer_url: String,
    audience: String,
    clients: HashMap<String, DevClient>,
    token_lifetime: Duration,
    ring: Mutex<KeyRing>,
    jwks_mode: watch::Sender<JwksMode>,
    jwks_requests: AtomicU64,
}

impl Shared {
    fn ring(&self) -> std::sync::MutexGuard<'_, KeyRing> {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn jwks(&self) -> Value {
        let ring = self.ring();
        let keys: Vec<Value> = ring
            .keys
            .iter()
            .filter(|k| k.published)
            .map(RingKey::jwk)
            .collect();
        json!({ "keys": keys })
    }

    fn mint_with(&self, header_overrides: &Value, claims: &Value) -> String {
        let ring = self.ring();
        let requested_kid = header_overrides.get("kid").and_then(Value::as_str);
        let key = requested_kid
            .and_then(|kid| ring.find(kid))
            .or_else(|| ring.find(&ring.current));
        let mut header = Map::new();
        if let Some(key) = key {
            header.insert("alg".into(), key.default_alg().into());
            header.insert("typ".into(), "JWT".into());
            header.insert("kid".into(), key.kid.clone().into());
        }
        if let Value::Object(overrides) = header_overrides {
            for (name, value) in overrides {
                if value.is_null() {
                    header.remove(name);
                } else {
                    header.insert(name.clone(), value.clone());
                }
            }
        }
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(Value::Object(header).to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = key.map(|k| k.sign(&alg, message.as_bytes()));
        format!(
            "{message}.{}",
            URL_SAFE_NO_PAD.encode(signature.unwrap_or_default())
        )
    }
}

/// A running development issuer. Stops when dropped.
pub struct DevIssuer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl DevIssuer {
    /// Generates the first key, binds `config.listen` and serves until shut down.
    pub async fn start(config: DevIssuerConfig) -> Result<DevIssuer, DevIssuerError> {
        if !config.listen.ip().is_loopback() && !config.allow_non_loopback {
            return Err(DevIssuerError::NonLoopback(config.listen));
        }
        let mut ring = KeyRing {
            keys: Vec::new(),
            current: String::new(),
            next_id: 0,
        };
        let kid = ring.new_kid();
        ring.keys.push(RingKey::generate(config.key, kid.clone())?);
        ring.current = kid;

        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| DevIssuerError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let addr = listener
            .local_addr()
            .map_err(|source| DevIssuerError::Bind {
                addr: config.listen,
                source,
            })?;
        let shared = Arc::new(Shared {
            issuer_url: format!("http://{addr}/"),
            audience: config.audience,
            clients: config
                .clients
                .into_iter()
                .map(|c| (c.client_id.clone(), c))
                .collect(),
            token_lifetime: config.token_lifetime,
            ring: Mutex::new(ring),
            jwks_mode: watch::channel(JwksMode::Serve).0,
            jwks_requests: AtomicU64::new(0),
        });
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(serve(listener, Arc::clone(&shared), stopped));
        Ok(DevIssuer {
            shared,
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/`: the exact `iss` of the tokens, trailing slash included.
    pub fn issuer_url(&self) -> String {
        self.shared.issuer_url.clone()
    }

    pub fn jwks_url(&self) -> String {
        format!("{}.well-known/jwks.json", self.shared.issuer_url)
    }

    pub fn token_url(&self) -> String {
        format!("{}oauth/token", self.shared.issuer_url)
    }

    pub fn audience(&self) -> &str {
        &self.shared.audience
    }

    /// The `kid` new tokens are signed with.
    pub fn current_kid(&self) -> String {
        self.shared.ring().current.clone()
    }

    /// A valid Auth0-style M2M claim set for client `dev-client` with `scopes`, expiring after the
    /// configured token lifetime.
    pub fn standard_claims(&self, scopes: &[&str]) -> Value {
        let now = unix_now();
        json!({
            "iss": self.shared.issuer_url,
            "sub": "dev-client@clients",
            "aud": self.shared.audience,
            "azp": "dev-client",
            "iat": now,
            "exp": now + self.shared.token_lifetime.as_secs(),
            "scope": scopes.join(" "),
            "gty": "client-credentials",
        })
    }

    /// Signs `claims` (any JSON, objects or not) with the current key.
    pub fn mint(&self, claims: &Value) -> String {
        self.shared.mint_with(&Value::Null, claims)
    }

    /// Like `mint`, with header fields overridden: a `null` value removes the field, a `kid`
    /// naming a key of the ring signs with that key, an `alg` the key can do selects it.
    pub fn mint_with(&self, header_overrides: &Value, claims: &Value) -> String {
        self.shared.mint_with(header_overrides, claims)
    }

    /// Generates a key and publishes it, without making it current. Returns its `kid`.
    pub fn add_key(&self, kind: KeyKind) -> Result<String, DevIssuerError> {
        let mut ring = self.shared.ring();
        let kid = ring.new_kid();
        ring.keys.push(RingKey::generate(kind, kid.clone())?);
        Ok(kid)
    }

    /// Key rotation: a new published key that signs from now on. Returns its `kid`.
    pub fn rotate(&self, kind: KeyKind) -> Result<String, DevIssuerError> {
        let kid = self.add_key(kind)?;
        self.shared.ring().current = kid.clone();
        Ok(kid)
    }

    /// Makes an existing key current; false when there is no such key.
    pub fn set_current(&self, kid: &str) -> bool {
        let mut ring = self.shared.ring();
        if ring.find(kid).is_none() {
            return false;
        }
        ring.current = kid.to_owned();
        true
    }

    /// Stops publishing `kid` in the JWKS (the key can still sign, for tests). False when absent.
    pub fn remove_key(&self, kid: &str) -> bool {
        let mut ring = self.shared.ring();
        let mut found = false;
        for key in ring.keys.iter_mut().filter(|k| k.kid == kid) {
            key.published = false;
            found = true;
        }
        found
    }

    /// The JWKS document as currently served in `Serve` mode.
    pub fn jwks(&self) -> Value {
        self.shared.jwks()
    }

    /// The X.509 SubjectPublicKeyInfo DER of an RSA key (what an RS/HS confusion attacker uses
    /// as an HMAC secret).
    pub fn rsa_public_key_der(&self, kid: &str) -> Option<Vec<u8>> {
        let ring = self.shared.ring();
        match &ring.find(kid)?.signer {
            Signer::Rsa(pair) => {
                let der: PublicKeyX509Der<'static> = pair.public_key().as_der().ok()?;
                Some(der.as_ref().to_vec())
            }
            Signer::Ec(_) => None,
        }
    }

    pub fn set_jwks_mode(&self, mode: JwksMode) {
        self.shared.jwks_mode.send_replace(mode);
    }

    /// JWKS requests received so far, whatever the mode answered.
    pub fn jwks_requests(&self) -> u64 {
        self.shared.jwks_requests.load(Ordering::SeqCst)
    }

    /// Stops accepting, closes open connections and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for DevIssuer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stopped: oneshot::Receiver<()>) {
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
    let now = unix_now();
    let scope = client.scopes.join(" ");
    let claims = json!({
        "iss": shared.issuer_url,
        "sub": format!("{}@clients", client.client_id),
        "aud": shared.audience,
        "azp": client.client_id,
        "iat": now,
        "exp": now + shared.token_lifetime.as_secs(),
        "scope": scope,
        "gty": "client-credentials",
    });
    json_response(
        StatusCode::OK,
        &json!({
            "access_token": shared.mint_with(&Value::Null, &claims),
            "scope": scope,
            "expires_in": shared.token_lifetime.as_secs(),
            "token_type": "Bearer",
        }),
    )
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

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
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

    #[tokio::test]
    async fn refuses_non_loopback_without_opt_in() {
        let config = DevIssuerConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 0)),
            ..DevIssuerConfig::default()
        };
        let err = DevIssuer::start(config).await.err();
        assert!(matches!(err, Some(DevIssuerError::NonLoopback(_))));
    }
}
