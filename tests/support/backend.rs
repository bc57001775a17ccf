//! Test support: backend (see mod.rs for the owner).
