//! Every default and operational limit, named, in one place (rpxy's `constants.rs`).
//!
//! The `gateway.toml` defaults are the values docs/configuration.md lists; the limits below them
//! are not configurable and each says why it has the value it has. Protocol constants (header
//! names, the HTTP/2 preface length) stay beside the code that speaks the protocol.

use std::time::Duration;

// ---- [server] ----
pub const SERVER_LISTEN: &str = "0.0.0.0:8080";
/// Time allowed for a client to send a complete request head (slowloris guard).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_HEADER_BYTES: u64 = 64 * 1024;
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
pub const MAX_CONNECTIONS: u64 = 10_000;
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

// ---- [admin] ----
pub const ADMIN_LISTEN: &str = "127.0.0.1:9901";
/// The admin listener's guards: the data plane's (opening bytes and request head within a
/// deadline, idle keep-alive closed, a connection cap), with limits sized for what talks to it (a
/// Prometheus scraper and the kubelet's probes answer in milliseconds and hold a handful of
/// connections), so slow or idle clients cannot pile up descriptors the data plane needs.
pub const ADMIN_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// HTTP/2 admin connections are pinged after this much silence and closed if the ping goes
/// unanswered (HTTP/1 keep-alive idleness is bounded by the header read timeout).
pub const ADMIN_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
pub const ADMIN_MAX_CONNECTIONS: usize = 64;
/// Admin requests are a path and a few headers.
pub const ADMIN_MAX_HEADER_BYTES: usize = 16 * 1024;
pub const ADMIN_MAX_CONCURRENT_STREAMS: u32 = 16;

// ---- [upstream] ----
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The pool `[upstream]` configures, as routes without `upstream:` use it and metrics name it.
pub const DEFAULT_POOL_NAME: &str = "default";
pub const POOL_RESOLVE_EVERY: Duration = Duration::from_secs(5);
/// `discover`: one DNS query's timeout (the resolver's own, per server and protocol), and one
/// whole resolution's, which bounds a round whatever the server does.
pub const DISCOVER_DNS_TIMEOUT: Duration = Duration::from_secs(2);
pub const DISCOVER_RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long start-up waits for the first resolution of the pools that discover their
/// endpoints before serving anyway (their requests get a 502 saying why until it answers).
pub const DISCOVER_START_WAIT: Duration = Duration::from_secs(2);
/// Requests at once to one pool; beyond it 503 with `Retry-After: POOL_FULL_RETRY_AFTER`.
pub const POOL_MAX_IN_FLIGHT: u64 = 1024;
pub const POOL_FULL_RETRY_AFTER: u64 = 1;
// [upstream.eject]: passive ejection, on by default (Envoy's outlier detection defaults).
pub const EJECT_CONSECUTIVE_FAILURES: u64 = 5;
pub const EJECT_BASE_TIME: Duration = Duration::from_secs(30);
/// An endpoint ejected again waits twice as long as the last time, up to this.
pub const EJECT_MAX_TIME: Duration = Duration::from_secs(300);
pub const EJECT_MAX_PERCENT: u64 = 50;
// [upstream.health]: active checks, off unless the table is present.
pub const HEALTH_PATH: &str = "/healthz";
pub const HEALTH_INTERVAL: Duration = Duration::from_secs(5);
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);
pub const HEALTH_HEALTHY: u64 = 2;
pub const HEALTH_UNHEALTHY: u64 = 3;
// [upstream.retry]
pub const RETRY_ATTEMPTS: u64 = 2;
/// Retries at most this share of the pool's requests over `RETRY_BUDGET_WINDOW`, plus
/// `RETRY_BUDGET_MIN_PER_SECOND` (linkerd's retry budget), so an outage is never multiplied.
pub const RETRY_BUDGET_PERCENT: f64 = 20.0;
pub const RETRY_BUDGET_WINDOW: Duration = Duration::from_secs(10);
pub const RETRY_BUDGET_MIN_PER_SECOND: u64 = 3;

