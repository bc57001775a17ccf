//! Test support: gateway (see mod.rs for the owner).
