//! Client-supplied assertion and claim headers, in any letter case and any
//! repetition, and the configured extra names and prefixes, never reach the
//! upstream; unrelated headers do.

use serde_json::{Value, json};
use signed_headers_e2e::http::Request;
use signed_headers_e2e::{ASSERTION_HEADER, EchoedRequest, TestBed, TestIdp, signing_bundle};

use crate::support::{assert_identity_of, config_with_key, upstream_assertion};

/// Values a client forges; none may reach the upstream.
const FORGED: &str = "forged-by-client";

/// The configured extra strip rules.
fn strip_rules() -> Value {
    json!({"strip": {"names": ["x-extra"], "prefixes": ["x-internal-"]}})
}

/// `request` plus every header a client might forge, in mixed case and
/// repeated, and two harmless headers that must survive.
fn with_forgeries(request: Request, forged_assertion: &str) -> Request {
    request
        .header("X-Pomerium-Jwt-Assertion", forged_assertion)
        .header("x-pomerium-jwt-assertion", FORGED)
        .header("x-pomerium-jwt-assertion", forged_assertion)
        .header("x-pomerium-jwt-assertion-for", FORGED)
        .header("x-pomerium-claim-email", "root@example.com")
        .header("X-Pomerium-Claim-Groups", "admin")
        .header("X-Extra", FORGED)
        .header("x-internal-user", FORGED)
        .header("X-INTERNAL-ROLE", FORGED)
        .header("x-extra-not-a-strip-name", "kept")
        .header("X-Keep", "kept")
}

/// Checks that nothing forged reached the upstream, that the harmless headers
/// did, and returns how many assertion headers it got.
fn assert_no_forgery_reached(echoed: &EchoedRequest, forged_assertion: &str) -> usize {
    for (name, value) in &echoed.headers {
        assert!(
            value != FORGED && value != forged_assertion,
            "forged header {name}: {value} reached the upstream: {:#?}",
            echoed.headers
        );
    }
    let pomerium_headers = echoed.header_names_with_prefix("x-pomerium-");
    assert!(
        pomerium_headers.iter().all(|name| name == ASSERTION_HEADER),
        "client x-pomerium-* headers reached the upstream: {:#?}",
        echoed.headers
    );
    assert!(
        echoed.header_values("x-extra").is_empty(),
        "{:#?}",
        echoed.headers
    );
    assert!(
        echoed.header_names_with_prefix("x-internal-").is_empty(),
        "{:#?}",
        echoed.headers
    );
    assert_eq!(echoed.header_values("x-extra-not-a-strip-name"), ["kept"]);
    assert_eq!(echoed.header_values("x-keep"), ["kept"]);
    pomerium_headers.len()
}

/// A realistic forgery: a well-formed assertion for "admin", signed by a key
/// the filter does not know.
fn forged_assertion() -> String {
    TestIdp::new().sign(&json!({"sub": "admin", "email": "admin@example.com", "groups": ["admin"]}))
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
