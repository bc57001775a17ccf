//! Stage two for `[state]`: the Redis URL (checked, kept secret; the Redis client's own reading
//! is `state`'s check, deferred to `load`), `on_error`, `timeout`.
//! Kept beside the checker like the binding keys, so its main file stays one screen per section.

use super::{Checker, Value};
use crate::config::StateConfig;
use crate::config::{Declared, OnError, RedisUrl};
use crate::constants as C;
use crate::diagnostic::did_you_mean;

/// The raw values, after environment overrides (`GATEWAY_STATE_REDIS` carries a URL with its
/// password, so a secret store can supply it instead of the file).
pub(super) struct Fields {
    pub(super) redis: Option<Value>,
    pub(super) on_error: Option<Value>,
    pub(super) timeout: Option<Value>,
}

impl Checker<'_> {
    pub(super) fn state(&mut self, fields: Fields) -> StateConfig {
        let redis = fields.redis.and_then(|v| {
            let text = self.text(&v, "state.redis")?;
            if text.trim().is_empty() {
                // An empty override (GATEWAY_STATE_REDIS="") means "no Redis", as absent does.
                return None;
            }
            let url = RedisUrl::parse(text.trim())
                .inspect_err(|e| self.at(&v, "state.redis", e))
                .ok()?;
            self.deferred.redis = Some(Declared {
                value: url.clone(),
                at: self.spot(&v, "state.redis"),
            });
            Some(url)
        });
        let on_error = fields.on_error.and_then(|v| {
            let name = self.text(&v, "state.on_error")?;
            let parsed = OnError::parse(&name);
            if parsed.is_none() {
                let hint = did_you_mean(&name, OnError::NAMES.iter().copied());
                self.at(
                    &v,
                    "state.on_error",
                    format!(
                        "`{name}` is not a choice{hint}; use \"local\" (per-replica state while Redis is unreachable) or \"deny\" (503 for requests that need it)"
                    ),
                );
            }
            parsed
        });
        let timeout = match fields.timeout {
            Some(v) => {
                let timeout = self.duration(Some(v.clone()), "state.timeout", C::STATE_TIMEOUT);
                if timeout.is_zero() {
                    self.at(
                        &v,
                        "state.timeout",
                        "must be more than 0 (every Redis call would fail); the default is \"50ms\"",
                    );
                    C::STATE_TIMEOUT
                } else {
                    timeout
                }
            }
            None => C::STATE_TIMEOUT,
        };
        StateConfig {
            redis,
            on_error: on_error.unwrap_or(OnError::Local),
            timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use crate::config::Config;
    use crate::config::OnError;

    fn load(state: &str, env: &[(&str, &str)]) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.yaml"), "routes: []\n").unwrap();
        let src = format!(
            "[upstream]\nurl = \"http://127.0.0.1:8000\"\n[auth]\nissuer = \"https://t.auth0.com/\"\naudience = \"https://clientco/api\"\n[policy]\nfile = \"p.yaml\"\n[state]\n{state}\n"
        );
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        crate::load::from_toml_str(&src, &dir.path().join("gateway.toml"), &|name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
        .map_err(|d| d.to_string())
    }

    #[test]
    fn without_redis_state_is_in_process_with_the_documented_defaults() {
        let state = load("", &[]).unwrap().state;
        assert_eq!(state.redis, None);
        assert_eq!(state.on_error, OnError::Local);
        assert_eq!(state.timeout, Duration::from_millis(50));
    }

    #[test]
    fn redis_on_error_and_timeout_are_read_from_the_file_or_the_environment() {
        let state = load(
            "redis = \"redis://127.0.0.1:6379/0\"\non_error = \"deny\"\ntimeout = \"20ms\"",
            &[],
        )
        .unwrap()
        .state;
        assert_eq!(state.redis.unwrap().to_string(), "redis://127.0.0.1:6379/0");
        assert_eq!(state.on_error, OnError::Deny);
        assert_eq!(state.timeout, Duration::from_millis(20));
        let state = load(
            "redis = \"redis://127.0.0.1:6379/0\"",
            &[(
                "GATEWAY_STATE_REDIS",
                "rediss://gw:s3cret@redis.internal:6380/1",
            )],
        )
        .unwrap()
        .state;
        let url = state.redis.clone().unwrap();
        assert_eq!(url.secret(), "rediss://gw:s3cret@redis.internal:6380/1");
        assert_eq!(url.to_string(), "rediss://gw:***@redis.internal:6380/1");
        assert!(!format!("{state:?}").contains("s3cret"));
    }

    #[test]
    fn bad_values_are_named_with_a_fix_and_never_echo_the_password() {
        let error = load(
            "redis = \"http://:s3cret@redis:6379\"\non_error = \"locale\"\ntimeout = \"0s\"",
            &[],
        )
        .unwrap_err();
        assert!(
            error.contains(
                "`state.redis`: `http://:***@redis:6379`: the scheme `http` is not supported"
            ),
            "{error}"
        );
        assert!(
            error.contains("`locale` is not a choice; did you mean `local`?"),
            "{error}"
        );
        assert!(
            error.contains("`state.timeout`: must be more than 0"),
            "{error}"
        );
        assert!(!error.contains("s3cret"), "{error}");
        let error = load(
            "",
            &[("GATEWAY_STATE_REDIS", "redis://:s3cret@redis:port/0")],
        )
        .unwrap_err();
        assert!(
            error.contains("environment variable GATEWAY_STATE_REDIS"),
            "{error}"
        );
        assert!(!error.contains("s3cret"), "{error}");
        let error = load("timeout = 50", &[]).unwrap_err();
        assert!(error.contains("write `timeout = \"50s\"`"), "{error}");
        let error = load("redis_url = \"redis://x\"", &[]).unwrap_err();
        assert!(
            error.contains("unknown key `redis_url` in [state]"),
            "{error}"
        );
    }
}
