//! OpenID Connect discovery beside the JWKS (`issuer_format: uri`, or a
//! fixed `https` issuer), and CORS preflights on both paths, as a browser
//! verifier's cross-origin revalidation sends them. The upstream is never
//! reached for either.

use serde_json::{Value, json};
use signed_headers_e2e::http::{Request, Response};
use signed_headers_e2e::{AssertionVerifier, EchoedRequest, JWKS_PATH, TestBed, signing_bundle};

use crate::support::{assert_identity_of, config_with_key};

const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// GETs `url`'s path from the filter, with `url`'s host as `Host` (the
/// test cannot resolve the names a discovery document holds).
fn get_url(bed: &TestBed, url: &str) -> Response {
    let rest = url.strip_prefix("https://").expect("an https URL");
    let (host, path) = rest.split_at(rest.find('/').expect("a path"));
    bed.send(&Request::get(path).host(host))
}

#[test]
fn a_uri_issuer_is_discovered_and_its_keys_verify_its_tokens() {
    let bed = TestBed::start(&config_with_key(
        &signing_bundle(),
        json!({"issuer_format": "uri", "jwks_max_age_seconds": 120}),
    ));
    // An assertion for app.example, verified starting from its issuer alone,
    // as an OpenID library would: discovery, then the jwks_uri it names.
    let token = bed.idp.token_for("alice");
    let response = bed.send(&Request::get("/").host("app.example").bearer(&token));
    let echoed = EchoedRequest::from_response(&response);
    let assertion = echoed.single_header(signed_headers_e2e::ASSERTION_HEADER);
    let issuer = "https://app.example/";

    let response = bed.send(&Request::get(DISCOVERY_PATH).host("App.Example:8443"));
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(
        response.header("cache-control"),
        Some("public, max-age=120")
    );
    assert_eq!(response.header("access-control-allow-origin"), Some("*"));
    let document = response.json();
    assert_eq!(document["issuer"], issuer);
    assert_eq!(
        document["id_token_signing_alg_values_supported"],
        json!(["ES256"])
    );
    let jwks_uri = document["jwks_uri"].as_str().expect("a jwks_uri");
    assert_eq!(jwks_uri, format!("https://app.example{JWKS_PATH}"));
    let jwks = get_url(&bed, jwks_uri);
    assert_eq!(jwks.status, 200);
    let verified =
        AssertionVerifier::from_jwks(&jwks.text()).verify(assertion, issuer, "app.example");
    assert_identity_of(&verified, "alice");

    // Conditional GET, HEAD, and other methods, as on the JWKS path.
    let etag = response.header("etag").expect("an ETag").to_owned();
    let again = bed.send(
        &Request::get(DISCOVERY_PATH)
            .host("app.example")
            .header("If-None-Match", &etag),
    );
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let head = bed.send(&Request::head(DISCOVERY_PATH).host("app.example"));
    assert_eq!((head.status, head.body.len()), (200, 0));
    let post = bed.send(&Request::post(DISCOVERY_PATH).host("app.example"));
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));

    // Each host is its own issuer; a host that names none is refused.
    let other = bed
        .send(&Request::get(DISCOVERY_PATH).host("other.example"))
        .json();
    assert_eq!(other["issuer"], "https://other.example/");
    let refused = bed.send(
        &Request::get(DISCOVERY_PATH)
            .host("a.example")
            .host("b.example"),
    );
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(bed.upstream.request_count(), 1, "only the signed request");
}

#[test]
fn a_fixed_https_issuer_is_discovered_at_its_path_and_others_are_not() {
    let issuer = "https://auth.example.com/tenants/a";
    let bed = TestBed::start(&config_with_key(
        &signing_bundle(),
        json!({"issuer": issuer, "audience": "my-app"}),
    ));
    let response = bed.send(&Request::get(
        "/tenants/a/.well-known/openid-configuration?x=1",
    ));
    assert_eq!(response.status, 200, "{}", response.text());
    let document: Value = response.json();
    assert_eq!(document["issuer"], issuer);
    assert_eq!(
        document["jwks_uri"],
        format!("https://auth.example.com{JWKS_PATH}")
    );
    // The root's document is the app's business here: forwarded.
    let token = bed.idp.token_for("alice");
    let forwarded = bed.send(&Request::get(DISCOVERY_PATH).bearer(&token));
    assert_eq!(
        EchoedRequest::from_response(&forwarded).path,
        DISCOVERY_PATH
    );

    // `issuer_format: host` (the default): no discovery, forwarded too.
    let bed = TestBed::start(&config_with_key(&signing_bundle(), json!({})));
    let token = bed.idp.token_for("alice");
    let forwarded = bed.send(
        &Request::get(DISCOVERY_PATH)
            .host("app.example")
            .bearer(&token),
    );
    assert_eq!(
        EchoedRequest::from_response(&forwarded).path,
        DISCOVERY_PATH
    );
}

#[test]
fn both_paths_answer_a_cors_preflight_for_a_revalidation() {
    let bed = TestBed::start(&config_with_key(
        &signing_bundle(),
        json!({"issuer_format": "uri"}),
    ));
    for path in [JWKS_PATH, DISCOVERY_PATH] {
        // What a browser sends before a cross-origin GET with If-None-Match.
        let response = bed.send(
            &Request::new("OPTIONS", path)
                .host("app.example")
                .header("Origin", "https://dashboard.example")
                .header("Access-Control-Request-Method", "GET")
                .header("Access-Control-Request-Headers", "if-none-match"),
        );
        assert_eq!(response.status, 204, "{path}: {}", response.text());
        assert_eq!(response.header("access-control-allow-origin"), Some("*"));
        let methods = response
            .header("access-control-allow-methods")
            .unwrap_or_default();
        assert!(
            methods.contains("GET") && methods.contains("HEAD"),
            "{methods}"
        );
        let allowed = response
            .header("access-control-allow-headers")
            .unwrap_or_default()
            .to_ascii_lowercase();
        assert!(allowed.contains("if-none-match"), "{allowed}");
        assert!(response.header("access-control-max-age").is_some());
        // The GET that follows can read the ETag it must send back.
        let get = bed.send(
            &Request::get(path)
                .host("app.example")
                .header("Origin", "https://dashboard.example"),
        );
        let exposed = get
            .header("access-control-expose-headers")
            .unwrap_or_default()
            .to_ascii_lowercase();
        assert!(exposed.contains("etag"), "{path}: {exposed}");
    }
    // An OPTIONS that is no preflight is still a method the paths refuse.
    let plain = bed.send(&Request::new("OPTIONS", JWKS_PATH));
    assert_eq!(plain.status, 405);
    assert_eq!(bed.upstream.request_count(), 0);
}
