//! Shared state across replicas (SPEC "Shared state across replicas (Redis)"): two and three
//! real gateway processes (the built binary) on one real `redis-server`, as their clients see
//! them: one rate limit, one DPoP replay store, and an outage (Redis killed, restarted, or
//! asleep in `DEBUG SLEEP`) that degrades as `[state] on_error` says without a 5xx on requests
//! that need no shared state, and without ever letting through what the policy denies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/redis.rs"]
mod redis_server;
mod support;

use std::time::{Duration, Instant};

use gateway::dev::dpop::{DpopAlg, DpopKey, bind};
use redis_server::RedisServer;
use serde_json::{Map, Value};
use support::bin::Serving;
use support::gateway::claims;
use support::issuer::spawn_issuer;
use support::wait;

const SECRET: &str = "s3cretpw";

/// `/limited` carries `rate_limit`; `/open` does not.
fn policy(per_second: f64, burst: u32) -> String {
    format!(
        "permissions:\n  read:forecast: Forecasts\n  ingest:data: Ingest\nroutes:\n  \
         - path: /limited\n    methods: [GET]\n    scopes: [read:forecast]\n    \
         rate_limit: {{per_second: {per_second}, burst: {burst}}}\n  \
         - path: /open\n    methods: [GET]\n    scopes: [read:forecast]\n"
    )
}

struct Setup {
    issuer: gateway::dev::issuer::DevIssuer,
    backend: support::backend::Backend,
    client: reqwest::Client,
}

impl Setup {
    async fn new() -> Setup {
        Setup {
            issuer: spawn_issuer().await,
            backend: support::backend::Backend::start().await,
            client: reqwest::Client::new(),
        }
    }

    fn token(&self, scope: &str) -> String {
        self.issuer.mint(&claims(&self.issuer.issuer_url(), scope))
    }

    /// `n` gateways on `policy` with `[state]` = `state`, each ready.
    async fn replicas(&self, n: usize, policy: &str, state: &str) -> Vec<Serving> {
        let mut replicas = Vec::new();
        for _ in 0..n {
            let serving = Serving::start(
                &self.issuer.issuer_url(),
                &self.issuer.jwks_url(),
                &self.backend.url(),
                policy,
                &format!("[state]\n{state}\n"),
            );
            serving.wait_ready().await;
            replicas.push(serving);
        }
        replicas
    }

    /// `GET path` with `token` (none if empty), answered within the test's deadline.
    async fn get(&self, replica: &Serving, path: &str, token: &str) -> reqwest::Response {
        let mut request = self.client.get(replica.url(path));
        if !token.is_empty() {
            request = request.bearer_auth(token);
        }
        tokio::time::timeout(wait::DEADLINE, request.send())
            .await
            .expect("the gateway answers, never hangs")
            .expect("a response")
    }

    /// `total` requests to `path`, round robin over `replicas`: how many were allowed, and the
    /// time from the first request to the last answer. A refusal is always 429 with
    /// `Retry-After`.
    async fn burst(&self, replicas: &[Serving], token: &str, total: usize) -> (usize, Duration) {
        let started = Instant::now();
        let mut allowed = 0;
        for i in 0..total {
            let response = self
                .get(&replicas[i % replicas.len()], "/limited", token)
                .await;
            match response.status().as_u16() {
                200 => allowed += 1,
                429 => assert!(response.headers().contains_key("retry-after")),
                other => panic!("request {i}: {other} {}", response.text().await.unwrap()),
            }
        }
        (allowed, started.elapsed())
    }
}

fn state(redis: &RedisServer, more: &str) -> String {
    format!("redis = \"{}\"\n{more}", redis.url())
}

