//! Helpers shared by the end-to-end tests.

use serde_json::{Value, json};
use signed_headers_e2e::http::Request;
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

/// A header value a client forges; none may reach the upstream.
pub const FORGED: &str = "forged-by-client";

/// A realistic forgery: a well-formed assertion for "admin", signed by a key
/// the filter does not know.
pub fn forged_assertion() -> String {
    signed_headers_e2e::TestIdp::new()
        .sign(&json!({"sub": "admin", "email": "admin@example.com", "groups": ["admin"]}))
}

/// `request` plus every built-in identity header a client might forge: in
/// mixed case, repeated, and in the underscore spelling that CGI-style
/// servers read as the same name. Plus one harmless header that must survive.
pub fn with_forged_identity_headers(request: Request, forged_assertion: &str) -> Request {
    request
        .header("X-Pomerium-Jwt-Assertion", forged_assertion)
        .header("x-pomerium-jwt-assertion", FORGED)
        .header("x-pomerium-jwt-assertion", forged_assertion)
        .header("x_pomerium_jwt_assertion", forged_assertion)
        .header("X_Pomerium_Jwt_Assertion", FORGED)
        .header("x_pomerium_jwt_assertion", FORGED)
        .header("x-pomerium-jwt-assertion-for", FORGED)
        .header("X_POMERIUM_JWT_ASSERTION_FOR", FORGED)
        .header("x-pomerium-jwt_assertion-for", FORGED)
        .header("x-pomerium-claim-email", FORGED)
        .header("X-Pomerium-Claim-Groups", FORGED)
        .header("X_Pomerium_Claim_Email", FORGED)
        .header("x_pomerium_claim_email", FORGED)
        .header("X-Keep", "kept")
}

/// A header name as CGI-style servers see it: lowercase, `_` read as `-`.
pub fn canonical_header_name(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// Checks that no forged identity header reached the upstream in any
/// spelling, that the harmless one did, and returns how many assertion
/// headers the upstream got (in the filter's own spelling).
pub fn assert_no_forged_identity_header(echoed: &EchoedRequest, forged_assertion: &str) -> usize {
    assert_no_forged_identity_header_beside(echoed, forged_assertion, &[])
}

/// [`assert_no_forged_identity_header`] for a filter that also sets the
/// claim headers `claim_headers` (with values of its own, not forged ones).
pub fn assert_no_forged_identity_header_beside(
    echoed: &EchoedRequest,
    forged_assertion: &str,
    claim_headers: &[&str],
) -> usize {
    for (name, value) in &echoed.headers {
        assert!(
            value != FORGED && value != forged_assertion,
            "forged header {name}: {value} reached the upstream: {:#?}",
            echoed.headers
        );
        assert!(
            !canonical_header_name(name).starts_with("x-pomerium-")
                || name == ASSERTION_HEADER
                || claim_headers.contains(&name.as_str()),
            "client header {name} reached the upstream: {:#?}",
            echoed.headers
        );
    }
    assert_eq!(echoed.header_values("x-keep"), ["kept"]);
    for claim_header in claim_headers {
        assert!(
            echoed.header_values(claim_header).len() <= 1,
            "{claim_header} repeated: {:#?}",
            echoed.headers
        );
    }
    echoed.header_values(ASSERTION_HEADER).len()
}

/// 20-character slices of the base64 that encodes each SEC1 private
/// scalar in `pem` (characters 10 to 54 of the block's first line carry
/// DER bytes 7 to 40, the 32-byte `d`), plus the block marker: any of them
/// in a log is a leak.
pub fn private_key_fragments(pem: &str) -> Vec<String> {
    let mut fragments = vec!["PRIVATE KEY-----".to_owned()];
    let mut lines = pem.lines();
    while let Some(line) = lines.next() {
        if line == "-----BEGIN EC PRIVATE KEY-----" {
            let first = lines.next().expect("a PEM body line");
            fragments.extend((10..=34).step_by(4).map(|at| first[at..at + 20].to_owned()));
        }
    }
    assert!(fragments.len() > 1, "no SEC1 private key in {pem}");
    fragments
}

/// `log` holds none of `fragments`.
#[track_caller]
pub fn assert_no_key_material(log: &str, fragments: &[String]) {
    for fragment in fragments {
        assert!(
            !log.contains(fragment.as_str()),
            "private key material ({fragment}) in the log:\n{log}"
        );
    }
}

/// Reads what Envoy says about the filter's VMs after a run: no VM
/// failed, was reloaded or re-created, and no wasm error was logged.
pub fn assert_no_wasm_failure(bed: &TestBed, created_before: u64) {
    let stats = bed.envoy.stats();
    for (name, value) in &stats {
        let failure =
            name.contains("vm_reload") || name.ends_with("failed") && name.starts_with("wasm");
        assert!(!(failure && *value > 0), "{name} = {value}");
    }
    let created = stats
        .get("wasm.envoy.wasm.runtime.v8.created")
        .copied()
        .unwrap_or(0);
    assert_eq!(created, created_before, "a VM was created after start-up");
    let log = bed.envoy.flushed_log();
    for needle in [
        "RuntimeError",
        "wasm_vm.cc",
        "panicked",
        "signed-headers: cannot",
    ] {
        assert!(!log.contains(needle), "{needle} in the log:\n{log}");
    }
}

/// How many wasm VMs Envoy has created so far.
pub fn vms_created(bed: &TestBed) -> u64 {
    bed.envoy
        .stats()
        .get("wasm.envoy.wasm.runtime.v8.created")
        .copied()
        .unwrap_or(0)
}
