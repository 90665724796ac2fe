//! What happens to requests without an identity (`unauthenticated`: deny,
//! anonymous, pass), and to requests with an invalid IdP token (always
//! rejected by `jwt_authn`, whatever the policy).

use serde_json::json;
use signed_headers_e2e::http::Request;
use signed_headers_e2e::{ASSERTION_HEADER, EchoedRequest, TestBed, TestIdp, signing_bundle};

use crate::support::{
    assert_assertion_shape, assert_identity_of, config_with_key, now, upstream_assertion,
};

/// Tokens `jwt_authn` must reject, with the status it answers: 401 for a
/// token that does not verify, 403 for a valid one for another audience
/// (Envoy's "Audiences in Jwt are not allowed").
fn invalid_tokens(idp: &TestIdp) -> Vec<(&'static str, String, u16)> {
    let stranger = TestIdp::new();
    vec![
        (
            "signed by an unknown IdP",
            stranger.token_for("mallory"),
            401,
        ),
        (
            "expired",
            idp.token(&json!({"sub": "mallory", "iat": now() - 7200, "exp": now() - 3600})),
            401,
        ),
        ("not a JWT", "not.a.jwt".to_owned(), 401),
        (
            "for another audience",
            idp.token(&json!({"sub": "mallory", "aud": "someone-else"})),
            403,
        ),
    ]
}

/// Sends each invalid token and checks `jwt_authn` rejects it before the
/// upstream is reached.
fn assert_invalid_tokens_rejected(bed: &TestBed) {
    let before = bed.upstream.request_count();
    for (what, token, status) in invalid_tokens(&bed.idp) {
        let response = bed.send(&Request::get("/").host("app.example").bearer(&token));
        assert_eq!(response.status, status, "token {what}: {}", response.text());
    }
    assert_eq!(
        bed.upstream.request_count(),
        before,
        "{:?}",
        bed.upstream.requests()
    );
}

#[test]
fn deny_policy_rejects_requests_without_identity() {
    let bundle = signing_bundle();
    let kid = bundle.keys()[0].kid().to_owned();
    let bed = TestBed::start(&config_with_key(
        &bundle,
        json!({"unauthenticated": "deny"}),
    ));

    let response = bed.send(&Request::get("/").host("app.example"));
    assert_eq!(response.status, 401, "{}", response.text());
    // A forged assertion is no identity either.
    let response = bed.send(
        &Request::get("/")
            .host("app.example")
            .header(ASSERTION_HEADER, &bed.idp.token_for("mallory")),
    );
    assert_eq!(response.status, 401, "{}", response.text());
    assert_eq!(
        bed.upstream.request_count(),
        0,
        "{:?}",
        bed.upstream.requests()
    );

    assert_invalid_tokens_rejected(&bed);

    let token = bed.idp.token_for("alice");
    let response = bed.send(&Request::get("/").host("app.example").bearer(&token));
    let echoed = EchoedRequest::from_response(&response);
    let assertion = upstream_assertion(&bed, &echoed, "app.example", "app.example");
    assert_assertion_shape(&assertion, &kid, 300);
    assert_identity_of(&assertion, "alice");
    assert_eq!(bed.upstream.request_count(), 1);
}

#[test]
fn anonymous_policy_signs_an_empty_subject() {
    let bundle = signing_bundle();
    let kid = bundle.keys()[0].kid().to_owned();
    let bed = TestBed::start(&config_with_key(
        &bundle,
        json!({"unauthenticated": "anonymous"}),
    ));

    let response = bed.send(&Request::get("/").host("app.example:8443"));
    let echoed = EchoedRequest::from_response(&response);
    let assertion = upstream_assertion(&bed, &echoed, "app.example", "app.example");
    assert_assertion_shape(&assertion, &kid, 300);
    assert_eq!(assertion.claim("sub"), "", "{:?}", assertion.claims);
    assert_eq!(assertion.claim("user"), "", "{:?}", assertion.claims);
    assert_eq!(assertion.claim("email"), "", "{:?}", assertion.claims);
    assert_eq!(
        assertion.claim("groups"),
        &json!([]),
        "{:?}",
        assertion.claims
    );

    // A real identity still gets its own token.
    let token = bed.idp.token_for("alice");
    let response = bed.send(&Request::get("/").host("app.example").bearer(&token));
    let echoed = EchoedRequest::from_response(&response);
    let assertion = upstream_assertion(&bed, &echoed, "app.example", "app.example");
    assert_identity_of(&assertion, "alice");

    assert_invalid_tokens_rejected(&bed);
}

#[test]
fn pass_policy_forwards_without_an_assertion() {
    let bundle = signing_bundle();
    let kid = bundle.keys()[0].kid().to_owned();
    let bed = TestBed::start(&config_with_key(
        &bundle,
        json!({"unauthenticated": "pass"}),
    ));

    let response = bed.send(&Request::get("/").host("app.example"));
    let echoed = EchoedRequest::from_response(&response);
    assert!(
        echoed.header_values(ASSERTION_HEADER).is_empty(),
        "no identity, yet the upstream got an assertion: {:?}",
        echoed.headers
    );

    // Passing unauthenticated requests must not let invalid tokens through.
    assert_invalid_tokens_rejected(&bed);

    let token = bed.idp.token_for("alice");
    let response = bed.send(&Request::get("/").host("app.example").bearer(&token));
    let echoed = EchoedRequest::from_response(&response);
    let assertion = upstream_assertion(&bed, &echoed, "app.example", "app.example");
    assert_assertion_shape(&assertion, &kid, 300);
    assert_identity_of(&assertion, "alice");
}
