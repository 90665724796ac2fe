//! Claim mapping, claim headers, audience lists, the groups policy and
//! cookie stripping, through `jwt_authn` (the other sources have their own
//! shipped configurations and tests).

use serde_json::{Value, json};
use signed_headers_e2e::http::Request;
use signed_headers_e2e::{
    ASSERTION_HEADER, EchoedRequest, MAX_HEADER_LINE_BYTES, TestBed, signing_bundle,
};

use crate::support::{config_with_key, upstream_assertion};

/// Groups a large organisation's user might have: 500 of them, about 40
/// bytes each, far more than one 8 KiB header line holds.
fn many_groups() -> Vec<String> {
    (0..500)
        .map(|n| format!("org-wide-distribution-list-number-{n:04}"))
        .collect()
}

#[test]
fn mapped_claims_reach_the_assertion_and_the_claim_headers_and_forged_copies_do_not() {
    let bed = TestBed::start(&config_with_key(
        &signing_bundle(),
        json!({
            "issuer": "https://auth.example",
            "audience": ["app.example", "api.example"],
            "identity": {
                "source": "jwt_authn",
                "claims": {
                    "user": "preferred_username",
                    "groups": ["realm_access", "roles"],
                    "name": "https://example.com/display_name",
                    "sid": null
                }
            },
            "claim_headers": {
                "email": "x-pomerium-claim-email",
                "groups": "x-pomerium-claim-groups",
                "user": "x-user",
                "name": "x-user-name"
            }
        }),
    ));
    let token = bed.idp.token(&json!({
        "sub": "f3a1-uuid",
        "preferred_username": "alice",
        "email": "alice@example.com",
        "realm_access": {"roles": ["admins", "dev"]},
        "groups": ["ignored"],
        "https://example.com/display_name": "Alice \"Al\" O'Neil, Jr.",
        "sid": "not-mapped",
    }));
    let response = bed.send(
        &Request::get("/")
            .host("any-host.example")
            .bearer(&token)
            .header("X-User", "mallory")
            .header("x_user", "mallory")
            .header("X-User-Name", "Mallory")
            .header("x-pomerium-claim-email", "mallory@example.com")
            .header("X_Pomerium_Claim_Groups", "admins"),
    );
    let echoed = EchoedRequest::from_response(&response);

    // Any of the listed audiences verifies; `aud` is the list itself.
    let assertion = upstream_assertion(&bed, &echoed, "https://auth.example", "api.example");
    assert_eq!(
        assertion.claim("aud"),
        &json!(["app.example", "api.example"])
    );
    assert_eq!(assertion.claim("sub"), "f3a1-uuid");
    assert_eq!(assertion.claim("user"), "alice");
    assert_eq!(assertion.claim("email"), "alice@example.com");
    assert_eq!(assertion.claim("groups"), &json!(["admins", "dev"]));
    assert_eq!(assertion.claim("name"), "Alice \"Al\" O'Neil, Jr.");
    assert_eq!(assertion.claim("sid"), "");
    assert!(!assertion.claims.contains_key("groups_truncated"));

    assert_eq!(echoed.header_values("x-user"), ["alice"]);
    assert_eq!(
        echoed.header_values("x-user-name"),
        ["Alice \"Al\" O'Neil, Jr."]
    );
    assert_eq!(
        echoed.header_values("x-pomerium-claim-email"),
        ["alice@example.com"]
    );
    assert_eq!(
        echoed.header_values("x-pomerium-claim-groups"),
        ["admins,dev"]
    );
    for (name, _) in &echoed.headers {
        assert_ne!(name.to_ascii_lowercase(), "x_user", "{:?}", echoed.headers);
        assert!(
            !name.to_ascii_lowercase().starts_with("x_pomerium"),
            "{:?}",
            echoed.headers
        );
    }
}

