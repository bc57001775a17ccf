//! The tools for the people who edit the policy: `diff` (what a policy change does to access,
//! for review), `coverage` (the policy against the backend's OpenAPI document) and `init` (a
//! starting policy from that document). Offline analysis only, never on the request path.
//!
//! All three see requests as path shapes (`shape`: parameter names ignored) and ask the
//! policy's own matcher which route would judge them, so they cannot disagree with the data
//! plane about which route applies. The commands that print their results live in `commands`.

mod attributes;
pub mod coverage;
pub mod diff;
pub mod init;
pub mod openapi;
pub mod shape;
