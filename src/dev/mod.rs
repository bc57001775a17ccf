//! Development tools, never part of the production request path: the embedded development
//! issuer (`issuer`: keys in memory, JWKS, client-credentials grant) that `gateway demo` and the
//! tests use, a DPoP client (`dpop`: proof keys and proofs), and the demo itself (`demo`: issuer + demo backend + a real gateway on loopback).
//!
//! Nothing outside `dev` and `commands::demo` depends on this module; the data plane, `auth`,
//! `policy` and `config` would build without it.

pub mod demo;
pub mod dpop;
pub mod issuer;
