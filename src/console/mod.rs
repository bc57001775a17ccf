//! The console: the admin listener's read-only web pages for operators (SPEC, third round, "The
//! console"), and the safety rules around them.
//!
//! `PAGES` is the one table of paths. Each page has a gather function in `pages` that reads the
//! gateway's state into a plain struct, and a template in `views` (maud, which escapes every
//! value it is given) that renders it; the console owns no state of its own besides the secret
//! it was started with. The safety rules are applied here, before any page runs: a `Host` that
//! is not the admin address, `localhost`, a loopback address or an `[admin] hosts` name is 421
//! (DNS rebinding); a POST needs an `Origin` naming that host (or, as a browser sends it under
//! the pages' own `no-referrer` policy, `null` with `Sec-Fetch-Site: same-origin`) and the
//! page's anti-forgery token (403); every answer carries `SECURITY_HEADERS`. On a listener that
//! is not on loopback the console needs `[admin] console_token_file`: without it there is no
//! console, with it a login form compares the secret in constant time (`Console::secret_matches`: HMAC tags compared by
//! `hmac::verify`) and sets an HttpOnly, SameSite=Strict session cookie (an HMAC of the secret,
//! so nothing is stored; compared with `constant_time::verify_slices_are_equal`).

mod pages;
mod views;

pub use pages::pools;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use aws_lc_rs::{constant_time, hmac, rand};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, COOKIE, HOST, LOCATION, ORIGIN, SET_COOKIE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::config::Config;
use crate::proxy::Gateway;
use crate::proxy::body::{self, Body};

/// Sent with every console page and asset, and with `/policy`.
pub const SECURITY_HEADERS: [(&str, &str); 5] = [
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
    ("x-frame-options", "DENY"),
];

const COOKIE_NAME: &str = "gateway_console";
/// Fetch Metadata (W3C): where the browser says a request comes from.
const SEC_FETCH_SITE: &str = "sec-fetch-site";
/// Largest form body read (the Try page's token is the big field).
const MAX_FORM_BYTES: usize = 64 * 1024;

/// What a path of the console serves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Handler {
    Overview,
    Policy,
    Decisions,
    Keys,
    Upstreams,
    Try,
    Events,
    Login,
    Asset(&'static str, &'static [u8]),
}

/// One console path: its handler and, for a page, its title in the navigation bar.
struct Page {
    path: &'static str,
    title: Option<&'static str>,
    handler: Handler,
}

/// Every path the console answers, in the navigation bar's order.
const PAGES: &[Page] = &[
    page("/", Some("Overview"), Handler::Overview),
    page("/console/policy", Some("Policy"), Handler::Policy),
    page("/console/decisions", Some("Decisions"), Handler::Decisions),
    page("/console/keys", Some("Keys"), Handler::Keys),
    page("/console/upstreams", Some("Upstreams"), Handler::Upstreams),
    page("/console/try", Some("Try"), Handler::Try),
    page("/console/events", None, Handler::Events),
    page("/console/login", None, Handler::Login),
    page(
        "/console/assets/console.css",
        None,
        Handler::Asset(
            "text/css; charset=utf-8",
            include_bytes!("assets/console.css"),
        ),
    ),
    page(
        "/console/assets/console.js",
        None,
        Handler::Asset(
            "text/javascript; charset=utf-8",
            include_bytes!("assets/console.js"),
        ),
    ),
    page(
        "/console/assets/icon.svg",
        None,
        Handler::Asset("image/svg+xml", include_bytes!("assets/icon.svg")),
    ),
];

const fn page(path: &'static str, title: Option<&'static str>, handler: Handler) -> Page {
    Page {
        path,
        title,
        handler,
    }
}

/// The navigation bar: (path, title) of every page.
fn navigation() -> impl Iterator<Item = (&'static str, &'static str)> {
    PAGES
        .iter()
        .filter_map(|page| page.title.map(|title| (page.path, title)))
}

/// Whether `path` is the console's: one of `PAGES`, or anything else under `/console/` (a
/// 404 with the console's headers, behind the same Host check).
pub fn serves(path: &str) -> bool {
    path.starts_with("/console/") || PAGES.iter().any(|page| page.path == path)
}

