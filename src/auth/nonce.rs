//! DPoP server nonces (RFC 9449 §8), when `[auth] dpop_nonce = true`.
//!
//! A nonce is stateless: the number of the current time slot (one slot per `dpop_window`) and an
//! HMAC-SHA-256 tag over it under a key drawn at start, base64url. A proof's nonce is accepted
//! when its tag verifies and its slot is the current or the previous one, so a nonce lives
//! between one and two windows and no store is needed. The key is per process: behind several
//! replicas without sticky sessions a client may be asked for a fresh nonce once per replica
//! (the Redis state of issue 18 can share the key).

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// 128 bits of tag: forging a nonce is as hard as forging the HMAC.
const TAG_BYTES: usize = 16;

pub struct NonceIssuer {
    key: hmac::Key,
    slot_secs: u64,
}

impl NonceIssuer {
    /// A new random key; slots of `slot_secs` (at least 1).
    pub fn new(slot_secs: u64) -> NonceIssuer {
        let mut secret = [0u8; 32];
        let _ = aws_lc_rs::rand::fill(&mut secret);
        NonceIssuer {
            key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            slot_secs: slot_secs.max(1),
        }
    }

    /// The nonce to hand out at Unix time `now`.
    pub fn current(&self, now: u64) -> String {
        self.for_slot(now / self.slot_secs)
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
        let expected = hmac::sign(&self.key, &slot.to_be_bytes());
        aws_lc_rs::constant_time::verify_slices_are_equal(
            expected.as_ref().get(..TAG_BYTES).unwrap_or_default(),
            tag,
        )
        .is_ok()
    }

    fn for_slot(&self, slot: u64) -> String {
        let tag = hmac::sign(&self.key, &slot.to_be_bytes());
        let mut bytes = slot.to_be_bytes().to_vec();
        bytes.extend_from_slice(tag.as_ref().get(..TAG_BYTES).unwrap_or_default());
        URL_SAFE_NO_PAD.encode(bytes)
    }
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
}
