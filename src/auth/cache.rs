//! The verified-token cache: a hit skips the signature check, which is most of the cost.
//!
//! Keyed by the whole token itself, and a hit compares the stored token byte for byte, so two
//! different tokens never share an entry. The map hashes the token with foldhash, seeded at
//! random per process (hashbrown's default; SipHash-1-3 over a 1 KiB token was 2,400 of a
//! cached request's ~52,000 instructions, foldhash a tenth of that). Collisions cannot be aimed
//! at: the seed is secret, and only a token whose signature verified is ever inserted, so an
//! attacker cannot fill a bucket with entries of their choosing; a crafted token can only miss.
//! (A SHA-256 of the token was the key before: under callgrind, without the CPU's SHA
//! extensions, it was a third of a cached request's instructions.) Whatever
//! the number of issuers: an entry remembers which issuer verified it, and a hit is checked
//! against that issuer's key set only, so a key removed by one issuer invalidates that
//! issuer's cached verifications and no other's. Bounded
//! by `cache_max_entries` in weight units: an entry weighs 1 per started KiB of token, so the
//! bound caps both the entry count and the memory a flood of bloated tokens can pin (the key
//! is the token, so that is also what an entry holds). An entry
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
    /// Keyed by the token's bytes: the data plane looks a token up before checking it is
    /// text at all (`Located::bytes`), and a hit is byte-equal to a checked token.
    entries: Cache<Box<[u8]>, Arc<Verified>, foldhash::quality::RandomState>,
}

struct UntilExp;

impl Expiry<Box<[u8]>, Arc<Verified>> for UntilExp {
    fn expire_after_create(
        &self,
        _key: &Box<[u8]>,
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
            .build_with_hasher(foldhash::quality::RandomState::default());
        Self { entries }
    }

    pub fn get(&self, token: &[u8]) -> Option<Arc<Verified>> {
        self.entries.get(token)
    }

    pub fn insert(
        &self,
        token: &str,
        identity: Arc<Identity>,
        key_fingerprint: [u8; 32],
        issuer: usize,
    ) {
        let weight = u32::try_from(1 + token.len() / 1024).unwrap_or(u32::MAX);
        self.entries.insert(
            token.as_bytes().into(),
            Arc::new(Verified {
                identity,
                key_fingerprint,
                issuer,
                weight,
            }),
        );
    }

    pub fn remove(&self, token: &[u8]) {
        self.entries.invalidate(token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::identity::Scopes;

    fn identity(subject: &str) -> Arc<Identity> {
        let mut identity = Identity::for_policy_test(Scopes::default());
        identity.subject = subject.to_owned();
        identity.expires_at = crate::auth::jwks::unix_now() + 3600;
        Arc::new(identity)
    }

    fn subject(cache: &TokenCache, token: &str) -> Option<String> {
        cache
            .get(token.as_bytes())
            .map(|hit| hit.identity.subject.clone())
    }

    #[test]
    fn only_the_very_same_token_hits() {
        let cache = TokenCache::new(1000);
        cache.insert("header.payload.signature", identity("alice"), [1; 32], 0);
        assert_eq!(
            subject(&cache, "header.payload.signature").as_deref(),
            Some("alice")
        );
        for other in [
            "header.payload.signatur",
            "header.payload.signaturee",
            "",
            "HEADER.payload.signature",
        ] {
            assert_eq!(subject(&cache, other), None, "{other:?} must miss");
        }
        cache.insert("other.payload.signature", identity("mallory"), [2; 32], 0);
        assert_eq!(
            subject(&cache, "header.payload.signature").as_deref(),
            Some("alice")
        );
        cache.remove(b"other.payload.signature");
        assert_eq!(subject(&cache, "other.payload.signature"), None);
        assert_eq!(
            subject(&cache, "header.payload.signature").as_deref(),
            Some("alice")
        );
    }

    #[test]
    fn bloated_tokens_weigh_by_the_kib() {
        let cache = TokenCache::new(10);
        let big = "x".repeat(8 * 1024);
        for n in 0..4 {
            cache.insert(&format!("{big}{n}"), identity("alice"), [1; 32], 0);
        }
        cache.entries.run_pending_tasks();
        assert!(
            cache.entries.weighted_size() <= 10,
            "weight {} over the bound",
            cache.entries.weighted_size()
        );
    }
}
