#![allow(clippy::unwrap_used)]

use std::path::Path;

use super::*;

const CLIENTCO: &str = include_str!("../../../policies/clientco.yaml");

fn policy(text: &str) -> Policy {
    Policy::from_yaml_str(text, Path::new("p.yaml")).unwrap()
}

/// The changes from `old` to `new`, as `gateway diff` prints them.
fn lines(old: &str, new: &str) -> Vec<String> {
    diff(&policy(old), &policy(new))
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn classes(old: &str, new: &str) -> Vec<Class> {
    diff(&policy(old), &policy(new))
        .iter()
        .map(|c| c.class)
        .collect()
}

const HEAD: &str = "permissions: {a: A, b: B}\nrestrictions: {no:x: X, no:y: Y}\nroutes:\n";

fn with(routes: &str) -> String {
    format!("{HEAD}{routes}")
}

#[test]
fn the_same_file_is_no_change() {
    assert_eq!(lines(CLIENTCO, CLIENTCO), Vec::<String>::new());
}

#[test]
fn reordering_routes_is_no_change() {
    let old = with(
        "  - {path: /x, methods: [GET], scopes: [a]}\n  - {path: /y/**, methods: [GET], restricted: no:x}\n  - {path: '/y/{id}/z', methods: [POST], scopes: [b]}\n",
    );
    let new = with(
        "  - {path: '/y/{id}/z', methods: [POST], scopes: [b]}\n  - {path: /y/**, methods: [GET], restricted: no:x}\n  - {path: /x, methods: [GET], scopes: [a]}\n",
    );
    assert_eq!(lines(&old, &new), Vec::<String>::new());
}

#[test]
fn splitting_a_route_by_method_or_by_shape_is_no_change() {
    let old = with(
        "  - {path: '/items/{id}', methods: [GET, DELETE], scopes: [a]}\n  - {path: /api/**, scopes: [b]}\n",
    );
    let new = with(
        "  - {path: '/items/{id}', methods: [GET], scopes: [a]}\n  - {path: '/items/{id}', methods: [DELETE], scopes: [a]}\n  - {path: /api/**, scopes: [b]}\n  - {path: '/api/{v}', scopes: [b]}\n",
    );
    assert_eq!(lines(&old, &new), Vec::<String>::new());
}

#[test]
fn a_renamed_parameter_is_neutral() {
    let old = with("  - {path: '/items/{id}', methods: [GET], scopes: [a]}\n");
    let new = with("  - {path: '/items/{item}', methods: [GET], scopes: [a]}\n");
    assert_eq!(
        lines(&old, &new),
        [
            "`GET, HEAD /items/{item}`: path /items/{id} -> /items/{item}: neutral, a path parameter renamed; the same requests match"
        ]
    );
}

#[test]
fn dropping_every_scope_is_looser() {
    let new = CLIENTCO.replace("scopes: [read:forecast]", "scopes: []");
    assert_eq!(
        lines(CLIENTCO, &new),
        [
            "`GET, HEAD /forecast`: scopes read:forecast -> (none): looser, any valid token now passes"
        ]
    );
}

#[test]
fn scopes_in_both_directions() {
    let one = with("  - {path: /x, methods: [GET], scopes: [a]}\n");
    let both = with("  - {path: /x, methods: [GET], scopes: [a, b]}\n");
    let other = with("  - {path: /x, methods: [GET], scopes: [b]}\n");
    assert_eq!(
        lines(&one, &both),
        ["`GET, HEAD /x`: scopes a -> a b: stricter, b now also required"]
    );
    assert_eq!(
        lines(&both, &one),
        ["`GET, HEAD /x`: scopes a b -> a: looser, b no longer required"]
    );
    assert_eq!(
        lines(&one, &other),
        ["`GET, HEAD /x`: scopes a -> b: looser, a token without a now passes if it grants b"]
    );
}

#[test]
fn a_method_added_is_looser_and_removed_is_stricter() {
    let new = CLIENTCO.replace(
        "  - path: /forecast\n    methods: [GET]",
        "  - path: /forecast\n    methods: [GET, POST]",
    );
    assert_eq!(
        lines(CLIENTCO, &new),
        [
            "`POST /forecast`: access 405 (method not allowed) -> scopes read:forecast: looser, now reachable: a token granting read:forecast passes"
        ]
    );
    assert_eq!(
        lines(&new, CLIENTCO),
        [
            "`POST /forecast`: access scopes read:forecast -> 405 (method not allowed): stricter, no longer reachable"
        ]
    );
}

#[test]
fn every_method_allowed_is_named_as_such() {
    let old = with("  - {path: /x, methods: [GET], scopes: [a]}\n");
    let new = with("  - {path: /x, scopes: [a]}\n");
    assert_eq!(
        lines(&old, &new),
        [
            "`any method but GET, HEAD /x`: access 405 (method not allowed) -> scopes a: looser, now reachable: a token granting a passes"
        ]
    );
    let gone = with("  - {path: /y, scopes: [a]}\n");
    let changes = lines(&new, &gone);
    assert!(
        changes.contains(
            &"`any method /x`: access scopes a -> 404 (no route): stricter, no longer reachable"
                .to_owned()
        ),
        "{changes:#?}"
    );
}

#[test]
fn a_new_route_is_looser_and_a_removed_one_stricter() {
    let new =
        format!("{CLIENTCO}  - path: /reports\n    methods: [GET]\n    scopes: [read:forecast]\n");
    assert_eq!(
        lines(CLIENTCO, &new),
        [
            "`GET, HEAD /reports`: access 404 (no route) -> scopes read:forecast: looser, now reachable: a token granting read:forecast passes"
        ]
    );
    assert_eq!(classes(&new, CLIENTCO), [Class::Stricter]);
}

#[test]
fn shadow_mode_is_looser_including_the_methods_it_would_refuse() {
    let new = CLIENTCO.replace(
        "    scopes: [read:forecast]\n",
        "    scopes: [read:forecast]\n    mode: shadow\n",
    );
    assert_eq!(
        lines(CLIENTCO, &new),
        [
            "`GET, HEAD /forecast`: mode enforce -> shadow: looser, denied requests are now forwarded (logged as shadow_deny)",
            "`any method but GET, HEAD /forecast`: access 405 (method not allowed) -> 405, forwarded by shadow mode: looser, now reachable: any valid token passes",
        ]
    );
    let back = lines(&new, CLIENTCO);
    assert_eq!(back.len(), 2, "{back:#?}");
    assert!(back.iter().all(|l| l.contains(": stricter, ")), "{back:#?}");
}

#[test]
fn a_restriction_lifted_or_a_route_carved_out_of_it_is_looser() {
    let lifted = CLIENTCO.replace(
        "  - path: /models/**\n    restricted: no:execute_modeling\n",
        "  - path: /models/**\n    scopes: [read:forecast]\n",
    );
    let changes = lines(CLIENTCO, &lifted);
    assert_eq!(
        changes,
        [
            "`any method /models/**`: access restricted no:execute_modeling -> scopes read:forecast: looser, the restriction is lifted: now reachable"
        ],
    );
    // The first round allowed a route inside a restricted subtree; it is reachable.
    let carved = format!(
        "{CLIENTCO}  - path: /models/{{id}}\n    methods: [GET]\n    scopes: [read:forecast]\n"
    );
    if let Ok(carved) = Policy::from_yaml_str(&carved, Path::new("p.yaml")) {
        let changes: Vec<String> = diff(&policy(CLIENTCO), &carved)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            changes,
            [
                "`GET, HEAD /models/{id}`: access restricted no:execute_modeling -> scopes read:forecast: looser, the restriction is lifted: now reachable",
                "`any method but GET, HEAD /models/{id}`: access restricted no:execute_modeling -> 405 (method not allowed): neutral, still never reachable",
            ]
        );
    }
}

