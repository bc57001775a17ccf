//! Several issuers through the real gateway (SPEC "More than one issuer"): a production and a
//! staging tenant whose signing keys share a `kid` never verify each other's tokens, each
//! issuer's JWKS lifecycle is its own (an outage, a key removal or a slow first load at one
//! never touches the other's requests), an unknown `iss` costs no fetch, `issuers:` keeps
//! staging tokens off production routes, and metrics, log fields and headers name the issuer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gateway::dev::issuer::{DevClient, DevIssuer, DevIssuerConfig, JwksMode, KeyKind};
use serde_json::json;
use support::backend::Backend;
use support::gateway::{Options, TestGateway, claims, issuer_table, test_policy};
use support::wait::{DEADLINE, poll};
use support::world::{Sent, error_body, header};

/// The `kid` both tenants' first keys carry.
const SHARED_KID: &str = "tenant-key-1";

/// A route only production tokens may use.
const PROD_ONLY: &str = "  - path: /reports/{name}
    methods: [GET]
    scopes: [read:forecast]
    issuers: [prod]
";

struct Tenants {
    prod: DevIssuer,
    staging: DevIssuer,
    backend: Backend,
    gateway: TestGateway,
    client: reqwest::Client,
}

async fn tenant() -> DevIssuer {
    DevIssuer::start(DevIssuerConfig {
        audience: support::issuer::AUDIENCE.to_owned(),
        first_kid: Some(SHARED_KID.to_owned()),
        clients: vec![DevClient {
            client_id: "clientco".to_owned(),
            client_secret: "s3cret".to_owned(),
            scopes: vec!["read:forecast".to_owned()],
        }],
        ..DevIssuerConfig::default()
    })
    .await
    .unwrap()
}

impl Tenants {
    /// Both tenants, each issuer table with its own `extra` lines; `wait_ready` as in Options.
    async fn start(prod_extra: &str, staging_extra: &str, wait_ready: bool) -> Tenants {
        Tenants::launch(prod_extra, staging_extra, wait_ready, false).await
    }

    /// `start` with staging's JWKS unavailable from before the gateway starts.
    async fn start_staging_down(staging_extra: &str, wait_ready: bool) -> Tenants {
        Tenants::launch("", staging_extra, wait_ready, true).await
    }

    async fn launch(
        prod_extra: &str,
        staging_extra: &str,
        wait_ready: bool,
        staging_down: bool,
    ) -> Tenants {
        let prod = tenant().await;
        let staging = tenant().await;
        if staging_down {
            staging.set_jwks_mode(JwksMode::Unavailable);
        }
        let backend = Backend::start().await;
        let mut options = Options::new(&prod.issuer_url(), &prod.jwks_url(), &backend.url());
        options.policy = format!("{}{PROD_ONLY}", test_policy());
        options.auth = Some(format!(
            "{}{}",
            issuer_table("prod", &prod, prod_extra),
            issuer_table("staging", &staging, staging_extra)
        ));
        options.wait_ready = wait_ready;
        let gateway = TestGateway::start(options).await;
        Tenants {
            prod,
            staging,
            backend,
            gateway,
            client: reqwest::Client::new(),
        }
    }

    async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.gateway.url(path))
            .bearer_auth(token)
            .sent()
            .await
    }

    /// The status of `GET path` with a fresh token from `issuer` carrying `scope`.
    async fn status(&self, path: &str, issuer: &DevIssuer, scope: &str) -> u16 {
        let token = token_of(issuer, scope);
        self.get(path, &token).await.status().as_u16()
    }

    /// Polls /metrics until it has `line`.
    async fn metrics_show(&self, line: &str) {
        poll(&format!("/metrics to show {line}"), DEADLINE, || async {
            self.gateway.metrics().await.contains(line).then_some(())
        })
        .await
    }
}

fn token_of(issuer: &DevIssuer, scope: &str) -> String {
    issuer.mint(&claims(&issuer.issuer_url(), scope))
}

