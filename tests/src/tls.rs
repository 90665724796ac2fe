//! TLS for the tests: a certificate authority made per test run, and an
//! HTTPS server Envoy fetches from (the identity provider's JWKS, as a
//! shipped configuration's `remote_jwks` does), with real certificate and
//! host-name checks on Envoy's side.

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::http::{self, BodyEnd};
use crate::server::LoopbackServer;

/// A certificate authority that exists only for this test.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

/// A certificate and its private key, issued by a [`TestCa`].
#[derive(Clone)]
pub struct IssuedCert {
    pub cert_pem: String,
    pub key_pem: String,
    cert_der: CertificateDer<'static>,
    key_pkcs8_der: Vec<u8>,
}

impl TestCa {
    pub fn new(common_name: &str) -> Self {
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("test CA: cannot generate a key");
        let issuer = CertifiedIssuer::self_signed(params, key)
            .expect("test CA: cannot self-sign the CA certificate");
        Self { issuer }
    }

    /// The CA certificate, for a peer's trust store.
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// Writes the CA certificate into `dir` and returns its path.
    pub fn write_cert(&self, dir: &Path, file_name: &str) -> PathBuf {
        let path = dir.join(file_name);
        std::fs::write(&path, self.cert_pem()).expect("cannot write the test CA certificate");
        path
    }

    /// A server certificate for these DNS names.
    pub fn issue_server(&self, dns_names: &[&str]) -> IssuedCert {
        let names: Vec<String> = dns_names.iter().map(|name| (*name).to_owned()).collect();
        let params = CertificateParams::new(names).expect("test CA: invalid server name");
        self.issue(params)
    }

    fn issue(&self, params: CertificateParams) -> IssuedCert {
        let key = KeyPair::generate().expect("test CA: cannot generate a key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("test CA: cannot sign a certificate");
        IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_pkcs8_der: key.serialize_der(),
        }
    }
}

/// An HTTPS/1.1 server on `127.0.0.1:0` that answers `GET path` with a fixed
/// JSON body (404 for anything else) and counts the requests it answered.
pub struct HttpsServer {
    server: LoopbackServer,
    shared: Arc<ServerShared>,
}

struct ServerShared {
    path: String,
    body: String,
    served: AtomicUsize,
}

impl HttpsServer {
    pub fn serve_json(cert: &IssuedCert, path: &str, body: &str) -> Self {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pkcs8_der.clone()));
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("rustls: default protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert_der.clone()], key)
            .expect("rustls: the test certificate and key do not match");
        let config = Arc::new(config);
        let shared = Arc::new(ServerShared {
            path: path.to_owned(),
            body: body.to_owned(),
            served: AtomicUsize::new(0),
        });
        let connection_shared = Arc::clone(&shared);
        let server = LoopbackServer::start("https", move |stream| {
            serve_tls_connection(stream, Arc::clone(&config), &connection_shared);
        });
        Self { server, shared }
    }

    pub fn address(&self) -> SocketAddr {
        self.server.address()
    }

    /// How many requests for the path were answered.
    pub fn served(&self) -> usize {
        self.shared.served.load(Ordering::SeqCst)
    }
}

fn serve_tls_connection(
    stream: TcpStream,
    config: Arc<rustls::ServerConfig>,
    shared: &ServerShared,
) {
    let Ok(connection) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut reader = BufReader::new(rustls::StreamOwned::new(connection, stream));
    loop {
        let Ok(Some(head)) = http::read_head(&mut reader) else {
            return;
        };
        if http::read_body(&mut reader, &head.headers, BodyEnd::Empty).is_err() {
            return;
        }
        let target = head.start_line.split(' ').nth(1).unwrap_or_default();
        let (status, body) = if target == shared.path {
            shared.served.fetch_add(1, Ordering::SeqCst);
            ("200 OK", shared.body.as_str())
        } else {
            ("404 Not Found", "{}")
        };
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let stream = reader.get_mut();
        if stream.write_all(response.as_bytes()).is_err() || stream.flush().is_err() {
            return;
        }
    }
}
