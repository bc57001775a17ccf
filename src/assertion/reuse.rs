//! `reuse`: identical requests within a short window share one assertion.
//!
//! Identical means the same verified token (the same cached `Identity`, which the verified-token
//! cache hands to every request bearing that token), method, `htp`, route and shadow verdict.
//! Entries hold their `Identity`, so the pointer in the key cannot be reused by another identity
//! while the entry lives; a hash collision is caught by comparing every part. The cache lives in
//! the `Signer`, itself in the `Snapshot`, so a reload (new key, new policy) starts empty.
//! Bounded (`constants::ASSERTION_REUSE_MAX_ENTRIES`) and expiring after the window (moka).

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderValue, Method};
use moka::sync::Cache;

use super::Binding;
use crate::constants::ASSERTION_REUSE_MAX_ENTRIES;
use crate::identity::Identity;

struct Entry {
    identity: Option<Arc<Identity>>,
    method: Method,
    htp: Box<str>,
    route: Box<str>,
    shadow_deny: Option<&'static str>,
    value: HeaderValue,
    issued: Instant,
}

impl Entry {
    fn serves(&self, binding: &Binding<'_>, window: Duration) -> bool {
        let same_identity = match (&self.identity, binding.identity) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        same_identity
            && self.method == *binding.method
            && *self.htp == *binding.htp
            && *self.route == *binding.route
            && self.shadow_deny == binding.shadow_deny
            && self.issued.elapsed() < window
    }
}

pub struct Reuse {
    window: Duration,
    entries: Cache<u64, Arc<Entry>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Reuse {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            entries: Cache::builder()
                .max_capacity(ASSERTION_REUSE_MAX_ENTRIES)
                .time_to_live(window)
                .build(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    fn key(&self, binding: &Binding<'_>) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        binding
            .identity
            .map_or(0, |i| Arc::as_ptr(i) as usize)
            .hash(&mut hasher);
        binding.method.as_str().hash(&mut hasher);
        binding.htp.hash(&mut hasher);
        binding.route.hash(&mut hasher);
        binding.shadow_deny.hash(&mut hasher);
        hasher.finish()
    }

    pub fn get(&self, binding: &Binding<'_>) -> Option<HeaderValue> {
        let entry = self.entries.get(&self.key(binding))?;
        entry
            .serves(binding, self.window)
            .then(|| entry.value.clone())
    }

    pub fn put(&self, binding: &Binding<'_>, value: HeaderValue) {
        let entry = Entry {
            identity: binding.identity.cloned(),
            method: binding.method.clone(),
            htp: binding.htp.into(),
            route: binding.route.into(),
            shadow_deny: binding.shadow_deny,
            value,
            issued: Instant::now(),
        };
        self.entries.insert(self.key(binding), Arc::new(entry));
    }
}
