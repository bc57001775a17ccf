#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use http::Method;

use super::*;

const CLIENTCO: &str = include_str!("../../policies/clientco.yaml");

fn policy(src: &str) -> Policy {
    Policy::from_yaml_str(src, Path::new("p.yaml")).unwrap()
}

fn problems(src: &str) -> Vec<String> {
    Policy::from_yaml_str(src, Path::new("p.yaml"))
        .unwrap_err()
        .0
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn optional_keys_are_parsed() {
    let p = policy(
        "permissions: {r: read}
routes:
  - path: /upload
    scopes: [r]
    max_body: 10MiB
    rate_limit: {per_second: 50, burst: 100}
    description: Uploads
",
    );
    let r = p.route_for("/upload", &Method::GET).unwrap();
    assert_eq!(r.max_body, Some(10 * 1024 * 1024));
    assert_eq!(
        r.rate_limit,
        Some(RateLimit {
            per_second: 50.0,
            burst: 100
        })
    );
    assert_eq!(r.methods, None);
    assert!(r.allows_method(&Method::PATCH));
}

#[test]
fn a_top_level_rate_limit_is_every_routes_default_and_a_routes_own_wins() {
    let p = policy(
        "permissions: {r: read}
rate_limit: {per_second: 5, burst: 10}
routes:
  - path: /a
    scopes: [r]
  - path: /b
    scopes: [r]
    rate_limit: {per_second: 1, burst: 1}
",
    );
    let global = Some(RateLimit {
        per_second: 5.0,
        burst: 10,
    });
    assert_eq!(p.route_for("/a", &Method::GET).unwrap().rate_limit, global);
    assert_eq!(
        p.route_for("/b", &Method::GET).unwrap().rate_limit,
        Some(RateLimit {
            per_second: 1.0,
            burst: 1
        })
    );
}

#[test]
fn undeclared_scope_names_position_and_suggestion() {
    let errs = problems(&CLIENTCO.replace("scopes: [read:inventory]", "scopes: [read:inventroy]"));
    assert_eq!(errs.len(), 1, "{errs:?}");
    let line = 1 + CLIENTCO
        .lines()
        .position(|l| l.contains("scopes: [read:inventory]"))
        .unwrap();
    let expected = format!(
        "p.yaml:{line}:14: `read:inventroy` is not declared under permissions; did you mean `read:inventory`?"
    );
    assert!(errs[0].starts_with(&expected), "{errs:?}");
}

#[test]
fn every_load_error_kind_is_reported_with_its_position() {
    let src = "\
permissions:
  read:x: X
restrictions:
  no:y: Y
routes:
  - path: forecast
    scopes: [read:x]
  - path: /a
    scopes: [read:x]
    restricted: no:y
  - path: /b
    restricted: no:z
  - path: /c
    scops: [read:x]
  - path: /d/**/e
    scopes: [read:x]
  - path: /e/{}
    scopes: [read:x]
  - path: /f/{x}
    scopes: [read:x]
  - path: /f/{y}
    methods: [get]
    scopes: [read:x]
  - path: /g/{y}
    scopes: [read:x]
  - path: /g/{z}
    scopes: [read:x]
extra: 1
";
    let errs = problems(src);
    let expect = [
        "p.yaml:6:11: path `forecast` must start with `/`",
        "p.yaml:10:5: a route has either `scopes` or `restricted`, not both",
        "p.yaml:12:17: `no:z` is not declared under `restrictions`; did you mean `no:y`?",
        "p.yaml:13:5: this route says nothing about who may call it",
        "p.yaml:14:5: unknown key `scops` in a route; did you mean `scopes`?",
        "p.yaml:15:11: in path `/d/**/e`: `**` matches the rest of the path",
        "p.yaml:17:11: in path `/e/{}`: `{}` needs a name",
        "p.yaml:22:15: method names are case-sensitive (RFC 9110 §9.1); did you mean `GET`?",
        "p.yaml:26:11: route `/g/{z}` is ambiguous with `/g/{y}` (line 24)",
        "p.yaml:28:1: unknown key `extra` in the policy file",
    ];
    for e in expect {
        assert!(
            errs.iter().any(|got| got.starts_with(e)),
            "missing {e:?} in {errs:#?}"
        );
    }
    assert_eq!(errs.len(), expect.len(), "{errs:#?}");
}

#[test]
fn yaml_syntax_error_has_position() {
    let errs = problems("routes:\n  - path: /a\n   bad: [\n");
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("p.yaml:3:"), "{errs:?}");
}

#[test]
fn patterns_that_never_match_are_refused() {
    for (pattern, fragment) in [
        ("/a//b", "empty segment"),
        ("/a/./b", "never matches"),
        ("/%66x", "write it as `fx`"),
        ("/a{b}", "whole segment"),
        ("/{x}/{x}", "appears twice"),
    ] {
        let errs = problems(&format!(
            "routes:\n  - {{path: '{pattern}', public: true}}\n"
        ));
        assert!(errs[0].contains(fragment), "{pattern}: {errs:?}");
    }
}

