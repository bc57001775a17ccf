//! gateway: an authorizing reverse proxy.
//!
//! A request travels `proxy::server` -> `proxy::pipeline` (normalise, match, extract, verify,
//! authorise, rewrite headers, forward, log) -> the upstream. `policy` decides, `auth` proves who
//! is calling, `config` holds what the operator wrote, `telemetry` records what happened. See
//! docs/architecture.md.

pub mod auth;
pub mod commands;
pub mod config;
pub mod devissuer;
pub mod identity;
pub mod policy;
pub mod telemetry;
