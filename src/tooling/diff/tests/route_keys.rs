//! The route keys of the second round (`when:`, `issuers:`, `binding:`, `websocket:`) and the
//! `clients:` register, each in both directions.

use super::*;

const KEYS: &str = "permissions: {a: A}\nclients: {app-a: A, app-b: B}\nroutes:\n";

fn route(extra: &str) -> String {
    format!("{KEYS}  - {{path: '/t/{{tenant}}/x', methods: [GET], scopes: [a]{extra}}}\n")
}

fn when(conditions: &str) -> String {
    route(&format!(", when: [{conditions}]"))
}

const TENANT: &str = "{claim: tenant, equals: '{tenant}'}";
const AZP_A: &str = "{claim: azp, in: [app-a]}";
const AZP_AB: &str = "{claim: azp, in: [app-a, app-b]}";

#[test]
fn a_condition_added_is_stricter_and_removed_is_looser() {
    let none = route("");
    let one = when(TENANT);
    assert_eq!(
        lines(&none, &one),
        [
            "`GET, HEAD /t/{tenant}/x`: when (none) -> tenant equals \"{tenant}\": stricter, now also required: tenant equals \"{tenant}\""
        ]
    );
    assert_eq!(
        lines(&one, &none),
        [
            "`GET, HEAD /t/{tenant}/x`: when tenant equals \"{tenant}\" -> (none): looser, no longer required: tenant equals \"{tenant}\""
        ]
    );
    let two = when(&format!("{TENANT}, {AZP_A}"));
    assert_eq!(classes(&one, &two), [Class::Stricter]);
    assert_eq!(classes(&two, &one), [Class::Looser]);
}

#[test]
fn reordered_conditions_or_a_renamed_parameter_are_no_change() {
    let old = when(&format!("{TENANT}, {AZP_A}"));
    let new = when(&format!("{AZP_A}, {TENANT}"));
    assert_eq!(lines(&old, &new), Vec::<String>::new());
    let renamed = old.replace("{tenant}", "{t}");
    assert_eq!(
        lines(&old, &renamed),
        [
            "`GET, HEAD /t/{t}/x`: path /t/{tenant}/x -> /t/{t}/x: neutral, a path parameter renamed; the same requests match"
        ]
    );
    // `equals: v` and `in: [v]` are the same test.
    let single = when("{claim: azp, equals: app-a}");
    assert_eq!(lines(&when(AZP_A), &single), Vec::<String>::new());
}

#[test]
fn a_changed_condition_is_looser_when_the_new_one_holds_where_the_old_did_not() {
    let (a, ab) = (when(AZP_A), when(AZP_AB));
    assert_eq!(
        lines(&a, &ab),
        [
            "`GET, HEAD /t/{tenant}/x`: when azp in [\"app-a\"] -> azp in [\"app-a\", \"app-b\"]: looser, a token the old conditions refused now passes if it meets azp in [\"app-a\", \"app-b\"]"
        ]
    );
    assert_eq!(
        lines(&ab, &a),
        [
            "`GET, HEAD /t/{tenant}/x`: when azp in [\"app-a\", \"app-b\"] -> azp in [\"app-a\"]: stricter, the new conditions hold only where the old ones did, and not everywhere"
        ]
    );
    // Another value of the path, another claim type, another client: someone gains.
    let prefixed = when("{claim: tenant, equals: 'org-{tenant}'}");
    assert_eq!(classes(&when(TENANT), &prefixed), [Class::Looser]);
    assert_eq!(classes(&prefixed, &when(TENANT)), [Class::Looser]);
    let array = when("{claim: azp, contains: app-a}");
    assert_eq!(classes(&when(AZP_A), &array), [Class::Looser]);
    let b = when("{claim: azp, in: [app-b]}");
    assert_eq!(classes(&a, &b), [Class::Looser]);
    // Two conditions on one claim narrowed into the one value they share: the same tokens.
    let pair = when("{claim: azp, in: [app-a, app-b]}, {claim: azp, in: [app-a]}");
    assert_eq!(
        diff(&policy(&pair), &policy(&a))
            .iter()
            .map(|c| (c.class, c.reason.as_str()))
            .collect::<Vec<_>>(),
        [(
            Class::Neutral,
            "the same tokens pass; the conditions are written differently"
        )]
    );
}