#[test]
fn a_user_with_500_groups_gets_a_request_the_upstream_accepts_and_the_cap_is_logged_once() {
    let config = config_with_key(
        &signing_bundle(),
        json!({"claim_headers": ["groups", "email"]}),
    );
    let bed = TestBed::start(&config);
    let groups = many_groups();

    // Without the filter's cap these groups alone would not fit the line.
    let groups_json = serde_json::to_string(&groups).expect("strings serialize");
    assert!(groups_json.len() * 4 / 3 > MAX_HEADER_LINE_BYTES);

    for user in ["alice", "bob", "carol", "dave"] {
        let token = bed.idp.token(&json!({
            "sub": user,
            "email": format!("{user}@example.com"),
            "groups": groups,
        }));
        let response = bed.send(&Request::get("/").host("app.example").bearer(&token));
        let echoed = EchoedRequest::from_response(&response);
        let assertion = upstream_assertion(&bed, &echoed, "app.example", "app.example");
        assert_eq!(assertion.claim("sub"), user);
        assert_eq!(assertion.claim("groups"), &json!([]));
        assert_eq!(assertion.claim("groups_truncated"), &json!(true));
        let line = ASSERTION_HEADER.len() + 2 + echoed.single_header(ASSERTION_HEADER).len();
        assert!(line <= 8000, "assertion header line of {line} bytes");
        assert!(echoed.header_values("x-pomerium-claim-groups").is_empty());
        assert_eq!(
            echoed.header_values("x-pomerium-claim-email"),
            [format!("{user}@example.com")]
        );
    }

    // A user with few groups keeps them, without the marker.
    let response = bed.send(
        &Request::get("/")
            .host("app.example")
            .bearer(&bed.idp.token_for("erin")),
    );
    let echoed = EchoedRequest::from_response(&response);
    let assertion = upstream_assertion(&bed, &echoed, "app.example", "app.example");
    assert_eq!(
        assertion.claim("groups"),
        &json!(["engineering", "on-call"])
    );
    assert!(!assertion.claims.contains_key("groups_truncated"));
    assert_eq!(
        echoed.header_values("x-pomerium-claim-groups"),
        ["engineering,on-call"]
    );

    bed.wait_for_log_line(&["signed-headers: groups dropped", "max_header_bytes (8000)"]);
    let log = bed.envoy.flushed_log();
    let warnings = log.matches("signed-headers: groups dropped").count();
    assert_eq!(warnings, 1, "one warning per configuration:\n{log}");
}

#[test]
fn without_the_cap_500_groups_are_refused_by_the_upstream() {
    // The control for the test above: the same user, with a cap too high to
    // act, gets a header line the upstream refuses.
    let bed = TestBed::start(&config_with_key(
        &signing_bundle(),
        json!({"max_header_bytes": 65536}),
    ));
    let token = bed
        .idp
        .token(&json!({"sub": "alice", "groups": many_groups()}));
    let response = bed.send(&Request::get("/").host("app.example").bearer(&token));
    assert_eq!(response.status, 431, "{}", response.text());
    assert_eq!(bed.upstream.request_count(), 0);
}

#[test]
fn groups_allow_list_and_maximum_count() {
    let bed = TestBed::start(&config_with_key(
        &signing_bundle(),
        json!({"groups": {"allow": ["admins"], "allow_prefixes": ["team-"], "max_count": 3}}),
    ));
    let send = |groups: Value| {
        let token = bed.idp.token(&json!({"sub": "alice", "groups": groups}));
        let response = bed.send(&Request::get("/").host("app.example").bearer(&token));
        let echoed = EchoedRequest::from_response(&response);
        upstream_assertion(&bed, &echoed, "app.example", "app.example")
    };

    let filtered = send(json!(["team-a", "admin", "admins", "xteam-b", "team-b"]));
    assert_eq!(
        filtered.claim("groups"),
        &json!(["team-a", "admins", "team-b"])
    );
    assert!(!filtered.claims.contains_key("groups_truncated"));

    let too_many = send(json!(["team-a", "team-b", "team-c", "team-d", "other"]));
    assert_eq!(too_many.claim("groups"), &json!([]));
    assert_eq!(too_many.claim("groups_truncated"), &json!(true));
}

#[test]
fn configured_cookies_are_removed_and_the_others_kept() {
    let bed = TestBed::start(&config_with_key(
        &signing_bundle(),
        json!({"strip": {"cookies": ["IdToken", "BearerToken"]}}),
    ));
    let token = bed.idp.token_for("alice");
    let response = bed.send(
        &Request::get("/")
            .host("app.example")
            .bearer(&token)
            .header("Cookie", "theme=dark; IdToken=eyJ.secret.x; lang=en")
            .header("Cookie", "BearerToken=secret"),
    );
    let echoed = EchoedRequest::from_response(&response);
    let cookies = echoed.header_values("cookie").join("; ");
    assert!(!cookies.contains("secret"), "cookies: {cookies:?}");
    assert!(!cookies.contains("IdToken"), "cookies: {cookies:?}");
    assert!(
        cookies.contains("theme=dark") && cookies.contains("lang=en"),
        "cookies: {cookies:?}"
    );

    // A request with nothing to remove keeps its cookie header as sent.
    let response = bed.send(
        &Request::get("/")
            .host("app.example")
            .bearer(&token)
            .header("Cookie", "a=1;b=2"),
    );
    let echoed = EchoedRequest::from_response(&response);
    assert_eq!(echoed.header_values("cookie"), ["a=1;b=2"]);
}

