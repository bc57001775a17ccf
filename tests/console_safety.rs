//! The console's safety rules (SPEC, third round, "The console"; issue 27), through the built
//! binary (`gateway serve`) in front of a real issuer and backend on ephemeral ports:
//! a foreign `Host` is 421 on every console path and on `/policy` (DNS rebinding); a POST
//! without the anti-forgery token, or from another `Origin`, is 403; every answer carries the
//! CSP, nosniff, no-referrer and no-store headers and no page has inline script or anything
//! from another origin; no page nor the live stream ever shows a token, a DPoP proof, a query
//! string or a cookie the data plane was sent; a non-loopback admin listener serves no console
//! without `console_token_file`, and with it only to a signed-in session (a wrong secret is 401);
//! and Try answers the status and reason the data plane answers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use gateway::dev::issuer::DevIssuer;
use reqwest::header::{CONTENT_TYPE, COOKIE, HOST, LOCATION, ORIGIN, SET_COOKIE};
use support::backend::Backend;
use support::bin::Serving;
use support::gateway::{Options, claims, test_policy};
use support::issuer::spawn_issuer;

/// Every console page (GET), in the navigation bar's order, then the login page.
const PAGES: &[&str] = &[
    "/",
    "/console/policy",
    "/console/decisions",
    "/console/keys",
    "/console/upstreams",
    "/console/try",
    "/console/login",
];
/// The files the pages load, all served by the gateway itself.
const ASSETS: &[&str] = &[
    "/console/assets/console.css",
    "/console/assets/console.js",
    "/console/assets/icon.svg",
];
const EVENTS: &str = "/console/events";

/// A route whose `when:` compares the token's tenant with the path's, for the other-tenant case.
const TENANT_ROUTE: &str = r#"  - path: /tenants/{tenant}/forecast
    methods: [GET]
    scopes: [read:forecast]
    when:
      - claim: org_id
        equals: "{tenant}"
"#;
/// The secret in `console_token_file` for the non-loopback tests.
const SECRET: &str = "correct-horse-battery-staple-0123456789";

/// The binary serving the test policy (plus `TENANT_ROUTE`) in front of a recording backend,
/// trusting a development issuer.
struct Console {
    issuer: DevIssuer,
    _backend: Backend,
    serving: Serving,
    client: reqwest::Client,
    /// `host:port` the console is reached at (loopback).
    host: String,
}

impl Console {
    /// The admin listener on 127.0.0.1:0, as the default config has it.
    async fn loopback() -> Console {
        Console::start(None).await
    }

    /// The admin listener on 0.0.0.0:0 (not loopback), with `admin_extra` in `[admin]`.
    async fn exposed(admin_extra: &str) -> Console {
        Console::start(Some(admin_extra)).await
    }

    async fn start(exposed: Option<&str>) -> Console {
        let issuer = spawn_issuer().await;
        let backend = Backend::start().await;
        let mut options = Options::of(&issuer, &backend);
        options.policy = test_policy() + TENANT_ROUTE;
        let dir = tempfile::tempdir().unwrap();
        options.write_to(dir.path());
        if let Some(extra) = exposed {
            let toml = std::fs::read_to_string(dir.path().join("gateway.toml")).unwrap();
            let admin = "[admin]\nlisten = \"127.0.0.1:0\"\n";
            assert!(toml.contains(admin), "{toml}");
            let toml = toml.replace(admin, &format!("[admin]\nlisten = \"0.0.0.0:0\"\n{extra}"));
            std::fs::write(dir.path().join("gateway.toml"), toml).unwrap();
            std::fs::write(dir.path().join("console.secret"), format!("{SECRET}\n")).unwrap();
        }
        let args = ["serve", "--log-format", "json", "--config", "gateway.toml"];
        let mut serving = Serving::spawn(dir.path(), &args, &[]);
        serving.dir = Some(dir);
        serving.listening();
        // Listening on 0.0.0.0 is reached through loopback, as an operator's port-forward does.
        let host = format!("127.0.0.1:{}", serving.admin.port());
        support::gateway::wait_ready(&format!("http://{host}/readyz")).await;
        let client = support::world::client();
        Console {
            issuer,
            _backend: backend,
            serving,
            client,
            host,
        }
    }

