//! The verified identity a token proves, and the scopes it grants.
//!
//! Produced by `auth` after a token passes every check, read by `policy` (is this scope set
//! enough for the route?) and by `proxy` (which identity headers the upstream receives). It lives
//! apart from both so neither depends on the other.

use std::fmt;
use std::sync::{Arc, OnceLock};

use http::HeaderValue;

/// Granted scopes: the union of the token's `scope` claim (space-separated) and its Auth0
/// `permissions` array. Kept sorted and without duplicates so `X-Auth-Scopes` is deterministic;
/// a sorted vector rather than a tree because a token grants a handful of scopes and every
/// cached identity holds one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(Vec<String>);

impl Scopes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds every entry of an OAuth `scope` string (RFC 6749 §3.3), split on SP only (repeated
    /// spaces are tolerated, as they always were). `Err` (and nothing added) when an entry is
    /// not a scope-token: a tab, a quote, a backslash or any other character outside
    /// %x21 / %x23-5B / %x5D-7E would let a backend that splits on other whitespace see a scope
    /// the gateway never judged.
    pub fn extend_from_scope_claim(&mut self, scope: &str) -> Result<(), NotAScopeToken> {
        let entries = || scope.split(' ').filter(|s| !s.is_empty());
        if !entries().all(is_scope_token) {
            return Err(NotAScopeToken);
        }
        for entry in entries() {
            self.insert(entry);
        }
        Ok(())
    }

    pub fn insert(&mut self, scope: impl Into<String>) {
        let scope = scope.into();
        if let Err(at) = self.0.binary_search(&scope) {
            self.0.insert(at, scope);
        }
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0
            .binary_search_by(|granted| granted.as_str().cmp(scope))
            .is_ok()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A `scope` entry or a `permissions` entry that is not an RFC 6749 §3.3 scope-token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAScopeToken;

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`: visible ASCII without `"` and
/// `\`, and never whitespace.
pub fn is_scope_token(entry: &str) -> bool {
    !entry.is_empty()
        && entry
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// Whether a claim value can be an HTTP header value as it is (no CR, LF, NUL, DEL or other
/// control character but HTAB; RFC 9110 §5.5).
pub fn is_header_safe(value: &str) -> bool {
    HeaderValue::from_str(value).is_ok()
}

impl<S: Into<String>> FromIterator<S> for Scopes {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut scopes = Self::new();
        for scope in iter {
            scopes.insert(scope);
        }
        scopes.0.shrink_to_fit();
        scopes
    }
}

/// Space-separated and sorted: the form of `X-Auth-Scopes`.
impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for scope in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(scope)?;
            first = false;
        }
        Ok(())
    }
}

/// Who the caller is, as proven by a verified token.
#[derive(Debug, Clone)]
pub struct Identity {
    /// `sub`.
    pub subject: String,
    /// `azp`, else `client_id`.
    pub client_id: Option<String>,
    /// `iss`, already checked equal to the configured issuer's.
    pub issuer: String,
    /// The configured issuer's name (`default` for the one-issuer form): what the policy's
    /// `issuers:` and `X-Auth-Issuer-Name` use.
    pub issuer_name: Arc<str>,
    pub scopes: Scopes,
    /// `exp`, seconds since the Unix epoch.
    pub expires_at: u64,
    /// `kid` of the key that verified the signature (cache entries die with the key).
    pub key_id: String,
    /// The full claim set, for `[forward.claims]` header mappings and `explain`.
    pub claims: Claims,
    /// `cnf` (RFC 7800): the key or certificate the token is bound to, if any.
    pub cnf: Confirmation,
    /// The identity headers' values, rendered on first use (see `Identity::headers`). Start it
    /// empty: `OnceLock::new()`.
    pub rendered: OnceLock<Result<IdentityHeaders, &'static str>>,
}

impl Identity {
    /// An identity no token stands behind: what `gateway test` judges a case's scopes as. It
    /// comes from no issuer (empty `issuer_name`); set one for a case that names it.
    pub fn for_policy_test(scopes: Scopes) -> Identity {
        Identity {
            subject: "policy-test".to_owned(),
            client_id: None,
            issuer: String::new(),
            issuer_name: Arc::from(""),
            scopes,
            expires_at: u64::MAX,
            key_id: String::new(),
            claims: Claims::default(),
            cnf: Confirmation::default(),
            rendered: OnceLock::new(),
        }
    }

    /// The same identity carrying `claims` (a `gateway test` case's `claims:`, or what
    /// `gateway explain` shows would pass a route's conditions). `sub` and `azp` / `client_id`
    /// follow the claims, as they do for a verified token.
    pub fn with_claims(mut self, claims: &serde_json::Map<String, serde_json::Value>) -> Identity {
        let text = |name: &str| claims.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        if let Some(subject) = text("sub") {
            self.subject = subject;
        }
        self.client_id = text("azp").or_else(|| text("client_id"));
        self.claims = Claims::new(claims);
        self.rendered = OnceLock::new();
        self
    }
}

/// A sender-constrained token's `cnf` claim (RFC 7800 §3.1): what its presenter must prove.
/// Both empty: a plain bearer token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Confirmation {
    /// `cnf.jkt` (RFC 9449 §6.1): the base64url SHA-256 JWK thumbprint (RFC 7638) of the key
    /// that signs the DPoP proofs.
    pub jkt: Option<String>,
    /// `cnf["x5t#S256"]` (RFC 8705 §3.1): the base64url SHA-256 of the client certificate's DER.
    pub x5t_s256: Option<String>,
}

impl Confirmation {
    /// Whether the token is bound to anything.
    pub fn is_bound(&self) -> bool {
        self.jkt.is_some() || self.x5t_s256.is_some()
    }
}

