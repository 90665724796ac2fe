//! The JWKS endpoint: answered by the filter itself on every host, with
//! caching and CORS headers, conditional GET and method handling; the
//! upstream is never reached.

use base64::Engine as _;
use serde_json::{Value, json};
use signed_headers_e2e::http::{Request, Response};
use signed_headers_e2e::{EchoedRequest, JWKS_PATH, TestBed, bundle_of, generate_key};
use signed_headers_keys::{JwksDocument, KeyFormat};

use crate::support::{
    assert_assertion_shape, assert_identity_of, config_with_key, upstream_assertion,
};

/// Checks the headers every successful JWKS response carries and returns its ETag.
fn assert_jwks_headers(response: &Response, max_age: u32) -> String {
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type:?}; headers {:?}",
        response.headers
    );
    assert_eq!(
        response.header("cache-control"),
        Some(format!("public, max-age={max_age}").as_str()),
        "headers {:?}",
        response.headers
    );
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("*"),
        "headers {:?}",
        response.headers
    );
    let etag = response
        .header("etag")
        .unwrap_or_else(|| panic!("no ETag; headers {:?}", response.headers));
    // A strong validator: quoted, no W/ prefix.
    assert!(
        etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'),
        "ETag must be strong and quoted: {etag:?}"
    );
    etag.to_owned()
}

fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

#[test]
fn jwks_endpoint_is_answered_by_the_filter_on_any_host() {
    let bundle = signed_headers_e2e::signing_bundle();
    let expected_body = parse_json(JwksDocument::new(&bundle.jwks()).body());
    let bed = TestBed::start(&config_with_key(&bundle, json!({})));

    let mut etags = Vec::new();
    for host in [None, Some("app.example"), Some("other.example:9443")] {
        let mut request = Request::get(JWKS_PATH);
        if let Some(host) = host {
            request = request.host(host);
        }
        let response = bed.send(&request);
        assert_eq!(response.status, 200, "host {host:?}: {}", response.text());
        etags.push(assert_jwks_headers(&response, 60));
        assert_eq!(response.json(), expected_body, "host {host:?}");
    }
    assert!(
        etags.windows(2).all(|pair| pair[0] == pair[1]),
        "ETags differ: {etags:?}"
    );
    let etag = etags.remove(0);

    // Also with a valid IdP token: still the filter's answer.
    let token = bed.idp.token_for("alice");
    let response = bed.send(&Request::get(JWKS_PATH).bearer(&token));
    assert_eq!(response.status, 200);
    assert_eq!(response.json(), expected_body);

    // HEAD: the same headers, no body.
    let response = bed.send(&Request::head(JWKS_PATH).host("app.example"));
    assert_eq!(response.status, 200, "{:?}", response.headers);
    assert_eq!(assert_jwks_headers(&response, 60), etag);
    assert!(response.body.is_empty());

    // Conditional GET: a matching ETag gives 304 without a body.
    let response = bed.send(&Request::get(JWKS_PATH).header("If-None-Match", &etag));
    assert_eq!(
        response.status,
        304,
        "{:?} {}",
        response.headers,
        response.text()
    );
    assert!(response.body.is_empty());
    assert_eq!(
        response.header("etag"),
        Some(etag.as_str()),
        "{:?}",
        response.headers
    );
    // A stale ETag gets the full document.
    let response = bed.send(&Request::get(JWKS_PATH).header("If-None-Match", "\"stale\""));
    assert_eq!(response.status, 200);
    assert_eq!(response.json(), expected_body);

    // Other methods: 405 with the allowed ones.
    for method in ["POST", "PUT", "DELETE"] {
        let response = bed.send(&Request::new(method, JWKS_PATH).body("{}"));
        assert_eq!(response.status, 405, "{method}: {}", response.text());
        assert_eq!(
            response.header("allow"),
            Some("GET, HEAD"),
            "{method}: {:?}",
            response.headers
        );
    }

    assert_eq!(
        bed.upstream.request_count(),
        0,
        "the JWKS path reached the upstream: {:?}",
        bed.upstream.requests()
    );

    // Any other path still goes to the upstream.
    let response = bed.send(&Request::get("/.well-known/other.json").bearer(&token));
    EchoedRequest::from_response(&response);
    assert_eq!(bed.upstream.request_count(), 1);
}

