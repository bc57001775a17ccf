//! The DPoP server-nonce keys every replica shares (RFC 9449 §8), when `[state] redis` is set and
//! `[auth] dpop_nonce` is on.
//!
//! `auth::nonce` tags a nonce with an HMAC over its time slot (one slot per `dpop_window`). Alone,
//! each replica uses a key of its own, so behind a load balancer a nonce from one replica is
//! refused by the next. Here the key is per slot and shared: the first replica to ask for slot
//! `s` stores a random key at `gateway:dpop-nonce-key:<s>` in Redis (set only if absent, expiring
//! once no nonce of that slot can be accepted), and every replica reads the same one
//! (`redis_store::nonce_keys`, a background task that fetches the current and the next slot's
//! key every `DPOP_NONCE_KEY_REFRESH`, so a slot boundary never waits on Redis). This module is
//! the replica's in-memory copy, read without waiting by the request path.
//!
//! The request path never asks Redis: while Redis is down, keys already fetched keep working
//! (the next slot's is fetched ahead), and for a slot with no shared key the replica issues
//! nonces under its own key, as a single replica does; they are accepted by that replica only.
//! A nonce is accepted only for its own slot or the previous one, whichever key tagged it, so
//! sharing the key never makes a nonce live longer than one replica's own.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

/// Keys remembered per slot: the one Redis holds, and any earlier one this replica handed
/// nonces out under (after a Redis restart, another replica may have stored a new key first).
const KEYS_PER_SLOT: usize = 4;

pub type NonceKey = [u8; 32];

/// One replica's copy of the shared nonce keys, by slot.
pub struct NonceKeys {
    slot_secs: u64,
    slots: Mutex<BTreeMap<u64, Vec<NonceKey>>>,
}

impl NonceKeys {
    pub fn new(slot_secs: u64) -> NonceKeys {
        NonceKeys {
            slot_secs: slot_secs.max(1),
            slots: Mutex::new(BTreeMap::new()),
        }
    }

    /// The length of a slot in seconds (`dpop_window`).
    pub fn slot_secs(&self) -> u64 {
        self.slot_secs
    }

    /// The key to tag nonces of `slot` with: the one Redis last answered.
    pub fn issuing(&self, slot: u64) -> Option<NonceKey> {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.get(&slot).and_then(|keys| keys.first().copied())
    }

    /// Whether `check` holds for one of the keys known for `slot`.
    pub fn any(&self, slot: u64, check: impl Fn(&NonceKey) -> bool) -> bool {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.get(&slot).is_some_and(|keys| keys.iter().any(check))
    }

    /// Redis answered `key` for `slot`: it becomes the issuing key; a different earlier one is
    /// kept (nonces already handed out under it stay valid here for their lifetime). Slots
    /// before `current_slot - 1` are forgotten.
    pub fn learn(&self, slot: u64, key: NonceKey, current_slot: u64) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let keys = slots.entry(slot).or_default();
        keys.retain(|known| known != &key);
        keys.insert(0, key);
        keys.truncate(KEYS_PER_SLOT);
        let oldest = current_slot.saturating_sub(1);
        slots.retain(|&s, _| s >= oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_key_redis_answered_issues_and_earlier_ones_are_still_accepted() {
        let keys = NonceKeys::new(60);
        assert_eq!(keys.issuing(10), None);
        keys.learn(10, [1; 32], 10);
        keys.learn(10, [2; 32], 10);
        assert_eq!(keys.issuing(10), Some([2; 32]));
        assert!(keys.any(10, |k| k == &[1; 32]));
        assert!(!keys.any(11, |k| k == &[1; 32]));
        keys.learn(12, [3; 32], 12);
        assert_eq!(keys.issuing(12), Some([3; 32]));
        assert_eq!(
            keys.issuing(10),
            None,
            "slots before the previous one are forgotten"
        );
    }
}