    fn admin(&self, path: &str) -> String {
        format!("http://{}{path}", self.host)
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.admin(path)).send().await.unwrap()
    }

    async fn get_with_cookie(&self, path: &str, cookie: &str) -> reqwest::Response {
        let request = self.client.get(self.admin(path)).header(COOKIE, cookie);
        request.send().await.unwrap()
    }

    /// The anti-forgery token the Try page (or, when signed out, the login page) carries.
    async fn csrf(&self) -> String {
        let page = self.get("/console/login").await.text().await.unwrap();
        field_value(&page, "csrf")
    }

    /// POSTs a form to `path` with this console's own Origin, unless `origin` says otherwise.
    async fn post(
        &self,
        path: &str,
        origin: Option<&str>,
        cookie: Option<&str>,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let cookie = cookie.map(|cookie| ("cookie", cookie));
        self.post_with(path, origin, cookie.as_slice(), form).await
    }

    /// `post` with more request headers.
    async fn post_with(
        &self,
        path: &str,
        origin: Option<&str>,
        headers: &[(&str, &str)],
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request = self
            .client
            .post(self.admin(path))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        let own = format!("http://{}", self.host);
        if let Some(origin) = origin.or(Some(&own)).filter(|o| !o.is_empty()) {
            request = request.header(ORIGIN, origin);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    /// Try's answer for `method path` with `token`: (status, reason) as the page shows them.
    async fn try_it(&self, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
        let csrf = self.csrf().await;
        let token = token.unwrap_or("");
        let form = [
            ("csrf", csrf.as_str()),
            ("method", method),
            ("path", path),
            ("token", token),
        ];
        let response = self.post("/console/try", None, None, &form).await;
        assert_eq!(response.status(), 200);
        let page = response.text().await.unwrap();
        assert!(
            token.is_empty() || !page.contains(token),
            "Try echoed the token"
        );
        let status = element_text(&page, "status").parse().unwrap();
        (status, element_text(&page, "reason"))
    }

    /// The data plane's answer to `GET path` with `token`: its status, and the reason its
    /// access line gives.
    async fn data_plane(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut request = self.client.get(self.serving.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let line = self.serving.request_line(&id);
        let reason = line["reason"].as_str().unwrap_or_default().to_owned();
        (response.status().as_u16(), reason)
    }

    fn token(&self, scope: &str, org: &str) -> String {
        let mut claims = claims(&self.issuer.issuer_url(), scope);
        claims["org_id"] = org.into();
        self.issuer.mint(&claims)
    }
}

/// The `value` of the form field named `name` (`<input ... name="NAME" value="...">`).
fn field_value(page: &str, name: &str) -> String {
    text_after(page, &format!("name=\"{name}\" value=\""), '"')
}

/// The text of the element with `id` (no nested markup).
fn element_text(page: &str, id: &str) -> String {
    text_after(page, &format!("id=\"{id}\">"), '<')
}

/// What follows `marker` in `page` up to `end`; the test fails, showing the page, without it.
fn text_after(page: &str, marker: &str, end: char) -> String {
    let start = page
        .find(marker)
        .unwrap_or_else(|| panic!("no `{marker}` in:\n{page}"))
        + marker.len();
    page[start..].split(end).next().unwrap().to_owned()
}

/// A refused POST: what is wrong with it, its `Origin` (`None`: the console's own, `""`:
/// none), its form.
type Case<'a> = (&'a str, Option<&'a str>, &'a [(&'a str, &'a str)]);

/// Try's form asking `GET /forecast` without a token, with `csrf` as its anti-forgery token.
fn try_form(csrf: &str) -> [(&str, &str); 4] {
    [
        ("csrf", csrf),
        ("method", "GET"),
        ("path", "/forecast"),
        ("token", ""),
    ]
}

/// `text` with its last character changed (a hex digit, for a near-miss secret).
fn flip_last(text: &str) -> String {
    let (head, last) = text.split_at(text.len() - 1);
    format!("{head}{}", if last == "0" { "1" } else { "0" })
}

/// The headers SPEC lists, on any answer of the console.
fn assert_secured(what: &str, response: &reqwest::Response) {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("{what}: no {name} header"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header("cache-control"), "no-store", "{what}");
    let csp = header("content-security-policy");
    let directive = |name: &str| {
        csp.split(';')
            .map(str::trim)
            .find_map(|d| d.strip_prefix(name).map(str::trim))
            .map(str::to_owned)
    };
    // Nothing from another origin: every source is 'self' or 'none', no scheme, host or
    // wildcard anywhere; and no inline script (no 'unsafe-inline', no nonce or hash either).
    for source in csp.split(';').flat_map(|d| d.split_whitespace().skip(1)) {
        assert!(
            source == "'self'" || source == "'none'",
            "{what}: CSP source {source:?} in {csp}"
        );
    }
    assert_eq!(
        directive("default-src ").as_deref(),
        Some("'none'"),
        "{what}: {csp}"
    );
    assert_eq!(
        directive("script-src ").as_deref(),
        Some("'self'"),
        "{what}: {csp}"
    );
    assert_eq!(
        directive("frame-ancestors ").as_deref(),
        Some("'none'"),
        "{what}: {csp}"
    );
}

/// A page's markup loads nothing from another origin and has no inline script: every
/// `<script>` is an empty element with a same-origin `src`, no element has an `on...=` handler
/// or a `style=` attribute (which the CSP would block), every `src`/`href`/`action` is a path.
fn assert_self_contained(what: &str, page: &str) {
    let lower = page.to_ascii_lowercase();
    for (at, _) in lower.match_indices("<script") {
        let tag_end = at + lower[at..].find('>').unwrap();
        let tag = &lower[at..=tag_end];
        assert!(tag.contains(" src=\"/"), "{what}: inline script {tag}");
        assert!(
            lower[tag_end + 1..].starts_with("</script>"),
            "{what}: a script with content"
        );
    }
    for attribute in [" src=\"", " href=\"", " action=\""] {
        for (at, _) in lower.match_indices(attribute) {
            let value = &lower[at + attribute.len()..];
            assert!(
                value.starts_with('/') && !value.starts_with("//"),
                "{what}: {attribute} to {}",
                &value[..value.find('"').unwrap_or(value.len())]
            );
        }
    }
    let mut tags = lower.split('<').skip(1);
    assert!(
        tags.all(|tag| {
            let head = tag.split('>').next().unwrap_or_default();
            !head.contains(" style=") && !head.split_whitespace().any(|a| a.starts_with("on"))
        }),
        "{what}: an inline style or event handler"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_host_is_421_on_every_console_path_and_on_policy() {
    let console = Console::loopback().await;
    let every: Vec<&str> = PAGES
        .iter()
        .chain(ASSETS)
        .chain([&EVENTS, &"/policy"])
        .copied()
        .collect();
    // A rebinding name pointing at 127.0.0.1, a name that only starts like an allowed one, and
    // another machine's address.
    for host in [
        "evil.example",
        "attacker.example:80",
        "localhost.evil.example",
        "127.0.0.1.nip.io",
        "10.9.8.7",
    ] {
        for path in &every {
            let response = console
                .client
                .get(console.admin(path))
                .header(HOST, host)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 421, "GET {path} with Host {host}");
            assert_secured(&format!("421 for {path}"), &response);
            let body = response.text().await.unwrap();
            assert!(body.contains("[admin] hosts"), "{body}");
        }
        let response = console
            .client
            .post(console.admin("/console/try"))
            .header(HOST, host)
            .header(ORIGIN, format!("http://{host}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 421, "POST /console/try with Host {host}");
    }
    // The same paths with the listener's own names are served, and the open endpoints do not
    // care about the Host at all.
    let port = console.serving.admin.port();
    for host in [
        console.host.clone(),
        format!("localhost:{port}"),
        "localhost".to_owned(),
    ] {
        for path in &every {
            let mut request = console.client.get(console.admin(path)).header(HOST, &host);
            if *path == EVENTS {
                request = request.timeout(Duration::from_secs(5));
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200, "GET {path} with Host {host}");
        }
    }
    for path in ["/healthz", "/readyz", "/metrics"] {
        let response = console
            .client
            .get(console.admin(path))
            .header(HOST, "evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_without_the_anti_forgery_token_or_from_another_origin_is_403() {
    let console = Console::loopback().await;
    let csrf = console.csrf().await;
    assert_eq!(csrf.len(), 64, "{csrf}");
    let wrong = flip_last(&csrf);
    let own = format!("http://{}", console.host);
    let cases: [Case; 7] = [
        ("no token", None, &[("method", "GET"), ("path", "/")]),
        ("an empty token", None, &try_form("")),
        ("a wrong token", None, &try_form(&wrong)),
        (
            "another site",
            Some("http://evil.example"),
            &try_form(&csrf),
        ),
        ("no Origin", Some(""), &try_form(&csrf)),
        ("Origin null", Some("null"), &try_form(&csrf)),
        (
            "the right host on another port",
            Some("http://127.0.0.1:1"),
            &try_form(&csrf),
        ),
    ];
    for (what, origin, form) in cases {
        for path in ["/console/try", "/console/login"] {
            let response = console.post(path, origin, None, form).await;
            assert_eq!(response.status(), 403, "POST {path} with {what}");
            assert_secured(&format!("403 for {what}"), &response);
            let body = response.text().await.unwrap();
            assert!(!body.contains("explanation"), "{what}: {body}");
        }
    }
    // The console's pages send `Referrer-Policy: no-referrer`, under which a browser's own
    // form carries `Origin: null`: that is taken only with Fetch Metadata's `same-origin`,
    // which a page on another site cannot produce.
    for (site, status) in [
        ("cross-site", 403),
        ("same-site", 403),
        ("none", 403),
        ("same-origin", 200),
    ] {
        let headers = [("sec-fetch-site", site)];
        let response = console
            .post_with("/console/try", Some("null"), &headers, &try_form(&csrf))
            .await;
        assert_eq!(
            response.status(),
            status,
            "Origin null, Sec-Fetch-Site {site}"
        );
        let wrong_token = console
            .post_with("/console/try", Some("null"), &headers, &try_form(&wrong))
            .await;
        assert_eq!(wrong_token.status(), 403, "{site} with a wrong token");
    }
    // The console's own form, as a browser sends it, is answered.
    let response = console
        .post("/console/try", Some(&own), None, &try_form(&csrf))
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("id=\"explanation\"")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_sends_the_security_headers_and_loads_nothing_from_elsewhere() {
    let console = Console::loopback().await;
    for path in PAGES {
        let response = console.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_secured(path, &response);
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "text/html; charset=utf-8",
            "{path}"
        );
        let page = response.text().await.unwrap();
        assert_self_contained(path, &page);
        assert!(page.contains("/console/assets/console.css"), "{path}");
    }
    for path in ASSETS {
        let response = console.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_secured(path, &response);
    }
    // Try's answer, the live stream, /policy, and the console's refusals carry them too.
    let csrf = console.csrf().await;
    let form = [("csrf", csrf.as_str()), ("method", "GET"), ("path", "/x")];
    let answer = console.post("/console/try", None, None, &form).await;
    assert_secured("Try's answer", &answer);
    assert_self_contained("Try's answer", &answer.text().await.unwrap());
    let events = console
        .client
        .get(console.admin(EVENTS))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(events.headers()[CONTENT_TYPE], "text/event-stream");
    assert_secured(EVENTS, &events);
    drop(events);
    assert_secured("/policy", &console.get("/policy").await);
    assert_secured("404", &console.get("/console/nothing-here").await);
    let put = console.client.put(console.admin("/")).send().await.unwrap();
    assert_eq!(put.status(), 405);
    assert_secured("405", &put);
}

/// What a caller sends that must never show on the console: a token, a DPoP proof, a query
/// string, a cookie. Each is unique to this run.
struct Secrets {
    token: String,
    forged: String,
    proof: String,
    query: String,
    cookie: String,
}

impl Secrets {
    /// Every string that must not appear: the whole values and each token's signed parts.
    fn all(&self) -> Vec<(&'static str, String)> {
        let mut all = vec![
            ("the query string", self.query.clone()),
            ("the cookie", self.cookie.clone()),
            ("the DPoP proof", self.proof.clone()),
        ];
        for (what, token) in [
            ("the token", &self.token),
            ("the forged token", &self.forged),
        ] {
            all.push((what, token.clone()));
            for part in token.split('.').skip(1) {
                all.push((what, part.to_owned()));
            }
        }
        let proof_parts = self.proof.split('.').skip(1).map(str::to_owned);
        all.extend(proof_parts.map(|part| ("a part of the DPoP proof", part)));
        all
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_page_or_live_event_shows_a_token_proof_query_or_cookie_the_data_plane_was_sent() {
    let console = Console::loopback().await;
    // The live stream first, so it sees every record as it is made.
    let mut events = console.get(EVENTS).await;
    assert_eq!(events.status(), 200);
    let run = std::process::id();
    let token = console.token("read:forecast", "clientco");
    let (head, _) = token.rsplit_once('.').unwrap();
    let other = console.token("read:inventory", "clientco");
    let secrets = Secrets {
        forged: format!("{head}.{}", other.rsplit_once('.').unwrap().1),
        proof: support::issuer::forge(
            &serde_json::json!({"typ": "dpop+jwt", "alg": "ES256"}),
            &serde_json::json!({"htm": "GET", "jti": format!("proof-{run}")}),
            format!("proof-signature-{run}").as_bytes(),
        ),
        query: format!("api_key=query-secret-{run}"),
        cookie: format!("session=cookie-secret-{run}"),
        token,
    };
    // Allowed, refused for a scope, a tenant, a forged token, no token, a path with no route,
    // a DPoP-bound scheme with a proof that does not verify: each with every secret attached.
    let requests: [(&str, Option<&str>, &str); 7] = [
        ("/forecast", Some(&secrets.token), "Bearer"),
        ("/inventory", Some(&secrets.token), "Bearer"),
        ("/tenants/globex/forecast", Some(&secrets.token), "Bearer"),
        ("/forecast", Some(&secrets.forged), "Bearer"),
        ("/forecast", None, "Bearer"),
        ("/no-such-route", Some(&secrets.token), "Bearer"),
        ("/forecast", Some(&secrets.token), "DPoP"),
    ];
    let mut refused = Vec::new();
    for (path, token, scheme) in requests {
        let mut request = console
            .client
            .get(console.serving.url(&format!("{path}?{}", secrets.query)))
            .header(COOKIE, &secrets.cookie)
            .header("dpop", &secrets.proof);
        if let Some(token) = token {
            request = request.header("authorization", format!("{scheme} {token}"));
        }
        let response = request.send().await.unwrap();
        if response.status() != 200 {
            refused.push(path);
        }
    }
    assert_eq!(refused.len(), 6, "refused: {refused:?}");
    // Every refusal arrives on the live stream (which is what the page's script shows).
    let mut stream = String::new();
    let deadline = tokio::time::Instant::now() + support::wait::DEADLINE;
    while stream.matches("\ndata: ").count() + usize::from(stream.starts_with("data: "))
        < refused.len()
    {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, events.chunk()).await {
            Ok(Ok(Some(chunk))) => stream.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("the live stream ended or stalled ({other:?}) with:\n{stream}"),
        }
    }
    drop(events);
    // Everything the console shows: each page, the stream, /policy, and Try asked with the
    // token (whose answer explains it without repeating it).
    let mut shown = vec![("the live stream".to_owned(), stream)];
    for path in PAGES.iter().chain(["/policy"].iter()) {
        let page = console.get(path).await.text().await.unwrap();
        shown.push(((*path).to_owned(), page));
    }
    let csrf = console.csrf().await;
    for token in [&secrets.token, &secrets.forged] {
        let form = [
            ("csrf", csrf.as_str()),
            ("method", "GET"),
            ("path", "/forecast"),
            ("token", token.as_str()),
        ];
        let answer = console.post("/console/try", None, None, &form).await;
        shown.push(("Try's answer".to_owned(), answer.text().await.unwrap()));
    }
    let decisions = &shown
        .iter()
        .find(|(what, _)| what == "/console/decisions")
        .unwrap()
        .1;
    for path in &refused {
        assert!(
            decisions.contains(path),
            "{path} is not on the decisions page"
        );
    }
    for (what, text) in &shown {
        for (secret, value) in secrets.all() {
            assert!(!text.contains(&value), "{what} shows {secret} ({value})");
        }
        assert!(!text.contains("query-secret"), "{what} shows the query");
        assert!(!text.contains("cookie-secret"), "{what} shows the cookie");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_loopback_admin_listener_without_console_token_file_serves_no_console() {
    let console = Console::exposed("").await;
    for path in PAGES.iter().chain(ASSETS).chain([&EVENTS]) {
        let response = console.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        let body = response.text().await.unwrap();
        assert!(body.contains("console_token_file"), "{path}: {body}");
        assert!(!body.contains("csrf"), "{path}: {body}");
    }
    let form = [("csrf", "x"), ("secret", SECRET)];
    let response = console.post("/console/login", None, None, &form).await;
    assert_eq!(response.status(), 404);
    for path in ["/healthz", "/readyz", "/metrics", "/policy"] {
        assert_eq!(console.get(path).await.status(), 200, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_loopback_console_needs_the_secret_once_then_its_session_cookie() {
    let console = Console::exposed("console_token_file = \"console.secret\"\n").await;
    // Signed out: every page is the login form (401), showing nothing of the gateway.
    for path in PAGES.iter().filter(|p| **p != "/console/login") {
        let response = console.get(path).await;
        assert_eq!(response.status(), 401, "{path}");
        assert_secured(path, &response);
        let page = response.text().await.unwrap();
        assert!(page.contains("name=\"secret\""), "{path}: {page}");
        assert!(!page.contains("sha256"), "{path} shows the policy: {page}");
    }
    assert_eq!(console.get(EVENTS).await.status(), 401);
    let csrf = console.csrf().await;
    let try_form = [("csrf", csrf.as_str()), ("method", "GET"), ("path", "/")];
    let response = console.post("/console/try", None, None, &try_form).await;
    assert_eq!(response.status(), 401, "Try without a session");
    // A wrong secret, however close, is 401 and sets no cookie.
    let longer = format!("{SECRET}x");
    let same_length = format!("{}X", &SECRET[..SECRET.len() - 1]);
    for wrong in [
        "",
        "wrong",
        &SECRET[..SECRET.len() - 1],
        &longer,
        &same_length,
    ] {
        let form = [("csrf", csrf.as_str()), ("secret", wrong)];
        let response = console.post("/console/login", None, None, &form).await;
        assert_eq!(response.status(), 401, "secret {wrong:?}");
        assert!(response.headers().get(SET_COOKIE).is_none(), "{wrong:?}");
        let page = response.text().await.unwrap();
        assert!(page.contains("not the console"), "{page}");
    }
    // The right one (the login form still needs its anti-forgery token and Origin).
    let right = [("csrf", csrf.as_str()), ("secret", SECRET)];
    let foreign = Some("http://evil.example");
    assert_eq!(
        console
            .post("/console/login", foreign, None, &right)
            .await
            .status(),
        403
    );
    let response = console.post("/console/login", None, None, &right).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()[LOCATION], "/");
    let set_cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(!set_cookie.contains(SECRET), "{set_cookie}");
    let session = set_cookie.split(';').next().unwrap().to_owned();
    for path in PAGES {
        let response = console.get_with_cookie(path, &session).await;
        assert_eq!(response.status(), 200, "{path} signed in");
    }
    let response = console
        .post("/console/try", None, Some(&session), &try_form)
        .await;
    assert_eq!(response.status(), 200, "Try signed in");
    // A session cookie that is not the one issued is signed out.
    let (name, value) = session.split_once('=').unwrap();
    let forged = format!("{name}={}", flip_last(value));
    for cookie in [
        forged.as_str(),
        &format!("{name}="),
        &format!("other={value}"),
    ] {
        let response = console.get_with_cookie("/", cookie).await;
        assert_eq!(response.status(), 401, "cookie {cookie}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn try_answers_the_status_and_reason_the_data_plane_answers() {
    let console = Console::loopback().await;
    let allowed = console.token("read:forecast", "clientco");
    let narrow = console.token("read:inventory", "clientco");
    let (head, _) = allowed.rsplit_once('.').unwrap();
    let forged = format!("{head}.{}", narrow.rsplit_once('.').unwrap().1);
    let cases = [
        ("allowed", "/forecast", Some(&allowed), 200, "allowed"),
        (
            "a missing scope",
            "/forecast",
            Some(&narrow),
            403,
            "insufficient_scope",
        ),
        (
            "another tenant",
            "/tenants/globex/forecast",
            Some(&allowed),
            403,
            "condition_failed",
        ),
        ("a forged token", "/forecast", Some(&forged), 401, ""),
        ("no token", "/forecast", None, 401, ""),
        (
            "its own tenant",
            "/tenants/clientco/forecast",
            Some(&allowed),
            200,
            "allowed",
        ),
    ];
    for (what, path, token, status, reason) in cases {
        let token = token.map(String::as_str);
        let data_plane = console.data_plane(path, token).await;
        let tried = console.try_it("GET", path, token).await;
        assert_eq!(tried, data_plane, "{what}: Try vs the data plane");
        assert_eq!(tried.0, status, "{what}");
        if !reason.is_empty() {
            assert_eq!(tried.1, reason, "{what}");
        }
    }
}
