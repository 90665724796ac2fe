//! Helpers shared by the end-to-end tests.

use serde_json::{Value, json};
use signed_headers_e2e::{ASSERTION_HEADER, EchoedRequest, TestBed, VerifiedAssertion};
use signed_headers_keys::Bundle;

/// Every claim the assertion carries, whatever the identity.
pub const ASSERTION_CLAIMS: [&str; 11] = [
    "iss", "aud", "jti", "iat", "exp", "sub", "user", "email", "groups", "sid", "name",
];

/// A filter configuration signing with `bundle` (raw PEM), plus `extra` fields.
pub fn config_with_key(bundle: &Bundle, extra: Value) -> Value {
    let mut config = json!({"signing_key": bundle.to_pem()});
    merge(&mut config, extra);
    config
}

/// Adds the fields of the object `extra` to the object `config`.
pub fn merge(config: &mut Value, extra: Value) {
    let (Value::Object(config), Value::Object(extra)) = (config, extra) else {
        panic!("filter configurations are JSON objects");
    };
    config.extend(extra);
}

/// Seconds since the Unix epoch, by the test's clock.
pub fn now() -> i64 {
    i64::try_from(jsonwebtoken::get_current_timestamp()).expect("the clock fits in i64")
}

/// Checks what every assertion must satisfy whatever the identity: the JOSE
/// header is exactly `{alg, typ, kid}` with the expected kid, every claim is
/// present with its type (integers for times, an array for groups), no
/// `nbf`, and the lifetime is `ttl_seconds`.
pub fn assert_assertion_shape(assertion: &VerifiedAssertion, expected_kid: &str, ttl_seconds: i64) {
    let mut header_members: Vec<&str> = assertion.header.keys().map(String::as_str).collect();
    header_members.sort_unstable();
    assert_eq!(
        header_members,
        ["alg", "kid", "typ"],
        "header {:?}",
        assertion.header
    );
    assert_eq!(
        assertion.header["kid"], expected_kid,
        "header {:?}",
        assertion.header
    );

    for claim in ASSERTION_CLAIMS {
        assert!(
            assertion.claims.contains_key(claim),
            "assertion lacks the {claim} claim: {:?}",
            assertion.claims
        );
    }
    assert!(
        !assertion.claims.contains_key("nbf"),
        "{:?}",
        assertion.claims
    );
    for claim in ["iss", "aud", "jti", "sub", "user", "email", "sid", "name"] {
        assertion.string_claim(claim);
    }
    assert!(
        !assertion.string_claim("jti").is_empty(),
        "{:?}",
        assertion.claims
    );
    let groups = assertion.claim("groups");
    assert!(
        groups
            .as_array()
            .is_some_and(|g| g.iter().all(Value::is_string)),
        "groups must be an array of strings: {groups}"
    );

    let issued_at = assertion.integer_claim("iat");
    let expires = assertion.integer_claim("exp");
    assert_eq!(expires - issued_at, ttl_seconds, "{:?}", assertion.claims);
    // Not a timing assertion: a token is never issued in the future (beyond
    // the usual clock-skew allowance).
    assert!(
        issued_at <= now() + 60,
        "iat is in the future: {:?}",
        assertion.claims
    );
}

/// Checks the identity claims an assertion took from [`signed_headers_e2e::TestIdp::user_claims`].
pub fn assert_identity_of(assertion: &VerifiedAssertion, subject: &str) {
    let expected = signed_headers_e2e::TestIdp::user_claims(subject);
    assert_eq!(assertion.claim("sub"), &expected["sub"]);
    assert_eq!(assertion.claim("user"), &expected["sub"]);
    assert_eq!(assertion.claim("email"), &expected["email"]);
    assert_eq!(assertion.claim("groups"), &expected["groups"]);
    assert_eq!(assertion.claim("name"), &expected["name"]);
    assert_eq!(assertion.claim("sid"), &expected["sid"]);
}

/// The one assertion the upstream received, verified against the JWKS the
/// filter publishes, with the expected `iss` and `aud`.
pub fn upstream_assertion(
    bed: &TestBed,
    echoed: &EchoedRequest,
    issuer: &str,
    audience: &str,
) -> VerifiedAssertion {
    let token = echoed.single_header(ASSERTION_HEADER);
    bed.jwks_verifier().verify(token, issuer, audience)
}
