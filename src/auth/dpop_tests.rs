#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::constants::DPOP_ALGORITHMS;
use crate::dev::dpop::{DpopAlg, DpopKey};

const HTU: &str = "https://api.saasco.example/forecast";
const TOKEN: &str = "header.payload.signature";

fn key() -> DpopKey {
    DpopKey::generate(DpopAlg::Es256).unwrap()
}

fn expected(now: u64) -> Expected<'static> {
    Expected {
        method: "GET",
        htu: Some(HTU),
        access_token: Some(TOKEN),
        now,
        window_secs: 60,
        leeway_secs: 5,
    }
}

fn now() -> u64 {
    crate::auth::jwks::unix_now()
}

fn claims(key_iat: u64) -> serde_json::Value {
    json!({"jti": "j1", "htm": "GET", "htu": HTU, "iat": key_iat, "ath": access_token_hash(TOKEN)})
}

#[test]
fn every_algorithm_of_the_default_list_verifies_and_the_thumbprint_is_the_keys() {
    for alg in [
        DpopAlg::Es256,
        DpopAlg::EdDsa,
        DpopAlg::Rs256,
        DpopAlg::Ps256,
    ] {
        let key = DpopKey::generate(alg).unwrap();
        let proof = key.proof("GET", HTU, Some(TOKEN), None);
        let parsed = parse(&proof, DPOP_ALGORITHMS).unwrap();
        assert_eq!(parsed.jkt, key.jkt(), "{alg:?}");
        check(&parsed, &expected(now())).unwrap();
    }
}