#[test]
fn docs_render_is_deterministic_and_lists_everything() {
    let p = policy(CLIENTCO);
    let doc = render_docs(&p, "policies/clientco.yaml");
    assert_eq!(
        doc,
        render_docs(&policy(CLIENTCO), "policies/clientco.yaml")
    );
    assert!(doc.contains("| `/forecast` | GET, HEAD | `read:forecast` | enforce | no |"));
    assert!(doc.contains("| `/models/**` | any | restricted: `no:execute_modeling` |"));
    assert!(doc.contains(
        "| `no:modify_pipeline` | Pipeline orchestration is internal only | `/pipeline/**` |"
    ));
    assert!(doc.contains("source of truth"));
}

/// Found by fuzz/policy_load: a file holding only a comment, without a final newline, was
/// reported at line 2 of a 1-line file (libyaml's end-of-document mark).
#[test]
fn diagnostic_of_a_comment_only_policy_points_at_a_line_that_exists() {
    for source in ["# Machine view of the trust boundary.", "# comment\n", ""] {
        let lines = source.split('\n').count();
        let diagnostics = Policy::from_yaml_str(source, Path::new("p.yaml")).unwrap_err();
        for d in &diagnostics.0 {
            assert!(
                (1..=lines).contains(&d.line),
                "{source:?}: {d} is not on one of its {lines} lines"
            );
        }
    }
}

#[test]
fn route_descriptions_are_shown_in_the_generated_docs() {
    let p = policy(
        "permissions: {r: read}\nroutes:\n  - {path: /a, scopes: [r], description: Nightly export}\n  - {path: /b, scopes: [r]}\n",
    );
    let page = render_docs(&p, "p.yaml");
    // A note is "- `PATTERN`: DESCRIPTION" (the narrative's items, "- `PATTERN` (METHODS) ...",
    // are not notes).
    let notes = |page: &str| -> Vec<String> {
        page.lines()
            .filter(|l| {
                l.strip_prefix("- `")
                    .and_then(|rest| rest.split_once('`'))
                    .is_some_and(|(_, after)| after.starts_with(": "))
            })
            .map(str::to_owned)
            .collect()
    };
    assert!(page.contains("- `/a`: Nightly export\n"), "{page}");
    assert_eq!(notes(&page), ["- `/a`: Nightly export"], "{page}");
    // A policy without descriptions renders no notes at all.
    assert_eq!(
        notes(&render_docs(&policy(CLIENTCO), "p.yaml")),
        Vec::<String>::new()
    );
}

#[test]
fn docs_render_the_conditions_and_who_may_call_what() {
    let p = policy(include_str!("../../policies/clientco-tenants.yaml"));
    let doc = render_docs(&p, "policies/clientco-tenants.yaml");
    assert!(doc.contains(
        "| `/tenants/{org}/ingest` | POST | `ingest:data` | `org_id` = `{org}` and `gty` = `client-credentials` and `azp` in `clientco` | enforce | no |"
    ), "{doc}");
    assert!(
        doc.contains("`https://saasco/regions` contains `eu`"),
        "{doc}"
    );
    assert!(doc.contains("## Clients"), "{doc}");
    // The read-only application is not named on the tenant ingest route, so it may not call it.
    let readonly = doc
        .lines()
        .find(|l| l.starts_with("| `clientco-readonly` |"))
        .unwrap();
    assert!(
        readonly.contains("`/tenants/{org}/forecast` (GET, HEAD)"),
        "{readonly}"
    );
    assert!(!readonly.contains("/tenants/{org}/ingest"), "{readonly}");
    let production = doc
        .lines()
        .find(|l| l.starts_with("| `clientco` |"))
        .unwrap();
    assert!(
        production.contains("`/tenants/{org}/ingest` (POST)"),
        "{production}"
    );
    assert!(!production.contains("/models/**"), "{production}");
}

/// A policy without conditions renders exactly as before they existed (no extra column).
#[test]
fn docs_of_a_policy_without_conditions_keep_their_shape() {
    let doc = render_docs(&policy(CLIENTCO), "policies/clientco.yaml");
    assert!(doc.contains("| route | methods | requires | mode | public |"));
    assert!(!doc.contains("conditions"));
    assert!(!doc.contains("## Clients"));
    assert_eq!(doc, include_str!("../../docs/trust_boundaries.md"));
}

#[test]
fn binding_is_read_and_refused_on_public_routes() {
    let p = policy(
        "permissions: {r: read}
routes:
  - {path: /a, scopes: [r], binding: dpop}
  - {path: /b, scopes: [r], binding: any}
  - {path: /c, scopes: [r]}
",
    );
    let binding = |path: &str| p.route_for(path, &Method::GET).unwrap().binding;
    assert_eq!(binding("/a"), crate::identity::Binding::Dpop);
    assert_eq!(binding("/b"), crate::identity::Binding::Any);
    assert_eq!(binding("/c"), crate::identity::Binding::None);
    let found = problems(
        "routes:
  - {path: /open, public: true, binding: mtls}
  - {path: /x, scopes: [], binding: tls}
",
    );
    assert!(found[0].contains("p.yaml:2:"), "{found:?}");
    assert!(found[0].contains("cannot demand a `binding`"), "{found:?}");
    assert!(found[1].contains("not `tls`"), "{found:?}");
}

#[test]
fn rendered_docs_show_a_routes_binding() {
    let p = policy("permissions: {r: read}\nroutes:\n  - {path: /a, scopes: [r], binding: dpop}\n");
    let docs = crate::policy::render_docs(&p, "p.yaml");
    assert!(docs.contains("`r`; binding: `dpop`"), "{docs}");
}
