//! An issuer, a recording backend and a gateway in front of it, in one line: `World::start()`,
//! and the one way tests talk to it: `world.request(method, path)` (or `as_scope`, `with_token`,
//! `get_with`) builds the request as a client would, `.sent()` sends it, and `header`,
//! `description`, `status_of` read the answer.

use super::backend::Backend;
use super::gateway::{Options, TestGateway, claims};
use gateway::dev::issuer::DevIssuer;

pub struct World {
    pub issuer: DevIssuer,
    pub backend: Backend,
    pub gateway: TestGateway,
    pub client: reqwest::Client,
}

impl World {
    pub async fn start() -> World {
        Self::start_with(|_| {}).await
    }

    /// Starts with the default options changed by `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut Options)) -> World {
        let issuer = super::issuer::spawn_issuer().await;
        let backend = Backend::start().await;
        let mut options = Options::new(&issuer.issuer_url(), &issuer.jwks_url(), &backend.url());
        tweak(&mut options);
        let gateway = TestGateway::start(options).await;
        let client = client();
        World {
            issuer,
            backend,
            gateway,
            client,
        }
    }

    /// A valid ClientCo token with these space-separated scopes.
    pub fn token(&self, scope: &str) -> String {
        self.issuer.mint(&claims(&self.issuer.issuer_url(), scope))
    }

    pub fn url(&self, path: &str) -> String {
        self.gateway.url(path)
    }

    /// A valid ClientCo token with `scope` and the claims of `extra` (a JSON object) added or
    /// replaced.
    pub fn token_with(&self, scope: &str, extra: serde_json::Value) -> String {
        let mut minted = claims(&self.issuer.issuer_url(), scope);
        if let Some(extra) = extra.as_object() {
            for (name, value) in extra {
                minted[name] = value.clone();
            }
        }
        self.issuer.mint(&minted)
    }

    /// A ClientCo token with `scope` bound by `cnf` (`{"jkt": ...}`, `{"x5t#S256": ...}`).
    pub fn bound_token(&self, scope: &str, cnf: serde_json::Value) -> String {
        self.token_with(scope, serde_json::json!({ "cnf": cnf }))
    }

    /// `method path` on this world's client, without credentials.
    pub fn request(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let method: reqwest::Method = method
            .parse()
            .unwrap_or_else(|_| panic!("{method:?} is not an HTTP method"));
        self.client.request(method, self.url(path))
    }

    /// `method path` with `token` as a Bearer credential.
    pub fn with_token(&self, method: &str, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.request(method, path).bearer_auth(token)
    }

    /// `method path` with a fresh token carrying `scope`.
    pub fn as_scope(&self, method: &str, path: &str, scope: &str) -> reqwest::RequestBuilder {
        self.with_token(method, path, &self.token(scope))
    }

    /// `method path` with `Authorization: DPoP token` and each of `proofs` as a `DPoP` header.
    pub fn dpop(
        &self,
        method: &str,
        path: &str,
        token: &str,
        proofs: &[&str],
    ) -> reqwest::RequestBuilder {
        proofs.iter().fold(
            self.request(method, path)
                .header("authorization", format!("DPoP {token}")),
            |request, proof| request.header("dpop", *proof),
        )
    }

    /// GET `path` with a token carrying `scope`.
    pub async fn get(&self, path: &str, scope: &str) -> reqwest::Response {
        self.as_scope("GET", path, scope).sent().await
    }

    /// GET `path` with `token` as a Bearer credential.
    pub async fn get_with(&self, path: &str, token: &str) -> reqwest::Response {
        self.with_token("GET", path, token).sent().await
    }

    /// `GET target` written byte for byte (HTTP clients normalise paths themselves) with a
    /// token carrying `scope` and the header lines `extra` (each ending `\r\n`), on a fresh
    /// connection that closes after; the whole answer.
    pub async fn raw_get(&self, target: &str, scope: &str, extra: &str) -> String {
        let token = self.token(scope);
        raw_get(self.gateway.addr, target, &token, extra).await
    }

    /// The gateway's admin /metrics, failing the test unless it contains `sample`.
    pub async fn expect_metric(&self, sample: &str) -> String {
        self.gateway.expect_metric(sample).await
    }
}

/// Sending a built request: a transport error fails the test, naming the request.
pub trait Sent {
    fn sent(self) -> impl std::future::Future<Output = reqwest::Response> + Send;
}

impl Sent for reqwest::RequestBuilder {
    async fn sent(self) -> reqwest::Response {
        let what = self
            .try_clone()
            .and_then(|b| b.build().ok())
            .map(|r| format!("{} {}", r.method(), r.url()))
            .unwrap_or_else(|| "a request".to_owned());
        self.send()
            .await
            .unwrap_or_else(|e| panic!("{what} was not answered: {e}"))
    }
}

/// The client tests send with: redirects are answers to look at, not to follow.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `GET target` with `Authorization: Bearer token` and `extra` header lines, written byte for
/// byte to `addr` on a fresh connection that closes after; the whole answer.
pub async fn raw_get(addr: std::net::SocketAddr, target: &str, token: &str, extra: &str) -> String {
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: gateway.test\r\nAuthorization: Bearer {token}\r\n{extra}Connection: close\r\n\r\n"
    );
    super::gateway::raw_http(addr, request.as_bytes()).await
}

/// The status code of a raw HTTP answer.
pub fn status_of(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

/// The header `name` of `response` as text, or "" when it is absent.
pub fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default()
}

/// The `error_description` of an error body (see `error_body`).
pub fn description(body: &serde_json::Value) -> &str {
    body["error_description"]
        .as_str()
        .unwrap_or_else(|| panic!("no error_description in {body}"))
}

/// The JSON error body of a response, checked for the spec's three fields.
pub async fn error_body(response: reqwest::Response) -> serde_json::Value {
    let request_id = response
        .headers()
        .get("x-request-id")
        .expect("every response carries X-Request-Id")
        .to_str()
        .unwrap()
        .to_owned();
    let body: serde_json::Value = response.json().await.expect("error bodies are JSON");
    assert!(body["error"].is_string(), "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    assert_eq!(body["request_id"], request_id.as_str(), "{body}");
    body
}
