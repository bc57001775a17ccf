//! The in-process replay store: a bounded map from key to expiry, purged in expiry order.
//!
//! Entries leave only when they expire (a min-heap of expiries finds them without scanning);
//! when `capacity` unexpired entries are held, a new key is refused with `StateError::Full`
//! rather than evicting an older one, since forgetting a `jti` early would let that proof be
//! replayed. Memory is about 100 bytes per entry (the map's and the heap's).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{ReplayStore, Seen, StateError, StateFuture};

pub struct MemoryReplayStore {
    inner: Mutex<Inner>,
    capacity: usize,
}

#[derive(Default)]
struct Inner {
    expiry: HashMap<[u8; 32], u64>,
    by_time: BinaryHeap<Reverse<(u64, [u8; 32])>>,
}

impl MemoryReplayStore {
    pub fn new(capacity: usize) -> MemoryReplayStore {
        MemoryReplayStore {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
        }
    }

    /// `remember` at Unix time `now` (tests drive the clock).
    pub fn remember_at(
        &self,
        key: [u8; 32],
        expires_at: u64,
        now: u64,
    ) -> Result<Seen, StateError> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(Reverse((at, old))) = inner.by_time.peek().copied() {
            if at >= now {
                break;
            }
            inner.by_time.pop();
            // The map holds one expiry per key; a stale heap entry for it is just dropped.
            if inner.expiry.get(&old) == Some(&at) {
                inner.expiry.remove(&old);
            }
        }
        if inner.expiry.contains_key(&key) {
            return Ok(Seen::Replayed);
        }
        if inner.expiry.len() >= self.capacity {
            return Err(StateError::Full(inner.expiry.len()));
        }
        inner.expiry.insert(key, expires_at);
        inner.by_time.push(Reverse((expires_at, key)));
        Ok(Seen::New)
    }

    /// Keys remembered now (expired ones not yet purged included).
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .expiry
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ReplayStore for MemoryReplayStore {
    fn remember(&self, key: [u8; 32], expires_at: u64) -> StateFuture<'_, Seen> {
        let answer = self.remember_at(key, expires_at, unix_now());
        Box::pin(std::future::ready(answer))
    }
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_new_once_then_replayed_until_it_expires() {
        let store = MemoryReplayStore::new(10);
        assert_eq!(store.remember_at([1; 32], 160, 100), Ok(Seen::New));
        assert_eq!(store.remember_at([1; 32], 160, 150), Ok(Seen::Replayed));
        assert_eq!(store.remember_at([1; 32], 160, 160), Ok(Seen::Replayed));
        assert_eq!(store.remember_at([1; 32], 230, 161), Ok(Seen::New));
    }

    #[test]
    fn a_full_store_refuses_instead_of_forgetting_and_frees_room_as_entries_expire() {
        let store = MemoryReplayStore::new(2);
        assert_eq!(store.remember_at([1; 32], 110, 100), Ok(Seen::New));
        assert_eq!(store.remember_at([2; 32], 120, 100), Ok(Seen::New));
        assert_eq!(
            store.remember_at([3; 32], 130, 100),
            Err(StateError::Full(2))
        );
        // The first two are still remembered: nothing was evicted.
        assert_eq!(store.remember_at([1; 32], 110, 105), Ok(Seen::Replayed));
        assert_eq!(store.remember_at([3; 32], 130, 111), Ok(Seen::New));
        assert_eq!(store.len(), 2);
    }
}
