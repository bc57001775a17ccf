//! `[auth.issuers.NAME]`: loading, the checks across issuers, and their overrides.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use crate::config::Config;
use crate::config::env::unknown_overrides;

const HEAD: &str = r#"
[upstream]
url = "http://127.0.0.1:8000"

[policy]
file = "p.yaml"
"#;

const TWO: &str = r#"
[auth.issuers.prod]
issuer = "https://saasco.eu.auth0.com/"
audience = ["https://clientco/api", "https://clientco/admin"]

[auth.issuers.custom_domain]
issuer = "https://login.saasco.com/"
audience = "https://clientco/api"
jwks_url = "https://saasco.eu.auth0.com/.well-known/jwks.json"
leeway = "5s"
ready_gate = false
"#;

fn load(auth: &str, env: &[(&str, &str)]) -> Result<Config, Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.yaml"), "routes: []\n").unwrap();
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let path = dir.path().join("gateway.toml");
    let source = format!("{HEAD}{auth}");
    Config::from_toml_str(&source, &path, &|k| env.get(k).cloned()).map_err(|d| {
        d.0.iter()
            .map(|d| {
                d.to_string()
                    .replace(&format!("{}", path.display()), "gateway.toml")
            })
            .collect()
    })
}

/// Line 1 of the `[auth...]` text is line 7 of the file.
const AUTH_LINE: usize = 7;

#[test]
fn issuer_tables_load_in_name_order_with_their_own_settings() {
    let c = load(TWO, &[]).unwrap();
    let names: Vec<&str> = c.auth.issuers.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["custom_domain", "prod"]);
    let prod = c.auth.issuer("prod").unwrap();
    assert_eq!(
        prod.audiences,
        ["https://clientco/api", "https://clientco/admin"]
    );
    assert_eq!(
        prod.jwks_url,
        "https://saasco.eu.auth0.com/.well-known/jwks.json"
    );
    assert_eq!(prod.leeway, Duration::from_secs(30));
    assert!(prod.ready_gate);
    let custom = c.auth.issuer("custom_domain").unwrap();
    assert_eq!(custom.issuer, "https://login.saasco.com/");
    assert_eq!(custom.audiences, ["https://clientco/api"]);
    assert_eq!(custom.leeway, Duration::from_secs(5));
    assert!(!custom.ready_gate);
}

#[test]
fn the_first_round_form_is_one_issuer_named_default() {
    let c = load(
        "[auth]\nissuer = \"https://t.auth0.com/\"\naudience = \"https://clientco/api\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(c.auth.issuers.len(), 1);
    assert_eq!(c.auth.issuers[0].name, "default");
    assert!(c.auth.issuers[0].ready_gate);
}

#[test]
fn both_forms_together_is_a_load_error_at_the_first_round_keys() {
    let src = format!("[auth]\nissuer = \"https://t.auth0.com/\"\nleeway = \"5s\"\n{TWO}");
    let errs = load(&src, &[]).unwrap_err();
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(
        errs[0].starts_with(&format!(
            "gateway.toml:{}:10: `auth.issuer`: `[auth] issuer` and `[auth.issuers.*]` together",
            AUTH_LINE + 1
        )),
        "{errs:#?}"
    );
    assert!(
        errs[1].contains("`auth.leeway`: with `[auth.issuers.*]`, `leeway` belongs to one issuer"),
        "{errs:#?}"
    );
    // The same through the environment.
    let errs = load(TWO, &[("GATEWAY_AUTH_ISSUER", "https://t.auth0.com/")]).unwrap_err();
    assert!(
        errs[0].contains("environment variable GATEWAY_AUTH_ISSUER (overrides `auth.issuer`): `[auth] issuer` and `[auth.issuers.*]` together"),
        "{errs:#?}"
    );
}

#[test]
fn names_must_be_lower_case_identifiers_and_not_reserved_labels() {
    let src = "[auth.issuers.Prod]\nissuer = \"https://a/\"\naudience = \"x\"\n\
               [auth.issuers.unknown]\nissuer = \"https://b/\"\naudience = \"x\"\n";
    let errs = load(src, &[]).unwrap_err();
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(
        errs[0].starts_with(&format!(
            "gateway.toml:{AUTH_LINE}:15: issuer name `Prod`: names are lower-case letters"
        )),
        "{errs:#?}"
    );
    assert!(
        errs[1].contains("issuer name `unknown` is reserved"),
        "{errs:#?}"
    );
}

#[test]
fn two_issuers_with_the_same_iss_are_a_load_error() {
    let src = TWO.replace("https://login.saasco.com/", "https://saasco.eu.auth0.com/");
    let errs = load(&src, &[]).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].contains("`auth.issuers.prod.issuer`: `https://saasco.eu.auth0.com/` is already the issuer of [auth.issuers.custom_domain]"),
        "{errs:#?}"
    );
}

