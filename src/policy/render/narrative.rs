//! The "Who may do what" section of docs/trust_boundaries.md: the policy in sentences, per
//! caller. With a `clients:` register a caller is a client id (the routes it may call, as the
//! clients table counts them, and on whose data: its conditions in words); without one, a
//! caller is "any caller whose token grants" a set of scopes. Public routes and restricted
//! capabilities close the section. Sorted (clients by id, callers by scopes, routes by
//! pattern), so the page stays byte-for-byte reproducible for `gateway docs --check`.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{CLIENT_CLAIMS, admits, methods_cell};
use crate::identity::Binding;
use crate::policy::{Access, Condition, Mode, Operator, Policy, Route, Template};

/// Who reaches the routes of a policy: the callers of the narrative and the diagram, in order.
pub(super) struct Caller<'p> {
    /// "`clientco`", "any caller whose token grants `read:forecast`".
    pub name: String,
    /// The register's description, for a client.
    pub description: Option<&'p str>,
    /// The client id, for a client (the conditions are read from its point of view).
    pub client: Option<&'p str>,
    pub routes: Vec<&'p Route>,
}

/// Routes a token can reach at all: not restricted, not public (those are their own groups).
fn tokened(route: &Route) -> bool {
    !route.public && matches!(route.access, Access::Scopes(_))
}

fn scopes(route: &Route) -> &[String] {
    match &route.access {
        Access::Scopes(scopes) => scopes,
        Access::Restricted(_) => &[],
    }
}

/// The callers, from the register when there is one, else by the scopes routes require.
pub(super) fn callers<'p>(policy: &'p Policy, routes: &[&'p Route]) -> Vec<Caller<'p>> {
    if !policy.clients.is_empty() {
        let mut clients: Vec<&(String, String)> = policy.clients.iter().collect();
        clients.sort();
        return clients
            .into_iter()
            .map(|(id, description)| Caller {
                name: format!("`{}`", id.replace(['\n', '\r'], " ")),
                description: Some(description),
                client: Some(id),
                routes: routes
                    .iter()
                    .copied()
                    .filter(|r| tokened(r) && admits(r, id))
                    .collect(),
            })
            .collect();
    }
    let mut groups: BTreeMap<Vec<String>, Vec<&Route>> = BTreeMap::new();
    for route in routes.iter().copied().filter(|r| tokened(r)) {
        let mut key = scopes(route).to_vec();
        key.sort();
        key.dedup();
        groups.entry(key).or_default().push(route);
    }
    groups
        .into_iter()
        .map(|(scopes, routes)| Caller {
            name: if scopes.is_empty() {
                "any caller with a valid token".to_owned()
            } else {
                format!(
                    "any caller whose token grants {}",
                    code_list(&scopes, "and")
                )
            },
            description: None,
            client: None,
            routes,
        })
        .collect()
}

/// "`a`", "`a` and `b`", "`a`, `b` and `c`".
fn code_list(items: &[String], last: &str) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("`{i}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((only, [])) => only.clone(),
        Some((tail, head)) => format!("{} {last} {tail}", head.join(", ")),
    }
}

fn value(template: &Template) -> String {
    if template.has_params() {
        format!("`{}` (the path's segments filled in)", template.written)
    } else {
        format!("`{}`", template.written)
    }
}

/// A single `{name}` value: the segment it names.
fn lone_param(template: &Template) -> Option<&str> {
    let mut params = template.params();
    let name = params.next()?;
    (params.next().is_none() && template.written == format!("{{{name}}}")).then_some(name)
}

/// A condition that ties the request to the caller's own data: the claim equals one path
/// segment (`https://saasco/tenant` equals `{tenant}`); the segment's name.
fn own_segment(condition: &Condition) -> Option<&str> {
    match &condition.operator {
        Operator::Equals(v) => lone_param(v),
        Operator::In(values) => match values.as_slice() {
            [only] => lone_param(only),
            _ => None,
        },
        Operator::Contains(_) => None,
    }
}

/// Any other condition as a clause: "its token's `gty` claim is `client-credentials`". `None`
/// for a client condition that merely names `client` (that is why the route is on its list).
fn clause(condition: &Condition, client: Option<&str>) -> Option<String> {
    let claim = &condition.claim;
    let names_client = |v: &Template| client.is_some() && v.literal() == client;
    if CLIENT_CLAIMS.contains(&claim.as_str())
        && condition.values().iter().any(names_client)
        && !condition.values().iter().any(Template::has_params)
    {
        return None;
    }
    Some(match &condition.operator {
        Operator::Equals(v) => format!("its token's `{claim}` claim is {}", value(v)),
        Operator::In(values) => match values.as_slice() {
            [only] => format!("its token's `{claim}` claim is {}", value(only)),
            _ => format!(
                "its token's `{claim}` claim is one of {}",
                values.iter().map(value).collect::<Vec<_>>().join(", ")
            ),
        },
        Operator::Contains(v) => format!("its token's `{claim}` claim lists {}", value(v)),
    })
}

fn binding_clause(binding: Binding) -> Option<&'static str> {
    match binding {
        Binding::None => None,
        Binding::Dpop => Some("its token is DPoP-bound and comes with its proof (`binding: dpop`)"),
        Binding::Mtls => Some(
            "its token is certificate-bound and comes on a connection with that certificate (`binding: mtls`)",
        ),
        Binding::Any => Some("its token is DPoP-bound or certificate-bound (`binding: any`)"),
    }
}

