//! Every case of the shipped policy test files, replayed through a real gateway: the data plane
//! answers exactly what `gateway test` says it answers (and what the case expects), because both
//! go through the one decision function and the one error mapping. A case's `claims:` become
//! the minted token's claims (beside `iss`, `sub`, `aud`, `iat`, `exp` and `scope`), so the
//! routes' `when:` conditions read the same values in both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use gateway::commands::judge::judge;
use gateway::identity::{Identity, Scopes};
use gateway::policy::Policy;
use http::Method;
use serde::Deserialize;
use support::gateway::{claims, raw_http};
use support::world::World;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: Option<String>,
    method: String,
    path: String,
    scopes: Option<Vec<String>>,
    claims: Option<serde_json::Map<String, serde_json::Value>>,
    status: u16,
}

/// A cases file's policy (its `policy:`, when it begins with one) and its list of cases.
fn read_cases(text: &str) -> (Option<String>, Vec<Case>) {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Named {
        policy: Option<String>,
        cases: Vec<Case>,
    }
    match serde_norway::from_str::<serde_norway::Value>(text).unwrap() {
        serde_norway::Value::Mapping(_) => {
            let named: Named = serde_norway::from_str(text).unwrap();
            (named.policy, named.cases)
        }
        _ => (None, serde_norway::from_str(text).unwrap()),
    }
}

/// The shipped policies and their case files, repository-relative.
const SUITES: &[(&str, &str)] = &[
    ("policies/clientco.yaml", "policies/clientco.tests.yaml"),
    (
        "policies/clientco-tenants.yaml",
        "policies/clientco-tenants.tests.yaml",
    ),
];

#[tokio::test]
async fn every_shipped_case_gets_the_same_status_from_the_data_plane_and_gateway_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (policy_file, cases_file) in SUITES {
        let policy_text = std::fs::read_to_string(root.join(policy_file)).unwrap();
        let policy = Policy::from_yaml_str(&policy_text, Path::new(policy_file)).unwrap();
        let (named, cases) = read_cases(&std::fs::read_to_string(root.join(cases_file)).unwrap());
        if let Some(named) = named {
            // `policy:` is relative to the cases file: it must be the suite's policy.
            let folder = Path::new(cases_file).parent().unwrap();
            assert_eq!(folder.join(named), Path::new(policy_file), "{cases_file}");
        }
        assert!(!cases.is_empty(), "{cases_file} has no cases");
        let world = World::start_with(|options| options.policy = policy_text.clone()).await;
        for case in &cases {
            let label = case.name.as_deref().unwrap_or(&case.path);
            let method = Method::from_bytes(case.method.as_bytes()).unwrap();
            // Claims without scopes: a token with those claims and no scope.
            let scopes = match (&case.scopes, &case.claims) {
                (None, None) => None,
                (scopes, _) => Some(scopes.clone().unwrap_or_default()),
            };
            let identity = scopes.as_ref().map(|s| {
                let identity = Identity::for_policy_test(s.iter().cloned().collect::<Scopes>());
                match &case.claims {
                    Some(claims) => identity.with_claims(claims),
                    None => identity,
                }
            });
            let offline = judge(&policy, &method, &case.path, identity.as_ref()).status();

            let authorization = match &scopes {
                None => String::new(),
                Some(scopes) => {
                    let mut minted = claims(&world.issuer.issuer_url(), &scopes.join(" "));
                    if let (Some(extra), Some(minted)) = (&case.claims, minted.as_object_mut()) {
                        // Only the case's claims beside the registered ones: the conditions
                        // must not see a default `azp` or `gty` the offline judgement lacks.
                        minted.remove("azp");
                        minted.remove("gty");
                        minted.extend(extra.clone());
                    }
                    let token = world.issuer.mint(&minted);
                    format!("Authorization: Bearer {token}\r\n")
                }
            };
            // Raw bytes, so the path reaches the gateway exactly as written in the case
            // (an HTTP client would normalise `..` and escapes itself).
            let request = format!(
                "{} {} HTTP/1.1\r\nHost: gateway.test\r\n{authorization}Content-Length: 0\r\nConnection: close\r\n\r\n",
                case.method, case.path
            );
            let answer = raw_http(world.gateway.addr, request.as_bytes()).await;
            let online: u16 = answer
                .split(' ')
                .nth(1)
                .and_then(|code| code.parse().ok())
                .unwrap_or_else(|| panic!("{cases_file}: {label}: no status line in {answer:?}"));
            assert_eq!(
                (online, offline),
                (case.status, case.status),
                "{cases_file}: {label}: (data plane, gateway test) vs expected"
            );
        }
        world.gateway.shutdown().await;
    }
}
