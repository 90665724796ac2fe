//! The assertion the upstream receives for an authenticated user: one header,
//! verified by `jsonwebtoken` against the filter's own JWKS, with the user's
//! claims, the right issuer and audience, and the configured lifetime.

use serde_json::json;
use signed_headers_e2e::http::Request;
use signed_headers_e2e::{
    ASSERTION_HEADER, EchoedRequest, EnvoyOptions, TestBed, bundle_of, generate_key,
};
use signed_headers_keys::KeyFormat;

use crate::support::{
    assert_assertion_shape, assert_identity_of, config_with_key, upstream_assertion,
};

#[test]
fn authenticated_request_gets_one_assertion_signed_by_the_first_key() {
    // Two private keys: the first one signs, whatever its PEM encoding.
    let first = generate_key(KeyFormat::Sec1);
    let second = generate_key(KeyFormat::Pkcs8);
    let first_kid = first.kid().to_owned();
    let bundle = bundle_of(vec![first, second]);
    let bed = TestBed::start(&config_with_key(
        &bundle,
        json!({"ttl_seconds": 120, "issuer_format": "host"}),
    ));

    let token = bed.idp.token_for("alice");
    let response = bed.send(
        &Request::get("/app/page")
            .host("app.example:8443")
            .bearer(&token),
    );
    let echoed = EchoedRequest::from_response(&response);
    assert_eq!(echoed.path, "/app/page");

    // iss and aud are the request host without its port.
    let assertion = upstream_assertion(&bed, &echoed, "app.example", "app.example");
    assert_assertion_shape(&assertion, &first_kid, 120);
    assert_identity_of(&assertion, "alice");

    // Without a port in Host, aud is the Host as sent.
    let response = bed.send(&Request::get("/").host("plain.example").bearer(&token));
    let echoed = EchoedRequest::from_response(&response);
    let assertion = upstream_assertion(&bed, &echoed, "plain.example", "plain.example");
    assert_assertion_shape(&assertion, &first_kid, 120);
    assert_identity_of(&assertion, "alice");
}

#[test]
fn identity_without_optional_claims_still_gets_every_claim() {
    let bundle = signed_headers_e2e::signing_bundle();
    let kid = bundle.keys()[0].kid().to_owned();
    let bed = TestBed::start(&config_with_key(&bundle, json!({})));

    // Only a subject: groups must still be an array (never null), and the
    // other identity claims still present.
    let token = bed.idp.token(&json!({"sub": "bob"}));
    let response = bed.send(&Request::get("/").host("app.example").bearer(&token));
    let echoed = EchoedRequest::from_response(&response);
    let assertion = upstream_assertion(&bed, &echoed, "app.example", "app.example");
    assert_assertion_shape(&assertion, &kid, 300);
    assert_eq!(assertion.claim("sub"), "bob");
    assert_eq!(assertion.claim("user"), "bob");
    assert_eq!(assertion.claim("groups"), &json!([]));
}

#[test]
fn uri_issuer_format_issues_https_host_url() {
    let bundle = signed_headers_e2e::signing_bundle();
    let kid = bundle.keys()[0].kid().to_owned();
    let bed = TestBed::start(&config_with_key(&bundle, json!({"issuer_format": "uri"})));

    let token = bed.idp.token_for("carol");
    let response = bed.send(&Request::get("/").host("app.example:8443").bearer(&token));
    let echoed = EchoedRequest::from_response(&response);
    let assertion = upstream_assertion(&bed, &echoed, "https://app.example/", "app.example");
    // Default lifetime: 300 s.
    assert_assertion_shape(&assertion, &kid, 300);
    assert_identity_of(&assertion, "carol");
}

#[test]
fn fixed_issuer_and_custom_header_name() {
    let bundle = signed_headers_e2e::signing_bundle();
    let kid = bundle.keys()[0].kid().to_owned();
    let bed = TestBed::start(&config_with_key(
        &bundle,
        json!({"issuer": "https://fixed.example", "header": "x-signed-identity"}),
    ));

    let token = bed.idp.token_for("dave");
    let response = bed.send(
        &Request::get("/")
            .host("app.example:8443")
            .bearer(&token)
            // Forgeries of both the configured and the default header name.
            .header("X-Signed-Identity", "forged")
            .header(ASSERTION_HEADER, "forged"),
    );
    let echoed = EchoedRequest::from_response(&response);
    assert!(
        echoed.header_values(ASSERTION_HEADER).is_empty(),
        "the default header must not reach the upstream when another is configured: {:?}",
        echoed.headers
    );
    let token = echoed.single_header("x-signed-identity");
    let assertion = bed
        .jwks_verifier()
        .verify(token, "https://fixed.example", "app.example");
    assert_assertion_shape(&assertion, &kid, 300);
    assert_identity_of(&assertion, "dave");
}

#[test]
fn a_configuration_written_as_a_struct_configures_the_filter() {
    // Envoy hands a google.protobuf.Struct over as protobuf bytes, every
    // number a double: the filter reads it as it reads the same JSON text.
    let bundle = signed_headers_e2e::signing_bundle();
    let kid = bundle.keys()[0].kid().to_owned();
    let configuration = config_with_key(
        &bundle,
        json!({
            "header": "x-struct-identity",
            "ttl_seconds": 120,
            "audience": "reports.example",
            "identity": {"source": "jwt_authn", "claims": {"extra": {
                "tier": {"value": 3}, "ratio": {"value": 0.25}, "beta": {"value": true}
            }}},
            "claim_headers": {"tier": "x-tier", "email": "x-email"},
            "strip": {"names": ["x-forged"], "prefixes": null},
        }),
    );
    let bed = TestBed::start_with(&EnvoyOptions::with_struct_filter_config(&configuration));

    let token = bed.idp.token_for("erin");
    let response = bed.send(
        &Request::get("/")
            .host("app.example")
            .bearer(&token)
            .header("x-forged", "1"),
    );
    let echoed = EchoedRequest::from_response(&response);
    assert!(
        echoed.header_values("x-forged").is_empty(),
        "{:?}",
        echoed.headers
    );
    let assertion = bed.jwks_verifier().verify(
        echoed.single_header("x-struct-identity"),
        "app.example",
        "reports.example",
    );
    assert_assertion_shape(&assertion, &kid, 120);
    assert_identity_of(&assertion, "erin");
    // A whole number stays one; a fraction and a boolean keep their type.
    assert_eq!(assertion.claim("tier"), &json!(3));
    assert_eq!(assertion.claim("ratio"), &json!(0.25));
    assert_eq!(assertion.claim("beta"), &json!(true));
    assert_eq!(echoed.single_header("x-tier"), "3");
    assert_eq!(
        echoed.single_header("x-email"),
        assertion.claim("email").as_str().unwrap()
    );
}