/// How the console was set up at start.
pub struct Console {
    config: Arc<Config>,
    /// The admin listener is on loopback: no login.
    loopback: bool,
    /// Random bytes were available for the keys below; without them the console is off (a
    /// predictable anti-forgery token would be no protection).
    keyed: bool,
    /// `console_token_file`'s secret, as `login_key`'s HMAC of it; `None`: no login possible.
    secret_tag: Option<Vec<u8>>,
    /// A random per-process key the login form's answer is HMACed with, so that comparing it
    /// with `secret_tag` takes the same time whatever it is (see `secret_matches`).
    login_key: hmac::Key,
    /// The session cookie's value (HMAC of the secret), when there is a secret.
    session: Option<String>,
    /// The anti-forgery token every form carries (random per process).
    csrf: String,
}

impl Console {
    pub fn new(config: Arc<Config>, admin_addr: SocketAddr) -> Console {
        let loopback = admin_addr.ip().is_loopback();
        let secret = config.admin.console_token_file.as_ref().and_then(|file| {
            match std::fs::read_to_string(file) {
                Ok(text) => Some(text.trim().as_bytes().to_vec()),
                Err(error) => {
                    tracing::error!(file = %file.display(), %error, "console_token_file cannot be read; the console is off");
                    None
                }
            }
        });
        let mut random = [0u8; 64];
        let keyed = rand::fill(&mut random).is_ok();
        if !keyed {
            tracing::error!("no random bytes for the console's keys; the console is off");
        }
        let (form_key, login_key) = random.split_at(32);
        let form_key = hmac::Key::new(hmac::HMAC_SHA256, form_key);
        let login_key = hmac::Key::new(hmac::HMAC_SHA256, login_key);
        let session = secret.as_ref().map(|secret| {
            let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
            hex(hmac::sign(&key, b"gateway console session").as_ref())
        });
        let secret_tag = secret
            .as_ref()
            .map(|secret| hmac::sign(&login_key, secret).as_ref().to_vec());
        let csrf = hex(hmac::sign(&form_key, b"gateway console form").as_ref());
        if !loopback && secret.is_none() {
            tracing::warn!(
                admin = %admin_addr,
                "the admin listener is not on loopback and [admin] console_token_file is not set: the console is off (/healthz, /readyz, /metrics, /policy stay open)"
            );
        }
        Console {
            config,
            loopback,
            keyed,
            secret_tag,
            login_key,
            session,
            csrf,
        }
    }

    /// The configuration the gateway was started with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn on(&self) -> bool {
        self.keyed && (self.loopback || self.secret_tag.is_some())
    }

    /// Whether `given` is `console_token_file`'s secret, in constant time: `given` is HMACed
    /// with the per-process `login_key` and `hmac::verify` compares that tag with the secret's
    /// (aws-lc's `CRYPTO_memcmp` over the fixed 32 bytes), so neither where a guess first
    /// differs nor how long the secret is shows in the answer's timing. A plain `==` on the
    /// two strings would stop at the first differing byte.
    fn secret_matches(&self, given: &[u8]) -> bool {
        self.secret_tag
            .as_ref()
            .is_some_and(|tag| hmac::verify(&self.login_key, given, tag).is_ok())
    }
}

/// Whether the request's `Host` (or HTTP/2 `:authority`) names this admin listener: the
/// address the connection came in on, `localhost`, a loopback address, or an `[admin] hosts`
/// name. Anything else is a DNS-rebinding attempt, or a misconfiguration (421).
pub fn host_allowed<B>(request: &Request<B>, local: SocketAddr, hosts: &[String]) -> bool {
    let Some(authority) = authority(request) else {
        return false;
    };
    let host = strip_port(&authority).to_ascii_lowercase();
    if host == "localhost" || hosts.contains(&host) {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback() || ip == local.ip(),
        Err(_) => false,
    }
}

fn authority<B>(request: &Request<B>) -> Option<String> {
    if let Some(authority) = request.uri().authority() {
        return Some(authority.as_str().to_owned());
    }
    let mut hosts = request.headers().get_all(HOST).iter();
    let host = hosts.next()?;
    if hosts.next().is_some() {
        return None;
    }
    host.to_str().ok().map(str::to_owned)
}

fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .find(']')
            .map_or(authority, |end| &authority[..=end]);
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
}

