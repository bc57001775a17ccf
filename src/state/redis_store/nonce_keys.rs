//! The shared DPoP nonce keys on Redis (`state::nonce_keys`): one key per time slot at
//! `gateway:dpop-nonce-key:<slot>`, created by whichever replica asks first.
//!
//! A background task, every `DPOP_NONCE_KEY_REFRESH` while Redis is up, runs one script per
//! slot for the current and the next slot: it returns the stored key, or stores the replica's
//! candidate (set only if absent, expiring four slots later, when no nonce of that slot can be
//! accepted any more) and returns it. The candidate is the key this replica already uses for
//! that slot when it has one, else a fresh random one: after a Redis restart (which loses the
//! keys) the first replica to ask puts back the key every replica already agreed on, so
//! nonces handed out before the restart stay good at every replica.

use std::sync::{Arc, LazyLock, Weak};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::Redis;
use crate::constants::DPOP_NONCE_KEY_REFRESH;
use crate::state::nonce_keys::{NonceKey, NonceKeys};
use crate::state::{StateError, replay::unix_now};

pub const PREFIX: &str = "gateway:dpop-nonce-key:";

/// KEYS[1] the slot's key; ARGV[1] the candidate (base64url), ARGV[2] its expiry in seconds.
const GET_OR_SET: &str = r"
local stored = redis.call('GET', KEYS[1])
if stored then
  return stored
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return ARGV[1]
";

static SCRIPT: LazyLock<::redis::Script> = LazyLock::new(|| ::redis::Script::new(GET_OR_SET));

/// The key Redis holds for `slot`, storing `candidate` if it holds none.
async fn get_or_set(
    redis: &Redis,
    slot: u64,
    candidate: NonceKey,
    slot_secs: u64,
) -> Result<Option<NonceKey>, StateError> {
    let mut connection = redis.connection();
    let name = format!("{PREFIX}{slot}");
    let ttl = slot_secs.saturating_mul(4);
    let run = async move {
        SCRIPT
            .key(name)
            .arg(URL_SAFE_NO_PAD.encode(candidate))
            .arg(ttl)
            .invoke_async::<String>(&mut connection)
            .await
    };
    let stored = redis
        .call(
            "nonce_key",
            redis.timeout().max(DPOP_NONCE_KEY_REFRESH / 2),
            run,
        )
        .await?;
    // Anything but 32 bytes (a value written by something else) is no key: this replica
    // keeps issuing under its own key for that slot.
    Ok(URL_SAFE_NO_PAD
        .decode(stored.as_bytes())
        .ok()
        .and_then(|bytes| NonceKey::try_from(bytes.as_slice()).ok()))
}

/// One round: the current and the next slot's key into `keys`.
pub async fn refresh(redis: &Redis, keys: &NonceKeys) {
    let current = unix_now() / keys.slot_secs();
    for slot in [current, current.saturating_add(1)] {
        let candidate = keys.issuing(slot).unwrap_or_else(random_key);
        match get_or_set(redis, slot, candidate, keys.slot_secs()).await {
            Ok(Some(key)) => keys.learn(slot, key, current),
            Ok(None) => {}
            // Counted and logged (once per outage) by `Redis::call`.
            Err(_) => return,
        }
    }
}

/// Keeps `keys` fresh while the gateway runs (ends when either is dropped). While Redis is down
/// it waits for the probe to bring it back rather than adding errors of its own.
pub async fn keep_fresh(redis: Weak<Redis>, keys: Weak<NonceKeys>) {
    loop {
        {
            let (Some(redis), Some(keys)) = (redis.upgrade(), keys.upgrade()) else {
                return;
            };
            if !redis.is_down() {
                refresh(&redis, &keys).await;
            }
        }
        tokio::time::sleep(DPOP_NONCE_KEY_REFRESH).await;
    }
}

/// Starts `keep_fresh` for a new keyring of `slot_secs` slots.
pub fn start(redis: &Arc<Redis>, slot_secs: u64) -> Arc<NonceKeys> {
    let keys = Arc::new(NonceKeys::new(slot_secs));
    tokio::spawn(keep_fresh(Arc::downgrade(redis), Arc::downgrade(&keys)));
    keys
}

fn random_key() -> NonceKey {
    let mut key = [0u8; 32];
    let _ = aws_lc_rs::rand::fill(&mut key);
    key
}
