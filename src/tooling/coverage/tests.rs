#![allow(clippy::unwrap_used)]

use std::path::Path;

use super::*;
use crate::tooling::openapi::parse;

const CLIENTCO_POLICY: &str = include_str!("../../../policies/clientco.yaml");
const CLIENTCO: &str = include_str!("../../../tests/fixtures/openapi/clientco.json");
const DRIFT: &str = include_str!("../../../tests/fixtures/openapi/drift.json");

fn policy(text: &str) -> Policy {
    Policy::from_yaml_str(text, Path::new("p.yaml")).unwrap()
}

/// `kind METHODS path: message` per finding.
fn findings(policy_text: &str, document: &str) -> Vec<String> {
    coverage(&policy(policy_text), &parse(document).unwrap())
        .iter()
        .map(|f| {
            format!(
                "{} {} {}: {}",
                f.kind.as_str(),
                f.methods.join(","),
                f.path,
                f.message
            )
        })
        .collect()
}

/// A document with one operation per `(method, path, security)`.
fn document(operations: &[(&str, &str, &str)]) -> String {
    let mut paths: Vec<String> = Vec::new();
    for (method, path, security) in operations {
        paths.push(format!(
            r#""{path}": {{"{method}": {{"security": {security}}}}}"#
        ));
    }
    format!(
        r#"{{"openapi": "3.1.0", "paths": {{{}}}}}"#,
        paths.join(", ")
    )
}

#[test]
fn the_shipped_policy_covers_the_clientco_api() {
    assert_eq!(
        findings(CLIENTCO_POLICY, CLIENTCO),
        [
            "restricted POST /models/train: blocked by route `/models/**` (restricted: no:execute_modeling), as intended"
        ]
    );
}

#[test]
fn every_kind_of_drift_is_found() {
    let kinds: Vec<(Kind, String)> = coverage(&policy(CLIENTCO_POLICY), &parse(DRIFT).unwrap())
        .iter()
        .map(|f| (f.kind, format!("{} {}", f.methods.join(","), f.path)))
        .collect();
    let expect = |kind: Kind, what: &str| (kind, what.to_owned());
    assert_eq!(
        kinds,
        [
            expect(Kind::Unreachable, "GET /forecasts"),
            expect(Kind::Unreachable, "PUT /inventory"),
            expect(Kind::Unreachable, "GET /reports/{report_id}"),
            expect(Kind::Unbacked, "GET /forecast"),
            expect(Kind::ScopeMismatch, "GET /inventory"),
            expect(Kind::Alternatives, "POST /ingest"),
            expect(Kind::Restricted, "POST /models/train"),
        ]
    );
}

#[test]
fn parameter_names_do_not_matter_and_get_backs_head() {
    let policy_text = "permissions: {r: R}\nroutes:\n  - {path: '/items/{id}', methods: [GET, HEAD], scopes: [r]}\n";
    let doc = document(&[("get", "/items/{item_id}", r#"[{"o": ["r"]}]"#)]);
    assert_eq!(findings(policy_text, &doc), Vec::<String>::new());
}

#[test]
fn scope_differences_say_who_is_refused_where() {
    let policy_text = "permissions: {r: R, w: W}\nroutes:\n  - {path: /a, methods: [GET], scopes: [r]}\n  - {path: /b, methods: [GET], scopes: [r]}\n  - {path: /c, methods: [GET], public: true}\n  - {path: /d, methods: [GET], scopes: []}\n";
    let doc = document(&[
        ("get", "/a", r#"[{"o": ["r", "w"]}]"#),
        ("get", "/b", "[]"),
        ("get", "/c", r#"[{"o": []}]"#),
        ("get", "/d", "[]"),
    ]);
    assert_eq!(
        findings(policy_text, &doc),
        [
            "scope_mismatch GET /a: the operation requires r w; route `/a` requires r: the gateway forwards tokens without w that the backend refuses",
            "scope_mismatch GET /b: the operation declares no security; route `/b` requires r",
            "scope_mismatch GET /c: the operation requires an authenticated caller with no scope; route `/c` is public (no token), so the backend refuses what the gateway forwards",
        ]
    );
}

#[test]
fn a_route_without_methods_is_backed_by_any_operation_under_it() {
    let policy_text = "permissions: {r: R}\nroutes:\n  - {path: /api/**, scopes: [r]}\n  - {path: /other/**, scopes: [r]}\n";
    let doc = document(&[("post", "/api/things/{id}", r#"[{"o": ["r"]}]"#)]);
    assert_eq!(
        findings(policy_text, &doc),
        [
            "unbacked * /other/**: no operation in the OpenAPI document serves any method on /other/**: the gateway forwards requests the backend answers with 404 or 405"
        ]
    );
}

#[test]
fn a_shadow_route_405_says_it_is_forwarded_for_now() {
    let policy_text =
        "permissions: {r: R}\nroutes:\n  - {path: /a, methods: [GET], scopes: [r], mode: shadow}\n";
    let doc = document(&[("get", "/a", r#"[{"o": ["r"]}]"#), ("delete", "/a", "[]")]);
    let found = findings(policy_text, &doc);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0]
            .ends_with("405 through the gateway (forwarded for now: the route is in shadow mode)"),
        "{found:#?}"
    );
}
