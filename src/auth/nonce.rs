//! DPoP server nonces (RFC 9449 §8), when `[auth] dpop_nonce = true`.
//!
//! A nonce is stateless: the number of the current time slot (one slot per `dpop_window`) and an
//! HMAC-SHA-256 tag over it under a key drawn at start, base64url. A proof's nonce is accepted
//! when its tag verifies and its slot is the current or the previous one, so a nonce lives
//! between one and two windows and no store is needed. Alone, the key is per process. With
//! `[state] redis` the key is per slot and shared by every replica (`state::NonceKeys`): a nonce
//! is issued under the shared key of its slot when this replica holds it, else under its own,
//! and accepted when either verifies, for the same two slots, so sharing never makes a nonce
//! live longer than one replica's own.

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::sync::Arc;

use crate::state::NonceKeys;

/// 128 bits of tag: forging a nonce is as hard as forging the HMAC.
const TAG_BYTES: usize = 16;

pub struct NonceIssuer {
    key: hmac::Key,
    slot_secs: u64,
    shared: Option<Arc<NonceKeys>>,
}

impl NonceIssuer {
    /// A new random key; slots of `slot_secs` (at least 1).
    pub fn new(slot_secs: u64) -> NonceIssuer {
        let mut secret = [0u8; 32];
        let _ = aws_lc_rs::rand::fill(&mut secret);
        NonceIssuer {
            key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            slot_secs: slot_secs.max(1),
            shared: None,
        }
    }

    /// Also issues and accepts nonces under the replicas' shared keys.
    pub fn shared(mut self, keys: Option<Arc<NonceKeys>>) -> NonceIssuer {
        self.shared = keys;
        self
    }

    /// The nonce to hand out at Unix time `now`: under the slot's shared key when this replica
    /// holds it, else under its own.
    pub fn current(&self, now: u64) -> String {
        let slot = now / self.slot_secs;
        match self.shared.as_ref().and_then(|keys| keys.issuing(slot)) {
            Some(secret) => encode(slot, &hmac::Key::new(hmac::HMAC_SHA256, &secret)),
            None => encode(slot, &self.key),
        }
    }

    /// Whether `nonce` was handed out in this slot or the previous one.
    pub fn accepts(&self, nonce: &str, now: u64) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(nonce) else {
            return false;
        };
        if bytes.len() != 8 + TAG_BYTES {
            return false;
        }
        let (slot_bytes, tag) = bytes.split_at(8);
        let mut slot = [0u8; 8];
        slot.copy_from_slice(slot_bytes);
        let slot = u64::from_be_bytes(slot);
        let current = now / self.slot_secs;
        if slot != current && slot.saturating_add(1) != current {
            return false;
        }
        tagged_by(&self.key, slot, tag)
            || self.shared.as_ref().is_some_and(|keys| {
                keys.any(slot, |secret| {
                    tagged_by(&hmac::Key::new(hmac::HMAC_SHA256, secret), slot, tag)
                })
            })
    }
}

fn encode(slot: u64, key: &hmac::Key) -> String {
    let tag = hmac::sign(key, &slot.to_be_bytes());
    let mut bytes = slot.to_be_bytes().to_vec();
    bytes.extend_from_slice(tag.as_ref().get(..TAG_BYTES).unwrap_or_default());
    URL_SAFE_NO_PAD.encode(bytes)
}

fn tagged_by(key: &hmac::Key, slot: u64, tag: &[u8]) -> bool {
    let expected = hmac::sign(key, &slot.to_be_bytes());
    aws_lc_rs::constant_time::verify_slices_are_equal(
        expected.as_ref().get(..TAG_BYTES).unwrap_or_default(),
        tag,
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_lives_for_its_slot_and_the_next_and_cannot_be_forged() {
        let issuer = NonceIssuer::new(60);
        let nonce = issuer.current(6_000);
        assert!(issuer.accepts(&nonce, 6_000));
        assert!(issuer.accepts(&nonce, 6_119));
        assert!(!issuer.accepts(&nonce, 6_120));
        assert!(!issuer.accepts(&nonce, 5_999));
        assert!(!NonceIssuer::new(60).accepts(&nonce, 6_000));
        assert!(!issuer.accepts("not-a-nonce", 6_000));
        let mut forged = URL_SAFE_NO_PAD.decode(&nonce).unwrap_or_default();
        forged[10] ^= 1;
        assert!(!issuer.accepts(&URL_SAFE_NO_PAD.encode(forged), 6_000));
    }

    #[test]
    fn replicas_sharing_a_slot_key_accept_each_others_nonces_for_the_same_two_slots_only() {
        let keys = Arc::new(NonceKeys::new(60));
        keys.learn(100, [7; 32], 100);
        let a = NonceIssuer::new(60).shared(Some(keys.clone()));
        let b = NonceIssuer::new(60).shared(Some(keys));
        let nonce = a.current(6_000);
        assert!(b.accepts(&nonce, 6_000));
        assert!(b.accepts(&nonce, 6_119));
        assert!(
            !b.accepts(&nonce, 6_120),
            "never longer than one replica's own nonce"
        );
        // A slot without a shared key: each replica's own, accepted by itself only.
        let own = a.current(6_060);
        assert!(a.accepts(&own, 6_060));
        assert!(!b.accepts(&own, 6_060));
    }
}
