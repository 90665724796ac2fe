use std::sync::Arc;
use std::time::Duration;

use crate::cache::FetchResponse;
use crate::verifier::Fetch;

/// Larger than any JWKS worth reading.
const MAX_JWKS_BYTES: u64 = 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(10);

/// Fetches the JWKS over http(s) with ureq (rustls, AWS-LC, web PKI roots).
pub struct HttpFetch {
    url: String,
    agent: ureq::Agent,
}

/// An HTTP agent for fetching a JWKS: rustls on AWS-LC with the web PKI
/// roots, one overall timeout, and every status returned as a response
/// (for the caller to judge), never as an error.
pub fn jwks_agent(user_agent: &str, timeout: Duration) -> ureq::Agent {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(provider)
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
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            agent: jwks_agent(
                concat!("signed-headers-verifier/", env!("CARGO_PKG_VERSION")),
                TIMEOUT,
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
