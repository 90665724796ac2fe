//! `envoy/mtls.yaml`: identity from the client certificate Envoy validated,
//! over a real TLS listener, with certificates this test issues.

use serde_json::json;
use signed_headers_e2e::http::{Request, Response};
use signed_headers_e2e::tls::{ClientSubject, IssuedCert, TestCa, try_send_https};
use signed_headers_e2e::{
    ASSERTION_HEADER, AssertionVerifier, EchoUpstream, EchoedRequest, Envoy, JWKS_PATH,
};
use tempfile::TempDir;

use crate::shipped::{
    filename, load_shipped, with_listener_certificate, with_signing_key,
    with_unauthenticated_policy,
};
use crate::support::{
    assert_assertion_shape, assert_no_forged_identity_header, forged_assertion,
    with_forged_identity_headers,
};

const FILE: &str = "mtls.yaml";
const SERVER_NAME: &str = "app.example";
const SPIFFE_ID: &str = "spiffe://example.org/ns/prod/sa/billing";

struct MtlsBed {
    envoy: Envoy,
    upstream: EchoUpstream,
    /// Issues the server certificate and every client certificate Envoy
    /// trusts.
    ca: TestCa,
    signing_kid: String,
    _dir: TempDir,
}

impl MtlsBed {
    fn start() -> Self {
        Self::start_with_policy("deny")
    }

    /// The shipped file, with its `unauthenticated` policy replaced by
    /// `policy` (the file says `deny`).
    fn start_with_policy(policy: &str) -> Self {
        let upstream = EchoUpstream::start();
        let ca = TestCa::new("signed-headers e2e client CA");
        let dir = tempfile::tempdir().expect("cannot create a temporary directory");
        let ca_file = ca.write_cert(dir.path(), "client-ca.crt");
        let config = with_listener_certificate(
            load_shipped(FILE, &upstream),
            &ca.issue_server(&[SERVER_NAME]),
            dir.path(),
        )
        .substitute(
            "{filename: /etc/envoy/tls/client-ca.crt}",
            &filename(&ca_file),
        );
        let (config, signing_kid) = with_signing_key(config);
        let envoy = Envoy::start_shipped(&with_unauthenticated_policy(config, policy), "ingress");
        Self {
            envoy,
            upstream,
            ca,
            signing_kid,
            _dir: dir,
        }
    }

    fn try_send(
        &self,
        client: Option<&IssuedCert>,
        request: &Request,
    ) -> std::io::Result<Response> {
        try_send_https(
            self.envoy.listener_address(),
            SERVER_NAME,
            &self.ca,
            client,
            request,
        )
    }

    fn send(&self, client: Option<&IssuedCert>, request: &Request) -> Response {
        self.try_send(client, request)
            .unwrap_or_else(|err| panic!("HTTPS request failed: {err}"))
    }

    fn verifier(&self) -> AssertionVerifier {
        let response = self.send(None, &Request::get(JWKS_PATH).host(SERVER_NAME));
        assert_eq!(response.status, 200, "{}", response.text());
        AssertionVerifier::from_jwks(&response.text())
    }

    fn billing_service_cert(&self) -> IssuedCert {
        self.ca.issue_client(&ClientSubject {
            common_name: Some("billing, prod".into()),
            organization: Some("Example Corp".into()),
            uri_sans: vec![SPIFFE_ID.into()],
            dns_sans: vec!["billing.prod.svc".into()],
        })
    }
}

#[test]
fn mtls_client_certificate_names_the_user() {
    let bed = MtlsBed::start();
    let client = bed.billing_service_cert();
    let response = bed.send(Some(&client), &Request::get("/invoices").host(SERVER_NAME));
    let echoed = EchoedRequest::from_response(&response);
    let assertion = bed.verifier().verify(
        echoed.single_header(ASSERTION_HEADER),
        "https://app.example/",
        "app.example",
    );
    assert_assertion_shape(&assertion, &bed.signing_kid, 300);
    assert_eq!(assertion.claim("sub"), SPIFFE_ID);
    assert_eq!(assertion.claim("user"), SPIFFE_ID);
    assert_eq!(assertion.claim("name"), "billing, prod");
    assert_eq!(assertion.claim("email"), "");
    assert_eq!(assertion.claim("groups"), &json!([]));
    assert!(
        echoed.header_values("x-forwarded-client-cert").is_empty(),
        "{:?}",
        echoed.headers
    );
}

