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

// ---- [upstream] ----
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

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

// ---- limits that are not settings ----
/// A JWKS document larger than this is refused (Auth0's holds two or three keys, a few KiB).
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// JWKS fetch: TCP + TLS connect, and the whole exchange.
pub const JWKS_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const JWKS_TOTAL_TIMEOUT: Duration = Duration::from_secs(10);
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