#[test]
fn unknown_and_missing_keys_in_an_issuer_table_are_reported_with_positions() {
    let src = "[auth.issuers.prod]\nissuer = \"https://a/\"\naudiance = \"x\"\n\
               [auth.issuers.staging]\njwks_url = \"https://b/jwks\"\n";
    let errs = load(src, &[]).unwrap_err();
    // The unknown key is cut out and everything else checked in the same run: the typo, and
    // the keys each table still lacks (prod's audience, staging's issuer and audience).
    assert_eq!(errs.len(), 4, "every problem in one run: {errs:#?}");
    assert!(
        errs[1].starts_with(&format!(
            "gateway.toml:{}:1: unknown key `audiance` in [auth.issuers.prod]; did you mean `audience`?",
            AUTH_LINE + 2
        )),
        "{errs:#?}"
    );
    let src = src.replace("audiance", "audience");
    let errs = load(&src, &[]).unwrap_err();
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(
        errs.iter()
            .all(|e| e.starts_with(&format!("gateway.toml:{}:15:", AUTH_LINE + 3))),
        "{errs:#?}"
    );
    assert!(
        errs[0].contains("`issuer` is missing from [auth.issuers.staging]; add `issuer = \"https://YOUR_TENANT.auth0.com/\"` or set GATEWAY_AUTH_ISSUERS_STAGING_ISSUER"),
        "{errs:#?}"
    );
    assert!(
        errs[1].contains("`audience` is missing from [auth.issuers.staging]"),
        "{errs:#?}"
    );
    let errs = load(
        "[auth.issuers.prod]\nissuer = \"https://a/\"\naudience = []\n",
        &[],
    )
    .unwrap_err();
    assert!(
        errs[0].contains("an empty list would refuse every token"),
        "{errs:#?}"
    );
    let errs = load("[auth.issuers]\n", &[]).unwrap_err();
    assert!(
        errs[0].contains("`[auth.issuers]` names no issuer"),
        "{errs:#?}"
    );
}

#[test]
fn issuer_overrides_are_typed_and_name_the_issuer_and_key() {
    let c = load(
        TWO,
        &[
            (
                "GATEWAY_AUTH_ISSUERS_CUSTOM_DOMAIN_JWKS_URL",
                "https://login.saasco.com/.well-known/jwks.json",
            ),
            ("GATEWAY_AUTH_ISSUERS_CUSTOM_DOMAIN_READY_GATE", "true"),
            ("GATEWAY_AUTH_ISSUERS_PROD_ALGORITHMS", "RS256, PS256"),
            ("GATEWAY_AUTH_ISSUERS_PROD_AUDIENCE", "https://other/api"),
        ],
    )
    .unwrap();
    let custom = c.auth.issuer("custom_domain").unwrap();
    assert_eq!(
        custom.jwks_url,
        "https://login.saasco.com/.well-known/jwks.json"
    );
    assert!(custom.ready_gate);
    let prod = c.auth.issuer("prod").unwrap();
    assert_eq!(prod.algorithms.len(), 2);
    assert_eq!(prod.audiences, ["https://other/api"]);
    let c = load(
        TWO,
        &[("GATEWAY_AUTH_ISSUERS_PROD_AUDIENCE", r#"["a", "b"]"#)],
    )
    .unwrap();
    assert_eq!(c.auth.issuer("prod").unwrap().audiences, ["a", "b"]);

    let errs = load(TWO, &[("GATEWAY_AUTH_ISSUERS_PROD_READY_GATE", "maybe")]).unwrap_err();
    assert_eq!(
        errs,
        [
            "gateway.toml: environment variable GATEWAY_AUTH_ISSUERS_PROD_READY_GATE (overrides `auth.issuers.prod.ready_gate`): `maybe` is not a boolean; use true or false"
        ]
    );
}

#[test]
fn an_override_for_an_issuer_the_file_does_not_declare_is_an_error() {
    let issuers = ["prod".to_owned(), "custom_domain".to_owned()];
    let path = std::path::Path::new("gateway.toml");
    let known = unknown_overrides(
        path,
        [
            "GATEWAY_AUTH_ISSUERS_CUSTOM_DOMAIN_JWKS_URL",
            "GATEWAY_AUTH_LEEWAY",
        ]
        .into_iter(),
        &issuers,
    );
    assert!(known.0.is_empty(), "{known}");
    let unknown = unknown_overrides(
        path,
        [
            "GATEWAY_AUTH_ISSUERS_STAGING_ISSUER",
            "GATEWAY_AUTH_ISSUERS_PROD_JWKS_ULR",
        ]
        .into_iter(),
        &issuers,
    );
    assert_eq!(unknown.0.len(), 2, "{unknown}");
    assert!(
        unknown.0[0]
            .message
            .contains("for an issuer the file declares as [auth.issuers.NAME]"),
        "{unknown}"
    );
    assert!(
        unknown.0[1]
            .message
            .contains("did you mean `GATEWAY_AUTH_ISSUERS_PROD_JWKS_URL`?"),
        "{unknown}"
    );
}
