//! `envoy/ext-authz.yaml`: identity from an auth service through
//! `ext_authz`'s dynamic metadata, never from request headers.

use serde_json::json;
use signed_headers_e2e::auth_service::{AuthService, PUBLIC_PREFIX, SessionUser};
use signed_headers_e2e::http::Request;
use signed_headers_e2e::{
    ASSERTION_HEADER, AssertionVerifier, EchoUpstream, EchoedRequest, Envoy, JWKS_PATH,
};

use crate::shipped::{load_shipped, loopback_port, with_signing_key, with_unauthenticated_policy};
use crate::support::{
    assert_assertion_shape, assert_no_forged_identity_header_beside, forged_assertion,
    with_forged_identity_headers,
};

const FILE: &str = "ext-authz.yaml";

/// The identity headers of the auth service's convention, as a client
/// would forge them: any case, repeated, underscore spellings.
fn with_forged_auth_request_headers(request: Request) -> Request {
    request
        .header("X-Auth-Request-User", "admin")
        .header("x-auth-request-user", "root")
        .header("x_auth_request_user", "admin")
        .header("X-Auth-Request-Email", "admin@example.com")
        .header("x-auth-request-groups", "admins")
        .header("X_AUTH_REQUEST_GROUPS", "admins")
        .header("x-auth-request-preferred-username", "admin")
}

struct ExtAuthzBed {
    envoy: Envoy,
    upstream: EchoUpstream,
    auth: AuthService,
    signing_kid: String,
}

impl ExtAuthzBed {
    /// The shipped file, with its `unauthenticated` policy replaced by
    /// `policy` (the file says `deny`).
    fn start_with_policy(policy: &str) -> Self {
        let upstream = EchoUpstream::start();
        let auth = AuthService::start();
        let (config, signing_kid) = with_signing_key(
            load_shipped(FILE, &upstream)
                .substitute(
                    "{address: 127.0.0.1, port_value: 4180}",
                    &loopback_port(auth.address().port()),
                )
                .substitute(
                    "uri: http://127.0.0.1:4180",
                    &format!("uri: http://{}", auth.address()),
                ),
        );
        let envoy = Envoy::start_shipped(&with_unauthenticated_policy(config, policy), "ingress");
        Self {
            envoy,
            upstream,
            auth,
            signing_kid,
        }
    }

    fn start() -> Self {
        Self::start_with_policy("deny")
    }

    fn verifier(&self) -> AssertionVerifier {
        let response = self.envoy.send(&Request::get(JWKS_PATH));
        assert_eq!(response.status, 200, "{}", response.text());
        AssertionVerifier::from_jwks(&response.text())
    }
}

#[test]
fn ext_authz_session_gets_an_assertion_with_the_auth_service_identity() {
    let bed = ExtAuthzBed::start();
    let session = bed.auth.log_in(SessionUser::typical("alice"));

    let response = bed.envoy.send(
        &Request::get("/page")
            .host("app.example")
            .header("Cookie", &session),
    );
    let echoed = EchoedRequest::from_response(&response);
    let assertion = bed.verifier().verify(
        echoed.single_header(ASSERTION_HEADER),
        "app.example",
        "app.example",
    );
    assert_assertion_shape(&assertion, &bed.signing_kid, 300);
    assert_eq!(assertion.claim("sub"), "user-alice");
    assert_eq!(assertion.claim("user"), "user-alice");
    assert_eq!(assertion.claim("email"), "alice@example.com");
    assert_eq!(
        assertion.claim("groups"),
        &json!(["engineering", "on-call"])
    );
    assert_eq!(assertion.claim("name"), "alice");
    assert_eq!(
        echoed.header_values("x-pomerium-claim-email"),
        ["alice@example.com"]
    );
    assert_eq!(
        echoed.header_values("x-pomerium-claim-groups"),
        ["engineering,on-call"]
    );
    assert_eq!(bed.auth.checked_paths(), ["/page"]);

    // The JWKS needs no session, and the auth service is not asked.
    let jwks = bed.envoy.send(&Request::get(JWKS_PATH));
    assert_eq!(jwks.status, 200, "{}", jwks.text());
    assert_eq!(bed.auth.checked_paths().len(), 1);

    // No session: the auth service's own 401 reaches the client.
    let response = bed.envoy.send(&Request::get("/page").host("app.example"));
    assert_eq!(response.status, 401, "{}", response.text());
    assert_eq!(bed.upstream.request_count(), 1);
}

#[test]
fn ext_authz_identity_headers_sent_by_a_client_are_never_an_identity() {
    let bed = ExtAuthzBed::start();
    let forged = forged_assertion();

    // A public path the auth service allows without a user: the forged
    // x-auth-request-* headers must not become one.
    let public = format!("{PUBLIC_PREFIX}/page");
    let response = bed.envoy.send(&with_forged_auth_request_headers(
        Request::get(&public).host("app.example"),
    ));
    assert_eq!(response.status, 401, "{}", response.text());
    assert_eq!(response.header("www-authenticate"), Some("Bearer"));
    assert_eq!(bed.upstream.request_count(), 0);

    // A real session plus every forged header: the session's user is
    // signed, and no forged header reaches the app.
    let session = bed.auth.log_in(SessionUser::typical("bob"));
    let request = with_forged_identity_headers(
        with_forged_auth_request_headers(
            Request::get("/page")
                .host("app.example")
                .header("Cookie", &session),
        ),
        &forged,
    );
    let echoed = EchoedRequest::from_response(&bed.envoy.send(&request));
    let claim_headers = ["x-pomerium-claim-email", "x-pomerium-claim-groups"];
    assert_eq!(
        assert_no_forged_identity_header_beside(&echoed, &forged, &claim_headers),
        1
    );
    assert_eq!(
        echoed.header_values("x-pomerium-claim-email"),
        ["bob@example.com"]
    );
    assert!(
        echoed.header_names_with_prefix("x-auth-request").is_empty()
            && echoed.header_names_with_prefix("x_auth_request").is_empty(),
        "client x-auth-request-* headers reached the app: {:#?}",
        echoed.headers
    );
    let assertion = bed.verifier().verify(
        echoed.single_header(ASSERTION_HEADER),
        "app.example",
        "app.example",
    );
    assert_eq!(assertion.claim("sub"), "user-bob");
    assert_eq!(
        assertion.claim("groups"),
        &json!(["engineering", "on-call"])
    );
}

#[test]
fn ext_authz_without_a_user_follows_each_policy() {
    let public = format!("{PUBLIC_PREFIX}/page");

    let anonymous = ExtAuthzBed::start_with_policy("anonymous");
    let echoed = EchoedRequest::from_response(
        &anonymous
            .envoy
            .send(&Request::get(&public).host("app.example")),
    );
    let assertion = anonymous.verifier().verify(
        echoed.single_header(ASSERTION_HEADER),
        "app.example",
        "app.example",
    );
    assert_eq!(assertion.claim("sub"), "");
    assert_eq!(assertion.claim("groups"), &json!([]));

    let pass = ExtAuthzBed::start_with_policy("pass");
    let echoed =
        EchoedRequest::from_response(&pass.envoy.send(&Request::get(&public).host("app.example")));
    assert!(
        echoed.header_values(ASSERTION_HEADER).is_empty(),
        "{:?}",
        echoed.headers
    );
    // The auth service still guards everything else.
    let response = pass.envoy.send(&Request::get("/page").host("app.example"));
    assert_eq!(response.status, 401, "{}", response.text());
}
