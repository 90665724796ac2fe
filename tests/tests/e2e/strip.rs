//! Client-supplied assertion and claim headers, in any letter case, any
//! repetition and either spelling (`-` or `_`), and the configured extra
//! names and prefixes, never reach the upstream; unrelated headers do.
//!
//! The test bed leaves Envoy's `headers_with_underscores_action` at its
//! default (`ALLOW`), so these tests prove what the filter does on its own;
//! `shipped.rs` checks the shipped configuration, which drops them earlier.

use serde_json::{Value, json};
use signed_headers_e2e::http::Request;
use signed_headers_e2e::{EchoedRequest, TestBed, signing_bundle};

use crate::support::{
    FORGED, assert_identity_of, assert_no_forged_identity_header, canonical_header_name,
    config_with_key, forged_assertion, upstream_assertion, with_forged_identity_headers,
};

/// The configured extra strip rules.
fn strip_rules() -> Value {
    json!({"strip": {"names": ["x-extra"], "prefixes": ["x-internal-"]}})
}

/// Every forged identity header, the configured extras in both spellings,
/// and headers that must survive: one that only looks like a strip name, and
/// an unrelated underscore name (proof that Envoy itself dropped nothing).
fn with_forgeries(request: Request, forged_assertion: &str) -> Request {
    with_forged_identity_headers(request, forged_assertion)
        .header("X-Extra", FORGED)
        .header("x_extra", FORGED)
        .header("x-internal-user", FORGED)
        .header("X-INTERNAL-ROLE", FORGED)
        .header("x_internal_role", FORGED)
        .header("x-extra-not-a-strip-name", "kept")
        .header("x_unrelated_underscore", "kept")
}

/// Checks that nothing forged reached the upstream and the harmless headers
/// did; returns how many assertion headers it got.
fn assert_no_forgery_reached(echoed: &EchoedRequest, forged_assertion: &str) -> usize {
    let assertions = assert_no_forged_identity_header(echoed, forged_assertion);
    let canonical_names: Vec<String> = echoed
        .headers
        .iter()
        .map(|(name, _)| canonical_header_name(name))
        .collect();
    assert!(
        !canonical_names
            .iter()
            .any(|name| name == "x-extra" || name.starts_with("x-internal-")),
        "{:#?}",
        echoed.headers
    );
    assert_eq!(echoed.header_values("x-extra-not-a-strip-name"), ["kept"]);
    assert_eq!(echoed.header_values("x_unrelated_underscore"), ["kept"]);
    assertions
}

#[test]
fn forged_headers_are_stripped_for_an_authenticated_user() {
    let bed = TestBed::start(&config_with_key(&signing_bundle(), strip_rules()));
    let forged = forged_assertion();

    let token = bed.idp.token_for("alice");
    let request = with_forgeries(
        Request::get("/").host("app.example").bearer(&token),
        &forged,
    );
    let echoed = EchoedRequest::from_response(&bed.send(&request));
    assert_eq!(assert_no_forgery_reached(&echoed, &forged), 1);
    let assertion = upstream_assertion(&bed, &echoed, "app.example", "app.example");
    assert_identity_of(&assertion, "alice");

    // Without a token the default policy denies: nothing reaches the upstream.
    let response = bed.send(&with_forgeries(
        Request::get("/").host("app.example"),
        &forged,
    ));
    assert_eq!(response.status, 401, "{}", response.text());
    assert_eq!(bed.upstream.request_count(), 1);
}

#[test]
fn forged_headers_are_stripped_for_an_anonymous_request() {
    let mut config = config_with_key(&signing_bundle(), strip_rules());
    config["unauthenticated"] = json!("anonymous");
    let bed = TestBed::start(&config);
    let forged = forged_assertion();

    let request = with_forgeries(Request::get("/").host("app.example"), &forged);
    let echoed = EchoedRequest::from_response(&bed.send(&request));
    assert_eq!(assert_no_forgery_reached(&echoed, &forged), 1);
    let assertion = upstream_assertion(&bed, &echoed, "app.example", "app.example");
    assert_eq!(assertion.claim("sub"), "", "{:?}", assertion.claims);
}

#[test]
fn forged_headers_are_stripped_when_passing_without_identity() {
    let mut config = config_with_key(&signing_bundle(), strip_rules());
    config["unauthenticated"] = json!("pass");
    let bed = TestBed::start(&config);
    let forged = forged_assertion();

    // No identity: no assertion at all, forged or minted.
    let request = with_forgeries(Request::get("/").host("app.example"), &forged);
    let echoed = EchoedRequest::from_response(&bed.send(&request));
    assert_eq!(
        assert_no_forgery_reached(&echoed, &forged),
        0,
        "{:#?}",
        echoed.headers
    );

    let token = bed.idp.token_for("alice");
    let request = with_forgeries(
        Request::get("/").host("app.example").bearer(&token),
        &forged,
    );
    let echoed = EchoedRequest::from_response(&bed.send(&request));
    assert_eq!(assert_no_forgery_reached(&echoed, &forged), 1);
    let assertion = upstream_assertion(&bed, &echoed, "app.example", "app.example");
    assert_identity_of(&assertion, "alice");
}

#[test]
fn underscore_spelling_of_a_configured_assertion_header_is_stripped() {
    let bed = TestBed::start(&config_with_key(
        &signing_bundle(),
        json!({"header": "x-signed-identity"}),
    ));
    let token = bed.idp.token_for("dave");
    let request = Request::get("/")
        .host("app.example")
        .bearer(&token)
        .header("x_signed_identity", FORGED)
        .header("X_Signed_Identity", FORGED)
        .header("x-signed_identity", FORGED);
    let echoed = EchoedRequest::from_response(&bed.send(&request));
    let spellings: Vec<&(String, String)> = echoed
        .headers
        .iter()
        .filter(|(name, _)| canonical_header_name(name) == "x-signed-identity")
        .collect();
    assert_eq!(spellings.len(), 1, "{:#?}", echoed.headers);
    let token = echoed.single_header("x-signed-identity");
    let assertion = bed
        .jwks_verifier()
        .verify(token, "app.example", "app.example");
    assert_identity_of(&assertion, "dave");
}
