//! The harness itself, without the filter: proves that a failure elsewhere is
//! the filter's, not the test bed's.

use signed_headers_e2e::http::Request;
use signed_headers_e2e::{EchoedRequest, EnvoyOptions, TestBed, TestIdp};

#[test]
fn harness_proxies_to_echo_and_jwt_authn_guards_tokens() {
    let bed = TestBed::start_with(&EnvoyOptions::without_filter());

    // Duplicate and mixed-case headers reach the echo in order.
    let response = bed.send(
        &Request::get("/some/path?q=1")
            .host("app.example:8443")
            .header("X-Dup", "one")
            .header("x-dup", "two"),
    );
    let echoed = EchoedRequest::from_response(&response);
    assert_eq!(echoed.method, "GET");
    assert_eq!(echoed.path, "/some/path?q=1");
    assert_eq!(echoed.header_values("x-dup"), ["one", "two"]);
    assert_eq!(echoed.single_header("host"), "app.example:8443");
    assert_eq!(bed.upstream.request_count(), 1);

    // jwt_authn: a valid token passes and is not forwarded (forward: false).
    let token = bed.idp.token_for("alice");
    let echoed = EchoedRequest::from_response(&bed.send(&Request::get("/").bearer(&token)));
    assert!(
        echoed.header_values("authorization").is_empty(),
        "{echoed:?}"
    );

    // An invalid token (signed by another IdP) is rejected before the upstream.
    let stranger = TestIdp::new();
    let response = bed.send(&Request::get("/").bearer(&stranger.token_for("mallory")));
    assert_eq!(response.status, 401, "{}", response.text());
    assert_eq!(bed.upstream.request_count(), 2);

    // HEAD reaches the echo and gets no body.
    let response = bed.send(&Request::head("/head"));
    assert_eq!(response.status, 200);
    assert!(response.body.is_empty());
    assert_eq!(
        bed.upstream.requests().last().map(|r| r.method.as_str()),
        Some("HEAD")
    );

    // Per-worker stats exist for both workers and count our connections.
    let per_worker = bed.envoy.worker_connection_counts();
    assert_eq!(per_worker.len(), 2);
    assert_eq!(per_worker.iter().sum::<u64>(), 4, "{per_worker:?}");

    // The log is readable, and flushed on request.
    assert!(
        bed.envoy
            .flushed_log()
            .contains("starting main dispatch loop")
    );
}
