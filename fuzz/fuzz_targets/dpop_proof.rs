//! DPoP proof parsing and checking on arbitrary input, through `gateway::auth::dpop` (the data
//! plane's proof checks, RFC 9449 §4.3).
//!
//! The first byte picks a mode:
//! - even: the rest is the `DPoP` header value. Invariant: `parse` never panics; a proof it
//!   accepts has a thumbprint, and `check` and `normalise_htu` on its claims never panic.
//! - odd: the rest is the proof's claims (any bytes; JSON or not); the harness signs them with
//!   an ES256 key generated when the fuzzer starts, with a well-formed header. Invariant: never
//!   panics, and an accepted proof's `jkt` is that key's thumbprint and its claims have the
//!   types the checks rely on (non-empty `jti`, `htm`, `htu`).
#![no_main]

use std::sync::OnceLock;

use gateway::auth::dpop::{self, Expected};
use gateway::constants::DPOP_ALGORITHMS;
use gateway::dev::dpop::{DpopAlg, DpopKey};
use libfuzzer_sys::fuzz_target;

fn key() -> &'static DpopKey {
    static KEY: OnceLock<DpopKey> = OnceLock::new();
    KEY.get_or_init(|| DpopKey::generate(DpopAlg::Es256).expect("ES256 key"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let proof = if mode % 2 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        let Ok(claims) = serde_json::from_slice::<serde_json::Value>(rest) else {
            return;
        };
        key().sign(&key().header(), &claims)
    };
    let Ok(parsed) = dpop::parse(&proof, DPOP_ALGORITHMS) else {
        return;
    };
    assert!(!parsed.jkt.is_empty());
    assert!(!parsed.jti.is_empty() && !parsed.htm.is_empty() && !parsed.htu.is_empty());
    if mode % 2 == 1 {
        assert_eq!(parsed.jkt, key().jkt(), "accepted a proof under another key");
    }
    let htu = dpop::normalise_htu(&parsed.htu);
    let _ = dpop::check(
        &parsed,
        &Expected {
            method: "GET",
            htu: htu.as_deref(),
            access_token: Some("a.b.c"),
            now: 1_700_000_000,
            window_secs: 60,
            leeway_secs: 30,
        },
    );
});
