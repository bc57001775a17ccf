//! Stage one for the upstream pools: `[upstream]` and each `[upstreams.NAME]` as written, with
//! positions (the same keys in both), and the walk that finds unknown keys inside the named
//! pools (`raw::take_unknown_keys` does `[upstream]` from `raw::KEYS`).

use serde::Deserialize;

use super::raw::{Field, Kind, UnknownKey};

/// One pool's table: `[upstream]` or `[upstreams.NAME]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    pub url: Field,
    pub endpoints: Field,
    pub discover: Field,
    pub scheme: Field,
    pub resolve_every: Field,
    pub dns_server: Field,
    pub balance: Field,
    pub connect_timeout: Field,
    pub request_timeout: Field,
    pub max_in_flight: Field,
    pub assertion_audience: Field,
    #[serde(default)]
    pub eject: RawEject,
    /// Present or not: active checks run only when the table is there.
    pub health: Option<RawHealth>,
    #[serde(default)]
    pub retry: RawRetry,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEject {
    pub consecutive_failures: Field,
    pub base_time: Field,
    pub max_percent: Field,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    pub path: Field,
    pub interval: Field,
    pub timeout: Field,
    pub healthy: Field,
    pub unhealthy: Field,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    pub attempts: Field,
    pub budget: Field,
}

/// The keys of a pool's table, `[upstream]`'s environment overrides among them.
pub const POOL_KEYS: &[(&str, Kind)] = &[
    ("url", Kind::Text),
    ("endpoints", Kind::List),
    ("discover", Kind::Text),
    ("scheme", Kind::Text),
    ("resolve_every", Kind::Text),
    ("dns_server", Kind::Text),
    ("balance", Kind::Text),
    ("connect_timeout", Kind::Text),
    ("request_timeout", Kind::Text),
    ("max_in_flight", Kind::Integer),
    ("assertion_audience", Kind::Text),
];
pub const EJECT_KEYS: &[(&str, Kind)] = &[
    ("consecutive_failures", Kind::Integer),
    ("base_time", Kind::Text),
    ("max_percent", Kind::Integer),
];
pub const HEALTH_KEYS: &[(&str, Kind)] = &[
    ("path", Kind::Text),
    ("interval", Kind::Text),
    ("timeout", Kind::Text),
    ("healthy", Kind::Integer),
    ("unhealthy", Kind::Integer),
];
pub const RETRY_KEYS: &[(&str, Kind)] = &[("attempts", Kind::Integer), ("budget", Kind::Text)];

/// A pool's sub-tables and their keys.
const SUBTABLES: &[(&str, &[(&str, Kind)])] = &[
    ("eject", EJECT_KEYS),
    ("health", HEALTH_KEYS),
    ("retry", RETRY_KEYS),
];

/// Unknown keys inside each `[upstreams.NAME]` table and its sub-tables (a pool name's own
/// validity is checked in stage two).
pub fn unknown_pool_keys(pools: &toml::de::DeTable<'_>, out: &mut Vec<UnknownKey>) {
    let mut known: Vec<&'static str> = POOL_KEYS.iter().map(|(k, _)| *k).collect();
    known.extend(SUBTABLES.iter().map(|(s, _)| *s));
    for (name, pool) in pools {
        let Some(pool) = pool.get_ref().as_table() else {
            continue; // a type error, reported by deserialisation
        };
        let section = format!("upstreams.{}", name.get_ref());
        for (key, value) in pool {
            let key_name = key.get_ref().as_ref();
            let sub = SUBTABLES.iter().find(|(s, _)| *s == key_name);
            match (sub, value.get_ref().as_table()) {
                (Some((sub, keys)), Some(table)) => {
                    let known_sub: Vec<&'static str> = keys.iter().map(|(k, _)| *k).collect();
                    for (inner, _) in table {
                        if !known_sub.contains(&inner.get_ref().as_ref()) {
                            out.push(UnknownKey {
                                span: inner.span(),
                                key: inner.get_ref().to_string(),
                                section: Some(format!("{section}.{sub}")),
                                known: known_sub.clone(),
                            });
                        }
                    }
                }
                (Some(_), None) => {} // a type error, reported by deserialisation
                (None, _) if known.contains(&key_name) => {}
                (None, _) => out.push(UnknownKey {
                    span: key.span(),
                    key: key_name.to_owned(),
                    section: Some(section.clone()),
                    known: known.clone(),
                }),
            }
        }
    }
}
