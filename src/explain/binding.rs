//! `gateway explain --token T [--dpop PROOF] [--cert FILE]`: the data plane's binding rules
//! (`auth::binding`) for one offline request, said step by step.
//!
//! The proof gets every check the data plane makes except those that need the running
//! gateway's state: the `jti` replay store and the server nonce. Its `htu` is compared with
//! `[server] public_url` + the normalised path when that is set; without it the gateway would
//! use the request's own `Host`, which explain does not have, so only the proof's path is
//! compared (and the output says so).

use std::path::Path;

use http::Method;

use super::{Explanation, Proofs};
use crate::auth::AuthError;
use crate::auth::binding::{certificate_binding, certificate_thumbprint, key_binding};
use crate::auth::dpop::{self, Expected};
use crate::config::Config;
use crate::identity::Identity;

/// What the request proved, `(dpop, mtls)`, or the 401 the data plane would answer.
pub fn explain(
    out: &mut Explanation,
    config: &Config,
    identity: &Identity,
    token: &str,
    method: &Method,
    path: &str,
    proofs: Proofs<'_>,
) -> Result<(bool, bool), AuthError> {
    match (&identity.cnf.jkt, &identity.cnf.x5t_s256) {
        (None, None) => out.say("bound to:   nothing (a bearer token)"),
        (jkt, x5t) => {
            if let Some(jkt) = jkt {
                out.say(format!(
                    "bound to:   the DPoP key with thumbprint {jkt} (cnf.jkt)"
                ));
            }
            if let Some(x5t) = x5t {
                out.say(format!(
                    "bound to:   the client certificate with SHA-256 {x5t} (cnf x5t#S256)"
                ));
            }
        }
    }
    let client_cert = proofs.cert.and_then(|file| read_certificate(out, file));
    let mtls = certificate_binding(identity, client_cert)?;
    if mtls {
        out.say("cert:       matches the token's binding");
    }
    let dpop = match proofs.dpop {
        Some(proof) => {
            check_proof(out, config, identity, token, method, path, proof)?;
            true
        }
        None if identity.cnf.jkt.is_some() => {
            return Err(AuthError::BindingMismatch(
                "this token is DPoP-bound (cnf.jkt): the data plane accepts it only as `Authorization: DPoP <token>` with a proof signed by its key; pass one with --dpop"
                    .to_owned(),
            ));
        }
        None => false,
    };
    Ok((dpop, mtls))
}

fn check_proof(
    out: &mut Explanation,
    config: &Config,
    identity: &Identity,
    token: &str,
    method: &Method,
    path: &str,
    proof: &str,
) -> Result<(), AuthError> {
    let proof = dpop::parse(proof.trim(), &config.binding.dpop_algorithms)?;
    let htu = match &config.binding.public_url {
        Some(url) => dpop::normalise_htu(&format!("{}{path}", url.trim_end_matches('/'))),
        None => {
            let origin = dpop::normalise_htu(&proof.htu).and_then(|uri| {
                let after_scheme = uri.find("://").map_or(0, |at| at + 3);
                uri[after_scheme..]
                    .find('/')
                    .map(|at| uri[..after_scheme + at].to_owned())
            });
            out.say("htu:        only its path is compared: set [server] public_url to check the origin too (the gateway uses the request's Host)");
            origin.and_then(|origin| dpop::normalise_htu(&format!("{origin}{path}")))
        }
    };
    let leeway = config.auth.max_leeway();
    dpop::check(
        &proof,
        &Expected {
            method: method.as_str(),
            htu: htu.as_deref(),
            access_token: Some(token),
            now: now(),
            window_secs: config.binding.dpop_window.as_secs().max(1),
            leeway_secs: leeway.as_secs() + u64::from(leeway.subsec_nanos() > 0),
        },
    )?;
    key_binding(identity, &proof)?;
    out.say(format!(
        "proof:      valid ({:?}, key {}); replay and server nonce are checked by the running gateway only",
        proof.alg, proof.jkt
    ));
    Ok(())
}

/// The SHA-256 of the first certificate of a PEM file; `None` (said) when unreadable.
fn read_certificate(out: &mut Explanation, file: &Path) -> Option<[u8; 32]> {
    let pem = match std::fs::read(file) {
        Ok(pem) => pem,
        Err(e) => {
            out.say(format!("cert:       cannot read {}: {e}", file.display()));
            return None;
        }
    };
    let first = rustls_pemfile::certs(&mut pem.as_slice()).next();
    match first {
        Some(Ok(cert)) => Some(certificate_thumbprint(cert.as_ref())),
        _ => {
            out.say(format!(
                "cert:       {} holds no PEM certificate",
                file.display()
            ));
            None
        }
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
