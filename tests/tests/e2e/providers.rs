//! Tokens as identity providers really issue them, through `jwt_authn` and
//! the filter: Keycloak, Entra ID, Okta, Auth0 and Google payloads (nulls,
//! numbers, booleans, nested objects, numeric-looking strings), the claim
//! mappings their operators write, and every JSON type in every claim.
//! Each assertion is checked by `jsonwebtoken` against the published JWKS.

use serde_json::{Value, json};
use signed_headers_e2e::http::Request;
use signed_headers_e2e::{EchoedRequest, TestBed, signing_bundle};

use crate::support::{assert_assertion_shape, config_with_key, upstream_assertion};

/// Sends `payload` (signed by the test IdP) and returns the verified
/// assertion and what the upstream received.
fn through_envoy(
    bed: &TestBed,
    payload: &Value,
) -> (signed_headers_e2e::VerifiedAssertion, EchoedRequest) {
    let token = bed.idp.token(payload);
    let response = bed.send(&Request::get("/").host("app.example").bearer(&token));
    let echoed = EchoedRequest::from_response(&response);
    let assertion = upstream_assertion(bed, &echoed, "app.example", "app.example");
    (assertion, echoed)
}

/// One provider: its claim mapping, a token payload as it issues them, and
/// the identity the assertion must carry (sub, user, email, groups, name, sid).
struct Provider {
    name: &'static str,
    identity: Value,
    payload: Value,
    expected: [Value; 6],
}