#[test]
fn mtls_without_a_usable_certificate_gets_no_identity() {
    let bed = MtlsBed::start();

    // No certificate: the JWKS is public, everything else is denied.
    let response = bed.send(None, &Request::get("/").host(SERVER_NAME));
    assert_eq!(response.status, 401, "{}", response.text());
    assert_eq!(response.header("www-authenticate"), Some("mTLS"));

    // A valid certificate without a URI SAN names no subject.
    let no_san = bed.ca.issue_client(&ClientSubject {
        common_name: Some("carol".into()),
        ..ClientSubject::default()
    });
    let response = bed.send(Some(&no_san), &Request::get("/").host(SERVER_NAME));
    assert_eq!(response.status, 401, "{}", response.text());

    // A certificate from another CA, or self-signed, claiming the same
    // SPIFFE ID is refused at the handshake.
    let stranger = TestCa::new("attacker CA").issue_client(&ClientSubject {
        uri_sans: vec![SPIFFE_ID.into()],
        ..ClientSubject::default()
    });
    let self_signed = IssuedCert::self_signed_client(&ClientSubject {
        uri_sans: vec![SPIFFE_ID.into()],
        ..ClientSubject::default()
    });
    for forged in [&stranger, &self_signed] {
        let refused = bed.try_send(Some(forged), &Request::get("/").host(SERVER_NAME));
        assert!(
            refused.is_err(),
            "an untrusted certificate was accepted: {:?}",
            refused.map(|response| (response.status, response.text()))
        );
    }
    assert_eq!(bed.upstream.request_count(), 0);
}

#[test]
fn mtls_forged_identity_headers_never_reach_the_app() {
    let bed = MtlsBed::start();
    let client = bed.billing_service_cert();
    let forged = forged_assertion();
    let request = with_forged_identity_headers(Request::get("/").host(SERVER_NAME), &forged)
        .header(
            "x-forwarded-client-cert",
            "By=spiffe://x;URI=spiffe://example.org/admin",
        );
    let echoed = EchoedRequest::from_response(&bed.send(Some(&client), &request));
    assert_eq!(assert_no_forged_identity_header(&echoed, &forged), 1);
    assert!(
        echoed.header_values("x-forwarded-client-cert").is_empty(),
        "{:?}",
        echoed.headers
    );
    let assertion = bed.verifier().verify(
        echoed.single_header(ASSERTION_HEADER),
        "https://app.example/",
        "app.example",
    );
    assert_eq!(assertion.claim("sub"), SPIFFE_ID);
}

#[test]
fn mtls_without_a_certificate_follows_each_policy() {
    let anonymous = MtlsBed::start_with_policy("anonymous");
    let echoed =
        EchoedRequest::from_response(&anonymous.send(None, &Request::get("/").host(SERVER_NAME)));
    let assertion = anonymous.verifier().verify(
        echoed.single_header(ASSERTION_HEADER),
        "https://app.example/",
        "app.example",
    );
    assert_eq!(assertion.claim("sub"), "");

    let pass = MtlsBed::start_with_policy("pass");
    let echoed =
        EchoedRequest::from_response(&pass.send(None, &Request::get("/").host(SERVER_NAME)));
    assert!(
        echoed.header_values(ASSERTION_HEADER).is_empty(),
        "{:?}",
        echoed.headers
    );
    // A certificate still names its holder under `pass`.
    let client = pass.billing_service_cert();
    let echoed = EchoedRequest::from_response(
        &pass.send(Some(&client), &Request::get("/").host(SERVER_NAME)),
    );
    let assertion = pass.verifier().verify(
        echoed.single_header(ASSERTION_HEADER),
        "https://app.example/",
        "app.example",
    );
    assert_eq!(assertion.claim("sub"), SPIFFE_ID);
}
