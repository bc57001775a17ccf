//! An issuer, a recording backend and a gateway in front of it, in one line: `World::start()`.

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
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
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

    /// GET `path` with a token carrying `scope`.
    pub async fn get(&self, path: &str, scope: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(self.token(scope))
            .send()
            .await
            .unwrap()
    }
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
