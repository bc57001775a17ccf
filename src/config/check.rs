//! Stage two of loading gateway.toml: environment overrides, then every value checked and
//! converted into the typed `Config`, collecting all problems instead of stopping at the first.
//!
//! This file parses the TOML, holds the `Checker` (where problems are gathered and how they are
//! worded) and assembles the `Config` section by section. The readers of single values (text,
//! durations, sizes, files, algorithms) are in `values`; each section's own rules in a file of
//! its own: `listeners` ([server] TLS, [admin]), `auth`, `binding`, `forward`,
//! `assertion`, `state`, `telemetry`; the pools ([upstream], [upstreams.NAME]) are
//! `config::upstream_check`.

use std::ops::Range;
use std::path::Path;

use serde::Deserialize;

use super::env::{Fields, env_name};
use super::raw::{self, Field, RawConfig};
use super::{AdminConfig, Config, Deferred, Diagnostic, Loaded, PolicyConfig, ServerConfig, Spot};
use crate::constants as C;
use crate::diagnostic::{did_you_mean, line_column};
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

pub(super) fn load(source: &str, path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Loaded {
    let mut checker = Checker {
        source,
        path,
        problems: Vec::new(),
        deferred: Deferred::default(),
    };
    let (mut document, syntax_errors) = toml::de::DeTable::parse_recoverable(source);
    for e in &syntax_errors {
        checker.at_span(e.span(), format!("not valid TOML: {}", e.message().trim()));
    }
    if !syntax_errors.is_empty() {
        return checker.finish(None);
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
            return checker.finish(None);
        }
    };
    let config = checker.config(raw, env);
    checker.finish(config)
}

pub(super) struct Checker<'s> {
    source: &'s str,
    path: &'s Path,
    problems: Vec<Diagnostic>,
    /// The values a module above `config` checks (`load`).
    pub(super) deferred: Deferred,
}

impl Checker<'_> {
    /// The outcome, unsorted: `Loaded::finish` sorts once the deferred problems are in.
    fn finish(self, config: Option<Config>) -> Loaded {
        Loaded {
            config: config.filter(|_| self.problems.is_empty()),
            problems: self.problems,
            unknown_overrides: Vec::new(),
            deferred: self.deferred,
        }
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
        let problem = self.spot(value, key).problem(message);
        self.problems.push(problem);
    }

    /// Where `value` (of `key`) was written, for a problem found now or by a deferred check.
    pub(super) fn spot(&self, value: &Value, key: &str) -> Spot {
        let (line, column, env) = match &value.origin {
            Origin::File(span) => {
                let (line, column) = line_column(self.source, span.start);
                (line, column, None)
            }
            Origin::Env(var) => (0, 0, Some(var.clone())),
        };
        Spot {
            file: self.path.to_path_buf(),
            line,
            column,
            key: key.to_owned(),
            env,
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
}

mod assertion;
mod auth;
mod binding;
mod forward;
#[cfg(test)]
mod issuer_tests;
mod listeners;
mod state;
mod telemetry;
#[cfg(test)]
mod tests;
mod values;