fn providers() -> Vec<Provider> {
    vec![
        Provider {
            name: "Keycloak",
            identity: json!({"source": "jwt_authn", "claims": {
                "user": "preferred_username", "groups": ["realm_access", "roles"]
            }}),
            payload: json!({
                "auth_time": 1_733_040_000,
                "jti": "c2b1a3e0-5f7d-4c59-9d61-2d1f0b8f6a11",
                "sub": "f3a1c2d4-8b7e-4e21-9c3a-5d6e7f8a9b0c",
                "typ": "Bearer",
                "azp": "my-app",
                "session_state": "b3c4d5e6-0000-4000-8000-000000000001",
                "acr": "1",
                "allowed-origins": ["https://app.example"],
                "realm_access": {"roles": ["offline_access", "uma_authorization", "admins"]},
                "resource_access": {"account": {"roles": ["manage-account", "view-profile"]}},
                "scope": "openid email profile",
                "sid": "b3c4d5e6-0000-4000-8000-000000000001",
                "email_verified": true,
                "name": "Alice Smith",
                "preferred_username": "alice",
                "given_name": "Alice",
                "middle_name": null,
                "family_name": "Smith",
                "email": "alice@example.com",
                "address": {"street_address": null, "country": "NL"}
            }),
            expected: [
                json!("f3a1c2d4-8b7e-4e21-9c3a-5d6e7f8a9b0c"),
                json!("alice"),
                json!("alice@example.com"),
                json!(["offline_access", "uma_authorization", "admins"]),
                json!("Alice Smith"),
                json!("b3c4d5e6-0000-4000-8000-000000000001"),
            ],
        },
        Provider {
            name: "Entra ID",
            identity: json!({"source": "jwt_authn", "claims": {
                "sub": "oid", "user": "preferred_username", "email": "email", "sid": null
            }}),
            payload: json!({
                "nbf": 1_733_040_000,
                "aio": "AWQAm/8YAAAA2hH1m3nX3j8q",
                "email": null,
                "groups": ["6f1a2b3c-0000-4000-8000-00000000000a", "0e9d8c7b-0000-4000-8000-00000000000b"],
                "idp": "https://sts.windows.net/9188040d-6c67-4c5b-b112-36a304b66dad/",
                "name": "Alice Smith",
                "oid": "00000000-0000-0000-66f3-3332eca7ea81",
                "preferred_username": "alice@contoso.com",
                "rh": "0.AAAAQ2VsbG8.",
                "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
                "tid": "9188040d-6c67-4c5b-b112-36a304b66dad",
                "uti": "fqiBqXLPj0eQa82S-IYFAA",
                "ver": "2.0",
                "wids": ["b79fbf4d-3ef9-4689-8143-76b194e85509"],
                "xms_pl": null
            }),
            expected: [
                json!("00000000-0000-0000-66f3-3332eca7ea81"),
                json!("alice@contoso.com"),
                json!(""),
                json!([
                    "6f1a2b3c-0000-4000-8000-00000000000a",
                    "0e9d8c7b-0000-4000-8000-00000000000b"
                ]),
                json!("Alice Smith"),
                json!(""),
            ],
        },
        Provider {
            name: "Okta",
            identity: json!({"source": "jwt_authn", "claims": {"user": "uid"}}),
            payload: json!({
                "ver": 1,
                "jti": "AT.4eAWJOCMB3SX8XewDfVR",
                "cid": "0oabcdefghIJKLMNOP",
                "uid": "00uid4BxXw6I6TV4m0g3",
                "sub": "alice@example.com",
                "scp": ["openid", "email", "groups"],
                "auth_time": 1_733_040_000,
                "groups": ["Everyone", "admins"],
                "email": "alice@example.com",
                "name": "Alice Smith",
                "amr": ["pwd", "mfa"],
                "idp": "00o1a2b3c4D5E6F7G8H9"
            }),
            expected: [
                json!("alice@example.com"),
                json!("00uid4BxXw6I6TV4m0g3"),
                json!("alice@example.com"),
                json!(["Everyone", "admins"]),
                json!("Alice Smith"),
                json!(""),
            ],
        },
        Provider {
            name: "Auth0",
            identity: json!({"source": "jwt_authn", "claims": {
                "user": "nickname", "groups": "https://example.com/roles"
            }}),
            payload: json!({
                "https://example.com/roles": ["admin", "billing"],
                "https://example.com/app_metadata": {"plan": null, "tier": 2},
                "nickname": "alice",
                "name": "alice@example.com",
                "picture": "https://s.gravatar.com/avatar/abc.png",
                "updated_at": "2026-11-30T09:15:00.000Z",
                "email": "alice@example.com",
                "email_verified": false,
                "sub": "auth0|63e1f2a3b4c5d6e7f8a9b0c1",
                "sid": "Jm0sWuF1XyIbmV3c3h5z",
                "nonce": "n-0S6_WzA2Mj"
            }),
            expected: [
                json!("auth0|63e1f2a3b4c5d6e7f8a9b0c1"),
                json!("alice"),
                json!("alice@example.com"),
                json!(["admin", "billing"]),
                json!("alice@example.com"),
                json!("Jm0sWuF1XyIbmV3c3h5z"),
            ],
        },
        Provider {
            name: "Google",
            identity: json!({"source": "jwt_authn"}),
            payload: json!({
                "azp": "1234987819200.apps.googleusercontent.com",
                "sub": "110169484474386276334",
                "hd": "example.com",
                "email": "alice@example.com",
                "email_verified": true,
                "at_hash": "HK6E_P6Dh8Y93mRNtsDB1Q",
                "name": "Alice Smith",
                "picture": "https://lh3.googleusercontent.com/a/photo.jpg",
                "given_name": "Alice",
                "family_name": "Smith",
                "locale": "en"
            }),
            expected: [
                json!("110169484474386276334"),
                json!("110169484474386276334"),
                json!("alice@example.com"),
                json!([]),
                json!("Alice Smith"),
                json!(""),
            ],
        },
    ]
}

#[test]
fn tokens_as_each_provider_issues_them_sign_the_users_identity() {
    for provider in providers() {
        let bundle = signing_bundle();
        let bed = TestBed::start(&config_with_key(
            &bundle,
            json!({"identity": provider.identity, "claim_headers": ["email", "groups"]}),
        ));
        let (assertion, echoed) = through_envoy(&bed, &provider.payload);
        assert_assertion_shape(&assertion, bundle.keys()[0].kid(), 300);
        let signed: Vec<&Value> = ["sub", "user", "email", "groups", "name", "sid"]
            .iter()
            .map(|claim| assertion.claim(claim))
            .collect();
        let expected: Vec<&Value> = provider.expected.iter().collect();
        assert_eq!(signed, expected, "{}", provider.name);
        let email = provider.expected[2].as_str().unwrap_or_default();
        let header: Vec<&str> = echoed.header_values("x-pomerium-claim-email");
        assert_eq!(header.is_empty(), email.is_empty(), "{}", provider.name);
    }
}

