//! An embedded development issuer: fresh keys in memory, `/.well-known/jwks.json`,
//! `/.well-known/openid-configuration`, and `POST /oauth/token` (client-credentials grant,
//! Auth0-shaped requests, responses and errors; with a `DPoP` proof header the token is bound
//! to the proof's key, `cnf.jkt`, and its `token_type` is `DPoP`, as Auth0 does).
//!
//! For `gateway demo` and for tests only: it signs whatever its client list allows, so it refuses
//! to bind anything but loopback unless `allow_non_loopback` is set.
//!
//! The API, used by `gateway demo` and by every test of the project:
//! - [`DevIssuer::start`] with a [`DevIssuerConfig`] (default: `127.0.0.1:0`, audience
//!   `https://clientco/api`, one RSA-2048 key, no clients); [`DevIssuer::issuer_url`] (with the
//!   trailing slash Auth0 writes), [`DevIssuer::jwks_url`], [`DevIssuer::token_url`].
//!   `client_claims` adds claims to one client's tokens, as an Auth0 credentials-exchange
//!   Action does (e.g. a custom tenant claim `https://saasco/tenant`).
//! - Auth0 Organizations: `organizations` lists each [`DevOrganization`] and the clients with
//!   machine-to-machine access to it; a token request naming one of them in `organization` (by
//!   id or by name) gets `org_id` and `org_name`, and any other value is refused with an OAuth
//!   error (RFC 6749 §5.2), never answered with a token lacking `org_id`. With
//!   `organization_names` off (Auth0's "Allow Organization Names in Authentication API" unset)
//!   only ids are taken and tokens carry no `org_name`.
//! - Minting for tests: [`DevIssuer::standard_claims`] / [`DevIssuer::client_claims`] give a
//!   valid claim set, [`DevIssuer::mint`] signs any JSON with the current key,
//!   [`DevIssuer::mint_with`] also overrides header fields (`null` removes one; a `kid` naming
//!   another key of the ring signs with that key). Bound tokens: add `cnf` to the claims
//!   (`dev::dpop::bind`), `{"jkt": key.jkt()}` or `{"x5t#S256": thumbprint}`.
//! - Faults: [`JwksMode`] makes the JWKS endpoint answer 503, garbage, an oversized body, or
//!   hang until the mode changes ([`DevIssuer::set_jwks_mode`]).
//! - Key life cycle: [`DevIssuer::add_key`], [`DevIssuer::rotate`] (add and make current),
//!   [`DevIssuer::remove_key`] (unpublish; the private key stays so tests can mint with it).
//! - [`DevIssuer::jwks_requests`] counts JWKS requests received (to assert "one fetch").
//! - Shutdown: [`DevIssuer::shutdown`], or drop the value.
//!
//! Layout: this file holds the API and the shared state, `keys` the key ring and signing,
//! `server` the HTTP endpoints.

mod keys;
mod server;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use keys::{KeyRing, RingKey, Signer};

/// A machine-to-machine client allowed to use the client-credentials grant.
#[derive(Debug, Clone)]
pub struct DevClient {
    pub client_id: String,
    pub client_secret: String,
    /// Granted in the token's `scope` claim.
    pub scopes: Vec<String>,
}

/// An Auth0 Organization: the B2B tenant boundary a client-credentials token can name.
#[derive(Debug, Clone)]
pub struct DevOrganization {
    /// The id Auth0 generates (`org_` and 16 characters), the token's `org_id`.
    pub id: String,
    /// The unique lower-case name, the token's `org_name`; a token request may give either.
    pub name: String,
    /// The client ids granted machine-to-machine access to it (the organization's
    /// "Machine-to-Machine Access" tab in Auth0).
    pub clients: Vec<String>,
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
    /// Extra claims per client id, added to every token issued to that client (what an Auth0
    /// credentials-exchange Action sets with `api.accessToken.setCustomClaim`).
    pub client_claims: HashMap<String, Map<String, Value>>,
    /// The tenant's Organizations, each with the clients that may name it in a token request.
    pub organizations: Vec<DevOrganization>,
    /// Auth0's "Allow Organization Names in Authentication API": a request may name an
    /// organization by its name, and tokens carry `org_name`. Default on; off, only ids work.
    pub organization_names: bool,
    pub token_lifetime: Duration,
    /// The first key's kind.
    pub key: KeyKind,
    /// The first key's `kid`; `None` for a fresh `dev-1-<random>`. Two issuers given the same
    /// one stand for two tenants whose keys collide by id (the classic multi-issuer bug).
    pub first_kid: Option<String>,
    /// Binding a non-loopback address exposes a token mint to the network: opt in explicitly.
    pub allow_non_loopback: bool,
}

impl Default for DevIssuerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            audience: "https://clientco/api".to_owned(),
            clients: Vec::new(),
            client_claims: HashMap::new(),
            organizations: Vec::new(),
            organization_names: true,
            token_lifetime: Duration::from_secs(3600),
            key: KeyKind::Rsa2048,
            first_kid: None,
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

struct Shared {
    issuer_url: String,
    audience: String,
    clients: HashMap<String, DevClient>,
    client_claims: HashMap<String, Map<String, Value>>,
    organizations: Vec<DevOrganization>,
    organization_names: bool,
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

    fn client_claims(&self, client_id: &str, scope: &str) -> Value {
        let now = unix_now();
        let mut claims = json!({
            "iss": self.issuer_url,
            "sub": format!("{client_id}@clients"),
            "aud": self.audience,
            "azp": client_id,
            "iat": now,
            "exp": now + self.token_lifetime.as_secs(),
            "scope": scope,
            "gty": "client-credentials",
        });
        if let (Some(extra), Value::Object(claims)) =
            (self.client_claims.get(client_id), &mut claims)
        {
            claims.extend(extra.clone());
        }
        claims
    }

    /// The organization a token request's `organization` names (its id or, when names are
    /// allowed, its name, exactly), if `client_id` may use it.
    fn organization_for(&self, client_id: &str, named: &str) -> Option<&DevOrganization> {
        self.organizations
            .iter()
            .find(|org| org.id == named || (self.organization_names && org.name == named))
            .filter(|org| org.clients.iter().any(|c| c == client_id))
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
        let kid = match config.first_kid {
            Some(kid) => kid,
            None => ring.new_kid(),
        };
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
            client_claims: config.client_claims,
            organizations: config.organizations,
            organization_names: config.organization_names,
            token_lifetime: config.token_lifetime,
            ring: Mutex::new(ring),
            jwks_mode: watch::channel(JwksMode::Serve).0,
            jwks_requests: AtomicU64::new(0),
        });
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(server::serve(listener, Arc::clone(&shared), stopped));
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
        self.client_claims("dev-client", scopes)
    }

    /// The claims `/oauth/token` would issue to `client_id` with `scopes` (Auth0 M2M shape:
    /// `sub` = `<client_id>@clients`, `azp`, `scope`, `gty`).
    pub fn client_claims(&self, client_id: &str, scopes: &[&str]) -> Value {
        self.shared.client_claims(client_id, &scopes.join(" "))
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

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

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
