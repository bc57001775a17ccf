//! The policy: which paths exist, which methods they take, which scopes they need.
//!
//! Loaded from YAML (`load`), matched against normalised paths (`normalise`, `Policy::lookup`),
//! and judged (`Route::authorise`). The same functions serve the data plane, `gateway explain`
//! and `gateway test`, so the three can never disagree.
//!
//! OWNER: policy/config helper. The public items below are the contract the data plane builds
//! against; add freely, rename none without updating the callers.

use std::path::Path;

use http::Method;

use crate::config::Diagnostics;
use crate::identity::Scopes;

/// A loaded, checked policy. Immutable; a reload builds a new one.
#[derive(Debug)]
pub struct Policy {
    _private: (),
}

/// One route of the policy.
#[derive(Debug)]
pub struct Route {
    /// The pattern as written, e.g. `/models/**`: the route's name in logs and metrics.
    pub pattern: String,
    /// `None` = every method.
    pub methods: Option<Vec<Method>>,
    pub access: Access,
    /// `public: true`: no token needed (identity headers still stripped).
    pub public: bool,
    pub mode: Mode,
    /// 413 beyond this many body bytes.
    pub max_body: Option<u64>,
    pub rate_limit: Option<RateLimit>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Every listed scope is required.
    Scopes(Vec<String>),
    /// Never reachable; the restriction's name.
    Restricted(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Enforce,
    /// Decide, log and count, but forward anyway.
    Shadow,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

/// Why a matched route refuses a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// 405; `allow` is the value of the `Allow` header.
    MethodNotAllowed { allow: String },
    /// 403; the restriction's name.
    Restricted { restriction: String },
    /// 403; every scope the route requires, and those the token lacks.
    InsufficientScope {
        required: Vec<String>,
        missing: Vec<String>,
    },
}

/// Why a request path cannot be normalised (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("placeholder")]
    Placeholder,
}

/// RFC 3986 §5.2.4 dot-segment removal, percent-decoding of unreserved characters only, merging
/// of repeated `/`. Refuses encoded `/` or `\`, raw `\`, NUL, and `..` escaping the root.
pub fn normalise(path: &str) -> Result<String, PathError> {
    let _ = path;
    todo!("normalise")
}

impl Policy {
    pub fn load(path: &Path) -> Result<Policy, Diagnostics> {
        let _ = path;
        todo!("policy loader")
    }

    /// The most specific route matching an already normalised path.
    pub fn lookup(&self, normalised_path: &str) -> Option<&Route> {
        let _ = normalised_path;
        todo!("route matcher")
    }
}

impl Route {
    /// Decision 4 for a matched route: method, then restriction, then scopes.
    pub fn authorise(&self, method: &Method, granted: &Scopes) -> Result<(), Denial> {
        let _ = (method, granted);
        todo!("authorise")
    }

    /// Decision 4's first half, for public routes (no scopes to check).
    pub fn allows_method(&self, method: &Method) -> bool {
        let _ = method;
        todo!("allows_method")
    }
}

impl Policy {
    /// The description of a restriction declared under `restrictions`, for 403 bodies.
    pub fn restriction_description(&self, restriction: &str) -> Option<&str> {
        let _ = restriction;
        todo!("restriction_description")
    }
}
