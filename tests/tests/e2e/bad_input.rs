//! The bad-input matrix, through a real Envoy over HTTP/1.1 (the raw
//! client) and HTTP/2 (curl): every input gets a defined answer, claims are
//! escaped JSON whatever they hold, bodies arrive intact, and the filter's
//! VM never fails (Envoy's log and stats are read afterwards).

use serde_json::{Value, json};
use signed_headers_e2e::http::{Request, Response};
use signed_headers_e2e::{
    ASSERTION_HEADER, EchoedRequest, JWKS_PATH, TestBed, decode_segment, h2, signing_bundle,
};

use crate::support::{assert_no_wasm_failure, config_with_key, upstream_assertion, vms_created};

/// Claims no JSON encoder may mangle: quotes, backslashes, control
/// characters, line and paragraph separators, HTML, non-ASCII, emoji.
fn hostile_claims() -> Value {
    json!({
        "sub": "quote\"back\\slash",
        "email": "ctl\u{0001}\u{001f}\u{007f}@example.com",
        "name": "new\nline\r\ttab \u{2028}\u{2029} </script><!-- 'x' ",
        "sid": "é漢字🦀\u{0000}nul",
        "groups": ["a\"b", "c\\d", "", "\u{0000}", "<g>"],
    })
}

fn bed() -> TestBed {
    TestBed::start(&config_with_key(
        &signing_bundle(),
        json!({"claim_headers": ["email", "name", "sid", "sub"]}),
    ))
}

/// The identity claims of the assertion equal what the IdP signed, byte for
/// byte, after a JSON round trip through the filter.
fn assert_claims_round_trip(bed: &TestBed, echoed: &EchoedRequest, host: &str) {
    let assertion = upstream_assertion(bed, echoed, host, host);
    let expected = hostile_claims();
    for claim in ["sub", "email", "name", "sid"] {
        assert_eq!(assertion.claim(claim), &expected[claim], "{claim}");
    }
    // Empty group names are dropped (the groups policy); the rest as sent.
    assert_eq!(
        assertion.claim("groups"),
        &json!(["a\"b", "c\\d", "\u{0000}", "<g>"])
    );
    // Claim headers carry what a header can; a value with a control
    // character is left out rather than corrupting the request.
    assert_eq!(
        echoed.header_values("x-pomerium-claim-sub"),
        ["quote\"back\\slash"]
    );
    assert!(echoed.header_values("x-pomerium-claim-email").is_empty());
    assert!(echoed.header_values("x-pomerium-claim-name").is_empty());
    assert!(echoed.header_values("x-pomerium-claim-sid").is_empty());
}

#[test]
fn http1_bad_input_matrix() {
    let bed = bed();
    let created = vms_created(&bed);
    let token = bed.idp.token(&hostile_claims());

    // JSON-breaking and control characters in every claim.
    let response = bed.send(&Request::get("/").host("app.example").bearer(&token));
    assert_claims_round_trip(
        &bed,
        &EchoedRequest::from_response(&response),
        "app.example",
    );

    // Hosts: port, upper case, trailing dot, IPv6; and an absolute-form
    // target, whose authority Envoy routes on (and the filter signs).
    for (host, audience) in [
        ("App.Example:8443", "app.example"),
        ("app.example.", "app.example."),
        ("[2001:DB8::1]:443", "[2001:db8::1]"),
    ] {
        let response = bed.send(&Request::get("/").host(host).bearer(&token));
        let echoed = EchoedRequest::from_response(&response);
        upstream_assertion(&bed, &echoed, audience, audience);
    }
    let response = bed.send(
        &Request::get("http://other.example/absolute")
            .host("app.example")
            .bearer(&token),
    );
    let echoed = EchoedRequest::from_response(&response);
    upstream_assertion(&bed, &echoed, "other.example", "other.example");

    // Every method: the JWKS answers GET and HEAD, refuses the rest with
    // 405; elsewhere the method is forwarded with an assertion.
    for method in [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE",
    ] {
        let jwks = bed.send(&Request::new(method, JWKS_PATH).host("app.example"));
        let expected = if method == "GET" || method == "HEAD" {
            200
        } else {
            405
        };
        assert_eq!(jwks.status, expected, "{method} on the JWKS path");
        if expected == 405 {
            assert_eq!(jwks.header("allow"), Some("GET, HEAD"));
        }
        if method == "HEAD" || method == "TRACE" {
            continue;
        }
        let response = bed.send(
            &Request::new(method, "/m")
                .host("app.example")
                .bearer(&token),
        );
        let echoed = EchoedRequest::from_response(&response);
        assert_eq!(echoed.method, method);
        assert_eq!(echoed.header_values(ASSERTION_HEADER).len(), 1);
    }

    // A long query and a long path on the JWKS route.
    let long_query = format!("{JWKS_PATH}?{}", "q=1&".repeat(2000));
    let response = bed.send(&Request::get(&long_query).host("app.example"));
    assert_eq!(response.status, 200);
    assert!(response.text().starts_with("{\"keys\":["));
    let long_path = format!("{JWKS_PATH}{}", "/x".repeat(4000));
    let response = bed.send(&Request::get(&long_path).host("app.example").bearer(&token));
    let echoed = EchoedRequest::from_response(&response);
    assert_eq!(echoed.path, long_path, "not the JWKS path: forwarded");

    // Bodies, plain and chunked, arrive intact beside the assertion.
    let body: Vec<u8> = (0..70_000u32)
        .map(|n| b"abcdefghij\n"[(n % 11) as usize])
        .collect();
    for request in [
        Request::post("/upload").body(body.clone()),
        Request::post("/upload")
            .body(body.clone())
            .chunked(&[1, 4096, 3, 30_000]),
    ] {
        let response = bed.send(&request.host("app.example").bearer(&token));
        let echoed = EchoedRequest::from_response(&response);
        assert_eq!(echoed.body.as_bytes(), body.as_slice());
        assert_eq!(echoed.header_values(ASSERTION_HEADER).len(), 1);
    }

    // Oversized and very many headers: Envoy refuses them (431) before the
    // filter, and the connection is closed; nothing reaches the upstream.
    let before = bed.upstream.request_count();
    let huge = "v".repeat(70 * 1024);
    let response = bed.send(
        &Request::get("/")
            .host("app.example")
            .header("x-huge", &huge),
    );
    assert_eq!(response.status, 431);
    let mut many = Request::get("/").host("app.example");
    for n in 0..120 {
        many = many.header(&format!("x-h{n}"), "1");
    }
    let response = bed.send(&many);
    assert_eq!(response.status, 431);
    assert_eq!(bed.upstream.request_count(), before);

    assert_no_wasm_failure(&bed, created);
}

