//! Rate limits on Redis: GCRA (the generic cell rate algorithm, ITU-T I.371; the algorithm of
//! redis-cell and Envoy's and Kong's Redis limiters), one atomic Lua script per request.
//!
//! A bucket is one key, `gateway:rl:<RateKey digest>`, holding its theoretical arrival time
//! (TAT, microseconds on Redis's clock). A request at `now` is allowed when
//! `max(TAT, now) + T - burst·T <= now` (T = 1 / per_second), and then moves the TAT on by T; a
//! refused one learns how long until it would be allowed. That is exactly the in-process token
//! bucket's answer (`burst` at once, then one per T, `Retry-After` the time to the next token),
//! computed where every replica agrees: the script reads Redis's `TIME`, so replicas with
//! skewed clocks share one limit. The key expires when the bucket would be full again, so idle
//! clients cost nothing. redis-rs sends `EVALSHA` and loads the script on `NOSCRIPT` (a
//! restarted or failed-over Redis).

use std::sync::LazyLock;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::Redis;
use crate::policy::RateLimit;
use crate::state::{Admission, StateError};

pub const PREFIX: &str = "gateway:rl:";

/// KEYS[1] the bucket; ARGV[1] the emission interval T in microseconds, ARGV[2] the burst.
/// Returns 0 (allowed) or the microseconds until the request would be allowed.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then
  tat = now
end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now then
  return allow_at - now
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.floor((new_tat - now) / 1000) + 1)
return 0
";

static SCRIPT: LazyLock<::redis::Script> = LazyLock::new(|| ::redis::Script::new(GCRA));

/// Takes one request from bucket `key` (a `RateKey::digest`).
pub async fn admit(
    redis: &Redis,
    key: [u8; 32],
    limit: RateLimit,
) -> Result<Admission, StateError> {
    let mut name = String::with_capacity(PREFIX.len() + 43);
    name.push_str(PREFIX);
    URL_SAFE_NO_PAD.encode_string(key, &mut name);
    let interval = interval_micros(limit.per_second);
    let burst = limit.burst.max(1);
    let mut connection = redis.connection();
    let run = async move {
        SCRIPT
            .key(name)
            .arg(interval)
            .arg(burst)
            .invoke_async::<u64>(&mut connection)
            .await
    };
    let wait = redis.call("rate_limit", redis.timeout(), run).await?;
    Ok(match wait {
        0 => Admission::Allowed,
        micros => Admission::Limited(Duration::from_micros(micros)),
    })
}

/// The longest emission interval, about 31 years: keeps every number the script handles below
/// 2^53, where Lua's doubles are exact.
const MAX_INTERVAL_MICROS: u64 = 1_000_000_000_000_000;

/// T in whole microseconds, at least 1 (the policy refuses a rate of 0 or below).
fn interval_micros(per_second: f64) -> u64 {
    let micros = (1_000_000.0 / per_second).round();
    if !micros.is_finite() || micros >= MAX_INTERVAL_MICROS as f64 {
        MAX_INTERVAL_MICROS
    } else if micros >= 1.0 {
        micros as u64
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_emission_interval_is_one_over_the_rate_in_microseconds() {
        assert_eq!(interval_micros(2.0), 500_000);
        assert_eq!(interval_micros(1000.0), 1000);
        assert_eq!(interval_micros(1e9), 1);
        assert_eq!(interval_micros(0.0), MAX_INTERVAL_MICROS);
        assert_eq!(interval_micros(1e-300), MAX_INTERVAL_MICROS);
    }
}
