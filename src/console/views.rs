//! One maud template per console page. maud escapes every value it interpolates, so nothing a
//! client sent (a path, a client id) can become markup; no template writes raw HTML. Pages work
//! without JavaScript: `console.js` only adds the decisions page's live rows.

use maud::{DOCTYPE, Markup, html};

use super::navigation;
use super::pages::{DecisionsPage, KeysPage, Overview, PolicyPage, TryAnswer, UpstreamsPage, time};
use crate::telemetry::decisions::OUTCOMES;
use crate::telemetry::metrics::Counts;

fn layout(title: &str, current: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · gateway console" }
                link rel="icon" href="/console/assets/icon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                header {
                    span.brand { "gateway" }
                    nav {
                        @for (path, name) in navigation() {
                            @if path == current {
                                a.current href=(path) aria-current="page" { (name) }
                            } @else {
                                a href=(path) { (name) }
                            }
                        }
                    }
                }
                main { h1 { (title) } (body) }
                footer { "Read-only: nothing on these pages changes the gateway." }
            }
        }
    }
}

pub fn overview(page: &Overview) -> Markup {
    layout(
        "Overview",
        "/",
        html! {
            section.cards {
                div.card {
                    h2 { "Readiness" }
                    @if page.waiting.is_empty() {
                        p.ok id="readiness" { "Ready: every issuer has a key set." }
                    } @else {
                        p.bad id="readiness" { "Not ready: waiting for keys of " (page.waiting.join(", ")) "." }
                    }
                }
                div.card {
                    h2 { "Policy serving" }
                    dl {
                        dt { "file" } dd { code { (page.policy_file) } }
                        dt { "sha256" } dd { code id="sha256" { (page.sha256) } }
                        dt { "loaded" } dd { (page.loaded_at) }
                    }
                }
                div.card {
                    h2 { "Last reload" }
                    @match &page.last_reload {
                        None => p { "No reload since start." },
                        Some(outcome) => {
                            @match &outcome.result {
                                Ok(sha) => p.ok id="reload" { "Applied at " (time(outcome.at)) ": sha256 " code { (sha) } },
                                Err(problems) => {
                                    div.bad id="reload" {
                                        p { "Rejected at " (time(outcome.at)) "; the policy above keeps serving:" }
                                        ul.problems { @for problem in problems { li { code { (problem) } } } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section {
                h2 { "Decisions per minute, last hour" }
                (chart(page))
            }
            section {
                h2 { "Top refusal reasons since start" }
                @if page.top_reasons.is_empty() {
                    p.quiet { "No refusals yet." }
                } @else {
                    table {
                        thead { tr { th { "reason" } th.num { "refusals" } } }
                        tbody { @for (reason, count) in &page.top_reasons { tr { td { code { (reason) } } td.num { (count) } } } }
                    }
                }
            }
        },
    )
}

/// Stacked bars, one per minute, drawn here from `telemetry::decisions`' counters.
fn chart(page: &Overview) -> Markup {
    const WIDTH: u64 = 720;
    const HEIGHT: u64 = 160;
    const BAR: u64 = WIDTH / 60;
    let peak = page
        .minutes
        .iter()
        .map(|m| m.counts.iter().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let offset = 60u64.saturating_sub(page.minutes.len() as u64);
    // Each minute's outcomes stacked bottom-up: (x, top, height, outcome slot, count).
    let mut segments = Vec::new();
    for (i, minute) in page.minutes.iter().enumerate() {
        let x = (offset + i as u64) * BAR;
        let mut top = HEIGHT;
        for (slot, &count) in minute.counts.iter().enumerate().filter(|(_, c)| **c > 0) {
            let y = top.saturating_sub((count * HEIGHT).div_ceil(peak));
            segments.push((x, y, top - y, slot, count));
            top = y;
        }
    }
    html! {
        svg.chart viewBox=(format!("0 0 {WIDTH} {}", HEIGHT + 20)) role="img" aria-label="decisions per minute by outcome" {
            line x1="0" y1=(HEIGHT) x2=(WIDTH) y2=(HEIGHT) class="axis" {}
            @for (x, y, height, slot, count) in segments {
                rect x=(x) y=(y) width=(BAR - 1) height=(height) class=(format!("o-{}", OUTCOMES[slot])) {
                    title { (OUTCOMES[slot]) ": " (count) }
                }
            }
            text x="0" y=(HEIGHT + 15) class="label" { "60 min ago" }
            text x=(WIDTH) y=(HEIGHT + 15) class="label end" { "now · peak " (peak) "/min" }
        }
        p.legend {
            @for outcome in OUTCOMES { span class=(format!("key o-{outcome}")) {} (outcome) " " }
        }
    }
}

pub fn policy(page: &PolicyPage) -> Markup {
    layout(
        "Policy",
        "/console/policy",
        html! {
            p { "Serving " code { (page.file) } ", sha256 " code { (page.sha256) } "." }
            h2 { "Routes" }
            div.scroll {
                table {
                    thead { tr {
                        th { "route" } th { "methods" } th { "requires" } th { "conditions" } th { "public" }
                        th { "mode" } th { "issuers" } th { "binding" } th { "limits" } th { "websocket" } th { "pool" }
                    } }
                    tbody {
                        @for route in &page.routes {
                            tr {
                                td { code { (route.pattern) } @if !route.description.is_empty() { br; small { (route.description) } } }
                                td { (route.methods) }
                                td { (route.requires) }
                                td { @for c in &route.conditions { code { (c) } br; } }
                                td { @if route.public { "yes" } @else { "no" } }
                                td { (route.mode) }
                                td { (route.issuers) }
                                td { (route.binding) }
                                td { (route.limits) }
                                td { @if route.websocket { "yes" } @else { "no" } }
                                td { code { (route.pool) } }
                            }
                        }
                    }
                }
            }
            h2 { "Who may call what" }
            p.quiet { "The client × capability matrix of docs/trust_boundaries.md, from the same code." }
            div.scroll {
                table.matrix {
                    thead { tr { th { "caller" } @for pattern in &page.patterns { th { code { (pattern) } } } } }
                    tbody {
                        @for (caller, routes) in &page.callers {
                            tr {
                                th { (caller) }
                                @for pattern in &page.patterns {
                                    @if routes.contains(pattern) { td.yes { "✓" } } @else { td.no { "·" } }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

pub fn decisions(page: &DecisionsPage) -> Markup {
    layout(
        "Decisions",
        "/console/decisions",
        html! {
            p.quiet { "The most recent refusals and upstream errors (at most 1,000, newest first). "
                span id="live" { "New ones appear here as they happen when scripts are on; reload otherwise." } }
            div.scroll {
                table id="decisions" {
                    thead { tr {
                        th { "time" } th { "method" } th { "path" } th { "route" } th.num { "status" }
                        th { "reason" } th { "issuer" } th { "client id" } th { "request id" }
                    } }
                    tbody {
                        @for r in &page.records {
                            tr {
                                td { (time(r.at)) } td { (r.method.as_str()) } td { code { (r.path) } }
                                td { (r.route.as_deref().unwrap_or("none")) } td.num { (r.status) }
                                td { code { (r.reason) } } td { (r.issuer.as_deref().unwrap_or("-")) }
                                td { (r.client_id.as_deref().unwrap_or("-")) } td { small { (r.request_id) } }
                            }
                        }
                    }
                }
            }
        },
    )
}

pub fn keys(page: &KeysPage) -> Markup {
    layout(
        "Keys",
        "/console/keys",
        html! {
            @for issuer in &page.issuers {
                section.card {
                    h2 { "Issuer " (issuer.name) }
                    dl {
                        dt { "iss" } dd { code { (issuer.issuer) } }
                        dt { "JWKS" } dd { code { (issuer.jwks_url) } }
                        dt { "last fetch" } dd { (issuer.last_fetch) }
                        dt { "next refresh" } dd { (issuer.next_refresh) }
                        dt { "fetches / failures" } dd { (issuer.fetches) " / " (issuer.failures) }
                        dt { "stale" } dd { @if issuer.stale { span.bad { "yes: the last refresh failed; the last good set is in use" } } @else { "no" } }
                    }
                    (key_table(&issuer.keys))
                }
            }
            section.card {
                h2 { "Assertion keys" }
                @match &page.assertion {
                    None => p.quiet { "No [forward.assertion]: the gateway signs nothing." },
                    Some(keys) => (key_table(keys)),
                }
            }
        },
    )
}

fn key_table(keys: &[super::pages::KeyRow]) -> Markup {
    html! {
        @if keys.is_empty() {
            p.bad { "No key set loaded." }
        } @else {
            table {
                thead { tr { th { "kid" } th { "kty" } th { "alg" } } }
                tbody { @for key in keys { tr { td { code { (key.kid) } } td { (key.kty) } td { (key.alg) } } } }
            }
        }
    }
}

pub fn upstreams(page: &UpstreamsPage) -> Markup {
    layout(
        "Upstreams",
        "/console/upstreams",
        html! {
            p.quiet { "Each pool as it stands now (also as JSON at " code { "/upstreams" } " and as "
                code { "gateway_upstream_*" } " on " code { "/metrics" } "). Latency is "
                code { "gateway_upstream_duration_seconds" } " on " code { "/metrics" } "." }
            @for (pool, timeouts) in &page.pools {
                section.card {
                    h2 { "Pool " code { (pool.name) } }
                    @if !pool.endpoints.is_empty() && pool.endpoints.iter().all(|e| e.ejected || !e.healthy) {
                        p.bad { "Panic: every endpoint is ejected or unhealthy, so requests are balanced over all of them." }
                    }
                    dl {
                        dt { "balance" } dd { (pool.balance) }
                        dt { "endpoints" } dd {
                            @match &pool.discover {
                                Some(name) => {
                                    "discovered from DNS: " code { (name) }
                                    @if pool.resolve_failures > 0 {
                                        " (" (pool.resolve_failures) " failed resolutions kept the last set)"
                                    }
                                }
                                None => { "listed" }
                            }
                        }
                        dt { "in flight" } dd { (pool.in_flight) " of at most " (pool.max_in_flight) }
                        @if let Some((connect, request)) = timeouts {
                            dt { "timeouts" } dd { "connect " (format!("{connect:?}")) ", request " (format!("{request:?}")) }
                        }
                        dt { "assertion audience" } dd { @match &pool.assertion_audience {
                            Some(aud) => code { (aud) },
                            None => "[forward.assertion]'s own",
                        } }
                        dt { "retries" } dd { (counts(&pool.retries)) }
                        dt { "retry budget exhausted" } dd { (pool.budget_exhausted) }
                        dt { "panic" } dd { (pool.panic) " requests" }
                    }
                    div.scroll {
                        table {
                            thead { tr {
                                th { "endpoint" } th { "state" } th.num { "in flight" } th.num { "ejections" }
                                th.num { "checks passed" } th.num { "checks failed" } th { "attempts by outcome" }
                            } }
                            tbody {
                                @for e in &pool.endpoints {
                                    tr {
                                        td { code { (e.endpoint) } }
                                        td {
                                            @if e.ejected { span.bad { "ejected" } }
                                            @else if !e.healthy { span.bad { "unhealthy" } }
                                            @else { span.ok { "healthy" } }
                                        }
                                        td.num { (e.in_flight) } td.num { (e.ejections) }
                                        td.num { (e.checks.passed) } td.num { (e.checks.failed) }
                                        td { (counts(&e.requests)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// `ok 12 · connect 1`, the non-zero counts in their order; `none` when all are zero.
fn counts(counts: &Counts) -> Markup {
    let shown: Vec<String> = counts
        .0
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(label, n)| format!("{label} {n}"))
        .collect();
    html! {
        @if shown.is_empty() { span.quiet { "none" } } @else { (shown.join(" · ")) }
    }
}

pub fn try_page(csrf: &str, answer: Option<&TryAnswer>) -> Markup {
    let (method, path) = answer.map_or(("GET", "/"), |a| (a.method.as_str(), a.path.as_str()));
    layout(
        "Try",
        "/console/try",
        html! {
            p.quiet { "What the data plane would answer, explained as " code { "gateway explain --token" } " explains it. The token is never stored, logged or shown back." }
            form method="post" action="/console/try" {
                input type="hidden" name="csrf" value=(csrf);
                label { "method " input name="method" value=(method) size="8"; }
                label { "path " input name="path" value=(path) size="40"; }
                label.wide { "token (optional) " textarea name="token" rows="3" autocomplete="off" spellcheck="false" {} }
                button type="submit" { "Decide" }
            }
            @if let Some(answer) = answer {
                section.card id="answer" {
                    h2 {
                        (answer.method) " " code { (answer.path) }
                        @if answer.with_token { " with the token" } @else { " without a token" }
                        @if let Some(status) = answer.explanation.status { " → " span id="status" { (status) } }
                        @if let Some(reason) = answer.explanation.reason { " " code id="reason" { (reason) } }
                    }
                    pre id="explanation" { @for line in &answer.explanation.lines { (line) "\n" } }
                }
            }
        },
    )
}

pub fn login(csrf: &str, problem: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Sign in · gateway console" }
                link rel="icon" href="/console/assets/icon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/console/assets/console.css";
            }
            body {
                main.login {
                    h1 { "gateway console" }
                    p { "This admin listener is not on loopback: enter the secret from " code { "[admin] console_token_file" } "." }
                    @if let Some(problem) = problem { p.bad { (problem) } }
                    form method="post" action="/console/login" {
                        input type="hidden" name="csrf" value=(csrf);
                        label { "secret " input type="password" name="secret" autocomplete="current-password"; }
                        button type="submit" { "Sign in" }
                    }
                }
            }
        }
    }
}
