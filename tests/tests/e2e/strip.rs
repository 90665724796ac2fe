//! Client-supplied assertion and claim headers, in any letter case, any
//! repetition and either spelling (`-` or `_`), and the configured extra
//! names and prefixes, never reach the upstream; unrelated headers do.
//!
//! The test bed leaves Envoy's `headers_with_underscores_action` at its
//! default (`ALLOW`), so these tests prove what the filter does on its own;
//! `shipped.rs` checks the shipped configuration, which drops them earlier.

use serde_json::{Value, json};
use signed_headers_e2e::http::Request;
use signed_headers_e2e::{EchoedRequest, TestBed, UpstreamProtocol, h2, signing_bundle};

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

/// The filter reads Envoy's header map in place (the host's serialized
/// buffer, not the SDK's copies): values that are not UTF-8 (a Latin-1
/// byte, which HTTP allows as obs-text), UTF-8 values, empty values and many
/// headers are read as they are, every forgery among them still goes, and
/// the rest arrive unchanged.
#[test]
fn forged_headers_go_among_headers_with_any_bytes() {
    let bed = TestBed::start(&config_with_key(&signing_bundle(), strip_rules()));
    let forged = forged_assertion();
    let token = bed.idp.token_for("alice");
    let mut request = with_forgeries(
        Request::get("/").host("app.example").bearer(&token),
        &forged,
    )
    .header_bytes("x-latin1", b"caf\xe9 cr\xe8me")
    .header("x-internal-after-latin1", FORGED)
    .header("x-utf8", "café ☕")
    .header("x-empty", "");
    for index in 0..60 {
        request = request.header(&format!("x-filler-{index}"), &"v".repeat(index));
    }
    let request = request
        .header_bytes("X-Pomerium-Jwt-Assertion", b"forged-\xff")
        .header_bytes("x-internal-last", b"forged-\xff");

    let echoed = EchoedRequest::from_response(&bed.send(&request));
    assert_eq!(assert_no_forgery_reached(&echoed, &forged), 1);
    assert!(
        !echoed
            .header_values("x-pomerium-jwt-assertion")
            .iter()
            .any(|value| value.starts_with("forged-")),
        "{:#?}",
        echoed.headers
    );
    let assertion = upstream_assertion(&bed, &echoed, "app.example", "app.example");
    assert_identity_of(&assertion, "alice");
    assert_eq!(
        echoed.header_values("x-latin1"),
        ["caf\u{fffd} cr\u{fffd}me"]
    );
    assert_eq!(echoed.header_values("x-utf8"), ["café ☕"]);
    assert_eq!(echoed.header_values("x-empty"), [""]);
    for index in [0, 1, 59] {
        assert_eq!(
            echoed.header_values(&format!("x-filler-{index}")),
            ["v".repeat(index)]
        );
    }
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

/// Trailers a client sends after its body: forged identity in every
/// spelling, and one that must survive.
const FORGED_TRAILERS: [(&str, &str); 5] = [
    ("x-pomerium-jwt-assertion", FORGED),
    ("X-Pomerium-Claim-Email", FORGED),
    ("x_pomerium_claim_groups", FORGED),
    ("x-extra", FORGED),
    ("x-checksum", "kept"),
];

/// A chunked upload for `token`'s user, ending in [`FORGED_TRAILERS`].
fn with_forged_trailers(token: &str) -> Request {
    FORGED_TRAILERS.iter().fold(
        Request::post("/upload")
            .host("app.example")
            .bearer(token)
            .body("hello"),
        |request, (name, value)| request.trailer(name, value),
    )
}

fn assert_only_the_harmless_trailer_arrived(echoed: &EchoedRequest) {
    assert_eq!(
        echoed.trailers,
        [("x-checksum".to_owned(), "kept".to_owned())],
        "trailers the upstream received"
    );
    assert_eq!(echoed.body, "hello");
}

#[test]
fn forged_http1_chunked_trailers_are_stripped() {
    let options = signed_headers_e2e::EnvoyOptions::with_filter_config(&config_with_key(
        &signing_bundle(),
        strip_rules(),
    ))
    .upstream_protocol(UpstreamProtocol::Http1WithTrailers);
    let bed = TestBed::start_with(&options);
    let token = bed.idp.token_for("alice");
    let request = with_forged_trailers(&token);
    let echoed = EchoedRequest::from_response(&bed.send(&request));
    assert_only_the_harmless_trailer_arrived(&echoed);
    let assertion = upstream_assertion(&bed, &echoed, "app.example", "app.example");
    assert_identity_of(&assertion, "alice");
}

#[test]
fn without_the_filter_envoy_forwards_such_trailers() {
    // The control: the same setup passes a forged trailer on untouched, so
    // the tests above and below see the filter's work, not Envoy's.
    for upstream in [UpstreamProtocol::Http1WithTrailers, UpstreamProtocol::Http2] {
        let bed = TestBed::start_with(
            &signed_headers_e2e::EnvoyOptions::without_filter().upstream_protocol(upstream),
        );
        let request = Request::post("/")
            .host("app.example")
            .body("hello")
            .trailer("x-pomerium-jwt-assertion", FORGED);
        let echoed = EchoedRequest::from_response(&bed.send(&request));
        assert_eq!(
            echoed.trailers,
            [("x-pomerium-jwt-assertion".to_owned(), FORGED.to_owned())],
            "{upstream:?}"
        );
    }
}

#[test]
fn forged_http2_trailers_to_an_http2_upstream_are_stripped() {
    let options = signed_headers_e2e::EnvoyOptions::with_filter_config(&config_with_key(
        &signing_bundle(),
        strip_rules(),
    ))
    .upstream_protocol(UpstreamProtocol::Http2);
    let bed = TestBed::start_with(&options);
    let token = bed.idp.token_for("alice");
    let authorization = format!("Bearer {token}");
    let status = h2::send_with_trailers(
        bed.envoy.listener_address(),
        "/upload",
        &[
            (":authority", "app.example"),
            ("authorization", &authorization),
        ],
        b"hello",
        &FORGED_TRAILERS,
    )
    .expect("an HTTP/2 exchange");
    assert_eq!(status, 200);
    let echoed = bed.upstream.requests().pop().expect("the request arrived");
    assert_only_the_harmless_trailer_arrived(&echoed);
    let assertion = upstream_assertion(&bed, &echoed, "app.example", "app.example");
    assert_identity_of(&assertion, "alice");

    // An HTTP/1.1 client's chunked trailers take the same way.
    let request = with_forged_trailers(&token);
    let echoed = EchoedRequest::from_response(&bed.send(&request));
    assert_only_the_harmless_trailer_arrived(&echoed);
}
