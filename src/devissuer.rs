//! An embedded development issuer: a fresh RSA key in memory, `/.well-known/jwks.json`,
//! `/.well-known/openid-configuration`, and `POST /oauth/token` (client-credentials grant).
//!
//! For `gateway demo` and for tests only: it signs whatever its client list allows, so it refuses
//! to bind anything but loopback unless explicitly told otherwise.
//!
//! OWNER: auth helper.