/// RFC 7638 §3.1's example key and its published thumbprint.
#[test]
fn thumbprint_matches_rfc_7638_example() {
    let jwk = json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    });
    assert_eq!(
        thumbprint(jwk.as_object().unwrap()).unwrap(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

#[test]
fn header_rules_refuse_wrong_typ_alg_and_private_or_missing_keys() {
    let key = key();
    let now = now();
    let sign = |header: serde_json::Value| key.sign(&header, &claims(now));
    let reason = |proof: &str| parse(proof, DPOP_ALGORITHMS).unwrap_err().to_string();
    let mut jwt = key.header();
    jwt["typ"] = json!("JWT");
    assert!(reason(&sign(jwt)).contains("typ is JWT"));
    let mut untyped = key.header();
    untyped.as_object_mut().unwrap().remove("typ");
    assert!(reason(&sign(untyped)).contains("no typ"));
    let mut hmac = key.header();
    hmac["alg"] = json!("HS256");
    assert!(reason(&sign(hmac)).contains("alg HS256 is not one of"));
    let mut none = key.header();
    none["alg"] = json!("none");
    assert!(reason(&sign(none)).contains("alg none"));
    let mut private = key.header();
    private["jwk"]["d"] = json!("c2VjcmV0");
    assert!(reason(&sign(private)).contains("private member d"));
    let mut keyless = key.header();
    keyless.as_object_mut().unwrap().remove("jwk");
    assert!(reason(&sign(keyless)).contains("no jwk"));
    let mut mismatched = key.header();
    mismatched["alg"] = json!("RS256");
    assert!(reason(&sign(mismatched)).contains("does not match"));
    // An allow-list without ES256 refuses an ES256 proof.
    let proof = key.proof("GET", HTU, Some(TOKEN), None);
    assert!(
        parse(&proof, &[Algorithm::EdDSA])
            .unwrap_err()
            .to_string()
            .contains("not one of the accepted EdDSA")
    );
}

#[test]
fn a_signature_by_another_key_or_a_tampered_payload_does_not_verify() {
    let key = key();
    let other = DpopKey::generate(DpopAlg::Es256).unwrap();
    let now = now();
    let forged = other.sign(&key.header(), &claims(now));
    assert!(
        parse(&forged, DPOP_ALGORITHMS)
            .unwrap_err()
            .to_string()
            .contains("signature does not verify")
    );
    let proof = key.sign(&key.header(), &claims(now));
    let mut parts: Vec<&str> = proof.split('.').collect();
    let swapped = URL_SAFE_NO_PAD.encode(claims(now + 1).to_string());
    parts[1] = &swapped;
    assert!(parse(&parts.join("."), DPOP_ALGORITHMS).is_err());
}

#[test]
fn request_checks_htm_htu_iat_and_ath() {
    let key = key();
    let now = now();
    let with = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut c = claims(now);
        change(&mut c);
        let proof = parse(&key.sign(&key.header(), &c), DPOP_ALGORITHMS).unwrap();
        check(&proof, &expected(now)).map_err(|e| e.to_string())
    };
    assert_eq!(with(&|_| {}), Ok(()));
    assert!(
        with(&|c| c["htm"] = json!("POST"))
            .unwrap_err()
            .contains("htm POST")
    );
    assert!(with(&|c| c["htm"] = json!("get")).is_err());
    assert!(
        with(&|c| c["htu"] = json!("https://evil.example/forecast"))
            .unwrap_err()
            .contains("htu")
    );
    assert!(with(&|c| c["htu"] = json!("https://api.saasco.example/inventory")).is_err());
    // RFC 3986 §6.2.2-6.2.3 equivalents, query and fragment ignored.
    for same in [
        "HTTPS://API.saasco.example:443/forecast",
        "https://api.saasco.example/forecast?x=1#top",
        "https://api.saasco.example//./forecast",
        "https://api.saasco.example/%66orecast",
    ] {
        assert_eq!(with(&|c| c["htu"] = json!(same)), Ok(()), "{same}");
    }
    assert!(
        with(&|c| c["iat"] = json!(now - 61))
            .unwrap_err()
            .contains("61 s old")
    );
    assert_eq!(with(&|c| c["iat"] = json!(now - 60)), Ok(()));
    assert_eq!(with(&|c| c["iat"] = json!(now + 5)), Ok(()));
    assert!(
        with(&|c| c["iat"] = json!(now + 6))
            .unwrap_err()
            .contains("future")
    );
    assert!(
        with(&|c| c["ath"] = json!(access_token_hash("another")))
            .unwrap_err()
            .contains("ath")
    );
    assert!(
        with(&|c| {
            c.as_object_mut().unwrap().remove("ath");
        })
        .unwrap_err()
        .contains("no ath")
    );
}

#[test]
fn claims_must_have_their_types() {
    let key = key();
    let now = now();
    for (name, value) in [
        ("jti", json!(7)),
        ("jti", json!("")),
        ("htm", json!(null)),
        ("htu", json!(["x"])),
        ("iat", json!("now")),
        ("ath", json!(1)),
        ("nonce", json!({})),
        ("jti", json!("x".repeat(300))),
    ] {
        let mut c = claims(now);
        c[name] = value;
        assert!(
            parse(&key.sign(&key.header(), &c), DPOP_ALGORITHMS).is_err(),
            "{name}"
        );
    }
}

#[test]
fn htu_normalisation_refuses_what_is_not_an_http_uri() {
    for bad in [
        "",
        "/forecast",
        "ftp://a/b",
        "https://user@a/b",
        "https://a:99999/b",
        "https:///b",
        "https://a/../b",
    ] {
        assert_eq!(normalise_htu(bad), None, "{bad}");
    }
    assert_eq!(normalise_htu("http://A:80").as_deref(), Some("http://a/"));
    assert_eq!(
        normalise_htu("http://[::1]:8080/x").as_deref(),
        Some("http://[::1]:8080/x")
    );
}

proptest! {
    /// Attacker input never panics the proof parser.
    #[test]
    fn parse_never_panics(proof in "\\PC{0,400}") {
        let _ = parse(&proof, DPOP_ALGORITHMS);
    }

    #[test]
    fn parse_never_panics_on_json_segments(
        header in "[{}\\[\\]\":,a-z0-9+ ]{0,80}",
        payload in "[{}\\[\\]\":,a-z0-9 ]{0,60}",
    ) {
        let proof = format!("{}.{}.c2ln", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
        let _ = parse(&proof, DPOP_ALGORITHMS);
    }

    #[test]
    fn htu_normalisation_never_panics(uri in "\\PC{0,80}") {
        let _ = normalise_htu(&uri);
    }
}