// ---- [auth] ----
/// Auth0 signs access tokens with RS256.
pub const ALGORITHMS: &[jsonwebtoken::Algorithm] = &[jsonwebtoken::Algorithm::RS256];
pub const LEEWAY: Duration = Duration::from_secs(30);
pub const JWKS_REFRESH: Duration = Duration::from_secs(600);
/// At most one unknown-`kid` refetch per this period.
pub const JWKS_COOLDOWN: Duration = Duration::from_secs(30);
pub const FORWARD_TOKEN: bool = false;
pub const MAX_TOKEN_BYTES: u64 = 8 * 1024;
pub const CACHE_MAX_ENTRIES: u64 = 100_000;
/// The name of the one issuer the first-round `[auth] issuer` form configures.
pub const DEFAULT_ISSUER_NAME: &str = "default";
/// `[auth.issuers.NAME] ready_gate`: `/readyz` waits for this issuer's keys.
pub const ISSUER_READY_GATE: bool = true;
/// The `issuer` metric label of a token whose `iss` no issuer has, and of a request that
/// names no issuer at all (no token, a public route, a token that does not decode). Issuer
/// names may not take these values.
pub const ISSUER_LABEL_UNKNOWN: &str = "unknown";
pub const ISSUER_LABEL_NONE: &str = "none";

// ---- [log] ----
/// Bytes of access lines waiting for the writer; past this `on_full` applies. About 12,000
/// lines, a second of the benchmark's peak rate: room for a disk that stalls for a moment.
pub const LOG_BUFFER: u64 = 4 * 1024 * 1024;

// ---- [telemetry] ----
/// One new trace in a hundred (a caller's sampled trace is always kept: parent-based).
pub const TRACE_SAMPLE_RATIO: f64 = 0.01;

// ---- access log and traces: limits that are not settings ----
/// The access log writer writes once this many bytes are waiting (nginx's `buffer=64k`).
pub const ACCESS_LOG_BATCH_BYTES: usize = 64 * 1024;
/// ...and at least this often (Envoy's `access_log_flush_interval`).
pub const ACCESS_LOG_FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// One OTLP export, connect to answer (the OpenTelemetry SDK's default).
pub const TRACE_EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// Finished spans are exported in a batch this often (the OpenTelemetry SDK's default)...
pub const TRACE_EXPORT_INTERVAL: Duration = Duration::from_secs(5);
/// ...and at most this many wait; more are dropped by the SDK (its default queue).
pub const TRACE_QUEUE_SPANS: usize = 2048;
/// An OTLP receiver's answer is a small protobuf; more than this is refused.
pub const TRACE_RESPONSE_MAX_BYTES: usize = 64 * 1024;
// ---- [forward.assertion] ----
pub const ASSERTION_HEADER: &str = "X-Auth-Assertion";
/// An assertion proves one request: a minute covers clock skew and a slow upstream queue.
pub const ASSERTION_LIFETIME: Duration = Duration::from_secs(60);
/// The spec's ceiling: a captured assertion is replayable (on its own method and path) this
/// long at most. The FastAPI package refuses longer lifetimes too.
pub const ASSERTION_MAX_LIFETIME: Duration = Duration::from_secs(300);
/// Off by default: every request gets its own assertion (and `jti`).
pub const ASSERTION_REUSE: Duration = Duration::ZERO;
/// The spec's ceiling on sharing one assertion between identical requests.
pub const ASSERTION_MAX_REUSE: Duration = Duration::from_secs(5);