async fn metrics(replica: &Serving) -> String {
    reqwest::get(format!("http://{}/metrics", replica.admin))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn is_message(line: &Value, part: &str) -> bool {
    line["message"].as_str().is_some_and(|m| m.contains(part))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_and_three_replicas_on_one_redis_enforce_one_limit() {
    let setup = Setup::new().await;
    let (per_second, burst) = (1.0, 5);
    for n in [2, 3] {
        let redis = RedisServer::start().await;
        let replicas = setup
            .replicas(n, &policy(per_second, burst), &state(&redis, ""))
            .await;
        let token = setup.token("read:forecast");
        let (allowed, elapsed) = setup.burst(&replicas, &token, 6 * n * burst as usize).await;
        // GCRA on Redis's clock: in any window of length L at most burst + L × rate pass,
        // whichever replica answers. Per-replica limits would allow n × burst at once.
        let bound = burst as usize + (per_second * elapsed.as_secs_f64()).floor() as usize;
        assert!(
            allowed >= burst as usize && allowed <= bound,
            "{n} replicas allowed {allowed} in {elapsed:?}; one shared limit allows at most {bound}"
        );
        // The buckets live in Redis under the gateway's prefix, with an expiry.
        let keys = redis.query(&["KEYS", "gateway:rl:*"]).await;
        let redis::Value::Array(keys) = keys else {
            panic!("{keys:?}")
        };
        assert_eq!(keys.len(), 1, "one client, one route: one bucket");
        let redis::Value::BulkString(key) = &keys[0] else {
            panic!("{keys:?}")
        };
        let ttl = redis
            .query(&["PTTL", std::str::from_utf8(key).unwrap()])
            .await;
        assert!(matches!(ttl, redis::Value::Int(ms) if ms > 0), "{ttl:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dpop_proof_replayed_at_another_replica_is_refused() {
    let setup = Setup::new().await;
    let redis = RedisServer::start().await;
    let replicas = setup
        .replicas(2, &policy(100.0, 100), &state(&redis, ""))
        .await;
    let key = DpopKey::generate(DpopAlg::Es256).unwrap();
    let mut cnf = Map::new();
    cnf.insert("jkt".into(), key.jkt().into());
    let token = setup.issuer.mint(&bind(
        claims(&setup.issuer.issuer_url(), "read:forecast"),
        cnf,
    ));
    // Both replicas are one origin to the client (as behind a load balancer): same Host.
    let send = |replica: &Serving, proof: &str| {
        setup
            .client
            .get(replica.url("/open"))
            .header("host", "api.saasco.test")
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .send()
    };
    let proof = key.proof("GET", "http://api.saasco.test/open", Some(&token), None);
    assert_eq!(send(&replicas[0], &proof).await.unwrap().status(), 200);
    // Remembered in Redis under the gateway's prefix until the proof could no longer be
    // accepted anyway (iat + dpop_window + leeway: 90 s by default).
    let redis::Value::Array(keys) = redis.query(&["KEYS", "gateway:dpop:*"]).await else {
        panic!("KEYS answers an array")
    };
    let [redis::Value::BulkString(remembered)] = keys.as_slice() else {
        panic!("one proof, one key: {keys:?}")
    };
    let ttl = redis
        .query(&["TTL", std::str::from_utf8(remembered).unwrap()])
        .await;
    assert!(matches!(ttl, redis::Value::Int(1..=90)), "{ttl:?}");
    let replayed = send(&replicas[1], &proof).await.unwrap();
    assert_eq!(replayed.status(), 401);
    let challenge = replayed.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with(r#"DPoP error="invalid_dpop_proof""#),
        "{challenge}"
    );
    assert!(replayed.text().await.unwrap().contains("replayed"));
    // A fresh proof is fine at either.
    let fresh = key.proof("GET", "http://api.saasco.test/open", Some(&token), None);
    assert_eq!(send(&replicas[1], &fresh).await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_with_on_error_local_keeps_serving_per_replica_then_shares_again_once_restarted()
 {
    let setup = Setup::new().await;
    let mut redis = RedisServer::start().await;
    // A rate so low that nothing refills during the test: counts are exact.
    let replicas = setup
        .replicas(2, &policy(0.001, 3), &state(&redis, "on_error = \"local\""))
        .await;
    let token = setup.token("read:forecast");
    for replica in &replicas {
        assert_eq!(setup.get(replica, "/limited", &token).await.status(), 200);
    }

    redis.kill();
    let (allowed, _) = setup.burst(&replicas, &token, 10).await;
    assert_eq!(
        allowed, 6,
        "while Redis is down each replica allows its own burst of 3"
    );
    for replica in &replicas {
        let line = replica.next_line("the fallback warning", |l| {
            is_message(l, "shared state: Redis unavailable")
        });
        assert_eq!(line["level"], "WARN", "{line}");
        assert!(is_message(&line, "falling back to per-replica"), "{line}");
        assert_eq!(setup.get(replica, "/open", &token).await.status(), 200);
        let metrics = metrics(replica).await;
        assert!(
            metrics.contains("gateway_state_fallback_active 1"),
            "{metrics}"
        );
        assert!(
            metrics.contains(
                r#"gateway_state_fallback_answers_total{operation="rate_limit",on_error="local"}"#
            ),
            "{metrics}"
        );
        assert!(
            metrics.contains("gateway_state_redis_errors_total{"),
            "{metrics}"
        );
    }

    redis.restart().await;
    for replica in &replicas {
        let line = replica.next_line("the recovery line", |l| {
            is_message(l, "shared state: Redis recovered")
        });
        assert_eq!(line["level"], "INFO", "{line}");
        assert!(
            metrics(replica)
                .await
                .contains("gateway_state_fallback_active 0")
        );
    }
    // The restarted Redis is empty: one fresh bucket of 3, shared by both replicas.
    let (allowed, _) = setup.burst(&replicas, &token, 10).await;
    assert_eq!(allowed, 3, "after recovery the limit is shared again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_with_on_error_deny_refuses_only_requests_that_need_shared_state() {
    let setup = Setup::new().await;
    let mut redis = RedisServer::start().await;
    let replicas = setup
        .replicas(
            1,
            &policy(100.0, 100),
            &state(&redis, "on_error = \"deny\""),
        )
        .await;
    let replica = &replicas[0];
    let token = setup.token("read:forecast");
    assert_eq!(setup.get(replica, "/limited", &token).await.status(), 200);

    redis.kill();
    let refused = setup.get(replica, "/limited", &token).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    let line = replica.next_line("the access line of the 503", |l| l["status"] == 503);
    assert_eq!(line["reason"], "state_unavailable", "{line}");
    // No shared state needed: no 5xx.
    assert_eq!(setup.get(replica, "/open", &token).await.status(), 200);
    // What the policy denies stays denied, before any shared state is asked.
    assert_eq!(setup.get(replica, "/limited", "").await.status(), 401);
    let other_scope = setup.token("ingest:data");
    assert_eq!(
        setup.get(replica, "/limited", &other_scope).await.status(),
        403
    );
    assert_eq!(setup.get(replica, "/nowhere", &token).await.status(), 404);
    // /readyz stays 200: the replica serves everything that needs no shared state.
    let readyz = reqwest::get(format!("http://{}/readyz", replica.admin))
        .await
        .unwrap();
    assert_eq!(readyz.status(), 200);
    let metrics = metrics(replica).await;
    assert!(
        metrics.contains(
            r#"gateway_state_fallback_answers_total{operation="rate_limit",on_error="deny"}"#
        ),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_redis_is_answered_within_the_budget_never_waited_for() {
    let setup = Setup::new().await;
    let redis = RedisServer::start().await;
    let policy = policy(100.0, 100);
    let local = setup
        .replicas(
            1,
            &policy,
            &state(&redis, "on_error = \"local\"\ntimeout = \"50ms\""),
        )
        .await;
    let deny = setup
        .replicas(
            1,
            &policy,
            &state(&redis, "on_error = \"deny\"\ntimeout = \"50ms\""),
        )
        .await;
    let token = setup.token("read:forecast");
    for replica in local.iter().chain(&deny) {
        assert_eq!(setup.get(replica, "/limited", &token).await.status(), 200);
    }

    // Redis blocks every client for 5 s; every answer below arrives while it still sleeps.
    let asleep = redis.sleep(5).await;
    assert_eq!(setup.get(&local[0], "/limited", &token).await.status(), 200);
    assert_eq!(setup.get(&deny[0], "/limited", &token).await.status(), 503);
    assert_eq!(setup.get(&deny[0], "/open", &token).await.status(), 200);
    assert!(
        !asleep.is_finished(),
        "the answers came only after Redis woke up: a request waited on Redis beyond its budget"
    );
    let line = deny[0].next_line("the timeout", |l| is_message(l, "Redis unavailable"));
    assert!(is_message(&line, "no answer within 50ms"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_password_never_appears_in_logs_metrics_or_check_output() {
    let setup = Setup::new().await;
    let redis = RedisServer::start().await;
    // This Redis has no password, so AUTH fails: the gateway logs why, with the URL.
    let url = format!("redis://:{SECRET}@127.0.0.1:{}/0", redis.port);
    let replicas = setup
        .replicas(1, &policy(100.0, 100), &format!("redis = \"{url}\""))
        .await;
    let replica = &replicas[0];
    let token = setup.token("read:forecast");
    assert_eq!(setup.get(replica, "/limited", &token).await.status(), 200);
    let line = replica.next_line("the fallback warning", |l| {
        is_message(l, "Redis unavailable")
    });
    let text = line.to_string();
    assert!(
        text.contains(&format!("redis://:***@127.0.0.1:{}/0", redis.port)),
        "{text}"
    );
    assert!(!text.contains(SECRET), "{text}");
    assert!(!metrics(replica).await.contains(SECRET));

    // gateway check, with a good URL and with a bad one, from the file and the environment.
    let project = support::bin::Project::clientco();
    project.edit(
        "gateway.toml",
        "[policy]",
        &format!("[state]\nredis = \"{url}\"\n\n[policy]"),
    );
    let run = project.run(&["check", "--offline"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("redis://:***@127.0.0.1"), "{run:?}");
    assert!(!format!("{run:?}").contains(SECRET), "{run:?}");
    let bad = format!("redis://:{SECRET}@127.0.0.1:port/0");
    let run = project.run_with_env(&["check", "--offline"], &[("GATEWAY_STATE_REDIS", &bad)]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("GATEWAY_STATE_REDIS"), "{run:?}");
    assert!(!format!("{run:?}").contains(SECRET), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_limiter_answers_as_the_in_process_one_does() {
    let setup = Setup::new().await;
    let redis = RedisServer::start().await;
    let token = setup.token("read:forecast");
    // In process, then on Redis: the same burst, the same 429 and the same Retry-After.
    for state_toml in [String::new(), state(&redis, "")] {
        let replicas = setup.replicas(1, &policy(0.1, 3), &state_toml).await;
        let mut answers = Vec::new();
        for _ in 0..4 {
            let response = setup.get(&replicas[0], "/limited", &token).await;
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            answers.push((response.status().as_u16(), retry_after));
        }
        // The next token is 10 s away, less the time the first three took (whole seconds,
        // rounded down as the in-process limiter always has).
        let (status, retry_after) = answers.pop().unwrap();
        assert_eq!(
            answers,
            [(200, None), (200, None), (200, None)],
            "[state] {state_toml:?}"
        );
        assert_eq!(status, 429, "[state] {state_toml:?}");
        let seconds: u64 = retry_after.unwrap().parse().unwrap();
        assert!(
            (9..=10).contains(&seconds),
            "[state] {state_toml:?}: Retry-After {seconds}"
        );
    }
}