/// A 421 for a `Host` the console does not answer to.
pub fn misdirected() -> Response<Body> {
    plain(
        StatusCode::MISDIRECTED_REQUEST,
        "this Host is not the admin listener's: use its address, localhost, or add the name to [admin] hosts\n",
    )
}

/// Answers a console request (its path is in `PAGES`; the Host was checked by the caller).
pub async fn answer(
    console: &Console,
    gateway: &Arc<Gateway>,
    request: Request<Incoming>,
) -> Response<Body> {
    let Some(page) = PAGES.iter().find(|p| p.path == request.uri().path()) else {
        return plain(StatusCode::NOT_FOUND, "no such console page\n");
    };
    if !console.on() {
        return plain(
            StatusCode::NOT_FOUND,
            "the console is off: the admin listener is not on loopback and [admin] console_token_file is not set\n",
        );
    }
    let post = request.method() == Method::POST;
    if !post && request.method() != Method::GET && request.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "GET or POST only\n");
    }
    if let Handler::Asset(content_type, bytes) = page.handler {
        return secured(respond(
            StatusCode::OK,
            content_type,
            Bytes::from_static(bytes),
        ));
    }
    let form = if post {
        match read_form(console, request).await {
            Ok(form) => Some(form),
            Err(refusal) => return secured(refusal),
        }
    } else {
        if !signed_in(console, &request) && page.handler != Handler::Login {
            return secured(html(
                StatusCode::UNAUTHORIZED,
                views::login(&console.csrf, None),
            ));
        }
        None
    };
    let response = match (page.handler, form) {
        (Handler::Login, Some(form)) => login(console, &form),
        (_, Some(form)) if !form.signed_in => {
            html(StatusCode::UNAUTHORIZED, views::login(&console.csrf, None))
        }
        (Handler::Try, Some(form)) => {
            let answer = pages::try_it(gateway, &console.config, &form).await;
            html(
                StatusCode::OK,
                views::try_page(&console.csrf, Some(&answer)),
            )
        }
        (_, Some(_)) => plain(StatusCode::METHOD_NOT_ALLOWED, "this page takes GET only\n"),
        (Handler::Overview, None) => {
            html(StatusCode::OK, views::overview(&pages::overview(gateway)))
        }
        (Handler::Policy, None) => html(StatusCode::OK, views::policy(&pages::policy(gateway))),
        (Handler::Decisions, None) => {
            html(StatusCode::OK, views::decisions(&pages::decisions(gateway)))
        }
        (Handler::Keys, None) => html(
            StatusCode::OK,
            views::keys(&pages::keys(gateway, &console.config)),
        ),
        (Handler::Upstreams, None) => html(
            StatusCode::OK,
            views::upstreams(&pages::upstreams(gateway, &console.config)),
        ),
        (Handler::Try, None) => html(StatusCode::OK, views::try_page(&console.csrf, None)),
        (Handler::Login, None) => html(StatusCode::OK, views::login(&console.csrf, None)),
        (Handler::Events, None) => pages::events(gateway),
        (Handler::Asset(..), None) => plain(StatusCode::NOT_FOUND, "no such asset\n"),
    };
    secured(response)
}

/// A checked form: the fields of a POST whose Origin and anti-forgery token were right. Whether
/// the sender was signed in is carried along (a POST's cookie is checked with the form).
pub struct Form {
    fields: Vec<(String, String)>,
    signed_in: bool,
}

