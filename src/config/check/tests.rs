#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use crate::config::Config;

/// A folder with a policy file, so `policy.file` resolves.
fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    std::fs::write(dir.path().join("policies/p.yaml"), "routes: []\n").unwrap();
    dir
}

const MINIMAL: &str = r#"
[upstream]
url = "http://127.0.0.1:8000"

[auth]
issuer = "https://tenant.auth0.com/"
audience = "https://clientco/api"

[policy]
file = "policies/p.yaml"
"#;

fn load(src: &str, env: &[(&str, &str)]) -> Result<Config, Vec<String>> {
    let dir = folder();
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let path = dir.path().join("gateway.toml");
    Config::from_toml_str(src, &path, &|k| env.get(k).cloned()).map_err(|d| {
        d.0.iter()
            .map(|d| {
                d.to_string()
                    .replace(&format!("{}", path.display()), "gateway.toml")
            })
            .collect()
    })
}

#[test]
fn defaults_are_applied() {
    let c = load(MINIMAL, &[]).unwrap();
    assert_eq!(c.server.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(c.admin.listen.to_string(), "127.0.0.1:9901");
    assert_eq!(c.server.workers, None);
    assert_eq!(c.server.header_read_timeout, Duration::from_secs(10));
    assert_eq!(c.server.max_header_bytes, 64 * 1024);
    assert_eq!(c.server.idle_timeout, Duration::from_secs(60));
    assert_eq!(c.server.max_connections, 10_000);
    assert_eq!(c.server.drain_timeout, Duration::from_secs(30));
    let upstream = c.upstream.as_ref().unwrap();
    assert_eq!(upstream.connect_timeout, Duration::from_secs(2));
    assert_eq!(upstream.request_timeout, Duration::from_secs(30));
    assert_eq!(
        c.auth.issuers[0].jwks_url,
        "https://tenant.auth0.com/.well-known/jwks.json"
    );
    assert_eq!(
        c.auth.issuers[0].algorithms,
        vec![jsonwebtoken::Algorithm::RS256]
    );
    assert_eq!(c.auth.issuers[0].leeway, Duration::from_secs(30));
    assert_eq!(c.auth.issuers[0].jwks_refresh, Duration::from_secs(600));
    assert_eq!(c.auth.issuers[0].jwks_cooldown, Duration::from_secs(30));
    assert!(!c.auth.forward_token);
    assert_eq!(c.auth.token_cookie, None);
    assert_eq!(c.auth.max_token_bytes, 8 * 1024);
    assert_eq!(c.auth.cache_max_entries, 100_000);
    assert!(c.policy.file.ends_with("policies/p.yaml"));
    assert!(c.policy.file.is_absolute());
}

#[test]
fn issuer_without_trailing_slash_joins_with_slash() {
    let c = load(&MINIMAL.replace("auth0.com/\"", "auth0.com\""), &[]).unwrap();
    assert_eq!(
        c.auth.issuers[0].jwks_url,
        "https://tenant.auth0.com/.well-known/jwks.json"
    );
}

#[test]
fn environment_overrides_win_and_are_typed() {
    let c = load(
        MINIMAL,
        &[
            ("GATEWAY_AUTH_AUDIENCE", "https://other/api"),
            ("GATEWAY_SERVER_LISTEN", "127.0.0.1:9000"),
            ("GATEWAY_UPSTREAM_URL", "https://backend.internal"),
            ("GATEWAY_AUTH_FORWARD_TOKEN", "true"),
            ("GATEWAY_AUTH_ALGORITHMS", "RS256, PS256"),
            ("GATEWAY_SERVER_WORKERS", "3"),
            ("GATEWAY_AUTH_LEEWAY", "5s"),
        ],
    )
    .unwrap();
    assert_eq!(c.auth.issuers[0].audiences, ["https://other/api"]);
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:9000");
    assert_eq!(
        c.upstream.as_ref().unwrap().urls()[0].host(),
        Some("backend.internal")
    );
    assert!(c.auth.forward_token);
    assert_eq!(
        c.auth.issuers[0].algorithms,
        vec![
            jsonwebtoken::Algorithm::RS256,
            jsonwebtoken::Algorithm::PS256
        ]
    );
    assert_eq!(c.server.workers, Some(3));
    assert_eq!(c.auth.issuers[0].leeway, Duration::from_secs(5));
    let c = load(MINIMAL, &[("GATEWAY_AUTH_ALGORITHMS", r#"["ES256"]"#)]).unwrap();
    assert_eq!(
        c.auth.issuers[0].algorithms,
        vec![jsonwebtoken::Algorithm::ES256]
    );
}

#[test]
fn a_bad_override_names_the_variable() {
    let errs = load(MINIMAL, &[("GATEWAY_AUTH_FORWARD_TOKEN", "maybe")]).unwrap_err();
    assert_eq!(
        errs,
        vec![
            "gateway.toml: environment variable GATEWAY_AUTH_FORWARD_TOKEN (overrides `auth.forward_token`): `maybe` is not a boolean; use true or false"
        ]
    );
}

#[test]
fn every_unknown_key_is_reported_with_a_suggestion() {
    let src = MINIMAL.replace("[auth]\n", "[auth]\naudiance = \"x\"\n") + "\n[polcy]\n";
    let errs = load(&src, &[]).unwrap_err();
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs[0].starts_with(
            "gateway.toml:6:1: unknown key `audiance` in [auth]; did you mean `audience`?"
        ),
        "{errs:?}"
    );
    assert!(
        errs[1].starts_with(
            "gateway.toml:13:2: unknown key `polcy` at the top level; did you mean `policy`?"
        ),
        "{errs:?}"
    );
}

#[test]
fn all_value_problems_are_collected() {
    let src = r#"
[server]
listen = "localhost:80"
tls_cert = "missing.pem"
header_read_timeout = "10"

[upstream]
url = "ftp://x"

[auth]
issuer = ""
audience = "a"
algorithms = ["RS256", "HS256", "none", "RS257"]
max_token_bytes = "8 KB please"

[policy]
file = "nope.yaml"

[forward.claims]
"https://saasco/tenant" = "X-Tenant"
"#;
    let errs = load(src, &[]).unwrap_err();
    let expect = [
        "gateway.toml:3:10: `server.listen`: `localhost:80` is not an IP address and port",
        "gateway.toml:4:12: `server`: `tls_cert` and `tls_key` go together",
        "gateway.toml:5:23: `server.header_read_timeout`: `10` has no unit",
        "gateway.toml:8:7: `upstream.url`: `ftp://x` is not an http:// or https:// URL",
        "gateway.toml:11:10: `auth.issuer`: must not be empty",
        "gateway.toml:13:14: `auth.algorithms`: `HS256` is refused: it is a shared-secret algorithm",
        "gateway.toml:13:14: `auth.algorithms`: `none` is refused",
        "gateway.toml:13:14: `auth.algorithms`: `RS257` is not a known algorithm; did you mean `RS256`?",
        "gateway.toml:14:19: `auth.max_token_bytes`: `8 KB please` has an unknown unit",
        "gateway.toml:17:8: `policy.file`: file `",
        "gateway.toml:20:27: `forward.claims.\"https://saasco/tenant\"`: `X-Tenant` must start with `X-Auth-`",
    ];
    for e in expect {
        assert!(
            errs.iter().any(|g| g.starts_with(e)),
            "missing {e:?} in {errs:#?}"
        );
    }
    assert_eq!(errs.len(), expect.len(), "{errs:#?}");
}

#[test]
fn missing_required_keys_say_what_to_add() {
    let errs = load("", &[]).unwrap_err();
    assert!(errs.iter().any(|e| e.contains("`url` is missing from [upstream]; add `url = \"http://127.0.0.1:8000\"` or set GATEWAY_UPSTREAM_URL")), "{errs:?}");
    assert!(
        errs.iter()
            .any(|e| e.contains("`issuer` is missing from [auth]"))
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("`audience` is missing from [auth]"))
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("`file` is missing from [policy]"))
    );
}

#[test]
fn syntax_and_type_errors_have_positions() {
    let errs = load("[server\nlisten = 1\n", &[]).unwrap_err();
    assert!(errs[0].starts_with("gateway.toml:1:"), "{errs:?}");
    let errs = load(&format!("{MINIMAL}\n[server]\nworkers = \"two\"\n"), &[]).unwrap_err();
    assert!(
        errs[0].starts_with("gateway.toml:13:11: `server.workers`: expected a whole number"),
        "{errs:?}"
    );
    let errs = load("server = 3\n", &[]).unwrap_err();
    assert!(errs[0].starts_with("gateway.toml:1:10:"), "{errs:?}");
}

#[test]
fn forward_claims_and_relative_tls_paths() {
    let dir = folder();
    std::fs::write(dir.path().join("c.pem"), "x").unwrap();
    std::fs::write(dir.path().join("k.pem"), "x").unwrap();
    let src = format!(
        "{MINIMAL}\n[server]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n[forward.claims]\n\"https://saasco/tenant\" = \"X-Auth-Tenant\"\n"
    );
    let c = Config::from_toml_str(&src, &dir.path().join("gateway.toml"), &|_| None).unwrap();
    let tls = c.server.tls.unwrap();
    assert_eq!(tls.cert, dir.path().join("c.pem"));
    assert_eq!(c.forward.claims[0].0, "https://saasco/tenant");
    assert_eq!(c.forward.claims[0].1.as_str(), "x-auth-tenant");
}
