//! The usual arrangement: echo upstream, test IdP, and an Envoy in front of
//! them, plus key helpers for the filter's configuration.

use std::time::Duration;

use serde_json::Value;
use signed_headers_keys::{Bundle, BundleKey, KeyFormat};

use crate::echo::EchoUpstream;
use crate::envoy::{Envoy, EnvoyOptions, FailedStart};
use crate::http::{Request, Response};
use crate::idp::TestIdp;
use crate::verify::AssertionVerifier;
use crate::{JWKS_PATH, envoy};

/// An Envoy (with the filter) between a client and an echo upstream.
pub struct TestBed {
    // Field order is drop order: Envoy goes before the upstream it proxies to.
    pub envoy: Envoy,
    pub upstream: EchoUpstream,
    pub idp: TestIdp,
}

impl TestBed {
    /// Envoy with the filter configured by `filter_config` (a JSON object).
    pub fn start(filter_config: &Value) -> Self {
        Self::start_with(&EnvoyOptions::with_filter_config(filter_config))
    }

    pub fn start_with(options: &EnvoyOptions) -> Self {
        let upstream = EchoUpstream::start();
        let idp = TestIdp::new();
        let envoy = Envoy::start(options, upstream.address(), &idp);
        Self {
            envoy,
            upstream,
            idp,
        }
    }

    /// Starts Envoy with a configuration it must refuse and reports how it
    /// failed (see [`Envoy::start_expecting_failure`]).
    pub fn expect_refused(options: &EnvoyOptions) -> FailedStart {
        let upstream = EchoUpstream::start();
        let idp = TestIdp::new();
        Envoy::start_expecting_failure(options, upstream.address(), &idp, envoy::STARTUP_TIMEOUT)
    }

    /// Sends a request through Envoy on a new connection.
    pub fn send(&self, request: &Request) -> Response {
        self.envoy.send(request)
    }

    /// Fetches the filter's JWKS (it must answer 200) and builds a verifier
    /// from it.
    pub fn jwks_verifier(&self) -> AssertionVerifier {
        let response = self.send(&Request::get(JWKS_PATH));
        assert_eq!(
            response.status,
            200,
            "GET {JWKS_PATH}: {:?} {}",
            response.headers,
            response.text()
        );
        AssertionVerifier::from_jwks(&response.text())
    }

    /// Waits for a log line containing all `needles` (bounded to 10 s).
    pub fn wait_for_log_line(&self, needles: &[&str]) -> String {
        self.envoy
            .wait_for_log_line(needles, Duration::from_secs(10))
    }
}

/// A fresh P-256 key.
pub fn generate_key(format: KeyFormat) -> BundleKey {
    BundleKey::generate(format).expect("cannot generate a P-256 key")
}

/// A bundle of these keys, in this order.
pub fn bundle_of(keys: Vec<BundleKey>) -> Bundle {
    Bundle::from_keys(keys).expect("test keys make a valid bundle")
}

/// A bundle with one fresh private key (SEC1, what `openssl ecparam` writes).
pub fn signing_bundle() -> Bundle {
    bundle_of(vec![generate_key(KeyFormat::Sec1)])
}