#[test]
fn a_change_that_cannot_be_settled_is_looser_and_says_so() {
    // With the path parameter among the values, the two `in`s on one claim share `app-b`
    // exactly when the path's tenant is `app-b`: the new file then lets a token through that
    // the old one refused, which the comparison cannot see without the request.
    let old = when("{claim: azp, equals: app-a}");
    let new = when("{claim: azp, in: [app-a, '{tenant}']}, {claim: azp, in: [app-a, app-b]}");
    let changes = diff(&policy(&old), &policy(&new));
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert_eq!(changes[0].class, Class::Looser);
    assert!(
        changes[0].reason.starts_with("cannot tell whether"),
        "{changes:#?}"
    );
    // A condition added beside them is still plainly stricter.
    let more = new.replace("]}\n", ", {claim: gty, equals: client-credentials}]}\n");
    assert_eq!(classes(&new, &more), [Class::Stricter]);
}

#[test]
fn issuers_added_or_dropped_are_looser() {
    let any = route("");
    let prod = route(", issuers: [prod]");
    let both = route(", issuers: [prod, staging]");
    assert_eq!(
        lines(&prod, &both),
        [
            "`GET, HEAD /t/{tenant}/x`: issuers prod -> prod staging: looser, a token from staging now passes"
        ]
    );
    assert_eq!(
        lines(&prod, &any),
        [
            "`GET, HEAD /t/{tenant}/x`: issuers prod -> (any configured issuer): looser, the list is dropped: a token from any configured issuer now passes"
        ]
    );
    assert_eq!(
        lines(&both, &prod),
        [
            "`GET, HEAD /t/{tenant}/x`: issuers prod staging -> prod: stricter, a token from staging is now refused (403)"
        ]
    );
    assert_eq!(classes(&any, &prod), [Class::Stricter]);
    assert_eq!(
        classes(&prod, &route(", issuers: [staging]")),
        [Class::Looser]
    );
    assert_eq!(
        lines(&both, &route(", issuers: [staging, prod]")),
        Vec::<String>::new()
    );
}

#[test]
fn a_binding_dropped_or_weakened_is_looser() {
    let bound = |b: &str| route(&format!(", binding: {b}"));
    assert_eq!(
        lines(&bound("dpop"), &bound("any")),
        [
            "`GET, HEAD /t/{tenant}/x`: binding dpop -> any: looser, a certificate-bound token now passes"
        ]
    );
    assert_eq!(
        lines(&bound("dpop"), &route("")),
        [
            "`GET, HEAD /t/{tenant}/x`: binding dpop -> none: looser, a plain bearer or certificate-bound token now passes"
        ]
    );
    assert_eq!(
        lines(&bound("dpop"), &bound("mtls")),
        [
            "`GET, HEAD /t/{tenant}/x`: binding dpop -> mtls: looser, a certificate-bound token now passes, a DPoP-bound one no longer does"
        ]
    );
    assert_eq!(
        lines(&bound("any"), &bound("mtls")),
        [
            "`GET, HEAD /t/{tenant}/x`: binding any -> mtls: stricter, a DPoP-bound token is now refused (401)"
        ]
    );
    assert_eq!(classes(&route(""), &bound("any")), [Class::Stricter]);
    assert_eq!(lines(&route(""), &bound("none")), Vec::<String>::new());
}

#[test]
fn websocket_turned_on_is_looser() {
    let on = route(", websocket: true");
    assert_eq!(
        lines(&route(""), &on),
        [
            "`GET, HEAD /t/{tenant}/x`: websocket false -> true: looser, WebSocket upgrades are now tunnelled after the upstream's 101; the tunnel's bytes are not judged"
        ]
    );
    assert_eq!(classes(&on, &route("")), [Class::Stricter]);
}

#[test]
fn the_clients_register_is_neutral() {
    let old = route("");
    let new = old.replace("app-b: B}", "app-b: B, app-c: C}");
    assert_eq!(
        lines(&old, &new),
        [
            "`client app-c`: declaration (absent) -> \"C\": neutral, declared; it grants nothing until a condition names it"
        ]
    );
    let redescribed = old.replace("app-a: A", "app-a: Reporting");
    assert_eq!(classes(&old, &redescribed), [Class::Neutral]);
}

#[test]
fn a_new_route_with_conditions_says_they_apply() {
    let old = format!("{KEYS}  - {{path: /y, methods: [GET], scopes: [a]}}\n");
    let new = format!("{old}{}", when(TENANT).trim_start_matches(KEYS));
    assert_eq!(
        lines(&old, &new),
        [
            "`GET, HEAD /t/{tenant}/x`: access 404 (no route) -> scopes a: looser, now reachable: a token granting a passes if it meets the route's `when:` conditions"
        ]
    );
}