#[test]
fn a_null_anywhere_in_the_token_costs_the_user_nothing() {
    for policy in ["deny", "anonymous", "pass"] {
        let bed = TestBed::start(&config_with_key(
            &signing_bundle(),
            json!({"unauthenticated": policy}),
        ));
        for payload in [
            json!({"sub": "alice", "middle_name": null}),
            json!({"sub": "alice", "address": {"street": null}}),
            json!({"sub": "alice", "groups": [null, "dev"]}),
            json!({"sub": "alice", "groups": null, "email": null, "name": null}),
        ] {
            let (assertion, _) = through_envoy(&bed, &payload);
            assert_eq!(assertion.claim("sub"), "alice", "{policy}: {payload}");
            let groups = payload["groups"]
                .as_array()
                .map_or(json!([]), |_| json!(["dev"]));
            assert_eq!(assertion.claim("groups"), &groups, "{policy}: {payload}");
        }
    }
}

#[test]
fn each_claim_takes_each_json_type_by_the_documented_rule() {
    // `jwt_authn` itself refuses a token whose `sub` is not a string, so
    // numeric ids come in other claims: here GitHub's, as an OAuth bridge
    // passes them on (`id`, `login`).
    let bed = TestBed::start(&config_with_key(
        &signing_bundle(),
        json!({
            "identity": {"source": "jwt_authn", "claims": {"sub": "id", "user": "login"}},
            "claim_headers": ["email", "groups", "name"]
        }),
    ));
    // (claim in the IdP token, value, claim in the assertion, signed value)
    let cases = [
        ("id", json!(583231), "sub", json!("583231")),
        ("login", json!(583231), "user", json!("583231")),
        ("sid", json!(-7), "sid", json!("-7")),
        ("login", json!(2.5), "user", json!("")),
        ("login", json!(9007199254740993u64), "user", json!("")),
        ("login", json!(true), "user", json!("")),
        ("login", json!(["alice"]), "user", json!("")),
        ("login", json!({"id": "alice"}), "user", json!("")),
        ("email", json!(5), "email", json!("")),
        ("email", json!(true), "email", json!("")),
        ("email", json!(["a@example.com"]), "email", json!("")),
        ("name", json!({"first": "Alice"}), "name", json!("")),
        ("name", json!(null), "name", json!("")),
        (
            "groups",
            json!([["admins"], "dev", true, 42, 1.5, {"g": 1}, null]),
            "groups",
            json!(["dev", "42"]),
        ),
        ("groups", json!("admins"), "groups", json!(["admins"])),
        ("groups", json!("a,b"), "groups", json!(["a,b"])),
        ("groups", json!(7), "groups", json!(["7"])),
        ("groups", json!({"admins": true}), "groups", json!([])),
        ("groups", json!(false), "groups", json!([])),
    ];
    let forwarded = cases.len();
    for (idp_claim, value, claim, signed) in cases {
        let mut payload = json!({"sub": "github|583231", "id": "u-1", "login": "alice"});
        payload[idp_claim] = value.clone();
        let (assertion, echoed) = through_envoy(&bed, &payload);
        assert_eq!(assertion.claim(claim), &signed, "{idp_claim}: {value}");
        // No value is ever signed as bytes of Envoy's encoding.
        let claims = serde_json::to_string(&assertion.claims).expect("JSON");
        assert!(!claims.contains("\\u0000"), "{claims}");
        if claim == "email" {
            assert!(echoed.header_values("x-pomerium-claim-email").is_empty());
        }
    }
    // A subject of another type is no subject: the filter denies.
    for id in [
        json!(true),
        json!(1.5),
        json!(["u-1"]),
        json!({"id": 1}),
        json!(null),
        json!(""),
    ] {
        let token = bed.idp.token(&json!({"sub": "github|583231", "id": id}));
        let response = bed.send(&Request::get("/").host("app.example").bearer(&token));
        assert_eq!(response.status, 401, "id {id}: {}", response.text());
        assert_eq!(response.text(), "signed-headers: authentication required\n");
    }
    assert_eq!(bed.upstream.request_count(), forwarded);
}

