#![allow(clippy::unwrap_used)]

use std::path::Path;

use super::diagram::label;
use super::render_docs;
use crate::policy::Policy;

const CLIENTCO: &str = include_str!("../../../policies/clientco.yaml");
const TENANTS: &str = include_str!("../../../policies/clientco-tenants.yaml");

fn render(text: &str) -> String {
    render_docs(
        &Policy::from_yaml_str(text, Path::new("p.yaml")).unwrap(),
        "p.yaml",
    )
}

/// The ```mermaid block's lines.
fn diagram(page: &str) -> Vec<&str> {
    let start = page.find("```mermaid\n").unwrap() + "```mermaid\n".len();
    let end = start + page[start..].find("```").unwrap();
    page[start..end].lines().collect()
}

/// The ids of the nodes inside `subgraph restricted`.
fn walled(lines: &[&str]) -> Vec<String> {
    let start = lines
        .iter()
        .position(|l| l.trim_start().starts_with("subgraph restricted "))
        .unwrap();
    lines[start + 1..]
        .iter()
        .take_while(|l| l.trim() != "end")
        .map(|l| l.trim().split('[').next().unwrap().to_owned())
        .collect()
}

#[test]
fn the_diagram_walls_off_restricted_capabilities() {
    let page = render(CLIENTCO);
    let lines = diagram(&page);
    assert_eq!(lines[0], "flowchart LR");
    let walled = walled(&lines);
    assert_eq!(walled, ["route3", "route4"], "{page}");
    assert!(lines.contains(&"      route3[\"/models/** · any method · no:execute_modeling\"]"));
    // No edge into or out of a restricted node, and the wall is drawn apart.
    for id in &walled {
        assert!(
            !lines
                .iter()
                .any(|l| l.contains("-->") && l.split_whitespace().any(|w| w == id)),
            "{id} has an edge: {page}"
        );
    }
    assert!(lines.contains(&"  class route3,route4 walled"));
    assert!(lines.iter().any(|l| l.starts_with("  style restricted ")));
    // Callers -> the routes they may reach -> the backend.
    assert!(lines.contains(&"    caller1[\"any caller whose token grants read:forecast\"]"));
    assert!(lines.contains(&"  caller1 -->|\"read:forecast\"| route0"));
    assert!(lines.contains(&"  route0 --> backend"));
}

#[test]
fn the_diagram_draws_each_client_of_the_register_to_what_it_may_call() {
    let page = render(TENANTS);
    let lines = diagram(&page);
    assert!(
        lines.contains(
            &"    caller1[\"clientco-readonly: ClientCo reporting #40;forecast only#41;\"]"
        )
    );
    assert!(lines.contains(&"    route6[\"POST /tenants/#123;org#125;/ingest\"]"));
    // The tenant ingest route names only the production application.
    assert!(lines.contains(&"  caller0 -->|\"ingest:data\"| route6"));
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("  caller1 ") && l.ends_with(" route6"))
    );
}

#[test]
fn mermaid_labels_escape_what_mermaid_reads() {
    assert_eq!(
        label("say \"hi\" [x] {y} (z) <b> a|b #1; `code` & more"),
        "say #quot;hi#quot; #91;x#93; #123;y#125; #40;z#41; #lt;b#gt; a#124;b #35;1; #96;code#96; #amp; more"
    );
    assert_eq!(label("two\nlines"), "two lines");
    // Through the page: a hostile description and client id cannot leave their label.
    let hostile = "permissions: {r: read}\nclients:\n  'app\"]-->x[\"': 'Team \"A\" {b} [c] ```'\nroutes:\n  - {path: '/items/{id}', methods: [GET], scopes: [r]}\n";
    let page = render(hostile);
    let lines = diagram(&page);
    let caller = lines
        .iter()
        .find(|l| l.trim_start().starts_with("caller0["))
        .unwrap();
    assert_eq!(
        *caller,
        "    caller0[\"app#quot;#93;--#gt;x#91;#quot;: Team #quot;A#quot; #123;b#125; #91;c#93; #96;#96;#96;\"]"
    );
    // The label's own quotes are its only ones.
    for line in &lines {
        if let Some(open) = line.find("[\"") {
            let inner = &line[open + 2..line.rfind("\"]").unwrap()];
            assert!(!inner.contains(['"', '[', ']', '{', '}', '`']), "{line}");
        }
    }
    // Nothing the policy says can open or close a fence: only the diagram's two are at a line's start.
    assert_eq!(
        page.lines().filter(|l| l.starts_with("```")).count(),
        2,
        "{page}"
    );
}

