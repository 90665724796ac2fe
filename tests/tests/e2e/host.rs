//! The request host names the assertion's audience (and, by default, its
//! issuer), so a Host that names no single valid host is refused with 400
//! before anything is signed: an empty `Host:` (Envoy passes an empty
//! authority), two `Host` headers (Envoy joins them with a comma), or a
//! malformed one. A fixed issuer and audience free the filter from the host.

use serde_json::json;
use signed_headers_e2e::http::Request;
use signed_headers_e2e::{EchoedRequest, JWKS_PATH, TestBed, signing_bundle};

use crate::support::{assert_identity_of, config_with_key, upstream_assertion};

/// Each request carries a valid IdP token, so the Host is the only reason
/// for a refusal.
#[test]
fn empty_doubled_and_malformed_hosts_are_refused_before_signing() {
    let bed = TestBed::start(&config_with_key(&signing_bundle(), json!({})));
    let token = bed.idp.token_for("alice");

    let refused = [
        ("empty Host", Request::get("/").host("")),
        (
            "two Host headers",
            Request::get("/").host("a.example").host("b.example"),
        ),
        (
            "two Host headers, same value",
            Request::get("/").host("a.example").host("a.example"),
        ),
        (
            "a comma in Host",
            Request::get("/").host("a.example,b.example"),
        ),
        (
            "a port that is no number",
            Request::get("/").host("a.example:http"),
        ),
        ("an empty label", Request::get("/").host("a..example")),
        ("userinfo", Request::get("/").host("user@a.example")),
        ("an unclosed IPv6 literal", Request::get("/").host("[::1")),
    ];
    for (what, request) in refused {
        let response = bed.send(&request.bearer(&token));
        assert_eq!(response.status, 400, "{what}: {}", response.text());
        assert!(
            response.text().starts_with("signed-headers: "),
            "{what}: refused by the filter, not Envoy: {}",
            response.text()
        );
        assert_eq!(
            bed.upstream.request_count(),
            0,
            "{what} reached the upstream"
        );
    }
    // Without a token too: the Host is checked before the identity.
    let response = bed.send(&Request::get("/").host(""));
    assert_eq!(response.status, 400, "{}", response.text());
    assert_eq!(bed.upstream.request_count(), 0);

    // The JWKS is served on every host, since nothing is signed there.
    let response = bed.send(&Request::get(JWKS_PATH).host(""));
    assert_eq!(response.status, 200, "{}", response.text());
}

#[test]
fn ports_letter_case_trailing_dots_and_ipv6_literals_still_work() {
    let bed = TestBed::start(&config_with_key(&signing_bundle(), json!({})));
    let token = bed.idp.token_for("alice");
    for (host, audience) in [
        ("app.example", "app.example"),
        ("App.Example:8443", "app.example"),
        ("app.example.", "app.example."),
        ("App.Example.:443", "app.example."),
        ("127.0.0.1:10000", "127.0.0.1"),
        ("[::1]:8080", "[::1]"),
        ("[2001:DB8::1]", "[2001:db8::1]"),
    ] {
        let response = bed.send(&Request::get("/").host(host).bearer(&token));
        let echoed = EchoedRequest::from_response(&response);
        let assertion = upstream_assertion(&bed, &echoed, audience, audience);
        assert_identity_of(&assertion, "alice");
    }
}

#[test]
fn a_fixed_issuer_and_audience_do_not_depend_on_the_host() {
    let bed = TestBed::start(&config_with_key(
        &signing_bundle(),
        json!({"issuer": "https://auth.example", "audience": "my-app"}),
    ));
    let token = bed.idp.token_for("alice");
    for request in [
        Request::get("/").host(""),
        Request::get("/").host("a.example").host("b.example"),
        Request::get("/").host("app.example:8443"),
    ] {
        let echoed = EchoedRequest::from_response(&bed.send(&request.bearer(&token)));
        let assertion = upstream_assertion(&bed, &echoed, "https://auth.example", "my-app");
        assert_identity_of(&assertion, "alice");
    }

    // A fixed audience alone still takes the issuer from the host.
    let bed = TestBed::start(&config_with_key(
        &signing_bundle(),
        json!({"audience": "my-app"}),
    ));
    let token = bed.idp.token_for("alice");
    let response = bed.send(&Request::get("/").host("").bearer(&token));
    assert_eq!(response.status, 400, "{}", response.text());
    let response = bed.send(&Request::get("/").host("App.Example").bearer(&token));
    let echoed = EchoedRequest::from_response(&response);
    let assertion = upstream_assertion(&bed, &echoed, "app.example", "my-app");
    assert_identity_of(&assertion, "alice");
}

#[test]
fn the_audience_is_the_host_envoy_routed_on_trailing_dot_and_all() {
    // Without `strip_trailing_host_dot`, Envoy routes `good.example.` to the
    // catch-all virtual host, not to `good.example`'s: the assertion names
    // the host as routed, dot included, so `good.example`'s app refuses it.
    // With it (as every shipped configuration sets), Envoy removes the dot
    // before routing and before the filter: both see `good.example`.
    for (strip_trailing_host_dot, routed_as, audience) in [
        (false, "catch-all", "good.example."),
        (true, "good", "good.example"),
    ] {
        let options = signed_headers_e2e::EnvoyOptions::with_filter_config(&config_with_key(
            &signing_bundle(),
            json!({}),
        ))
        .per_host_routes(strip_trailing_host_dot);
        let bed = TestBed::start_with(&options);
        let token = bed.idp.token_for("alice");
        let response = bed.send(&Request::get("/").host("good.example.").bearer(&token));
        let echoed = EchoedRequest::from_response(&response);
        assert_eq!(echoed.header_values("x-routed-as"), [routed_as]);
        let assertion = upstream_assertion(&bed, &echoed, audience, audience);
        assert_identity_of(&assertion, "alice");
        // The same request without the dot is routed and signed alike.
        let response = bed.send(&Request::get("/").host("good.example").bearer(&token));
        let echoed = EchoedRequest::from_response(&response);
        assert_eq!(echoed.header_values("x-routed-as"), ["good"]);
        upstream_assertion(&bed, &echoed, "good.example", "good.example");
    }
}