/// A demand for sender-constrained tokens: `[auth] require_binding` and the route key
/// `binding:` (docs/security.md, "Sender-constrained tokens").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Binding {
    /// Any valid token (a bound one must still be presented with its key).
    #[default]
    None,
    /// A DPoP-bound token with a valid proof (RFC 9449).
    Dpop,
    /// A certificate-bound token on a connection with that certificate (RFC 8705).
    Mtls,
    /// Either of the two.
    Any,
}

impl Binding {
    /// The names the config and the policy use.
    pub const NAMES: &'static [&'static str] = &["none", "dpop", "mtls", "any"];

    pub fn parse(name: &str) -> Option<Binding> {
        match name {
            "none" => Some(Binding::None),
            "dpop" => Some(Binding::Dpop),
            "mtls" => Some(Binding::Mtls),
            "any" => Some(Binding::Any),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Binding::None => "none",
            Binding::Dpop => "dpop",
            Binding::Mtls => "mtls",
            Binding::Any => "any",
        }
    }

    /// Whether a request that proved `dpop` (a valid proof for its DPoP-bound token) and
    /// `mtls` (the certificate its token is bound to) meets this demand.
    pub fn is_met(self, dpop: bool, mtls: bool) -> bool {
        match self {
            Binding::None => true,
            Binding::Dpop => dpop,
            Binding::Mtls => mtls,
            Binding::Any => dpop || mtls,
        }
    }

    /// Whether a DPoP-bound token is one way to meet this demand (the 401 then carries the
    /// `DPoP` challenge, RFC 9449 §7.1).
    pub fn accepts_dpop(self) -> bool {
        matches!(self, Binding::Dpop | Binding::Any)
    }
}

/// A token's claim set, kept as its compact JSON text and parsed only when a claim is read.
///
/// Every cached identity carries its claims, but only `[forward.claims]` mappings (and
/// `explain`) read them: as text they cost one allocation of a few hundred bytes instead of a
/// map of a dozen strings and values (about 1 KiB), which is most of a cached token's memory.
/// A deployment that forwards claims parses each cached identity's claims once.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    json: Box<str>,
    parsed: OnceLock<serde_json::Map<String, serde_json::Value>>,
}

impl Claims {
    pub fn new(claims: &serde_json::Map<String, serde_json::Value>) -> Self {
        Self {
            // Serialising a map of JSON values cannot fail.
            json: serde_json::to_string(claims).unwrap_or_default().into(),
            parsed: OnceLock::new(),
        }
    }

    /// One claim, `None` when absent.
    pub fn get(&self, name: &str) -> Option<&serde_json::Value> {
        self.map().get(name)
    }

    /// Every claim.
    pub fn map(&self) -> &serde_json::Map<String, serde_json::Value> {
        self.parsed
            .get_or_init(|| serde_json::from_str(&self.json).unwrap_or_default())
    }
}

/// The values of `X-Auth-Subject`, `-Client-Id`, `-Scopes`, `-Issuer` and `-Issuer-Name`.
#[derive(Debug, Clone)]
pub struct IdentityHeaders {
    pub subject: HeaderValue,
    pub client_id: Option<HeaderValue>,
    pub scopes: HeaderValue,
    pub issuer: HeaderValue,
    pub issuer_name: HeaderValue,
}

impl Identity {
    /// The identity headers' values. Rendered once and kept with the identity, which the
    /// verified-token cache shares between every request carrying the same token: a cache hit
    /// forwards without formatting or validating anything again. `Err` names the claim whose
    /// value cannot travel in an HTTP header (a control character).
    pub fn headers(&self) -> Result<&IdentityHeaders, &'static str> {
        self.rendered
            .get_or_init(|| self.render_headers())
            .as_ref()
            .map_err(|claim| *claim)
    }

    fn render_headers(&self) -> Result<IdentityHeaders, &'static str> {
        let value = |claim, text: &str| HeaderValue::from_str(text).map_err(|_| claim);
        Ok(IdentityHeaders {
            subject: value("sub", &self.subject)?,
            client_id: self
                .client_id
                .as_deref()
                .map(|id| value("azp", id))
                .transpose()?,
            scopes: value("scope", &self.scopes.to_string())?,
            issuer: value("iss", &self.issuer)?,
            // Issuer names are `[a-z][a-z0-9_]*` (config check): always a valid value.
            issuer_name: value("iss", &self.issuer_name)?,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn scope_claim_and_permissions_union_sorted() {
        let mut scopes = Scopes::new();
        scopes
            .extend_from_scope_claim("read:inventory  ingest:data ")
            .unwrap();
        scopes.insert("read:forecast");
        scopes.insert("ingest:data");
        assert_eq!(
            scopes.to_string(),
            "ingest:data read:forecast read:inventory"
        );
    }

    #[test]
    fn scope_entries_must_be_rfc6749_scope_tokens() {
        for bad in [
            "read:forecast\tadmin",
            "a\"b",
            "a\\b",
            "caf\u{e9}",
            "a\u{7f}",
            "a\nb",
        ] {
            let mut scopes = Scopes::new();
            assert_eq!(
                scopes.extend_from_scope_claim(bad),
                Err(NotAScopeToken),
                "{bad:?}"
            );
            assert!(scopes.is_empty(), "{bad:?} granted something");
            assert!(!is_scope_token(bad), "{bad:?}");
        }
        for good in ["read:forecast", "!", "a#[]b", "~"] {
            assert!(is_scope_token(good), "{good:?}");
        }
        assert!(!is_scope_token(""));
        assert!(!is_scope_token("a b"));
    }
}
