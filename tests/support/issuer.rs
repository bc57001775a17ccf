//! Test support: issuer (see mod.rs for the owner).