#[test]
fn a_huge_claim_never_makes_a_header_line_the_upstream_refuses() {
    let bed = TestBed::start(&config_with_key(
        &signing_bundle(),
        json!({"claim_headers": ["email", "name", "groups", "sub"]}),
    ));
    let huge = "x".repeat(10_000);
    for claim in ["email", "name", "sid"] {
        let mut payload = json!({
            "sub": "alice", "email": "alice@example.com", "name": "Alice",
            "sid": "s-1", "groups": ["dev"]
        });
        payload[claim] = json!(huge);
        let token = bed.idp.token(&payload);
        let response = bed.send(&Request::get("/").host("app.example").bearer(&token));
        let echoed = EchoedRequest::from_response(&response);
        let assertion = upstream_assertion(&bed, &echoed, "app.example", "app.example");
        // Only the huge claim went, and the token says so.
        assert_eq!(assertion.claim(claim), "", "{claim}");
        assert_eq!(assertion.claim("claims_truncated"), &json!([claim]));
        assert_eq!(assertion.claim("sub"), "alice");
        assert_eq!(assertion.claim("groups"), &json!(["dev"]));
        assert!(!assertion.claims.contains_key("groups_truncated"));
        for (name, value) in &echoed.headers {
            assert!(
                name.len() + 2 + value.len() <= 8000,
                "{name}: {} bytes",
                value.len()
            );
        }
        assert!(
            echoed
                .header_values(&format!("x-pomerium-claim-{claim}"))
                .is_empty()
        );
        assert_eq!(echoed.header_values("x-pomerium-claim-groups"), ["dev"]);
    }
    bed.wait_for_log_line(&["signed-headers: claims dropped", "claims_truncated"]);

    // `sub` and `user` name the user and are never left out: a user whose
    // name alone is too large is refused with a clear answer, before
    // anything reaches the upstream.
    let before = bed.upstream.request_count();
    let token = bed.idp.token(&json!({"sub": huge}));
    assert_refused_as_too_large(&bed, &token);
    assert_eq!(bed.upstream.request_count(), before);
    let bed = TestBed::start(&config_with_key(
        &signing_bundle(),
        json!({"identity": {"source": "jwt_authn", "claims": {"user": "preferred_username"}}}),
    ));
    let token = bed
        .idp
        .token(&json!({"sub": "alice", "preferred_username": huge}));
    assert_refused_as_too_large(&bed, &token);
    assert_eq!(bed.upstream.request_count(), 0);
}

fn assert_refused_as_too_large(bed: &TestBed, token: &str) {
    let response = bed.send(&Request::get("/").host("app.example").bearer(token));
    assert_eq!(response.status, 431, "{}", response.text());
    assert_eq!(
        response.text(),
        "signed-headers: the user's identity is too large for the assertion header\n"
    );
    bed.wait_for_log_line(&["signed-headers: 431", "max_header_bytes"]);
}

#[test]
fn claim_headers_that_a_parser_would_misread_are_left_out() {
    let bed = TestBed::start(&config_with_key(
        &signing_bundle(),
        json!({"claim_headers": ["groups", "name"]}),
    ));
    let send = |groups: Value, name: &str| {
        let token = bed
            .idp
            .token(&json!({"sub": "alice", "groups": groups, "name": name}));
        let response = bed.send(&Request::get("/").host("app.example").bearer(&token));
        let echoed = EchoedRequest::from_response(&response);
        let assertion = upstream_assertion(&bed, &echoed, "app.example", "app.example");
        // The signed assertion keeps the values exactly.
        assert_eq!(assertion.claim("groups"), &groups);
        assert_eq!(assertion.claim("name"), name);
        (
            echoed.header_values("x-pomerium-claim-groups").join("|"),
            echoed.header_values("x-pomerium-claim-name").join("|"),
        )
    };
    assert_eq!(
        send(json!(["a", "b", "c"]), "Alice"),
        ("a,b,c".into(), "Alice".into())
    );
    // ["a,b", "c"] would read as three groups; spaces at either end would
    // be trimmed by the app's header parser.
    assert_eq!(send(json!(["a,b", "c"]), "Alice").0, "");
    assert_eq!(
        send(json!(["CN=Admins,OU=Groups,DC=example"]), "Alice").0,
        ""
    );
    assert_eq!(send(json!([" admins", "dev "]), " Alice").0, "");
    assert_eq!(send(json!(["team a"]), "Alice ").1, "");
    assert_eq!(send(json!(["team a"]), "Alice").0, "team a");
}
