//! DPoP server nonces behind several replicas (issue 29, RFC 9449 §8): with `[state] redis` the
//! nonce key is shared through a real `redis-server`, so a nonce one replica hands out is
//! accepted by every other, for exactly as long as one replica's own nonce lives (its slot and
//! the next); a stale one is refused with a fresh nonce in the answer; and a Redis restart
//! (which loses the keys) neither breaks the nonces already handed out nor splits the replicas.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)] // `sleep` is for the slow-Redis tests
#[path = "support/redis.rs"]
mod redis_server;
mod support;

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gateway::dev::dpop::{DpopAlg, DpopKey, bind};
use redis_server::RedisServer;
use serde_json::Map;
use support::gateway::{Options, TestGateway, claims};
use support::issuer::spawn_issuer;
use support::wait;

const POLICY: &str = "permissions:\n  read:forecast: Forecasts\nroutes:\n  \
    - path: /open\n    methods: [GET]\n    scopes: [read:forecast]\n";
/// Both replicas are one origin to the client, as behind a load balancer.
const HTU: &str = "http://api.saasco.test/open";

struct Setup {
    issuer: gateway::dev::issuer::DevIssuer,
    backend: support::backend::Backend,
    redis: RedisServer,
    key: DpopKey,
    token: String,
    client: reqwest::Client,
}

/// What a replica answered a DPoP request.
struct Answer {
    status: u16,
    /// `DPoP-Nonce`, when the replica handed one out.
    nonce: Option<String>,
    challenge: String,
}

impl Setup {
    async fn new() -> Setup {
        let issuer = spawn_issuer().await;
        let key = DpopKey::generate(DpopAlg::Es256).unwrap();
        let mut cnf = Map::new();
        cnf.insert("jkt".into(), key.jkt().into());
        let token = issuer.mint(&bind(claims(&issuer.issuer_url(), "read:forecast"), cnf));
        Setup {
            issuer,
            backend: support::backend::Backend::start().await,
            redis: RedisServer::start().await,
            key,
            token,
            client: reqwest::Client::new(),
        }
    }

    /// A replica with nonces on, `dpop_window` = `window`, on the shared Redis.
    async fn replica(&self, window: &str) -> TestGateway {
        let mut options = Options::new(
            &self.issuer.issuer_url(),
            &self.issuer.jwks_url(),
            &self.backend.url(),
        );
        options.policy = POLICY.to_owned();
        options.auth_extra = format!("dpop_nonce = true\ndpop_window = \"{window}\"\n");
        options.tail = format!("[state]\nredis = \"{}\"\n", self.redis.url());
        TestGateway::start(options).await
    }

    /// `GET /open` at `replica` with a fresh proof carrying `nonce`.
    async fn send(&self, replica: &TestGateway, nonce: Option<&str>) -> Answer {
        let proof = self.key.proof("GET", HTU, Some(&self.token), nonce);
        self.send_proof(replica, &proof).await
    }

    /// `GET /open` at `replica` with `proof`.
    async fn send_proof(&self, replica: &TestGateway, proof: &str) -> Answer {
        let request = self
            .client
            .get(replica.url("/open"))
            .header("host", "api.saasco.test")
            .header("authorization", format!("DPoP {}", self.token))
            .header("dpop", proof)
            .send();
        let response = tokio::time::timeout(wait::DEADLINE, request)
            .await
            .expect("the gateway answers, never hangs")
            .expect("a response");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Answer {
            status: response.status().as_u16(),
            nonce: header("dpop-nonce"),
            challenge: header("www-authenticate").unwrap_or_default(),
        }
    }