#[test]
fn a_new_restricted_route_or_a_renamed_restriction_is_neutral() {
    let old = with("  - {path: /x, methods: [GET], scopes: [a]}\n");
    let new = with(
        "  - {path: /x, methods: [GET], scopes: [a]}\n  - {path: /internal/**, restricted: no:x}\n",
    );
    let changes = diff(&policy(&old), &policy(&new));
    assert!(!changes.is_empty());
    assert!(
        changes.iter().all(|c| c.class == Class::Neutral),
        "{changes:#?}"
    );
    assert!(
        changes[0]
            .to_string()
            .ends_with("access 404 (no route) -> restricted no:x: neutral, still never reachable"),
        "{changes:#?}"
    );
    let renamed = new.replace("restricted: no:x", "restricted: no:y");
    assert_eq!(
        lines(&new, &renamed)[0],
        "`any method /internal/**`: access restricted no:x -> restricted no:y: neutral, still never reachable"
    );
}

#[test]
fn public_and_limits() {
    let old = with(
        "  - {path: /x, methods: [GET], scopes: [a], max_body: 1MiB, rate_limit: {per_second: 5, burst: 10}}\n",
    );
    let public = with(
        "  - {path: /x, methods: [GET], public: true, max_body: 1MiB, rate_limit: {per_second: 5, burst: 10}}\n",
    );
    assert_eq!(
        lines(&old, &public),
        ["`GET, HEAD /x`: access scopes a -> public: looser, no token needed any more"]
    );
    assert_eq!(classes(&public, &old), [Class::Stricter]);
    let bigger = old.replace("max_body: 1MiB", "max_body: 2MiB");
    assert_eq!(
        lines(&old, &bigger),
        ["`GET, HEAD /x`: max_body 1MiB -> 2MiB: looser, larger request bodies now pass"]
    );
    assert_eq!(classes(&bigger, &old), [Class::Stricter]);
    let unlimited = old.replace(", max_body: 1MiB", "");
    assert_eq!(classes(&old, &unlimited), [Class::Looser]);
    let burstier = old.replace("burst: 10", "burst: 20");
    assert_eq!(
        lines(&old, &burstier),
        [
            "`GET, HEAD /x`: rate_limit 5/s burst 10 -> 5/s burst 20: looser, a client may now send more requests before 429"
        ]
    );
    let slower = old.replace("per_second: 5", "per_second: 1");
    assert_eq!(classes(&old, &slower), [Class::Stricter]);
    // A limit on a route nobody can reach changes nothing anyone sees.
    let restricted = with("  - {path: /x, restricted: no:x, max_body: 1MiB}\n");
    let restricted_bigger = restricted.replace("1MiB", "2MiB");
    assert_eq!(lines(&restricted, &restricted_bigger), Vec::<String>::new());
}

