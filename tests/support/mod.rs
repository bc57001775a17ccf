//! The shared test harness: one way to start each real component on an ephemeral port (an
//! issuer, a backend, a gateway in-process or as the binary, a TLS PKI, an HTTP stand-in), one
//! token and DPoP proof builder, one way to send a request as a client (`world`, `Sent`) or run
//! the binary and check what it printed (`bin::Run`), and one way to wait for things (`wait`).
//! Each integration test file uses what it needs, hence `dead_code` is allowed.
#![allow(dead_code)]

pub mod assertion; // Assertion key files, and verifying assertions against a JWKS.
pub mod backend; // A recording upstream on 127.0.0.1:0.
pub mod bin; // Runs the built `gateway` binary on files.
pub mod documents; // Fixed documents over HTTP (an OpenAPI file to fetch).
pub mod dpop; // DPoP keys, bound tokens and proofs.
pub mod gateway; // Starts the gateway library on 127.0.0.1:0.
pub mod issuer; // The development issuer for tests, and hand-forged tokens.
pub mod keyhost; // A JWKS host serving chosen documents and redirects.
pub mod otlp; // An OTLP/HTTP trace receiver on 127.0.0.1:0.
pub mod pki; // A CA, a server and client certificates, TLS worlds.
pub mod pools; // Replicas in an upstream pool, and the binary in front of them.
pub mod server; // Serves a handler over HTTP on 127.0.0.1:0.
pub mod wait; // Polling with a deadline.
pub mod world; // Issuer + backend + gateway in one line.