#[test]
fn a_string_that_imitates_envoys_list_encoding_stays_one_string() {
    // Envoy's own serialization of the list ["admins"] (a count, the item's
    // length, then the item), as a user could put it into a display name or
    // a custom attribute the operator maps to groups.
    let imitation = "\u{1}\u{0}\u{0}\u{0}\u{6}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}admins\u{0}\u{0}";
    let bed = TestBed::start(&config_with_key(
        &signing_bundle(),
        json!({"claim_headers": ["groups"]}),
    ));
    let (assertion, echoed) = through_envoy(&bed, &json!({"sub": "mallory", "groups": imitation}));
    assert_eq!(assertion.claim("groups"), &json!([imitation]));
    assert_ne!(assertion.claim("groups"), &json!(["admins"]));
    // Control characters never reach a claim header.
    assert!(echoed.header_values("x-pomerium-claim-groups").is_empty());
}

#[test]
fn extra_claims_reach_the_assertion_with_their_types_and_the_claim_headers() {
    // Auth0 namespaces custom claims by URL; Keycloak nests client roles;
    // Entra sends numbers and booleans. Each is named in `claims.extra`,
    // with a fixed value beside them.
    let bed = TestBed::start(&config_with_key(
        &signing_bundle(),
        json!({
            "identity": {"source": "jwt_authn", "claims": {"extra": {
                "https://app.example/roles": "https://app.example/roles",
                "account_roles": ["resource_access", "account", "roles"],
                "email_verified": "email_verified",
                "login_count": "logins_count",
                "middle_name": "middle_name",
                "address": "address",
                "environment": {"value": "production"},
            }}},
            "claim_headers": {
                "account_roles": "x-account-roles",
                "email_verified": "x-email-verified",
                "environment": "x-environment",
            },
        }),
    ));
    let (assertion, echoed) = through_envoy(
        &bed,
        &json!({
            "sub": "auth0|5f7c8ec7c33c6c004bbafe82",
            "https://app.example/roles": ["admin", "billing"],
            "resource_access": {"account": {"roles": ["manage-account", "view-profile"]}},
            "email_verified": true,
            "logins_count": 42,
            "middle_name": null,
            "address": {"country": "NL"},
        }),
    );
    let claims = &assertion.claims;
    assert_eq!(
        claims["https://app.example/roles"],
        json!(["admin", "billing"])
    );
    assert_eq!(
        claims["account_roles"],
        json!(["manage-account", "view-profile"])
    );
    assert_eq!(claims["email_verified"], json!(true));
    assert_eq!(claims["login_count"], json!(42));
    assert_eq!(claims["environment"], json!("production"));
    // null and an object are left out, as the README's table says.
    assert!(!claims.contains_key("middle_name") && !claims.contains_key("address"));
    assert_eq!(
        echoed.header_values("x-account-roles"),
        ["manage-account,view-profile"]
    );
    assert_eq!(echoed.header_values("x-email-verified"), ["true"]);
    assert_eq!(echoed.header_values("x-environment"), ["production"]);
    // The Rust verifier (and the JavaScript package built from it) returns
    // them beside the built-in claims.
    let jwks = bed
        .send(&Request::get(signed_headers_e2e::JWKS_PATH))
        .text();
    let verifier = signed_headers_verifier::Verifier::from_jwks(
        signed_headers_verifier::Policy::new("app.example", "app.example"),
        &jwks,
    )
    .expect("the JWKS");
    let verified = verifier
        .verify(echoed.single_header(signed_headers_e2e::ASSERTION_HEADER))
        .expect("the assertion verifies");
    assert_eq!(verified.extra["login_count"], json!(42));
    assert_eq!(verified.extra["email_verified"], json!(true));

    // Forged copies of the extra claim headers never pass.
    let token = bed.idp.token(&json!({"sub": "mallory"}));
    let response = bed.send(
        &Request::get("/")
            .host("app.example")
            .bearer(&token)
            .header("x-environment", "forged")
            .header("x-account-roles", "admin"),
    );
    let echoed = EchoedRequest::from_response(&response);
    assert_eq!(echoed.header_values("x-environment"), ["production"]);
    assert!(echoed.header_values("x-account-roles").is_empty());
}
