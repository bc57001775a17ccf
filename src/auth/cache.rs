//! The verified-token cache: a hit skips the signature check, which is most of the cost.
//!
//! Keyed by SHA-256 of the whole token (a prefix would let two tokens share an entry), whatever
//! the number of issuers: an entry remembers which issuer verified it, and a hit is checked
//! against that issuer's key set only, so a key removed by one issuer invalidates that
//! issuer's cached verifications and no other's. Bounded
//! by `cache_max_entries` in weight units: an entry weighs 1 per started KiB of token, so the
//! bound caps both the entry count and the memory a flood of bloated tokens can pin. An entry
//! expires at the token's `exp` (moka `Expiry`), and a hit is still re-checked by the caller
//! against the clock and the current JWKS, so neither a late eviction nor a removed key can let
//! a cached verification outlive its grounds.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use moka::Expiry;
use moka::sync::Cache;

use crate::identity::Identity;

/// A verification that succeeded, and the key material it depended on.
pub struct Verified {
    pub identity: Arc<Identity>,
    pub key_fingerprint: [u8; 32],
    /// The issuer (index in the registry) whose key set must still hold that key.
    pub issuer: usize,
    weight: u32,
}

pub struct TokenCache {
    entries: Cache<[u8; 32], Arc<Verified>>,
}

struct UntilExp;

impl Expiry<[u8; 32], Arc<Verified>> for UntilExp {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Arc<Verified>,
        _created_at: Instant,
    ) -> Option<Duration> {
        // Sub-second precision: whole seconds would let an entry outlive `exp` by up to 1 s
        // (the caller's re-check catches that, but eviction should not rely on it).
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Some(Duration::from_secs(value.identity.expires_at).saturating_sub(now))
    }
}

impl TokenCache {
    pub fn new(max_entries: u64) -> Self {
        let entries = Cache::builder()
            .max_capacity(max_entries)
            .weigher(|_key, value: &Arc<Verified>| value.weight)
            .expire_after(UntilExp)
            .build();
        Self { entries }
    }

    pub fn get(&self, token_hash: &[u8; 32]) -> Option<Arc<Verified>> {
        self.entries.get(token_hash)
    }

    pub fn insert(
        &self,
        token_hash: [u8; 32],
        token_len: usize,
        identity: Arc<Identity>,
        key_fingerprint: [u8; 32],
        issuer: usize,
    ) {
        let weight = u32::try_from(1 + token_len / 1024).unwrap_or(u32::MAX);
        self.entries.insert(
            token_hash,
            Arc::new(Verified {
                identity,
                key_fingerprint,
                issuer,
                weight,
            }),
        );
    }

    pub fn remove(&self, token_hash: &[u8; 32]) {
        self.entries.invalidate(token_hash);
    }
}