#[test]
fn the_narrative_says_per_client_what_it_may_do_and_on_whose_data() {
    let page = render(TENANTS);
    let readonly = page
        .split("### `clientco-readonly`: ClientCo reporting (forecast only)\n")
        .nth(1)
        .unwrap()
        .split("\n### ")
        .next()
        .unwrap();
    assert!(readonly.contains(
        "- `/tenants/{org}/forecast` (GET, HEAD) with `read:forecast` (Retrieve demand forecast), only on its own org's paths, where its token's `org_id` claim equals the `{org}` segment; and only when its token's `gty` claim is `client-credentials`.\n"
    ), "{readonly}");
    assert!(!readonly.contains("/tenants/{org}/ingest"), "{readonly}");
    assert!(page.contains(
        "only on its own org's paths, where its token's `org_id` claim equals the `{org}` segment; and only when its token's `https://saasco/regions` claim lists `eu`."
    ));
    assert!(page.contains(
        "- `/models/**` (any method): Modeling logic cannot be triggered manually (`no:execute_modeling`).\n"
    ));
}

#[test]
fn without_a_register_callers_are_named_by_their_scopes() {
    let page = render(CLIENTCO);
    assert!(page.contains("per set of scopes a caller's token may grant"));
    assert!(page.contains(
        "### Any caller whose token grants `read:forecast`\n\nSuch a caller may call:\n\n- `/forecast` (GET, HEAD) with `read:forecast` (Retrieve demand forecast), on any data.\n"
    ), "{page}");
    let both = render(
        "permissions: {a: A, b: B}\nroutes:\n  - {path: /x, scopes: [b, a]}\n  - {path: /open, methods: [GET], public: true}\n  - {path: /any, methods: [POST], scopes: []}\n",
    );
    assert!(
        both.contains("### Any caller whose token grants `a` and `b`\n"),
        "{both}"
    );
    assert!(
        both.contains("### Any caller with a valid token\n"),
        "{both}"
    );
    assert!(
        both.contains("### Anyone, without a token\n\n- `/open` (GET, HEAD).\n"),
        "{both}"
    );
    assert!(diagram(&both).contains(&"  anyone --> route1"), "{both}");
}

#[test]
fn the_narrative_names_issuers_bindings_and_shadow_mode() {
    let page = render(
        "permissions: {a: A}\nroutes:\n  - {path: /x, methods: [GET], scopes: [a], issuers: [staging, prod], binding: dpop, mode: shadow}\n",
    );
    assert!(page.contains(
        "- `/x` (GET, HEAD) with `a` (A), on any data; and only when its token comes from `prod` or `staging` and its token is DPoP-bound and comes with its proof (`binding: dpop`) (shadow mode: forwarded even when denied, so none of this is enforced yet).\n"
    ), "{page}");
}

#[test]
fn the_page_is_deterministic_whatever_the_file_order() {
    let reordered = TENANTS.replace(
        "  clientco: ClientCo production (ingest and reads)\n  clientco-readonly: ClientCo reporting (forecast only)\n",
        "  clientco-readonly: ClientCo reporting (forecast only)\n  clientco: ClientCo production (ingest and reads)\n",
    );
    assert_ne!(reordered, TENANTS);
    let (a, b) = (render(TENANTS), render(&reordered));
    // Only the register table keeps the file's order; the diagram and the narrative are sorted.
    assert_eq!(diagram(&a), diagram(&b));
    let narrative = |p: &str| {
        p[p.find("## Who may do what").unwrap()..p.find("## Permission matrix").unwrap()].to_owned()
    };
    assert_eq!(narrative(&a), narrative(&b));
}
