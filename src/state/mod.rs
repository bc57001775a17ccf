//! State the data plane shares between requests beyond one snapshot: today the DPoP `jti`
//! replay store (RFC 9449 §11.1).
//!
//! The interface is [`ReplayStore`]: `remember(key, expires_at)` answers [`Seen::New`] the first
//! time a key is presented before it expires and [`Seen::Replayed`] afterwards, or a
//! [`StateError`] the pipeline turns into 503 `state_unavailable`. It is asynchronous (a boxed
//! future) so that a network store fits behind the same trait: the in-process
//! [`MemoryReplayStore`] (`replay`) answers at once, and a second implementation (the Redis
//! store of the replicas issue: `SET key 1 NX EXAT expires_at`, `Ok(nil)` meaning replayed)
//! plugs in by implementing the trait in a sibling module and being chosen in
//! [`replay_store`] from `[state]`; nothing else changes, since the gateway holds an
//! `Arc<dyn ReplayStore>`.

mod replay;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use replay::MemoryReplayStore;

/// Whether a key was seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// First time: the key is now remembered until it expires.
    New,
    /// Remembered already: a replay.
    Replayed,
}

/// Why the store could not answer. Never "forget something early": a full store refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error(
        "the DPoP replay store is full ({0} proofs remembered); retry shortly, or raise [auth] dpop_replay_capacity"
    )]
    Full(usize),
    #[error("shared state is unavailable: {0}")]
    Unavailable(String),
}

/// The answer of a store, possibly from the network.
pub type StateFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StateError>> + Send + 'a>>;

/// Remembers opaque keys (a SHA-256 of what identifies one proof) until a Unix time.
pub trait ReplayStore: Send + Sync {
    /// Remembers `key` until `expires_at` (Unix seconds, inclusive) unless it is remembered
    /// already.
    fn remember(&self, key: [u8; 32], expires_at: u64) -> StateFuture<'_, Seen>;
}

/// The replay store the configuration asks for: in process, bounded by `capacity`.
pub fn replay_store(capacity: usize) -> Arc<dyn ReplayStore> {
    Arc::new(MemoryReplayStore::new(capacity))
}
