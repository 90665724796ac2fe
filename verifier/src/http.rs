use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

use crate::cache::FetchResponse;
use crate::verifier::Fetch;

/// Larger than any JWKS worth reading.
const MAX_JWKS_BYTES: u64 = 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(10);

/// Fetches the JWKS over http(s) with ureq (rustls, AWS-LC), trusting
/// [`TrustedRoots`].
pub struct HttpFetch {
    url: String,
    agent: ureq::Agent,
}

/// The certificate authorities an `https` JWKS URL is checked against.
#[derive(Debug, Clone)]
pub struct TrustedRoots {
    certificates: Vec<ureq::tls::Certificate<'static>>,
}

impl TrustedRoots {
    /// The system's roots, as OpenSSL finds them: the certificates in
    /// `SSL_CERT_FILE` and `SSL_CERT_DIR` when either is set, else the
    /// platform's store (`/etc/ssl/certs` and the like). Where the system
    /// has none (a scratch container), Mozilla's roots, built in.
    pub fn system() -> Self {
        let native = rustls_native_certs::load_native_certs().certs;
        let certificates: Vec<ureq::tls::Certificate<'static>> = if native.is_empty() {
            webpki_root_certs::TLS_SERVER_ROOT_CERTS
                .iter()
                .map(|der| ureq::tls::Certificate::from_der(der).to_owned())
                .collect()
        } else {
            native
                .iter()
                .map(|der| ureq::tls::Certificate::from_der(der).to_owned())
                .collect()
        };
        Self { certificates }
    }

    /// Also trusts the certificates of a PEM file: a private CA's.
    pub fn with_ca_file(self, path: &Path) -> Result<Self, String> {
        let pem = std::fs::read(path).map_err(|err| format!("{}: {err}", path.display()))?;
        self.with_ca_pem(&pem)
            .map_err(|err| format!("{}: {err}", path.display()))
    }

    /// Also trusts the certificates of PEM text (one or more `CERTIFICATE`
    /// blocks; other blocks are ignored); none at all is an error.
    pub fn with_ca_pem(mut self, pem: &[u8]) -> Result<Self, String> {
        let before = self.certificates.len();
        for certificate in CertificateDer::pem_slice_iter(pem) {
            let certificate = certificate.map_err(|err| format!("not a PEM certificate: {err}"))?;
            self.certificates
                .push(ureq::tls::Certificate::from_der(&certificate).to_owned());
        }
        if self.certificates.len() == before {
            return Err("no CERTIFICATE block".to_owned());
        }
        Ok(self)
    }
}

/// An HTTP agent for fetching a JWKS: rustls on AWS-LC trusting `roots`,
/// one overall timeout, and every status returned as a response (for the
/// caller to judge), never as an error.
pub fn jwks_agent(user_agent: &str, timeout: Duration, roots: &TrustedRoots) -> ureq::Agent {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(provider)
        .root_certs(ureq::tls::RootCerts::from(
            roots.certificates.iter().cloned(),
        ))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .user_agent(user_agent)
        .build()
        .new_agent()
}

impl HttpFetch {
    /// Fetches `url`, trusting the system's roots ([`TrustedRoots::system`]).
    pub fn new(url: &str) -> Self {
        Self::trusting(url, &TrustedRoots::system())
    }

    /// Fetches `url`, trusting `roots` (for a JWKS behind a private CA).
    pub fn trusting(url: &str, roots: &TrustedRoots) -> Self {
        Self {
            url: url.to_owned(),
            agent: jwks_agent(
                concat!("signed-headers-verifier/", env!("CARGO_PKG_VERSION")),
                TIMEOUT,
                roots,
            ),
        }
    }
}

impl Fetch for HttpFetch {
    fn fetch(&self, if_none_match: Option<&str>) -> Result<FetchResponse, String> {
        let mut request = self
            .agent
            .get(&self.url)
            .header("accept", "application/json");
        if let Some(etag) = if_none_match {
            request = request.header("if-none-match", etag);
        }
        let mut response = request
            .call()
            .map_err(|err| format!("{}: {err}", self.url))?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let status = response.status().as_u16();
        let etag = header("etag");
        let cache_control = header("cache-control");
        let body = if status == 200 {
            response
                .body_mut()
                .with_config()
                .limit(MAX_JWKS_BYTES)
                .read_to_string()
                .map_err(|err| format!("{}: {err}", self.url))?
        } else {
            String::new()
        };
        Ok(FetchResponse {
            status,
            etag,
            cache_control,
            body,
        })
    }
}
