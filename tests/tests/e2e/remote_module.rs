//! `envoy/remote-module.yaml`: Envoy fetches the module over HTTPS
//! (`vm_config.code.remote`) and checks its SHA-256, as Istio's WasmPlugin
//! and Envoy Gateway's EnvoyExtensionPolicy have it do. The module is served
//! by the test from memory; what each failure looks like to an operator is
//! what these tests pin down.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest as _, Sha256};
use signed_headers_e2e::http::Request;
use signed_headers_e2e::tls::{HttpsServer, Reply};
use signed_headers_e2e::{
    ASSERTION_HEADER, AssertionVerifier, EchoUpstream, EchoedRequest, Envoy, JWKS_PATH, filter_wasm,
};
use tempfile::TempDir;

use crate::shipped::{ShippedIdp, load_shipped_without_filter, loopback_port, with_signing_key};

const FILE: &str = "remote-module.yaml";
const MODULE_HOST: &str = "releases.example.com";
const MODULE_PATH: &str = "/signed-headers/0.1.0/signed_headers.wasm";
/// Envoy's fetch: the first try and `retry_policy.num_retries` more.
const FETCH_ATTEMPTS: usize = 1 + 3;

/// Envoy running `envoy/remote-module.yaml`, the module served by a test
/// HTTPS server that fails its first `failures` requests with a 503.
struct RemoteModuleBed {
    // Drop order: Envoy first, then what it talks to.
    envoy: Envoy,
    upstream: EchoUpstream,
    idp: ShippedIdp,
    module_requests: Arc<AtomicUsize>,
    _module_server: HttpsServer,
    _dir: TempDir,
}

impl RemoteModuleBed {
    fn start(sha256: &str, failures: usize) -> Self {
        let upstream = EchoUpstream::start();
        let idp = ShippedIdp::start();
        let module = std::fs::read(filter_wasm()).expect("the built module");
        let module_requests = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&module_requests);
        let module_server =
            HttpsServer::start(&idp.ca.issue_server(&[MODULE_HOST]), move |request| {
                let seen = counted.fetch_add(1, Ordering::SeqCst);
                if request.target != MODULE_PATH {
                    return Reply::json(404, "{}");
                }
                if seen < failures {
                    return Reply::json(503, "{}");
                }
                Reply {
                    status: 200,
                    headers: vec![("content-type".into(), "application/wasm".into())],
                    body: module.clone(),
                }
            });
        let dir = tempfile::tempdir().expect("cannot create a temporary directory");
        let (config, ca_file) =
            idp.configure(load_shipped_without_filter(FILE, &upstream), dir.path());
        let config = config
            .substitute(
                "{address: releases.example.com, port_value: 443}",
                &loopback_port(module_server.address().port()),
            )
            .substitute(
                "filename: /etc/ssl/certs/ca-certificates.crt\n",
                &format!("filename: {}\n", ca_file.display()),
            )
            .substitute(
                "sha256: \"0000000000000000000000000000000000000000000000000000000000000000\"",
                &format!("sha256: \"{sha256}\""),
            );
        let (config, _) = with_signing_key(config);
        let envoy = Envoy::start_shipped(&config, "ingress");
        Self {
            envoy,
            upstream,
            idp,
            module_requests,
            _module_server: module_server,
            _dir: dir,
        }
    }

    fn idp_token(&self, subject: &str) -> String {
        self.idp.token(subject)
    }

    /// A request with a valid IdP token, and the JWKS path.
    fn assert_filter_runs(&self) {
        let jwks = self.envoy.send(&Request::get(JWKS_PATH));
        assert_eq!(jwks.status, 200, "{}", self.envoy.flushed_log());
        let response = self.envoy.send(
            &Request::get("/")
                .host("app.example")
                .bearer(&self.idp_token("alice")),
        );
        let echoed = EchoedRequest::from_response(&response);
        let assertion = AssertionVerifier::from_jwks(&jwks.text()).verify(
            echoed.single_header(ASSERTION_HEADER),
            "app.example",
            "app.example",
        );
        assert_eq!(assertion.claim("sub"), "alice");
    }

    fn module_requests(&self) -> usize {
        self.module_requests.load(Ordering::SeqCst)
    }
}

fn module_sha256() -> String {
    let module = std::fs::read(filter_wasm()).expect("the built module");
    Sha256::digest(&module)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[test]
fn remote_module_is_fetched_checked_and_run() {
    let bed = RemoteModuleBed::start(&module_sha256(), 0);
    bed.assert_filter_runs();
    assert_eq!(bed.module_requests(), 1, "fetched once, for every worker");
    let log = bed.envoy.flushed_log();
    assert!(
        log.contains(&format!(
            "signed-headers: configured: version={}",
            env!("CARGO_PKG_VERSION")
        )),
        "the module says which version runs:\n{log}"
    );
}

#[test]
fn remote_module_fetch_is_retried_after_a_failure() {
    let bed = RemoteModuleBed::start(&module_sha256(), 2);
    bed.assert_filter_runs();
    assert_eq!(bed.module_requests(), 3, "two 503s, then the module");
}

#[test]
fn remote_module_with_a_wrong_sha256_fails_closed() {
    let mut wrong = module_sha256();
    wrong.replace_range(..1, if wrong.starts_with('0') { "1" } else { "0" });
    let bed = RemoteModuleBed::start(&wrong, 0);
    // Envoy starts, and its listener answers: every request with an empty
    // 503, the JWKS path included; nothing reaches the app.
    for request in [
        Request::get(JWKS_PATH),
        Request::get("/")
            .host("app.example")
            .bearer(&bed.idp_token("alice")),
        Request::get("/")
            .host("app.example")
            .header("x-pomerium-jwt-assertion", "forged"),
    ] {
        let response = bed.envoy.send(&request);
        assert_eq!(response.status, 503, "{}", response.text());
        assert!(response.text().is_empty());
    }
    assert_eq!(bed.upstream.request_count(), 0);
    // A wrong digest counts as a failed fetch: retried, then given up.
    assert_eq!(bed.module_requests(), FETCH_ATTEMPTS);
    let log = bed.envoy.flushed_log();
    assert!(
        log.contains("Plugin signed_headers failed to load"),
        "what the operator sees:\n{log}"
    );
}
