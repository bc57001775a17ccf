//! The DPoP replay store on Redis: `SET gateway:dpop:<key> 1 NX EXAT <expires_at>`, one atomic
//! command per proof. `OK` means the key was new; a nil reply means some replica (this one or
//! another) remembered it already: a replay (RFC 9449 §11.1). Redis expires the key when the
//! proof can no longer be accepted, so the store holds only live proofs and never grows without
//! bound; Redis's `maxmemory` is the capacity (an `OOM` reply is an error, never an eviction of
//! a `jti` early, provided `maxmemory-policy` is `noeviction` or `volatile-ttl`, see
//! docs/deploy/replicas.md).

use std::fmt::Write as _;

use super::Redis;
use crate::state::{Seen, StateError};

pub const PREFIX: &str = "gateway:dpop:";

/// Remembers `key` until `expires_at` (Unix seconds) across every replica.
pub async fn remember(redis: &Redis, key: [u8; 32], expires_at: u64) -> Result<Seen, StateError> {
    let mut name = String::with_capacity(PREFIX.len() + 64);
    name.push_str(PREFIX);
    for byte in key {
        let _ = write!(name, "{byte:02x}");
    }
    let mut connection = redis.connection();
    let set = async move {
        ::redis::cmd("SET")
            .arg(name)
            .arg(1)
            .arg("NX")
            .arg("EXAT")
            .arg(expires_at)
            .query_async::<Option<String>>(&mut connection)
            .await
    };
    let reply = redis.call("replay", redis.timeout(), set).await?;
    Ok(match reply {
        Some(_) => Seen::New,
        None => Seen::Replayed,
    })
}