    /// The nonce `replica` hands out to a proof without one (401 `use_dpop_nonce`).
    async fn nonce_from(&self, replica: &TestGateway) -> String {
        let answer = self.send(replica, None).await;
        assert_eq!(answer.status, 401);
        assert!(
            answer.challenge.contains(r#"error="use_dpop_nonce""#),
            "{}",
            answer.challenge
        );
        answer
            .nonce
            .expect("a 401 use_dpop_nonce carries DPoP-Nonce")
    }

    /// Polls until a nonce from `from` is accepted at `at` (the replicas fetch the shared key
    /// in the background at start); the nonce.
    async fn shared_nonce(&self, from: &TestGateway, at: &TestGateway) -> String {
        wait::poll(
            "a nonce from one replica to be accepted at another",
            wait::DEADLINE,
            || async {
                let nonce = self.nonce_from(from).await;
                (self.send(at, Some(&nonce)).await.status == 200).then_some(nonce)
            },
        )
        .await
    }
}

/// The time slot a nonce names (its first 8 bytes).
fn slot_of(nonce: &str) -> u64 {
    let bytes = URL_SAFE_NO_PAD.decode(nonce).unwrap();
    u64::from_be_bytes(bytes[..8].try_into().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_issued_by_one_replica_is_accepted_by_every_other() {
    let setup = Setup::new().await;
    let (a, b, c) = (
        setup.replica("60s").await,
        setup.replica("60s").await,
        setup.replica("60s").await,
    );
    let nonce = setup.shared_nonce(&a, &b).await;
    assert_eq!(setup.send(&c, Some(&nonce)).await.status, 200);
    assert_eq!(setup.send(&a, Some(&nonce)).await.status, 200);
    // The other way round too, and the key lives in Redis under the gateway's prefix with an
    // expiry (it is not kept once no nonce of its slot can be accepted).
    let from_c = setup.nonce_from(&c).await;
    assert_eq!(setup.send(&a, Some(&from_c)).await.status, 200);
    let key = format!("gateway:dpop-nonce-key:{}", slot_of(&nonce));
    let ttl = setup.redis.query(&["TTL", &key]).await;
    assert!(matches!(ttl, redis::Value::Int(1..=240)), "{key}: {ttl:?}");
    // A made-up nonce is refused everywhere, with a real one in the answer.
    let forged = URL_SAFE_NO_PAD.encode([0u8; 24]);
    let refused = setup.send(&b, Some(&forged)).await;
    assert_eq!(refused.status, 401);
    assert!(refused.nonce.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_nonce_is_refused_at_every_replica_with_a_fresh_one_in_the_answer() {
    let setup = Setup::new().await;
    // 1 s slots: a nonce lives one to two seconds, the same as one replica's own.
    let (a, b) = (setup.replica("1s").await, setup.replica("1s").await);
    let nonce = setup.shared_nonce(&a, &b).await;
    let issued_slot = slot_of(&nonce);
    let stale = wait::poll("the nonce to go stale", wait::DEADLINE, || async {
        let answer = setup.send(&b, Some(&nonce)).await;
        (answer.status == 401).then_some(answer)
    })
    .await;
    let now_slot = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        now_slot >= issued_slot + 2,
        "refused at slot {now_slot}, issued in {issued_slot}: it must live its slot and the next"
    );
    assert!(
        stale.challenge.contains(r#"error="use_dpop_nonce""#),
        "{}",
        stale.challenge
    );
    assert_eq!(
        setup.send(&a, Some(&nonce)).await.status,
        401,
        "stale at every replica"
    );
    // The fresh nonce in the answer works at the other replica (retry within the deadline: a
    // 1 s slot may end between the two requests).
    wait::poll(
        "the fresh nonce to be accepted elsewhere",
        wait::DEADLINE,
        || async {
            let fresh = setup.send(&b, Some(&nonce)).await.nonce?;
            (setup.send(&a, Some(&fresh)).await.status == 200).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_keeps_nonces_good_at_every_replica_and_no_replica_accepts_a_proof_twice() {
    let mut setup = Setup::new().await;
    // Long slots, so the test runs inside one; if a slot ends mid-way it is run again.
    for attempt in 0..2 {
        let (a, b) = (setup.replica("600s").await, setup.replica("600s").await);
        let nonce = setup.shared_nonce(&a, &b).await;
        let key = format!("gateway:dpop-nonce-key:{}", slot_of(&nonce));
        let before = setup.redis.query(&["GET", &key]).await;
        let accepted = setup
            .key
            .proof("GET", HTU, Some(&setup.token), Some(&nonce));
        assert_eq!(setup.send_proof(&b, &accepted).await.status, 200);
        setup.redis.restart().await;
        // Redis forgot the proof; the replica that accepted it did not (write-through).
        let replayed = setup.send_proof(&b, &accepted).await;
        assert_eq!(
            replayed.status, 401,
            "a proof is never accepted twice by one replica"
        );
        assert!(
            replayed.challenge.contains("invalid_dpop_proof"),
            "{}",
            replayed.challenge
        );
        // The replicas still hold the key: the nonce works at once.
        wait::poll(
            "a replica to answer after the Redis restart",
            wait::DEADLINE,
            || async { (setup.send(&b, Some(&nonce)).await.status == 200).then_some(()) },
        )
        .await;
        // And the first replica to ask again puts back the key they agreed on, so a replica
        // started after the restart accepts nonces handed out before it.
        let started = Instant::now();
        let after = wait::poll("the key to be back in Redis", wait::DEADLINE, || async {
            let value = setup.redis.query(&["GET", &key]).await;
            (value != redis::Value::Nil).then_some(value)
        })
        .await;
        assert!(started.elapsed() < Duration::from_secs(10));
        let c = setup.replica("600s").await;
        // 401 until c has fetched the key in the background; 200 once it has.
        wait::poll(
            "the new replica to accept the old nonce",
            wait::DEADLINE,
            || async { (setup.send(&c, Some(&nonce)).await.status == 200).then_some(()) },
        )
        .await;
        let slot_now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            / 600;
        if slot_now != slot_of(&nonce) && attempt == 0 {
            continue;
        }
        assert_eq!(before, after, "the same key, put back");
        return;
    }
}