impl Form {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Reads a POST's form after checking its Origin against its Host and its anti-forgery token
/// (403 otherwise), so a page on another site can never submit one.
async fn read_form(console: &Console, request: Request<Incoming>) -> Result<Form, Response<Body>> {
    let forbidden = |why: &'static str| plain(StatusCode::FORBIDDEN, why);
    if !same_origin(&request) {
        return Err(forbidden(
            "a console form must be sent from the console itself (its Origin must name this host)\n",
        ));
    }
    let signed_in = signed_in(console, &request);
    let limited = http_body_util::Limited::new(request.into_body(), MAX_FORM_BYTES);
    let bytes = match limited.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Err(plain(StatusCode::PAYLOAD_TOO_LARGE, "form too large\n")),
    };
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(&bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let form = Form { fields, signed_in };
    let token_ok = form.get("csrf").is_some_and(|token| {
        constant_time::verify_slices_are_equal(token.as_bytes(), console.csrf.as_bytes()).is_ok()
    });
    if !token_ok {
        return Err(forbidden(
            "the form's anti-forgery token is missing or wrong: reload the console page and send it again\n",
        ));
    }
    Ok(form)
}

/// Whether a POST comes from the console's own pages: its `Origin` names the host it was sent
/// to. One exception, which the pages' own `Referrer-Policy: no-referrer` makes necessary: under
/// that policy a browser sends `Origin: null` even for a same-origin form (Fetch, "serializing a
/// request origin"), so `null` is taken when the browser's `Sec-Fetch-Site` says `same-origin`.
/// A page cannot set that header (it is a forbidden header name), and a form on another site
/// gets `cross-site` whatever its own referrer policy, so this admits no foreign page; the
/// anti-forgery token is checked after this in every case.
fn same_origin<B>(request: &Request<B>) -> bool {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let host = authority(request).unwrap_or_default();
    let origin = header(ORIGIN.as_str());
    origin == format!("http://{host}")
        || origin == format!("https://{host}")
        || (origin == "null" && header(SEC_FETCH_SITE) == "same-origin")
}

/// Signed in: on loopback always; otherwise the session cookie matches (constant time).
fn signed_in<B>(console: &Console, request: &Request<B>) -> bool {
    if console.loopback {
        return true;
    }
    let Some(session) = &console.session else {
        return false;
    };
    request
        .headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| {
            name == COOKIE_NAME
                && constant_time::verify_slices_are_equal(value.as_bytes(), session.as_bytes())
                    .is_ok()
        })
}

/// The login form's POST: the secret compared in constant time; right, a session cookie and
/// back to the overview; wrong, 401.
fn login(console: &Console, form: &Form) -> Response<Body> {
    let Some(session) = &console.session else {
        // On loopback there is nothing to sign in to.
        return redirect("/");
    };
    let given = form.get("secret").unwrap_or_default().trim();
    if !console.secret_matches(given.as_bytes()) {
        return html(
            StatusCode::UNAUTHORIZED,
            views::login(&console.csrf, Some("That is not the console's secret.")),
        );
    }
    let mut response = redirect("/");
    if let Ok(cookie) = HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={session}; Path=/; HttpOnly; SameSite=Strict"
    )) {
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    response
}

fn redirect(to: &'static str) -> Response<Body> {
    let mut response = respond(StatusCode::SEE_OTHER, "text/plain", Bytes::new());
    response
        .headers_mut()
        .insert(LOCATION, HeaderValue::from_static(to));
    response
}

/// Adds `SECURITY_HEADERS`.
pub fn secured(mut response: Response<Body>) -> Response<Body> {
    for (name, value) in SECURITY_HEADERS {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    response
}

fn html(status: StatusCode, markup: maud::Markup) -> Response<Body> {
    respond(
        status,
        "text/html; charset=utf-8",
        markup.into_string().into(),
    )
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    secured(respond(
        status,
        "text/plain; charset=utf-8",
        Bytes::from_static(text.as_bytes()),
    ))
}

fn respond(status: StatusCode, content_type: &'static str, bytes: Bytes) -> Response<Body> {
    let mut response = Response::new(body::full(bytes));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(host: &str) -> Request<()> {
        Request::builder()
            .uri("/")
            .header(HOST, host)
            .body(())
            .unwrap_or_default()
    }

    #[test]
    fn hosts_the_console_answers_to() {
        let local: SocketAddr = "10.1.2.3:9091"
            .parse()
            .unwrap_or(SocketAddr::from(([0; 4], 0)));
        let hosts = vec!["admin.internal".to_owned()];
        for good in [
            "localhost:9091",
            "127.0.0.1:9091",
            "[::1]:9091",
            "10.1.2.3:9091",
            "Admin.Internal",
            "localhost",
        ] {
            assert!(host_allowed(&request(good), local, &hosts), "{good}");
        }
        for bad in [
            "evil.example",
            "evil.example:9091",
            "10.1.2.4:9091",
            "localhost.evil.example",
            "",
        ] {
            assert!(!host_allowed(&request(bad), local, &hosts), "{bad}");
        }
    }

    #[test]
    fn every_path_is_listed_once() {
        for (i, page) in PAGES.iter().enumerate() {
            assert!(
                PAGES[i + 1..].iter().all(|other| other.path != page.path),
                "{}",
                page.path
            );
        }
    }
}
