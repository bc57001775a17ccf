//! Stage two of loading gateway.toml: environment overrides, then every value checked and
//! converted into the typed `Config`, collecting all problems instead of stopping at the first.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::HeaderName;
use jsonwebtoken::Algorithm;
use serde::Deserialize;

use super::env::{Fields, env_name};
use super::raw::{self, Field, RawConfig};
use super::{
    AdminConfig, Config, Diagnostic, Diagnostics, ForwardConfig, PolicyConfig, ServerConfig,
    TlsConfig,
};
use crate::constants as C;
use crate::diagnostic::{did_you_mean, line_column};
use crate::units::{parse_duration, parse_size};
use assertion::AssertionValues;

/// Where a value came from: a span of the file, or an environment variable.
#[derive(Debug, Clone)]
pub(super) enum Origin {
    File(Range<usize>),
    Env(String),
}

#[derive(Debug, Clone)]
pub(super) struct Value {
    pub(super) value: toml::Value,
    pub(super) origin: Origin,
}

pub(super) fn load(
    source: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, Diagnostics> {
    let mut checker = Checker {
        source,
        path,
        problems: Vec::new(),
    };
    let (mut document, syntax_errors) = toml::de::DeTable::parse_recoverable(source);
    for e in &syntax_errors {
        checker.at_span(e.span(), format!("not valid TOML: {}", e.message().trim()));
    }
    if !syntax_errors.is_empty() {
        return Err(checker.finish());
    }
    for unknown in raw::take_unknown_keys(document.get_mut()) {
        let hint = did_you_mean(&unknown.key, unknown.known.iter().copied());
        let place = match unknown.section {
            Some(section) => format!("in [{section}]"),
            None => "at the top level".to_owned(),
        };
        checker.at_span(
            Some(unknown.span),
            format!(
                "unknown key `{}` {place}{hint} (known: {})",
                unknown.key,
                unknown.known.join(", ")
            ),
        );
    }
    // The unknown keys are cut out: what is left is checked in the same run.
    let raw = match RawConfig::deserialize(toml::de::Deserializer::from(document)) {
        Ok(raw) => raw,
        Err(e) => {
            checker.at_span(e.span(), e.message().trim().to_owned());
            return Err(checker.finish());
        }
    };
    let config = checker.config(raw, env);
    match config {
        Some(config) if checker.problems.is_empty() => Ok(config),
        _ => Err(checker.finish()),
    }
}

pub(super) struct Checker<'s> {
    source: &'s str,
    path: &'s Path,
    problems: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn finish(mut self) -> Diagnostics {
        self.problems.sort_by_key(|d| (d.line, d.column));
        Diagnostics(self.problems)
    }

    pub(super) fn at_span(&mut self, span: Option<Range<usize>>, message: String) {
        let (line, column) = match span {
            Some(span) => line_column(self.source, span.start),
            None => (0, 0),
        };
        self.problems.push(Diagnostic {
            file: self.path.to_path_buf(),
            line,
            column,
            message,
        });
    }

    pub(super) fn at(&mut self, value: &Value, key: &str, message: impl std::fmt::Display) {
        match &value.origin {
            Origin::File(span) => self.at_span(Some(span.clone()), format!("`{key}`: {message}")),
            Origin::Env(var) => self.at_span(
                None,
                format!("environment variable {var} (overrides `{key}`): {message}"),
            ),
        }
    }

    pub(super) fn missing(&mut self, key: &str, example: &str) {
        let (section, name) = key.rsplit_once('.').unwrap_or(("", key));
        self.at_span(
            None,
            format!(
                "`{name}` is missing from [{section}]; add `{name} = {example}` or set {}",
                env_name(section, name)
            ),
        );
    }

    fn config(
        &mut self,
        mut raw: RawConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<Config> {
        let fields = Fields::new(env);
        let mut get =
            |section: &str, key: &str, field: Field| fields.get(self, section, key, field);
        let s = raw.server;
        let server_listen = get("server", "listen", s.listen);
        let workers = get("server", "workers", s.workers);
        let tls_cert = get("server", "tls_cert", s.tls_cert);
        let tls_key = get("server", "tls_key", s.tls_key);
        let client_ca = get("server", "client_ca", s.client_ca);
        let header_read_timeout = get("server", "header_read_timeout", s.header_read_timeout);
        let max_header_bytes = get("server", "max_header_bytes", s.max_header_bytes);
        let idle_timeout = get("server", "idle_timeout", s.idle_timeout);
        let max_connections = get("server", "max_connections", s.max_connections);
        let drain_timeout = get("server", "drain_timeout", s.drain_timeout);
        let admin_listen = get("admin", "listen", raw.admin.listen);
        let admin_hosts = get("admin", "hosts", raw.admin.hosts);
        let console_token_file = get("admin", "console_token_file", raw.admin.console_token_file);
        let policy_file = get("policy", "file", raw.policy.file);
        let log_file = get("log", "file", raw.log.file);
        let log_format = get("log", "format", raw.log.format);
        let on_full = get("log", "on_full", raw.log.on_full);
        let log_buffer = get("log", "buffer", raw.log.buffer);
        let otlp_endpoint = get("telemetry", "otlp_endpoint", raw.telemetry.otlp_endpoint);
        let sample_ratio = get("telemetry", "sample_ratio", raw.telemetry.sample_ratio);
        let ra = std::mem::take(&mut raw.forward.assertion);
        let assertion = AssertionValues {
            header: get("forward.assertion", "header", ra.header),
            key_file: get("forward.assertion", "key_file", ra.key_file),
            previous_key_file: get(
                "forward.assertion",
                "previous_key_file",
                ra.previous_key_file,
            ),
            issuer: get("forward.assertion", "issuer", ra.issuer),
            audience: get("forward.assertion", "audience", ra.audience),
            lifetime: get("forward.assertion", "lifetime", ra.lifetime),
            reuse: get("forward.assertion", "reuse", ra.reuse),
        };
        let binding_fields = binding::Fields {
            public_url: get("server", "public_url", s.public_url),
            dpop_algorithms: get(
                "auth",
                "dpop_algorithms",
                std::mem::take(&mut raw.auth.dpop_algorithms),
            ),
            dpop_window: get(
                "auth",
                "dpop_window",
                std::mem::take(&mut raw.auth.dpop_window),
            ),
            dpop_nonce: get(
                "auth",
                "dpop_nonce",
                std::mem::take(&mut raw.auth.dpop_nonce),
            ),
            dpop_replay_capacity: get(
                "auth",
                "dpop_replay_capacity",
                std::mem::take(&mut raw.auth.dpop_replay_capacity),
            ),
            require_binding: get(
                "auth",
                "require_binding",
                std::mem::take(&mut raw.auth.require_binding),
            ),
        };
        let state_fields = state::Fields {
            redis: get("state", "redis", raw.state.redis),
            on_error: get("state", "on_error", raw.state.on_error),
            timeout: get("state", "timeout", raw.state.timeout),
        };

        let server = ServerConfig {
            listen: self.address(server_listen, "server.listen", C::SERVER_LISTEN),
            workers: self
                .count(workers, "server.workers", 0)
                .filter(|&n| n > 0)
                .map(|n| n as usize),
            tls: self.tls(tls_cert, tls_key, client_ca),
            header_read_timeout: self.duration(
                header_read_timeout,
                "server.header_read_timeout",
                C::HEADER_READ_TIMEOUT,
            ),
            max_header_bytes: self.size(
                max_header_bytes,
                "server.max_header_bytes",
                C::MAX_HEADER_BYTES,
            ) as usize,
            idle_timeout: self.duration(idle_timeout, "server.idle_timeout", C::IDLE_TIMEOUT),
            max_connections: self
                .count(
                    max_connections,
                    "server.max_connections",
                    C::MAX_CONNECTIONS,
                )
                .unwrap_or(C::MAX_CONNECTIONS) as usize,
            drain_timeout: self.duration(drain_timeout, "server.drain_timeout", C::DRAIN_TIMEOUT),
        };
        let admin = AdminConfig {
            listen: self.address(admin_listen, "admin.listen", C::ADMIN_LISTEN),
            hosts: self.admin_hosts(admin_hosts),
            console_token_file: console_token_file
                .and_then(|v| self.console_token_file(&v, "admin.console_token_file")),
        };
        let auth = self.auth(raw.auth, &fields);
        let policy_file = match policy_file {
            Some(v) => self.existing_file(&v, "policy.file"),
            None => {
                self.missing("policy.file", "\"policies/clientco.yaml\"");
                None
            }
        };
        let has_assertion = assertion.is_set();
        let forward = self.forward(raw.forward, assertion);
        let pools = self.pools(raw.upstream, raw.upstreams, &fields, has_assertion);
        let log = self.log(log_file, log_format, on_full, log_buffer);
        let telemetry = self.telemetry(otlp_endpoint, sample_ratio);
        let binding = self.binding(binding_fields);
        let state = self.state(state_fields);
        Some(Config {
            source: self.path.to_path_buf(),
            server,
            admin,
            upstream: pools.default,
            upstreams: pools.named,
            auth: auth?,
            policy: PolicyConfig { file: policy_file? },
            forward,
            log,
            telemetry,
            binding,
            state,
        })
        .filter(|_| !pools.failed)
    }

    pub(super) fn problem_count(&self) -> usize {
        self.problems.len()
    }

    pub(super) fn text(&mut self, v: &Value, key: &str) -> Option<String> {
        match &v.value {
            toml::Value::String(s) => Some(s.clone()),
            other => {
                self.at(
                    v,
                    key,
                    format!("expected text in quotes, found {}", other.type_str()),
                );
                None
            }
        }
    }

    pub(super) fn required_text(
        &mut self,
        v: Option<Value>,
        key: &str,
        example: &str,
    ) -> Option<String> {
        let Some(v) = v else {
            self.missing(key, example);
            return None;
        };
        let text = self.text(&v, key)?;
        if text.trim().is_empty() {
            self.at(&v, key, format!("must not be empty; for example {example}"));
            return None;
        }
        Some(text)
    }

    pub(super) fn duration(&mut self, v: Option<Value>, key: &str, default: Duration) -> Duration {
        let Some(v) = v else { return default };
        if let toml::Value::Integer(n) = v.value {
            // `leeway = 30`: seconds to some tools, milliseconds to others; make it explicit.
            let name = key.rsplit('.').next().unwrap_or(key);
            self.at(
                &v,
                key,
                format!("a duration is text with a unit: write `{name} = \"{n}s\"` (or \"{n}ms\", \"{n}m\")"),
            );
            return default;
        }
        let Some(text) = self.text(&v, key) else {
            return default;
        };
        parse_duration(&text).unwrap_or_else(|e| {
            self.at(&v, key, e);
            default
        })
    }

    pub(super) fn size(&mut self, v: Option<Value>, key: &str, default: u64) -> u64 {
        let Some(v) = v else { return default };
        let parsed = match &v.value {
            toml::Value::String(s) => parse_size(s),
            toml::Value::Integer(n) => {
                u64::try_from(*n).map_err(|_| "a size cannot be negative".to_owned())
            }
            other => Err(format!(
                "expected a size such as \"8KiB\", found {}",
                other.type_str()
            )),
        };
        match parsed {
            Ok(0) => {
                self.at(&v, key, "must be more than 0");
                default
            }
            Ok(n) => n,
            Err(e) => {
                self.at(&v, key, e);
                default
            }
        }
    }

    /// A positive whole number; `None` when absent or wrong (wrong is reported).
    pub(super) fn count(&mut self, v: Option<Value>, key: &str, default: u64) -> Option<u64> {
        let Some(v) = v else {
            return (default > 0).then_some(default);
        };
        match &v.value {
            toml::Value::Integer(n) if *n >= 1 => u64::try_from(*n).ok(),
            _ => {
                self.at(&v, key, "expected a whole number of at least 1");
                None
            }
        }
    }

    pub(super) fn boolean(&mut self, v: Option<Value>, key: &str, default: bool) -> bool {
        let Some(v) = v else { return default };
        match &v.value {
            toml::Value::Boolean(b) => *b,
            _ => {
                self.at(&v, key, "expected `true` or `false`");
                default
            }
        }
    }

    fn address(&mut self, v: Option<Value>, key: &str, default: &str) -> SocketAddr {
        let fallback = SocketAddr::from(([127, 0, 0, 1], 0));
        let text = match &v {
            None => default.to_owned(),
            Some(v) => match self.text(v, key) {
                Some(t) => t,
                None => return fallback,
            },
        };
        match text.parse() {
            Ok(addr) => addr,
            Err(_) => {
                if let Some(v) = &v {
                    self.at(v, key, format!("`{text}` is not an IP address and port; write e.g. \"0.0.0.0:8080\" or \"[::1]:8080\" (host names are not resolved)"));
                }
                fallback
            }
        }
    }

    pub(super) fn http_url(&mut self, v: &Value, key: &str) -> Option<String> {
        let text = self.text(v, key)?;
        match text.parse::<http::Uri>() {
            Ok(uri)
                if matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some() =>
            {
                Some(text)
            }
            _ => {
                self.at(
                    v,
                    key,
                    format!("`{text}` is not an http:// or https:// URL with a host"),
                );
                None
            }
        }
    }

    pub(super) fn algorithms(&mut self, v: Option<Value>, key: &str) -> Vec<Algorithm> {
        let default = C::ALGORITHMS.to_vec();
        let Some(v) = v else { return default };
        let toml::Value::Array(items) = &v.value else {
            self.at(&v, key, "expected a list such as [\"RS256\"]");
            return default;
        };
        if items.is_empty() {
            self.at(
                &v,
                key,
                "an empty allow-list would refuse every token; Auth0 signs with [\"RS256\"]",
            );
            return default;
        }
        let mut out = Vec::new();
        for item in items {
            let name = item.as_str().unwrap_or_default();
            match algorithm(name) {
                Ok(a) => out.push(a),
                Err(e) => self.at(&v, key, e),
            }
        }
        out
    }

    fn tls(
        &mut self,
        cert: Option<Value>,
        key: Option<Value>,
        ca: Option<Value>,
    ) -> Option<TlsConfig> {
        match (cert, key) {
            (Some(cert), Some(key)) => {
                let cert = self.existing_file(&cert, "server.tls_cert");
                let key = self.existing_file(&key, "server.tls_key");
                let client_ca = ca.and_then(|ca| self.existing_file(&ca, "server.client_ca"));
                Some(TlsConfig {
                    cert: cert?,
                    key: key?,
                    client_ca,
                })
            }
            (None, None) => {
                if let Some(ca) = ca {
                    self.at(
                        &ca,
                        "server.client_ca",
                        "client certificates need TLS; set `tls_cert` and `tls_key` too",
                    );
                }
                None
            }
            (Some(one), None) | (None, Some(one)) => {
                self.at(&one, "server", "`tls_cert` and `tls_key` go together; set both to serve HTTPS, or neither for plain HTTP");
                None
            }
        }
    }

    /// Resolves a path against the config file's folder and checks it is a readable file.
    /// `[admin] hosts`: bare host names (no scheme, port or path), compared lower-cased.
    fn admin_hosts(&mut self, v: Option<Value>) -> Vec<String> {
        let key = "admin.hosts";
        let Some(v) = v else { return Vec::new() };
        let toml::Value::Array(items) = &v.value else {
            self.at(
                &v,
                key,
                "expected a list such as [\"gateway-admin.internal\"]",
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            let name = item
                .as_str()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            let bare = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
            if bare {
                out.push(name);
            } else {
                self.at(
                    &v,
                    key,
                    format!(
                        "{item} is not a bare host name; write the name the operators' browser \
                         uses, without scheme, port or path, e.g. \"gateway-admin.internal\""
                    ),
                );
            }
        }
        out
    }

    /// `[admin] console_token_file`: an existing file holding a non-empty secret of at least 16
    /// bytes (surrounding whitespace ignored).
    fn console_token_file(&mut self, v: &Value, key: &str) -> Option<PathBuf> {
        let path = self.existing_file(v, key)?;
        match std::fs::read_to_string(&path) {
            Ok(secret) if secret.trim().len() >= 16 => Some(path),
            Ok(_) => {
                self.at(
                    v,
                    key,
                    format!(
                        "`{}` holds fewer than 16 characters; put a long random secret in it, \
                         e.g. `openssl rand -hex 32 > {}`",
                        path.display(),
                        path.display()
                    ),
                );
                None
            }
            Err(error) => {
                self.at(v, key, format!("cannot read `{}`: {error}", path.display()));
                None
            }
        }
    }

    fn existing_file(&mut self, v: &Value, key: &str) -> Option<PathBuf> {
        let text = self.text(v, key)?;
        let folder = self.path.parent().unwrap_or(Path::new("."));
        let resolved = folder.join(&text);
        if resolved.is_file() {
            Some(resolved)
        } else if resolved.is_dir() {
            self.at(
                v,
                key,
                format!(
                    "`{}` is a directory; name a file in it (relative paths start from the \
                     config file's folder)",
                    resolved.display()
                ),
            );
            None
        } else {
            self.at(
                v,
                key,
                format!(
                    "file `{}` does not exist (relative paths start from the config file's folder)",
                    resolved.display()
                ),
            );
            None
        }
    }

    fn forward(&mut self, raw: raw::RawForward, assertion: AssertionValues) -> ForwardConfig {
        let mut claims = Vec::new();
        for (claim, header) in raw.claims {
            let value = Value {
                value: header.get_ref().clone(),
                origin: Origin::File(header.span()),
            };
            let key = format!("forward.claims.\"{}\"", claim.get_ref());
            let Some(name) = self.text(&value, &key) else {
                continue;
            };
            match HeaderName::from_bytes(name.as_bytes()) {
                Ok(h) if !h.as_str().starts_with("x-auth-") => self.at(&value, &key, format!("`{name}` must start with `X-Auth-`: the gateway strips every inbound X-Auth-* header, so a client can never forge it")),
                Ok(h) if RESERVED.contains(&h.as_str()) => self.at(&value, &key, format!("`{name}` is already set by the gateway; choose another name")),
                Ok(h) => claims.push((claim.into_inner(), h)),
                Err(_) => self.at(&value, &key, format!("`{name}` is not a valid header name")),
            }
        }
        let assertion = self.assertion(assertion, &claims);
        ForwardConfig { claims, assertion }
    }
}

const RESERVED: &[&str] = &[
    "x-auth-subject",
    "x-auth-client-id",
    "x-auth-scopes",
    "x-auth-issuer",
    "x-auth-issuer-name",
];

fn algorithm(name: &str) -> Result<Algorithm, String> {
    match name {
        "RS256" => Ok(Algorithm::RS256),
        "RS384" => Ok(Algorithm::RS384),
        "RS512" => Ok(Algorithm::RS512),
        "PS256" => Ok(Algorithm::PS256),
        "PS384" => Ok(Algorithm::PS384),
        "PS512" => Ok(Algorithm::PS512),
        "ES256" => Ok(Algorithm::ES256),
        "ES384" => Ok(Algorithm::ES384),
        "EdDSA" => Ok(Algorithm::EdDSA),
        "HS256" | "HS384" | "HS512" => Err(format!(
            "`{name}` is refused: it is a shared-secret algorithm, so anyone able to verify tokens could mint them, and mixing it with public keys enables key-confusion attacks (RFC 8725 §2.1); Auth0 APIs use RS256"
        )),
        "none" | "None" | "NONE" => Err(
            "`none` is refused: it means unsigned tokens, which anyone can forge (RFC 8725 §3.1)"
                .to_owned(),
        ),
        other => Err(format!(
            "`{other}` is not a known algorithm{}; known: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA",
            did_you_mean(
                other,
                [
                    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"
                ]
            )
        )),
    }
}

mod assertion;
mod auth;
mod binding;
#[cfg(test)]
mod issuer_tests;
mod state;
mod telemetry;
#[cfg(test)]
mod tests;