fn h2_send(
    bed: &TestBed,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Response, String> {
    h2::send(bed.envoy.listener_address(), method, target, headers, body)
}

#[test]
fn http2_bad_input_matrix() {
    h2::require_http2_curl();
    let bed = bed();
    let created = vms_created(&bed);
    let token = bed.idp.token(&hostile_claims());
    let bearer = format!("Bearer {token}");

    let response = h2_send(
        &bed,
        "GET",
        "/",
        &[("Host", "app.example"), ("Authorization", &bearer)],
        None,
    )
    .expect("an HTTP/2 answer");
    let echoed = EchoedRequest::from_response(&response);
    assert_claims_round_trip(&bed, &echoed, "app.example");
    // The assertion arrives once, whatever HTTP/2 did to the header case.
    assert_eq!(echoed.header_values(ASSERTION_HEADER).len(), 1);

    for (host, audience) in [
        ("App.Example:8443", "app.example"),
        ("[2001:db8::1]:443", "[2001:db8::1]"),
    ] {
        let response = h2_send(
            &bed,
            "GET",
            "/",
            &[("Host", host), ("Authorization", &bearer)],
            None,
        )
        .expect("an HTTP/2 answer");
        let echoed = EchoedRequest::from_response(&response);
        upstream_assertion(&bed, &echoed, audience, audience);
    }

    // An empty :authority is refused by the filter (400), before signing.
    let before = bed.upstream.request_count();
    match h2_send(
        &bed,
        "GET",
        "/",
        &[("Host", ""), ("Authorization", &bearer)],
        None,
    ) {
        Ok(response) => assert!(matches!(response.status, 400), "{}", response.status),
        Err(refused) => assert!(!refused.is_empty()),
    }
    assert_eq!(bed.upstream.request_count(), before);

    for method in ["GET", "HEAD", "POST", "DELETE"] {
        let response = h2_send(&bed, method, JWKS_PATH, &[("Host", "app.example")], None)
            .expect("an HTTP/2 answer");
        let expected = if method == "GET" || method == "HEAD" {
            200
        } else {
            405
        };
        assert_eq!(response.status, expected, "{method}");
    }
    let long_query = format!("{JWKS_PATH}?{}", "q=1&".repeat(2000));
    let response = h2_send(&bed, "GET", &long_query, &[("Host", "app.example")], None)
        .expect("an HTTP/2 answer");
    assert_eq!(response.status, 200);

    let body: Vec<u8> = (0..70_000u32)
        .map(|n| b"0123456789\n"[(n % 11) as usize])
        .collect();
    let response = h2_send(
        &bed,
        "POST",
        "/upload",
        &[("Host", "app.example"), ("Authorization", &bearer)],
        Some(&body),
    )
    .expect("an HTTP/2 answer");
    let echoed = EchoedRequest::from_response(&response);
    assert_eq!(echoed.body.as_bytes(), body.as_slice());
    let token_claims = decode_segment(echoed.single_header(ASSERTION_HEADER), 1);
    assert_eq!(token_claims["sub"], json!("quote\"back\\slash"));

    // Oversized headers: Envoy resets the stream or answers 431; nothing
    // reaches the upstream either way.
    let before = bed.upstream.request_count();
    let huge = "v".repeat(70 * 1024);
    if let Ok(response) = h2_send(
        &bed,
        "GET",
        "/",
        &[("Host", "app.example"), ("x-huge", &huge)],
        None,
    ) {
        assert_eq!(response.status, 431);
    }
    assert_eq!(bed.upstream.request_count(), before);

    assert_no_wasm_failure(&bed, created);
}