/// `/forecast` (GET, HEAD), `/models/**` (any method).
fn route_name(route: &Route) -> String {
    let methods = match route.methods {
        None => "any method".to_owned(),
        Some(_) => methods_cell(route),
    };
    format!("`{}` ({methods})", route.pattern)
}

/// One route a caller may call, as a list item: what (the scopes), on whose data (the
/// conditions that compare a claim with the path), and under which other conditions, issuers
/// and binding.
fn route_item(policy: &Policy, route: &Route, client: Option<&str>) -> String {
    let mut item = format!("- {}", route_name(route));
    let needed = scopes(route);
    if !needed.is_empty() {
        let described: Vec<String> = needed
            .iter()
            .map(|s| {
                let meaning = policy
                    .permissions
                    .iter()
                    .find(|(name, _)| name == s)
                    .map(|(_, d)| d.as_str())
                    .unwrap_or_default();
                if meaning.is_empty() {
                    format!("`{s}`")
                } else {
                    format!("`{s}` ({})", meaning.replace('\n', " "))
                }
            })
            .collect();
        let _ = write!(item, " with {}", described.join(" and "));
    }
    let own: Vec<(&str, &str)> = route
        .conditions
        .iter()
        .filter_map(|c| own_segment(c).map(|segment| (segment, c.claim.as_str())))
        .collect();
    if own.is_empty() {
        item.push_str(", on any data");
    } else {
        let names: Vec<&str> = own.iter().map(|(segment, _)| *segment).collect();
        let wheres: Vec<String> = own
            .iter()
            .map(|(segment, claim)| {
                format!("its token's `{claim}` claim equals the `{{{segment}}}` segment")
            })
            .collect();
        let _ = write!(
            item,
            ", only on its own {}'s paths, where {}",
            names.join(" and "),
            wheres.join(" and ")
        );
    }
    let mut clauses: Vec<String> = route
        .conditions
        .iter()
        .filter(|c| own_segment(c).is_none())
        .filter_map(|c| clause(c, client))
        .collect();
    if let Some(issuers) = &route.issuers {
        let mut issuers = issuers.clone();
        issuers.sort();
        clauses.push(format!(
            "its token comes from {}",
            code_list(&issuers, "or")
        ));
    }
    clauses.extend(binding_clause(route.binding).map(str::to_owned));
    if !clauses.is_empty() {
        let _ = write!(item, "; and only when {}", clauses.join(" and "));
    }
    if route.mode == Mode::Shadow {
        item.push_str(
            " (shadow mode: forwarded even when denied, so none of this is enforced yet)",
        );
    }
    item.push('.');
    item
}

/// Writes the section.
pub(super) fn render(out: &mut String, policy: &Policy, routes: &[&Route]) {
    let _ = writeln!(out, "## Who may do what");
    let _ = writeln!(out);
    let register = !policy.clients.is_empty();
    let _ = writeln!(
        out,
        "The policy in words, {}. A route lets a token through when it grants every scope the \
         route names; which scopes a caller is granted is the issuer's decision (its grants in \
         Auth0), not this file's. Unless a route says otherwise, a token from any configured \
         issuer will do, and no sender binding is demanded beyond `[auth] require_binding`.",
        if register {
            "per client of the `clients:` register"
        } else {
            "per set of scopes a caller's token may grant"
        }
    );
    for caller in callers(policy, routes) {
        let _ = writeln!(out);
        let title = match caller.description {
            Some(description) => format!("{}: {}", caller.name, description.replace('\n', " ")),
            None => upper_first(&caller.name),
        };
        let _ = writeln!(out, "### {title}");
        let _ = writeln!(out);
        let who = if caller.client.is_some() {
            caller.name.clone()
        } else {
            "Such a caller".to_owned()
        };
        if caller.routes.is_empty() {
            let _ = writeln!(out, "{who} may call nothing: no route admits it.");
            continue;
        }
        let _ = writeln!(out, "{who} may call:");
        let _ = writeln!(out);
        for route in &caller.routes {
            let _ = writeln!(out, "{}", route_item(policy, route, caller.client));
        }
    }
    let public: Vec<&&Route> = routes.iter().filter(|r| r.public).collect();
    if !public.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "### Anyone, without a token");
        let _ = writeln!(out);
        for route in public {
            let _ = writeln!(out, "- {}.", route_name(route));
        }
    }
    let walled: Vec<(&Route, &str)> = routes
        .iter()
        .filter_map(|r| match &r.access {
            Access::Restricted(name) => Some((*r, name.as_str())),
            Access::Scopes(_) => None,
        })
        .collect();
    if !walled.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "### Nobody");
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "No caller reaches these, whatever its token grants (403, and nothing is forwarded):"
        );
        let _ = writeln!(out);
        for (route, name) in walled {
            let why = policy.restriction_description(name).unwrap_or_default();
            let _ = writeln!(
                out,
                "- {}: {} (`{name}`).",
                route_name(route),
                why.replace('\n', " ")
            );
        }
    }
    let _ = writeln!(out);
}

fn upper_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}