// ---- limits that are not settings ----
/// Assertions shared under `reuse` at most (one per distinct token + method + path in the
/// window); beyond it the least useful entries are evicted and those requests sign afresh.
pub const ASSERTION_REUSE_MAX_ENTRIES: u64 = 10_000;
/// A PEM private key is a few hundred bytes; a larger `key_file` is the wrong file.
pub const MAX_ASSERTION_KEY_FILE_BYTES: u64 = 64 * 1024;
/// A JWKS document larger than this is refused (Auth0's holds two or three keys, a few KiB).
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// JWKS fetch: TCP + TLS connect, and the whole exchange.
pub const JWKS_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const JWKS_TOTAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Redirects a document fetch (JWKS, OpenAPI) follows at most; the key set's only within
/// `jwks_url`'s origin (docs/security.md).
pub const FETCH_MAX_REDIRECTS: usize = 3;
/// An OpenAPI document larger than this is refused (`gateway coverage`, `gateway init`): a large
/// FastAPI app's `/openapi.json` is a few hundred KiB.
pub const MAX_OPENAPI_BYTES: usize = 16 * 1024 * 1024;
/// Until the first key set loads, retry from this interval, doubling up to the cap.
pub const JWKS_FIRST_RETRY: Duration = Duration::from_millis(250);
pub const JWKS_MAX_RETRY: Duration = Duration::from_secs(30);
/// A zero refresh period would hammer the issuer in a tight loop.
pub const JWKS_MIN_REFRESH: Duration = Duration::from_millis(100);
/// `Retry-After` (seconds) on the 503 answered while no key set has loaded yet.
pub const KEYS_NOT_LOADED_RETRY_AFTER: &str = "5";
/// Idle upstream connections older than this are not reused (hyper-util's default).
pub const UPSTREAM_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle upstream connections kept at most; more are closed when they come back. Far above what
/// one gateway needs towards one upstream (one per concurrent request), low enough to bound
/// memory and file descriptors if the upstream holds connections open forever.
pub const UPSTREAM_POOL_MAX_IDLE: usize = 1024;
/// Pending connections the kernel queues before `accept` (capped by `net.core.somaxconn`).
/// tokio's default is 1,024, which a burst of thousands of clients connecting at once (a fleet
/// restarting) overflows: the overflow is dropped SYNs and client-side retries of a second or
/// more.
pub const ACCEPT_BACKLOG: u32 = 4096;
/// Quiet time after the last file event before reloading: editors write in bursts (truncate,
/// write, rename, chmod), and one reload per save is what the operator expects.
pub const RELOAD_DEBOUNCE: Duration = Duration::from_millis(200);

// ---- sender-constrained tokens ([auth] dpop_*, require_binding) ----
/// RFC 9449 §7.1 `algs`: what DPoP clients commonly sign with (Auth0 accepts ES256 proofs).
pub const DPOP_ALGORITHMS: &[jsonwebtoken::Algorithm] = &[
    jsonwebtoken::Algorithm::ES256,
    jsonwebtoken::Algorithm::EdDSA,
    jsonwebtoken::Algorithm::PS256,
    jsonwebtoken::Algorithm::RS256,
];
/// How old a proof's `iat` may be (RFC 9449 §11.1 leaves it to the server; Auth0 uses 60 s).
pub const DPOP_WINDOW: Duration = Duration::from_secs(60);
pub const DPOP_NONCE: bool = false;
/// Proofs remembered at most for replay detection (about 100 bytes each); a full store
/// answers 503 rather than forgetting one early.
pub const DPOP_REPLAY_CAPACITY: u64 = 1_000_000;
/// A proof larger than this is refused before decoding (an RSA-4096 proof is under 3 KiB).
pub const DPOP_MAX_PROOF_BYTES: usize = 8 * 1024;
/// A `jti` longer than this is refused (a UUID is 36 bytes).
pub const DPOP_MAX_JTI_BYTES: usize = 256;
/// `Retry-After` (seconds) on the 503 answered when the replay store is full.
pub const STATE_UNAVAILABLE_RETRY_AFTER: &str = "1";

// ---- [state] (shared state across replicas, Redis) ----
/// The budget of one Redis call: a slow Redis can delay a request by this much at most. Redis
/// on the same network answers in well under a millisecond; 50 ms is Envoy's default timeout
/// for its global rate limit service's neighbourhood and far below any client's patience.
pub const STATE_TIMEOUT: Duration = Duration::from_millis(50);
/// Opening a connection (TCP, TLS, AUTH, SELECT) may take longer than one call: it happens once
/// per (re)connection, off the request path after the first one.
pub const STATE_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// While Redis is treated as down, one `PING` this often decides when it is back; requests in
/// between do not wait on it.
pub const STATE_PROBE_INTERVAL: Duration = Duration::from_millis(250);
/// The connection manager's reconnection backoff: from 100 ms, doubling, with jitter, up to
/// this (redis-rs `ConnectionManagerConfig`).
pub const STATE_RECONNECT_MAX_DELAY: Duration = Duration::from_secs(1);
/// How often each replica fetches the shared DPoP nonce keys of the current and the next slot
/// (two small scripts): far inside a slot (`dpop_window`, 60 s by default), so every replica
/// holds the next slot's key before the slot starts.
pub const DPOP_NONCE_KEY_REFRESH: Duration = Duration::from_secs(1);
