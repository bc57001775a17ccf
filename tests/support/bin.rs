//! Test support: bin (see mod.rs for the owner).
