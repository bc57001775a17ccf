//! The Mermaid diagram at the top of docs/trust_boundaries.md (GitHub renders ```mermaid
//! blocks): the callers (the register's clients, or callers by the scopes their tokens grant)
//! on the left, the gateway holding the routes they may reach, the backend on the right.
//! Restricted capabilities sit inside the gateway in their own subgraph, styled apart, with no
//! edge in or out: nothing reaches them and nothing of them reaches the backend.
//!
//! Every label is quoted, and everything Mermaid reads specially in a label is written as an
//! entity code (`#quot;`, `#123;` for `{`, ...; Mermaid's "Entity codes to escape
//! characters"), so a pattern such as `/tenants/{tenant}/**` or a description with quotes or
//! brackets cannot end a label, open a shape or start a comment. Node ids are generated
//! (`caller0`, `route3`), never taken from the policy.

use std::fmt::Write;

use super::methods_cell;
use super::narrative::callers;
use crate::policy::{Access, Mode, Policy, Route};

/// `text` safe inside a quoted Mermaid label (a line of its own).
pub(super) fn label(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            // First: every escape below starts with `#`.
            '#' => out.push_str("#35;"),
            '"' => out.push_str("#quot;"),
            '&' => out.push_str("#amp;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '[' => out.push_str("#91;"),
            ']' => out.push_str("#93;"),
            '{' => out.push_str("#123;"),
            '}' => out.push_str("#125;"),
            '(' => out.push_str("#40;"),
            ')' => out.push_str("#41;"),
            '|' => out.push_str("#124;"),
            // A backtick opens a Markdown string; three would close the ```mermaid fence.
            '`' => out.push_str("#96;"),
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn route_label(route: &Route) -> String {
    let mut text = match route.methods {
        None => format!("{} · any method", route.pattern),
        Some(_) => format!("{} {}", methods_cell(route), route.pattern),
    };
    match &route.access {
        Access::Restricted(name) => {
            let _ = write!(text, " · {name}");
        }
        Access::Scopes(_) if route.public => text.push_str(" · public"),
        Access::Scopes(_) => {}
    }
    if route.mode == Mode::Shadow {
        text.push_str(" · shadow mode");
    }
    label(&text)
}

/// What a caller needs on a route, for its edge: the scopes, or "any valid token".
fn edge_label(route: &Route) -> String {
    match &route.access {
        Access::Scopes(scopes) if scopes.is_empty() => "any valid token".to_owned(),
        Access::Scopes(scopes) => label(&scopes.join(" + ")),
        Access::Restricted(_) => String::new(),
    }
}

/// Writes the section.
pub(super) fn render(out: &mut String, policy: &Policy, routes: &[&Route]) {
    let callers = callers(policy, routes);
    let index = |route: &Route| {
        routes
            .iter()
            .position(|r| std::ptr::eq(*r, route))
            .unwrap_or(usize::MAX)
    };
    let _ = writeln!(out, "## At a glance");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Who reaches what: each caller's edges lead to the routes it may call (labelled with the \
         scopes they need), and from there to the backend. Restricted capabilities are walled \
         off inside the gateway: no edge leads to them, and none from them to the backend."
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "```mermaid");
    let _ = writeln!(out, "flowchart LR");
    let _ = writeln!(out, "  subgraph callers [\"Callers\"]");
    for (i, caller) in callers.iter().enumerate() {
        let name = caller.name.replace('`', "");
        let text = match caller.description {
            Some(description) => format!("{name}: {description}"),
            None => name,
        };
        let _ = writeln!(out, "    caller{i}[\"{}\"]", label(&text));
    }
    let public = routes.iter().any(|r| r.public);
    if public {
        let _ = writeln!(out, "    anyone[\"anyone, without a token\"]");
    }
    let _ = writeln!(out, "  end");
    let _ = writeln!(
        out,
        "  subgraph gateway [\"The gateway: verifies the token, decides by the policy\"]"
    );
    let walled: Vec<&&Route> = routes
        .iter()
        .filter(|r| matches!(r.access, Access::Restricted(_)))
        .collect();
    for (i, route) in routes.iter().enumerate() {
        if !matches!(route.access, Access::Restricted(_)) {
            let _ = writeln!(out, "    route{i}[\"{}\"]", route_label(route));
        }
    }
    if !walled.is_empty() {
        let _ = writeln!(
            out,
            "    subgraph restricted [\"Restricted: never forwarded, whatever the token grants\"]"
        );
        for route in &walled {
            let _ = writeln!(
                out,
                "      route{}[\"{}\"]",
                index(route),
                route_label(route)
            );
        }
        let _ = writeln!(out, "    end");
    }
    let _ = writeln!(out, "  end");
    let _ = writeln!(out, "  backend[(\"Backend\")]");
    for (i, caller) in callers.iter().enumerate() {
        for route in &caller.routes {
            let _ = writeln!(
                out,
                "  caller{i} -->|\"{}\"| route{}",
                edge_label(route),
                index(route)
            );
        }
    }
    for (i, route) in routes.iter().enumerate() {
        if route.public {
            let _ = writeln!(out, "  anyone --> route{i}");
        }
    }
    for (i, route) in routes.iter().enumerate() {
        if !matches!(route.access, Access::Restricted(_)) {
            let _ = writeln!(out, "  route{i} --> backend");
        }
    }
    if !walled.is_empty() {
        let ids: Vec<String> = walled
            .iter()
            .map(|r| format!("route{}", index(r)))
            .collect();
        let _ = writeln!(
            out,
            "  classDef walled fill:#fde8e8,stroke:#b91c1c,color:#7f1d1d,stroke-dasharray:5 3"
        );
        let _ = writeln!(out, "  class {} walled", ids.join(","));
        let _ = writeln!(
            out,
            "  style restricted fill:#fff5f5,stroke:#b91c1c,stroke-width:2px,stroke-dasharray:5 3"
        );
    }
    let _ = writeln!(out, "```");
    let _ = writeln!(out);
}
