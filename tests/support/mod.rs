//! The shared test harness: an issuer, a backend and a gateway in a line each, on ephemeral
//! ports. Each integration test file uses what it needs, hence `dead_code` is allowed.
#![allow(dead_code)]

pub mod backend; // OWNER: lead. A recording upstream on 127.0.0.1:0.
pub mod bin; // OWNER: policy helper. Runs the built `gateway` binary on files.
pub mod gateway; // OWNER: lead. Starts the gateway library on 127.0.0.1:0.
pub mod issuer; // OWNER: auth helper. Wraps gateway::dev::issuer for tests.
pub mod world; // OWNER: lead. Issuer + backend + gateway in one line.