#[test]
fn declarations_and_descriptions_are_neutral() {
    let new = CLIENTCO
        .replace(
            "read:forecast: Retrieve demand forecast",
            "read:forecast: Read the forecast\n  read:new: New",
        )
        .replace(
            "    scopes: [read:inventory]\n",
            "    scopes: [read:inventory]\n    description: Stock levels\n",
        );
    let changes = diff(&policy(CLIENTCO), &policy(&new));
    assert!(
        changes.iter().all(|c| c.class == Class::Neutral),
        "{changes:#?}"
    );
    let text: Vec<String> = changes.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "`GET, HEAD /inventory`: description (none) -> \"Stock levels\": neutral, documentation only",
            "`permission read:forecast`: description \"Retrieve demand forecast\" -> \"Read the forecast\": neutral, the description changed",
            "`permission read:new`: declaration (absent) -> \"New\": neutral, declared; it grants nothing until a route uses it",
        ]
    );
}

#[test]
fn looser_changes_come_first() {
    let new = CLIENTCO
        .replace(
            "scopes: [ingest:data]",
            "scopes: [ingest:data, read:forecast]",
        )
        .replace("scopes: [read:inventory]", "scopes: []");
    let changes = diff(&policy(CLIENTCO), &policy(&new));
    assert_eq!(
        changes.iter().map(|c| c.class).collect::<Vec<_>>(),
        [Class::Looser, Class::Stricter]
    );
}

mod route_keys;

#[test]
fn a_change_of_pool_is_neutral_and_naming_the_default_pool_is_no_change() {
    let old =
        with("  - {path: /x, methods: [GET], scopes: [a]}\n  - {path: /y, restricted: no:x}\n");
    let moved = with(
        "  - {path: /x, methods: [GET], scopes: [a], upstream: svc}\n  - {path: /y, restricted: no:x, upstream: svc}\n",
    );
    assert_eq!(
        lines(&old, &moved),
        [
            "`GET, HEAD /x`: upstream default -> svc: neutral, forwarded to another pool; who may call it is unchanged"
        ],
        "a route nobody reaches sends nothing to either pool"
    );
    let spelled = with(
        "  - {path: /x, methods: [GET], scopes: [a], upstream: default}\n  - {path: /y, restricted: no:x}\n",
    );
    assert_eq!(lines(&old, &spelled), Vec::<String>::new());
}