#[tokio::test]
async fn two_tenants_whose_keys_share_a_kid_never_verify_each_others_tokens() {
    let t = Tenants::start("", "", true).await;
    assert_eq!(t.prod.current_kid(), t.staging.current_kid());

    // Each tenant's own tokens work, and the backend learns which issuer vouched for them.
    for (issuer, name) in [(&t.prod, "prod"), (&t.staging, "staging")] {
        let response = t.get("/forecast", &token_of(issuer, "read:forecast")).await;
        assert_eq!(response.status(), 200, "{name}");
        let seen = t.backend.last();
        assert_eq!(seen.headers["x-auth-issuer"], issuer.issuer_url().as_str());
        assert_eq!(seen.headers["x-auth-issuer-name"], name);
    }
    let seen_before = t.backend.seen().len();

    // Signed by one tenant's key but claiming the other's `iss`: the `kid` names a key in the
    // claimed issuer's set, which is not the key that signed.
    let forged_as_prod = t
        .staging
        .mint(&claims(&t.prod.issuer_url(), "read:forecast"));
    let forged_as_staging = t
        .prod
        .mint(&claims(&t.staging.issuer_url(), "read:forecast"));
    for forged in [forged_as_prod, forged_as_staging] {
        let response = t.get("/forecast", &forged).await;
        assert_eq!(response.status(), 401);
        assert_eq!(
            error_body(response).await["error_description"],
            "signature does not verify"
        );
    }
    // Twice: a refusal is never cached into an acceptance.
    let forged = t
        .staging
        .mint(&claims(&t.prod.issuer_url(), "read:forecast"));
    assert_eq!(t.get("/forecast", &forged).await.status(), 401);
    assert_eq!(t.backend.seen().len(), seen_before);

    let metrics = t
        .gateway
        .expect_metric(r#"gateway_jwks_keys{issuer="prod"} 1"#)
        .await;
    assert!(
        metrics.contains(r#"gateway_jwks_keys{issuer="staging"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"gateway_requests_total{route="/forecast",method="GET",decision="allow",reason="allowed",status="200",issuer="staging"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"gateway_requests_total{route="/forecast",method="GET",decision="deny",reason="bad_signature",status="401",issuer="prod"} 2"#
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_unknown_iss_is_401_unknown_issuer_without_any_jwks_fetch() {
    let t = Tenants::start("", "", true).await;
    let fetches = (t.prod.jwks_requests(), t.staging.jwks_requests());
    // An unknown `kid` too: with a known issuer it would cost a refetch.
    let stranger = t.prod.mint_with(
        &json!({"kid": "nobody-knows"}),
        &claims("https://evil.example/", "read:forecast"),
    );
    for _ in 0..3 {
        let response = t.get("/forecast", &stranger).await;
        assert_eq!(response.status(), 401);
        let challenge = header(&response, "www-authenticate");
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
        assert_eq!(
            error_body(response).await["error_description"],
            "unknown issuer https://evil.example/"
        );
    }
    assert_eq!((t.prod.jwks_requests(), t.staging.jwks_requests()), fetches);
    assert!(t.backend.seen().is_empty());
    t.metrics_show(
        r#"gateway_requests_total{route="/forecast",method="GET",decision="deny",reason="unknown_issuer",status="401",issuer="unknown"} 3"#,
    )
    .await;
}

#[tokio::test]
async fn one_issuers_outage_does_not_touch_the_others_requests() {
    // Staging refreshes every 100 ms, so its outage shows at once.
    let t = Tenants::start("", "jwks_refresh = \"100ms\"", true).await;
    let prod_token = token_of(&t.prod, "read:forecast");
    assert_eq!(t.get("/forecast", &prod_token).await.status(), 200);

    t.staging.set_jwks_mode(JwksMode::Unavailable);
    t.metrics_show(r#"gateway_jwks_stale{issuer="staging"} 1"#)
        .await;
    t.gateway
        .expect_metric(r#"gateway_jwks_stale{issuer="prod"} 0"#)
        .await;
    // Stale-if-error: a fresh staging token (never cached) still verifies with the last set.
    assert_eq!(
        t.status("/forecast", &t.staging, "read:forecast").await,
        200
    );
    // An unknown staging kid refetches staging's JWKS (and fails); prod is never asked.
    let prod_fetches = t.prod.jwks_requests();
    let staging_fetches = t.staging.jwks_requests();
    let unknown_kid = t.staging.mint_with(
        &json!({"kid": "rotated-away"}),
        &claims(&t.staging.issuer_url(), "read:forecast"),
    );
    assert_eq!(t.get("/forecast", &unknown_kid).await.status(), 401);
    assert!(t.staging.jwks_requests() > staging_fetches);
    assert_eq!(t.prod.jwks_requests(), prod_fetches);
    // Production tokens, cached or fresh, never notice.
    assert_eq!(t.get("/forecast", &prod_token).await.status(), 200);
    let fresh = t.prod.mint(&claims(
        &t.prod.issuer_url(),
        "read:forecast read:inventory",
    ));
    assert_eq!(t.get("/inventory", &fresh).await.status(), 200);
    // The gateway stays ready: staging did load once.
    let ready = reqwest::get(format!("{}/readyz", t.gateway.admin))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn an_issuer_that_never_loaded_answers_503_for_its_own_tokens_only() {
    // Staging's JWKS is down from the start; with ready_gate = false the pod is ready anyway.
    let t = Tenants::start_staging_down("ready_gate = false", true).await; // waits for /readyz
    let response = t
        .get("/forecast", &token_of(&t.staging, "read:forecast"))
        .await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    assert_eq!(
        error_body(response).await["error"],
        "temporarily_unavailable"
    );
    assert_eq!(t.status("/forecast", &t.prod, "read:forecast").await, 200);
    let metrics = t.gateway.metrics().await;
    assert!(
        metrics.contains(
            r#"gateway_requests_total{route="/forecast",method="GET",decision="deny",reason="keys_not_loaded",status="503",issuer="staging"} 1"#
        ),
        "{metrics}"
    );

    // Once staging's keys load, its tokens verify.
    t.staging.set_jwks_mode(JwksMode::Serve);
    poll("staging's keys to load", DEADLINE, || async {
        let status = t.status("/forecast", &t.staging, "read:forecast").await;
        (status == 200).then_some(())
    })
    .await;
}

#[tokio::test]
async fn readyz_waits_for_every_issuer_with_ready_gate() {
    let t = Tenants::start_staging_down("", false).await;
    // Prod loads; staging cannot: not ready, and the body says who is missing.
    t.metrics_show(r#"gateway_jwks_keys{issuer="prod"} 1"#)
        .await;
    let readyz = format!("{}/readyz", t.gateway.admin);
    let response = reqwest::get(&readyz).await.unwrap();
    assert_eq!(response.status(), 503);
    let body = response.text().await.unwrap();
    assert!(body.contains("for issuer staging"), "{body}");
    assert!(!body.contains("prod"), "{body}");

    t.staging.set_jwks_mode(JwksMode::Serve);
    t.gateway.wait_ready().await;
}

#[tokio::test]
async fn a_route_with_issuers_refuses_another_issuers_tokens_with_403_access_denied() {
    let t = Tenants::start("", "", true).await;
    assert_eq!(t.status("/reports/q3", &t.prod, "read:forecast").await, 200);
    let seen = t.backend.seen().len();

    // A valid staging token with the right scope, and one without it: the issuer step comes
    // before the scope step, so both are refused for their issuer.
    for scope in ["read:forecast", ""] {
        let response = t.get("/reports/q3", &token_of(&t.staging, scope)).await;
        assert_eq!(response.status(), 403, "scope {scope:?}");
        assert!(response.headers().get("www-authenticate").is_none());
        let body = error_body(response).await;
        assert_eq!(body["error"], "access_denied");
        assert_eq!(
            body["error_description"],
            "/reports/{name} does not accept tokens from issuer staging"
        );
    }
    assert_eq!(t.backend.seen().len(), seen);
    // Routes without `issuers:` accept both tenants.
    assert_eq!(
        t.status("/forecast", &t.staging, "read:forecast").await,
        200
    );
    t.metrics_show(
        r#"gateway_requests_total{route="/reports/{name}",method="GET",decision="deny",reason="issuer_not_allowed",status="403",issuer="staging"} 2"#,
    )
    .await;
}

#[tokio::test]
async fn a_key_removed_at_one_issuer_invalidates_only_that_issuers_cached_verifications() {
    let t = Tenants::start("", "", true).await;
    let prod_token = token_of(&t.prod, "read:forecast");
    let staging_token = token_of(&t.staging, "read:forecast");
    for token in [&prod_token, &staging_token] {
        // Twice each: the second is a cache hit.
        assert_eq!(t.get("/forecast", token).await.status(), 200);
        assert_eq!(t.get("/forecast", token).await.status(), 200);
    }

    // Staging withdraws its key (same kid as prod's!); its first token under the new key
    // makes the gateway fetch staging's new JWKS.
    t.staging.rotate(KeyKind::Rsa2048).unwrap();
    t.staging.remove_key(SHARED_KID);
    assert_eq!(
        t.status("/forecast", &t.staging, "read:forecast").await,
        200
    );

    let response = t.get("/forecast", &staging_token).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        error_body(response).await["error_description"],
        format!("unknown key id {SHARED_KID}")
    );
    // Prod's key of the same id is untouched: its cached verification still serves.
    assert_eq!(t.get("/forecast", &prod_token).await.status(), 200);
}

#[tokio::test]
async fn a_policy_naming_an_unconfigured_issuer_is_refused_at_start_and_on_reload() {
    let t = Tenants::start("", "", true).await;
    let policy = t.gateway.dir.path().join("policy.yaml");
    let good = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(&policy, good.replace("issuers: [prod]", "issuers: [prood]")).unwrap();
    let problems = t.gateway.running().reload().unwrap_err().to_string();
    assert!(
        problems.contains("`prood` is not an issuer of this gateway; did you mean `prod`?"),
        "{problems}"
    );
    assert!(problems.contains("policy.yaml:"), "{problems}");
    // The previous policy keeps serving.
    assert_eq!(
        t.status("/reports/q3", &t.staging, "read:forecast").await,
        403
    );

    let config = gateway::config::Config::load(&t.gateway.dir.path().join("gateway.toml")).unwrap();
    let refused = gateway::start(config).await.err().unwrap().to_string();
    assert!(refused.contains("`prood` is not an issuer"), "{refused}");
}

#[tokio::test]
async fn the_same_client_id_at_two_tenants_has_two_rate_limits() {
    let t = Tenants::start("", "", true).await;
    // `/limited` allows a burst of 2 per client; both tenants call their client `clientco`.
    let prod_token = token_of(&t.prod, "read:forecast");
    for _ in 0..2 {
        assert_eq!(t.get("/limited", &prod_token).await.status(), 200);
    }
    assert_eq!(t.get("/limited", &prod_token).await.status(), 429);
    let staging_token = token_of(&t.staging, "read:forecast");
    assert_eq!(t.get("/limited", &staging_token).await.status(), 200);
}
