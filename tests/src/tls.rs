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
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

use crate::http::{self, BodyEnd, Request, Response};
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

    /// A client certificate (for mTLS) naming `subject`.
    pub fn issue_client(&self, subject: &ClientSubject) -> IssuedCert {
        self.issue(client_params(subject))
    }

    /// The CA as a rustls trust store.
    fn root_store(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.issuer.der().clone())
            .expect("rustls: the test CA certificate is not usable as a root");
        roots
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

/// What a client certificate says about its holder.
#[derive(Debug, Clone, Default)]
pub struct ClientSubject {
    pub common_name: Option<String>,
    pub organization: Option<String>,
    pub uri_sans: Vec<String>,
    pub dns_sans: Vec<String>,
}

/// The parameters of a client certificate naming `subject`.
fn client_params(subject: &ClientSubject) -> CertificateParams {
    let mut params = CertificateParams::default();
    if let Some(common_name) = &subject.common_name {
        params
            .distinguished_name
            .push(DnType::CommonName, common_name.as_str());
    }
    if let Some(organization) = &subject.organization {
        params
            .distinguished_name
            .push(DnType::OrganizationName, organization.as_str());
    }
    for uri in &subject.uri_sans {
        let uri = uri.as_str().try_into().expect("test CA: invalid URI SAN");
        params.subject_alt_names.push(SanType::URI(uri));
    }
    for dns in &subject.dns_sans {
        let dns = dns.as_str().try_into().expect("test CA: invalid DNS SAN");
        params.subject_alt_names.push(SanType::DnsName(dns));
    }
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params
}

impl IssuedCert {
    /// A client certificate naming `subject`, signed by its own key: what an
    /// attacker without the CA's key can make.
    pub fn self_signed_client(subject: &ClientSubject) -> Self {
        let key = KeyPair::generate().expect("cannot generate a key");
        let cert = client_params(subject)
            .self_signed(&key)
            .expect("cannot self-sign a certificate");
        Self {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_pkcs8_der: key.serialize_der(),
        }
    }
    /// Writes the certificate and key into `dir` as `<stem>.crt` and
    /// `<stem>.key`; returns both paths.
    pub fn write(&self, dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{stem}.crt"));
        let key = dir.join(format!("{stem}.key"));
        std::fs::write(&cert, &self.cert_pem).expect("cannot write a test certificate");
        std::fs::write(&key, &self.key_pem).expect("cannot write a test key");
        (cert, key)
    }
}

/// Sends `request` over TLS to `address`, checking the server's certificate
/// for `server_name` against `ca`, and presenting `client_cert` if given.
/// Errors include a refused handshake.
pub fn try_send_https(
    address: SocketAddr,
    server_name: &str,
    ca: &TestCa,
    client_cert: Option<&IssuedCert>,
    request: &Request,
) -> std::io::Result<Response> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("rustls: default protocol versions")
        .with_root_certificates(ca.root_store());
    let config = match client_cert {
        Some(cert) => builder
            .with_client_auth_cert(
                vec![cert.cert_der.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pkcs8_der.clone())),
            )
            .expect("rustls: the client certificate and key do not match"),
        None => builder.with_no_client_auth(),
    };
    let name = ServerName::try_from(server_name.to_owned()).expect("a valid server name");
    let connection = rustls::ClientConnection::new(Arc::new(config), name)
        .map_err(|err| std::io::Error::other(err.to_string()))?;
    let stream = rustls::StreamOwned::new(connection, http::connect(address)?);
    http::exchange(stream, address, request)
}

/// A request an [`HttpsServer`] received.
#[derive(Debug, Clone)]
pub struct ServedRequest {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What an [`HttpsServer`] answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    /// A `302 Found` to `location`.
    pub fn redirect(location: &str) -> Self {
        Self {
            status: 302,
            headers: vec![("location".into(), location.to_owned())],
            body: Vec::new(),
        }
    }
}

type Handler = dyn Fn(&ServedRequest) -> Reply + Send + Sync;

/// An HTTPS/1.1 server on `127.0.0.1:0` answering every request with its
/// handler; stops accepting when dropped.
pub struct HttpsServer {
    server: LoopbackServer,
    served: Arc<AtomicUsize>,
}

impl HttpsServer {
    pub fn start(
        cert: &IssuedCert,
        handler: impl Fn(&ServedRequest) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pkcs8_der.clone()));
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("rustls: default protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert_der.clone()], key)
            .expect("rustls: the test certificate and key do not match");
        let config = Arc::new(config);
        let handler: Arc<Handler> = Arc::new(handler);
        let served = Arc::new(AtomicUsize::new(0));
        let connection_served = Arc::clone(&served);
        let server = LoopbackServer::start("https", move |stream| {
            serve_tls_connection(stream, Arc::clone(&config), &*handler, &connection_served);
        });
        Self { server, served }
    }

    /// Answers `GET path` with a fixed JSON body, anything else with 404.
    pub fn serve_json(cert: &IssuedCert, path: &str, body: &str) -> Self {
        let (path, body) = (path.to_owned(), body.to_owned());
        Self::start(cert, move |request| {
            if request.target == path {
                Reply::json(200, &body)
            } else {
                Reply::json(404, "{}")
            }
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.server.address()
    }

    /// How many requests were answered with a 2xx.
    pub fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

fn serve_tls_connection(
    stream: TcpStream,
    config: Arc<rustls::ServerConfig>,
    handler: &Handler,
    served: &AtomicUsize,
) {
    let Ok(connection) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut reader = BufReader::new(rustls::StreamOwned::new(connection, stream));
    loop {
        let Ok(Some(head)) = http::read_head(&mut reader) else {
            return;
        };
        let Ok(body) = http::read_body(&mut reader, &head.headers, BodyEnd::Empty) else {
            return;
        };
        let mut parts = head.start_line.split(' ');
        let request = ServedRequest {
            method: parts.next().unwrap_or_default().to_owned(),
            target: parts.next().unwrap_or_default().to_owned(),
            headers: head.headers,
            body,
        };
        let reply = handler(&request);
        if (200..300).contains(&reply.status) {
            served.fetch_add(1, Ordering::SeqCst);
        }
        let mut response = format!("HTTP/1.1 {} X\r\n", reply.status);
        for (name, value) in &reply.headers {
            response.push_str(&format!("{name}: {value}\r\n"));
        }
        response.push_str(&format!("content-length: {}\r\n\r\n", reply.body.len()));
        let mut bytes = response.into_bytes();
        bytes.extend_from_slice(&reply.body);
        let stream = reader.get_mut();
        if stream.write_all(&bytes).is_err() || stream.flush().is_err() {
            return;
        }
    }
}