#[test]
fn jwks_publishes_every_bundle_key_in_order_and_signs_with_the_first() {
    // Signing key, next key (published, not yet signing), and the public half
    // of a retired key (still published so its tokens verify).
    let signing = generate_key(KeyFormat::Sec1);
    let next = generate_key(KeyFormat::Pkcs8);
    let retired = generate_key(KeyFormat::Sec1)
        .to_public_only()
        .expect("public half of a fresh key");
    let kids: Vec<String> = [&signing, &next, &retired]
        .iter()
        .map(|key| key.kid().to_owned())
        .collect();
    let bundle = bundle_of(vec![signing, next, retired]);
    let expected_body = parse_json(JwksDocument::new(&bundle.jwks()).body());

    // The bundle as base64 of its PEM, the SIGNING_KEY convention.
    let encoded = base64::engine::general_purpose::STANDARD.encode(bundle.to_pem());
    let bed = TestBed::start(&json!({"signing_key": encoded, "jwks_max_age_seconds": 17}));

    let response = bed.send(&Request::get(JWKS_PATH));
    assert_eq!(response.status, 200, "{}", response.text());
    assert_jwks_headers(&response, 17);
    let body = response.json();
    assert_eq!(body, expected_body);
    let published = body["keys"].as_array().expect("keys is an array");
    let published_kids: Vec<&str> = published
        .iter()
        .map(|jwk| jwk["kid"].as_str().expect("every JWK has a kid"))
        .collect();
    assert_eq!(published_kids, kids);
    for jwk in published {
        assert_eq!(jwk["kty"], "EC", "{jwk}");
        assert_eq!(jwk["crv"], "P-256", "{jwk}");
        assert_eq!(jwk["use"], "sig", "{jwk}");
        assert_eq!(jwk["alg"], "ES256", "{jwk}");
        assert!(
            jwk.get("d").is_none(),
            "private key material published: {jwk}"
        );
    }

    let token = bed.idp.token_for("erin");
    let response = bed.send(&Request::get("/").host("app.example").bearer(&token));
    let echoed = EchoedRequest::from_response(&response);
    let assertion = upstream_assertion(&bed, &echoed, "app.example", "app.example");
    assert_assertion_shape(&assertion, &kids[0], 300);
    assert_identity_of(&assertion, "erin");
    assert_eq!(bed.upstream.request_count(), 1);
}

#[test]
fn rsa_public_keys_in_the_bundle_are_published_as_the_cli_prints_them() {
    let signing = signed_headers_e2e::signing_bundle().to_pem();
    let rsa = std::fs::read_to_string(
        signed_headers_e2e::repository_root().join("keys/testdata/rsa-public.pem"),
    )
    .expect("the RSA public key fixture");
    let bundle_text = format!("{signing}{rsa}");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("bundle.pem");
    std::fs::write(&file, &bundle_text).expect("the bundle file");
    let printed = signed_headers_e2e::run_signing_key(&["jwks".as_ref(), file.as_os_str()]);

    let bed = TestBed::start(&serde_json::json!({"signing_key": bundle_text}));
    let response = bed.send(&Request::get(JWKS_PATH));
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), printed.trim_end());
    let jwks = response.json();
    assert_eq!(jwks["keys"][1]["kty"], "RSA");
    assert_eq!(jwks["keys"][1]["alg"], "RS256");
    // The P-256 key signs; the RSA key is only published.
    let token = bed.idp.token_for("alice");
    let echoed = EchoedRequest::from_response(
        &bed.send(&Request::get("/").host("app.example").bearer(&token)),
    );
    let kid = signed_headers_e2e::decode_segment(
        echoed.single_header(signed_headers_e2e::ASSERTION_HEADER),
        0,
    )["kid"]
        .clone();
    assert_eq!(kid, jwks["keys"][0]["kid"]);
}

#[test]
fn every_kid_format_is_what_the_cli_prints_and_what_tokens_carry() {
    let rsa = std::fs::read_to_string(
        signed_headers_e2e::repository_root().join("keys/testdata/rsa-public.pem"),
    )
    .expect("the RSA public key fixture");
    let bundle_text = format!("{}{rsa}", signed_headers_e2e::signing_bundle().to_pem());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("bundle.pem");
    std::fs::write(&file, &bundle_text).expect("the bundle file");
    for format in ["thumbprint-hex", "thumbprint", "kubernetes"] {
        let printed = signed_headers_e2e::run_signing_key(&[
            "jwks".as_ref(),
            "--kid-format".as_ref(),
            format.as_ref(),
            file.as_os_str(),
        ]);
        let bed = TestBed::start(&serde_json::json!({
            "signing_key": bundle_text,
            "kid_format": format,
        }));
        let response = bed.send(&Request::get(JWKS_PATH));
        assert_eq!(response.text(), printed.trim_end(), "{format}");
        let jwks = response.json();
        assert_eq!(
            response.header("x-signing-kid"),
            jwks["keys"][0]["kid"].as_str(),
            "{format}"
        );
        let token = bed.idp.token_for("alice");
        let echoed = EchoedRequest::from_response(
            &bed.send(&Request::get("/").host("app.example").bearer(&token)),
        );
        let assertion = echoed.single_header(signed_headers_e2e::ASSERTION_HEADER);
        assert_eq!(
            signed_headers_e2e::decode_segment(assertion, 0)["kid"],
            jwks["keys"][0]["kid"],
            "{format}"
        );
        bed.jwks_verifier()
            .verify(assertion, "app.example", "app.example");
    }
}
