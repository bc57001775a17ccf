//! A throw-away PKI for TLS tests: a CA, a server certificate for `localhost` and named client
//! certificates, written to a temporary folder the gateway reads; `World::start_tls` serves on
//! them, and `client` talks to it as one of the clients (or as nobody).

use base64::Engine as _;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

use super::gateway::Options;
use super::world::World;

/// One client certificate.
pub struct ClientCert {
    pub cert_pem: String,
    pub key_pem: String,
    /// base64url SHA-256 of the certificate's DER: what `cnf["x5t#S256"]` names.
    pub x5t: String,
}

pub struct Pki {
    pub ca_pem: String,
    pub clients: Vec<ClientCert>,
    /// Holds cert.pem, key.pem (the server's) and ca.pem.
    dir: tempfile::TempDir,
}

/// How a test client presents itself over TLS.
#[derive(Clone, Copy, Debug)]
pub enum As {
    /// No client certificate.
    Nobody,
    /// The client certificate at this index of `Pki::new`'s names.
    Client(usize),
}

impl Pki {
    /// A CA, a server certificate for localhost and one client certificate per name.
    pub fn new(client_names: &[&str]) -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let signed = |name: &str| {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(vec![name.to_owned()])
                .unwrap()
                .signed_by(&key, &issuer)
                .unwrap();
            (cert, key)
        };
        let (server, server_key) = signed("localhost");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cert.pem"), server.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), server_key.serialize_pem()).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        let clients = client_names
            .iter()
            .map(|name| {
                let (cert, key) = signed(name);
                ClientCert {
                    x5t: base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .encode(gateway::auth::binding::certificate_thumbprint(cert.der())),
                    cert_pem: cert.pem(),
                    key_pem: key.serialize_pem(),
                }
            })
            .collect();
        Pki {
            ca_pem: ca.pem(),
            clients,
            dir,
        }
    }

    /// The `[server]` lines for TLS with this server certificate, and (with `mtls`) client
    /// certificates from this CA.
    pub fn server_extra(&self, mtls: bool) -> String {
        let file = |name: &str| self.dir.path().join(name).display().to_string();
        let mut extra = format!(
            "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
            file("cert.pem"),
            file("key.pem")
        );
        if mtls {
            extra.push_str(&format!("client_ca = \"{}\"\n", file("ca.pem")));
        }
        extra
    }

    /// A client trusting only this CA, presenting `who`, speaking HTTP/2 (prior knowledge via
    /// ALPN) or HTTP/1.1 only.
    pub fn client(&self, who: As, http2: bool) -> reqwest::Client {
        let mut builder = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap()]);
        if let As::Client(index) = who {
            let me = &self.clients[index];
            let pem = format!("{}{}", me.cert_pem, me.key_pem);
            builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
        }
        builder = if http2 {
            builder.http2_prior_knowledge()
        } else {
            builder.http1_only()
        };
        builder.build().unwrap()
    }

    /// A `{"x5t#S256": ...}` confirmation for client `index`.
    pub fn cnf(&self, index: usize) -> serde_json::Value {
        serde_json::json!({ "x5t#S256": self.clients[index].x5t })
    }
}

impl World {
    /// A world whose gateway serves TLS with `pki`'s server certificate (and, with `mtls`,
    /// asks for client certificates from its CA), with the default options changed by `tweak`.
    pub async fn start_tls(pki: &Pki, mtls: bool, tweak: impl FnOnce(&mut Options)) -> World {
        World::start_with(|o| {
            o.server_extra = pki.server_extra(mtls);
            tweak(o);
        })
        .await
    }

    /// `https://localhost:<port><path>`: the gateway as a TLS client addresses it.
    pub fn tls_url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.gateway.addr.port())
    }
}
