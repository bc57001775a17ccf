//! Stage two for the listeners: `[server]` TLS files (mTLS's CA needs them), `[admin] hosts` and
//! `console_token_file`. The upstream pools are `config::upstream_check`.

use std::path::PathBuf;

use super::{Checker, Value};
use crate::config::TlsConfig;

impl Checker<'_> {
    pub(super) fn tls(
        &mut self,
        cert: Option<Value>,
        key: Option<Value>,
        ca: Option<Value>,
    ) -> Option<TlsConfig> {
        match (cert, key) {
            (Some(cert), Some(key)) => {
                let cert = self.existing_file(&cert, "server.tls_cert");
                let key = self.existing_file(&key, "server.tls_key");
                let client_ca = ca.and_then(|ca| self.existing_file(&ca, "server.client_ca"));
                Some(TlsConfig {
                    cert: cert?,
                    key: key?,
                    client_ca,
                })
            }
            (None, None) => {
                if let Some(ca) = ca {
                    self.at(
                        &ca,
                        "server.client_ca",
                        "client certificates need TLS; set `tls_cert` and `tls_key` too",
                    );
                }
                None
            }
            (Some(one), None) | (None, Some(one)) => {
                self.at(&one, "server", "`tls_cert` and `tls_key` go together; set both to serve HTTPS, or neither for plain HTTP");
                None
            }
        }
    }

    /// `[admin] hosts`: bare host names (no scheme, port or path), compared lower-cased.
    pub(super) fn admin_hosts(&mut self, v: Option<Value>) -> Vec<String> {
        let key = "admin.hosts";
        let Some(v) = v else { return Vec::new() };
        let toml::Value::Array(items) = &v.value else {
            self.at(
                &v,
                key,
                "expected a list such as [\"gateway-admin.internal\"]",
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            let name = item
                .as_str()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            let bare = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
            if bare {
                out.push(name);
            } else {
                self.at(
                    &v,
                    key,
                    format!(
                        "{item} is not a bare host name; write the name the operators' browser \
                         uses, without scheme, port or path, e.g. \"gateway-admin.internal\""
                    ),
                );
            }
        }
        out
    }

    /// `[admin] console_token_file`: an existing file holding a non-empty secret of at least 16
    /// bytes (surrounding whitespace ignored).
    pub(super) fn console_token_file(&mut self, v: &Value, key: &str) -> Option<PathBuf> {
        let path = self.existing_file(v, key)?;
        match std::fs::read_to_string(&path) {
            Ok(secret) if secret.trim().len() >= 16 => Some(path),
            Ok(_) => {
                self.at(
                    v,
                    key,
                    format!(
                        "`{}` holds fewer than 16 characters; put a long random secret in it, \
                         e.g. `openssl rand -hex 32 > {}`",
                        path.display(),
                        path.display()
                    ),
                );
                None
            }
            Err(error) => {
                self.at(v, key, format!("cannot read `{}`: {error}", path.display()));
                None
            }
        }
    }
}
